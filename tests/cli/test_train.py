import json

import pytest

from nwsrec.cli.main import main

TINY = ["--steps", "8", "--batch-size", "64", "--no-progress", "--param", "hidden_units=[8]"]


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


def _dims(tmp_path, sizes):
    path = tmp_path / "dims.json"
    path.write_text(json.dumps({"slots": {str(s): {"size": v} for s, v in sizes.items()}}))
    return str(path)


def _train(data_dir, tmp_path, *extra):
    return main(
        [
            "train",
            "--model",
            "synthetic",
            "--data-dir",
            str(data_dir),
            "--model-dir",
            str(tmp_path / "run"),
            *TINY,
            *extra,
        ]
    )


def test_full_width_training_reports_auc_log_loss_and_plan(data_dir, tmp_path, capsys):
    assert _train(data_dir, tmp_path) == 0
    out = capsys.readouterr().out
    assert "test AUC" in out and "log loss" in out and "embedding parameters 5,100" in out
    assert "table_1_1" in out  # the memory plan


def test_dims_drop_size_zero_slots_and_set_the_widths(data_dir, tmp_path, capsys):
    sizes = {s: 0 for s in range(1, 7)}
    sizes.update({1: 4, 2: 16})
    assert _train(data_dir, tmp_path, "--dims", _dims(tmp_path, sizes)) == 0
    out = capsys.readouterr().out
    # rows 500 per slot: slot 1 (1 + 4) + slot 2 (1 + 16)
    assert f"embedding parameters {50 * 22:,}" in out
    assert "table_3_" not in out


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({99: 4}, "unknown slot 99"),
        ({5: None}, "slot 5 missing"),
        ({5: 6}, r"size of slot 5 must be one of the candidate sizes \[0, 1, 2, 4, 8, 16\]"),
    ],
    ids=["unknown-slot", "missing-slot", "not-a-candidate"],
)
def test_dims_that_do_not_match_the_model_are_clear_errors(
    data_dir, tmp_path, capsys, change, match
):
    sizes = {s: 4 for s in range(1, 7)}
    for slot, size in change.items():
        if size is None:
            del sizes[slot]
        else:
            sizes[slot] = size
    assert _train(data_dir, tmp_path, "--dims", _dims(tmp_path, sizes)) == 2
    err = capsys.readouterr().err
    assert "dims.json" in err
    import re

    assert re.search(match, err)


def test_dims_file_that_is_not_json_is_an_error(data_dir, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert _train(data_dir, tmp_path, "--dims", str(path)) == 2
    assert "bad.json:1:2: `--dims` must be a JSON file" in capsys.readouterr().err


def test_a_corrupt_training_file_is_a_one_line_error_naming_that_file(data_dir, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    bad = sorted(data.glob("train-*"))[-1]
    raw = bytearray(bad.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 16] = bytes(16)  # a record's payload no longer matches its CRC
    bad.write_bytes(bytes(raw))
    argv = ["train", "--model", "synthetic", "--data-dir", str(data)]
    argv += ["--model-dir", str(tmp_path / "run"), *TINY]
    argv[argv.index("--steps") + 1] = "40"  # more than one pass over the files
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert bad.name in err
    assert "Traceback" not in err


def test_input_pipeline_knobs_are_params_a_run_can_set(data_dir, tmp_path):
    argv = ["--param", "check_files=true", "--param", "cycle_length=2"]
    assert _train(data_dir, tmp_path, *argv) == 0
    saved = json.loads((tmp_path / "run" / "params.json").read_text())
    assert saved["check_files"] is True and saved["cycle_length"] == 2


@pytest.mark.parametrize("command", ["train", "search"])
def test_list_params_shows_every_knob_with_default_and_meaning(command, capsys):
    assert main([command, "--model", "synthetic", "--list-params"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("params of model 'synthetic'")
    for section in ("[input pipeline]", "[training]", "[width search]", "[model]"):
        assert section in out
    line = next(x for x in out.splitlines() if x.split()[:1] == ["keep_checkpoints"])
    assert "3" in line and "how many checkpoints to keep" in line


def test_tables_too_large_for_the_machine_are_a_one_line_error_before_training(
    data_dir, tmp_path, capsys
):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    lines = (data / "vocab.tsv").read_text().splitlines()
    huge = [lines[0]] + [f"{line.split()[0]}\t{10**11}" for line in lines[1:]]
    (data / "vocab.tsv").write_text("\n".join(huge) + "\n")
    argv = ["train", "--model", "synthetic", "--data-dir", str(data)]
    assert main([*argv, "--model-dir", str(tmp_path / "run"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nwsrec train: error: the embedding tables of model ")
    assert "available" in err and "--param check_memory=false" in err
    assert len(err.splitlines()) == 1
    assert not list((tmp_path / "run").glob("ckpt-*"))
