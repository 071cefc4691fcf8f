"""The error the command line reports as one line."""

from __future__ import annotations

__all__ = ["CommandError"]


class CommandError(Exception):
    """An error the command line reports as one line on stderr, with exit status 2."""
