"""Checkpoints of a training run: everything a rerun needs to continue where it stopped.

A checkpoint holds the global step, the model's dense weights (trainable and the NWS
layers' non-trainable ones, such as ``MixedEmbedOpComb.step`` and its random-draw state),
every embedding table with its optimizer slots, the Keras optimizers' state, and the input
iterator (its position in the files and its buffers), so a resumed run reads the batches
the killed run had not yet trained on.

Tables are saved by group (``tables/<group>/...``: tables of one width and optimizer
share one variable, see :mod:`nwsrec.embedding.specs`). A checkpoint written before
groups (``tables/table_{s}_{i}/...``, one variable per table) is read table by table into
its group's rows (:func:`restore_in_parts`); a checkpoint of another grouping (e.g. a run
with ``table_groups=true`` resumed with ``false``) is refused with one line naming both
layouts.

Writes go through ``tf.train.CheckpointManager``: the data files of a checkpoint are
complete before the ``checkpoint`` index names them (an atomic rename), so a run killed at
any moment leaves the last complete checkpoint usable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["TrainingCheckpoint", "restore_in_parts", "trackable_tables"]


def trackable_tables(tables: dict[str, Any]) -> dict[str, Any]:
    """What to checkpoint for each embedding table.

    A table that is itself trackable (a ``tf.Module`` or other ``Trackable``) is saved as
    such, with whatever state it tracks (weights and optimizer slots); a view of a table
    group (``Model.tables``' values, which have a ``group``) saves its group, once, under
    the group's name; otherwise its ``variables`` list is saved.

    Args:
        tables: ``Model.tables``.

    Returns:
        ``{table name: trackable}``.

    Example:
        >>> trackable_tables({})
        {}
    """
    import tensorflow as tf

    out: dict[str, Any] = {}
    for name, table in tables.items():
        group = getattr(table, "group", None)
        if group is not None:
            out.setdefault(group.name, group)
        elif isinstance(table, tf.__internal__.tracking.Trackable):
            out[name] = table
        else:
            out[name] = list(table.variables)
    return out


def restore_in_parts(objects: Mapping[str, Any], path: str, *, check: bool = True) -> None:
    """Restores ``objects`` (the keyword arguments of a ``tf.train.Checkpoint``) from
    ``path``, one embedding table at a time.

    A ``tf.train.Checkpoint.restore`` reads every variable it covers into new tensors
    before it assigns them, so restoring a whole model at once peaks at twice its tables
    (9.4 GiB for the 4.3 GiB Criteo-shaped model of ``bench/peers.py``). Restored table by
    table (``objects["tables"]``, a dict), then everything else, the peak is the tables plus
    the largest one; a table with plain variables is also freed before its own restore
    (``EmbeddingTable.release``), so the peak is the tables alone. The checkpoint's object
    graph is the same: each part is a ``tf.train.Checkpoint`` with the same root names.

    Args:
        objects: root name -> trackable, as given to ``tf.train.Checkpoint``.
        path: the checkpoint's path prefix.
        check: raise if an object of ``objects`` has no value in the checkpoint.

    Raises:
        AssertionError: (``check``) an object without a value in the checkpoint.
        ValueError: a variable of another shape in the checkpoint.
        tf.errors.OpError: a damaged checkpoint file.
    """
    import tensorflow as tf

    tables = dict(objects.get("tables") or {})
    rest = {name: value for name, value in objects.items() if name != "tables"}
    saved = _saved_tables(path) if tables else set()
    for name, table in tables.items():
        members = [spec.name for spec in getattr(table, "members", ())]
        if name not in saved and members and saved and all(m in saved for m in members):
            _restore_group_from_tables(table, path)
            continue
        if name not in saved and saved and check:
            # AssertionError, as tf.train's "unmatched object" of the same case.
            raise AssertionError(
                f"`tables` must be saved in the checkpoint's layout. Received: {path!r} holds "
                f"tables {_names(saved)} and this model expects {_names(tables)} (a run with "
                "another table_groups setting or other table optimizers); resume with the "
                "settings the run was written with"
            )
        _restore_table(name, table, path, check, saved=name in saved)
    status = tf.train.Checkpoint(**rest).restore(path)
    status.expect_partial()
    if check:
        status.assert_existing_objects_matched()


def _restore_table(name: str, table: Any, path: str, check: bool, saved: bool) -> None:
    """Restores table (or group) ``name`` of ``path``; one whose name the checkpoint holds
    (``saved``) and that can free its variables (``EmbeddingTable.release``) is freed
    first, so the restore takes the table's size in memory once, not twice.

    Where the restore fails, or leaves a freed variable unassigned, the table gets its
    initial values back (``reset``) before the error goes on: a caller that falls back to
    an older checkpoint or to a fresh start finds every table whole.
    """
    import tensorflow as tf

    released = saved and getattr(table, "releasable", lambda: False)()
    if released:
        table.release()
    try:
        status = tf.train.Checkpoint(tables={name: table}).restore(path)
        status.expect_partial()  # each part is a part of the checkpoint
        if check:
            status.assert_existing_objects_matched()
    except BaseException:
        if released:
            table.reset()
        raise
    if released and table.is_released():
        table.reset()
        raise ValueError(
            f"`tables` of checkpoint {path!r} must hold every variable of table "
            f"'{name}'. Received: a checkpoint that left some of them unassigned"
        )


def _names(names: Any) -> str:
    names = sorted(names)
    return f"[{', '.join(names[:6])}{', ...' if len(names) > 6 else ''}]"


def _saved_tables(path: str) -> set[str]:
    """The table (or table group) names a checkpoint holds under ``tables/``."""
    import tensorflow as tf

    names = set()
    for key, _ in tf.train.list_variables(path):
        parts = key.split("/")
        if len(parts) > 2 and parts[0] == "tables":
            names.add(parts[1])
    return names


def _restore_group_from_tables(group: Any, path: str) -> None:
    """Reads a checkpoint written before groups into ``group``: each member table's
    variable and optimizer slots into its rows (one table in memory at a time)."""
    import tensorflow as tf

    from nwsrec.embedding.collection import assign_rows

    reader = tf.train.load_checkpoint(path)
    targets = {"_variable": group.variable}
    targets.update({f"_slot_variables/{n}": v for n, v in group.slot_variables.items()})
    for spec, offset in zip(group.members, group.offsets, strict=True):
        for attribute, variable in targets.items():
            key = f"tables/{spec.name}/{attribute}/.ATTRIBUTES/VARIABLE_VALUE"
            if not reader.has_tensor(key):
                raise ValueError(
                    f"`tables` of checkpoint {path!r} must hold {key!r} to restore table "
                    f"'{spec.name}' into group '{group.name}'. Received: a checkpoint without it"
                )
            value = reader.get_tensor(key)
            expected = (spec.rows, int(variable.shape[1]))
            if tuple(value.shape) != expected:
                raise ValueError(
                    f"`{key}` of checkpoint {path!r} must have shape {list(expected)} to restore "
                    f"into group '{group.name}'. Received: shape={list(value.shape)}"
                )
            assign_rows(variable, offset, value)
            del value
    logger.info(
        "restored %d tables of a checkpoint written before table groups into group %s",
        len(group.members),
        group.name,
    )


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
        input_directory: where this task keeps its own input position (a non-chief worker
            of a multi-worker run); None keeps the iterator in the checkpoint itself.
        barrier: called by every task before the checkpoint of a step is written (a
            collective across the workers), after this task's input position is.

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
        input_directory: str | None = None,
        barrier: Callable[[], Any] | None = None,
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
        self._barrier = barrier
        self._inputs: Any = None
        self._input_iterator = None
        if iterator is not None and input_directory is not None:
            # One more than the chief keeps: this task's position of step N is written
            # before the chief's checkpoint N, so the chief's newest is always here.
            self._input_iterator = iterator
            self._inputs = tf.train.CheckpointManager(
                tf.train.Checkpoint(iterator=iterator),
                input_directory,
                max_to_keep=max_to_keep + 1,
                step_counter=global_step,
            )
        elif iterator is not None:
            objects["iterator"] = iterator
        self._objects = objects
        self.checkpoint = tf.train.Checkpoint(**objects)
        if self.restore_directory == self.directory:
            self._repair_index()
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep, step_counter=global_step
        )

    @property
    def latest(self) -> str | None:
        """The path prefix of the newest complete checkpoint, or None."""
        return self.manager.latest_checkpoint

    # ------------------------------------------------------------ damaged checkpoints

    def _repair_index(self) -> None:
        """Makes the ``checkpoint`` index name the checkpoints that are on disk.

        A damaged index (garbage, another encoding) is moved aside and, like a deleted
        one, rebuilt from the ``ckpt-N.index`` files in the dir, so a run never starts
        from step 0 over checkpoints it did not see. Entries naming deleted files are
        dropped. Each repair is logged as a warning naming the file.
        """
        import tensorflow as tf

        from nwsrec.training.rundir import checkpoint_steps

        index = os.path.join(self.directory, "checkpoint")
        steps = checkpoint_steps(self.directory)
        on_disk = [os.path.join(self.directory, f"ckpt-{n}") for n in steps]
        listed: list[str] | None = None
        problem = None
        if os.path.exists(index):
            try:
                state = tf.train.get_checkpoint_state(self.directory)
                listed = [] if state is None else list(state.all_model_checkpoint_paths)
                if state is not None and state.model_checkpoint_path not in listed:
                    listed.append(state.model_checkpoint_path)
            except Exception as err:  # text_format.ParseError, UnicodeDecodeError, ...
                problem = f"is damaged ({_short(err)})"
                aside = _move_aside(self.directory, [index])
                logger.warning("checkpoint index %s %s; moved to %s", index, problem, aside)
        if listed is not None:
            gone = [p for p in listed if not tf.io.gfile.exists(p + ".index")]
            if not gone:
                return
            problem = f"names checkpoints that are gone ({', '.join(map(os.path.basename, gone))})"
            logger.warning("checkpoint index %s %s", index, problem)
        elif not on_disk:
            return
        elif problem is None:
            logger.warning("checkpoint index %s is missing", index)
        if on_disk:
            _write_index(self.directory, on_disk)
            logger.warning(
                "rebuilt %s from the checkpoint files: %s",
                index,
                ", ".join(os.path.basename(p) for p in on_disk),
            )
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(index)
            logger.warning("no checkpoint is left in %s: training starts at step 0", self.directory)

    def _candidates(self) -> list[str]:
        """The checkpoints to try, newest first."""
        import tensorflow as tf

        if self.restore_directory == self.directory:
            return list(reversed(self.manager.checkpoints))
        try:
            state = tf.train.get_checkpoint_state(self.restore_directory)
        except Exception as err:
            raise ValueError(
                f"`model_dir` must hold a readable checkpoint index. Received: "
                f"{os.path.join(self.restore_directory, 'checkpoint')!r} ({_short(err)})"
            ) from None
        if state is None:
            return []
        paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
        return list(reversed(paths))

    def restore_latest(self) -> int:
        """Restores the newest intact checkpoint, if any, and returns the restored step.

        The checkpoint is read from ``restore_directory``. A damaged checkpoint (a
        truncated or garbled file) is named in a warning and the previous one is tried;
        in the run's own directory the damaged files are moved into ``damaged/`` so that
        no later save overwrites them.

        Raises:
            ValueError: when the checkpoint does not match the model (another model or
                other widths were trained in this directory), or when every checkpoint
                is damaged (naming the files; nothing is overwritten).
        """
        import tensorflow as tf

        candidates = self._candidates()
        if not candidates:
            return 0
        damaged: list[tuple[str, str]] = []
        restored = None
        for path in candidates:
            try:
                restore_in_parts(self._objects, path)
            except (AssertionError, ValueError) as err:
                raise ValueError(
                    f"`model_dir` must hold checkpoints of this same model. Received: a "
                    f"checkpoint {path!r} that does not match it ({_short(err)}). Use another "
                    "--model-dir."
                ) from err
            except (tf.errors.OpError, OSError, IndexError, KeyError, UnicodeDecodeError) as err:
                name = _damaged_file(path)
                damaged.append((path, f"{name} ({_short(err)})"))
                logger.warning(
                    "checkpoint %s is damaged: %s (%s); trying the previous checkpoint",
                    path,
                    name,
                    _short(err),
                )
                continue
            restored = path
            break
        if restored is None:
            raise ValueError(
                "`model_dir` must hold at least one readable checkpoint. Received: every "
                f"checkpoint in {self.restore_directory!r} is damaged: "
                f"{'; '.join(text for _, text in damaged)}. Nothing was overwritten; move "
                "them away (or use another --model-dir) to train from step 0"
            )
        if damaged and self.restore_directory == self.directory:
            self._set_aside([p for p, _ in damaged])
        step = int(self.global_step.numpy())
        if damaged:
            logger.warning("resuming from %s at step %d", restored, step)
        logger.info("restored %s at step %d", restored, step)
        self._restore_input(step)
        return step

    def _restore_input(self, step: int) -> None:
        """Restores this task's own input position of ``step`` (``input_directory``)."""
        import tensorflow as tf

        if self._inputs is None:
            return
        path = os.path.join(self._inputs.directory, f"ckpt-{step}")
        if not tf.io.gfile.exists(path + ".index"):
            logger.warning(
                "no input position of step %d in %s: this worker reads its files from "
                "their beginning",
                step,
                self._inputs.directory,
            )
            return
        status = tf.train.Checkpoint(iterator=self._input_iterator).read(path)
        status.expect_partial()  # its save_counter is not restored
        status.assert_existing_objects_matched()
        logger.info("restored this worker's input position %s", path)

    def _set_aside(self, paths: list[str]) -> None:
        """Moves damaged checkpoints into ``damaged/`` and drops them from the index."""
        import tensorflow as tf

        files = [f for p in paths for f in tf.io.gfile.glob(p + ".*")]
        aside = _move_aside(self.directory, files)
        logger.warning("moved the damaged checkpoint files to %s", aside)
        keep = [p for p in self.manager.checkpoints if p not in paths]
        if keep:
            _write_index(self.directory, keep)
        else:
            os.remove(os.path.join(self.directory, "checkpoint"))
        self.manager = tf.train.CheckpointManager(
            self.checkpoint,
            self.directory,
            max_to_keep=self.manager._max_to_keep,
            step_counter=self.global_step,
        )

    def restore(self, path: str) -> None:
        """Restores checkpoint ``path`` (one table at a time), without checking the match."""
        restore_in_parts(self._objects, path, check=False)

    def save(self) -> str:
        """Writes a checkpoint at the current global step and returns its path prefix.

        A non-chief worker's own input position is written first, then every task meets
        at the ``barrier``: the chief's checkpoint of a step never exists without the
        other workers' input positions of that step.
        """
        step = int(self.global_step.numpy())
        if self._inputs is not None:
            self._inputs.save(checkpoint_number=step)
        if self._barrier is not None:
            self._barrier()
        path = self.manager.save(checkpoint_number=step)
        logger.info("saved %s", path)
        return path


def _write_index(directory: str, prefixes: list[str]) -> None:
    """Writes the ``checkpoint`` index naming ``prefixes`` (oldest first), with timestamps:
    without them ``tf.train.CheckpointManager`` sees no checkpoint to keep or delete."""
    from tensorflow.python.checkpoint import checkpoint_management

    stamps = [os.path.getmtime(p + ".index") for p in prefixes]
    checkpoint_management.update_checkpoint_state_internal(
        directory,
        prefixes[-1],
        all_model_checkpoint_paths=prefixes,
        all_model_checkpoint_timestamps=stamps,
        save_relative_paths=True,
    )


def _short(err: BaseException) -> str:
    """The first line of an error's message, without TensorFlow's op noise."""
    text = getattr(err, "message", None) or str(err) or type(err).__name__
    return text.strip().splitlines()[0][:300]


def _damaged_file(prefix: str) -> str:
    """Which file of a checkpoint cannot be read: its ``.index``, else its data files."""
    import tensorflow as tf

    try:
        tf.train.load_checkpoint(prefix)
    except Exception:
        return prefix + ".index"
    data = sorted(tf.io.gfile.glob(prefix + ".data-*"))
    return ", ".join(data) if data else prefix + ".data-*"


def _move_aside(directory: str, files: list[str]) -> str:
    """Moves ``files`` into ``{directory}/damaged/<time>/``; returns that dir."""
    target = os.path.join(directory, "damaged", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(target, exist_ok=True)
    for path in files:
        os.replace(path, os.path.join(target, os.path.basename(path)))
    return target
