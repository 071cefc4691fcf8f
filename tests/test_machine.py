"""nwsrec.machine: the memory a run can get, the refusal before allocating, huge pages."""

import os
import subprocess
import sys

import pytest

from nwsrec import machine
from nwsrec.machine import (
    HUGEPAGES_TUNABLE,
    TablesDoNotFitError,
    available_memory,
    check_tables_fit,
    hugepages_environment,
    transparent_hugepages_mode,
    use_system_allocator,
)

GIB = 1 << 30


def _meminfo(tmp_path, kib):
    path = tmp_path / "meminfo"
    path.write_text(f"MemTotal:       99999999 kB\nMemFree: 1 kB\nMemAvailable:   {kib} kB\n")
    return str(path)


def test_available_memory_reads_memavailable(tmp_path):
    room, source = available_memory(_meminfo(tmp_path, 4 * 1024 * 1024), str(tmp_path / "none"))
    assert room == 4 * GIB
    assert "MemAvailable" in source


def test_a_cgroup_v2_limit_below_memavailable_decides(tmp_path):
    cgroup = tmp_path / "cg"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{3 * GIB}\n")
    (cgroup / "memory.current").write_text(f"{GIB}\n")
    room, source = available_memory(_meminfo(tmp_path, 8 * 1024 * 1024), str(cgroup))
    assert room == 2 * GIB
    assert source == "cgroup v2 limit 3.00 GiB"


def test_a_cgroup_without_limit_is_ignored(tmp_path):
    cgroup = tmp_path / "cg"
    (cgroup / "memory").mkdir(parents=True)
    (cgroup / "memory.max").write_text("max\n")
    (cgroup / "memory.current").write_text(f"{GIB}\n")
    (cgroup / "memory" / "memory.limit_in_bytes").write_text(f"{1 << 62}\n")
    (cgroup / "memory" / "memory.usage_in_bytes").write_text("1\n")
    room, _ = available_memory(_meminfo(tmp_path, 1024 * 1024), str(cgroup))
    assert room == GIB


def test_a_cgroup_v1_limit_decides_when_smaller(tmp_path):
    cgroup = tmp_path / "cg"
    (cgroup / "memory").mkdir(parents=True)
    (cgroup / "memory" / "memory.limit_in_bytes").write_text(f"{2 * GIB}\n")
    (cgroup / "memory" / "memory.usage_in_bytes").write_text(f"{GIB // 2}\n")
    room, source = available_memory(_meminfo(tmp_path, 8 * 1024 * 1024), str(cgroup))
    assert room == GIB + GIB // 2
    assert source.startswith("cgroup v1")


def test_this_machine_reports_some_memory():
    found = available_memory()
    if sys.platform.startswith("linux"):
        assert found is not None and found[0] > 0


def test_tables_that_fit_pass_and_ones_that_do_not_are_one_line_naming_both_figures():
    check_tables_fit(3 * GIB, "model 'm'", available=(3 * GIB, "MemAvailable"))
    with pytest.raises(TablesDoNotFitError) as err:
        check_tables_fit(5 * GIB, "model 'm'", detail="plan", available=(GIB, "cgroup v2"))
    text = str(err.value)
    assert "\n" not in text
    assert "model 'm' need 5.00 GiB (plan)" in text
    assert "has 1.00 GiB available (cgroup v2)" in text
    assert "check_memory=false" in text
    assert isinstance(err.value, MemoryError)


def test_unknown_memory_checks_nothing(monkeypatch):
    monkeypatch.setattr(machine, "available_memory", lambda: None)
    check_tables_fit(1 << 60, "model 'm'")


def test_the_system_allocator_is_asked_for_unless_the_environment_decides():
    env: dict[str, str] = {}
    assert use_system_allocator(env) and env == {machine.ALLOCATOR_VARIABLE: "1"}
    assert not use_system_allocator({machine.ALLOCATOR_VARIABLE: "0"})


def test_import_nwsrec_sets_the_allocator_before_tensorflow_allocates():
    code = "import os, nwsrec; print(os.environ.get('TF_ONEDNN_USE_SYSTEM_ALLOCATOR'))"
    env = {k: v for k, v in os.environ.items() if k != machine.ALLOCATOR_VARIABLE}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "1"


def test_transparent_hugepages_mode_reads_the_bracketed_word(tmp_path):
    path = tmp_path / "enabled"
    path.write_text("always [madvise] never\n")
    assert transparent_hugepages_mode(str(path)) == "madvise"
    path.write_text("garbage\n")
    assert transparent_hugepages_mode(str(path)) is None


@pytest.mark.skipif(not machine._glibc_supports_hugetlb(), reason="needs glibc >= 2.35")
def test_hugepages_environment_in_madvise_mode_only_and_never_twice():
    env = hugepages_environment({"PATH": "/bin", "GLIBC_TUNABLES": "a=1"}, mode="madvise")
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": f"a=1:{HUGEPAGES_TUNABLE}"}
    assert hugepages_environment(env, mode="madvise") is None  # already restarted
    assert hugepages_environment({}, mode="always") is None
    assert hugepages_environment({}, mode="never") is None


def test_the_command_restarts_in_huge_pages_only_when_asked(monkeypatch):
    import nwsrec.cli.main as cli_main

    restarts = []

    def execve(executable, argv, env):
        restarts.append((argv, env))
        raise SystemExit(0)

    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.setattr(cli_main, "hugepages_environment", lambda: {"GLIBC_TUNABLES": "x"})
    monkeypatch.setattr(cli_main, "main", lambda argv: 0)
    monkeypatch.delenv("NWSREC_HUGEPAGES", raising=False)
    for argv in (["nwsrec", "models"], ["nwsrec", "--hugepages", "models"]):
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit):
            cli_main.entry()
    assert restarts == [
        ([sys.executable, "-m", "nwsrec", "--hugepages", "models"], {"GLIBC_TUNABLES": "x"})
    ]
    monkeypatch.setenv("NWSREC_HUGEPAGES", "1")
    monkeypatch.setattr(sys, "argv", ["nwsrec", "models"])
    with pytest.raises(SystemExit):
        cli_main.entry()
    assert len(restarts) == 2


def test_python_m_nwsrec_hugepages_runs_for_real():
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, "-m", "nwsrec", "--hugepages", "--version"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and out.stdout.startswith("nwsrec ")
