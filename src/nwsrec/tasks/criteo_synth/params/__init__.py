"""Registered models of the ``criteo_synth`` task (see ``params.py``)."""

__all__: list[str] = []
