"""Accuracy: is the ``ctr`` model trained as long as the data pays, at every width?

For each data set (MovieLens-100K, the synthetic task, the Criteo-shaped synthetic at
scale 0.01) and each uniform width (2, 4, 16: every slot at that width), on the same
files and seed:

- **nwsrec default**: ``ctr`` with its defaults: up to 50 passes, stopped on the held-out
  AUC of one training record in ten (patience 3 passes), the best pass's weights kept.
- **nwsrec fixed lengths**: the same model and held-out split trained without stopping,
  its test AUC read after every pass up to 3 passes past the default's stop (the same
  seeded run, so the default's stop is one point of this curve); "best fixed" is the
  best of them: what the default could have had had it known the test split.
- **Keras**: the same architecture in plain Keras 3 (``keras.layers.Embedding`` per slot
  and a bias embedding, sum-pooled, the same DNN; Adam on everything, ``fit`` reshuffling
  every pass), its learning rate (grid ``--lrs``) and length (passes, up to
  ``--keras-epochs``) chosen on one training record in ten held out of its training —
  never on the test split.

Goals, printed met / not met per data set and width:

- stopping: nwsrec default >= best fixed length - 0.001 test AUC;
- accuracy: nwsrec default >= Keras - 0.001 test AUC;
- width: where the width matters to Keras (AUC at 16 minus at 2 above 0.001), it matters
  to nwsrec too (its own difference above 0.001).

Wall time: each side's whole run (model building, training, its held-out evaluations),
and nwsrec's split into start-up (until the first step), training and evaluation.

Data: made if missing (``--data-root``, default ``runs/data``): MovieLens-100K fetched
through pip (the ``recbole`` wheel), the synthetic and Criteo-shaped sets generated.

Run: ``.venv/bin/python bench/accuracy.py [--datasets movielens,synthetic,criteo]
[--widths 2,4,16] [--seeds 1]``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nwsrec.features import read_vocab_file  # noqa: E402
from nwsrec.metrics import exact_auc  # noqa: E402
from nwsrec.runs import resolve_params  # noqa: E402
from nwsrec.training.trainer import Trainer  # noqa: E402

HIDDEN = [64]
MARGIN = 0.001
PAST_STOP = 3  # passes the fixed-length curve goes past the default's stop


def read_split(pattern: str, slots: list[int], dense: int) -> dict[str, np.ndarray]:
    """Every record of ``pattern`` in file order: padded ids per slot, dense, label."""
    spec = {f"slot_{s}_0": tf.io.VarLenFeature(tf.int64) for s in slots}
    spec["label"] = tf.io.FixedLenFeature([], tf.float32)
    if dense:
        spec["dense"] = tf.io.FixedLenFeature([dense], tf.float32)
    files = sorted(glob.glob(pattern))
    records = tf.data.TFRecordDataset(files).batch(1 << 16)
    parts: dict[str, list[np.ndarray]] = {}
    for batch in records:
        parsed = tf.io.parse_example(batch, spec)
        for key, value in parsed.items():
            if isinstance(value, tf.SparseTensor):
                value = tf.sparse.to_dense(tf.sparse.reorder(value), default_value=-1)
            parts.setdefault(key, []).append(value.numpy())
    out = {}
    for key, chunks in parts.items():
        if key.startswith("slot_"):
            width = max(c.shape[1] for c in chunks)
            chunks = [
                np.pad(c, ((0, 0), (0, width - c.shape[1])), constant_values=-1) for c in chunks
            ]
        out[key] = np.concatenate(chunks)
    return out


def keras_model(
    vocab: dict[int, int], slots: list[int], dense: int, lr: float, width: int
) -> keras.Model:
    """Embedding + bias per slot (sum-pooled; id -1 is padding), the DNN, Adam."""
    inputs, vectors, biases = {}, [], []
    for s in slots:
        ids = keras.Input(shape=(None,), dtype="int64", name=f"slot_{s}_0")
        inputs[f"slot_{s}_0"] = ids
        mask = keras.ops.expand_dims(keras.ops.cast(ids >= 0, "float32"), -1)
        safe = keras.ops.maximum(ids, 0)
        vec = keras.layers.Embedding(vocab[s], width, name=f"emb_{s}")(safe)
        bias = keras.layers.Embedding(
            vocab[s], 1, embeddings_initializer="zeros", name=f"bias_{s}"
        )(safe)
        vectors.append(keras.ops.sum(vec * mask, axis=1))
        biases.append(keras.ops.sum(bias * mask, axis=1))
    x = keras.ops.concatenate(vectors, axis=1)
    if dense:
        d = keras.Input(shape=(dense,), name="dense")
        inputs["dense"] = d
        x = keras.ops.concatenate(
            [x, keras.ops.sign(d) * keras.ops.log1p(keras.ops.abs(d))], axis=1
        )
    for units in HIDDEN:
        x = keras.layers.Dense(units, activation="relu")(x)
    logit = keras.layers.Dense(1)(x) + keras.ops.sum(keras.ops.stack(biases, axis=0), axis=0)
    model = keras.Model(inputs, keras.ops.squeeze(logit, -1))
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def prepare(dataset: str, root: str) -> str:
    """The data directory of ``dataset`` under ``root``, made if missing."""
    out = os.path.join(root, {"movielens": "movielens-100k", "synthetic": "synthetic",
                              "criteo": "criteo-synth"}[dataset])  # fmt: skip
    if os.path.exists(os.path.join(out, "vocab.tsv")):
        return out
    if dataset == "synthetic":
        from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic

        generate_synthetic(out, SyntheticConfig(seed=0))
    elif dataset == "criteo":
        from nwsrec.data.criteo import CriteoConfig, generate_criteo

        generate_criteo(out, CriteoConfig(seed=0))
    else:
        from nwsrec.data.movielens import convert_movielens, fetch_movielens

        raw = fetch_movielens(os.path.join(out, "raw"))
        convert_movielens(raw, out, split="random", seed=0)
    return out


def fit_keras(train, evals, vocab, slots, dense, lr, width, batch, epochs, seed):
    """Trains pass by pass; returns ``(AUCs of each eval split after each pass, seconds)``."""
    keras.utils.set_random_seed(seed)
    began = time.perf_counter()
    model = keras_model(vocab, slots, dense, lr, width)
    x = {k: v for k, v in train.items() if k != "label"}
    curves: list[list[float]] = [[] for _ in evals]
    for _ in range(epochs):
        model.fit(x, train["label"], batch_size=batch, epochs=1, shuffle=True, verbose=0)
        for curve, data in zip(curves, evals, strict=True):
            z = model.predict(
                {k: v for k, v in data.items() if k != "label"}, batch_size=8192, verbose=0
            )
            curve.append(exact_auc(data["label"].astype(np.float64), np.asarray(z, np.float64)))
    return curves, time.perf_counter() - began


def subset(data, index):
    return {k: v[index] for k, v in data.items()}


def _ctr_params(data_dir: str, width: int, seed: int, **overrides) -> dict:
    _, params = resolve_params("ctr", data_dir=data_dir)
    slots = sorted(read_vocab_file(params["vocab_file_path"]))
    return {
        **params,
        "search": False,
        "seed": seed,
        "slot_dims": dict.fromkeys(slots, width),
        **overrides,
    }


def run_default(data_dir: str, width: int, seed: int, work: str) -> dict:
    """``ctr`` with its defaults at one width: test AUC, where it stopped, wall time."""
    from nwsrec.tasks.ctr.params.params import CtrModel

    params = _ctr_params(data_dir, width, seed)
    began = time.perf_counter()
    trainer = Trainer(lambda: CtrModel(params), params, work, progress=False)
    built = time.perf_counter()
    result = trainer.train()
    trained = time.perf_counter()
    auc = trainer.evaluate().auc
    end = time.perf_counter()
    stopping = result.early_stopping or {}
    return {
        "auc": auc,
        "best_step": stopping.get("best_step"),
        "stopped_step": stopping.get("stopped_step"),
        "steps_per_epoch": result.steps_per_epoch,
        "wall": end - began,
        "startup": built - began,
        "train": trained - built,
        "test_eval": end - trained,
    }


def run_fixed_lengths(data_dir: str, width: int, seed: int, passes: int, work: str) -> list:
    """The same model and split without stopping: test AUC after each pass."""
    from nwsrec.tasks.ctr.params.params import CtrModel

    params = _ctr_params(data_dir, width, seed, early_stopping_patience=0, epochs=None)
    trainer = Trainer(lambda: CtrModel(params), params, work, progress=False)
    trainer.holdout_every = int(params["holdout_every"])  # the default's training records
    per_epoch = trainer.steps_per_epoch()
    curve = []
    for k in range(1, passes + 1):
        trainer.train(steps=k * per_epoch)
        curve.append([k * per_epoch, trainer.evaluate().auc])
    return curve


def mean_se(values):
    m = statistics.fmean(values)
    se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
    return m, se


def bench_one(dataset, data_dir, widths, seeds, lrs, keras_epochs, work):
    vocab = read_vocab_file(os.path.join(data_dir, "vocab.tsv"))
    slots = sorted(vocab)
    from nwsrec.tasks.ctr.params.params import CtrModel, dense_width

    batch = int(CtrModel.default_params()["batch_size"])
    dense = dense_width(os.path.join(data_dir, "train-*"))
    train = read_split(os.path.join(data_dir, "train-*"), slots, dense)
    test = read_split(os.path.join(data_dir, "test-*"), slots, dense)
    rng = np.random.default_rng(0)
    held = rng.random(len(train["label"])) < 0.1
    out = {}
    for width in widths:
        rows = {"default": [], "best fixed": [], "keras": [], "walls": []}
        for seed in range(seeds):
            tag = f"{dataset}-w{width}-s{seed}"
            default = run_default(data_dir, width, seed, os.path.join(work, tag + "-default"))
            stop_pass = -(-int(default["stopped_step"]) // int(default["steps_per_epoch"]))
            curve = run_fixed_lengths(
                data_dir, width, seed, stop_pass + PAST_STOP, os.path.join(work, tag + "-fixed")
            )
            best_fixed = max(a for _, a in curve)
            grid = {}
            began = time.perf_counter()
            for lr in lrs:
                (heldout, tested), _ = fit_keras(
                    subset(train, ~held), [subset(train, held), test], vocab, slots, dense,
                    lr, width, batch, keras_epochs, seed,
                )  # fmt: skip
                epoch = int(np.argmax(heldout))
                grid[lr] = (heldout[epoch], tested[epoch], epoch + 1)
            keras_wall = (time.perf_counter() - began) / len(lrs)
            lr = max(grid, key=lambda r: grid[r][0])
            rows["default"].append(default["auc"])
            rows["best fixed"].append(best_fixed)
            rows["keras"].append(grid[lr][1])
            rows["walls"].append((default, keras_wall))
            print(
                f"  [{dataset} width {width} seed {seed}] nwsrec default {default['auc']:.4f} "
                f"(best step {default['best_step']}, stopped {default['stopped_step']}, "
                f"{default['steps_per_epoch']} steps a pass); fixed lengths "
                + " ".join(f"{s}:{a:.4f}" for s, a in curve)
                + f"; Keras {grid[lr][1]:.4f} (Adam {lr:g}, {grid[lr][2]} passes)",
                flush=True,
            )
        out[width] = rows
    return out


def report(results: dict) -> list[str]:
    lines = []
    for dataset, by_width in results.items():
        lines.append(f"\n{dataset}: test AUC (mean over seeds), wall s per run")
        lines.append(
            f"{'width':>5} {'nwsrec default':>15} {'best fixed':>11} {'Keras':>8}"
            f" {'stopping':>10} {'vs Keras':>10} {'nwsrec s':>9} (start-up/train/eval)"
            f" {'Keras s':>8}"
        )
        means = {}
        for width, rows in by_width.items():
            d, f, k = (statistics.fmean(rows[key]) for key in ("default", "best fixed", "keras"))
            means[width] = (d, k)
            walls = [w for w, _ in rows["walls"]]
            split = "/".join(
                f"{statistics.fmean(w[key] for w in walls):.0f}"
                for key in ("startup", "train", "test_eval")
            )
            ours = statistics.fmean(w["wall"] for w in walls)
            theirs = statistics.fmean(k for _, k in rows["walls"])
            lines.append(
                f"{width:>5} {d:>15.4f} {f:>11.4f} {k:>8.4f} {d - f:>+10.4f} {d - k:>+10.4f}"
                f" {ours:>9.0f} ({split}) {theirs:>8.0f}"
            )
            lines.append(
                f"      stopping within {MARGIN} of the best fixed length: "
                f"{'met' if d >= f - MARGIN else 'NOT met'}; >= Keras - {MARGIN}: "
                f"{'met' if d >= k - MARGIN else 'NOT met'}"
            )
        if len(means) >= 2:
            lo, hi = min(means), max(means)
            keras_gap = means[hi][1] - means[lo][1]
            ours_gap = means[hi][0] - means[lo][0]
            ok = keras_gap <= MARGIN or ours_gap > MARGIN
            lines.append(
                f"width {hi} vs {lo}: Keras {keras_gap:+.4f}, nwsrec {ours_gap:+.4f}: where width "
                f"matters to Keras it matters to nwsrec: {'met' if ok else 'NOT met'}"
            )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--datasets", default="movielens,synthetic,criteo")
    parser.add_argument("--widths", default="2,4,16")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--lrs", default="0.001,0.003", help="Keras Adam learning-rate grid")
    parser.add_argument("--keras-epochs", type=int, default=12, help="Keras passes at most")
    parser.add_argument("--data-root", default="runs/data")
    parser.add_argument("--out", default="runs/bench/accuracy.json")
    args = parser.parse_args(argv)
    import tempfile

    widths = [int(w) for w in args.widths.split(",")]
    lrs = [float(v) for v in args.lrs.split(",")]
    results = {}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nwsrec-accuracy-") as work:
        for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
            data_dir = prepare(dataset, args.data_root)
            print(f"{dataset}: {data_dir}", flush=True)
            results[dataset] = bench_one(
                dataset, data_dir, widths, args.seeds, lrs, args.keras_epochs, work
            )
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=1, default=str)
    print("\n".join(report(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
