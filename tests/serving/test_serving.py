"""predict / evaluate / export of a trained run, and the export loaded without nwsrec."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.cli.main import main
from nwsrec.metrics import exact_auc, log_loss

TINY = ["--steps", "12", "--batch-size", "64", "--no-progress", "--param", "hidden_units=[8]"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("serving")
    data = root / "data"
    generate = ["datasets", "generate", "synthetic", "--out", str(data), "--num-train", "1024"]
    generate += ["--num-test", "300", "--pair-ranks", "1,2", "--num-noise-slots", "2"]
    assert main([*generate, "--vocab-size", "50"]) == 0
    dims = root / "dims.json"  # slot 1 (noise) at width 0, the rest at 8
    sizes = {1: 0, 2: 8, 3: 8, 4: 16, 5: 8, 6: 8}
    dims.write_text(json.dumps({"slots": {str(s): {"size": v} for s, v in sizes.items()}}))
    model_dir = root / "run"
    train = ["train", "--model", "synthetic", "--data-dir", str(data)]
    assert main([*train, "--model-dir", str(model_dir), "--dims", str(dims), *TINY]) == 0
    return root, data, model_dir


def _labels_in_file_order(pattern):
    files = sorted(tf.io.gfile.glob(pattern))
    out = []
    for record in tf.data.TFRecordDataset(files):
        out.append(tf.train.Example.FromString(record.numpy()).features.feature["label"])
    return [f.float_list.value[0] for f in out], files


def _read_tsv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_predict_scores_every_record_in_file_order(run, capsys):
    root, data, model_dir = run
    out = root / "scores.tsv"
    argv = ["predict", "--model-dir", str(model_dir), "--files", str(data / "test-*")]
    assert main([*argv, "--out", str(out), "--batch-size", "128"]) == 0
    rows = _read_tsv(out)
    labels, _ = _labels_in_file_order(str(data / "test-*"))
    assert len(rows) == 300  # not a multiple of the batch: nothing dropped
    assert [float(r["label"]) for r in rows] == labels
    scores = np.array([float(r["score"]) for r in rows])
    assert np.all((scores > 0) & (scores < 1)) and scores.std() > 1e-4
    again = root / "again.tsv"  # another batch size: the same scores
    assert main([*argv, "--out", str(again), "--batch-size", "7"]) == 0
    other = np.array([float(r["score"]) for r in _read_tsv(again)])
    np.testing.assert_allclose(other, scores, atol=1e-6)


def test_evaluate_reports_metrics_on_every_record(run, capsys):
    root, data, model_dir = run
    capsys.readouterr()
    argv = ["evaluate", "--model-dir", str(model_dir), "--files", str(data / "test-*")]
    assert main([*argv, "--json", "--batch-size", "64"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_examples"] == 300
    out = root / "eval_scores.tsv"
    predict = ["predict", "--model-dir", str(model_dir), "--files", str(data / "test-*")]
    assert main([*predict, "--out", str(out)]) == 0
    rows = _read_tsv(out)
    y = np.array([float(r["label"]) for r in rows])
    p = np.array([float(r["score"]) for r in rows])
    assert metrics["auc"] == pytest.approx(exact_auc(y, p), abs=1e-6)
    assert metrics["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-6)
    assert metrics["calibration"] == pytest.approx(p.mean() / y.mean(), rel=1e-5)


def test_a_missing_model_dir_is_one_line(tmp_path, capsys):
    assert main(["evaluate", "--model-dir", str(tmp_path)]) == 2
    assert "params.json" in capsys.readouterr().err


FRESH = r"""
import json, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "nwsrec" or name.startswith("nwsrec."):
            raise ImportError("nwsrec must not be needed")
sys.meta_path.insert(0, Block())
import glob
import numpy as np
import tensorflow as tf
path, pattern = sys.argv[1], sys.argv[2]
m = tf.saved_model.load(path)
records = [r.numpy() for f in sorted(glob.glob(pattern)) for r in tf.data.TFRecordDataset(f)]
p = m.signatures["serving_default"](examples=tf.constant(records))["probabilities"].numpy()
raw = {}
for s in (2, 3, 4, 5, 6):
    ids = [list(tf.train.Example.FromString(r).features.feature[f"slot_{s}_0"].int64_list.value)
           for r in records]
    width = max(len(i) for i in ids)
    raw[f"slot_{s}_0"] = tf.constant([i + [-1] * (width - len(i)) for i in ids], tf.int64)
q = m.signatures["predict_raw"](**raw)["probabilities"].numpy()
bad = tf.train.Example()
bad.features.feature["slot_2_0"].int64_list.value.extend([10**12, -3, 49])
bad.features.feature["slot_3_0"].int64_list.value.extend([50])
oov = m.signatures["serving_default"](examples=tf.constant([bad.SerializeToString()]))
print(json.dumps({"p": p.tolist(), "q": q.tolist(),
                  "oov": oov["probabilities"].numpy().tolist()}))
"""


def test_export_loads_without_nwsrec_and_gives_predicts_scores(run, capsys):
    root, data, model_dir = run
    scores_path = root / "export_scores.tsv"
    predict = ["predict", "--model-dir", str(model_dir), "--files", str(data / "test-*")]
    assert main([*predict, "--out", str(scores_path)]) == 0
    capsys.readouterr()
    out = root / "exported"
    assert main(["export", "--model-dir", str(model_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    version = out / "1"
    assert (version / "saved_model.pb").exists() and "size on disk" in printed
    assert main(["export", "--model-dir", str(model_dir), "--out", str(out), "--version", "1"]) == 2
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", FRESH, str(version), str(data / "test-*")],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(root),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    expected = np.array([float(r["score"]) for r in _read_tsv(scores_path)])
    np.testing.assert_allclose(got["p"], expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got["q"], expected, atol=1e-6, rtol=0)
    assert len(got["oov"]) == 1 and 0 < got["oov"][0] < 1


def test_export_holds_the_trained_widths_and_no_optimizer_state(run):
    root, data, model_dir = run
    from nwsrec.serving import export_saved_model

    result = export_saved_model(str(model_dir), str(root / "widths"))
    names = dict(tf.train.list_variables(os.path.join(result.path, "variables", "variables")))
    shapes = [tuple(s) for n, s in names.items() if "OBJECT_GRAPH" not in n]
    assert sorted(result.slot_dims) == [2, 3, 4, 5, 6]  # slot 1 (width 0) absent
    tables = sorted(s for s in shapes if len(s) == 2 and s[0] == 50)
    assert tables == sorted([(50, 1)] * 5 + [(50, 8)] * 4 + [(50, 16)])  # no accumulators
    dense = sum(int(np.prod(s)) for s in shapes if not (len(s) == 2 and s[0] == 50))
    assert dense == (48 * 8 + 8) + (8 + 1)  # the DNN 48 -> 8 -> 1, nothing more
    assert result.bytes_on_disk > 0 and result.signatures == ["predict_raw", "serving_default"]
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if os.path.exists(cli):
        shown = subprocess.run(
            [cli, "show", "--dir", result.path, "--tag_set", "serve"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "serving_default" in shown.stdout and "predict_raw" in shown.stdout


def test_predict_and_evaluate_trace_once_per_model_for_every_batch_size(run):
    root, data, model_dir = run
    from nwsrec.serving import evaluate_files, load_model, predict_files

    loaded = load_model(str(model_dir))
    pattern = str(data / "test-*")
    first = predict_files(loaded, pattern, batch_size=128)  # 300 records: 128, 128, 44
    again = predict_files(loaded, pattern, batch_size=7)
    result = evaluate_files(loaded, pattern, batch_size=64)
    assert loaded.score_function() is loaded.score_function()
    assert loaded.score_function().tracing_count == 1
    np.testing.assert_allclose(again.scores, first.scores, atol=1e-6)
    assert result.num_examples == 300
    assert result.log_loss == pytest.approx(log_loss(first.labels, first.scores), abs=1e-6)


def test_export_writes_warmup_requests_that_run_on_the_saved_model(run):
    root, data, model_dir = run
    from nwsrec.serving import export_saved_model
    from nwsrec.serving.warmup import read_warmup_requests, replay_warmup_requests

    result = export_saved_model(str(model_dir), str(root / "warm"))
    requests = read_warmup_requests(result.path)
    assert result.warmup_requests == len(requests) == 4
    assert [r.signature_name for r in requests] == ["serving_default", "predict_raw"] * 2
    assert {r.model_name for r in requests} == {"warm"}
    assert [len(r.inputs["examples"]) for r in requests[::2]] == [1, 64]
    assert sorted(requests[1].inputs) == [f"slot_{s}_0" for s in (2, 3, 4, 5, 6)]
    saved = tf.saved_model.load(result.path)
    assert replay_warmup_requests(saved, result.path) > 0
    examples = tf.constant(requests[2].inputs["examples"])
    raw = {k: tf.constant(v) for k, v in requests[3].inputs.items()}
    by_examples = saved.signatures["serving_default"](examples=examples)["probabilities"]
    by_raw = saved.signatures["predict_raw"](**raw)["probabilities"]
    np.testing.assert_allclose(by_examples.numpy(), by_raw.numpy(), atol=1e-6)


def test_predict_command_turns_graph_rewrites_off_only_while_it_runs(run, tmp_path):
    root, data, model_dir = run
    from nwsrec.serving.predict import graph_rewrites_off

    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    with graph_rewrites_off():
        assert tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"]
    argv = ["predict", "--model-dir", str(model_dir), "--files", str(data / "test-*")]
    assert main([*argv, "--out", str(tmp_path / "s.tsv")]) == 0
    after = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    assert after == before
