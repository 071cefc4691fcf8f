import json

from nwsrec.cli.main import main


def test_demo_runs_end_to_end_and_prints_the_comparison(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--steps", "10", "--num-train", "1024", "--no-progress"]
    argv += ["--pair-ranks", "1,2", "--num-noise-slots", "2"]
    argv += ["--param", "batch_size=64", "--param", "hidden_units=[8]"]
    argv += [
        "--param",
        "log_every_steps=5",
        "--param",
        "eval_file_pattern=" + str(out / "data" / "test-0000[0]*"),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for row in ("search, default point", "search, --budget 0.25", "every slot 4", "every slot 1"):
        assert row in printed
    assert "full width (16)" in printed
    assert "emb. params" in printed and "test AUC" in printed and "log loss" in printed
    assert "width frontier:" in printed and "taken: point" in printed
    assert "chosen sizes" in printed and "slots on the right side of 0" in printed
    assert f"search plot: {out / 'search' / 'search.png'}" in printed
    assert f"frontier plot: {out / 'search' / 'frontier.png'}" in printed
    result = json.loads((out / "search" / "search_result.json").read_text())
    assert len(result["slots"]) == 6
    for width in (1, 2, 4, 8, 16):
        assert (out / f"uniform-{width}" / "params.json").exists(), width
    # A search point with the widths of a uniform run is that run, not trained again.
    for run in ("retrain", "retrain-budget-0.25"):
        reused = printed.count("the same widths as a run above")
        assert (out / run / "params.json").exists() or reused >= 1, run
    # Each uniform run trained every slot at its width (the tables say so).
    uniform = json.loads((out / "uniform-4" / "params.json").read_text())
    assert set(uniform["slot_dims"].values()) == {4}
    # The budget run is within its budget of full width's embedding parameters.
    table = {line.split("  ")[0].strip(): line for line in printed.splitlines()}
    budget_row = next(v for k, v in table.items() if k.startswith("search, --budget"))
    assert float(budget_row.split()[4]) <= 0.25
