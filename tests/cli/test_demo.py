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
    assert "searched + retrained" in printed and "full width" in printed
    assert "emb. params" in printed and "test AUC" in printed and "log loss" in printed
    assert "chosen sizes" in printed and "slots on the right side of 0" in printed
    assert f"search plot: {out / 'search' / 'search.png'}" in printed
    result = json.loads((out / "search" / "search_result.json").read_text())
    assert len(result["slots"]) == 6
    assert (out / "retrain" / "params.json").exists() and (out / "full" / "params.json").exists()
