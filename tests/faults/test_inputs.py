"""Bad inputs: one-line errors naming the file, line, record, slot or key; nothing written
before is lost. Hypothesis fuzzing of the vocab and CSV parsers."""

from __future__ import annotations

import shutil

import pytest
from faultkit import (  # noqa: F401 (data_dir: a fixture)
    data_dir,
    one_line_error,
    train_argv,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nwsrec.cli.main import main
from nwsrec.features import read_vocab_file

SHORT_SLOT_3 = b"slot\tcount\n1\t50\n2\t50\n3\t30\n4\t50\n5\t50\n6\t50\n"


def _with_vocab(data_dir, tmp_path, text):
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    (data / "vocab.tsv").write_bytes(text)
    return data


def test_ids_outside_a_table_name_file_record_slot_and_id(data_dir, tmp_path, capsys):
    data = _with_vocab(
        data_dir, tmp_path, b"slot\tcount\n1\t50\n2\t50\n3\t30\n4\t50\n5\t50\n6\t50\n"
    )
    assert main(train_argv(data, tmp_path / "run", 10)) == 2
    line = one_line_error(capsys.readouterr().err, "train-", "record", "slot 3", "[0, 30)", "id=")
    assert int(line.split("id=")[1].split(";")[0]) >= 30


def test_ids_outside_a_table_map_to_the_oov_row_by_a_param(data_dir, tmp_path, caplog):
    data = _with_vocab(
        data_dir, tmp_path, b"slot\tcount\n1\t50\n2\t50\n3\t30\n4\t50\n5\t50\n6\t50\n"
    )
    argv = train_argv(data, tmp_path / "run", 10, "--param", "out_of_range_ids=oov")
    assert main(argv) == 0
    assert "ids outside their slot's vocab were mapped to the OOV row" in caplog.text


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (b"", ["vocab.tsv", "at least one slot", "an empty file"]),
        (b"\x00\x01\x02binary", ["vocab.tsv", "binary"]),
        (b"slot\tcount\n1\t50\n2\t\xff\xfe\n", ["vocab.tsv:3", "UTF-8"]),
    ],
    ids=["empty", "binary", "not-utf8"],
)
def test_bad_vocab_files_are_one_line_errors_naming_the_file(
    data_dir, tmp_path, capsys, content, needles
):
    data = _with_vocab(data_dir, tmp_path, content)
    assert main(train_argv(data, tmp_path / "run", 10)) == 2
    one_line_error(capsys.readouterr().err, *needles)


def test_missing_eval_files_are_found_before_training(data_dir, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    for path in data.glob("test-*"):
        path.unlink()
    assert main(train_argv(data, tmp_path / "run", 10)) == 2
    one_line_error(capsys.readouterr().err, "eval_file_pattern", "test-")
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


@pytest.mark.parametrize(
    ("param", "needle"),
    [
        ("dense_learning_rate=-1", "dense_learning_rate=-1"),
        ("dense_learning_rate=abc", "dense_learning_rate='abc'"),
        ("keep_checkpoints=0", "keep_checkpoints=0"),
        ("checkpoint_every_steps=0", "checkpoint_every_steps=0"),
    ],
)
def test_bad_params_name_their_key(data_dir, tmp_path, capsys, param, needle):
    assert main(train_argv(data_dir, tmp_path / "run", 10, "--param", param)) == 2
    one_line_error(capsys.readouterr().err, needle)


def test_a_stdlib_module_is_not_imported_as_a_model(capsys):
    import sys

    sys.modules.pop("this", None)
    assert main(["train", "--model", "this.Foo"]) == 2
    captured = capsys.readouterr()
    assert "Beautiful is better than ugly" not in captured.out
    assert "this" not in sys.modules
    one_line_error(captured.err, "this.Foo")


def _convert(tmp_path, text, capsys):
    path = tmp_path / "in.csv"
    path.write_bytes(text)
    argv = ["convert", str(path), "--out", str(tmp_path / "out"), "--slot", "u=1"]
    code = main([*argv, "--slot", "g=2", "--label", "c"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (b'u,g,c\na,b,1\n"b,y,0\n' + b"c,z,1\n" * 700, ["in.csv:3", "quote opened on line 3"]),
        (b"u,g,c\na," + b"x" * 300_000 + b",1\n", ["in.csv:2", "at most 131072 characters"]),
        (b"u,g,c\na,b,1\nb,c,0\na,\xff\xfe,1\n", ["in.csv:4", "UTF-8"]),
    ],
    ids=["unclosed-quote", "300KB-field", "not-utf8"],
)
def test_bad_csv_rows_name_the_file_and_the_line(tmp_path, capsys, text, needles):
    code, err = _convert(tmp_path, text, capsys)
    assert code == 2
    one_line_error(err, *needles)


def test_convert_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "in.csv").write_text("u,g,c\na,b,1\n")
    (tmp_path / "out").write_text("mine")
    code = main(
        [
            "convert",
            str(tmp_path / "in.csv"),
            "--out",
            str(tmp_path / "out"),
            "--slot",
            "u=1",
            "--slot",
            "g=2",
            "--label",
            "c",
        ]
    )
    assert code == 2
    one_line_error(capsys.readouterr().err, "out")
    assert (tmp_path / "out").read_text() == "mine"


_LINES = st.lists(
    st.one_of(
        st.tuples(st.integers(-5, 10**6), st.integers(-5, 10**6)).map(lambda t: f"{t[0]}\t{t[1]}"),
        st.text(alphabet="0123456789\t ab\r-", max_size=12),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.binary(max_size=64), _LINES.map(lambda ls: "\n".join(ls).encode())))
def test_fuzz_vocab_parser_gives_a_parse_or_a_clear_error(tmp_path_factory, raw):
    path = tmp_path_factory.getbasetemp() / "fuzz-vocab.tsv"
    path.write_bytes(raw)
    try:
        sizes = read_vocab_file(path)
    except ValueError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return
    assert sizes and all(isinstance(k, int) and v >= 0 for k, v in sizes.items())


_CSV_LINES = st.lists(st.text(alphabet='ab,1"0\n|x ', max_size=10), min_size=0, max_size=6).map(
    lambda rows: ("u,g,c\n" + "\n".join(rows)).encode()
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(_CSV_LINES, st.binary(max_size=48).map(lambda b: b"u,g,c\n" + b)))
def test_fuzz_csv_parser_gives_a_parse_or_a_clear_error(tmp_path_factory, raw):
    from nwsrec.data.convert import convert_csv

    root = tmp_path_factory.mktemp("c")
    path = root / "in.csv"
    path.write_bytes(raw)
    try:
        result = convert_csv([path], root / "out", slots={"u": 1, "g": 2}, label="c")
    except (ValueError, LookupError) as err:
        assert "\n" not in str(err)
        return
    assert result.num_rows >= 0


# ------------------------------------------------------------- damaged and incomplete data


def _rewrite_record(path, index, change):
    """Rewrites the TFRecord file ``path`` with record ``index`` passed through ``change``
    (a ``tf.train.Example`` -> bytes); the other records stay byte for byte."""
    import tensorflow as tf

    records = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    example = tf.train.Example.FromString(records[index])
    records[index] = change(example)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def _drop_feature(name):
    def change(example):
        del example.features.feature[name]
        return example.SerializeToString()

    return change


def _copy(data_dir, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    return data


def test_a_record_missing_a_slots_feature_is_a_one_line_error(data_dir, tmp_path, capsys):
    data = _copy(data_dir, tmp_path)
    bad = sorted(data.glob("train-*"))[1]
    _rewrite_record(bad, 5, _drop_feature("slot_3_0"))
    assert main(train_argv(data, tmp_path / "run", 40)) == 2
    one_line_error(
        capsys.readouterr().err, bad.name, "record 5", "'slot_3_0' is missing", "missing_features"
    )


def test_an_explicit_option_reads_a_missing_feature_as_empty(data_dir, tmp_path):
    data = _copy(data_dir, tmp_path)
    _rewrite_record(sorted(data.glob("train-*"))[1], 5, _drop_feature("slot_3_0"))
    argv = train_argv(data, tmp_path / "run", 40, "--param", "missing_features=empty")
    assert main(argv) == 0


def test_a_present_empty_id_list_is_not_a_missing_feature(data_dir, tmp_path):
    data = _copy(data_dir, tmp_path)

    def empty(example):
        del example.features.feature["slot_3_0"].int64_list.value[:]
        return example.SerializeToString()

    _rewrite_record(sorted(data.glob("train-*"))[1], 5, empty)
    assert main(train_argv(data, tmp_path / "run", 40)) == 0


@pytest.mark.parametrize(
    ("vocab", "needle"),
    [
        (b"slot\tcount\n1\t50\n2\t50\n3\t50\n4\t50\n5\t50\n", "lacks slots [6]"),
        (b"slot\tcount\n1\t50\n2\t50\n3\t50\n4\t50\n5\t50\n6\t50\n7\t50\n", "lists slots [7]"),
    ],
    ids=["lacks-a-slot", "lists-an-extra-slot"],
)
def test_a_vocab_that_disagrees_with_the_datas_slots_is_a_one_line_error(
    data_dir, tmp_path, capsys, vocab, needle
):
    data = _with_vocab(data_dir, tmp_path, vocab)
    assert main(train_argv(data, tmp_path / "run", 10)) == 2
    one_line_error(capsys.readouterr().err, "vocab.tsv", needle, "train-")
    assert not (tmp_path / "run" / "ckpt-10.index").exists()


def test_the_input_function_alone_names_the_file_of_a_corrupt_record(data_dir, tmp_path):
    # A user of Model.create_input_fn iterates its dataset without the trainer.
    from nwsrec.data.scan import DataFileError
    from nwsrec.runs import resolve_params

    data = _copy(data_dir, tmp_path)
    bad = sorted(data.glob("train-*"))[1]
    raw = bytearray(bad.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped byte in the middle of the file: a bad CRC
    bad.write_bytes(bytes(raw))
    cls, params = resolve_params("synthetic", data_dir=str(data), batch_size=64)
    model = cls(params)
    input_fn = model.create_input_fn(params["train_file_pattern"], repeat=False)
    with pytest.raises(DataFileError, match=rf"{bad}: record \d+ is corrupt"):
        for _ in input_fn(None):
            pass
