"""nwsrec against its peers: one CTR model, one data set, one batch size, same optimizers.

The model: S slots, one id per slot and example; each slot has a 16-wide vector table and
a 1-wide bias table (both Adagrad, lr 0.2 and 0.05, tables initialized U(-0.05, 0.05) and
0); the concatenated vectors go through a DNN [64] (ReLU) -> 1, trained by Adam (lr 0.003);
logit = DNN + sum of the biases; sigmoid cross-entropy, batch 512. Systems:

- ``nwsrec``: a ``nwsrec.model.Model`` written with ``FeatureSlot`` / ``FeatureColumnV1``
  (Adagrad on vector and bias tables), trained by ``nwsrec.training.trainer.Trainer`` (the
  loop of ``nwsrec train``) reading the TFRecord files through ``Model.create_input_fn``.
  examples/s is the trainer's own figure (``TrainResult.examples_per_sec``: the step loop,
  without checkpoint writes). Its tables are in two groups (all vector tables in one
  variable, all bias tables in another: ``table_groups``, nwsrec's default).
- ``nwsrec-rowwise``: the same with ``nwsrec.features.AdagradRowwise`` tables (one
  accumulator per row, as TorchRec/FBGEMM's row-wise Adagrad below).
- ``nwsrec-memory``: ``nwsrec`` fed as the PyTorch systems are, from ids and labels decoded
  in memory (one-id ``SparseTensor`` batches made once and cached): what nwsrec's training
  costs without its input's parsing. Not a peer; the goals read the ``nwsrec`` row.
- ``keras``: Keras 3 ``Model.fit`` with ``keras.layers.Embedding`` tables, reading the same
  TFRecord files through ``tf.data`` (batch, then ``tf.io.parse_example`` with
  ``FixedLenFeature([1], int64)``, prefetch); a ``train_step`` gives the tables Keras'
  Adagrad and the DNN Adam (``fit`` takes one optimizer). ``jit_compile=False``.
- ``keras-rs``: the same, with one ``keras_rs.layers.DistributedEmbedding`` holding all
  tables (on CPU it places them on the default device: ``EmbedReduce`` layers).
- ``torchrec-fbgemm``: PyTorch, TorchRec ``FusedEmbeddingBagCollection`` (the
  ``EmbeddingBagCollection`` interface over FBGEMM's fused CPU kernel
  ``SplitTableBatchedEmbeddingBagsCodegen``, row-wise Adagrad applied in the backward
  pass) fed ``KeyedJaggedTensor`` batches; DNN with ``torch.optim.Adam``. FBGEMM's tables
  are a multiple of 4 wide, so its bias tables are 4 wide with column 0 used.
- ``torch-embeddingbag``: plain ``torch.nn.EmbeddingBag(mode="sum", sparse=True)`` per
  table, ``torch.optim.Adagrad`` on their sparse gradients, Adam on the DNN.

How each is fed: nwsrec, keras and keras-rs read the TFRecord files (written with
``nwsrec.data.ShardedExampleWriter``), parsing on the fly. The PyTorch systems get the
same ids and labels pre-decoded into memory: the generator saves the arrays it wrote to
the files as ``ids.npy`` / ``labels.npy``, and the worker slices them into per-batch
tensors (KJTs for TorchRec) before timing; so their figures carry no parsing cost.

Data: per scale, ``--batches`` x 512 examples of seeded bounded-Zipf ids (exponent 1.05,
rank -> id by a per-slot bijection) and a label drawn from the ids; read round and round.

Scales: ``demo`` (32 slots x 500 rows, the synthetic demo's shape), ``26x1e5`` (26 slots x
100,000 rows) and ``criteo`` (the 26 categorical cardinalities of the Criteo Kaggle
display-advertising set, 33.8M rows). The criteo scale runs only if the machine's
available memory holds the largest system's estimated need; else every cardinality is
halved until it does, and the printed scale name says so (``criteo/4``...).

Per system and scale, in its own subprocess (so peak RSS is its own, from ``wait4``) with a
time cap: steady-state examples/s (after ``--warmup`` steps, over up to ``--seconds``
seconds), start-up time (launch to the end of warm-up, less the warm-up steps at the steady
step time: imports, table creation, input pipeline, tracing, and nwsrec's first
checkpoint), peak RSS, and both against nwsrec. A system that cannot be imported or run is
a row with the reason.

Goals checked: nwsrec >= 1.5x the fastest peer's examples/s at every scale and >= 2x at the
criteo one; with ``adagrad_rowwise`` (``nwsrec-rowwise``), peak RSS <= TorchRec's in the
same run; nwsrec's train step with 1e6-row tables <= 1.3x its step with 1e3-row tables
(26 slots, the same data, only the vocab file differs); nwsrec's peak RSS <= 1.2x the
memory plan (``Model.table_memory_plan().raw_bytes``) + 1.5 GiB.

Install and run: ``make peers`` (``PEERS_ARGS="--quick --scales demo"`` to pick). It builds
``.venv-peers`` (gitignored): torch's CPU wheel (``torch==2.13.0+cpu`` where pip's
find-links hold it, else ``torch==2.13.0`` from the index), ``pip install -e '.[peers]'``,
then FBGEMM's CPU build (``fbgemm-gpu-cpu==1.8.0``, the release for torch 2.13) in place of
the CUDA ``fbgemm-gpu`` that torchrec pulls in, which does not load on a CPU-only machine.

examples/s is the median over windows of 10 timed steps (``mean`` in the note is steps
over the whole window): on a shared machine a few preempted windows should not decide it;
the load average is printed with each table. PyTorch's OpenMP threads suffer most from a
loaded machine (their mean falls far below their median there).

Run: ``make peers``, or ``nice -n 10 .venv-peers/bin/python bench/peers.py`` (about 10
minutes on an idle 2-core machine, far longer on a loaded one; ``--quick``: about 5;
``--scales``, ``--systems`` to pick). ``make bench`` skips it; run with ``.venv`` (no peers
installed) the PyTorch and keras-rs rows report the import error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCH = 512
DIM = 16
HIDDEN = 64
VEC_LR, BIAS_LR, DENSE_LR = 0.2, 0.05, 0.003
INIT_SCALE = 0.05
ZIPF_EXPONENT = 1.05

#: Criteo Kaggle display advertising challenge, categorical fields C1..C26 (distinct values).
CRITEO_CARDINALITIES = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
)  # fmt: skip

SYSTEMS = (
    "nwsrec",
    "nwsrec-rowwise",
    "nwsrec-memory",
    "keras",
    "keras-rs",
    "torchrec-fbgemm",
    "torch-embeddingbag",
)
#: nwsrec's own rows: the others are its peers.
OWN = ("nwsrec", "nwsrec-rowwise", "nwsrec-memory")
GIB = 1 << 30
#: examples/s is the median over windows of this many steps (the machine is shared: a
#: median keeps a few preempted windows from deciding the figure).
WINDOW = 10
#: A peer whose steps take seconds ends its warm-up this long after its first step.
WARMUP_CAP_S = 20.0


def scale_cardinalities(name: str) -> list[int]:
    if name == "demo":
        return [500] * 32
    if name == "26x1e5":
        return [100_000] * 26
    if name == "26x1e3":
        return [1_000] * 26
    if name.startswith("criteo"):
        div = int(name.split("/", 1)[1]) if "/" in name else 1
        return [max(1, c // div) for c in CRITEO_CARDINALITIES]
    raise ValueError(f"unknown scale {name!r}")


def plan_bytes(cards: list[int]) -> int:
    """Tables + Adagrad accumulators, float32: rows x (16 + 1) x 4 x 2."""
    return sum(cards) * (DIM + 1) * 4 * 2


# ----------------------------------------------------------------------------- data


def _zipf_ranks(rng: Any, vocab: int, n: int) -> Any:
    import numpy as np

    cdf = np.cumsum(1.0 / np.arange(1, vocab + 1, dtype=np.float64) ** ZIPF_EXPONENT)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n)), vocab - 1)


def _bijection(ranks: Any, vocab: int, rng: Any) -> Any:
    """rank -> id by ``(a * rank + b) mod vocab`` with ``gcd(a, vocab) = 1``."""
    import numpy as np

    a = int(rng.integers(vocab // 3 + 1, 2 * vocab // 3 + 2)) | 1
    while math.gcd(a, vocab) != 1:
        a += 2
    b = int(rng.integers(0, vocab))
    return (ranks.astype(np.int64) * a + b) % vocab


def generate(out_dir: str, cards: list[int], num_examples: int, seed: int = 0) -> None:
    """Zipf ids -> TFRecords (nwsrec's writer), vocab.tsv, ids.npy, labels.npy."""
    import numpy as np

    from nwsrec.data import ShardedExampleWriter, serialize_feature

    rng = np.random.default_rng(seed)
    ids = np.stack(
        [_bijection(_zipf_ranks(rng, v, num_examples), v, rng) for v in cards], axis=1
    )  # [N, S] int64
    # The label: a logistic of per-id pseudo-random effects of the first four slots.
    effects = np.zeros(num_examples)
    for s in range(min(4, len(cards))):
        effects += ((ids[:, s] * 2654435761 + 97 * s) % 65536) / 32768.0 - 1.0
    labels = (rng.random(num_examples) < 1 / (1 + np.exp(-1.5 * effects))).astype(np.float32)
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "ids.npy"), ids)
    np.save(os.path.join(out_dir, "labels.npy"), labels)
    names = [f"slot_{s + 1}_0" for s in range(len(cards))]
    cache: list[dict[int, bytes]] = [{} for _ in cards]
    label_bytes = {v: serialize_feature("label", v) for v in (0.0, 1.0)}
    # A serialized Example followed by another parses as their merge: join cached entries.
    with ShardedExampleWriter(
        out_dir, prefix="train", num_shards=4, one_id_features=names
    ) as writer:
        for row, label in zip(ids.tolist(), labels.tolist(), strict=True):
            parts = []
            for s, i in enumerate(row):
                entry = cache[s].get(i)
                if entry is None:
                    entry = cache[s][i] = serialize_feature(names[s], [i])
                parts.append(entry)
            parts.append(label_bytes[label])
            writer.write_serialized(b"\x0a" + _varint(sum(map(len, parts))) + b"".join(parts))
    write_vocab(os.path.join(out_dir, "vocab.tsv"), cards)
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump({"cards": cards, "num_examples": num_examples}, f)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def write_vocab(path: str, cards: list[int]) -> None:
    with open(path, "w") as f:
        f.write("slot_id\tvocab_size\n")
        for s, v in enumerate(cards):
            f.write(f"{s + 1}\t{v}\n")


# ----------------------------------------------------------------------------- workers


class Timer:
    """Warm-up then timed steps; ``report`` turns them into the worker's result."""

    def __init__(self, warmup: int, seconds: float, max_steps: int) -> None:
        self.warmup, self.seconds, self.max_steps = warmup, seconds, max_steps
        self.t0 = float(os.environ.get("PEERS_T0", time.time()))

    def warm(self, done: int, first_end: float, now: float) -> bool:
        """Whether warm-up is over after ``done`` steps (a slow system gets fewer)."""
        return done >= self.warmup or (done >= 3 and now - first_end >= WARMUP_CAP_S)

    def report(
        self,
        warm_end: float,
        rates: list[float],
        steps: int,
        elapsed: float,
        warm_steps: int | None = None,
        **extra: Any,
    ) -> dict:
        """``rates``: examples/s of each window of WINDOW timed steps."""
        warm_steps = self.warmup if warm_steps is None else warm_steps
        rates = sorted(rates) or [steps * BATCH / elapsed]
        median = rates[len(rates) // 2]
        return {
            "examples_per_sec": median,
            "mean_examples_per_sec": steps * BATCH / elapsed,
            "step_ms": 1e3 * BATCH / median,
            "timed_steps": steps,
            "startup_s": max(0.0, warm_end - self.t0 - warm_steps * BATCH / median),
            "warmup_steps": warm_steps,
            **extra,
        }


def window_rates(durations: list[float]) -> list[float]:
    """examples/s of each full window of WINDOW consecutive steps."""
    out = []
    for i in range(0, len(durations) - WINDOW + 1, WINDOW):
        out.append(WINDOW * BATCH / sum(durations[i : i + WINDOW]))
    return out


def memory_input_fn(data: str, slots: int) -> Any:
    """An input function of the ids and labels of ``data`` decoded in memory (as the
    PyTorch systems get them): batches of one-id ``SparseTensor``s per slot, made once and
    cached, then read round and round."""
    import numpy as np
    import tensorflow as tf

    ids = np.load(os.path.join(data, "ids.npy"))
    labels = np.load(os.path.join(data, "labels.npy"))
    n = len(labels) // BATCH * BATCH

    def features(x: Any, y: Any) -> dict[str, Any]:
        rows = tf.range(BATCH, dtype=tf.int64)[:, None]
        indices = tf.concat([rows, tf.zeros_like(rows)], 1)
        out = {
            f"slot_{s + 1}_0": tf.SparseTensor(indices, x[:, s], [BATCH, 1]) for s in range(slots)
        }
        out["label"] = y
        return out

    def input_fn(context: Any = None) -> Any:
        batches = tf.data.Dataset.from_tensor_slices((ids[:n], labels[:n])).batch(BATCH)
        return batches.map(features).cache().repeat().prefetch(2)

    return input_fn


def run_nwsrec(
    data: str,
    vocab: str,
    timer: Timer,
    rowwise: bool = False,
    table_groups: bool = True,
    in_memory: bool = False,
) -> dict:
    import keras
    import tensorflow as tf

    from nwsrec.features import AdagradRowwise, FeatureColumnV1, FeatureSlot
    from nwsrec.model import Model
    from nwsrec.training.trainer import TRAINING_DEFAULTS, Trainer

    adagrad = AdagradRowwise if rowwise else tf.tpu.experimental.embedding.Adagrad

    class PeersModel(Model):
        def logits_fn(self) -> Any:
            vectors, biases = [], []
            for slot_id in sorted(self.vocab_size_dict):
                slot = FeatureSlot(
                    self.env,
                    slot_id,
                    has_bias=True,
                    bias_optimizer=adagrad(learning_rate=BIAS_LR),
                    bias_initializer=keras.initializers.Zeros(),
                    default_vec_optimizer=adagrad(learning_rate=VEC_LR),
                    default_vec_initializer=keras.initializers.RandomUniform(
                        -INIT_SCALE, INIT_SCALE
                    ),
                )
                column = FeatureColumnV1(slot, f"slot_{slot_id}_0")
                vectors.append(column.add_vector(DIM))
                biases.append(column.get_bias())
            dnn = self.keras_layer(
                "dnn",
                lambda: keras.Sequential(
                    [keras.layers.Dense(HIDDEN, activation="relu"), keras.layers.Dense(1)]
                ),
            )
            return dnn(tf.concat(vectors, axis=1))[:, 0] + tf.add_n(biases)[:, 0]

        def create_input_fn(self, file_pattern: str, *args: Any, **kwargs: Any) -> Any:
            if not in_memory:
                return super().create_input_fn(file_pattern, *args, **kwargs)
            return memory_input_fn(data, len(self.vocab_size_dict))

    params = {
        **Model.default_params(),
        **TRAINING_DEFAULTS,
        "vocab_file_path": vocab,
        "train_file_pattern": os.path.join(data, "train-*"),
        "batch_size": BATCH,
        "dense_optimizer": "adam",
        "dense_learning_rate": DENSE_LR,
        "checkpoint_every_steps": 1 << 30,
        "keep_checkpoints": 1,
        "table_groups": table_groups,
        "seed": 0,
        # More nwsrec params for a trial (JSON), e.g. '{"parse_num_parallel_calls": 2}'.
        **json.loads(os.environ.get("PEERS_NWSREC_PARAMS", "{}")),
    }
    with tempfile.TemporaryDirectory(dir=os.path.dirname(data)) as model_dir:
        params["log_every_steps"] = timer.warmup
        trainer = Trainer(lambda: PeersModel(params), params, model_dir, progress=False)
        plan = trainer.model.table_memory_plan().raw_bytes
        began = time.perf_counter()
        trainer.train(steps=timer.warmup)
        warm_end = time.time()
        guess = (time.perf_counter() - began) / timer.warmup
        # The warm-up's mean step includes tracing: a floor keeps the window long enough.
        steps = int(min(timer.max_steps, max(5 * timer.warmup, timer.seconds / guess)))
        params["log_every_steps"] = WINDOW
        trainer.params["log_every_steps"] = WINDOW
        result = trainer.train(steps=timer.warmup + steps)
        elapsed = steps * BATCH / result.examples_per_sec
        # The trainer logs examples/s per log_every_steps window into its event files.
        rates = []
        for path in tf.io.gfile.glob(os.path.join(model_dir, "train", "events.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    if value.tag == "examples_per_sec" and event.step > timer.warmup:
                        rates.append(float(tf.make_ndarray(value.tensor)))
        return timer.report(warm_end, rates, steps, elapsed, plan_bytes=plan, loss=result.loss)


def _keras_dataset(data: str, num_slots: int) -> Any:
    import tensorflow as tf

    spec = {f"slot_{s + 1}_0": tf.io.FixedLenFeature([1], tf.int64) for s in range(num_slots)}
    spec["label"] = tf.io.FixedLenFeature([], tf.float32)
    files = sorted(tf.io.gfile.glob(os.path.join(data, "train-*")))

    def parse(records: Any) -> Any:
        feats = tf.io.parse_example(records, spec)
        label = feats.pop("label")
        return feats, label

    return (
        tf.data.TFRecordDataset(files)
        .repeat()
        .batch(BATCH, drop_remainder=True)
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def run_keras(data: str, cards: list[int], timer: Timer, use_rs: bool) -> dict:
    import keras
    import tensorflow as tf

    names = [f"slot_{s + 1}_0" for s in range(len(cards))]
    vec_init = keras.initializers.RandomUniform(-INIT_SCALE, INIT_SCALE)
    state: dict[str, Any] = {}  # the optimizers, kept off the (tracked) Keras model

    class CTR(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            if use_rs:
                import keras_rs

                configs = {}
                for name, v in zip(names, cards, strict=True):
                    for kind, dim, init in (("vec", DIM, vec_init), ("bias", 1, "zeros")):
                        table = keras_rs.layers.TableConfig(
                            name=f"{kind}_{name}",
                            vocabulary_size=v,
                            embedding_dim=dim,
                            initializer=init,
                            placement="auto",
                        )
                        configs[f"{kind}/{name}"] = keras_rs.layers.FeatureConfig(
                            name=f"{kind}_{name}",
                            table=table,
                            input_shape=(BATCH, 1),
                            output_shape=(BATCH, dim),
                        )
                self.rs = keras_rs.layers.DistributedEmbedding(configs)
            else:
                self.vec = [keras.layers.Embedding(v, DIM, embeddings_initializer=vec_init)
                            for v in cards]  # fmt: skip
                self.bias = [keras.layers.Embedding(v, 1, embeddings_initializer="zeros")
                             for v in cards]  # fmt: skip
            self.dnn = keras.Sequential(
                [keras.layers.Dense(HIDDEN, activation="relu"), keras.layers.Dense(1)]
            )

        def call(self, feats: Any) -> Any:
            if use_rs:
                inputs = {f"{k}/{n}": feats[n] for n in names for k in ("vec", "bias")}
                out = self.rs(inputs)
                vectors = [out[f"vec/{n}"] for n in names]
                biases = [out[f"bias/{n}"] for n in names]
            else:
                vectors = [layer(feats[n][:, 0]) for layer, n in zip(self.vec, names, strict=True)]
                biases = [layer(feats[n][:, 0]) for layer, n in zip(self.bias, names, strict=True)]
            x = keras.ops.concatenate(vectors, axis=1)
            return self.dnn(x)[:, 0] + keras.ops.sum(keras.ops.concatenate(biases, axis=1), 1)

        def table_variables(self) -> list:
            if use_rs:
                return list(self.rs.trainable_variables)
            return [layer.embeddings for layer in [*self.vec, *self.bias]]

        def train_step(self, batch: Any) -> Any:
            x, y = batch
            tables, dense = state["tables"], self.dnn.trainable_variables
            with tf.GradientTape() as tape:
                logits = self(x, training=True)
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(y, logits))
            grads = tape.gradient(loss, [*tables, *dense])
            state["emb_opt"].apply(grads[: len(tables)], tables)
            state["dense_opt"].apply(grads[len(tables) :], dense)
            return {"loss": loss}

    keras.utils.set_random_seed(0)
    dataset = _keras_dataset(data, len(cards))
    model = CTR()
    first = next(iter(dataset.take(1)))
    model(first[0])
    state["tables"] = model.table_variables()
    state["emb_opt"] = keras.optimizers.Adagrad(learning_rate=VEC_LR)
    state["dense_opt"] = keras.optimizers.Adam(learning_rate=DENSE_LR)
    state["emb_opt"].build(state["tables"])
    state["dense_opt"].build(model.dnn.trainable_variables)
    model.compile(optimizer=state["dense_opt"], jit_compile=False)

    marks: dict[str, Any] = {"durations": []}

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            done, now = batch + 1, time.perf_counter()
            marks.setdefault("first_end", now)
            if "began" not in marks:
                if timer.warm(done, marks["first_end"], now):
                    marks["warm_end"], marks["began"], marks["last"] = time.time(), now, now
                    marks["warm_steps"] = done
            else:
                marks["durations"].append(now - marks["last"])
                marks["last"] = now
                marks["steps"] = done - marks["warm_steps"]
                marks["elapsed"] = now - marks["began"]
                if marks["elapsed"] >= timer.seconds or marks["steps"] >= timer.max_steps:
                    self.model.stop_training = True

    model.fit(
        dataset,
        epochs=1,
        steps_per_epoch=timer.warmup + timer.max_steps,
        callbacks=[Clock()],
        verbose=0,
    )
    # Keras' Adagrad applies the table gradients with plain updates (lr * g / sqrt(acc)).
    rates = window_rates(marks["durations"])
    return timer.report(
        marks["warm_end"], rates, int(marks["steps"]), marks["elapsed"], marks["warm_steps"]
    )


def _torch_batches(data: str, limit: int) -> tuple[list, list, list[int]]:
    import numpy as np
    import torch

    ids = np.load(os.path.join(data, "ids.npy"))
    labels = np.load(os.path.join(data, "labels.npy"))
    with open(os.path.join(data, "meta.json")) as f:
        cards = json.load(f)["cards"]
    n = min(limit, len(ids) // BATCH)
    id_batches = [
        torch.from_numpy(np.ascontiguousarray(ids[i * BATCH : (i + 1) * BATCH].T)) for i in range(n)
    ]  # [S, B] each
    label_batches = [torch.from_numpy(labels[i * BATCH : (i + 1) * BATCH]) for i in range(n)]
    return id_batches, label_batches, cards


def _torch_loop(step: Any, batches: list, labels: list, timer: Timer) -> dict:
    done, first_end = 0, 0.0
    while True:
        step(batches[done % len(batches)], labels[done % len(labels)])
        done += 1
        first_end = first_end or time.perf_counter()
        if timer.warm(done, first_end, time.perf_counter()):
            break
    warm_end, began, steps, durations = time.time(), time.perf_counter(), 0, []
    last = began
    while steps < timer.max_steps and last - began < timer.seconds:
        step(batches[steps % len(batches)], labels[steps % len(labels)])
        now = time.perf_counter()
        durations.append(now - last)
        last, steps = now, steps + 1
    return timer.report(warm_end, window_rates(durations), steps, last - began, done)


def _torch_dnn(num_slots: int) -> Any:
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    return torch.nn.Sequential(
        torch.nn.Linear(num_slots * DIM, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1)
    )


def run_torchrec(data: str, timer: Timer, max_batches: int) -> dict:
    import torch
    import torchrec
    from torchrec.modules.embedding_configs import EmbeddingBagConfig
    from torchrec.modules.fused_embedding_modules import FusedEmbeddingBagCollection
    from torchrec.optim import RowWiseAdagrad
    from torchrec.sparse.jagged_tensor import KeyedJaggedTensor

    id_batches, labels, cards = _torch_batches(data, max_batches)
    keys = [f"slot_{s + 1}_0" for s in range(len(cards))]

    def ebc(kind: str, dim: int, lr: float) -> Any:
        tables = [
            EmbeddingBagConfig(
                name=f"{kind}_{k}", embedding_dim=dim, num_embeddings=v, feature_names=[k]
            )
            for k, v in zip(keys, cards, strict=True)
        ]
        return FusedEmbeddingBagCollection(
            tables=tables,
            optimizer_type=RowWiseAdagrad,
            optimizer_kwargs={"lr": lr},
            device=torch.device("cpu"),
        )

    # FBGEMM's tables are a multiple of 4 wide: the bias tables are 4 wide, column 0 used.
    vec, bias = ebc("vec", DIM, VEC_LR), ebc("bias", 4, BIAS_LR)
    with torch.no_grad():
        for w in vec.state_dict().values():
            w.uniform_(-INIT_SCALE, INIT_SCALE)
        for w in bias.state_dict().values():
            w.zero_()
    dnn = _torch_dnn(len(cards))
    opt = torch.optim.Adam(dnn.parameters(), lr=DENSE_LR)
    lengths = torch.ones(len(cards) * BATCH, dtype=torch.int32)
    kjts = [
        KeyedJaggedTensor.from_lengths_sync(keys=keys, values=b.reshape(-1), lengths=lengths)
        for b in id_batches
    ]
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(kjt: Any, y: Any) -> None:
        x = vec(kjt).values()
        logits = dnn(x)[:, 0] + bias(kjt).values()[:, ::4].sum(1)
        loss = loss_fn(logits, y)
        opt.zero_grad()
        loss.backward()  # the fused tables update themselves here
        opt.step()

    del torchrec
    return _torch_loop(step, kjts, labels, timer)


def run_torch_bag(data: str, timer: Timer, max_batches: int) -> dict:
    import torch

    id_batches, labels, cards = _torch_batches(data, max_batches)
    torch.manual_seed(0)
    vec = torch.nn.ModuleList(
        [torch.nn.EmbeddingBag(v, DIM, mode="sum", sparse=True) for v in cards]
    )
    bias = torch.nn.ModuleList(
        [torch.nn.EmbeddingBag(v, 1, mode="sum", sparse=True) for v in cards]
    )
    with torch.no_grad():
        for bag in vec:
            bag.weight.uniform_(-INIT_SCALE, INIT_SCALE)
        for bag in bias:
            bag.weight.zero_()
    dnn = _torch_dnn(len(cards))
    opts = [
        torch.optim.Adagrad(vec.parameters(), lr=VEC_LR, initial_accumulator_value=0.1),
        torch.optim.Adagrad(bias.parameters(), lr=BIAS_LR, initial_accumulator_value=0.1),
        torch.optim.Adam(dnn.parameters(), lr=DENSE_LR),
    ]
    offsets = torch.arange(BATCH)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def step(ids: Any, y: Any) -> None:
        x = torch.cat([bag(ids[s], offsets) for s, bag in enumerate(vec)], dim=1)
        b = torch.cat([bag(ids[s], offsets) for s, bag in enumerate(bias)], dim=1)
        loss = loss_fn(dnn(x)[:, 0] + b.sum(1), y)
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in opts:
            opt.step()

    return _torch_loop(step, id_batches, labels, timer)


def worker(args: argparse.Namespace) -> int:
    timer = Timer(args.warmup, args.seconds, args.max_steps)
    try:
        cards: list[int] = []
        if args.worker != "gen":
            with open(os.path.join(args.data, "meta.json")) as f:
                cards = json.load(f)["cards"]
        if args.worker == "gen":
            generate(args.data, scale_cardinalities(args.scale), args.batches * BATCH)
            result: dict = {"ok": True}
        elif args.worker in OWN:
            vocab = args.vocab or os.path.join(args.data, "vocab.tsv")
            result = run_nwsrec(
                args.data,
                vocab,
                timer,
                rowwise=args.worker == "nwsrec-rowwise",
                in_memory=args.worker == "nwsrec-memory",
            )
        elif args.worker in ("keras", "keras-rs"):
            result = run_keras(args.data, cards, timer, use_rs=args.worker == "keras-rs")
        elif args.worker == "torchrec-fbgemm":
            result = run_torchrec(args.data, timer, args.batches)
        elif args.worker == "torch-embeddingbag":
            result = run_torch_bag(args.data, timer, args.batches)
        else:
            raise ValueError(f"unknown system {args.worker!r}")
    except BaseException as err:  # reported as the system's row, never a crash
        traceback.print_exc()
        result = {"error": f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300]}"}
    with open(args.out, "w") as f:
        json.dump(result, f)
    return 0


# ----------------------------------------------------------------------------- driver


def spawn(argv: list[str], cap_s: float, log: str) -> tuple[dict, float]:
    """Runs a worker; returns its result (or the reason it gave none) and its peak RSS."""
    out = log + ".json"
    env = {**os.environ, "PEERS_T0": repr(time.time())}
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), *argv, "--out", out],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline, rss_kib, status = time.time() + cap_s, 0, None
        while status is None:
            pid, status_raw, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, rss_kib = status_raw, usage.ru_maxrss
                proc.returncode = os.waitstatus_to_exitcode(status_raw)
                break
            if time.time() > deadline:
                proc.kill()
                _, status_raw, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                return {"error": f"time cap {cap_s:.0f} s reached"}, usage.ru_maxrss * 1024.0
            time.sleep(0.2)
    if os.path.exists(out):
        with open(out) as f:
            return json.load(f), rss_kib * 1024.0
    with open(log) as f:
        tail = [line.strip() for line in f.read().splitlines() if line.strip()][-1:]
    reason = f"exit status {proc.returncode}" + (f": {tail[0][:200]}" if tail else "")
    return {"error": reason}, rss_kib * 1024.0


def fmt_bytes(n: float) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / (1 << 20):.0f} MiB"


def available_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def fit_criteo(margin: float) -> tuple[str, str]:
    """The largest criteo scale whose estimated need fits the available memory."""
    avail = available_memory()
    div = 1
    while True:
        cards = scale_cardinalities("criteo" if div == 1 else f"criteo/{div}")
        # The hungriest system (Keras' dense Adagrad update) holds tables + accumulators
        # and full-table temporaries: about 2x the plan, plus the runtime.
        need = 2 * plan_bytes(cards) + 2 * GIB
        if need * margin <= avail or div >= 1024:
            name = "criteo" if div == 1 else f"criteo/{div}"
            why = (
                f"{name}: {sum(cards):,} rows, plan {fmt_bytes(plan_bytes(cards))}, "
                f"estimated need {fmt_bytes(need)} of {fmt_bytes(avail)} available"
            )
            return name, why
        div *= 2


def print_table(scale: str, rows: dict[str, tuple[dict, float]], plan: int | None) -> dict:
    base, base_rss = rows.get("nwsrec", ({}, 0.0))
    base_eps = base.get("examples_per_sec")
    head = f"{'system':<20}{'examples/s':>12}{'vs nwsrec':>10}{'start-up':>10}"
    head += f"{'peak RSS':>11}{'vs nwsrec':>10}  note"
    print(head)
    print("-" * len(head))
    for system, (res, rss) in rows.items():
        if "error" in res:
            print(f"{system:<20}{'-':>12}{'-':>10}{'-':>10}{fmt_bytes(rss):>11}{'-':>10}  "
                  f"FAILED: {res['error']}")  # fmt: skip
            continue
        eps = res["examples_per_sec"]
        ratio = f"{eps / base_eps:.2f}x" if base_eps else "-"
        rss_ratio = f"{rss / base_rss:.2f}x" if base_rss and "error" not in base else "-"
        note = f"{res['step_ms']:.2f} ms/step; mean {res['mean_examples_per_sec']:,.0f}/s"
        note += f" over {res['timed_steps']} steps"
        print(f"{system:<20}{eps:>12,.0f}{ratio:>10}{res['startup_s']:>9.1f}s"
              f"{fmt_bytes(rss):>11}{rss_ratio:>10}  {note}")  # fmt: skip
    goals: dict[str, bool | None] = {}
    peers = {s: r for s, (r, _) in rows.items() if s not in OWN and "error" not in r}
    want = 2.0 if scale.startswith("criteo") else 1.5
    if base_eps and peers:
        best = max(peers, key=lambda s: peers[s]["examples_per_sec"])
        ratio = base_eps / peers[best]["examples_per_sec"]
        met = ratio >= want
        goals["speed"] = met
        print(f"goal nwsrec >= {want}x the fastest peer ({best}): {ratio:.2f}x  "
              f"{'MET' if met else 'NOT MET'}")  # fmt: skip
    else:
        print(f"goal nwsrec >= {want}x the fastest peer: n/a (nwsrec or every peer failed)")
    if plan is not None and base_rss and "error" not in base:
        limit = 1.2 * plan + 1.5 * GIB
        met = base_rss <= limit
        goals["rss"] = met
        verdict = "MET" if met else "NOT MET"
        print(f"goal nwsrec peak RSS <= 1.2 x plan ({fmt_bytes(plan)}) + 1.5 GiB = "
              f"{fmt_bytes(limit)}: {fmt_bytes(base_rss)}  {verdict}")  # fmt: skip
    rowwise, rowwise_rss = rows.get("nwsrec-rowwise", ({"error": "not run"}, 0.0))
    torchrec, torchrec_rss = rows.get("torchrec-fbgemm", ({"error": "not run"}, 0.0))
    if "error" not in rowwise and "error" not in torchrec and torchrec_rss:
        met = rowwise_rss <= torchrec_rss
        goals["rowwise_rss"] = met
        print(f"goal nwsrec-rowwise peak RSS <= torchrec-fbgemm's ({fmt_bytes(torchrec_rss)}): "
              f"{fmt_bytes(rowwise_rss)}  {'MET' if met else 'NOT MET'}")  # fmt: skip
    else:
        print("goal nwsrec-rowwise peak RSS <= torchrec-fbgemm's: n/a (one of them did not run)")
    return goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (about 3 minutes)")
    parser.add_argument("--scales", help="comma-separated: demo,26x1e5,criteo (default all)")
    parser.add_argument("--systems", help=f"comma-separated of {','.join(SYSTEMS)}")
    parser.add_argument("--work-dir", help="where data goes (default: a temporary dir)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--vocab", help=argparse.SUPPRESS)
    parser.add_argument("--scale", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None, help="timed window per system")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--batches", type=int, default=None, help="batches of data per scale")
    args = parser.parse_args(argv)
    quick = args.quick
    args.warmup = args.warmup or (10 if quick else 30)
    args.seconds = args.seconds or (4.0 if quick else 12.0)
    args.max_steps = args.max_steps or (300 if quick else 3000)
    args.batches = args.batches or (48 if quick else 192)
    if args.worker:
        return worker(args)

    systems = args.systems.split(",") if args.systems else list(SYSTEMS)
    scales = args.scales.split(",") if args.scales else ["demo", "26x1e5", "criteo"]
    common = [f"--{k}={getattr(args, k.replace('-', '_'))}"
              for k in ("warmup", "seconds", "max-steps", "batches")]  # fmt: skip
    began = time.time()
    print(f"peers bench: batch {BATCH}, dim {DIM} + bias per slot, DNN [{HIDDEN}], "
          f"Adagrad tables / Adam DNN; warm-up {args.warmup} steps, timed <= "
          f"{args.seconds:g} s; {args.batches} batches of data per scale"
          f"{' (quick)' if quick else ''}")  # fmt: skip
    work = args.work_dir or tempfile.mkdtemp(prefix="nwsrec-peers-")
    os.makedirs(work, exist_ok=True)
    summary: dict[str, dict] = {}
    for scale in scales:
        if scale.startswith("criteo"):
            name, why = fit_criteo(margin=1.0)
            if quick and "/" not in scale:
                name = "criteo/16"
                why = "quick: criteo/16 (every Criteo cardinality / 16)"
            if "/" in scale:
                name, why = scale, f"{scale}, as asked"
            print(f"\ncriteo-shaped scale: {why}")
            scale = name
        cards = scale_cardinalities(scale)
        data = os.path.join(work, scale.replace("/", "_"))
        print(f"\n== scale {scale}: {len(cards)} slots, {sum(cards):,} rows, plan "
              f"{fmt_bytes(plan_bytes(cards))}")  # fmt: skip
        t = time.time()
        res, _ = spawn(["--worker=gen", f"--data={data}", f"--scale={scale}", *common],
                       1200, data + ".gen.log")  # fmt: skip
        if "error" in res:
            print(f"data generation failed: {res['error']}")
            continue
        print(f"data: {args.batches * BATCH:,} examples written in {time.time() - t:.0f} s")
        big = sum(cards) > 5_000_000
        cap = (420 if big else 180) * (0.6 if quick else 1.0)
        rows = {}
        for system in systems:
            log = os.path.join(work, f"{scale.replace('/', '_')}.{system}.log")
            rows[system] = spawn([f"--worker={system}", f"--data={data}", *common], cap, log)
        plan = rows["nwsrec"][0].get("plan_bytes") if "nwsrec" in rows else None
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\nload average after the runs (1, 5, 15 min; {os.cpu_count()} cores): {load}")
        summary[scale] = print_table(scale, rows, plan)
        for name in os.listdir(data):
            if name.endswith((".tfrecord", ".npy")):
                os.remove(os.path.join(data, name))

    if "nwsrec" in systems:
        print("\n== nwsrec train step, 26 slots, 1e6-row vs 1e3-row tables (same data)")
        data = os.path.join(work, "26x1e3")
        spawn(["--worker=gen", f"--data={data}", "--scale=26x1e3", *common], 600,
              data + ".gen.log")  # fmt: skip
        write_vocab(os.path.join(data, "vocab_1e6.tsv"), [1_000_000] * 26)
        steps = {}
        for label, vocab in (("1e3", "vocab.tsv"), ("1e6", "vocab_1e6.tsv")):
            res, rss = spawn(["--worker=nwsrec", f"--data={data}",
                              f"--vocab={os.path.join(data, vocab)}", *common],
                             300, os.path.join(work, f"step-{label}.log"))  # fmt: skip
            steps[label] = res
            if "error" in res:
                print(f"{label}-row tables: FAILED: {res['error']}")
            else:
                print(f"{label}-row tables: {res['step_ms']:.2f} ms/step, "
                      f"peak RSS {fmt_bytes(rss)}")  # fmt: skip
        if all("error" not in r for r in steps.values()):
            ratio = steps["1e6"]["step_ms"] / steps["1e3"]["step_ms"]
            print(f"goal 1e6-row step <= 1.3x the 1e3-row step: {ratio:.2f}x  "
                  f"{'MET' if ratio <= 1.3 else 'NOT MET'}")  # fmt: skip
    print(f"\ntotal {time.time() - began:.0f} s; logs under {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
