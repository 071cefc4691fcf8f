import pytest

from nwsrec.features import read_vocab_file


def _write(tmp_path, text, name="vocab.tsv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_reads_counts_skipping_header_and_blank_lines(tmp_path):
    path = _write(tmp_path, "slot\tcount\n3\t120\n\n11\t7\r\n0\t0\n")
    assert read_vocab_file(path) == {3: 120, 11: 7, 0: 0}


def test_fixed_size_overrides_every_count(tmp_path):
    path = _write(tmp_path, "3\t120\n11\t7\n")
    assert read_vocab_file(str(path), vocab_size_per_slot=1000) == {3: 1000, 11: 1000}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1\t5\n2\t6\t7\n", r"vocab.tsv:2: each line must have exactly 2 tab-separated"),
        ("1\t5\n2 6\n", r"vocab.tsv:2: each line must have exactly 2 tab-separated"),
        ("1\tmany\n", r"vocab.tsv:1: `count` must be a non-negative .* count='many'"),
        ("1\t-4\n", r"vocab.tsv:1: `count` must be a non-negative .* count='-4'"),
        ("1\t2.5\n", r"vocab.tsv:1: `count` must be a non-negative integer"),
        ("h\tc\n1\t5\n1\t6\n", r"vocab.tsv:3: each slot must be listed once; slot 1 .* line 2"),
    ],
    ids=["three-fields", "no-tab", "word-count", "negative-count", "float-count", "duplicate"],
)  # fmt: skip
def test_malformed_lines_name_file_and_line(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=match):
        read_vocab_file(path)


def test_bad_count_is_an_error_even_with_a_fixed_size(tmp_path):
    path = _write(tmp_path, "1\tx\n")
    with pytest.raises(ValueError, match="vocab.tsv:1: `count` must be"):
        read_vocab_file(path, vocab_size_per_slot=10)


@pytest.mark.parametrize("size", [0, -3, True, 2.0, "10"])
def test_fixed_size_must_be_a_positive_integer(tmp_path, size):
    path = _write(tmp_path, "1\t5\n")
    with pytest.raises(ValueError, match="`vocab_size_per_slot` must be None or an integer >= 1"):
        read_vocab_file(path, vocab_size_per_slot=size)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        read_vocab_file(tmp_path / "nope.tsv")
