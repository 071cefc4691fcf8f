"""Benchmark: the table memory plan of a 10,000-slot model.

Times what ``nwsrec plan`` does for a large model: read the vocab file, run discovery
(declare every slot and slice), finalize the env, and compute the memory plan. The
baseline is the same work for 100 slots, measured in the same run and scaled by 100, so
the ratio shows how far from linear the 10,000-slot case is. Goal: under 1 s in total at
10,000 slots (20,000 tables).

Run: ``.venv/bin/python bench/memory_plan.py``
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from nwsrec.features import FeatureColumnV1, FeatureSlot  # noqa: E402
from nwsrec.model import Model  # noqa: E402

E = tf.tpu.experimental.embedding


class ManySlots(Model):
    """Every slot has a bias (FTRL) and a vector; vector optimizers cycle through
    Adagrad (default), SGD and Adam, widths through 4, 12, 16 and 30."""

    def logits_fn(self):
        parts = []
        for slot_id in range(self.params["num_slots"]):
            kind = slot_id % 3
            optimizer = None if kind == 0 else E.SGD(0.1) if kind == 1 else E.Adam(0.01)
            slot = FeatureSlot(self.env, slot_id, has_bias=True, default_vec_optimizer=optimizer)
            column = FeatureColumnV1(slot, f"slot_{slot_id}_0")
            parts.append(column.get_bias())
            parts.append(column.add_vector((4, 12, 16, 30)[slot_id % 4]))
        # The model's own math (a DNN over 20,000 embeddings) is not what is timed here.
        return parts[0][:, 0]


def _vocab_file(directory: str, num_slots: int) -> str:
    path = os.path.join(directory, f"vocab_{num_slots}.tsv")
    with open(path, "w") as handle:
        handle.write("slot\tcount\n")
        for slot_id in range(num_slots):
            handle.write(f"{slot_id}\t{1000 + 37 * slot_id}\n")
    return path


def _measure(vocab_path: str, num_slots: int, repeats: int) -> tuple[float, float, int, int]:
    """Best-of-``repeats`` seconds of (declare + finalize, plan), the table count and raw
    bytes (the minimum: the other engineers' jobs share these 2 cores)."""
    params = {**Model.default_params(), "vocab_file_path": vocab_path, "num_slots": num_slots}
    declare, plan_time = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        model = ManySlots(params)
        middle = time.perf_counter()
        plan = model.table_memory_plan()
        end = time.perf_counter()
        declare.append(middle - start)
        plan_time.append(end - middle)
    return (
        min(declare),
        min(plan_time),
        len(plan.tables),
        plan.raw_bytes,
    )


def main() -> None:
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as directory:
        small, large = 100, 10_000
        _measure(_vocab_file(directory, small), small, 2)  # warm-up: TF import paths, caches
        base = _measure(_vocab_file(directory, small), small, 9)
        big = _measure(_vocab_file(directory, large), large, 5)
    scale = large / small
    header = (
        f"{'case':<26}{'slots':>7}{'tables':>8}{'declare+finalize s':>20}{'plan s':>9}"
        f"{'total s':>9}{'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    rows = [
        (f"baseline: {small} slots x {scale:g}", small * scale, base[2] * scale,
         base[0] * scale, base[1] * scale),
        (f"{large:,} slots", large, big[2], big[0], big[1]),
    ]  # fmt: skip
    base_total = rows[0][3] + rows[0][4]
    for name, slots, tables, declare, plan in rows:
        total = declare + plan
        print(
            f"{name:<26}{int(slots):>7}{int(tables):>8}{declare:>20.3f}{plan:>9.3f}"
            f"{total:>9.3f}{total / base_total:>7.2f}"
        )
    total = big[0] + big[1]
    print()
    print(f"{large:,}-slot model: {big[2]:,} tables, raw {big[3]:,} bytes")
    verdict = "met" if total < 1 else "MISSED"
    print(f"goal: total < 1 s at {large:,} slots -> {total:.3f} s ({verdict})")


if __name__ == "__main__":
    main()
