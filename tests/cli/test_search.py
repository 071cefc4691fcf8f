import json

import pytest

from nwsrec.cli.main import main

TINY = [
    "--param",
    "early_stopping_patience=0",  # these runs train to --steps exactly
    "--steps",
    "12",
    "--batch-size",
    "64",
    "--no-progress",
    "--param",
    "hidden_units=[8]",
    "--param",
    "pretraining_steps=4",
    "--param",
    "arch_warmup_steps=4",
    "--param",
    "log_every_steps=4",
    "--param",
    "checkpoint_every_steps=6",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    argv = ["datasets", "generate", "synthetic", "--out", str(out)]
    assert (
        main(
            [
                *argv,
                "--num-train",
                "1024",
                "--num-test",
                "256",
                "--pair-ranks",
                "1,2",
                "--num-noise-slots",
                "2",
                "--vocab-size",
                "50",
            ]
        )
        == 0
    )
    return out


def test_search_writes_result_plot_and_params(data_dir, tmp_path, capsys):
    run_dir = tmp_path / "search"
    argv = [
        "search",
        "--model",
        "synthetic",
        "--data-dir",
        str(data_dir),
        "--model-dir",
        str(run_dir),
        *TINY,
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "search result" in out and "next: nwsrec train" in out
    result = json.loads((run_dir / "search_result.json").read_text())
    assert result["step"] == 12 and len(result["slots"]) == 6
    for entry in result["slots"].values():
        assert entry["size"] in entry["candidates"] == [0, 1, 2, 4, 8, 16]
    assert (run_dir / "search.png").read_bytes()[:4] == b"\x89PNG"
    params = json.loads((run_dir / "params.json").read_text())
    assert params["search"] is True and params["hidden_units"] == [8]


def _logged_steps(run_dir):
    """Every step a ``loss`` was logged at, over all event files (repeats kept)."""
    import tensorflow as tf

    steps = []
    for path in sorted((run_dir / "train").glob("events.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps += [event.step for value in event.summary.value if value.tag == "loss"]
    return sorted(steps)


def _search_argv(data_dir, run_dir):
    return [
        "search",
        "--model",
        "synthetic",
        "--data-dir",
        str(data_dir),
        "--model-dir",
        str(run_dir),
        *TINY,
    ]


def test_rerun_with_more_steps_continues_from_the_checkpoint(data_dir, tmp_path, capsys):
    run_dir = tmp_path / "search"
    base = _search_argv(data_dir, run_dir)
    assert main(base) == 0
    assert main([*base, "--steps", "18"]) == 0
    result = json.loads((run_dir / "search_result.json").read_text())
    assert result["step"] == 18
    # Steps 1-12 ran once, in the first run: a second run from step 0 would log 4, 8, 12
    # again (a new event file) and rewrite the history from its start.
    assert _logged_steps(run_dir) == [4, 8, 12, 16, 18]
    history = [
        json.loads(line)
        for line in (run_dir / "nws_history.jsonl").read_text().splitlines()
        if line
    ]
    assert [h["step"] for h in history] == [4, 8, 12, 16, 18]


def test_rerunning_the_same_command_resumes_finished_steps(data_dir, tmp_path, capsys):
    run_dir = tmp_path / "search"
    argv = _search_argv(data_dir, run_dir)
    assert main(argv) == 0
    first = json.loads((run_dir / "search_result.json").read_text())
    ckpt = run_dir / "ckpt-12.index"
    written = (ckpt.stat().st_mtime_ns, ckpt.read_bytes())
    assert main(argv) == 0
    # Nothing trained again: no step logged twice, the last checkpoint not rewritten, and
    # the same widths and choice probabilities.
    assert _logged_steps(run_dir) == [4, 8, 12]
    assert (ckpt.stat().st_mtime_ns, ckpt.read_bytes()) == written
    assert sorted(p.name for p in run_dir.glob("ckpt-*.index")) == ["ckpt-12.index", "ckpt-6.index"]
    again = json.loads((run_dir / "search_result.json").read_text())
    assert again["slots"] == first["slots"] and again["step"] == 12


def test_unknown_model_is_a_clear_error(capsys):
    assert main(["search", "--model", "synthetik"]) == 2
    err = capsys.readouterr().err
    assert "must be a registered model" in err and "synthetic" in err


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    argv = ["search", "--model", "synthetic", "--data-dir", str(tmp_path / "none")]
    assert main(argv) == 2
    assert "nwsrec datasets generate synthetic" in capsys.readouterr().err


def test_unknown_param_is_a_clear_error(data_dir, capsys):
    argv = ["search", "--model", "synthetic", "--data-dir", str(data_dir), "--param", "nope=1"]
    assert main(argv) == 2
    assert "`--param` keys must be params" in capsys.readouterr().err


def test_holdout_selection_records_each_slots_held_out_losses(data_dir, tmp_path, capsys):
    run_dir = tmp_path / "search"
    argv = [
        "search",
        "--model",
        "synthetic",
        "--data-dir",
        str(data_dir),
        "--model-dir",
        str(run_dir),
        *TINY,
        "--param",
        "width_selection=holdout",
        "--param",
        "holdout_every=4",
        "--param",
        "selection_batches=2",
        "--param",
        "selection_rounds=1",
    ]
    assert main(argv) == 0
    assert "sizes picked on 128 held-out examples" in capsys.readouterr().out
    result = json.loads((run_dir / "search_result.json").read_text())
    selection = result["selection"]
    assert selection["method"] == "holdout" and selection["num_examples"] == 128
    for entry in result["slots"].values():
        losses = entry["holdout_loss"]
        assert len(losses) == len(entry["candidates"]) and all(loss > 0 for loss in losses)
        # The chosen size is within the tolerance of the slot's best size.
        chosen = losses[entry["candidates"].index(entry["size"])]
        assert chosen <= min(losses) + selection["tolerance"] + 1e-9
    assert selection["chosen_loss"] > 0 and selection["full_width_loss"] > 0


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (["width_selection=best"], "width_selection` must be one of argmax, holdout, frontier"),
        (["width_selection=holdout", "holdout_every=0"], "needs `holdout_every`"),
        (["holdout_every=1"], "holdout_every` must be 0"),
    ],
)
def test_bad_selection_params_are_clear_errors(data_dir, tmp_path, capsys, params, match):
    argv = ["search", "--model", "synthetic", "--data-dir", str(data_dir)]
    argv += ["--model-dir", str(tmp_path / "s"), *TINY]
    for item in params:
        argv += ["--param", item]
    assert main(argv) == 2
    assert match in capsys.readouterr().err


def test_frontier_search_with_a_budget_then_train_at_it(data_dir, tmp_path, capsys):
    run_dir = tmp_path / "search"
    argv = [
        "search",
        "--model",
        "synthetic",
        "--data-dir",
        str(data_dir),
        "--model-dir",
        str(run_dir),
        *TINY,
        "--param",
        "holdout_every=4",
        "--budget",
        "0.3",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "width frontier:" in out and "every slot at 8" in out
    assert "taken: point" in out and "within 0.3 x full width's parameters" in out
    result = json.loads((run_dir / "search_result.json").read_text())
    frontier = result["frontier"]
    assert result["selection"]["method"] == "frontier"
    assert result["selection"]["rule"] == "budget" and result["selection"]["budget"] == 0.3
    params = [p["embedding_parameters"] for p in frontier]
    assert params == sorted(params) and frontier[-1]["fraction"] == 1.0
    chosen = frontier[result["default_point"]]
    assert chosen["fraction"] <= 0.3
    within = [p for p in frontier if p["fraction"] <= 0.3]
    best = min(within, key=lambda p: p["holdout_loss"])
    # The lowest loss within the budget, unless that is a mixture that does not beat the
    # best uniform width within the budget with 95% confidence: then that uniform width.
    if chosen is not best:
        assert chosen["uniform"] is not None and best["uniform"] is None
        assert chosen["holdout_loss"] == min(
            p["holdout_loss"] for p in within if p["uniform"] is not None
        )
        assert best["vs_uniform"][str(chosen["uniform"])][2] >= 0
    assert {s: e["size"] for s, e in result["slots"].items()} == chosen["sizes"]
    for p in frontier:
        assert p["ci95"][0] <= p["delta"] <= p["ci95"][1]
    assert (run_dir / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    document = json.loads((run_dir / "frontier.json").read_text())
    assert [r["width"] for r in document["reference"]] == [1, 2, 4, 8, 16]

    train_dir = tmp_path / "train"
    argv = ["train", "--model", "synthetic", "--data-dir", str(data_dir)]
    argv += ["--model-dir", str(train_dir), *TINY, "--dims", str(run_dir / "search_result.json")]
    assert main([*argv, "--budget", "0.3"]) == 0
    trained = json.loads((train_dir / "params.json").read_text())["slot_dims"]
    assert {str(k): v for k, v in trained.items()} == chosen["sizes"]
    assert main([*argv, "--budget", "0.0001"]) == 2
    assert "must admit a frontier point" in capsys.readouterr().err
