"""Model dirs: the manifest refuses a mismatching rerun before anything is written, a
second run into a busy dir refuses, a killed run leaves no stale lock, leftovers of a
killed run are removed, and OS errors are one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from faultkit import (  # noqa: F401 (data_dir: a fixture)
    data_dir,
    digest,
    one_line_error,
    same_tensors,
    tensors,
    train_argv,
)

from nwsrec.cli.main import main
from nwsrec.training.rundir import ModelDirLock


@pytest.fixture(scope="module")
def full_width(data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("rundir") / "full"
    assert main(train_argv(data_dir, run, 20)) == 0
    return run


def test_other_widths_are_refused_naming_the_tables_before_params_json_changes(
    full_width, data_dir, tmp_path, capsys
):
    dims = tmp_path / "dims.json"
    dims.write_text(json.dumps({"slots": {str(s): {"size": 4} for s in range(1, 7)}}))
    before = digest(full_width)
    assert main(train_argv(data_dir, full_width, 30, "--dims", str(dims))) == 2
    one_line_error(capsys.readouterr().err, "manifest.json", "layout of table_1_1", "slot_dims")
    assert digest(full_width) == before


def test_fewer_steps_than_the_checkpoint_say_so_and_change_nothing(full_width, data_dir, capsys):
    before = digest(full_width)
    assert main(train_argv(data_dir, full_width, 10)) == 2
    one_line_error(capsys.readouterr().err, "train_steps", "(20)", "train_steps=10")
    assert digest(full_width) == before


def test_reordered_candidates_are_refused_naming_the_key(data_dir, tmp_path, capsys):
    run = tmp_path / "search"
    argv = train_argv(data_dir, run, 10, "--param", "width_selection=argmax", command="search")
    assert main([*argv, "--param", "candidate_sizes=[0,4,8,16]"]) == 0
    capsys.readouterr()
    before = digest(run)
    assert main([*argv, "--param", "candidate_sizes=[0,16,8,4]"]) == 2
    line = one_line_error(capsys.readouterr().err, "candidate_sizes", "[0, 16, 8, 4]")
    assert "[0, 4, 8, 16] in the dir" in line
    assert digest(run) == before


_HOLD = (
    "import fcntl, os, sys, time\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "os.write(fd, b'pid %d (test holder)' % os.getpid())\n"
    "print('held', flush=True)\n"
    "time.sleep(120)\n"
)


def test_a_busy_dir_is_refused_and_a_killed_holder_leaves_no_stale_lock(data_dir, tmp_path, capsys):
    run = tmp_path / "busy"
    run.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(run / ".nwsrec.lock")], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        assert main(train_argv(data_dir, run, 10)) == 2
        one_line_error(capsys.readouterr().err, "in use by another run", f"pid {holder.pid}")
        assert not (run / "params.json").exists()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        with ModelDirLock(str(run)):  # the OS released it with the process
            assert _locks_from_another_process(run) == "busy"
            with ModelDirLock(str(run)):  # in-process holders share it
                pass
            assert _locks_from_another_process(run) == "busy"  # still held by the outer one
        assert _locks_from_another_process(run) == "locked"
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)


def _locks_from_another_process(run) -> str:
    """``"locked"`` or ``"busy"``: what ``ModelDirLock(run)`` does in a new process."""
    code = (
        "import sys\n"
        "from nwsrec.training.rundir import ModelDirBusyError, ModelDirLock\n"
        "try:\n"
        "    ModelDirLock(sys.argv[1]).acquire()\n"
        "except ModelDirBusyError:\n"
        "    print('busy')\n"
        "else:\n"
        "    print('locked')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(run)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _library_trainer(data_dir, model_dir, **overrides):
    """A ``Trainer`` built as a library user builds it (no ``nwsrec.runs``)."""
    from nwsrec.runs import resolve_params
    from nwsrec.training.trainer import Trainer

    cls, params = resolve_params("synthetic", data_dir=str(data_dir), batch_size=64)
    params = {**params, "hidden_units": [8], "checkpoint_every_steps": 10, **overrides}
    return Trainer(lambda: cls(params), params, str(model_dir), progress=False)


def test_a_library_trainer_holds_the_model_dir_until_closed(data_dir, tmp_path):
    run = tmp_path / "library"
    trainer = _library_trainer(data_dir, run)
    assert _locks_from_another_process(run) == "busy"
    trainer.close()
    assert _locks_from_another_process(run) == "locked"


def test_a_library_trainer_refuses_a_dir_of_other_params_before_writing(
    full_width, data_dir, capsys
):
    before = digest(full_width)
    with _library_trainer(data_dir, full_width, hidden_units=[4], train_steps=30) as trainer:
        with pytest.raises(ValueError, match="manifest.json.*hidden_units: \\[8\\] in the dir"):
            trainer.train()
    assert digest(full_width) == before


def test_a_newer_nwsrec_resumes_an_older_dir_whose_tables_and_params_match(
    full_width, data_dir, tmp_path, caplog
):
    import shutil

    run = tmp_path / "older"
    shutil.copytree(full_width, run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["nwsrec_version"] = "0.0.1"
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(train_argv(data_dir, run, 30)) == 0
    assert "written by nwsrec 0.0.1; resuming it with nwsrec" in caplog.text
    assert os.path.exists(run / "ckpt-30.index")
    # What changes a checkpoint's meaning is still refused, whatever the version.
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["nwsrec_version"] != "0.0.1"  # the newer version wrote it
    manifest["nwsrec_version"] = "0.0.1"
    manifest["layout"]["table_1_1"] = [50, 32]
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(train_argv(data_dir, run, 40)) == 2


def test_leftovers_of_a_killed_run_are_removed_by_the_next_run(full_width, tmp_path):
    (full_width / "ckpt-25_temp").mkdir()
    (full_width / "ckpt-25_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    (full_width / "params.json.tmp-4242").write_text("{")
    (full_width / ("checkpoint.tmp" + "ab" * 16)).write_text("half")
    kept = digest(full_width)
    with ModelDirLock(str(full_width)):
        pass
    assert not (full_width / "ckpt-25_temp").exists()
    assert not list(full_width.glob("*.tmp*"))
    now = digest(full_width)
    assert {k: v for k, v in kept.items() if k in now} == now  # the rest is untouched


def test_a_model_dir_that_is_a_file_is_a_one_line_error(data_dir, tmp_path, capsys):
    path = tmp_path / "afile"
    path.write_text("mine")
    assert main(train_argv(data_dir, path, 10)) == 2
    one_line_error(capsys.readouterr().err, str(path))
    assert path.read_text() == "mine"


def test_a_full_disk_is_a_one_line_error_and_keeps_the_last_checkpoint(data_dir, tmp_path, capsys):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        run = mount / "run"
        assert main(train_argv(data_dir, run, 10)) == 0
        capsys.readouterr()
        before = tensors(run / "ckpt-10")
        stat = os.statvfs(mount)
        (mount / "filler").write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - 4096))
        code = main(train_argv(data_dir, run, 400, "--param", "checkpoint_every_steps=5"))
        err = capsys.readouterr().err
        assert code == 2, err
        line = one_line_error(err)
        assert "space" in line.lower() or "resource" in line.lower(), line
        same_tensors(tensors(run / "ckpt-10"), before)  # the last checkpoint still reads
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
