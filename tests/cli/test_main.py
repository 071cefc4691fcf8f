import pytest

from nwsrec.cli.main import main


def test_version_flag_prints_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "nwsrec 0.1.0" in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: nwsrec" in capsys.readouterr().out


def test_a_run_is_quiet_by_default_and_v_works_after_the_sub_command(tmp_path):
    """No oneDNN / absl lines from TensorFlow's C++ logging unless -v; TensorBoard's own
    reader finds loss, AUC and the NWS scalars; the run prints its tensorboard line."""
    import os
    import subprocess
    import sys

    src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "src")
    env = {**os.environ, "PYTHONPATH": src}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)

    def nwsrec(*argv):
        return subprocess.run(
            [sys.executable, "-m", "nwsrec", *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )

    data = tmp_path / "data"
    done = nwsrec(
        "datasets",
        "generate",
        "synthetic",
        "--out",
        str(data),
        "--num-train",
        "2048",
        "--num-test",
        "128",
        "--num-noise-slots",
        "1",
        "--pair-ranks",
        "1",
    )
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    done = nwsrec(
        "search",
        "--model",
        "synthetic",
        "--data-dir",
        str(data),
        "--model-dir",
        str(run),
        "--steps",
        "8",
        "--batch-size",
        "32",
        "--no-progress",
    )
    assert done.returncode == 0, done.stderr
    for noise in ("oneDNN", "absl", "cpu_feature_guard"):
        assert noise not in done.stderr + done.stdout
    assert f"tensorboard --logdir {run}" in done.stdout
    loud = nwsrec("evaluate", "--model-dir", str(run), "-v")
    assert loud.returncode == 0 and "INFO" in loud.stderr

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for sub in ("train", "eval"):
        acc = EventAccumulator(str(run / sub))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"]) | set(acc.Tags()["tensors"])
    assert {"loss", "auc"} <= tags, tags
    assert any(t.startswith("nws/") for t in tags), tags
