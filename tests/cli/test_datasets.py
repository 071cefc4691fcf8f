import pathlib
import sys

from nwsrec.cli.main import main
from nwsrec.data.synthetic import load_truth

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "data"))
from test_movielens import write_ml100k  # noqa: E402


def test_generate_synthetic_writes_data_and_truth(tmp_path, capsys):
    out = tmp_path / "synthetic"
    argv = ["datasets", "generate", "synthetic", "--out", str(out), "--seed", "3"]
    assert main([*argv, "--num-train", "600", "--num-test", "200"]) == 0
    truth = load_truth(out)
    assert truth.config.seed == 3 and truth.config.num_train == 600
    printed = capsys.readouterr().out
    assert "noise slots" in printed and str(truth.noise_slots()) in printed
    assert (out / "vocab.tsv").exists() and len(list(out.glob("train-*"))) == 4


def test_fetch_movielens_from_a_directory_converts_it(tmp_path, capsys):
    raw = write_ml100k(tmp_path / "files")
    out = tmp_path / "ml"
    argv = ["datasets", "fetch", "movielens-100k", "--from", str(raw), "--out", str(out)]
    assert main(argv) == 0
    assert "8 train / 2 test" in capsys.readouterr().out
    assert (out / "raw" / "ml-100k.user").exists() and (out / "vocab.tsv").exists()


def test_fetch_movielens_without_the_files_is_a_clear_error(tmp_path, capsys):
    argv = ["datasets", "fetch", "movielens-100k", "--from", str(tmp_path), "--out"]
    assert main([*argv, str(tmp_path / "out")]) == 2
    assert "must hold ml-100k.inter" in capsys.readouterr().err


def test_generate_criteo_writes_data_truth_and_id_counts(tmp_path, capsys):
    from nwsrec.data.criteo import load_criteo_truth

    out = tmp_path / "criteo"
    argv = ["datasets", "generate", "criteo", "--out", str(out), "--scale", "0.0005"]
    assert main([*argv, "--num-train", "500", "--num-test", "100"]) == 0
    truth = load_criteo_truth(out)
    assert truth.config.scale == 0.0005 and truth.config.num_train == 500
    printed = capsys.readouterr().out
    assert "26 slots" in printed and str(truth.noise_slots()) in printed
    assert (out / "id_counts.npz").exists() and len(list(out.glob("train-*"))) == 4


def test_generate_flags_of_the_other_kind_are_a_clear_error(tmp_path, capsys):
    base = ["datasets", "generate", "criteo", "--out", str(tmp_path / "c")]
    assert main([*base, "--vocab-size", "10"]) == 2
    assert "`--vocab-size` must be used with `generate synthetic`" in capsys.readouterr().err
    base = ["datasets", "generate", "synthetic", "--out", str(tmp_path / "s")]
    assert main([*base, "--scale", "0.1"]) == 2
    assert "`--scale` must be used with `generate criteo`" in capsys.readouterr().err
