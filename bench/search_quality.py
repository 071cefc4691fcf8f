"""Search quality: the width search against one width for every slot and the popularity rule.

For each data set (MovieLens-100K, the synthetic task, the Criteo-shaped synthetic task)
and seed, every row below is trained on the same data with the same seed (data seed =
split seed = model seed = NWS seed = the seed) and evaluated on the test split:

- full width: every slot at the largest candidate;
- uniform w: every slot at width w, for every candidate w > 0, plus, at each budget
  F in (1/4, 1/8), the largest integer width whose embedding parameters fit F x full
  (so "the best uniform width within the budget" exists even where no candidate fits);
- popularity @F: the popularity rule of mixed-dimension embeddings (Ginart et al., ISIT
  2021; ``nwsrec.search.baselines.popularity_dims``, alpha = 0.3, the DLRM reference
  code's default) at F x full, and at the search's default point's parameters;
- search (default): ``nwsrec.runs.run_search`` (its one-shot supernet and held-out
  frontier), retrained from scratch at its default point;
- search @F: retrained at the frontier point of budget F (``run_train(...,
  dims_path=search_result.json, budget=F)``, as ``nwsrec train --budget F``);
- ... warm: the same widths, started from the supernet's weights and fine-tuned
  (``run_train(..., warm_start=True)``, ``nwsrec train --warm-start``);
- check: ...: random mixtures of widths and drops of the largest slots (first seed,
  ``--mixtures``), retrained for the rank check.

Embedding parameters are the trained model's (rows x width over every table, bias
tables included); a slot at width 0 is dropped with its bias.

Statistics: mean +- standard error over the seeds; differences are paired by seed.
Goals, printed met / not met ("tie" when a margin is smaller than its standard error,
which is not a win):

- Equal accuracy: a search point with mean test AUC >= full width - 0.001 using at most
  half the embedding parameters of the smallest uniform width that reaches that AUC.
- Equal memory: at budgets 1/4 and 1/8, search @F's test AUC >= the best uniform width
  within the budget (a deficit of more than one standard error loses), by +0.002 on the
  planted sets (synthetic, criteo), and against popularity @F.
- Synthetic truth: every noise slot 0 and every signal slot > 0 at the search's default
  point, on every seed.
- Trust: Kendall's tau >= 0.6 between the search's estimate of a choice (its held-out
  loss on the finished supernet, ``nwsrec.runs.load_search_evaluator``) and the choice's
  retrained test AUC, over every retrained choice of a seed (judged on a seed with at
  least 20 choices: the first, with ``--mixtures``).
- Cost: the search with its selection <= 1.5x one full-width training (wall time, and CPU
  time of the process, steadier on a shared machine); table memory <= 1.2x.
- Warm start: each warm row against its scratch row (AUC, time, best step).

Every run uses the task's own defaults (early stopping on held-out AUC); ``--steps N``
fixes every run's length instead. A MovieLens seed is ~20 runs of 30-60 s on 2 cores.

Output: the tables on stdout, progress lines while it runs, ``--out`` (a JSON of every
run) and a PNG next to it (test AUC vs embedding parameters per data set).

Run: PYTHONPATH=src .venv/bin/python bench/search_quality.py [--datasets movielens,synthetic]
     [--seeds 5] [--steps N] [--quick] [--movielens-raw DIR] [--out runs/bench/search_quality.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATASETS = ("movielens", "synthetic", "criteo")
MODELS = {"movielens": "movielens", "synthetic": "synthetic", "criteo": "criteo_synth"}
#: Training steps per data set (the search runs 3x as many); see the module docstring for
#: what they cost. The tasks' own defaults are 5x longer (1500 / 2000).
DEFAULT_STEPS = {"movielens": 300, "synthetic": 600, "criteo": 300}
QUICK_STEPS = 200
BUDGETS = (1 / 4, 1 / 8)
ACCURACY_MARGIN = 0.001
#: The trust goal is judged on a seed with at least this many retrained choices.
RANK_CHOICES = 20


def _label(fraction: float) -> str:
    return f"1/{round(1 / fraction)}"


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.mean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, se


def _verdict(diffs: list[float], threshold: float) -> tuple[str, float, float]:
    """'met' when mean(diffs) - threshold > its standard error, 'tie' within it."""
    mean, se = _mean_se(diffs)
    margin = mean - threshold
    if math.isnan(se):
        return ("met" if margin > 0 else "not met"), margin, se
    if abs(margin) <= se:
        return "tie", margin, se
    return ("met" if margin > 0 else "not met"), margin, se


def _prepare_data(dataset: str, seed: int, tmp: str, ml_raw: str | None) -> tuple[str, object]:
    """Writes this seed's data; returns (data_dir, truth or None)."""
    data = os.path.join(tmp, f"{dataset}-data-{seed}")
    if dataset == "synthetic":
        from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic

        return data, generate_synthetic(data, SyntheticConfig(seed=seed))
    if dataset == "criteo":
        from nwsrec.data.criteo import CriteoConfig, generate_criteo

        return data, generate_criteo(data, CriteoConfig(seed=seed))
    from nwsrec.data.movielens import convert_movielens

    convert_movielens(ml_raw, data, split="random", seed=seed)
    return data, None


def _movielens_raw(tmp: str, given: str | None) -> str:
    from nwsrec.data.movielens import fetch_movielens

    candidates = [given] if given else ["runs/data/movielens-100k/raw"]
    for path in candidates:
        if path and os.path.exists(os.path.join(path, "ml-100k.inter")):
            return fetch_movielens(os.path.join(tmp, "ml-raw"), from_dir=path)
    return fetch_movielens(os.path.join(tmp, "ml-raw"))


class _Seed:
    """The runs of one data set and seed."""

    def __init__(
        self,
        dataset: str,
        seed: int,
        data: str,
        out: str,
        steps: int,
        candidates: list[int] | None = None,
    ) -> None:
        from nwsrec.features import read_vocab_file
        from nwsrec.runs import resolve_params, scale_steps

        self.dataset, self.seed, self.out = dataset, seed, out
        overrides: dict = {"seed": seed, "nws_seed": seed}
        if candidates:
            overrides["candidate_sizes"] = list(candidates)
        cls, params = resolve_params(MODELS[dataset], overrides, data_dir=data)
        self.cls = cls
        self.params = params if steps is None else scale_steps(params, steps)
        self.estimate = None  # sizes -> the search's held-out loss, once it has run
        self._trained: dict[tuple, dict] = {}
        vocab = read_vocab_file(params["vocab_file_path"], params.get("vocab_size_per_slot"))
        slots = params.get("slots") or sorted(vocab)
        self.slot_rows = {int(s): int(vocab[int(s)]) for s in slots}
        self.candidates = sorted(int(c) for c in params["candidate_sizes"])
        self.rows: dict[str, dict] = {}

    def _record(self, name: str, report, wall: float, cpu: float, **extra) -> dict:
        row = {
            "auc": float(report.auc),
            "params": int(report.embedding_parameters),
            "bytes": int(report.embedding_bytes),
            "wall_s": wall,
            # CPU seconds of this process (every thread): on a shared machine a steadier
            # measure of a run's cost than its wall time.
            "cpu_s": cpu,
            "sizes": {str(k): v for k, v in report.slot_dims.items()},
            **extra,
        }
        self.rows[name] = row
        print(
            f"  [{self.dataset} seed {self.seed}] {name:<26} AUC {row['auc']:.4f}  "
            f"{row['params']:>10,} params  {wall:5.0f}s",
            flush=True,
        )
        return row

    def train(self, name: str, dims: dict[int, int] | None = None, **kwargs) -> dict:
        from nwsrec.runs import run_train
        from nwsrec.search.result import read_search_dims

        warm = bool(kwargs.get("warm_start"))
        if dims is None and "dims_path" in kwargs and not warm:
            dims = read_search_dims(
                kwargs["dims_path"],
                budget=kwargs.get("budget"),
                max_bytes=kwargs.get("max_bytes"),
            )
            kwargs = {}
        if dims is not None:
            key = tuple(sorted((int(k), int(v)) for k, v in dims.items()))
            if key in self._trained:  # the same widths as a row already trained
                row = {**self._trained[key], "same_as": self._trained[key]["name"]}
                self.rows[name] = row
                print(f"  [{self.dataset} seed {self.seed}] {name:<26} = {row['same_as']}")
                return row
        params = dict(self.params)
        if dims is not None:
            # Widths outside the candidates (popularity rule, integer uniform widths)
            # are trained as they are: fixed mode only checks them against the list.
            params["slot_dims"] = dims
            params["candidate_sizes"] = sorted(set(self.candidates) | set(dims.values()))
        start, cpu = time.perf_counter(), time.process_time()
        report = run_train(
            self.cls, params, os.path.join(self.out, name.replace(" ", "_").replace("/", "-")),
            progress=False, **kwargs,
        )  # fmt: skip
        row = self._record(name, report, time.perf_counter() - start, time.process_time() - cpu)
        row["name"] = name
        stopping = report.early_stopping or {}
        row["best_step"], row["stopped_step"] = stopping.get("best_step"), report.step
        row["stopped_step"] = stopping.get("stopped_step", report.step)
        if warm:  # the same widths as a scratch row: kept out of the rank check
            row["warm_start"] = report.warm_start
            return row
        if self.estimate is not None and dims is not None:
            row["estimate"] = self.estimate(dims)
        if dims is not None:
            self._trained[tuple(sorted((int(k), int(v)) for k, v in dims.items()))] = row
        return row

    def search(self) -> tuple[dict, str]:
        from nwsrec.runs import load_search_evaluator, run_search

        start, cpu = time.perf_counter(), time.process_time()
        search_dir = os.path.join(self.out, "search")
        report = run_search(self.cls, self.params, search_dir, progress=False)
        wall = time.perf_counter() - start
        row = self._record("search run (supernet)", report, wall, time.process_time() - cpu)
        row["evaluations"] = (report.frontier or {}).get("evaluations")
        row["selection_s"] = (report.frontier or {}).get("selection_seconds")
        evaluator = load_search_evaluator(self.cls, self.params, search_dir)
        candidates = set(self.candidates)

        def estimate(dims: dict[int, int]) -> float | None:
            if not all(int(v) in candidates for v in dims.values()):
                return None  # a width the supernet has no choice for
            return float(evaluator.losses({str(k): int(v) for k, v in dims.items()}).mean())

        self.estimate = estimate
        for other in self._trained.values():  # rows trained before the search
            key = {int(k): int(v) for k, v in other["sizes"].items()}
            other["estimate"] = estimate({s: key.get(s, 0) for s in self.slot_rows})
        return row, report.search_result_path


def _mixtures(slot_rows: dict[int, int], candidates: list[int], count: int, seed: int):
    """Choices of widths for the rank check: random mixtures and drops of the big slots."""
    import random

    rng = random.Random(1000 + seed)
    slots = sorted(slot_rows)
    by_rows = sorted(slots, key=lambda s: -slot_rows[s])
    full = max(candidates)
    out = {
        "drop largest slot": {s: (0 if s == by_rows[0] else full) for s in slots},
        "drop 2 largest, rest 2": {s: (0 if s in by_rows[:2] else 2) for s in slots},
    }
    while len(out) < count:
        dims = {s: rng.choice(candidates) for s in slots}
        if any(dims.values()):
            out[f"mixture {len(out) - 1}"] = dims
    return dict(list(out.items())[:count])


def _run_seed(
    dataset: str, seed: int, data: str, out: str, steps, truth, candidates=None, mixtures=0
) -> dict:
    from nwsrec.search.baselines import popularity_dims, popularity_parameters, uniform_dims

    run = _Seed(dataset, seed, data, out, steps, candidates)
    full_width = run.candidates[-1]
    widths = [w for w in run.candidates if 0 < w < full_width]
    # The narrowest uniform width first: the first run of a process also pays for
    # TensorFlow's start-up, which would inflate the cost goal's full-width wall time.
    run.train(f"uniform {widths[0]}", uniform_dims(run.slot_rows, widths[0]))
    full = run.train(f"full width ({full_width})", uniform_dims(run.slot_rows, full_width))
    search, result_path = run.search()
    for w in widths[1:]:
        run.train(f"uniform {w}", uniform_dims(run.slot_rows, w))
    for fraction in BUDGETS:
        budget = int(fraction * full["params"])
        # The largest integer width w with (w + 1) x rows <= budget (bias rows count).
        w = budget // sum(run.slot_rows.values()) - 1
        if w >= 1 and w not in run.candidates:
            run.train(f"uniform {w}", uniform_dims(run.slot_rows, w))
        dims = popularity_dims(run.slot_rows, budget, max_width=full_width)
        run.train(f"popularity @{_label(fraction)}", dims)
    default = run.train("search (default)", dims_path=result_path)
    # The popularity rule keeps every slot (width >= 1): it fits the default point's
    # parameters only when those are >= width 1 everywhere.
    if default["params"] >= popularity_parameters(run.slot_rows, uniform_dims(run.slot_rows, 1)):
        dims = popularity_dims(run.slot_rows, default["params"], max_width=full_width)
        run.train("popularity @search", dims)
    run.train("search (default) warm", dims_path=result_path, warm_start=True)
    for fraction in BUDGETS:
        for warm in (False, True):
            name = f"search @{_label(fraction)}" + (" warm" if warm else "")
            try:
                run.train(name, dims_path=result_path, budget=fraction, warm_start=warm)
            except ValueError as err:  # no frontier point within the budget
                print(f"  [{dataset} seed {seed}] {name} skipped: {err}")
    for name, dims in _mixtures(run.slot_rows, run.candidates, mixtures, seed).items():
        run.train(f"check: {name}", dims)
    out = {"rows": run.rows, "full_width": full_width, "candidates": run.candidates}
    if truth is not None:
        out["noise_slots"] = truth.noise_slots()
        out["signal_slots"] = truth.signal_slots()
        out["bayes_test_auc"] = truth.bayes_test_auc
    out["cost"] = {
        "search_wall_s": search["wall_s"],
        "full_wall_s": full["wall_s"],
        "search_cpu_s": search["cpu_s"],
        "full_cpu_s": full["cpu_s"],
        "search_bytes": search["bytes"],
        "full_bytes": full["bytes"],
        "evaluations": search.get("evaluations"),
        "selection_s": search.get("selection_s"),
    }
    return out


def _rank_check(seeds: list[dict]) -> list[str]:
    """Kendall tau between the search's estimate and the retrained test AUC, per seed."""
    from nwsrec.search.stats import kendall_tau

    lines = []
    for s in seeds:
        rows = {}
        for name, row in s["rows"].items():
            if row.get("estimate") is None or "same_as" in row:
                continue
            rows[name] = row
        if len(rows) < 3:
            continue
        names = sorted(rows)
        tau = kendall_tau([-rows[n]["estimate"] for n in names], [rows[n]["auc"] for n in names])
        s["tau"] = tau
        if len(names) < RANK_CHOICES:  # tau over a handful of choices is mostly noise
            verdict = f"not judged: fewer than {RANK_CHOICES} choices, see --mixtures"
        else:
            verdict = "met" if tau >= 0.6 else "not met"
        lines.append(
            f"trust (seed {s['seed']}): Kendall tau {tau:+.3f} over {len(names)} retrained "
            f"choices ({verdict}, goal >= 0.6)"
        )
    return lines


def _row_order(name: str, seeds: list[dict]) -> tuple:
    params = statistics.mean(s["rows"][name]["params"] for s in seeds)
    kind = 0 if name.startswith(("full", "uniform")) else 1 if name.startswith("pop") else 2
    return (kind, -params)


def _table(dataset: str, seeds: list[dict], steps: int) -> tuple[list[str], list[str], dict]:
    names = [n for n in seeds[0]["rows"] if all(n in s["rows"] for s in seeds)]
    names = [n for n in names if n != "search run (supernet)" and not n.startswith("check:")]
    names.sort(key=lambda n: _row_order(n, seeds))
    full_name = next(n for n in names if n.startswith("full"))
    full_p = statistics.mean(s["rows"][full_name]["params"] for s in seeds)
    summary = {}
    lines = [
        f"== {dataset}: {len(seeds)} seeds, "
        + (f"{steps} training steps ==" if steps else "the task's defaults (early stopping) =="),
        f"{'row':<24}{'emb. params':>22}{'x full':>8}{'test AUC':>20}{'AUC - full':>22}",
    ]
    for name in names:
        p = [s["rows"][name]["params"] for s in seeds]
        auc = [s["rows"][name]["auc"] for s in seeds]
        diff = [s["rows"][name]["auc"] - s["rows"][full_name]["auc"] for s in seeds]
        pm, ps = _mean_se(p)
        am, as_ = _mean_se(auc)
        dm, ds = _mean_se(diff)
        summary[name] = {"params": pm, "params_se": ps, "auc": am, "auc_se": as_, "diff": dm}
        same = {s["rows"][name].get("same_as") for s in seeds} - {None}
        lines.append(
            f"{name:<24}{pm:>12,.0f} +- {ps:<6,.0f}{pm / full_p:>8.3f}"
            f"{am:>12.4f} +- {as_:.4f}{dm:>+14.4f} +- {ds:.4f}"
            + (f"  (= {', '.join(sorted(same))})" if same else "")
        )
    goals = _goals(dataset, seeds, names, full_name, full_p, summary)
    return lines, goals, summary


def _paired(seeds: list[dict], a: str, b: str) -> list[float]:
    return [s["rows"][a]["auc"] - s["rows"][b]["auc"] for s in seeds]


def _goals(dataset, seeds, names, full_name, full_p, summary) -> list[str]:
    lines = []
    uniform = [n for n in names if n.startswith(("full", "uniform"))]
    candidates_uniform = [n for n in uniform if n.startswith("full") or _is_candidate(n, seeds)]
    searched = [n for n in names if n.startswith("search")]
    # Equal accuracy.
    reach = [
        n for n in candidates_uniform if statistics.mean(_paired(seeds, n, full_name)) >= -0.001
    ]
    smallest = min(reach, key=lambda n: summary[n]["params"])
    good = [
        n
        for n in searched
        if statistics.mean(_paired(seeds, n, full_name)) >= -ACCURACY_MARGIN
        and summary[n]["params"] <= 0.5 * summary[smallest]["params"]
    ]
    detail = ", ".join(
        f"{n}: {summary[n]['params'] / summary[smallest]['params']:.2f}x params, "
        f"AUC {summary[n]['diff']:+.4f}"
        for n in searched
    )
    lines.append(
        f"equal accuracy: {'met' if good else 'not met'} (smallest uniform within 0.001 of "
        f"full: {smallest}; {detail})"
    )
    # Equal memory.
    points = [(f"search @{_label(f)}", f"popularity @{_label(f)}", f * full_p) for f in BUDGETS]
    points.append(("search (default)", "popularity @search", summary["search (default)"]["params"]))
    for search, pop, budget in points:
        if search not in summary:
            lines.append(f"equal memory {search}: not measured (no frontier point fits)")
            continue
        within = [n for n in uniform if summary[n]["params"] <= budget * (1 + 1e-9)]
        parts = []
        verdicts = []
        # The rule: >= the best uniform width within the budget (a deficit of
        # more than one standard error is a loss), and by +0.002 on the planted sets.
        margin = 0.002 if dataset in ("synthetic", "criteo") else 0.0
        if within:
            best = max(within, key=lambda n: summary[n]["auc"])
            diffs = _paired(seeds, search, best)
            m, se = _mean_se(diffs)
            se = 0.0 if math.isnan(se) else se
            if margin:
                ok = m - margin >= -se
            else:
                ok = m >= -se
            verdicts.append("met" if ok else "not met")
            parts.append(
                f"vs {best} (goal >= {'+' if margin else ''}{margin:g}, a deficit > 1 s.e. "
                f"loses): {'met' if ok else 'not met'}, margin {m:+.4f} +- {se:.4f}"
            )
        else:
            parts.append("no uniform width fits")
        if pop in summary:
            v, m, se = _verdict(_paired(seeds, search, pop), 0.0)
            parts.append(f"vs {pop}: {v}, margin {m:+.4f} +- {se:.4f}")
        ok = verdicts and all(v == "met" for v in verdicts)
        lines.append(
            f"equal memory {search} ({summary[search]['params'] / full_p:.3f}x full): "
            f"{'met' if ok else 'not met'} ({'; '.join(parts)})"
        )
    # Synthetic truth.
    if "noise_slots" in seeds[0]:
        wrong = []
        for s in seeds:
            sizes = {int(k): v for k, v in s["rows"]["search (default)"]["sizes"].items()}
            kept = [n for n in s["noise_slots"] if sizes.get(n, 0) != 0]
            dropped = [n for n in s["signal_slots"] if sizes.get(n, 0) == 0]
            wrong.append(f"{len(kept)}/{len(s['noise_slots'])} noise kept, "
                         f"{len(dropped)}/{len(s['signal_slots'])} signal dropped")  # fmt: skip
        ok = all(w.startswith("0/") and " 0/" in w for w in wrong)
        bayes = statistics.mean(s["bayes_test_auc"] for s in seeds)
        lines.append(
            f"synthetic truth: {'met' if ok else 'not met'} (per seed: {'; '.join(wrong)}; "
            f"Bayes AUC {bayes:.4f})"
        )
    # Cost.
    ratio = [s["cost"]["search_wall_s"] / s["cost"]["full_wall_s"] for s in seeds]
    memory = [s["cost"]["search_bytes"] / s["cost"]["full_bytes"] for s in seeds]
    rm, rs = _mean_se(ratio)
    cpu = [
        s["cost"]["search_cpu_s"] / s["cost"]["full_cpu_s"]
        for s in seeds
        if s["cost"].get("full_cpu_s")
    ]
    mm = statistics.mean(memory)
    evaluations = [
        f"{s['cost'].get('evaluations')} in {s['cost'].get('selection_s') or 0:.0f}s" for s in seeds
    ]
    lines.append(
        f"cost: {'met' if rm <= 1.5 and mm <= 1.2 else 'not met'} (search with its selection: "
        f"{rm:.2f}x +- {rs:.2f} the wall time of a full-width training [goal <= 1.5x]"
        + (f", {statistics.mean(cpu):.2f}x its CPU time" if cpu else "")
        + ", "
        f"{evaluations} frontier evaluations; search table memory {mm:.2f}x full width's "
        "[goal <= 1.2x])"
    )
    lines += _warm_start_lines(seeds, names)
    lines += _rank_check(seeds)
    if len(seeds) < 2:
        lines = [
            line if line.startswith("trust") else f"[1 seed: no standard error] {line}"
            for line in lines
        ]
    return lines


def _warm_start_lines(seeds: list[dict], names: list[str]) -> list[str]:
    """Warm-started retrains (from the supernet's weights) against retrains from scratch
    at the same widths: test AUC, wall time and steps, paired by seed."""
    lines = []
    for warm in [n for n in names if n.endswith(" warm")]:
        scratch = warm[: -len(" warm")]
        if scratch not in names:
            continue
        m, se = _mean_se(_paired(seeds, warm, scratch))
        se = 0.0 if math.isnan(se) else se
        key = "cpu_s" if all(s["rows"][warm].get("cpu_s") for s in seeds) else "wall_s"
        wall = statistics.mean(s["rows"][warm][key] / s["rows"][scratch][key] for s in seeds)
        steps = [
            (s["rows"][warm].get("best_step") or 0, s["rows"][scratch].get("best_step") or 0)
            for s in seeds
        ]
        verdict = "better" if m > se else "worse" if m < -se else "tie"
        lines.append(
            f"warm start {scratch}: {verdict}, AUC {m:+.4f} +- {se:.4f} vs from scratch; "
            f"{wall:.2f}x its {'CPU' if key == 'cpu_s' else 'wall'} time; best step "
            f"{statistics.mean(w for w, _ in steps):.0f} "
            f"vs {statistics.mean(c for _, c in steps):.0f}"
        )
    if "search (default) warm" in names:
        total = [
            (s["cost"]["search_wall_s"] + s["rows"]["search (default) warm"]["wall_s"])
            / s["cost"]["full_wall_s"]
            for s in seeds
        ]
        lines.append(
            f"a model out of a search (search + warm fine-tune of its default point): "
            f"{statistics.mean(total):.2f}x the wall time of one full-width training"
        )
        if all(s["rows"]["search (default) warm"].get("cpu_s") for s in seeds):
            cpu = [
                (s["cost"]["search_cpu_s"] + s["rows"]["search (default) warm"]["cpu_s"])
                / s["cost"]["full_cpu_s"]
                for s in seeds
            ]
            lines[-1] += f", {statistics.mean(cpu):.2f}x its CPU time"
    return lines


def _is_candidate(name: str, seeds: list[dict]) -> bool:
    return int(name.split()[1]) in seeds[0]["candidates"]


def _plot(results: dict, path: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, (dataset, entry) in zip(axes[0], results.items(), strict=True):
        s = entry["summary"]
        uniform = sorted(
            (n for n in s if n.startswith(("full", "uniform"))), key=lambda n: s[n]["params"]
        )
        ax.errorbar(
            [s[n]["params"] for n in uniform], [s[n]["auc"] for n in uniform],
            yerr=[s[n]["auc_se"] for n in uniform], marker="o", label="uniform width",
        )  # fmt: skip
        for n in uniform:
            ax.annotate(n.split()[-1].strip("()"), (s[n]["params"], s[n]["auc"]), fontsize=7)
        for prefix, marker, label in (("popularity", "s", "popularity rule"),
                                      ("search", "*", "width search")):  # fmt: skip
            names = [n for n in s if n.startswith(prefix)]
            if names:
                ax.errorbar(
                    [s[n]["params"] for n in names], [s[n]["auc"] for n in names],
                    xerr=[0 if math.isnan(s[n]["params_se"]) else s[n]["params_se"] for n in names],
                    yerr=[0 if math.isnan(s[n]["auc_se"]) else s[n]["auc_se"] for n in names],
                    marker=marker, linestyle="none", markersize=9, label=label,
                )  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("embedding parameters")
        ax.set_ylabel("test AUC")
        ax.set_title(f"{dataset} ({entry['seeds']} seeds, mean +- s.e.)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _tables_from(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    for dataset, entry in results.items():
        lines, goals, summary = _table(dataset, entry["runs"], entry["steps"])
        entry["summary"], entry["seeds"] = summary, len(entry["runs"])
        print("\n".join([*lines, *goals, ""]))
    plot = _plot(results, os.path.splitext(path)[0] + ".png")
    print(f"plot: {plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default 5; --quick 2)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps of every run (default: the tasks' own, early-stopped)",
    )
    parser.add_argument(
        "--mixtures",
        type=int,
        default=14,
        help="random choices of widths retrained on the first seed for the rank check",
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} steps, 2 seeds")
    parser.add_argument("--movielens-raw", default=None, help="a directory with ml-100k.*")
    parser.add_argument(
        "--candidates",
        default=None,
        help="comma-separated candidate sizes of every slot (default: the task's)",
    )
    parser.add_argument("--out", default="runs/bench/search_quality.json")
    parser.add_argument(
        "--tables-from", default=None, help="print the tables and plot of a saved --out JSON"
    )
    args = parser.parse_args(argv)
    if args.tables_from:
        return _tables_from(args.tables_from)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        parser.error(f"`--datasets` must be among {', '.join(DATASETS)}. Received: {unknown[0]}")
    seeds = args.seeds or (2 if args.quick else 5)
    candidates = None
    if args.candidates:
        try:
            candidates = sorted(int(c) for c in args.candidates.split(","))
        except ValueError:
            parser.error(f"`--candidates` must be integers. Received: {args.candidates!r}")
    results: dict = {}
    report: list[str] = []
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in datasets:
            steps = args.steps or (QUICK_STEPS if args.quick else None)
            try:
                ml_raw = _movielens_raw(tmp, args.movielens_raw) if dataset == "movielens" else None
            except (RuntimeError, OSError) as err:
                report.append(f"== {dataset}: skipped, the files could not be obtained ({err})")
                print(report[-1], flush=True)
                continue
            runs = []
            start = time.perf_counter()
            for seed in range(seeds):
                print(f"[{dataset}] seed {seed + 1}/{seeds}", flush=True)
                data, truth = _prepare_data(dataset, seed, tmp, ml_raw)
                out = os.path.join(tmp, f"{dataset}-runs-{seed}")
                runs.append(
                    _run_seed(
                        dataset,
                        seed,
                        data,
                        out,
                        steps,
                        truth,
                        candidates,
                        mixtures=args.mixtures if seed == 0 else 0,
                    )  # fmt: skip
                )
                runs[-1]["seed"] = seed
                partial = {**results, dataset: {"seeds": len(runs), "steps": steps, "runs": runs}}
                with open(args.out, "w", encoding="utf-8") as f:
                    json.dump(partial, f, indent=1)
                shutil.rmtree(data, ignore_errors=True)
                shutil.rmtree(out, ignore_errors=True)
            lines, goals, summary = _table(dataset, runs, steps)
            lines.append(f"({time.perf_counter() - start:.0f}s for {seeds} seeds)")
            results[dataset] = {"seeds": seeds, "steps": steps, "runs": runs, "summary": summary,
                                "goals": goals}  # fmt: skip
            report += [*lines, *goals, ""]
            print("\n".join([*lines, *goals]), flush=True)
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=1)
    plot = _plot(results, os.path.splitext(args.out)[0] + ".png") if results else None
    print("\n".join(report))
    print(f"results: {args.out}" + (f", plot: {plot}" if plot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
