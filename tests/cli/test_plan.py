import json
import re

import pytest
import tensorflow as tf

from nwsrec import model_imports, registry
from nwsrec.cli.main import main
from nwsrec.features import FeatureColumnV1, FeatureSlot
from nwsrec.model import Model
from nwsrec.search.result import read_search_dims


class TinyPlanModel(Model):
    """Slots 1 and 2, each a bias plus a vector of width params["slot_dims"] (default 8)."""

    vocab_path = None

    @classmethod
    def default_params(cls):
        return {**super().default_params(), "vocab_file_path": cls.vocab_path}

    def logits_fn(self):
        dims = self.params.get("slot_dims") or {}
        parts = []
        for slot_id in (1, 2):
            fc = FeatureColumnV1(FeatureSlot(self.env, slot_id, has_bias=True), f"slot_{slot_id}_0")
            parts.append(fc.get_bias())
            if dims.get(slot_id, 8) > 0:
                parts.append(fc.add_vector(dims.get(slot_id, 8)))
        return tf.reduce_sum(tf.concat(parts, axis=1), axis=1)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Serve TinyPlanModel as "tests.tiny" through the registry's get_class/get_params.

    Registering a test class for real would leave it in the process-wide registry that
    other tests (``nwsrec models``) read, so the two functions the command calls are
    patched instead; ``test_unknown_model_*`` goes through the real registry.
    """
    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("slot\tcount\n1\t1000\n2\t10\n")
    monkeypatch.setattr(TinyPlanModel, "vocab_path", str(vocab))
    real_get_class = registry.get_class

    def get_class(name):
        return TinyPlanModel if name == "tests.tiny" else real_get_class(name)

    monkeypatch.setattr(registry, "get_class", get_class)
    monkeypatch.setattr(registry, "get_params", lambda name: get_class(name).default_params())
    return tmp_path


def _write_dims(tmp_path, payload):
    path = tmp_path / "search_result.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return str(path)


def test_plan_prints_each_table_and_the_totals(tiny, capsys):
    assert main(["plan", "--model", "tests.tiny"]) == 0
    out = capsys.readouterr().out
    lines = {
        line.split()[0]: line.split() for line in out.splitlines() if line.startswith("table_")
    }
    assert lines["table_1_0"] == [
        *("table_1_0", "1000", "1", "8", "FTRL", "3", "12000", "96000", "ftrl_dim1")
    ]
    assert lines["table_1_1"] == [
        *("table_1_1", "1000", "8", "8", "Adagrad", "2", "64000", "64000", "adagrad_dim8")
    ]
    assert lines["table_2_1"] == [
        *("table_2_1", "10", "8", "8", "Adagrad", "2", "640", "640", "adagrad_dim8")
    ]
    # The groups: the two bias tables share one variable, the two vector tables another.
    assert "  ftrl_dim1: 2 tables, 1010 rows x 1, FTRL" in out
    assert "  adagrad_dim8: 2 tables, 1010 rows x 8, Adagrad" in out
    # raw 12000 + 64000 + 120 + 640; padded 96000 + 64000 + 960 + 640;
    # padded at 3 copies 96000 + 96000 + 960 + 960
    assert " 76760 (" in out and " 161600 (" in out and " 193920 (" in out


def test_plan_passes_dims_file_sizes_to_the_model(tiny, capsys):
    dims = _write_dims(tiny, {"slots": {"1": {"size": 4, "probs": [0.1, 0.9]}, "2": {"size": 0}}})
    assert main(["plan", "--model", "tests.tiny", "--dims", dims]) == 0
    out = capsys.readouterr().out
    assert "table_2_1" not in out
    row = next(line.split() for line in out.splitlines() if line.startswith("table_1_1"))
    assert row == ["table_1_1", "1000", "4", "8", "Adagrad", "2", "32000", "64000", "adagrad_dim4"]
    # raw 12000 + 1000*4*4*2 + 120; padded 96000 + 64000 + 960; max 96000 + 96000 + 960
    assert " 44120 (" in out and " 160960 (" in out and " 192960 (" in out


def test_plan_json_output(tiny, capsys):
    assert main(["plan", "--model", "tests.tiny", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "tests.tiny"
    assert (data["raw_bytes"], data["padded_bytes"], data["padded_max_copies_bytes"]) == (
        76760,
        161600,
        193920,
    )
    assert [t["name"] for t in data["tables"]] == [
        "table_1_0",
        "table_1_1",
        "table_2_0",
        "table_2_1",
    ]


def test_plan_vocab_file_override_and_max_tables(tiny, capsys):
    other = tiny / "other.tsv"
    other.write_text("1\t10\n2\t10\n")
    args = ["plan", "--model", "tests.tiny", "--vocab-file", str(other), "--max-tables", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"table_1_0 +10 .* ftrl_dim1\n", out) and "... 3 more tables" in out
    assert " 1520 (" in out  # 10*1*4*3 + 10*8*4*2, twice


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ("{not json", r"search_result.json:1:2: `--dims` must be a JSON file"),
        ({"sizes": {}}, r"search_result.json: `--dims` must hold an object"),
        ([1, 2], r"`--dims` must hold an object"),
        ({"slots": {"a": {"size": 4}}}, r"slot ids must be non-negative .* slot='a'"),
        ({"slots": {"1": {"size": -1}}}, r"slot 1 must have a non-negative integer `size`"),
        ({"slots": {"1": {"size": 2.5}}}, r"slot 1 must have a non-negative .* size=2.5"),
        ({"slots": {"1": 4}}, r"slot 1 must have a non-negative .* size=None"),
    ],
    ids=["not-json", "no-slots", "not-object", "bad-slot", "negative", "float", "no-size"],
)  # fmt: skip
def test_bad_dims_file_names_the_file(tiny, capsys, payload, match):
    path = _write_dims(tiny, payload)
    with pytest.raises(ValueError, match=match):
        read_search_dims(path)
    assert main(["plan", "--model", "tests.tiny", "--dims", path]) == 2
    assert "nwsrec plan: error: " in capsys.readouterr().err


def test_unknown_model_exits_2_with_the_registry_message(tiny, capsys):
    assert main(["plan", "--model", "nosuch.params.Model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nwsrec plan: error: ") and "nosuch.params.Model" in err


def test_broken_model_module_exits_2_with_one_line(tiny, capsys, monkeypatch):
    def broken(name):
        raise model_imports.ModelImportError(f"model module of {name} failed: boom")

    monkeypatch.setattr(registry, "get_class", broken)
    assert main(["plan", "--model", "broken.params.Model"]) == 2
    assert "failed: boom" in capsys.readouterr().err


def test_missing_files_and_bad_max_tables_exit_2(tiny, capsys):
    assert main(["plan", "--model", "tests.tiny", "--dims", str(tiny / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["plan", "--model", "tests.tiny", "--vocab-file", str(tiny / "none.tsv")]) == 2
    assert "none.tsv" in capsys.readouterr().err
    assert main(["plan", "--model", "tests.tiny", "--max-tables", "-1"]) == 2
    assert "`--max-tables` must be >= 0" in capsys.readouterr().err


def test_plan_requires_a_model(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan"])
    assert exc.value.code == 2
    assert "--model" in capsys.readouterr().err


def test_param_overrides_reach_the_model(tiny, capsys):
    args = ["plan", "--model", "tests.tiny", "--json", "--param", "vocab_size_per_slot=10"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert {t["rows"] for t in data["tables"]} == {10}
    assert main(["plan", "--model", "tests.tiny", "--param", "no_such_knob=1"]) == 2
    assert "no_such_knob" in capsys.readouterr().err


def test_plan_of_the_builtin_synthetic_model_with_data_dir_and_dims(tmp_path, capsys):
    data_dir = tmp_path / "synthetic"
    generate = ["datasets", "generate", "synthetic", "--out", str(data_dir)]
    assert main([*generate, "--num-train", "64", "--num-test", "32"]) == 0
    capsys.readouterr()
    vocab = dict(line.split("\t") for line in (data_dir / "vocab.tsv").read_text().splitlines()[1:])
    assert main(["plan", "--model", "synthetic", "--data-dir", str(data_dir), "--json"]) == 0
    full = json.loads(capsys.readouterr().out)
    biases = [t for t in full["tables"] if t["dim"] == 1]
    assert sorted(t["slot_id"] for t in biases) == sorted(int(s) for s in vocab)
    assert all(t["rows"] == int(vocab[str(t["slot_id"])]) for t in full["tables"])
    assert full["raw_bytes"] == sum(t["raw_bytes"] for t in full["tables"])
    # --dims: the first slot dropped (size 0), every other slot kept at its full width
    (width,) = {t["dim"] for t in full["tables"] if t["dim"] > 1}
    slots = sorted(int(s) for s in vocab)
    sizes = {str(s): {"size": 0 if s == slots[0] else width} for s in slots}
    dims = _write_dims(tmp_path, {"slots": sizes})
    args = ["plan", "--model", "synthetic", "--data-dir", str(data_dir), "--dims", dims, "--json"]
    assert main(args) == 0
    narrow = json.loads(capsys.readouterr().out)
    assert slots[0] not in {t["slot_id"] for t in narrow["tables"]}
    assert narrow["raw_bytes"] < full["raw_bytes"]
    # --search: the supernet's tables; nested = full width, separate = 31/16 its vectors.
    base = ["plan", "--model", "synthetic", "--data-dir", str(data_dir), "--search", "--json"]
    assert main(base) == 0
    nested = json.loads(capsys.readouterr().out)
    assert nested["raw_bytes"] == full["raw_bytes"]
    assert main([*base, "--param", "supernet_layout=separate"]) == 0
    separate = json.loads(capsys.readouterr().out)
    vectors = {
        name: sum(t["raw_bytes"] for t in plan["tables"] if t["dim"] > 1)
        for name, plan in (("nested", nested), ("separate", separate))
    }
    assert vectors["separate"] == 31 / 16 * vectors["nested"]  # 1 + 2 + 4 + 8 + 16
