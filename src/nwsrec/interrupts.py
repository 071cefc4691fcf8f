"""Stopping a run cleanly on SIGINT (Ctrl-C) and SIGTERM (a preemptible job's notice).

:class:`StopOnSignals` turns the first SIGINT or SIGTERM into a request the training loop
reads between chunks of steps (:attr:`StopOnSignals.requested`): the loop then writes a
checkpoint at the step it reached and raises :class:`RunInterrupted`, which the command
line reports as one line with exit status 130 (SIGINT) or 143 (SIGTERM), the shell's
``128 + signal number``. A second signal while the checkpoint is written raises
:class:`RunInterrupted` at once (checkpoint writes are atomic: the previous checkpoint
stays usable).

A leaf module: no TensorFlow, nothing else from nwsrec.

Example:
    >>> with StopOnSignals() as stop:
    ...     stop.requested
    False
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType, TracebackType
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["EXIT_CODES", "RunInterrupted", "StopOnSignals"]

EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
"""Exit status of a run ended by each signal (``128 + signal number``)."""


class RunInterrupted(Exception):
    """A run ended by a signal; :attr:`exit_code` is what the process should exit with.

    Args:
        signal_name: ``"SIGINT"`` or ``"SIGTERM"``.
        step: the global step reached (None when no step had run yet).
        checkpoint: the checkpoint written at that step (None when none was written).
    """

    def __init__(
        self, signal_name: str, step: int | None = None, checkpoint: str | None = None
    ) -> None:
        self.signal_name = signal_name
        self.step = step
        self.checkpoint = checkpoint
        self.exit_code = EXIT_CODES.get(signal_name, 130)
        if checkpoint:
            text = (
                f"interrupted by {signal_name} at step {step}; checkpoint saved: {checkpoint}; "
                "rerun the same command to resume"
            )
        elif step is not None:
            text = f"interrupted by {signal_name} at step {step}; no new checkpoint written"
        else:
            text = f"interrupted by {signal_name}"
        super().__init__(text)


class StopOnSignals:
    """A context in which SIGINT and SIGTERM ask the loop to stop instead of killing it.

    Outside the main thread (where Python cannot install signal handlers) it does
    nothing. The previous handlers come back on exit.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a signal asked the run to stop."""
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is not None:
            raise RunInterrupted(self.signal_name)
        self.signal_name = name
        logger.warning("%s received: writing a checkpoint, then stopping", name)

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for name in self.SIGNALS:
                signum = getattr(signal, name)
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
