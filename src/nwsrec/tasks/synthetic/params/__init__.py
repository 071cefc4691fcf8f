"""Registered models of the ``synthetic`` task (see ``params.py``)."""

__all__: list[str] = []
