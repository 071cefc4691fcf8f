"""Checkpoints of a training run: everything a rerun needs to continue where it stopped.

A checkpoint holds the global step, the model's dense weights (trainable and the NWS
layers' non-trainable ones, such as ``MixedEmbedOpComb.step`` and its random-draw state),
every embedding table with its optimizer slots, the Keras optimizers' state, and the input
iterator (its position in the files and its buffers), so a resumed run reads the batches
the killed run had not yet trained on.

Writes go through ``tf.train.CheckpointManager``: the data files of a checkpoint are
complete before the ``checkpoint`` index names them (an atomic rename), so a run killed at
any moment leaves the last complete checkpoint usable.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["TrainingCheckpoint", "trackable_tables"]


def trackable_tables(tables: dict[str, Any]) -> dict[str, Any]:
    """What to checkpoint for each embedding table.

    A table that is itself trackable (a ``tf.Module`` or other ``Trackable``) is saved as
    such, with whatever state it tracks (weights and optimizer slots); otherwise its
    ``variables`` list is saved.

    Args:
        tables: ``Model.tables``.

    Returns:
        ``{table name: trackable}``.

    Example:
        >>> trackable_tables({})
        {}
    """
    import tensorflow as tf

    out = {}
    for name, table in tables.items():
        if isinstance(table, tf.__internal__.tracking.Trackable):
            out[name] = table
        else:
            out[name] = list(table.variables)
    return out


class TrainingCheckpoint:
    """Saves and restores the state of a training run in ``directory``.

    Args:
        directory: where the checkpoints go (the run's model dir).
        global_step: the run's step counter (an int64 ``tf.Variable``).
        model: the ``nwsrec.model.Model`` being trained.
        optimizers: Keras optimizers by name (built before a restore, so their slots exist).
        iterator: the input iterator to save with the run; None saves no input position.
        max_to_keep: how many recent checkpoints to keep.
        restore_directory: where :meth:`restore_latest` looks (default ``directory``): a
            non-chief task of a multi-worker run writes into a temporary directory and
            restores from the chief's.

    Example:
        >>> ckpt = TrainingCheckpoint("/tmp/run", step, model, {"dense": opt})  # doctest: +SKIP
        >>> ckpt.restore_latest()  # doctest: +SKIP
        0
    """

    def __init__(
        self,
        directory: str,
        global_step: Any,
        model: Any,
        optimizers: dict[str, Any],
        iterator: Any = None,
        max_to_keep: int = 3,
        restore_directory: str | None = None,
    ) -> None:
        import tensorflow as tf

        if max_to_keep < 1:
            raise ValueError(f"`max_to_keep` must be >= 1. Received: max_to_keep={max_to_keep!r}")
        self.directory = directory
        self.restore_directory = restore_directory or directory
        self.global_step = global_step
        dense: Sequence[Any] = list(model.dense_variables())
        nws_state = [list(layer.variables) for layer in model.nws_layers()]
        objects: dict[str, Any] = {
            "global_step": global_step,
            "dense": dense,
            "nws": nws_state,
            "tables": trackable_tables(model.tables),
            "optimizers": dict(optimizers),
        }
        if iterator is not None:
            objects["iterator"] = iterator
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep, step_counter=global_step
        )

    @property
    def latest(self) -> str | None:
        """The path prefix of the newest complete checkpoint, or None."""
        return self.manager.latest_checkpoint

    def restore_latest(self) -> int:
        """Restores the newest checkpoint, if any, and returns the restored global step.

        The checkpoint is read from ``restore_directory``.

        Raises:
            ValueError: when the checkpoint does not match the model (another model or
                other widths were trained in this directory).
        """
        import tensorflow as tf

        if self.restore_directory == self.directory:
            path = self.manager.latest_checkpoint
        else:
            path = tf.train.latest_checkpoint(self.restore_directory)
        if path is None:
            return 0
        try:
            status = self.checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except (AssertionError, ValueError) as err:
            raise ValueError(
                f"`model_dir` must hold checkpoints of this same model. Received: a checkpoint "
                f"{path!r} that does not match it ({err}). Use another --model-dir."
            ) from err
        step = int(self.global_step.numpy())
        logger.info("restored %s at step %d", path, step)
        return step

    def save(self) -> str:
        """Writes a checkpoint at the current global step and returns its path prefix."""
        path = self.manager.save(checkpoint_number=int(self.global_step.numpy()))
        logger.info("saved %s", path)
        return path
