import json
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.movielens import FILES, convert_movielens, fetch_movielens

INTER = [
    # user, item, rating, timestamp
    ("1", "10", 5, 100),
    ("1", "20", 3, 200),
    ("2", "10", 4, 300),
    ("2", "30", 1, 400),
    ("3", "20", 4, 500),
    ("3", "30", 2, 600),
    ("1", "30", 5, 700),
    ("2", "20", 2, 800),
    ("3", "10", 3, 900),
    ("1", "40", 4, 1000),
]


def write_ml100k(directory):
    """Tiny files in the RecBole atomic format of recbole/dataset_example/ml-100k."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    lines += [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in INTER]
    (directory / "ml-100k.inter").write_text("\n".join(lines) + "\n")
    (directory / "ml-100k.user").write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n3\t23\tM\twriter\t32067\n"
    )
    (directory / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tToy Story\t1995\tAnimation Children's Comedy\n"
        "20\tGoldenEye\t1995\tAction Adventure Thriller\n"
        "30\tFour Rooms\t1995\tThriller\n"
        "40\tGet Shorty\t\tAction Comedy Drama\n"
    )
    return directory


def _read(pattern):
    spec = {f"slot_{s}_0": tf.io.VarLenFeature(tf.int64) for s in range(1, 9)}
    spec["label"] = tf.io.FixedLenFeature([], tf.float32)
    files = sorted(tf.io.gfile.glob(pattern))
    batch = next(iter(tf.data.TFRecordDataset(files).batch(100)))
    return tf.io.parse_example(batch, spec)


def test_convert_writes_one_example_per_rating_with_label_rating_at_least_4(tmp_path):
    raw = write_ml100k(tmp_path / "raw")
    meta = convert_movielens(str(raw), str(tmp_path / "out"), test_fraction=0.3, seed=1)
    assert meta["num_train"] == 7 and meta["num_test"] == 3
    train = _read(str(tmp_path / "out" / "train-*"))
    test = _read(str(tmp_path / "out" / "test-*"))
    labels = np.concatenate([train["label"].numpy(), test["label"].numpy()])
    assert sorted(labels.tolist()) == sorted(float(r >= 4) for *_, r, _ in INTER)
    assert meta["positive_rate"] == pytest.approx(5 / 10)
    vocab = (tmp_path / "out" / "vocab.tsv").read_text().splitlines()[1:]
    # users 3 (+1 missing id), items 4, ages 3, genders 2, occupations 3, zips 3, years 1,
    # genres 7
    assert vocab == ["1\t4", "2\t5", "3\t4", "4\t3", "5\t4", "6\t4", "7\t2", "8\t8"]


def test_genres_are_multi_valued_and_a_missing_year_is_id_0(tmp_path):
    raw = write_ml100k(tmp_path / "raw")
    convert_movielens(str(raw), str(tmp_path / "out"), split="time", test_fraction=0.1)
    test = _read(str(tmp_path / "out" / "test-*"))  # the latest rating: user 1, item 40
    assert test["slot_7_0"].values.numpy().tolist() == [0]
    assert len(test["slot_8_0"].values.numpy()) == 3
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["split"] == "time" and meta["slots"]["8"] == "genres"


def test_time_split_puts_the_latest_ratings_in_test(tmp_path):
    raw = write_ml100k(tmp_path / "raw")
    convert_movielens(str(raw), str(tmp_path / "out"), split="time", test_fraction=0.2)
    test = _read(str(tmp_path / "out" / "test-*"))
    # the two latest ratings: (3, 10, 3) and (1, 40, 4)
    assert sorted(test["label"].numpy().tolist()) == [0.0, 1.0]


def test_fetch_extracts_only_the_data_from_the_wheel(tmp_path):
    raw = write_ml100k(tmp_path / "raw")
    fake_pip = tmp_path / "fake_pip.py"
    wheel_dir = tmp_path / "wheel"
    wheel_dir.mkdir()
    wheel = wheel_dir / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in FILES:
            zf.write(raw / name, f"recbole/dataset_example/ml-100k/{name}")
        zf.writestr("recbole/__init__.py", "")
    fake_pip.write_text(
        "import shutil, sys\n"
        "dest = sys.argv[sys.argv.index('--dest') + 1]\n"
        f"shutil.copy({str(wheel)!r}, dest)\n"
    )
    import sys

    out = fetch_movielens(str(tmp_path / "fetched"), pip=[sys.executable, str(fake_pip)])
    assert sorted(p.name for p in (tmp_path / "fetched").iterdir()) == sorted(FILES)
    assert (tmp_path / "fetched" / "ml-100k.inter").read_text() == (
        raw / "ml-100k.inter"
    ).read_text()
    assert out == str(tmp_path / "fetched")


def test_failed_download_is_a_clear_error(tmp_path):
    import sys

    with pytest.raises(RuntimeError, match="pip download --no-deps recbole==1.2.1` failed"):
        fetch_movielens(str(tmp_path / "x"), pip=[sys.executable, "-c", "import sys; sys.exit(3)"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"split": "weekly"}, "`split` must be 'random' or 'time'"),
        ({"test_fraction": 1.5}, r"`test_fraction` must be in \(0, 1\)"),
    ],
    ids=["split", "fraction"],
)
def test_bad_convert_arguments_are_errors(tmp_path, kwargs, match):
    raw = write_ml100k(tmp_path / "raw")
    with pytest.raises(ValueError, match=match):
        convert_movielens(str(raw), str(tmp_path / "out"), **kwargs)


def test_a_short_row_is_an_error_naming_file_and_line(tmp_path):
    raw = write_ml100k(tmp_path / "raw")
    with open(raw / "ml-100k.inter", "a") as f:
        f.write("1\t10\t5\n")
    with pytest.raises(ValueError, match=r"ml-100k.inter:12: a row must have 4 fields"):
        convert_movielens(str(raw), str(tmp_path / "out"))


def test_missing_files_are_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="must hold ml-100k.inter"):
        fetch_movielens(str(tmp_path / "out"), from_dir=str(tmp_path))
