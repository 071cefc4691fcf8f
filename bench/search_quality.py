"""Search quality: full width vs searched-and-retrained, 3 seeds, synthetic and MovieLens.

For each data set and seed: search the widths (NWS), retrain at the found widths (size-0
slots dropped), train the full-width baseline (every slot at its largest candidate), and
compare embedding parameters and test AUC (mean +- sd over the seeds). On the synthetic
data it also counts slots on the wrong side of 0 (a noise slot kept, a signal slot
dropped). MovieLens-100K is fetched with `pip download --no-deps recbole==1.2.1`; when
that fails the bench says so and skips that part.

Goal: >= 4x fewer embedding parameters with mean AUC no more than 0.003 below full width;
synthetic: every noise slot 0, every signal slot > 0.

Run: .venv/bin/python bench/search_quality.py [--seeds 3] [--steps N]
(--steps: the training steps of the retrained and full-width runs; the search's steps
and schedule scale with it. About 5 minutes per synthetic seed and 2.5 per MovieLens
seed on 2 cores.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _run(model: str, data_dir: str, out: str, seed: int, steps: int | None) -> dict:
    from nwsrec.runs import resolve_params, run_search, run_train, scale_steps

    overrides = {"seed": seed, "nws_seed": seed}
    cls, params = resolve_params(model, overrides, data_dir=data_dir)
    if steps is not None:
        params = scale_steps(params, steps)
    found = run_search(cls, params, os.path.join(out, "search"), progress=False)
    retrained = run_train(
        cls,
        params,
        os.path.join(out, "retrain"),
        dims_path=found.search_result_path,
        progress=False,
    )
    full = run_train(cls, params, os.path.join(out, "full"), progress=False)
    return {"sizes": found.slot_dims, "retrained": retrained, "full": full}


def _summary(name: str, runs: list[dict]) -> list[str]:
    def ms(values: list[float], fmt: str) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{format(statistics.mean(values), fmt)} +- {format(sd, fmt)}"

    full_p = [r["full"].embedding_parameters for r in runs]
    ret_p = [r["retrained"].embedding_parameters for r in runs]
    full_auc = [r["full"].auc for r in runs]
    ret_auc = [r["retrained"].auc for r in runs]
    ratio = [f / r for f, r in zip(full_p, ret_p, strict=True)]
    diff = [a - b for a, b in zip(ret_auc, full_auc, strict=True)]
    return [
        f"{name:<12}{'full width':<22}{ms(full_p, ',.0f'):>24}{ms(full_auc, '.4f'):>20}",
        f"{'':<12}{'searched + retrained':<22}{ms(ret_p, ',.0f'):>24}{ms(ret_auc, '.4f'):>20}",
        f"{'':<12}{'ratio / AUC diff':<22}{ms(ratio, '.1f') + 'x':>24}{ms(diff, '+.4f'):>20}",
    ]


def main(argv: list[str] | None = None) -> int:
    from nwsrec.data.movielens import convert_movielens, fetch_movielens
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps (the search scales with it)"
    )
    args = parser.parse_args(argv)
    lines = [f"{'data':<12}{'model':<22}{'emb. params':>24}{'test AUC':>20}"]
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = []
        for seed in range(args.seeds):
            data = os.path.join(tmp, f"synthetic{seed}")
            truth = generate_synthetic(data, SyntheticConfig(seed=seed))
            run = _run("synthetic", data, os.path.join(tmp, f"s{seed}"), seed, args.steps)
            wrong_noise = [s for s in truth.noise_slots() if run["sizes"][s] != 0]
            wrong_signal = [s for s in truth.signal_slots() if run["sizes"][s] == 0]
            notes.append(
                f"synthetic seed {seed}: noise slots kept {len(wrong_noise)}/"
                f"{len(truth.noise_slots())}, signal slots dropped {len(wrong_signal)}/"
                f"{len(truth.signal_slots())}; Bayes AUC {truth.bayes_test_auc:.4f}"
            )
            synthetic.append(run)
            print(notes[-1], flush=True)
        lines += _summary("synthetic", synthetic)
        try:
            raw = fetch_movielens(os.path.join(tmp, "ml-raw"))
        except (RuntimeError, OSError) as err:
            notes.append(f"MovieLens-100K skipped: the files could not be obtained ({err})")
        else:
            movielens = []
            for seed in range(args.seeds):
                data = os.path.join(tmp, f"ml{seed}")
                convert_movielens(raw, data, split="random", seed=seed)
                movielens.append(
                    _run("movielens", data, os.path.join(tmp, f"m{seed}"), seed, args.steps)
                )
            lines += _summary("movielens", movielens)
    print("\n".join(lines))
    print("\n".join(notes))
    print("goal: >= 4x fewer embedding parameters, AUC diff >= -0.003; synthetic: 0 wrong")
    return 0


if __name__ == "__main__":
    sys.exit(main())
