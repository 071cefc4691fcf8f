import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nwsrec.training.distributed import (
    ClusterTask,
    DistributedRun,
    create_distributed_run,
    parse_tf_config,
    resolve_strategy_name,
)
from nwsrec.training.ps_loop import _split


def _config(cluster, task_type="worker", index=0):
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


TWO_WORKERS = {"worker": ["127.0.0.1:2001", "127.0.0.1:2002"]}
PS_CLUSTER = {
    "chief": ["10.0.0.1:2222"],
    "worker": ["10.0.0.2:2222"],
    "ps": ["10.0.0.3:2222", "10.0.0.4:2222"],
}


def test_unset_empty_or_clusterless_tf_config_is_a_single_process(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert parse_tf_config() is None
    assert parse_tf_config("  ") is None
    assert parse_tf_config('{"task": {"type": "worker", "index": 0}}') is None


def test_tf_config_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _config(TWO_WORKERS, index=1))
    task = parse_tf_config()
    assert task == ClusterTask(TWO_WORKERS, "worker", 1)
    assert task.address == "127.0.0.1:2002" and task.num_workers == 2 and task.num_ps == 0


@pytest.mark.parametrize(
    "cluster, task_type, index, chief",
    [
        (TWO_WORKERS, "worker", 0, True),
        (TWO_WORKERS, "worker", 1, False),
        (PS_CLUSTER, "chief", 0, True),
        (PS_CLUSTER, "worker", 0, False),
        (PS_CLUSTER, "ps", 1, False),
    ],
    ids=["worker0-no-chief", "worker1", "chief-job", "worker-with-chief", "ps"],
)
def test_chief_is_the_chief_task_else_worker_zero(cluster, task_type, index, chief):
    assert parse_tf_config(_config(cluster, task_type, index)).is_chief is chief


def test_sparse_cluster_form_with_indices_is_accepted():
    config = json.dumps(
        {"cluster": {"worker": {"1": "h:2", "0": "h:1"}}, "task": {"type": "worker", "index": 1}}
    )
    assert parse_tf_config(config).address == "h:2"


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", r"`TF_CONFIG` must be JSON"),
        ("[1, 2]", r"must be a JSON object"),
        ('{"cluster": ["h:1"]}', r"cluster must be an object"),
        (_config({"trainer": ["h:1"]}), r"jobs must be among .* Received: job 'trainer'"),
        (_config({"worker": []}), r"cluster.worker must be a non-empty list"),
        (_config({"worker": ["localhost"]}), r"addresses must be host:port.*'localhost'"),
        (_config({"worker": ["h:1", "h:1"]}), r"addresses must be distinct.*'h:1' used twice"),
        (_config({"chief": ["a:1", "b:1"], "worker": ["c:1"]}, "chief"), r"chief must have one"),
        (json.dumps({"cluster": TWO_WORKERS}), r"task must be an object"),
        (_config(TWO_WORKERS, "ps"), r"task.type must be a job of the cluster"),
        (_config(TWO_WORKERS, "worker", 2), r"task.index must be in \[0, 2\).*index=2"),
        (_config(TWO_WORKERS, "worker", "0"), r"task.index must be an integer"),
        (json.dumps({"cluster": {"worker": {"0": "h:1", "2": "h:2"}}}), r"indices 0..n-1"),
    ],
    ids=[
        "not-json",
        "not-object",
        "cluster-list",
        "unknown-job",
        "empty-job",
        "no-port",
        "duplicate",
        "two-chiefs",
        "no-task",
        "task-not-in-cluster",
        "index-out-of-range",
        "index-string",
        "sparse-gap",
    ],
)
def test_bad_tf_config_is_a_clear_error(text, match):
    with pytest.raises(ValueError, match=match):
        parse_tf_config(text)


@pytest.mark.parametrize(
    "name, cluster, expected",
    [
        ("auto", None, "default"),
        ("auto", TWO_WORKERS, "mwms"),
        ("auto", PS_CLUSTER, "ps"),
        ("mwms", None, "mwms"),
        ("mwms", TWO_WORKERS, "mwms"),
        ("ps", PS_CLUSTER, "ps"),
        ("default", None, "default"),
        ("default", {"worker": ["h:1"]}, "default"),
    ],
)
def test_strategy_name_follows_the_cluster(name, cluster, expected):
    task = None if cluster is None else ClusterTask(cluster, "worker", 0)
    assert resolve_strategy_name(name, task) == expected


@pytest.mark.parametrize(
    "name, cluster, task_type, match",
    [
        ("tpu", None, "worker", r"`--strategy` must be one of"),
        ("default", TWO_WORKERS, "worker", r"must not be used with a multi-task TF_CONFIG"),
        ("mwms", PS_CLUSTER, "worker", r"without ps tasks"),
        ("ps", None, "worker", r"Received: no TF_CONFIG"),
        ("ps", TWO_WORKERS, "worker", r"chief, >= 1 worker and >= 1 ps"),
        ("ps", {"worker": ["a:1"], "ps": ["b:1"]}, "worker", r"must have a chief task"),
        ("ps", {**PS_CLUSTER, "evaluator": ["e:1"]}, "evaluator", r"evaluator"),
    ],
)
def test_strategy_that_does_not_fit_the_cluster_is_an_error(name, cluster, task_type, match):
    task = None if cluster is None else ClusterTask(cluster, task_type, 0)
    with pytest.raises(ValueError, match=match):
        resolve_strategy_name(name, task)


def test_chief_writes_into_model_dir_and_others_into_temporary_dirs_removed_at_close(tmp_path):
    chief = DistributedRun("mwms", object(), ClusterTask(TWO_WORKERS, "worker", 0))
    assert chief.task_model_dir(str(tmp_path)) == str(tmp_path)
    with DistributedRun("mwms", object(), ClusterTask(TWO_WORKERS, "worker", 1)) as other:
        path = other.task_model_dir(str(tmp_path))
        assert path != str(tmp_path) and os.path.isdir(path)
        assert "nwsrec-worker-1-" in os.path.basename(path)
    assert not os.path.exists(path)
    assert os.path.isdir(tmp_path)


def test_a_training_task_cannot_serve():
    with pytest.raises(ValueError, match="must be called on a ps-mode worker or ps task"):
        DistributedRun("default", object()).serve()


def test_default_run_without_cluster_is_the_default_strategy():
    import tensorflow as tf

    run = create_distributed_run("auto", tf_config="")
    assert run.kind == "default" and run.is_chief and run.trains
    assert run.strategy is tf.distribute.get_strategy()


def test_steps_are_split_evenly_over_the_workers_of_a_ps_cluster():
    assert _split(5, 2) == [3, 2]
    assert _split(1, 3) == [1]
    assert _split(8, 1) == [8]


@settings(max_examples=100, deadline=None)
@given(
    chief=st.booleans(),
    workers=st.integers(0, 4),
    ps=st.integers(0, 3),
    evaluator=st.booleans(),
)
def test_every_cluster_has_exactly_one_chief_and_a_task_per_address(chief, workers, ps, evaluator):
    jobs = {"chief": int(chief), "worker": workers, "ps": ps, "evaluator": int(evaluator)}
    jobs = {job: n for job, n in jobs.items() if n}
    port = iter(range(2000, 2100))
    cluster = {job: [f"h:{next(port)}" for _ in range(n)] for job, n in jobs.items()}
    tasks = [
        parse_tf_config(json.dumps({"cluster": cluster, "task": {"type": job, "index": i}}))
        for job, n in jobs.items()
        for i in range(n)
    ]
    chiefs = [t for t in tasks if t.is_chief]
    has_chief = chief or workers > 0
    assert len(chiefs) == int(has_chief)
    if has_chief:
        assert chiefs[0].task_type == ("chief" if chief else "worker")
        assert chiefs[0].task_id == 0
    assert sorted(t.address for t in tasks) == sorted(a for a in sum(cluster.values(), []))
    assert all(t.num_workers == int(chief) + workers and t.num_ps == ps for t in tasks)
