"""The machine a run uses: the memory it has, and process settings for large tables.

A leaf: it imports no other nwsrec module and no TensorFlow.

Memory. :func:`available_memory` is what a new allocation can still get: the smaller of
Linux's ``MemAvailable`` (``/proc/meminfo``) and the room left under the process's cgroup
limit (v2 ``memory.max`` - ``memory.current``, or v1 ``memory.limit_in_bytes`` -
``memory.usage_in_bytes``). :func:`check_tables_fit` compares a memory plan's bytes with it
and raises :class:`TablesDoNotFitError`, one line naming both figures, before anything is
allocated.

Allocator. TensorFlow's CPU build runs oneDNN ops with oneDNN's own allocator, a best-fit
pool that keeps every block it ever allocated: the temporary copy made to initialize or
restore a gigabyte table stays resident, and a run peaked at 2.2x its tables. With
``TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1`` TensorFlow allocates through ``malloc`` and large blocks
go back to the system when freed (``bench/peers.py``'s Criteo-shaped model: resident 4.9
instead of 5.9 GiB after building 4.3 GiB of tables). :func:`use_system_allocator` sets it,
unless the environment already says otherwise; ``import nwsrec`` calls it. It takes effect if
TensorFlow has allocated nothing yet: importing TensorFlow and Keras first is fine, creating a
tensor first is not.

Huge pages. A training step reads and writes its batch's rows at random places of tables
that can be gigabytes, so each row can cost a TLB miss. With transparent huge pages in
``madvise`` mode, glibc (>= 2.35) advises its large allocations as huge pages when started
with ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``; glibc reads it at process start only, so
:func:`hugepages_environment` gives the environment to start a process with (``nwsrec
--hugepages`` or ``NWSREC_HUGEPAGES=1`` restarts the command with it). Off by default: on
this project's benchmarks they changed a step by 0.94-1.06x over three runs of
``bench/speedups.py`` (Zipf ids keep the hot rows in cache) and 1.03x with uniform ids over
1e6-row tables (``bench/tables.py``), while filling the tables took 2.6x as long.

Example:
    >>> need = 3 << 30
    >>> check_tables_fit(need, "model 'ctr'", available=(8 << 30, "MemAvailable"))
    >>> check_tables_fit(need, "model 'ctr'", available=(2 << 30, "MemAvailable"))
    Traceback (most recent call last):
    ...
    nwsrec.machine.TablesDoNotFitError: the embedding tables of model 'ctr' need 3.00 GiB \
(memory plan) but this machine has 2.00 GiB available (MemAvailable); ...
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, MutableMapping

__all__ = [
    "ALLOCATOR_VARIABLE",
    "HUGEPAGES_TUNABLE",
    "HUGEPAGES_VARIABLE",
    "TablesDoNotFitError",
    "anon_hugepages_bytes",
    "available_memory",
    "check_tables_fit",
    "format_bytes",
    "hugepages_environment",
    "transparent_hugepages_mode",
    "use_system_allocator",
]

#: TensorFlow reads it at its first allocation: "1" allocates through malloc (see above).
ALLOCATOR_VARIABLE = "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"
#: The glibc tunable that advises malloc's large blocks as transparent huge pages.
HUGEPAGES_TUNABLE = "glibc.malloc.hugetlb=1"
#: ``NWSREC_HUGEPAGES=1`` runs the ``nwsrec`` command in huge pages (as ``--hugepages``).
HUGEPAGES_VARIABLE = "NWSREC_HUGEPAGES"

_GIB = 1 << 30


class TablesDoNotFitError(MemoryError):
    """A model's embedding tables need more memory than the machine has available."""


def format_bytes(num_bytes: float) -> str:
    """``num_bytes`` in binary units, e.g. ``"1.50 MiB"``.

    Example:
        >>> format_bytes(1536), format_bytes(3 << 30)
        ('1.50 KiB', '3.00 GiB')
    """
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def anon_hugepages_bytes(path: str = "/proc/self/smaps_rollup") -> int:
    """This process's memory in transparent huge pages (0 where Linux does not say).

    Example:
        >>> anon_hugepages_bytes("/nonexistent")
        0
    """
    text = _read(path) or ""
    for line in text.splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1]) * 1024
    return 0


def _read(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def _meminfo_available(path: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    return None


def _cgroup_room(root: str) -> tuple[int, str] | None:
    """Room under the cgroup limit: (bytes, which files said so), or None without one."""
    pairs = (
        ("memory.max", "memory.current", "cgroup v2"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "cgroup v1"),
    )
    for limit_file, usage_file, kind in pairs:
        limit, usage = _read(os.path.join(root, limit_file)), _read(os.path.join(root, usage_file))
        if limit is None or usage is None or not limit.isdigit() or not usage.isdigit():
            continue
        if int(limit) >= 1 << 60:  # cgroup v1 writes "no limit" as a huge number
            continue
        return max(0, int(limit) - int(usage)), f"{kind} limit {format_bytes(int(limit))}"
    return None


def available_memory(
    meminfo: str = "/proc/meminfo", cgroup_root: str = "/sys/fs/cgroup"
) -> tuple[int, str] | None:
    """The bytes a new allocation can get, and where that figure comes from.

    Args:
        meminfo: Linux's meminfo file.
        cgroup_root: where the process's cgroup files are mounted.

    Returns:
        ``(bytes, source)``: the smaller of ``MemAvailable`` and the room under the cgroup
        limit; None where neither can be read (not Linux).

    Example:
        >>> available_memory("/nonexistent", "/nonexistent") is None
        True
    """
    found: list[tuple[int, str]] = []
    mem = _meminfo_available(meminfo)
    if mem is not None:
        found.append((mem, f"MemAvailable of {meminfo}"))
    room = _cgroup_room(cgroup_root)
    if room is not None:
        found.append(room)
    return min(found) if found else None


def check_tables_fit(
    need_bytes: int,
    owner: str,
    *,
    detail: str = "memory plan",
    available: tuple[int, str] | None = None,
) -> None:
    """Raises :class:`TablesDoNotFitError` if ``need_bytes`` exceed the available memory.

    Args:
        need_bytes: what the tables will take (the memory plan's bytes, plus what building
            them needs on top).
        owner: who owns the tables, for the message (``"model 'ctr'"``).
        detail: how ``need_bytes`` was counted, for the message.
        available: ``(bytes, source)``; default :func:`available_memory`. Nothing is
            checked when it is unknown.

    Raises:
        TablesDoNotFitError: one line with both figures and what to do.
    """
    if available is None:
        available = available_memory()
    if available is None:
        return
    room, source = available
    if need_bytes <= room:
        return
    raise TablesDoNotFitError(
        f"the embedding tables of {owner} need {format_bytes(need_bytes)} ({detail}) but this "
        f"machine has {format_bytes(room)} available ({source}); use smaller vocab sizes or "
        "widths, split the tables over parameter servers (--strategy ps), or set "
        "--param check_memory=false to try anyway"
    )


def use_system_allocator(environ: MutableMapping[str, str] | None = None) -> bool:
    """Makes TensorFlow allocate through malloc, unless the environment already decides.

    Args:
        environ: the environment to set (default ``os.environ``).

    Returns:
        Whether the system allocator is asked for now.

    Example:
        >>> use_system_allocator({}), use_system_allocator({ALLOCATOR_VARIABLE: "0"})
        (True, False)
    """
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    env.setdefault(ALLOCATOR_VARIABLE, "1")
    return env[ALLOCATOR_VARIABLE] not in ("0", "false", "False", "")


def transparent_hugepages_mode(
    path: str = "/sys/kernel/mm/transparent_hugepage/enabled",
) -> str | None:
    """Linux's transparent-huge-page mode: ``always``, ``madvise``, ``never``, or None.

    Example:
        >>> transparent_hugepages_mode("/nonexistent") is None
        True
    """
    text = _read(path)
    if text is None or "[" not in text:
        return None
    return text.split("[", 1)[1].split("]", 1)[0]


def _glibc_supports_hugetlb() -> bool:
    name, version = platform.libc_ver()
    if name != "glibc":
        return False
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (2, 35)


def hugepages_environment(
    environ: Mapping[str, str] | None = None, mode: str | None = None
) -> dict[str, str] | None:
    """The environment to start a process with so its tables go in huge pages.

    Args:
        environ: the current environment (default ``os.environ``).
        mode: the transparent-huge-page mode (default :func:`transparent_hugepages_mode`).

    Returns:
        A copy of ``environ`` with ``GLIBC_TUNABLES`` extended by
        :data:`HUGEPAGES_TUNABLE`; None where a restart would change nothing: the mode is
        not ``madvise`` (``always`` already gives huge pages, ``never`` none), glibc is
        older than 2.35 or absent, or the tunable is already set.

    Example:
        >>> env = hugepages_environment({"PATH": "/bin"}, mode="madvise")
        >>> env is None or env["GLIBC_TUNABLES"] == HUGEPAGES_TUNABLE
        True
        >>> hugepages_environment({"PATH": "/bin"}, mode="never") is None
        True
    """
    environ = os.environ if environ is None else environ
    tunables = environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:
        return None
    if (transparent_hugepages_mode() if mode is None else mode) != "madvise":
        return None
    if not _glibc_supports_hugetlb():
        return None
    out = dict(environ)
    out["GLIBC_TUNABLES"] = f"{tunables}:{HUGEPAGES_TUNABLE}" if tunables else HUGEPAGES_TUNABLE
    return out
