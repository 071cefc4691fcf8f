"""Damaged checkpoints: the damaged file is named, the newest intact checkpoint is used,
and no checkpoint the run could not read is overwritten."""

from __future__ import annotations

import shutil

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


@pytest.fixture(scope="module")
def base(data_dir, tmp_path_factory):
    """A run dir at step 30 (ckpt-10, -20, -30) and a reference run trained 20 -> 40."""
    root = tmp_path_factory.mktemp("ckpt")
    assert main(train_argv(data_dir, root / "base", 30)) == 0
    ref = root / "ref"
    shutil.copytree(root / "base", ref)
    for name in ref.glob("ckpt-30.*"):
        name.unlink()
    (ref / "checkpoint").write_text('model_checkpoint_path: "ckpt-20"\n')
    assert main(train_argv(data_dir, ref, 40)) == 0
    return root


def _copy(base, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(base / "base", run)
    return run


def test_a_truncated_latest_checkpoint_falls_back_to_the_previous_one(
    base, data_dir, tmp_path, caplog
):
    run = _copy(base, tmp_path)
    data = run / "ckpt-30.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    damaged = data.read_bytes()
    assert main(train_argv(data_dir, run, 40)) == 0
    err = caplog.text
    assert "ckpt-30.data-00000-of-00001" in err and "damaged" in err  # named, warned
    assert "resuming from" in err and "ckpt-20" in err
    kept = list((run / "damaged").rglob("ckpt-30.data-00000-of-00001"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged  # set aside, not overwritten
    same_tensors(tensors(run / "ckpt-40"), tensors(base / "ref" / "ckpt-40"))


def test_a_garbage_index_is_set_aside_and_rebuilt_from_the_files(base, data_dir, tmp_path, caplog):
    run = _copy(base, tmp_path)
    (run / "checkpoint").write_bytes(b"\xff\xfe garbage {{{")
    before = tensors(run / "ckpt-30")
    assert main(train_argv(data_dir, run, 30)) == 0  # resumes at 30: nothing to train
    err = caplog.text
    assert "checkpoint index" in err and "damaged" in err and "rebuilt" in err
    assert list((run / "damaged").rglob("checkpoint"))
    same_tensors(tensors(run / "ckpt-30"), before)


def test_an_index_naming_deleted_files_uses_the_files_that_are_there(
    base, data_dir, tmp_path, caplog
):
    run = _copy(base, tmp_path)
    for path in run.glob("ckpt-30.*"):
        path.unlink()
    assert main(train_argv(data_dir, run, 40)) == 0
    err = caplog.text
    assert "names checkpoints that are gone (ckpt-30)" in err
    same_tensors(tensors(run / "ckpt-40"), tensors(base / "ref" / "ckpt-40"))


def test_a_deleted_index_does_not_retrain_from_step_zero(base, data_dir, tmp_path, caplog):
    run = _copy(base, tmp_path)
    (run / "checkpoint").unlink()
    old = {k: v for k, v in digest(run).items() if k.startswith("ckpt-")}
    assert main(train_argv(data_dir, run, 30)) == 0
    err = caplog.text
    assert "is missing" in err and "rebuilt" in err
    now = digest(run)
    assert all(now[k] == v for k, v in old.items())  # no checkpoint was rewritten


def test_every_checkpoint_damaged_is_an_error_that_overwrites_nothing(
    base, data_dir, tmp_path, capsys
):
    run = _copy(base, tmp_path)
    for path in run.glob("ckpt-*.index"):
        path.write_bytes(b"not an index")
    before = digest(run)
    assert main(train_argv(data_dir, run, 40)) == 2
    line = one_line_error(capsys.readouterr().err, "damaged", "ckpt-30.index", "ckpt-10.index")
    assert "Nothing was overwritten" in line
    assert digest(run) == before  # not even params.json changed
