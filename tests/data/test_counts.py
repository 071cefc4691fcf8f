import pytest

from nwsrec.data import count_ids, read_id_counts
from nwsrec.data.counts import ID_COUNTS_FILE, read_num_records
from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
from nwsrec.data.writer import write_examples


def test_count_ids_counts_records_not_occurrences(tmp_path):
    rows = [
        {"slot_1_0": [0, 0, 2], "slot_2_0": [1], "label": 1.0},
        {"slot_1_0": [2], "slot_2_0": [], "label": 0.0},
        {"slot_1_0": [], "slot_2_0": [1, 3], "label": 0.0},
    ]
    write_examples(rows, tmp_path, num_shards=2)
    counts = count_ids(str(tmp_path / "part-*"), [1, 2])
    assert counts[1].tolist() == [1, 0, 2]
    assert counts[2].tolist() == [0, 2, 0, 1]
    sized = count_ids(str(tmp_path / "part-*"), [1], vocab_sizes={1: 5})
    assert sized[1].tolist() == [1, 0, 2, 0, 0]


def test_synthetic_writes_the_counts_a_scan_finds(tmp_path):
    truth = generate_synthetic(
        tmp_path, SyntheticConfig(seed=1, num_train=600, num_test=100, num_files=2, vocab_size=20)
    )
    written = read_id_counts(tmp_path)
    assert sorted(written) == sorted(truth.slots)
    scanned = count_ids(str(tmp_path / "train-*"), written, {s: 20 for s in written})
    for slot in written:
        assert written[slot].tolist() == scanned[slot].tolist()
        assert written[slot].sum() == 600
    assert read_num_records(tmp_path) == 600


def test_a_missing_counts_file_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=ID_COUNTS_FILE):
        read_id_counts(tmp_path)
    (tmp_path / ID_COUNTS_FILE).write_bytes(b"nope")
    with pytest.raises(ValueError, match=ID_COUNTS_FILE):
        read_id_counts(tmp_path)
