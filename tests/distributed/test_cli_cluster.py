"""``nwsrec train`` / ``nwsrec search`` on 127.0.0.1 clusters, started as users start them.

Every task is the ``nwsrec`` command (``cli_task.py`` runs ``nwsrec.cli.main.main`` and
only records what each task did) with its own ``TF_CONFIG`` and ``--strategy``; so the
path the CLI really takes runs here: ``run_task``, the chief's model dir and the other
tasks' temporary ones, ``restore_dir``, the non-chief's silent return, nwsrec's own input
pipeline (``make_input_fn``, its iterator checkpointed).

- MWMS ``train`` (2 workers): killed (SIGKILL) once the chief has checkpointed, restarted
  on a new cluster; both workers resume from the chief's checkpoint, and the weights and
  losses equal a one-process run on the same global batches (``cycle_length=2`` makes
  one process read file 0 and file 1 side by side, as the two workers do).
- MWMS ``search``: run, restarted with more steps; the chosen widths, the choice
  probabilities and the held-out losses are the same on both workers.
- MWMS ``search`` stopped early (``early_stopping_patience``), restarted with more steps
  and its best held-out step before the restart: every worker restores the chief's best
  weights (a non-chief's own directory is a new temporary one in each run and lacks
  them) and chooses the same widths.
- PS ``search`` (chief, 2 workers, 2 ps): run, every task ended, a new cluster resumes
  from the chief's checkpoint into fresh ps tasks; then PS ``train --dims`` of its result.

Both MWMS findings of the first version of these tests are fixed and checked here: a
restarted MWMS run follows an uninterrupted one step by step (each worker restores its own
input position, not the chief's), and a cluster's evaluation covers every test example
once, equal to a one-process ``nwsrec evaluate`` of the same checkpoint.

Each process has a timeout and is killed in a ``finally``. Marked ``cluster``
(``-m "not cluster"`` leaves them out).
"""

from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest
from cluster import Task, end, log_tail, make_cluster, start_process, wait_all

pytestmark = pytest.mark.cluster

CLI_TASK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_task.py")
TIMEOUT_S = 240
COMMON = [
    "--model",
    "synthetic",
    "--batch-size",
    "64",
    "--no-progress",
    "--param",
    "hidden_units=[8]",
    "--param",
    "log_every_steps=1",
    "--param",
    "checkpoint_every_steps=4",
    # Every run trains to its --steps exactly (the tasks' early stopping would end a run
    # at its best held-out step and restore those weights).
    "--param",
    "early_stopping_patience=0",
    # Records in file order: a one-process run reads the same global batches only
    # without the (per-worker) seeded shuffle.
    "--param",
    "shuffle_buffer=0",
    "--param",
    "shuffle_files=false",
]
SEARCH = [
    "--param",
    "pretraining_steps=2",
    "--param",
    "warmup_steps=2",
    "--param",
    "arch_warmup_steps=2",
    "--param",
    "holdout_every=4",
    "--param",
    "selection_batches=2",
    "--param",
    "width_selection=holdout",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic

    out = tmp_path_factory.mktemp("cli-cluster-data")
    config = SyntheticConfig(
        num_train=2048,
        num_test=512,
        num_files=4,
        pair_ranks=(1, 2),
        num_noise_slots=2,
        vocab_size=50,
    )
    generate_synthetic(str(out), config)
    return str(out)


def _start(out_dir: str, cluster: dict | None, argv: list[str], jobs: tuple[str, ...]) -> list:
    """Starts ``nwsrec ARGV`` for every task of ``cluster`` (or one task without one)."""
    os.makedirs(out_dir, exist_ok=True)
    tasks = []
    if cluster is None:
        record = os.path.join(out_dir, "single.json")
        return [start_process(out_dir, "single", [CLI_TASK, record, *argv], None)]
    for job in jobs:
        for i in range(len(cluster[job])):
            name = f"{job}-{i}"
            tf_config = {"cluster": dict(cluster), "task": {"type": job, "index": i}}
            record = os.path.join(out_dir, f"{name}.json")
            tasks.append(start_process(out_dir, name, [CLI_TASK, record, *argv], tf_config))
    return tasks


def _record(out_dir: str, name: str) -> dict:
    with open(os.path.join(out_dir, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def _latest_step(model_dir: str) -> int:
    with open(os.path.join(model_dir, "checkpoint"), encoding="utf-8") as f:
        match = re.search(r'^model_checkpoint_path: "ckpt-(\d+)"', f.read(), re.M)
    assert match, f"no checkpoint in {model_dir}"
    return int(match.group(1))


def _wait_for_file(path: str, tasks: list[Task], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(path):
        for task in tasks:
            if task.process.poll() is not None:
                raise AssertionError(
                    f"task {task.name} exited ({task.process.returncode}) before {path} "
                    f"was written:\n{log_tail(task.log_path)}"
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} not written within {timeout_s}s")
        time.sleep(0.05)


def _evaluate_alone(model_dir: str, out_dir: str) -> dict:
    """``nwsrec evaluate --json`` of the newest checkpoint of ``model_dir``, one process."""
    tasks = _start(out_dir, None, ["evaluate", "--model-dir", model_dir, "--json"], ())
    try:
        wait_all(tasks, timeout_s=TIMEOUT_S)
    finally:
        end(tasks)
    with open(tasks[0].log_path, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line.startswith("{")]
    assert lines, log_tail(tasks[0].log_path)
    return json.loads(lines[-1])


def _checkpoint_values(prefix: str) -> dict[str, np.ndarray]:
    """Every float variable of a checkpoint (not the input iterator's state)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    out = {}
    for name, dtype in reader.get_variable_to_dtype_map().items():
        if "OBJECT_GRAPH" in name or "iterator" in name or not dtype.is_floating:
            continue
        out[name] = reader.get_tensor(name)
    return out


def _train_losses(model_dir: str) -> dict[int, float]:
    """``{step: loss}`` of the event files of ``model_dir/train`` (the last value wins)."""
    import glob

    import tensorflow as tf

    events = []
    for path in glob.glob(os.path.join(model_dir, "train", "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "loss":
                    events.append(
                        (event.wall_time, event.step, float(tf.make_ndarray(value.tensor)))
                    )
    return {step: loss for _, step, loss in sorted(events)}


# ------------------------------------------------------------------------- MWMS train


@pytest.fixture(scope="module")
def mwms_train(data_dir, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mwms-train"))
    model_dir = os.path.join(root, "model")
    base = ["train", *COMMON, "--data-dir", data_dir, "--model-dir", model_dir]
    began = time.monotonic()
    # 1. A long run, killed once the chief has written its first checkpoint.
    tasks: list[Task] = []
    with make_cluster({"worker": 2}) as cluster:
        try:
            argv = [*base, "--steps", "100000", "--strategy", "mwms"]
            tasks = _start(os.path.join(root, "killed"), cluster, argv, ("worker",))
            # The checkpoint state file is written after ckpt-4's files.
            _wait_for_file(os.path.join(model_dir, "checkpoint"), tasks, TIMEOUT_S)
            still_running = [t.process.poll() is None for t in tasks]
        finally:
            end(tasks)
    assert all(still_running), "the first cluster ended before it was killed"
    resumed_from = _latest_step(model_dir)
    killed_values = _checkpoint_values(os.path.join(model_dir, f"ckpt-{resumed_from}"))
    killed_losses = _train_losses(model_dir)
    steps = resumed_from + 4
    # 2. A new cluster (new ports) resumes; a one-process run on the same global batches.
    tasks = []
    single_dir = os.path.join(root, "single-model")
    with make_cluster({"worker": 2}) as cluster:
        try:
            argv = [*base, "--steps", str(steps), "--strategy", "mwms"]
            tasks = _start(os.path.join(root, "resumed"), cluster, argv, ("worker",))
            single = [
                "train",
                *COMMON,
                "--data-dir",
                data_dir,
                "--model-dir",
                single_dir,
                "--steps",
                str(steps),
                "--strategy",
                "default",
                "--param",
                "cycle_length=2",
            ]
            tasks += _start(os.path.join(root, "single"), None, single, ())
            wait_all(tasks, timeout_s=TIMEOUT_S)
        finally:
            end(tasks)
    evaluated = _evaluate_alone(model_dir, os.path.join(root, "evaluate"))
    return {
        "evaluated": evaluated,
        "model_dir": model_dir,
        "single_dir": single_dir,
        "resumed_from": resumed_from,
        "killed_values": killed_values,
        "killed_losses": killed_losses,
        "steps": steps,
        "workers": [_record(os.path.join(root, "resumed"), f"worker-{i}") for i in (0, 1)],
        "single": _record(os.path.join(root, "single"), "single"),
        "logs": {t.name: t.log_path for t in tasks},
        "wall_s": time.monotonic() - began,
    }


def test_mwms_train_killed_and_restarted_resumes_every_worker_from_the_chiefs_checkpoint(
    mwms_train,
):
    start, steps = mwms_train["resumed_from"], mwms_train["steps"]
    assert start >= 4
    for i, record in enumerate(mwms_train["workers"]):
        assert record["exit_code"] == 0
        assert record["train"] == [{"start_step": start, "step": steps}], i
        assert record["restore_dir"] == mwms_train["model_dir"]
        assert record["is_chief"] == (i == 0)
    # The non-chief wrote into a temporary dir, deleted at the end.
    other = mwms_train["workers"][1]["task_model_dir"]
    assert other != mwms_train["model_dir"] and not os.path.exists(other)
    assert _latest_step(mwms_train["model_dir"]) == steps


def test_only_the_chief_prints_the_report(mwms_train):
    with open(mwms_train["logs"]["worker-0"], encoding="utf-8") as f:
        chief = f.read()
    with open(mwms_train["logs"]["worker-1"], encoding="utf-8") as f:
        other = f.read()
    assert "test AUC" in chief and "test AUC" not in other


def test_mwms_weights_equal_a_one_process_run_on_the_same_global_batches(mwms_train):
    # The chief's checkpoint of the killed run (step K) against the one-process run's.
    start, steps = mwms_train["resumed_from"], mwms_train["steps"]
    cluster = mwms_train["killed_values"]
    single = _checkpoint_values(os.path.join(mwms_train["single_dir"], f"ckpt-{start}"))
    assert cluster.keys() == single.keys() and len(cluster) > 10
    for name, value in cluster.items():
        np.testing.assert_allclose(value, single[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # Not vacuous: 4 more steps move most variables far beyond the tolerance.
    later = _checkpoint_values(os.path.join(mwms_train["single_dir"], f"ckpt-{steps}"))
    moved = sum(not np.allclose(single[k], later[k], rtol=1e-3, atol=1e-4) for k in single)
    assert moved >= len(single) // 2


def test_mwms_losses_equal_a_one_process_run_step_by_step(mwms_train):
    start = mwms_train["resumed_from"]
    cluster = mwms_train["killed_losses"]
    single = _train_losses(mwms_train["single_dir"])
    assert set(range(1, start + 1)) <= set(cluster)
    for step in range(1, start + 1):
        assert cluster[step] == pytest.approx(single[step], rel=1e-5), step


def test_a_restarted_mwms_run_continues_on_the_batches_of_an_uninterrupted_run(mwms_train):
    steps = mwms_train["steps"]
    cluster = _checkpoint_values(os.path.join(mwms_train["model_dir"], f"ckpt-{steps}"))
    single = _checkpoint_values(os.path.join(mwms_train["single_dir"], f"ckpt-{steps}"))
    for name, value in cluster.items():
        np.testing.assert_allclose(value, single[name], rtol=1e-5, atol=1e-6, err_msg=name)
    resumed, uninterrupted = (
        _train_losses(mwms_train["model_dir"]),
        _train_losses(mwms_train["single_dir"]),
    )
    for step in range(mwms_train["resumed_from"] + 1, steps + 1):
        assert resumed[step] == pytest.approx(uninterrupted[step], rel=1e-5), step


def test_mwms_evaluation_covers_every_test_example_once_on_every_worker(mwms_train):
    # The cluster's report (every worker: the shards' labels and logits are gathered)
    # against a one-process `nwsrec evaluate` of the chief's final checkpoint.
    alone = mwms_train["evaluated"]
    assert alone["step"] == mwms_train["steps"] and alone["num_examples"] == 512
    for record in mwms_train["workers"]:
        report = record["reports"][0]
        assert report["step"] == mwms_train["steps"]
        assert report["num_examples"] == 512
        assert report["log_loss"] == pytest.approx(alone["log_loss"], abs=1e-6)
        assert report["auc"] == pytest.approx(alone["auc"], abs=1e-6)


def test_mwms_workers_evaluate_their_own_shard_of_the_test_files(mwms_train):
    shares = [set(record["evaluated_files"][-1]) for record in mwms_train["workers"]]
    assert shares[0] and shares[1] and shares[0].isdisjoint(shares[1])
    assert all(os.path.basename(p).startswith("test-") for p in shares[0] | shares[1])
    assert len(shares[0] | shares[1]) == 4


# ------------------------------------------------------------------------ MWMS search


@pytest.fixture(scope="module")
def mwms_search(data_dir, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mwms-search"))
    model_dir = os.path.join(root, "model")
    base = ["search", *COMMON, *SEARCH, "--data-dir", data_dir, "--model-dir", model_dir]
    straight_dir = os.path.join(root, "straight")
    runs = []
    for name, steps, directory in (
        ("first", 4, model_dir),
        ("second", 8, model_dir),
        ("uninterrupted", 8, straight_dir),
    ):
        tasks: list[Task] = []
        with make_cluster({"worker": 2}) as cluster:
            try:
                argv = [*base, "--steps", str(steps), "--strategy", "mwms"]
                argv[argv.index("--model-dir") + 1] = directory
                tasks = _start(os.path.join(root, name), cluster, argv, ("worker",))
                wait_all(tasks, timeout_s=TIMEOUT_S)
            finally:
                end(tasks)
        runs.append([_record(os.path.join(root, name), f"worker-{i}") for i in (0, 1)])
    return {"model_dir": model_dir, "straight_dir": straight_dir, "runs": runs[:2]}


def test_mwms_search_restarted_resumes_on_both_workers(mwms_search):
    first, second = mwms_search["runs"]
    for record in first:
        assert record["train"] == [{"start_step": 0, "step": 4}]
    for record in second:
        assert record["train"] == [{"start_step": 4, "step": 8}]
        assert record["restore_dir"] == mwms_search["model_dir"]
    with open(os.path.join(mwms_search["model_dir"], "search_result.json")) as f:
        written = json.load(f)
    assert written["step"] == 8


def test_a_restarted_mwms_search_equals_an_uninterrupted_one(mwms_search):
    resumed = _checkpoint_values(os.path.join(mwms_search["model_dir"], "ckpt-8"))
    straight = _checkpoint_values(os.path.join(mwms_search["straight_dir"], "ckpt-8"))
    assert resumed.keys() == straight.keys() and len(resumed) > 10
    for name, value in resumed.items():
        np.testing.assert_allclose(value, straight[name], rtol=1e-5, atol=1e-6, err_msg=name)
    losses = _train_losses(mwms_search["model_dir"])
    uninterrupted = _train_losses(mwms_search["straight_dir"])
    for step in range(5, 9):
        assert losses[step] == pytest.approx(uninterrupted[step], rel=1e-5), step


@pytest.fixture(scope="module")
def mwms_stopped_search(data_dir, tmp_path_factory):
    """An early-stopped MWMS search stopped at step 4 and resumed to step 8, whose best
    held-out step (4) is before the restart: only the chief's ``best`` checkpoint holds
    it (a non-chief's own directory is a new temporary one in every run)."""
    root = str(tmp_path_factory.mktemp("mwms-search-stopped"))
    model_dir = os.path.join(root, "m")
    argv = ["search", *COMMON, *SEARCH, "--data-dir", data_dir, "--model-dir", model_dir]
    argv[argv.index("early_stopping_patience=0")] = "early_stopping_patience=2"
    argv += ["--param", "eval_every_steps=4", "--strategy", "mwms"]
    runs = []
    for name, steps in (("first", 4), ("second", 8)):
        tasks: list[Task] = []
        with make_cluster({"worker": 2}) as cluster:
            try:
                tasks = _start(
                    os.path.join(root, name), cluster, [*argv, "--steps", str(steps)], ("worker",)
                )
                wait_all(tasks, timeout_s=TIMEOUT_S)
            finally:
                end(tasks)
        runs.append([_record(os.path.join(root, name), f"worker-{i}") for i in (0, 1)])
    with open(os.path.join(model_dir, "early_stopping.json"), encoding="utf-8") as f:
        evaluations = json.load(f)["evaluations"]
    return {"runs": runs, "evaluations": evaluations}


def test_an_early_stopped_mwms_search_restores_the_same_best_weights_on_every_worker(
    mwms_stopped_search,
):
    first, second = mwms_stopped_search["runs"]
    evaluations = mwms_stopped_search["evaluations"]
    assert [e[0] for e in evaluations] == [4, 8]
    # Not vacuous: the best held-out AUC is the first run's, so the resumed run restores
    # weights it did not train itself.
    assert evaluations[0][1] > evaluations[1][1]
    for chief, other in (first, second):
        assert chief["train"] == other["train"]
        assert chief["reports"][0]["step"] == other["reports"][0]["step"] == 4
        assert chief["reports"][0]["auc"] == pytest.approx(other["reports"][0]["auc"], abs=1e-9)


def test_an_early_stopped_mwms_search_chooses_the_same_widths_on_every_worker(
    mwms_stopped_search,
):
    for chief, other in mwms_stopped_search["runs"]:
        assert chief["reports"][0]["slot_dims"] == other["reports"][0]["slot_dims"]
        a, b = chief["search_result"]["slots"], other["search_result"]["slots"]
        assert a.keys() == b.keys() and len(a) == 6
        for slot in a:
            np.testing.assert_allclose(
                a[slot]["holdout_loss"], b[slot]["holdout_loss"], rtol=1e-6, err_msg=slot
            )


def test_mwms_search_chooses_the_same_widths_on_every_worker(mwms_search):
    for chief, other in mwms_search["runs"]:
        assert chief["reports"][0]["slot_dims"] == other["reports"][0]["slot_dims"]
        a, b = chief["search_result"]["slots"], other["search_result"]["slots"]
        assert a.keys() == b.keys() and len(a) == 6
        for slot in a:
            assert a[slot]["size"] == b[slot]["size"], slot
            np.testing.assert_allclose(
                a[slot]["holdout_loss"], b[slot]["holdout_loss"], rtol=1e-6, err_msg=slot
            )
            np.testing.assert_allclose(
                a[slot]["probabilities"], b[slot]["probabilities"], rtol=1e-6, err_msg=slot
            )
    with open(os.path.join(mwms_search["model_dir"], "search_result.json")) as f:
        written = json.load(f)
    chief = mwms_search["runs"][1][0]["reports"][0]["slot_dims"]
    assert {s: v["size"] for s, v in written["slots"].items()} == {s: v for s, v in chief.items()}


# -------------------------------------------------------------------------- PS search


@pytest.fixture(scope="module")
def ps_runs(data_dir, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ps"))
    model_dir = os.path.join(root, "search")
    base = ["search", *COMMON, *SEARCH, "--data-dir", data_dir, "--model-dir", model_dir]
    jobs = {"chief": 1, "worker": 2, "ps": 2}
    train_dir = os.path.join(root, "train")
    dims = os.path.join(model_dir, "search_result.json")
    commands = [
        ("first", [*base, "--steps", "4"]),
        ("second", [*base, "--steps", "8"]),
        (
            "train",
            ["train", *COMMON, "--data-dir", data_dir, "--model-dir", train_dir]
            + ["--steps", "4", "--dims", dims],
        ),
    ]
    out = {}
    for name, argv in commands:
        tasks: list[Task] = []
        with make_cluster(jobs) as cluster:
            try:
                tasks = _start(
                    os.path.join(root, name),
                    cluster,
                    [*argv, "--strategy", "ps"],
                    ("ps", "worker", "chief"),
                )
                wait_all([tasks[-1]], timeout_s=TIMEOUT_S)
                out[f"{name}_servers_alive"] = all(t.process.poll() is None for t in tasks[:-1])
            finally:
                end(tasks)  # the servers never exit: every ps and worker is ended here
        out[name] = _record(os.path.join(root, name), "chief-0")
    out["model_dir"] = model_dir
    out["dims"] = dims
    out["evaluated"] = _evaluate_alone(train_dir, os.path.join(root, "evaluate"))
    return out


def test_ps_search_restarted_on_fresh_ps_tasks_resumes_from_the_chiefs_checkpoint(ps_runs):
    assert ps_runs["first"]["train"] == [{"start_step": 0, "step": 4}]
    assert ps_runs["second"]["train"] == [{"start_step": 4, "step": 8}]
    assert ps_runs["first_servers_alive"] and ps_runs["second_servers_alive"]
    with open(ps_runs["dims"]) as f:
        written = json.load(f)
    assert written["step"] == 8 and len(written["slots"]) == 6
    chosen = {s: v["size"] for s, v in written["slots"].items()}
    assert chosen == ps_runs["second"]["reports"][0]["slot_dims"]
    for entry in written["slots"].values():
        assert len(entry["holdout_loss"]) == len(entry["candidates"])
        assert all(x > 0 for x in entry["holdout_loss"])


def test_ps_train_with_dims_trains_the_searched_widths(ps_runs):
    with open(ps_runs["dims"]) as f:
        chosen = {s: v["size"] for s, v in json.load(f)["slots"].items()}
    report = ps_runs["train"]["reports"][0]
    assert ps_runs["train"]["train"] == [{"start_step": 0, "step": 4}]
    trained = {s: v for s, v in report["slot_dims"].items() if v}
    assert trained == {s: v for s, v in chosen.items() if v}
    rows = 50  # vocab per slot; each kept slot: a bias column and its width
    assert report["embedding_parameters"] == sum(rows * (1 + v) for v in chosen.values() if v)


def test_ps_evaluation_covers_every_test_file_once_as_one_process_does(ps_runs):
    alone = ps_runs["evaluated"]
    report = ps_runs["train"]["reports"][0]
    assert alone["step"] == report["step"] == 4
    assert report["num_examples"] == alone["num_examples"] == 512
    assert report["log_loss"] == pytest.approx(alone["log_loss"], abs=1e-6)
    assert report["auc"] == pytest.approx(alone["auc"], abs=1e-6)
    files = ps_runs["train"]["evaluated_files"][-1]
    assert len(files) == len(set(files)) == 4
    assert all(os.path.basename(p).startswith("test-") for p in files)


# ----------------------------------------------------------------- PS train killed


@pytest.fixture(scope="module")
def ps_train_killed(data_dir, tmp_path_factory):
    """PS ``train`` (chief, 1 worker, 2 ps) killed after its first checkpoint, restarted on
    fresh tasks; and a one-process run on the same batches (with one worker the steps run
    in order, so a resumed PS run can equal an uninterrupted one)."""
    root = str(tmp_path_factory.mktemp("ps-train"))
    model_dir = os.path.join(root, "model")
    base = ["train", *COMMON, "--data-dir", data_dir, "--model-dir", model_dir]
    jobs = {"chief": 1, "worker": 1, "ps": 2}
    order = ("ps", "worker", "chief")
    tasks: list[Task] = []
    with make_cluster(jobs) as cluster:
        try:
            argv = [*base, "--steps", "100000", "--strategy", "ps"]
            tasks = _start(os.path.join(root, "killed"), cluster, argv, order)
            _wait_for_file(os.path.join(model_dir, "checkpoint"), tasks, TIMEOUT_S)
        finally:
            end(tasks)  # every task, chief included, killed (SIGKILL)
    resumed_from = _latest_step(model_dir)
    steps = resumed_from + 4
    single_dir = os.path.join(root, "single-model")
    tasks = []
    with make_cluster(jobs) as cluster:
        try:
            argv = [*base, "--steps", str(steps), "--strategy", "ps"]
            tasks = _start(os.path.join(root, "resumed"), cluster, argv, order)
            single = ["train", *COMMON, "--data-dir", data_dir, "--model-dir", single_dir]
            tasks += _start(
                os.path.join(root, "single"), None, [*single, "--steps", str(steps)], ()
            )
            wait_all([tasks[-2], tasks[-1]], timeout_s=TIMEOUT_S)  # the chief, one process
        finally:
            end(tasks)
    return {
        "model_dir": model_dir,
        "single_dir": single_dir,
        "resumed_from": resumed_from,
        "steps": steps,
        "chief": _record(os.path.join(root, "resumed"), "chief-0"),
    }


def test_ps_train_killed_and_restarted_ends_equal_to_an_uninterrupted_run(ps_train_killed):
    # Compared: every weight and optimizer slot of the chief's final checkpoint, and the
    # training loss of every step after the restart, against one process on the same data
    # (one PS worker: its steps run in order; the resumed worker skips the batches it had
    # trained on). With several workers PS is asynchronous and only the resume is exact.
    start, steps = ps_train_killed["resumed_from"], ps_train_killed["steps"]
    assert start >= 4
    assert ps_train_killed["chief"]["train"] == [{"start_step": start, "step": steps}]
    cluster = _checkpoint_values(os.path.join(ps_train_killed["model_dir"], f"ckpt-{steps}"))
    single = _checkpoint_values(os.path.join(ps_train_killed["single_dir"], f"ckpt-{steps}"))
    assert len(cluster) > 10
    for name, value in single.items():
        # A table split over the 2 ps is saved as one tensor: the names agree.
        np.testing.assert_allclose(cluster[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    resumed = _train_losses(ps_train_killed["model_dir"])
    uninterrupted = _train_losses(ps_train_killed["single_dir"])
    for step in range(start + 1, steps + 1):
        assert resumed[step] == pytest.approx(uninterrupted[step], rel=1e-5), step
