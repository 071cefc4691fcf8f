"""Mutation check of the suite: does each test fail on the bug it is named after?

Not collected by pytest (no ``test_`` prefix). Run from the repository root::

    PYTHONPATH= TF_CPP_MIN_LOG_LEVEL=2 python tests/mutants.py [--only NAME ...] [--no-before]

For every mutant (a deliberately broken copy of one line of ``src/nwsrec``) it copies
``src`` into a temporary directory, applies the mutant there, and runs

- *after*: the test that should catch it, from this working tree's ``tests/``;
- *before*: the test the issue named, from the tests of ``--base`` (the commit before the
  rewrite), to show it passed the mutant;

with ``PYTHONPATH`` pointing at the mutated copy (cluster tasks inherit it). A run that
fails is "caught", one that passes is "not caught". Prints a markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = "09fff7d"


@dataclasses.dataclass
class Mutant:
    name: str
    path: str  # relative to src/nwsrec
    old: str
    new: str
    after: list[str]
    before: list[str] | None  # None: no test existed


MUTANTS = [
    Mutant(
        "1a resume: train() restarts its step count at 0",
        "training/trainer.py",
        "start = self._checkpoint.restore_latest()",
        "self._checkpoint.restore_latest(); start = 0",
        ["tests/cli/test_search.py::test_rerun_with_more_steps_continues_from_the_checkpoint"],
        ["tests/cli/test_search.py::test_rerun_with_more_steps_continues_from_the_checkpoint"],
    ),
    Mutant(
        "1b resume: the checkpoint is ignored (trains from scratch)",
        "training/checkpoints.py",
        "if self.restore_directory == self.directory:",
        "return 0\n        if self.restore_directory == self.directory:",
        [
            "tests/cli/test_search.py::test_rerun_with_more_steps_continues_from_the_checkpoint",
            "tests/cli/test_search.py::test_rerunning_the_same_command_resumes_finished_steps",
        ],
        [
            "tests/cli/test_search.py::test_search_writes_result_plot_params_and_resumes",
            "tests/cli/test_search.py::test_rerun_with_more_steps_continues_from_the_checkpoint",
        ],
    ),
    Mutant(
        "2 run_task: a non-chief restores from its own temporary dir",
        "training/distributed.py",
        "result = train_fn(run.task_model_dir(model_dir), run.strategy, model_dir)",
        "d = run.task_model_dir(model_dir)\n        result = train_fn(d, run.strategy, d)",
        [
            "tests/distributed/test_cli_cluster.py::"
            "test_mwms_train_killed_and_restarted_resumes_every_worker_from_the_chiefs_checkpoint"
        ],
        [
            "tests/distributed/test_mwms.py::"
            "test_a_restarted_cluster_resumes_from_the_chiefs_checkpoint"
        ],
    ),
    Mutant(
        "3 make_input_fn: every worker reads every file (no shard)",
        "data/pipeline.py",
        "shard = shard_files(files, knobs.pipeline_id, knobs.num_pipelines)",
        "shard = list(files)",
        [
            "tests/distributed/test_cli_cluster.py::"
            "test_mwms_weights_equal_a_one_process_run_on_the_same_global_batches"
        ],
        [
            "tests/distributed/test_mwms.py::"
            "test_each_worker_reads_its_own_files_and_together_every_file_once"
        ],
    ),
    Mutant(
        "4 MWMS: table gradients applied twice",
        "training/trainer.py",
        "self._updated_tables[name].apply_gradient(as_indexed_slices(grad))",
        "self._updated_tables[name].apply_gradient(as_indexed_slices(grad))\n"
        "                if self.strategy.num_replicas_in_sync > 1:\n"
        "                    self._updated_tables[name].apply_gradient(as_indexed_slices(grad))",
        [
            "tests/distributed/test_cli_cluster.py::"
            "test_mwms_weights_equal_a_one_process_run_on_the_same_global_batches"
        ],
        [
            "tests/distributed/test_mwms.py::test_weights_are_identical_on_both_workers_after_training",
            "tests/distributed/test_mwms.py::test_training_loss_falls",
        ],
    ),
    Mutant(
        "5 cluster search: each worker selects on its own shard of the held-out records",
        "search/select.py",
        "for batch in input_fn(tf.distribute.InputContext()):",
        "import json, os\n"
        "    _task = json.loads(os.environ.get('TF_CONFIG') or '{}').get('task', {})\n"
        "    _ctx = tf.distribute.InputContext(2 if _task else 1, _task.get('index', 0))\n"
        "    for batch in input_fn(_ctx):",
        [
            "tests/distributed/test_cli_cluster.py::"
            "test_mwms_search_chooses_the_same_widths_on_every_worker"
        ],
        None,
    ),
    Mutant(
        "6 NWS layer: pre-training ignored (draws follow the logits)",
        "layers/nws.py",
        "draw_logits = ops.where(pretraining, uniform_logits, draw_logits)",
        "draw_logits = draw_logits",
        [
            "tests/layers/test_nws.py::"
            "test_pretraining_draws_uniformly_over_four_choices_then_follows_probabilities"
        ],
        [
            "tests/layers/test_nws.py::"
            "test_pretraining_draws_uniformly_over_four_choices_then_follows_probabilities"
        ],
    ),
    Mutant(
        "7a search: the selection keeps every slot at full width",
        "search/select.py",
        "c for c, loss in zip(candidates, row, strict=True) if loss <= best + tolerance",
        "max(candidates) for c, loss in zip(candidates, row, strict=True)",
        [
            "tests/test_runs.py::"
            "test_search_on_planted_data_drops_every_noise_slot_and_keeps_every_signal_slot"
        ],
        ["tests/cli/test_demo.py::test_demo_runs_end_to_end_and_prints_the_comparison"],
    ),
    Mutant(
        "7b train --dims: the widths of the file are ignored (full width)",
        "runs.py",
        'params["slot_dims"] = check_slot_dims(',
        "_ignored = check_slot_dims(",
        ["tests/test_runs.py::test_train_with_dims_builds_every_table_at_the_given_width"],
        ["tests/cli/test_demo.py::test_demo_runs_end_to_end_and_prints_the_comparison"],
    ),
]


def _apply(src_copy: str, mutant: Mutant) -> None:
    path = os.path.join(src_copy, "nwsrec", mutant.path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count = text.count(mutant.old)
    if count != 1:
        raise SystemExit(f"mutant {mutant.name!r}: {mutant.old!r} occurs {count} times in {path}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(mutant.old, mutant.new))


SHOW = False


def _run(tests: list[str], cwd: str, src_copy: str, timeout_s: int) -> tuple[str, float]:
    env = dict(os.environ, PYTHONPATH=src_copy, TF_CPP_MIN_LOG_LEVEL="2")
    argv = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
    argv += [f"--timeout={timeout_s}", *tests]
    began = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=timeout_s + 60)
    except subprocess.TimeoutExpired:
        return "caught (hung)", time.monotonic() - began
    took = time.monotonic() - began
    if SHOW:
        lines = done.stdout.decode(errors="replace").splitlines()
        print("\n".join([line for line in lines if line.startswith("E ")][:12]), flush=True)
    if done.returncode == 0:
        return "not caught", took
    if done.returncode == 1:
        return "caught", took
    tail = done.stdout.decode(errors="replace")[-800:]
    return f"error (pytest exit {done.returncode}): {tail!r}", took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="mutant name prefixes")
    parser.add_argument("--no-before", action="store_true", help="skip the old tests")
    parser.add_argument("--base", default=BASE, help="commit of the tests before the rewrite")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per pytest run")
    parser.add_argument("--show", action="store_true", help="print each failure's E lines")
    args = parser.parse_args()
    global SHOW
    SHOW = args.show
    mutants = [m for m in MUTANTS if not args.only or any(m.name.startswith(p) for p in args.only)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="nwsrec-mutants-") as tmp:
        before_dir = os.path.join(tmp, "before")
        if not args.no_before:
            os.makedirs(before_dir)
            archive = subprocess.run(
                ["git", "archive", args.base, "tests", "pyproject.toml"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", before_dir], input=archive, check=True)
        for mutant in mutants:
            src_copy = os.path.join(tmp, "src")
            shutil.rmtree(src_copy, ignore_errors=True)
            shutil.copytree(os.path.join(ROOT, "src"), src_copy)
            _apply(src_copy, mutant)
            after, after_s = _run(mutant.after, ROOT, src_copy, args.timeout)
            before = "no test"
            if mutant.before is not None and not args.no_before:
                before, _ = _run(mutant.before, before_dir, src_copy, args.timeout)
            elif args.no_before:
                before = "not run"
            rows.append((mutant, before, after, after_s))
            print(f"{mutant.name}: before {before}, after {after} ({after_s:.0f}s)", flush=True)
    print()
    print("| mutant | test that catches it | before | after |")
    print("|---|---|---|---|")
    for mutant, before, after, _ in rows:
        tests = "<br>".join(t.split("::")[-1] for t in mutant.after)
        print(f"| {mutant.name} | {tests} | {before} | {after} |")
    return 0 if all(after.startswith("caught") for _, _, after, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
