"""Step time of the search model vs the same model without the NWS layer, same run.

Both models have 32 slots (synthetic data, batch 512) whose vector tables are
sum([0, 4, 8, 16]) = 28 wide and the same DNN; the search model masks the embeddings with
MixedEmbedOpComb (one draw per slot and step), the other uses them as they are. Each is
traced and warmed up for 50 steps, then timed over 300 steps, alternating twice.
Goal: search / plain <= 1.10.

Run: .venv/bin/python bench/step_overhead.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
    from nwsrec.tasks.synthetic.params.params import SyntheticModel
    from nwsrec.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        generate_synthetic(data, SyntheticConfig(num_train=60_000, num_test=2_000))
        base = SyntheticModel.resolve_params(
            {
                **SyntheticModel.default_params(),
                "data_dir": data,
                "log_every_steps": 50,
                "checkpoint_every_steps": 100_000,
                "pretraining_steps": 0,
                "arch_warmup_steps": 0,
            }
        )
        variants = {
            "search (NWS layer)": {**base, "search": True},
            "plain (no NWS layer)": {**base, "search": False, "candidate_sizes": [28]},
        }
        trainers = {
            name: Trainer(
                lambda p=p: SyntheticModel(p), p, os.path.join(tmp, str(i)), progress=False
            )
            for i, (name, p) in enumerate(variants.items())
        }
        for trainer in trainers.values():
            trainer.train(steps=50)  # trace and warm up
        times: dict[str, list[float]] = {name: [] for name in trainers}
        for _ in range(2):
            for name, trainer in trainers.items():
                steps = 300
                began = time.perf_counter()
                trainer.train(steps=trainer.step + steps)
                times[name].append((time.perf_counter() - began) / steps)
    plain = statistics.mean(times["plain (no NWS layer)"])
    print(f"{'model':<24}{'ms/step':>10}{'ratio':>8}")
    for name, values in times.items():
        mean = statistics.mean(values)
        print(f"{name:<24}{1e3 * mean:>10.2f}{mean / plain:>8.3f}")
    print("goal: search / plain <= 1.10")
    return 0


if __name__ == "__main__":
    sys.exit(main())
