"""Entry point of the ``nwsrec`` command line.

Sub-commands are discovered from the modules of :mod:`nwsrec.cli.commands`; each module
defines ``register(subparsers)``. ``main(argv)`` is testable in-process.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from nwsrec import __version__
from nwsrec.cli import commands
from nwsrec.cli.errors import CommandError
from nwsrec.interrupts import EXIT_CODES, RunInterrupted

logger = logging.getLogger(__name__)

__all__ = ["CommandError", "build_parser", "main", "parse_args"]


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every discovered sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="nwsrec",
        description="Sparse-feature recommendation models with neural width search.",
    )
    parser.add_argument("--version", action="version", version=f"nwsrec {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-v info, -vv debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``)."""
    return build_parser().parse_args(argv)


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = parse_args(argv)
    _configure_logging(args.verbose)
    func = getattr(args, "func", None)
    if func is None:
        build_parser().print_help()
        return 2
    try:
        with _terminate_as_interrupt():
            return int(func(args) or 0)
    except (CommandError, ValueError, LookupError, FileNotFoundError, ImportError) as err:
        print(f"nwsrec {args.command}: error: {err}", file=sys.stderr)
        return 2
    except RunInterrupted as err:
        print(f"nwsrec {args.command}: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"nwsrec {args.command}: {RunInterrupted('SIGINT')}", file=sys.stderr)
        return EXIT_CODES["SIGINT"]
    except OSError as err:
        print(f"nwsrec {args.command}: error: {_os_error_text(err)}", file=sys.stderr)
        return 2
    except Exception as err:
        if not type(err).__module__.startswith("tensorflow.python.framework.errors"):
            raise
        # A TensorFlow OpError (a write that failed: full disk, read-only dir, ...).
        message = (getattr(err, "message", "") or str(err)).strip().splitlines()
        print(f"nwsrec {args.command}: error: {message[0] if message else err}", file=sys.stderr)
        return 2


def _os_error_text(err: OSError) -> str:
    """One line for an OSError: what failed and on which path."""
    what = err.strerror or str(err)
    paths = [p for p in (err.filename, err.filename2) if p is not None]
    return f"{what}: {' -> '.join(map(str, paths))}" if paths else what


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`RunInterrupted` (a one-line exit 143), not a silent exit."""

    def terminate(signum: int, frame: Any) -> None:
        raise RunInterrupted("SIGTERM")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
