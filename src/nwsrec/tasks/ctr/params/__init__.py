"""Models of the ``ctr`` task (see ``params.py``)."""
