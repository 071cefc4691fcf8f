"""nwsrec's own training loop: a ``tf.function`` step run by a ``tf.distribute`` strategy.

Keras 3 ``Model.fit`` cannot give each embedding table its own optimizer and fails under
multi-worker strategies (keras-team/keras#20585), so nwsrec trains with its own loop:

    dataset  = strategy.distribute_datasets_from_function(model.create_input_fn(pattern))
    per step, on every replica (strategy.run):
        logits, aux_losses = model.forward(features, training=True)
        loss  = sum(sigmoid cross-entropy) / global batch size
              + (sum(aux_losses) + width_penalty * expected_emb_dims) / replicas
        dense weights          -> one Keras optimizer (``dense_optimizer``)
        NWS architecture weights -> their own Keras optimizer (``arch_learning_rate``)
        each embedding table   -> table.apply_gradient(IndexedSlices), its own optimizer

Gradients are summed across replicas through the replica context before they are applied:
the Keras optimizers do it themselves in ``apply_gradients`` (``ReplicaContext.all_reduce``
inside a replica context); the table gradients are all-reduced here. The strategy is a
parameter; on one machine it is the default strategy.

Training params (the run's :class:`nwsrec.config.RunConfig`, resolved once from its flat
params: the ``trainer`` section, defaults in :data:`TRAINING_DEFAULTS`; the architecture
weights' and ``width_penalty`` in the ``search`` section):

- ``train_steps``: the global step to train to.
- ``dense_optimizer`` (``adam`` | ``adagrad`` | ``sgd``), ``dense_learning_rate``.
- ``arch_optimizer`` (``adam`` | ``adagrad`` | ``sgd``), ``arch_learning_rate``: the
  optimizer of the NWS architecture weights. Adam moves every weight at about its
  learning rate per step whatever the gradient's size, so even a tiny consistent
  ``width_penalty`` dominates; ``sgd`` keeps the task gradient and the penalty in
  proportion.
- ``arch_warmup_steps``: the architecture weights stay frozen (zero gradient) while
  ``global_step < arch_warmup_steps``: embeddings and DNN first learn under the NWS
  layer's draws (uniform ones with the layer's ``pretraining_steps``); without it the
  untrained, still random embeddings look harmful and every slot collapses to size 0.
- ``holdout_every``: 0 trains on every record. ``k >= 2`` holds about one record in
  ``k`` of the training files out of a search's training (by a hash of the record,
  ``nwsrec.data.RecordSplit``); the width search then picks each slot's width by its
  loss on those records (``nwsrec.search.select``). A model without NWS layer (a
  training run at fixed widths) always trains on every record.
- ``width_penalty``: loss added per expected embedding dim of the NWS layers
  (``width_penalty * sum_i sum_j p_ij * c_ij``). It prices width: a slot keeps a
  width only while that lowers the task loss by more than the penalty. 0 disables it.
- ``checkpoint_every_steps``, ``keep_checkpoints``, ``log_every_steps``.
- ``seed``: seeds Keras/TF/numpy before the model is built (None leaves them alone).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nwsrec.checks import check_int
from nwsrec.config import RunConfig, SearchConfig, TrainerConfig
from nwsrec.data.files import list_files
from nwsrec.data.pipeline import InputFn, RecordSplit
from nwsrec.data.scan import check_vocab_slots, find_id_out_of_range
from nwsrec.embedding import EmbeddingTable
from nwsrec.features import read_vocab_file
from nwsrec.files import write_json_atomic
from nwsrec.interrupts import RunInterrupted, StopOnSignals
from nwsrec.metrics import exact_auc, log_loss
from nwsrec.training.checkpoints import TrainingCheckpoint
from nwsrec.training.collectives import all_reduce_indexed_slices
from nwsrec.training.distributed import multi_worker_task
from nwsrec.training.gradients import GradientRouting, as_indexed_slices, raw_variable
from nwsrec.training.ps_loop import (
    is_parameter_server_strategy,
    num_workers,
    per_worker_iterator,
    run_steps,
)
from nwsrec.training.rundir import ModelDirLock, check_manifest, run_manifest
from nwsrec.training.summaries import ProgressBar, RunSummaries, write_params_json, write_scalars

logger = logging.getLogger(__name__)

__all__ = ["TRAINING_DEFAULTS", "EvalResult", "TrainResult", "Trainer"]

TRAINING_DEFAULTS: dict[str, Any] = TrainerConfig.defaults()
"""The trainer's knobs and their defaults (:class:`nwsrec.config.TrainerConfig`)."""


@dataclasses.dataclass
class TrainResult:
    """What :meth:`Trainer.train` did.

    Args:
        step: the global step at the end.
        start_step: the step training (re)started from (> 0 after a resume).
        loss: mean training loss over the last logged interval (NaN if no step ran).
        examples_per_sec: mean throughput of the steps this call ran.
        checkpoint: path prefix of the last checkpoint.
        early_stopping: with ``early_stopping_patience``: ``{"metric", "best_step",
            "best_holdout_auc", "best_holdout_log_loss", "stopped_step", "stopped_early",
            "evaluations": [[step, held-out AUC, held-out log loss], ...]}``; the model
            holds the best step's weights (best by ``early_stopping_metric``).
        steps_per_epoch: training steps per pass over the training records (with
            ``epochs`` or early stopping; else None).
    """

    step: int
    start_step: int
    loss: float
    examples_per_sec: float
    checkpoint: str | None
    early_stopping: dict[str, Any] | None = None
    steps_per_epoch: int | None = None


@dataclasses.dataclass
class EvalResult:
    """Evaluation of a model on a held-out split.

    Args:
        auc: exact AUC of the logits.
        log_loss: mean log loss of ``sigmoid(logits)``.
        num_examples: examples evaluated (every example of the files).
        step: the global step of the evaluated weights.
    """

    auc: float
    log_loss: float
    num_examples: int
    step: int

    def as_dict(self) -> dict[str, float]:
        """``{"auc", "log_loss", "num_examples", "step"}``."""
        return dataclasses.asdict(self)


def _naming_errors(input_fn: Any) -> Any:
    """``input_fn.naming_errors()`` when it has one: data errors then name the bad file."""
    naming = getattr(input_fn, "naming_errors", None)
    return naming() if naming is not None else contextlib.nullcontext()


_TABLE_ID_ERROR = re.compile(r"`ids` of table table_(\d+)_\d+ must lie in \[0, (\d+)\)")


@contextlib.contextmanager
def _naming_bad_ids(input_fn: Any, model: Any) -> Any:
    """An id outside its table (the table's per-batch check fired) named by file, record,
    slot and id, instead of TensorFlow's op error that names none of them."""
    try:
        yield
    except tf.errors.InvalidArgumentError as err:
        match = _TABLE_ID_ERROR.search(str(err))
        paths = list(getattr(input_fn, "files_read", []) or [])
        if match is None or not paths:
            raise
        slot, size = int(match.group(1)), int(match.group(2))
        pipeline = getattr(input_fn, "pipeline_config", None)
        compression = "auto" if pipeline is None else pipeline.compression_type
        found = find_id_out_of_range(paths, f"slot_{slot}_0", size, compression)
        config = getattr(model, "run_config", None)
        vocab = None if config is None else config.model.vocab_file_path
        if found is None:
            raise ValueError(
                f"ids of slot {slot} must lie in [0, {size}) (its vocab size"
                f"{' in ' + vocab if vocab else ''}); a batch held one outside, but no "
                f"record of {len(paths)} files does. Received: {str(err).splitlines()[0][:200]}"
            ) from None
        path, record, bad = found
        raise ValueError(
            f"{path}: record {record}: ids of slot {slot} must lie in [0, {size}) (its vocab "
            f"size{' in ' + vocab if vocab else ''}). Received: id={bad}; fix the data or the "
            "vocab file, or set --param out_of_range_ids=oov to map such ids to an OOV row"
        ) from None


def _hold_model_dir(owner: Any, model_dir: str) -> ModelDirLock | None:
    """The model dir's lock, held until ``owner`` is closed or collected (local dirs)."""
    if "://" in os.fspath(model_dir):
        return None  # an object store: no flock there
    lock = ModelDirLock(model_dir).acquire()
    weakref.finalize(owner, lock.release)
    return lock


def _make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """A Keras optimizer by name (one of :data:`nwsrec.config.OPTIMIZERS`)."""
    factories = {
        "adam": keras.optimizers.Adam,
        "adagrad": keras.optimizers.Adagrad,
        "sgd": keras.optimizers.SGD,
    }
    return factories[name](learning_rate=float(learning_rate))


def _best_evaluation(evaluations: list[list[float]], metric: str, min_delta: float = 0.0) -> int:
    """Index of the best ``[step, auc, log_loss]`` by ``metric``: an evaluation replaces
    the best so far only when it is better by more than ``min_delta`` (the weights saved
    as the best are the same ones)."""
    sign, column = (1.0, 1) if metric == "auc" else (-1.0, 2)
    best = 0
    for i in range(1, len(evaluations)):
        if sign * evaluations[i][column] > sign * evaluations[best][column] + min_delta:
            best = i
    return best


class Trainer:
    """Trains and evaluates an nwsrec ``Model`` with its own ``tf.function`` step.

    The model is built inside ``strategy.scope()`` by ``model_fn`` so that every variable
    (tables, Keras layers, NWS weights) is placed by the strategy.

    Args:
        model_fn: builds the model (e.g. ``lambda: MyModel(params)``).
        params: the run's :class:`~nwsrec.config.RunConfig`, or its flat params (the
            model's ``default_params()`` with overrides), resolved into one here.
        model_dir: where checkpoints, ``params.json``, event files and the NWS history go.
        strategy: a ``tf.distribute.Strategy``; default: the current (default) strategy.
        progress: show a progress bar on stderr.
        restore_dir: where to resume from; default ``model_dir``. A non-chief worker of a
            multi-worker run writes into a temporary ``model_dir`` and resumes from the
            chief's (``nwsrec.training.distributed.run_task`` passes it).

    Example:
        >>> trainer = Trainer(lambda: MyModel(params), params, "runs/my")  # doctest: +SKIP
        >>> trainer.train()  # doctest: +SKIP
        >>> trainer.evaluate(params["eval_file_pattern"]).auc  # doctest: +SKIP
    """

    def __init__(
        self,
        model_fn: Callable[[], Any],
        params: Mapping[str, Any],
        model_dir: str,
        strategy: Any = None,
        progress: bool = True,
        restore_dir: str | None = None,
    ) -> None:

        # Resolved once: every knob below is read from its typed section; ``params`` (the
        # flat wire format) is what params.json and the manifest record.
        self.run_config = RunConfig.from_params(params)
        self.params = self.run_config.to_params()
        self.model_dir = model_dir
        self.restore_dir = model_dir if restore_dir is None else restore_dir
        self._dir_lock = _hold_model_dir(self, model_dir)
        self.strategy = strategy if strategy is not None else tf.distribute.get_strategy()
        self.progress = progress
        self.batch_size = self.run_config.model.batch_size
        if self.batch_size % self.strategy.num_replicas_in_sync:
            raise ValueError(
                "`batch_size` must be a multiple of the number of replicas "
                f"({self.strategy.num_replicas_in_sync}). Received: batch_size={self.batch_size}"
            )
        self.config: TrainerConfig = self.run_config.trainer
        self.search_config: SearchConfig = self.run_config.search
        if self.config.seed is not None:
            keras.utils.set_random_seed(self.config.seed)
        self._width_penalty = self.search_config.width_penalty
        self.holdout_every = self.config.holdout_every
        with self.strategy.scope():
            self.model = model_fn()
            self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self._ensure_built()
            self.nws_layers = list(self.model.nws_layers())
            arch = [layer.get_arch_embedding_weights() for layer in self.nws_layers]
            arch_ids = {id(raw_variable(v)) for v in arch}
            self.arch_variables = arch
            self.dense_variables = [
                v for v in self.model.dense_variables() if id(raw_variable(v)) not in arch_ids
            ]
            self.tables = dict(self.model.tables)
            # What is updated: the table groups (tables sharing one variable) where the
            # model has them, else its tables.
            self._updated_tables = dict(getattr(self.model, "table_groups", self.tables))
            # An EmbeddingTable's gradient holds the ids its lookup checked this step: the
            # update skips a second check (its ops, per table and step).
            self._ids_checked_at_lookup = {
                name
                for name, table in self._updated_tables.items()
                if isinstance(table, EmbeddingTable)
            }
            self.routing = GradientRouting(
                self.dense_variables, self.arch_variables, self._updated_tables
            )
            self.table_variables = self.routing.table_variables
            self.dense_optimizer = _make_optimizer(
                self.config.dense_optimizer, self.config.dense_learning_rate
            )
            self.dense_optimizer.build(self.dense_variables)
            self.optimizers = {"dense": self.dense_optimizer}
            if self.arch_variables:
                self.arch_optimizer = _make_optimizer(
                    self.search_config.arch_optimizer, self.search_config.arch_learning_rate
                )
                self.arch_optimizer.build(self.arch_variables)
                self.optimizers["arch"] = self.arch_optimizer
        if not self.arch_variables and not self.config.early_stopping_patience:
            self.holdout_every = 0  # a model without NWS layer has no widths to select
        # Collectives across replicas get their instance keys once per tf.function call;
        # a sparse gradient changes shape from step to step, so under a multi-replica
        # strategy every call runs one step (else: "Shape mismatch in the collective").
        self._max_steps_per_call = 1 if self.strategy.num_replicas_in_sync > 1 else 1 << 62
        # ParameterServerStrategy: the chief schedules the steps on the workers.
        self.coordinator = None
        if is_parameter_server_strategy(self.strategy):
            self.coordinator = tf.distribute.experimental.coordinator.ClusterCoordinator(
                self.strategy
            )
        self._train_loop = tf.function(self._train_loop_fn)
        self._eval_step = tf.function(self._eval_step_fn)
        self._barrier = tf.function(self._barrier_fn)
        self.local_eval_step = tf.function(self._local_eval_step_fn)
        self._checkpoint: TrainingCheckpoint | None = None
        self._train_input_fn: Any = None

    # ---------------------------------------------------------------- building blocks

    def input_fn(self, file_pattern: str, repeat: bool, part: str = "all") -> Any:
        """The input function of ``file_pattern``.

        ``part``: ``"all"`` records, the ``"train"`` part or the ``"holdout"`` part of the
        ``holdout_every`` split (``"all"`` when there is no split).
        """
        if part not in ("all", "train", "holdout"):
            raise ValueError(f"`part` must be all, train or holdout. Received: part={part!r}")
        if part == "all" or not self.holdout_every:
            return self.model.create_input_fn(file_pattern, repeat=repeat)

        split = RecordSplit(self.holdout_every, held_out=part == "holdout")
        return self.model.create_input_fn(file_pattern, repeat=repeat, split=split)

    def _train_pattern(self) -> str:
        pattern = self.run_config.model.train_file_pattern
        if not pattern:
            raise ValueError(
                "`train_file_pattern` must be set in the params. Received: "
                f"train_file_pattern={pattern!r}"
            )
        return pattern

    def _ensure_built(self) -> None:
        """Creates every variable by one inference pass over one real batch."""

        pattern = self.run_config.model.train_file_pattern
        if not pattern:
            raise ValueError(
                "`train_file_pattern` must be set in the params. Received: "
                f"train_file_pattern={pattern!r}"
            )
        self._check_vocab_slots(pattern)
        input_fn = self.input_fn(pattern, repeat=False)
        dataset = input_fn(tf.distribute.InputContext())
        with _naming_bad_ids(input_fn, self.model):
            for features in dataset.take(1):
                self.model.forward(features, training=False)
                return
        raise ValueError(
            f"`train_file_pattern` must match files with at least one full batch of "
            f"{self.batch_size} examples. Received: train_file_pattern={pattern!r}"
        )

    def _check_vocab_slots(self, pattern: str) -> None:
        """The vocab file must list the slots of the training data (its first record)."""
        vocab_path = self.run_config.model.vocab_file_path
        if not vocab_path:
            return
        try:
            files = list_files(pattern)
        except ValueError:
            return  # no file: the input function says so
        slots = read_vocab_file(vocab_path)
        check_vocab_slots(
            list(slots), vocab_path, files[0], self.run_config.pipeline.compression_type
        )

    def _loss_terms(self) -> Any:

        if not self._width_penalty or not self.nws_layers:
            return tf.constant(0.0)
        dims = tf.add_n(
            [
                tf.cast(layer.get_summaries()["expected_emb_dims"], tf.float32)
                for layer in self.nws_layers
            ]
        )
        return self._width_penalty * dims

    # The step and evaluation functions run inside tf.functions whose only converted
    # control flow is the loop over steps: the model's forward pass is plain Python over
    # tensors, and leaving it unconverted spares AutoGraph's re-writing of every model
    # method (its cache of converted functions once served one model method for another
    # in a long test session).
    @tf.autograph.experimental.do_not_convert
    def _step_fn(self, features: Mapping[str, Any]) -> Any:

        replicas = float(self.strategy.num_replicas_in_sync)
        labels = tf.cast(tf.reshape(features["label"], [-1]), tf.float32)
        with tf.GradientTape() as tape:
            logits, aux_losses = self.model.forward(features, training=True)
            logits = tf.cast(tf.reshape(logits, [-1]), tf.float32)
            per_example = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
            task_loss = tf.reduce_sum(per_example) / float(self.batch_size)
            extra = self._loss_terms()
            for aux in aux_losses:
                extra += tf.cast(tf.reduce_sum(aux), tf.float32)
            loss = task_loss + extra / replicas
        grads = tape.gradient(loss, self.routing.watched)
        routed = self.routing.split(grads)
        # The Keras optimizers all-reduce in the replica context themselves.
        self.dense_optimizer.apply_gradients(routed.dense)
        if self.arch_variables:
            warm = tf.cast(
                self.global_step >= self.search_config.arch_warmup_steps,
                tf.float32,
            )
            self.arch_optimizer.apply_gradients([(g * warm, v) for g, v in routed.arch])
        present = routed.tables
        if present:
            context = tf.distribute.get_replica_context()
            reduced = [g for _, g in present]
            if context is not None and self.strategy.num_replicas_in_sync > 1:
                reduced = all_reduce_indexed_slices(
                    context, [as_indexed_slices(g) for g in reduced]
                )
            for (name, _), grad in zip(present, reduced, strict=True):
                if name in self._ids_checked_at_lookup:
                    self._updated_tables[name].apply_gradient(
                        as_indexed_slices(grad), check_ids=False
                    )
                else:  # a table of the bare Model contract: apply_gradient(grad)
                    self._updated_tables[name].apply_gradient(as_indexed_slices(grad))
        return task_loss + extra / replicas

    def _train_loop_fn(self, iterator: Any, num_steps: Any) -> Any:

        total = tf.constant(0.0)
        for _ in tf.range(num_steps):
            per_replica = self.strategy.run(self._step_fn, args=(next(iterator),))
            total += self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            self.global_step.assign_add(1)
        return total / tf.cast(num_steps, tf.float32)

    def _train_iterator(self, file_pattern: str) -> Any:
        """The training input: one iterator per worker under ParameterServerStrategy."""
        dataset_fn = self.input_fn(file_pattern, repeat=True, part="train")
        self._train_input_fn = dataset_fn
        if self.coordinator is not None:
            skip = self._batches_trained_per_worker()
            if skip:
                # A per-worker iterator cannot be checkpointed: a resumed run skips the
                # batches its workers trained on (exact with one worker).
                logger.info("resuming: each worker skips its first %d batches", skip)
                read = dataset_fn

                def dataset_fn(context: Any) -> Any:
                    return read(context).skip(skip)

            return per_worker_iterator(self.coordinator, self.strategy, dataset_fn)
        worker = multi_worker_task(self.strategy)
        if worker is not None and self.strategy.num_replicas_in_sync == worker.num_workers:
            # One replica per worker: this worker's own dataset (its file shard, as
            # distribute_datasets_from_function would give it), whose iterator can be
            # checkpointed, unlike a multi-worker distributed iterator: a resumed worker
            # continues where it stopped instead of re-reading its files from the start.
            dataset = dataset_fn(self._worker_input_context(worker))
            options = tf.data.Options()
            # A stateful op of a model's own input (a py_function) must not make the
            # checkpoint fail: its state is not saved (TF logs a warning), the rest is.
            options.experimental_external_state_policy = (
                tf.data.experimental.ExternalStatePolicy.WARN
            )
            return iter(dataset.with_options(options))
        return iter(self.strategy.distribute_datasets_from_function(dataset_fn))

    def _batches_trained_per_worker(self) -> int:
        """The step of the newest checkpoint in ``restore_dir`` over the ps workers."""
        try:
            path = tf.train.latest_checkpoint(self.restore_dir)
        except Exception:  # a damaged index: the restore repairs it and says so
            path = None
        match = re.search(r"ckpt-(\d+)$", path or "")
        return int(match.group(1)) // num_workers(self.strategy) if match else 0

    def _worker_input_context(self, worker: Any) -> Any:
        """The ``InputContext`` of this worker's input pipeline (its file shard)."""
        return tf.distribute.InputContext(
            num_input_pipelines=worker.num_workers,
            input_pipeline_id=worker.index,
            num_replicas_in_sync=self.strategy.num_replicas_in_sync,
        )

    def _check_manifest(self) -> None:
        """Refuses checkpoints of another model, layout or meaning (``manifest.json``),
        before anything is written; writes this run's manifest into its own dir."""
        manifest = run_manifest(self.params, self.tables, self.model)
        own = os.path.abspath(self.restore_dir) == os.path.abspath(self.model_dir)
        check_manifest(self.restore_dir, manifest, write=own)

    def close(self) -> None:
        """Gives back the model dir's lock (also done when the trainer is collected)."""
        if self._dir_lock is not None:
            self._dir_lock.release()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _worker_checkpointing(self, checkpointable_iterator: bool) -> dict[str, Any]:
        """Under multi-worker MWMS: every worker's own input position and the barrier.

        Each worker reads its own file shard, so a non-chief worker keeps its iterator
        state in ``{restore_dir}/inputs/<task>-<index>`` (the chief's is in the chief's
        checkpoint), written before the chief's checkpoint of the same step.
        """
        worker = multi_worker_task(self.strategy)
        if worker is None:
            return {}
        out: dict[str, Any] = {"barrier": self._barrier}
        if checkpointable_iterator and not worker.is_chief:
            out["input_directory"] = os.path.join(self.restore_dir, "inputs", worker.name)
        return out

    def _gather_from_workers(
        self, labels: list[np.ndarray], logits: list[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every worker's evaluated labels and logits, on every worker (one all-gather;
        each worker's share may have another length)."""
        mine = np.zeros([0, 2], np.float32)
        if labels:
            mine = np.stack(
                [np.concatenate(labels).reshape(-1), np.concatenate(logits).reshape(-1)], axis=1
            ).astype(np.float32)
        shares = [tf.constant(mine), tf.zeros([0, 2], tf.float32)]
        given: list[int] = []

        def share(_: Any) -> Any:  # this worker's examples on its first replica only
            given.append(1)
            return tf.identity(shares[min(len(given) - 1, 1)])

        per_replica = self.strategy.experimental_distribute_values_from_function(share)
        every = self.strategy.gather(per_replica, axis=0).numpy()
        if not every.size:
            return [], []
        return [every[:, 0]], [every[:, 1]]

    def _barrier_fn(self) -> Any:
        """A collective every worker must reach (a sum of one value per replica)."""
        per_replica = self.strategy.run(lambda: tf.constant(1.0))
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def _run_steps(self, iterator: Any, steps: int) -> float:
        """Runs ``steps`` training steps; returns their mean loss."""

        if self.coordinator is not None:
            return run_steps(
                self.coordinator,
                self._train_loop,
                iterator,
                steps,
                num_workers(self.strategy),
            )
        return float(self._train_loop(iterator, tf.constant(steps, tf.int64)))

    @tf.autograph.experimental.do_not_convert
    def _local_eval_step_fn(self, features: Any) -> Any:

        logits, _ = self.model.forward(features, training=False)
        return tf.reshape(features["label"], [-1]), tf.reshape(logits, [-1])

    def _eval_step_fn(self, features: Any) -> Any:

        @tf.autograph.experimental.do_not_convert
        def fn(batch: Mapping[str, Any]) -> Any:
            logits, _ = self.model.forward(batch, training=False)
            return tf.reshape(batch["label"], [-1]), tf.reshape(logits, [-1])

        return self.strategy.run(fn, args=(features,))

    # ---------------------------------------------------------------- public API

    @property
    def step(self) -> int:
        """The current global step."""
        return int(self.global_step.numpy())

    def train(self, steps: int | None = None, file_pattern: str | None = None) -> TrainResult:
        """Trains to global step ``steps``, resuming from the newest checkpoint in model_dir.

        Checkpoints are written every ``checkpoint_every_steps`` and at the end; training
        scalars every ``log_every_steps``.

        Args:
            steps: the global step to reach; default ``params["train_steps"]``.
            file_pattern: training files; default ``params["train_file_pattern"]``.

        Returns:
            A :class:`TrainResult`.
        """

        total = self.config.train_steps if steps is None else check_int("steps", steps, minimum=0)
        pattern = file_pattern or self._train_pattern()
        log_every = self.config.log_every_steps
        ckpt_every = self.config.checkpoint_every_steps
        patience = self.config.early_stopping_patience
        per_epoch = None
        if self.config.epochs is not None or (patience and not self.config.eval_every_steps):
            per_epoch = self.steps_per_epoch(pattern)
        if self.config.epochs is not None and steps is None:
            if per_epoch is None:  # set just above whenever `epochs` is
                raise ValueError(
                    "`epochs` needs the steps per epoch of the training files. Received: "
                    f"per_epoch=None for file_pattern={pattern!r}"
                )
            total = max(1, round(self.config.epochs * per_epoch))
            logger.info(
                "%s epochs of %d steps: training to step %d", self.config.epochs, per_epoch, total
            )
        eval_every = self.config.eval_every_steps or per_epoch or total

        iterator = self._train_iterator(pattern)
        checkpointable_iterator = isinstance(iterator, tf.__internal__.tracking.Trackable)
        if not checkpointable_iterator and self.coordinator is None:
            logger.warning(
                "the input iterator of %s cannot be checkpointed: a resumed run restarts "
                "reading the files from their beginning",
                type(self.strategy).__name__,
            )
        self._check_manifest()
        self._checkpoint = TrainingCheckpoint(
            self.model_dir,
            self.global_step,
            self.model,
            self.optimizers,
            iterator=iterator if checkpointable_iterator else None,
            max_to_keep=self.config.keep_checkpoints,
            restore_directory=self.restore_dir,
            **self._worker_checkpointing(checkpointable_iterator),
        )
        start = self._checkpoint.restore_latest()
        if start > total:
            raise ValueError(
                f"`train_steps` must be at least the step of the checkpoint in "
                f"{self.restore_dir!r} ({start}): a run does not train backwards. Received: "
                f"train_steps={total}; use --steps {start} or more, or another --model-dir"
            )
        # Written once the checkpoints are known to fit: a refused rerun changes nothing.
        write_params_json(self.model_dir, self.params)
        stopping = self._read_early_stopping(start) if patience else None
        best = self._best_checkpoint() if patience else None
        if stopping is not None and stopping["stopped_early"]:
            total = start  # this run already stopped early: nothing more to train
        summaries = RunSummaries(self.model_dir, resume_step=start)
        bar = ProgressBar(total, enabled=self.progress)
        step, last_loss, last_ckpt = start, float("nan"), self._checkpoint.latest
        run_examples, run_time = 0, 0.0
        interval_loss, interval_steps, interval_time = 0.0, 0, 0.0
        stop = StopOnSignals()
        try:
            with (
                stop,
                _naming_bad_ids(self._train_input_fn, self.model),
                _naming_errors(self._train_input_fn),
            ):
                while step < total:
                    boundary = min(
                        total,
                        (step // log_every + 1) * log_every,
                        (step // ckpt_every + 1) * ckpt_every,
                        (step // eval_every + 1) * eval_every if patience else total,
                        step + self._max_steps_per_call,
                    )
                    n = boundary - step
                    began = time.perf_counter()
                    chunk_loss = self._run_steps(iterator, n)
                    elapsed = time.perf_counter() - began
                    step = self.step
                    if not math.isfinite(chunk_loss):
                        raise FloatingPointError(
                            f"training loss became {chunk_loss} at step {step}; lower the "
                            "learning rates"
                        )
                    interval_loss += chunk_loss * n
                    interval_steps += n
                    interval_time += elapsed
                    run_examples += n * self.batch_size
                    run_time += elapsed
                    speed = interval_steps * self.batch_size / max(interval_time, 1e-9)
                    bar.update(step, interval_loss / interval_steps, speed)
                    if step % log_every == 0 or step == total:
                        last_loss = interval_loss / interval_steps
                        summaries.log_train(
                            step,
                            loss=last_loss,
                            examples_per_sec=speed,
                            nws_layers=self.nws_layers,
                        )
                        interval_loss, interval_steps, interval_time = 0.0, 0, 0.0
                    if step % ckpt_every == 0 or step == total or stop.requested:
                        last_ckpt = self._checkpoint.save()
                    if stop.requested:
                        raise RunInterrupted(str(stop.signal_name), step, last_ckpt)
                    if stopping is not None and (step % eval_every == 0 or step == total):
                        if self._early_stopping_eval(stopping, best, pattern, step, total):
                            last_ckpt = self._checkpoint.save()
                            break
        finally:
            summaries.close()
        if last_ckpt is None or self._checkpoint.latest is None:
            last_ckpt = self._checkpoint.save()
        report = None
        if stopping is not None:
            report = self._restore_best(stopping, best, step)
        return TrainResult(
            step=self.step,
            start_step=start,
            loss=last_loss,
            examples_per_sec=run_examples / run_time if run_time else float("nan"),
            checkpoint=last_ckpt,
            early_stopping=report,
            steps_per_epoch=per_epoch,
        )

    def _early_stopping_eval(
        self, state: dict[str, Any], best: Any, pattern: str, step: int, total: int
    ) -> bool:
        """One held-out evaluation; saves the best weights; True: stop now.

        A search model is judged at full width (every NWS slot pinned to its largest
        candidate): that is the model every narrower choice is compared with, and the
        layer's own inference (the argmax of still-untrained architecture weights) is
        no width anyone asked for.
        """
        if state["evaluations"] and state["evaluations"][-1][0] == step:
            return False
        with contextlib.ExitStack() as stack:
            for layer in self.nws_layers:
                stack.enter_context(layer.pinned(layer.largest_sizes()))
            result = self.evaluate(
                pattern, max_batches=self.config.early_stopping_batches, part="holdout"
            )
        metric = self.config.early_stopping_metric
        column = 1 if metric == "auc" else 2
        min_delta = self.config.early_stopping_min_delta
        state["evaluations"].append([step, result.auc, result.log_loss])
        best_index = _best_evaluation(state["evaluations"], metric, min_delta)
        if best_index == len(state["evaluations"]) - 1:
            best.save()
        waited = len(state["evaluations"]) - 1 - best_index
        stop = waited >= self.config.early_stopping_patience and step < total
        state["stopped_early"] = stop
        state["stopped_step"] = step
        write_json_atomic(self._early_stopping_path(), state)
        logger.info(
            "step %d: held-out AUC %.5f, log loss %.5f (best %s %.5f at step %d)%s",
            step,
            result.auc,
            result.log_loss,
            metric,
            state["evaluations"][best_index][column],
            state["evaluations"][best_index][0],
            "; stopping early" if stop else "",
        )
        return stop

    def _restore_best(self, state: dict[str, Any], best: Any, step: int) -> dict[str, Any]:
        """Restores the best held-out weights; returns the early-stopping report.

        Every worker of a multi-worker run reads the chief's ``best`` checkpoint (after a
        barrier, so the chief's last save is complete) and checks that all restored the
        same step: the workers go on to choose widths from these weights.
        """
        evaluations = state["evaluations"]
        report: dict[str, Any] = {
            "metric": self.config.early_stopping_metric,
            "stopped_step": step,
            "stopped_early": bool(state.get("stopped_early")),
            "evaluations": evaluations,
            "best_step": None,
            "best_holdout_auc": None,
            "best_holdout_log_loss": None,
        }
        worker = multi_worker_task(self.strategy)
        if worker is not None:
            self._barrier()  # the chief's last save of its best weights is complete
        path = tf.train.latest_checkpoint(self._best_directory())
        if path is None or not evaluations:
            return report
        best.restore(path)
        best_step = self.step
        if worker is not None:
            self._check_same_step_on_every_worker(best_step)
        by_step = {int(e[0]): e for e in evaluations}
        report["best_step"] = best_step
        if best_step in by_step:
            report["best_holdout_auc"] = by_step[best_step][1]
            report["best_holdout_log_loss"] = by_step[best_step][2]
        logger.info(
            "restored the best weights: step %d, held-out AUC %s, log loss %s",
            best_step,
            report["best_holdout_auc"],
            report["best_holdout_log_loss"],
        )
        return report

    def steps_per_epoch(self, file_pattern: str | None = None) -> int:
        """Training steps per pass over the training records (the ``"train"`` part).

        Counts the records without parsing them (``InputFn.count_records``) when the
        model's input function can; else counts the batches of one pass.
        """
        pattern = file_pattern or self._train_pattern()
        input_fn = self.input_fn(pattern, repeat=False, part="train")
        count = getattr(input_fn, "count_records", None)
        with _naming_errors(input_fn):  # a corrupt file is named, as in training
            if count is not None:
                steps = count() // self.batch_size
            else:
                steps = sum(1 for _ in input_fn(tf.distribute.InputContext()))
        if steps < 1:
            raise ValueError(
                f"`train_file_pattern` must hold at least one batch of {self.batch_size} "
                f"training records for `epochs`. Received: train_file_pattern={pattern!r}"
            )
        return steps

    def _early_stopping_path(self) -> str:
        return os.path.join(self.model_dir, "early_stopping.json")

    def _read_early_stopping(self, start: int) -> dict[str, Any]:
        """The early-stopping state of a resumed run (evaluations up to ``start``)."""
        metric = self.config.early_stopping_metric
        state: dict[str, Any] = {"metric": metric, "evaluations": [], "stopped_early": False}
        path = os.path.join(self.restore_dir, "early_stopping.json")
        if start and os.path.exists(path):
            with open(path) as f:
                saved = json.load(f)
            kept = [e for e in saved.get("evaluations", []) if e[0] <= start and len(e) == 3]
            state["evaluations"] = kept
            state["stopped_early"] = bool(saved.get("stopped_early")) and (
                saved.get("stopped_step") == start
            )
        return state

    def _best_directory(self) -> str:
        """Where every task reads the best held-out weights from: the chief's
        ``model_dir/best``.

        A non-chief worker of a multi-worker run saves its own copy into its temporary
        model dir (every worker takes part in a save), but that dir is new in every run:
        after a restart it lacks a best step of the run before, which only the chief's
        holds. Reading the chief's makes every worker restore the same weights.
        """
        worker = multi_worker_task(self.strategy)
        owner = self.restore_dir if worker is not None and not worker.is_chief else self.model_dir
        return os.path.join(owner, "best")

    def _check_same_step_on_every_worker(self, step: int) -> None:
        """Raises unless every worker of a multi-worker run is at ``step`` (one all-gather)."""
        per_replica = self.strategy.experimental_distribute_values_from_function(
            lambda _: tf.constant([step], tf.int64)
        )
        steps = sorted({int(s) for s in self.strategy.gather(per_replica, axis=0).numpy()})
        if len(steps) > 1:
            raise RuntimeError(
                "every worker must restore the same best held-out step. Received: steps "
                f"{steps} across the workers (best weights read from {self._best_directory()!r})"
            )

    def _best_checkpoint(self) -> Any:
        """The checkpoint of the best held-out weights (``model_dir/best``)."""
        return TrainingCheckpoint(
            os.path.join(self.model_dir, "best"),
            self.global_step,
            self.model,
            self.optimizers,
            iterator=None,
            max_to_keep=1,
        )

    def restore(self, directory: str | None = None) -> int:
        """Restores the newest checkpoint of model_dir without an input position.

        Args:
            directory: another checkpoint directory to read (e.g. ``model_dir/best``,
                the best held-out weights of an early-stopped run).

        Returns:
            The restored global step (0 when there is none).
        """
        checkpoint = TrainingCheckpoint(
            directory or self.model_dir,
            self.global_step,
            self.model,
            self.optimizers,
            iterator=None,
        )
        path = checkpoint.latest
        if path is None:
            return 0
        checkpoint.restore(path)
        return self.step

    def evaluate(
        self, file_pattern: str | None = None, max_batches: int | None = None, part: str = "all"
    ) -> EvalResult:
        """Evaluates the current weights on a held-out split: exact AUC and log loss.

        Every example of the files is read once (with nwsrec's input pipeline, the last
        partial batch too). Under a multi-worker ``MultiWorkerMirroredStrategy`` each
        worker reads its own shard of the files and the AUC and log loss are computed
        over the labels and logits of every worker (all-gathered), the same on every
        worker; under ``ParameterServerStrategy`` the chief reads every file.

        Args:
            file_pattern: held-out files; default ``params["eval_file_pattern"]``.
            max_batches: stop after this many global batches (None: all).
            part: ``"all"`` records, or the ``"holdout"`` / ``"train"`` part of the
                ``holdout_every`` split (events then go to ``eval_holdout``).

        Returns:
            An :class:`EvalResult`; also written to the ``eval`` event file.
        """

        pattern = file_pattern or self.run_config.model.eval_file_pattern
        if not pattern:
            raise ValueError(
                "`eval_file_pattern` must be set in the params. Received: "
                f"eval_file_pattern={pattern!r}"
            )
        eval_input_fn = self.input_fn(pattern, repeat=False, part=part)
        if isinstance(eval_input_fn, InputFn):
            eval_input_fn.keeping_remainder()  # every example, the last partial batch too
        worker = multi_worker_task(self.strategy)
        if self.coordinator is not None:
            # ParameterServerStrategy: the chief evaluates inline, reading every file once
            # and the weights from the ps tasks (strategy.run only runs in scheduled
            # functions).
            dataset = eval_input_fn(tf.distribute.InputContext())
            step_fn, results = self.local_eval_step, lambda t: [t]
        elif worker is not None:
            # Multi-worker MWMS: each worker evaluates its own file shard with its copy of
            # the (identical) weights; the shards' labels and logits are gathered below.
            dataset = eval_input_fn(self._worker_input_context(worker))
            step_fn, results = self.local_eval_step, lambda t: [t]
        else:
            dataset = self.strategy.distribute_datasets_from_function(eval_input_fn)
            step_fn, results = self._eval_step, self.strategy.experimental_local_results
        labels, logits = [], []
        with _naming_bad_ids(eval_input_fn, self.model), _naming_errors(eval_input_fn):
            for i, batch in enumerate(dataset):
                if max_batches is not None and i >= max_batches:
                    break
                batch_labels, batch_logits = step_fn(batch)
                labels += [t.numpy() for t in results(batch_labels)]
                logits += [t.numpy() for t in results(batch_logits)]
        if worker is not None:
            labels, logits = self._gather_from_workers(labels, logits)
        if not labels and part != "all":
            raise ValueError(
                f"the {part} part of `train_file_pattern` (one record in `holdout_every`="
                f"{self.holdout_every} held out) must hold at least one example. Lower "
                f"`holdout_every`. Received: train_file_pattern={pattern!r}"
            )
        if not labels:
            raise ValueError(
                "`eval_file_pattern` must hold at least one example. Received: "
                f"eval_file_pattern={pattern!r}"
            )
        y = np.concatenate(labels).astype(np.float64)
        z = np.concatenate(logits).astype(np.float64)
        result = EvalResult(
            auc=exact_auc(y, z),
            log_loss=log_loss(y, 1.0 / (1.0 + np.exp(-z))),
            num_examples=int(y.size),
            step=self.step,
        )
        write_scalars(
            os.path.join(self.model_dir, "eval" if part == "all" else f"eval_{part}"),
            result.step,
            {"auc": result.auc, "log_loss": result.log_loss},
        )
        return result
