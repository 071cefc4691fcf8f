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
