"""A hand-written model that follows the Model contract of docs/architecture.md.

The trainer is tested against this small stand-in so that its tests do not depend on
the rest of nwsrec: real ``tf.Variable`` tables with a sparse Adagrad update, a real
``MixedEmbedOpComb``, real Keras layers, and a real TFRecord input pipeline over files
written by ``generate_synthetic``.
"""

from __future__ import annotations

import keras
import pytest
import tensorflow as tf

from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
from nwsrec.layers import MixedEmbedOpComb


class HandTable(tf.Module):
    """A table with sparse Adagrad: the EmbeddingTable contract (lookup, apply_gradient)."""

    def __init__(self, name, vocab_size, dim, learning_rate=0.05):
        super().__init__(name=name)
        init = keras.initializers.RandomUniform(-0.05, 0.05)
        self.variable = tf.Variable(init((vocab_size, dim)), name="table")
        self.accumulator = tf.Variable(tf.fill([vocab_size, dim], 0.1), name="accumulator")
        self.learning_rate = learning_rate

    def lookup(self, ids):
        return tf.nn.embedding_lookup_sparse(self.variable, ids, None, combiner="sum")

    def apply_gradient(self, grad):
        unique, position = tf.unique(grad.indices)
        values = tf.math.unsorted_segment_sum(grad.values, position, tf.shape(unique)[0])
        self.accumulator.scatter_add(tf.IndexedSlices(tf.square(values), unique))
        acc = tf.gather(self.accumulator, unique)
        self.variable.scatter_sub(
            tf.IndexedSlices(self.learning_rate * values / tf.sqrt(acc), unique)
        )


class HandModel:
    """DNN over (optionally NWS-masked) slot embeddings plus per-slot bias."""

    def __init__(self, params):
        self.params = dict(params)
        self.slots = list(params["slots"])
        choices = params["candidate_sizes"]
        self.search = bool(params.get("search", True))
        width = sum(choices) if self.search else max(choices)
        self.tables = {}
        for s in self.slots:
            lr = params.get("table_lr", 0.05)
            self.tables[f"table_{s}_0"] = HandTable(f"bias_{s}", params["vocab_size"], 1, lr)
            self.tables[f"table_{s}_1"] = HandTable(f"vec_{s}", params["vocab_size"], width, lr)
        self._nws = None
        if self.search:
            self._nws = MixedEmbedOpComb(
                [str(s) for s in self.slots],
                [list(choices)] * len(self.slots),
                warmup_steps=params.get("warmup_steps", 0),
                pretraining_steps=0,
                seed=7,
            )
        self._dnn = keras.Sequential(
            [keras.layers.Dense(params.get("hidden", 16), activation="relu"), keras.layers.Dense(1)]
        )

    def create_input_fn(self, file_pattern, repeat=True, split=None):
        spec = {f"slot_{s}_0": tf.io.VarLenFeature(tf.int64) for s in self.slots}
        spec["label"] = tf.io.FixedLenFeature([], tf.float32)

        def input_fn(context):
            files = tf.data.Dataset.list_files(file_pattern, shuffle=False)
            files = files.shard(context.num_input_pipelines, context.input_pipeline_id)
            ds = files.interleave(tf.data.TFRecordDataset, cycle_length=1)
            if split is not None:
                ds = ds.filter(split.keep)
            ds = ds.batch(
                context.get_per_replica_batch_size(self.params["batch_size"]),
                drop_remainder=True,
            )
            ds = ds.map(lambda x: tf.io.parse_example(x, spec))
            return (ds.repeat() if repeat else ds).prefetch(2)

        return input_fn

    def forward(self, features, training):
        embs, bias = [], []
        for s in self.slots:
            ids = features[f"slot_{s}_0"]
            bias.append(self.tables[f"table_{s}_0"].lookup(ids))
            embs.append(self.tables[f"table_{s}_1"].lookup(ids))
        x = tf.concat(embs, axis=1)
        if self._nws is not None:
            x = self._nws(x, training=training)
        logits = self._dnn(x)[:, 0] + tf.add_n(bias)[:, 0]
        return logits, []

    def dense_variables(self):
        out = list(self._dnn.trainable_weights)
        if self._nws is not None:
            out += list(self._nws.trainable_weights)
        return out

    def nws_layers(self):
        return [self._nws] if self._nws is not None else []


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A small synthetic data set: 4 signal + 4 noise slots, 4096 train examples."""
    out = tmp_path_factory.mktemp("synthetic")
    truth = generate_synthetic(
        out,
        SyntheticConfig(
            seed=3,
            num_train=4096,
            num_test=1024,
            num_files=2,
            pair_ranks=(1, 2),
            num_noise_slots=4,
            vocab_size=50,
        ),
    )
    return out, truth


@pytest.fixture
def hand_params(tiny_data):
    out, truth = tiny_data
    return {
        "slots": sorted(truth.slots),
        "vocab_size": truth.config.vocab_size,
        "candidate_sizes": [0, 2, 4],
        "batch_size": 64,
        "train_file_pattern": str(out / "train-*"),
        "eval_file_pattern": str(out / "test-*"),
        "train_steps": 20,
        "log_every_steps": 5,
        "checkpoint_every_steps": 10,
        "seed": 11,
    }
