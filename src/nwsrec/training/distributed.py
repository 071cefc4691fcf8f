"""Which ``tf.distribute`` strategy a task trains under, from ``--strategy`` and ``TF_CONFIG``.

nwsrec adds no cluster machinery of its own: a task of a cluster is started with the usual
``TF_CONFIG`` environment variable (JSON with ``cluster`` and ``task``), and
:func:`create_distributed_run` turns it into one of:

- ``default``: no cluster, the default strategy (one process).
- ``mwms``: ``tf.distribute.MultiWorkerMirroredStrategy`` (data parallel). Every worker
  runs the same command; each reads its own file shard through the ``InputContext`` of
  ``distribute_datasets_from_function``; variables stay identical on every worker.
- ``ps``: ``tf.distribute.ParameterServerStrategy`` (tables beyond one machine). The
  ``chief`` task runs the training loop through a ``ClusterCoordinator``; ``worker``
  and ``ps`` tasks only serve (:meth:`DistributedRun.serve`); embedding tables are split
  across the ``ps`` tasks by :func:`nwsrec.embedding.sharded.table_partitioner`.

``--strategy auto`` (the default) picks ``default`` without ``TF_CONFIG``, ``ps`` when the
cluster has a ``ps`` job, else ``mwms``.

The chief (task ``chief``, or worker 0 when the cluster has no chief) writes checkpoints
and summaries into ``model_dir``; every other task writes into a temporary directory that
:meth:`DistributedRun.close` deletes, and restores from the chief's ``model_dir``::

    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
                "task": {"type": "worker", "index": 1}}'  nwsrec train --model synthetic

Example:
    >>> task = parse_tf_config('{"cluster": {"worker": ["127.0.0.1:2222"]}, '
    ...                        '"task": {"type": "worker", "index": 0}}')
    >>> task.is_chief, resolve_strategy_name("auto", task)
    (True, 'mwms')
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

from nwsrec.config import STRATEGIES

logger = logging.getLogger(__name__)

__all__ = [
    "JOBS",
    "STRATEGIES",
    "ClusterTask",
    "DistributedRun",
    "create_distributed_run",
    "WorkerTask",
    "multi_worker_task",
    "parse_tf_config",
    "resolve_strategy_name",
    "run_task",
]

#: The values of ``--strategy``.
#: The job names a ``TF_CONFIG`` cluster may hold.
JOBS = ("chief", "worker", "ps", "evaluator")

# Temporary model dir of a non-chief task -> the chief's model dir it resumes from.
_ADDRESS = re.compile(r"^[^\s:/]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$")
_SERVING_JOBS = ("worker", "ps")


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """One task of a cluster, as its ``TF_CONFIG`` describes it.

    Args:
        cluster: ``{job: (address, ...)}`` with jobs from :data:`JOBS`, addresses
            ``host:port``.
        task_type: this task's job.
        task_id: this task's index in its job.

    Example:
        >>> task = ClusterTask({"chief": ("h0:1",), "worker": ("h1:1",)}, "worker", 0)
        >>> task.is_chief, task.num_workers, task.address
        (False, 2, 'h1:1')
    """

    cluster: Mapping[str, tuple[str, ...]]
    task_type: str
    task_id: int

    def __post_init__(self) -> None:
        frozen = {job: tuple(addresses) for job, addresses in self.cluster.items()}
        object.__setattr__(self, "cluster", MappingProxyType(frozen))

    @property
    def is_chief(self) -> bool:
        """True for task ``chief``, or worker 0 of a cluster without a chief job."""
        if "chief" in self.cluster:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_id == 0

    @property
    def num_workers(self) -> int:
        """Tasks that train: ``chief`` plus ``worker`` tasks."""
        return len(self.cluster.get("chief", ())) + len(self.cluster.get("worker", ()))

    @property
    def num_ps(self) -> int:
        """Parameter-server tasks."""
        return len(self.cluster.get("ps", ()))

    @property
    def address(self) -> str:
        """This task's ``host:port``."""
        return self.cluster[self.task_type][self.task_id]

    def cluster_spec(self) -> Any:
        """The cluster as a ``tf.train.ClusterSpec``."""
        import tensorflow as tf

        return tf.train.ClusterSpec({job: list(a) for job, a in self.cluster.items()})

    def cluster_resolver(self) -> Any:
        """A ``tf.distribute.cluster_resolver`` for this task (gRPC)."""
        import tensorflow as tf

        return tf.distribute.cluster_resolver.SimpleClusterResolver(
            self.cluster_spec(), task_type=self.task_type, task_id=self.task_id, rpc_layer="grpc"
        )


def _config_error(what: str, received: Any) -> ValueError:
    return ValueError(f"`TF_CONFIG` {what}. Received: {received}")


def parse_tf_config(value: str | None = None) -> ClusterTask | None:
    """Parses and checks a ``TF_CONFIG`` string (default: the environment variable).

    Args:
        value: the JSON text; None reads ``os.environ["TF_CONFIG"]``.

    Returns:
        The :class:`ClusterTask`, or None when ``TF_CONFIG`` is unset, empty, or has no
        ``cluster`` (a single process).

    Raises:
        ValueError: the text is not JSON, the cluster or task is malformed, the task is not
            in the cluster; the message names the key at fault.

    Example:
        >>> parse_tf_config("") is None
        True
        >>> parse_tf_config('{"cluster": {"worker": ["h:1"]}, "task": {"type": "ps"}}')
        Traceback (most recent call last):
        ...
        ValueError: `TF_CONFIG` task.type must be a job of the cluster ['worker']. \
Received: task.type='ps'
    """
    if value is None:
        value = os.environ.get("TF_CONFIG", "")
    if not value.strip():
        return None
    try:
        config = json.loads(value)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"`TF_CONFIG` must be JSON. Received: {err.msg} at line {err.lineno} "
            f"column {err.colno} of {value[:80]!r}"
        ) from None
    if not isinstance(config, dict):
        raise _config_error("must be a JSON object", f"TF_CONFIG={value[:80]!r}")
    cluster = config.get("cluster")
    if cluster is None or cluster == {}:
        return None
    if not isinstance(cluster, dict):
        raise _config_error("cluster must be an object {job: [host:port, ...]}", f"{cluster!r}")
    parsed: dict[str, tuple[str, ...]] = {}
    for job, addresses in cluster.items():
        if job not in JOBS:
            raise _config_error(f"cluster jobs must be among {list(JOBS)}", f"job {job!r}")
        if isinstance(addresses, dict):  # sparse form {index: address}
            try:
                items = sorted((int(k), v) for k, v in addresses.items())
            except ValueError:
                raise _config_error(
                    f"cluster.{job} indices must be integers", f"{addresses!r}"
                ) from None
            if [i for i, _ in items] != list(range(len(items))):
                raise _config_error(f"cluster.{job} must list indices 0..n-1", f"{addresses!r}")
            addresses = [v for _, v in items]
        if not isinstance(addresses, list) or not addresses:
            raise _config_error(
                f"cluster.{job} must be a non-empty list of host:port", f"{addresses!r}"
            )
        for address in addresses:
            if not isinstance(address, str) or not _ADDRESS.match(address):
                raise _config_error(
                    f"cluster.{job} addresses must be host:port", f"address={address!r}"
                )
        parsed[job] = tuple(addresses)
    if len(parsed.get("chief", ())) > 1:
        raise _config_error("cluster.chief must have one task", f"chief={list(parsed['chief'])}")
    every = [a for addresses in parsed.values() for a in addresses]
    duplicates = sorted({a for a in every if every.count(a) > 1})
    if duplicates:
        raise _config_error("addresses must be distinct", f"{duplicates[0]!r} used twice")
    task = config.get("task")
    if not isinstance(task, dict):
        raise _config_error("task must be an object {type, index}", f"task={task!r}")
    task_type = task.get("type")
    if task_type not in parsed:
        raise _config_error(
            f"task.type must be a job of the cluster {sorted(parsed)}", f"task.type={task_type!r}"
        )
    task_id = task.get("index", 0)
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        raise _config_error("task.index must be an integer", f"task.index={task_id!r}")
    if not 0 <= task_id < len(parsed[task_type]):
        raise _config_error(
            f"task.index must be in [0, {len(parsed[task_type])}) for job {task_type!r}",
            f"task.index={task_id}",
        )
    return ClusterTask(parsed, task_type, task_id)


def resolve_strategy_name(name: str, task: ClusterTask | None) -> str:
    """The strategy a task runs under: ``default``, ``mwms`` or ``ps``.

    Args:
        name: a value of :data:`STRATEGIES`; ``auto`` picks ``default`` without a cluster,
            ``ps`` for a cluster with a ``ps`` job, else ``mwms``.
        task: the parsed ``TF_CONFIG`` (None: no cluster).

    Raises:
        ValueError: an unknown name, or a name that does not fit the cluster.

    Example:
        >>> resolve_strategy_name("auto", None)
        'default'
    """
    if name not in STRATEGIES:
        raise ValueError(f"`--strategy` must be one of {list(STRATEGIES)}. Received: {name!r}")
    if name == "auto":
        if task is None:
            return "default"
        return "ps" if task.num_ps else "mwms"
    if name == "default" and task is not None and task.num_workers + task.num_ps > 1:
        raise ValueError(
            "`--strategy default` must not be used with a multi-task TF_CONFIG (every task "
            "would train alone). Received: a cluster of "
            f"{task.num_workers + task.num_ps} tasks; use --strategy auto"
        )
    if name == "mwms" and task is not None and task.num_ps:
        raise ValueError(
            "`--strategy mwms` must run on a cluster without ps tasks. Received: cluster "
            f"with ps={list(task.cluster['ps'])}; use --strategy ps"
        )
    if name == "ps":
        if task is None or not task.num_ps or "worker" not in task.cluster:
            raise ValueError(
                "`--strategy ps` must run with a TF_CONFIG cluster of a chief, >= 1 worker "
                "and >= 1 ps. Received: "
                + ("no TF_CONFIG" if task is None else f"cluster jobs {sorted(task.cluster)}")
            )
        if "chief" not in task.cluster:
            raise ValueError(
                "`--strategy ps` must have a chief task (it runs the training loop). "
                f"Received: cluster jobs {sorted(task.cluster)}"
            )
        if task.task_type == "evaluator":
            raise ValueError(
                "`--strategy ps` does not run evaluator tasks. Received: task.type='evaluator'"
            )
    return name


class DistributedRun:
    """What one task of a run does: its strategy, whether it is chief, where it writes.

    Built by :func:`create_distributed_run`; use as a context manager so that the
    temporary directories of a non-chief task are deleted at the end.

    Args:
        kind: ``default``, ``mwms`` or ``ps``.
        strategy: the ``tf.distribute.Strategy`` (None for a serving ps/worker task).
        task: the parsed ``TF_CONFIG`` (None: no cluster).
        coordinator: the ``ClusterCoordinator`` of a ``ps`` chief, else None.
        server: the ``tf.distribute.Server`` of a serving task, else None.

    Example:
        >>> with create_distributed_run("default") as run:  # doctest: +SKIP
        ...     trainer = Trainer(model_fn, params, run.task_model_dir("runs/x"),
        ...                       strategy=run.strategy, restore_dir="runs/x")
    """

    def __init__(
        self,
        kind: str,
        strategy: Any,
        task: ClusterTask | None = None,
        coordinator: Any = None,
        server: Any = None,
    ) -> None:
        self.kind = kind
        self.strategy = strategy
        self.task = task
        self.coordinator = coordinator
        self.server = server
        self._temp_dirs: list[str] = []

    @property
    def is_chief(self) -> bool:
        """True when this task writes checkpoints and summaries (also without a cluster)."""
        return self.task is None or self.task.is_chief

    @property
    def trains(self) -> bool:
        """True when this task runs the training loop (False: a ps-mode server)."""
        return self.strategy is not None

    def task_model_dir(self, model_dir: str) -> str:
        """Where this task writes: ``model_dir`` for the chief, else a fresh temporary dir.

        Args:
            model_dir: the run's directory (on storage every task can read).

        Returns:
            ``model_dir``, or a temporary directory deleted by :meth:`close`.
        """
        if self.task is None or self.task.is_chief:
            return model_dir
        path = tempfile.mkdtemp(prefix=f"nwsrec-{self.task.task_type}-{self.task.task_id}-")
        self._temp_dirs.append(path)
        return path

    def serve(self) -> None:
        """Blocks serving this ps/worker task until the process is ended (ps mode only).

        Raises:
            ValueError: this task trains (it has no server to run).
        """
        if self.server is None or self.task is None:
            raise ValueError(
                f"`serve` must be called on a ps-mode worker or ps task. Received: a "
                f"{self.kind} task that trains"
            )
        logger.info(
            "serving %s:%d at %s", self.task.task_type, self.task.task_id, self.task.address
        )
        self.server.join()

    def close(self) -> None:
        """Deletes the temporary directories of :meth:`task_model_dir`."""
        while self._temp_dirs:
            path = self._temp_dirs.pop()
            shutil.rmtree(path, ignore_errors=True)

    def __enter__(self) -> DistributedRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        task = "none" if self.task is None else f"{self.task.task_type}:{self.task.task_id}"
        return f"DistributedRun(kind={self.kind!r}, task={task}, chief={self.is_chief})"


def create_distributed_run(
    name: str = "auto",
    tf_config: str | None = None,
    *,
    collective_timeout_s: float | None = 600.0,
    ps_shards: int | None = None,
) -> DistributedRun:
    """Creates the strategy of this task from ``--strategy`` and ``TF_CONFIG``.

    - ``mwms``: ``MultiWorkerMirroredStrategy`` with ring collectives (the CPU
      implementation; gRPC between tasks, so it runs on 127.0.0.1 as on a real cluster) and
      a timeout on each collective, so a dead peer is an error and not a hang.
    - ``ps``, chief: ``ParameterServerStrategy`` with the embedding tables split across the
      ps tasks, and its ``ClusterCoordinator``. ``ps``, worker or ps task: a started
      ``tf.distribute.Server`` (call :meth:`DistributedRun.serve`).

    Must be called before any other TensorFlow work in the process (collectives and
    servers are configured at start-up).

    Args:
        name: a value of :data:`STRATEGIES`.
        tf_config: the ``TF_CONFIG`` JSON; None reads the environment.
        collective_timeout_s: MWMS collective timeout (None: wait forever).
        ps_shards: shards per embedding table in ps mode (default: the number of ps).

    Returns:
        A :class:`DistributedRun`.

    Raises:
        ValueError: a bad ``TF_CONFIG`` or a strategy that does not fit it.
    """
    task = parse_tf_config(tf_config)
    kind = resolve_strategy_name(name, task)
    import tensorflow as tf

    if kind == "default":
        return DistributedRun("default", tf.distribute.get_strategy(), task)
    if kind == "mwms":
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING,
            timeout_seconds=collective_timeout_s,
        )
        resolver = task.cluster_resolver() if task is not None else None
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=resolver, communication_options=options
        )
        logger.info(
            "MultiWorkerMirroredStrategy: %d replicas in sync", strategy.num_replicas_in_sync
        )
        return DistributedRun("mwms", strategy, task)
    if task is None:  # resolve_strategy_name checked that a ps run has a task
        raise ValueError("`--strategy ps` must run with a TF_CONFIG cluster. Received: none")
    # Ask gRPC to fail fast on an unreachable task instead of retrying forever.
    os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
    if task.task_type in _SERVING_JOBS:
        server = tf.distribute.Server(
            task.cluster_spec(),
            job_name=task.task_type,
            task_index=task.task_id,
            protocol="grpc",
            start=True,
        )
        return DistributedRun("ps", None, task, server=server)
    from nwsrec.embedding.sharded import table_partitioner

    shards = int(ps_shards) if ps_shards is not None else task.num_ps
    if shards < 1:
        raise ValueError(f"`ps_shards` must be >= 1. Received: ps_shards={ps_shards!r}")
    strategy = tf.distribute.experimental.ParameterServerStrategy(
        task.cluster_resolver(), variable_partitioner=table_partitioner(shards)
    )
    coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(strategy)
    logger.info("ParameterServerStrategy: %d ps, tables in %d shards", task.num_ps, shards)
    return DistributedRun("ps", strategy, task, coordinator=coordinator)


@dataclasses.dataclass(frozen=True)
class WorkerTask:
    """One worker of a multi-worker ``MultiWorkerMirroredStrategy`` run.

    Args:
        task_type: ``chief`` or ``worker``.
        task_id: its index in its job.
        index: its input pipeline (the chief 0, then the workers in order): the file shard
            ``distribute_datasets_from_function`` gives it.
        num_workers: the workers of the cluster (chief included).
        is_chief: it writes the run's checkpoints.
    """

    task_type: str
    task_id: int
    index: int
    num_workers: int
    is_chief: bool

    @property
    def name(self) -> str:
        """``<task_type>-<task_id>``."""
        return f"{self.task_type}-{self.task_id}"


def multi_worker_task(strategy: Any) -> WorkerTask | None:
    """This task of a multi-worker ``MultiWorkerMirroredStrategy`` run; None for one
    worker or another strategy.

    Under it every worker trains on its own file shard, so each has its own input
    position and its own share of an evaluation.

    Example:
        >>> import tensorflow as tf
        >>> multi_worker_task(tf.distribute.get_strategy()) is None
        True
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    resolver = strategy.cluster_resolver
    if resolver is None or not resolver.task_type:
        return None
    spec = resolver.cluster_spec().as_dict()
    has_chief = bool(spec.get("chief"))
    workers = len(spec.get("chief", ())) + len(spec.get("worker", ()))
    if workers < 2:
        return None
    task_type, task_id = str(resolver.task_type), int(resolver.task_id or 0)
    index = 0 if task_type == "chief" else task_id + int(has_chief)
    is_chief = task_type == "chief" or (not has_chief and task_id == 0)
    return WorkerTask(task_type, task_id, index, workers, is_chief)


def run_task(
    strategy_name: str, model_dir: str, train_fn: Callable[[str, Any, str], Any]
) -> tuple[Any, bool] | None:
    """Runs this task of a (possibly one-process) cluster.

    A ps-mode worker or ps task serves until it is ended (never returns). A training task
    calls ``train_fn(task_model_dir, strategy, restore_dir)``, where ``task_model_dir`` is
    ``model_dir`` for the chief and a temporary directory (deleted afterwards) otherwise,
    and ``restore_dir`` is always ``model_dir``: every task resumes from the chief's
    checkpoints.

    Args:
        strategy_name: ``--strategy``.
        model_dir: the run's directory.
        train_fn: trains and returns a result, e.g. a ``RunReport``.

    Returns:
        ``(result, is_chief)``; None after serving.
    """
    run = create_distributed_run(strategy_name)
    if not run.trains:
        run.serve()
        return None
    with run:
        result = train_fn(run.task_model_dir(model_dir), run.strategy, model_dir)
    return result, run.is_chief
