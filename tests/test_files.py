"""nwsrec.files: atomic writes never leave half a file or a temporary file behind."""

import json
import os

import numpy as np
import pytest

from nwsrec.files import (
    TMP_MARKER,
    atomic_path,
    jsonable,
    read_json_object,
    write_json_atomic,
    write_text_atomic,
)


def test_json_is_sorted_indented_and_ends_with_a_newline(tmp_path):
    path = tmp_path / "a" / "b.json"
    write_json_atomic(path, {"b": np.float32(0.5), "a": (1, np.int64(2)), "c": {3}})
    text = path.read_text()
    assert text.endswith("\n")
    assert json.loads(text) == {"a": [1, 2], "b": 0.5, "c": "{3}"}
    assert text.index('"a"') < text.index('"b"')


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "x.txt"
    write_text_atomic(path, "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        with open(tmp, "w") as handle:
            handle.write("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_the_temporary_file_sits_beside_the_target_with_the_marker(tmp_path):
    with atomic_path(tmp_path / "plot.png", suffix=".png") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert TMP_MARKER in os.path.basename(tmp) and tmp.endswith(".png")
        open(tmp, "w").close()
    assert (tmp_path / "plot.png").exists()


def test_jsonable_of_nested_values():
    assert jsonable({1: [np.int32(3), None, True]}) == {"1": [3, None, True]}


def test_read_json_object_names_the_file_at_fault(tmp_path):
    path = tmp_path / "params.json"
    with pytest.raises(FileNotFoundError, match=rf"need params. Received: no {path}"):
        read_json_object(str(path), "need params")
    path.write_text("{broken")
    with pytest.raises(ValueError, match=rf"{path}: must be JSON .* a broken file"):
        read_json_object(str(path), "need params")
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=rf"{path}: must be a JSON object. Received: list"):
        read_json_object(str(path), "need params")
    path.write_text('{"a": 1}')
    assert read_json_object(str(path), "need params") == {"a": 1}
