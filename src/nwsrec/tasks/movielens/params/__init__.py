"""Registered models of the ``movielens`` task (see ``params.py``)."""

__all__: list[str] = []
