import io
import json

from nwsrec.training.summaries import (
    ProgressBar,
    RunSummaries,
    read_history,
    write_params_json,
)


def test_progress_bar_shows_step_loss_and_speed():
    stream = io.StringIO()
    bar = ProgressBar(100, stream=stream, min_interval_s=0.0)
    bar.update(50, loss=0.4321, examples_per_sec=12345.0)
    line = stream.getvalue()
    assert "step 50/100" in line and "loss 0.4321" in line and "12,345 examples/s" in line


def test_progress_bar_off_a_terminal_rate_limits_but_always_shows_the_end():
    stream = io.StringIO()
    bar = ProgressBar(10, stream=stream, min_interval_s=3600.0)
    for step in range(1, 11):
        bar.update(step, loss=0.5, examples_per_sec=1.0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "step 10/10" in lines[-1]


def test_params_json_is_written_with_non_json_values_as_repr(tmp_path):
    path = write_params_json(str(tmp_path), {"a": 1, "b": (1, 2), "c": object})
    saved = json.loads(open(path).read())
    assert saved["a"] == 1 and saved["b"] == [1, 2] and "object" in saved["c"]


def test_resumed_summaries_drop_history_after_the_restored_step(tmp_path):
    (tmp_path / "nws_history.jsonl").write_text(
        "".join(json.dumps({"step": s, "probabilities": {}}) + "\n" for s in (10, 20, 30))
        + '{"step": 4'  # a line cut by a killed run
    )
    RunSummaries(str(tmp_path), resume_step=20).close()
    assert [r["step"] for r in read_history(str(tmp_path))] == [10, 20]
