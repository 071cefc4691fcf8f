"""What a run reports: TensorBoard events, the NWS history, a progress bar, its params.

- :class:`RunSummaries`: TensorBoard scalars under ``{model_dir}/train`` (loss,
  examples/s, and for every NWS layer ``nws/arch_entropy``, ``nws/expected_emb_dims``,
  ``nws/expected_zero_embedding_size_weights`` and each slot's choice probabilities
  ``arch_embedding_weights_after_softmax/{slot}_{size}``) and ``{model_dir}/eval`` (AUC,
  log loss); plus ``nws_history.jsonl``, one line of choice probabilities per logged step,
  which ``search.png`` is drawn from.
- :class:`ProgressBar`: one line on stderr, rewritten in place: step, loss, examples/s.
- :func:`write_params_json`: the resolved params of a run, next to its checkpoints.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from nwsrec.files import write_json_atomic

logger = logging.getLogger(__name__)

__all__ = [
    "HISTORY_FILE",
    "PARAMS_FILE",
    "CountProgress",
    "ProgressBar",
    "RunSummaries",
    "nws_snapshot",
    "read_history",
    "write_scalars",
    "write_params_json",
]

PARAMS_FILE = "params.json"
HISTORY_FILE = "nws_history.jsonl"


def _scalar(name: str, value: float) -> None:
    """Writes one scalar to the default summary writer, as TensorBoard's scalar plugin does.

    ``tf.summary.scalar`` needs the ``tensorboard`` package, which ``tensorflow-cpu`` does
    not install; ``tf.summary.write`` with the scalar plugin's metadata writes the same
    event with core TensorFlow only.
    """
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )
    tf.summary.write(name, tf.constant(float(value), tf.float32), metadata=metadata)


def write_params_json(model_dir: str, params: Mapping[str, Any]) -> str:
    """Writes the resolved params of a run to ``{model_dir}/params.json``.

    Args:
        model_dir: the run's directory (where its checkpoints go).
        params: the params the run uses.

    Returns:
        The path written.

    Example:
        >>> write_params_json("/tmp/run", {"batch_size": 256})  # doctest: +SKIP
        '/tmp/run/params.json'
    """
    path = os.path.join(model_dir, PARAMS_FILE)
    write_json_atomic(path, params)
    return path


def nws_snapshot(nws_layers: Sequence[Any]) -> dict[str, Any]:
    """Reads the summaries of NWS layers as plain Python numbers.

    Args:
        nws_layers: ``MixedEmbedOpComb`` layers.

    Returns:
        ``{"arch_entropy", "expected_emb_dims", "expected_zero_embedding_size_weights"}``
        summed over the layers, and ``"probabilities"``: ``{slot_name: [p_j, ...]}`` from
        the current architecture weights.

    Example:
        >>> nws_snapshot([])["expected_emb_dims"]
        0.0
    """
    import numpy as np

    totals = {
        "arch_entropy": 0.0,
        "expected_emb_dims": 0.0,
        "expected_zero_embedding_size_weights": 0.0,
    }
    probabilities: dict[str, list[float]] = {}
    for layer in nws_layers:
        summaries = layer.get_summaries()
        for key in totals:
            totals[key] += float(np.asarray(summaries[key]))
        config = layer.get_config()
        weights = np.asarray(layer.get_arch_embedding_weights(), dtype=np.float64).reshape(-1)
        offset = 0
        for name, choices in zip(
            config["slot_names"], config["embedding_size_choices_list"], strict=True
        ):
            w = weights[offset : offset + len(choices)]
            offset += len(choices)
            p = np.exp(w - w.max())
            probabilities[str(name)] = (p / p.sum()).tolist()
    return {**totals, "probabilities": probabilities}


def read_history(model_dir: str) -> list[dict[str, Any]]:
    """Reads ``nws_history.jsonl`` of a run: one dict per logged step, oldest first.

    Args:
        model_dir: the run's directory.

    Returns:
        The records (empty when the run logged none).

    Example:
        >>> read_history("/nonexistent")
        []
    """
    path = os.path.join(model_dir, HISTORY_FILE)
    if not os.path.exists(path):
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:  # a run killed mid-line
                    logger.warning("skipping a truncated line of %s", path)
    return records


class RunSummaries:
    """TensorBoard event files and the NWS history of one run.

    Args:
        model_dir: the run's directory; events go to ``train/`` and ``eval/`` below it.
        resume_step: the step a resumed run restarts from: history lines after it (written
            after the last checkpoint of a killed run) are dropped.

    Example:
        >>> summaries = RunSummaries("/tmp/run")  # doctest: +SKIP
        >>> summaries.log_train(100, loss=0.5, examples_per_sec=1e4)  # doctest: +SKIP
    """

    def __init__(self, model_dir: str, resume_step: int = 0) -> None:
        import tensorflow as tf

        self.model_dir = model_dir
        os.makedirs(model_dir, exist_ok=True)
        self._train_writer = tf.summary.create_file_writer(os.path.join(model_dir, "train"))
        self._history_path = os.path.join(model_dir, HISTORY_FILE)
        kept = [r for r in read_history(model_dir) if r["step"] <= resume_step]
        with open(self._history_path, "w", encoding="utf-8") as f:
            for record in kept:
                f.write(json.dumps(record) + "\n")

    def log_train(
        self,
        step: int,
        *,
        loss: float,
        examples_per_sec: float,
        nws_layers: Sequence[Any] = (),
        extra: Mapping[str, float] | None = None,
    ) -> dict[str, Any] | None:
        """Writes the training scalars of ``step``; returns the NWS snapshot (or None).

        Args:
            step: the global step.
            loss: the mean training loss since the last log.
            examples_per_sec: throughput since the last log.
            nws_layers: the model's NWS layers.
            extra: more scalars to write.
        """

        snapshot = nws_snapshot(nws_layers) if nws_layers else None
        with self._train_writer.as_default(step=step):
            _scalar("loss", loss)
            _scalar("examples_per_sec", examples_per_sec)
            for key, value in (extra or {}).items():
                _scalar(key, value)
            if snapshot is not None:
                for key in ("arch_entropy", "expected_emb_dims"):
                    _scalar(f"nws/{key}", snapshot[key])
                _scalar(
                    "nws/expected_zero_embedding_size_weights",
                    snapshot["expected_zero_embedding_size_weights"],
                )
                for layer in nws_layers:
                    for name, value in layer.get_summaries()["arch_weights_after_softmax_list"]:
                        _scalar(name, float(value))
        self._train_writer.flush()
        if snapshot is not None:
            record = {"step": step, "loss": loss, **snapshot}
            with open(self._history_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        return snapshot

    def close(self) -> None:
        """Flushes and closes the event files."""
        self._train_writer.close()


def write_scalars(logdir: str, step: int, scalars: Mapping[str, float]) -> None:
    """Writes finite scalars to the TensorBoard event file of ``logdir`` at ``step``.

    Args:
        logdir: e.g. ``{model_dir}/eval``.
        step: the global step.
        scalars: name -> value (NaN and infinities are skipped).

    Example:
        >>> write_scalars("/tmp/run/eval", 100, {"auc": 0.75})  # doctest: +SKIP
    """
    import tensorflow as tf

    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default(step=step):
        for key, value in scalars.items():
            if isinstance(value, int | float) and math.isfinite(value):
                _scalar(key, value)
    writer.close()


class ProgressBar:
    """A one-line progress display on a stream (stderr by default): step, loss, examples/s.

    On a terminal the line is rewritten in place; otherwise a line is written at most
    every ``min_interval_s`` seconds, so logs stay short.

    Args:
        total_steps: the step the run ends at.
        stream: where to write; default ``sys.stderr``.
        enabled: False writes nothing.
        min_interval_s: least seconds between two updates off a terminal.

    Example:
        >>> bar = ProgressBar(100, enabled=False)
        >>> bar.update(10, loss=0.5, examples_per_sec=1000.0)
    """

    def __init__(
        self,
        total_steps: int,
        stream: TextIO | None = None,
        enabled: bool = True,
        min_interval_s: float = 5.0,
    ) -> None:
        self.total_steps = total_steps
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.min_interval_s = min_interval_s
        self._last_write = -math.inf
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def bar(self, step: int, width: int = 24) -> str:
        """``[####....]``: the share of ``total_steps`` that ``step`` is."""
        done = min(width, int(width * step / max(self.total_steps, 1)))
        return "[" + "#" * done + "." * (width - done) + "]"

    def format(self, step: int, loss: float, examples_per_sec: float) -> str:
        """Returns the progress line for these numbers."""
        return (
            f"{self.bar(step)} step {step}/{self.total_steps}  loss {loss:.4f}  "
            f"{examples_per_sec:,.0f} examples/s"
        )

    def update(self, step: int, loss: float, examples_per_sec: float) -> None:
        """Shows the state at ``step``."""
        if not self.enabled:
            return
        now = time.monotonic()
        final = step >= self.total_steps
        if not self._tty and not final and now - self._last_write < self.min_interval_s:
            return
        self._last_write = now
        line = self.format(step, loss, examples_per_sec)
        if self._tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class CountProgress(ProgressBar):
    """A progress line for ``done / total`` units of work, e.g. held-out evaluations.

    Call it with ``(done, total)`` (the signature of ``select_widths``' ``on_progress``).

    Args:
        total: units of work in all.
        what: what a unit is, e.g. ``"held-out evaluations"``.
        stream: where to write; default ``sys.stderr``.
        enabled: False writes nothing.
        min_interval_s: least seconds between two updates off a terminal.

    Example:
        >>> progress = CountProgress(10, "evaluations", enabled=False)
        >>> progress(3, 10)
    """

    def __init__(
        self,
        total: int,
        what: str,
        stream: TextIO | None = None,
        enabled: bool = True,
        min_interval_s: float = 5.0,
    ) -> None:
        super().__init__(total, stream=stream, enabled=enabled, min_interval_s=min_interval_s)
        self.what = what

    def format(self, step: int, loss: float, examples_per_sec: float) -> str:
        """Returns the progress line at ``step`` units done."""
        return f"{self.bar(step)} {self.what} {step}/{self.total_steps}"

    def __call__(self, done: int, total: int) -> None:
        self.total_steps = total
        self.update(done, float("nan"), float("nan"))
