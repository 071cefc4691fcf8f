"""Is nwsrec's hand-written tf.Example encoder worth keeping? Measured on convert's workload.

``nwsrec convert`` turns each CSV row into one ``tf.train.Example``: 26 single-id slots
(``slot_{s}_0``, int64), a float label and 13 dense floats — the shape of the Criteo
display-advertising rows. Both encoders get the same rows and must give the same bytes'
meaning (checked by parsing both back); the table reports rows/s and the ratio.

Goal (from the re-layering issue): keep ``nwsrec.data.writer.serialize_example`` only if it
is >= 2x as fast as building a ``tf.train.Example`` and calling ``SerializeToString``.

Usage: ``python bench/example_encoder.py [--rows N] [--rounds R] [--seed S]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nwsrec.data.writer import join_features, serialize_example, serialize_feature  # noqa: E402

NUM_SLOTS = 26
NUM_DENSE = 13


def _rows(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.2, size=(n, NUM_SLOTS)) % 1_000_000
    dense = rng.normal(size=(n, NUM_DENSE)).astype(np.float32)
    labels = rng.integers(0, 2, size=n)
    rows = []
    for i in range(n):
        row = {f"slot_{s}_0": [int(ids[i, s])] for s in range(NUM_SLOTS)}
        row["label"] = float(labels[i])
        row["dense"] = [float(x) for x in dense[i]]
        rows.append(row)
    return rows


def _protobuf(row: dict) -> bytes:
    feature = {}
    for name, value in row.items():
        if name.startswith("slot_"):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=value))
        else:
            values = value if isinstance(value, list) else [value]
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _converter_encoder():
    """What ``nwsrec convert`` does: a slot cell's feature bytes are encoded once and reused."""
    cache: dict[tuple[str, int], bytes] = {}

    def encode(row: dict) -> bytes:
        entries = []
        for name, value in row.items():
            if name.startswith("slot_"):
                key = (name, value[0])
                entry = cache.get(key)
                if entry is None:
                    entry = cache[key] = serialize_feature(name, value)
                entries.append(entry)
            else:
                entries.append(serialize_feature(name, value))
        return join_features(entries)

    return encode


def _rate(encode, rows: list[dict]) -> float:
    began = time.perf_counter()
    for row in rows:
        encode(row)
    return len(rows) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = _rows(args.rows, args.seed)
    for row in rows[:100]:  # the same example either way
        assert tf.train.Example.FromString(serialize_example(row)) == tf.train.Example.FromString(
            _protobuf(row)
        )
    converter = _converter_encoder()
    ours, theirs, cached = [], [], []
    for _ in range(args.rounds):  # interleaved rounds: load on a shared machine hits both
        ours.append(_rate(serialize_example, rows))
        theirs.append(_rate(_protobuf, rows))
        cached.append(_rate(converter, rows))
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    cached_ratios = [a / b for a, b in zip(cached, theirs, strict=True)]
    print(f"rows: {args.rows:,} x {args.rounds} rounds, seed {args.seed}")
    print(f"{'encoder':<52}{'rows/s (median)':>16}{'ratio':>8}")
    print(
        f"{'tf.train.Example(...).SerializeToString()':<52}{statistics.median(theirs):>16,.0f}"
        f"{1.0:>8.2f}"
    )
    print(
        f"{'nwsrec.data.writer.serialize_example':<52}{statistics.median(ours):>16,.0f}"
        f"{statistics.median(ratios):>8.2f}"
    )
    print(
        f"{'convert: cached serialize_feature + join_features':<52}"
        f"{statistics.median(cached):>16,.0f}{statistics.median(cached_ratios):>8.2f}"
    )
    for what, values in (("serialize_example", ratios), ("convert's cached path", cached_ratios)):
        ratio = statistics.median(values)
        print(
            f"goal: {what} >= 2x SerializeToString: {'met' if ratio >= 2 else 'NOT met'} "
            f"(ratio {ratio:.2f}, range {min(values):.2f}-{max(values):.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
