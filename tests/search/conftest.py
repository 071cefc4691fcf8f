"""Fixtures of the hand-written test model (tests/hand_model.py)."""

from hand_model import hand_params, tiny_data  # noqa: F401
