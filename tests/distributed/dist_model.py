"""The model and data of the multi-process tests: a real ``nwsrec.model.Model`` subclass.

Real ``EmbeddingTable`` s (FTRL biases, Adagrad vectors), a real Keras DNN, real TFRecord
files. Every example carries ``file_id`` (the index of its file), so a worker can report
which files it actually trained on. Every initializer is seeded, so two processes build
bit-identical starting weights.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from nwsrec.features import FeatureColumnV1, FeatureSlot
from nwsrec.model import Model

SLOTS = (1, 2, 3)
VOCAB = 40
DIM = 4


def write_data(out_dir: str, num_files: int, per_file: int, seed: int = 0) -> str:
    """Writes ``train-i.tfrecord`` files and ``vocab.tsv``; returns the file pattern.

    The label is 1 with probability 0.9 when the first slot-1 id is even, else 0.1.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.tsv"), "w", encoding="utf-8") as f:
        f.writelines(f"{s}\t{VOCAB}\n" for s in SLOTS)
    for i in range(num_files):
        path = os.path.join(out_dir, f"train-{i:03d}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for _ in range(per_file):
                ids = {s: rng.integers(0, VOCAB, size=rng.integers(1, 3)) for s in SLOTS}
                label = float(rng.random() < (0.9 if ids[1][0] % 2 == 0 else 0.1))
                feature = {
                    f"slot_{s}_0": tf.train.Feature(int64_list=tf.train.Int64List(value=v))
                    for s, v in ids.items()
                }
                feature["file_id"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))
                feature["label"] = tf.train.Feature(float_list=tf.train.FloatList(value=[label]))
                example = tf.train.Example(features=tf.train.Features(feature=feature))
                writer.write(example.SerializeToString())
    return os.path.join(out_dir, "train-*.tfrecord")


def params_for(data_dir: str, **overrides) -> dict:
    """The params of :class:`DistModel` on the data of :func:`write_data`."""
    params = {
        **Model.default_params(),
        "batch_size": 32,
        "vocab_file_path": os.path.join(data_dir, "vocab.tsv"),
        "train_file_pattern": os.path.join(data_dir, "train-*.tfrecord"),
        "eval_file_pattern": os.path.join(data_dir, "train-*.tfrecord"),
        "train_steps": 8,
        "dense_optimizer": "adam",
        "dense_learning_rate": 0.05,
        "log_every_steps": 4,
        "checkpoint_every_steps": 4,
        "seed": 5,
    }
    params.update(overrides)
    return params


class DistModel(Model):
    """Sum-pooled slots (bias + 4-wide vector) -> Dense(8, relu) -> Dense(1), plus biases."""

    #: Called with each batch's file ids (a numpy array) as the input pipeline makes it.
    on_batch = None

    def feature_map(self) -> dict:
        return {**super().feature_map(), "file_id": tf.io.FixedLenFeature([], tf.int64)}

    def logits_fn(self):
        vectors, biases = [], []
        for s in SLOTS:
            slot = FeatureSlot(
                self.env,
                s,
                has_bias=True,
                bias_optimizer=tf.tpu.experimental.embedding.FTRL(learning_rate=0.5),
                bias_initializer=keras.initializers.Zeros(),
                default_vec_optimizer=tf.tpu.experimental.embedding.Adagrad(learning_rate=0.2),
                default_vec_initializer=keras.initializers.RandomUniform(-0.1, 0.1, seed=s),
            )
            column = FeatureColumnV1(slot, f"slot_{s}_0")
            biases.append(column.get_bias())
            vectors.append(column.add_vector(DIM))

        def dnn():
            return keras.Sequential(
                [
                    keras.layers.Dense(
                        8, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)
                    ),
                    keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(2)),
                ],
                name="dnn",
            )

        x = tf.concat(vectors, axis=1)
        return self.keras_layer("dnn", dnn)(x)[:, 0] + tf.add_n(biases)[:, 0]

    def create_input_fn(self, file_pattern, repeat=True):
        feature_map = self.feature_map()
        batch_size = int(self.params["batch_size"])
        on_batch = type(self).on_batch

        def input_fn(context):
            files = tf.data.Dataset.list_files(file_pattern, shuffle=False)
            files = files.shard(context.num_input_pipelines, context.input_pipeline_id)
            ds = files.interleave(tf.data.TFRecordDataset, cycle_length=1)
            ds = ds.batch(context.get_per_replica_batch_size(batch_size), drop_remainder=True)
            ds = ds.map(lambda x: tf.io.parse_example(x, feature_map))
            if on_batch is not None:

                def record(batch):
                    done = tf.py_function(
                        lambda ids: on_batch(ids.numpy()) or 0, [batch["file_id"]], tf.int32
                    )
                    with tf.control_dependencies([done]):
                        return {k: tf.identity(v) for k, v in batch.items()}

                ds = ds.map(record)
            return ds.repeat() if repeat else ds

        return input_fn
