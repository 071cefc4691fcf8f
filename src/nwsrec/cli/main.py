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
from nwsrec.machine import HUGEPAGES_TUNABLE, HUGEPAGES_VARIABLE, hugepages_environment

logger = logging.getLogger(__name__)

__all__ = ["CommandError", "build_parser", "entry", "main", "parse_args"]


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
    parser.add_argument(
        "--hugepages",
        action="store_true",
        help=(
            "put the tables in transparent huge pages: where Linux offers them in madvise "
            f"mode, the command restarts itself with GLIBC_TUNABLES={HUGEPAGES_TUNABLE} "
            f"(also {HUGEPAGES_VARIABLE}=1). Measured 0.94-1.06x on a step, slower to fill "
            "the tables: off by default"
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    for sub in subparsers.choices.values():  # -v after the sub-command too
        sub.add_argument(
            "-v",
            "--verbose",
            dest="sub_verbose",
            action="count",
            default=0,
            help="more logging (-v info, -vv debug)",
        )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``)."""
    return build_parser().parse_args(argv)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 silenced.

    TensorFlow's C++ libraries log at load time (oneDNN, the CPU feature guard, "All log
    messages before absl::InitializeLog()"), before ``TF_CPP_MIN_LOG_LEVEL`` is read: the
    only way to keep them off the terminal is to point stderr elsewhere while it loads.
    An import error is still raised (and reported) once stderr is back.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (an embedded interpreter)
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            except ImportError:
                pass  # the command that needs it reports it
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _configure_logging(verbosity: int, quiet_import: bool = False) -> None:
    """Python logging at WARNING (-v INFO, -vv DEBUG); TensorFlow's own logs off unless -v."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if verbosity <= 0 else "0")
    if verbosity <= 0:
        if quiet_import:
            _import_tensorflow_quietly()
        with contextlib.suppress(ImportError):  # absl comes with TensorFlow
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)


def entry() -> None:
    """The ``nwsrec`` executable: :func:`main`, in huge pages when asked.

    glibc reads ``GLIBC_TUNABLES`` at process start only, so with ``--hugepages`` (or
    ``NWSREC_HUGEPAGES=1``), where :func:`nwsrec.machine.hugepages_environment` offers huge
    pages, the process first replaces itself by ``python -m nwsrec`` with the same
    arguments and that environment (the restarted process has the tunable, so it does not
    restart again).
    """
    argv = sys.argv[1:]
    if "--hugepages" in argv or os.environ.get(HUGEPAGES_VARIABLE) == "1":
        env = hugepages_environment()
        if env is not None:
            sys.stdout.flush()
            sys.stderr.flush()
            os.execve(sys.executable, [sys.executable, "-m", "nwsrec", *argv], env)
    sys.exit(main(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    args = parse_args(argv)
    args.verbose = int(args.verbose or 0) + int(getattr(args, "sub_verbose", 0) or 0)
    func = getattr(args, "func", None)
    _configure_logging(args.verbose, quiet_import=func is not None)
    if func is None:
        build_parser().print_help()
        return 2
    try:
        with _terminate_as_interrupt():
            return int(func(args) or 0)
    except (
        CommandError,
        ValueError,
        LookupError,
        FileNotFoundError,
        FileExistsError,
        ImportError,
        MemoryError,
    ) as err:
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
