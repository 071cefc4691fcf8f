"""The training loop of a ``ParameterServerStrategy`` chief, driven by a ``ClusterCoordinator``.

Under ``ParameterServerStrategy`` the chief (the coordinator) holds no data and runs no
step itself: it creates one input iterator per worker
(``coordinator.create_per_worker_dataset``), schedules the trainer's multi-step
``tf.function`` on the workers (``coordinator.schedule``, a closure of several steps each),
and waits for them (``coordinator.join``) before it logs or checkpoints::

    chief:   schedule(loop, n1) schedule(loop, n2) ... join() -> losses -> log, checkpoint
    worker:  runs a closure: n steps of forward/backward on its own batches; dense weights
             and table rows are read from and written to the ps tasks (asynchronously)
    ps:      hold the variables; tables split across them (ShardedVariable)

Training is asynchronous across workers (each applies its own gradients); with one worker
the steps run in order, as in a single process. Each worker reads every file (the
strategy gives each worker ``InputContext(1 pipeline, id 0)``). The per-worker iterators
cannot be checkpointed: a resumed run's workers skip the batches trained before
(``Trainer`` skips ``step // workers`` batches of each worker's input).

Example:
    >>> coordinator = ClusterCoordinator(strategy)  # doctest: +SKIP
    >>> iterator = per_worker_iterator(coordinator, strategy, dataset_fn)  # doctest: +SKIP
    >>> run_steps(coordinator, loop_fn, iterator, 100, num_workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["is_parameter_server_strategy", "num_workers", "per_worker_iterator", "run_steps"]


def is_parameter_server_strategy(strategy: Any) -> bool:
    """True for a ``tf.distribute.experimental.ParameterServerStrategy``."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy)


def num_workers(strategy: Any) -> int:
    """The number of worker tasks of a ``ParameterServerStrategy`` cluster."""
    # The strategy keeps its resolver privately (its public ``cluster_resolver`` is None).
    resolver = strategy.cluster_resolver or getattr(strategy, "_cluster_resolver", None)
    if resolver is None:
        return 1
    return max(1, len(resolver.cluster_spec().as_dict().get("worker", ())))


def per_worker_iterator(coordinator: Any, strategy: Any, dataset_fn: Callable[[Any], Any]) -> Any:
    """An iterator on every worker over ``dataset_fn(InputContext)``.

    Args:
        coordinator: the ``ClusterCoordinator``.
        strategy: its ``ParameterServerStrategy``.
        dataset_fn: ``InputContext -> tf.data.Dataset`` (``Model.create_input_fn``).

    Returns:
        The per-worker iterator to pass to the scheduled function.
    """
    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    return iter(coordinator.create_per_worker_dataset(dataset))


def _split(total: int, parts: int) -> list[int]:
    """``total`` as up to ``parts`` near-equal positive sizes (``_split(5, 2) == [3, 2]``)."""
    parts = max(1, min(parts, total))
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def run_steps(
    coordinator: Any, loop_fn: Callable[..., Any], iterator: Any, steps: int, num_workers: int
) -> float:
    """Runs ``steps`` training steps on the workers and returns their mean loss.

    The steps are scheduled as one closure per worker (so every worker is busy), each
    ``loop_fn(iterator, n)`` returning the mean loss of its ``n`` steps; the call returns
    after ``coordinator.join()``.

    Args:
        coordinator: the ``ClusterCoordinator``.
        loop_fn: the trainer's ``tf.function`` ``(iterator, num_steps) -> mean loss``.
        iterator: from :func:`per_worker_iterator`.
        steps: steps to run, >= 1.
        num_workers: the cluster's workers.

    Returns:
        The mean loss of the steps.
    """
    import tensorflow as tf

    if steps < 1:
        raise ValueError(f"`steps` must be >= 1. Received: steps={steps}")
    sizes = _split(int(steps), int(num_workers))
    remotes = [
        coordinator.schedule(loop_fn, args=(iterator, tf.constant(n, tf.int64))) for n in sizes
    ]
    coordinator.join()
    return sum(float(r.fetch()) * n for r, n in zip(remotes, sizes, strict=True)) / steps
