"""Whole runs, as the command line does them: resolve params, search, train, report.

- :func:`resolve_config`: a registered model's ``default_params()`` with the command
  line's overrides (``--param key=value``, ``--steps``, ``--batch-size``,
  ``--data-dir``), its data paths filled in and checked, resolved once into the typed
  :class:`~nwsrec.config.RunConfig` that every part of the run reads
  (:func:`resolve_params`: the same as flat params, the wire format).
- :func:`run_search`: trains the model with its NWS layer and writes
  ``search_result.json`` and ``search.png`` into the run's directory.
- :func:`run_train`: trains at fixed widths (from a search result, else full width;
  size-0 slots dropped) and evaluates on the held-out split.

Example:
    >>> cls, config = resolve_config("synthetic", {"train_steps": 100})  # doctest: +SKIP
    >>> config.search.width_selection  # doctest: +SKIP
    'frontier'
    >>> report = run_search(cls, config, "runs/synthetic/search")  # doctest: +SKIP
    >>> dims = report.search_result_path  # doctest: +SKIP
    >>> run_train(cls, config, "runs/synthetic/train", dims_path=dims)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from nwsrec import registry
from nwsrec.config import RunConfig, SearchConfig, check_known_keys
from nwsrec.features import read_vocab_file
from nwsrec.files import read_json_object, write_json_atomic
from nwsrec.search.buckets import units_to_slot_dims
from nwsrec.search.evaluator import HoldoutEvaluator, holdout_batches, layer_candidates
from nwsrec.search.frontier import drop_warnings
from nwsrec.search.model import check_slot_dims, embedding_parameters
from nwsrec.search.plot import plot_frontier, plot_search
from nwsrec.search.result import (
    FRONTIER_PLOT,
    FRONTIER_RESULT,
    SEARCH_PLOT,
    SEARCH_RESULT,
    check_budget,
    choose_point,
    frontier_document,
    read_search_dims,
    search_result,
    write_search_result,
)
from nwsrec.search.select import neighbour_losses, search_frontier, select_widths
from nwsrec.search.warm_start import WarmStart
from nwsrec.search.warm_start import warm_start as warm_start_from
from nwsrec.training.rundir import ModelDirLock
from nwsrec.training.summaries import CountProgress, read_history
from nwsrec.training.trainer import Trainer

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEDULE_KEYS",
    "RunReport",
    "default_model_dir",
    "load_search_evaluator",
    "parse_param_overrides",
    "resolve_config",
    "resolve_params",
    "run_search",
    "run_train",
    "scale_steps",
]

_DATA_KEYS = ("train_file_pattern", "eval_file_pattern", "vocab_file_path")

# Whether `nwsrec train --dims` starts from the search's weights when neither
# --warm-start nor --no-warm-start is given. bench/search_quality.py measures both: with
# the supernet's draws at `draw_largest=0.5`, the warm start was ahead in 7 of 9
# comparisons (3 data sets x the default point, 1/4, 1/8; mean +0.0016 test AUC, worst
# -0.0007) in 0.5-0.75x the time of a retrain. Where it cannot start (no search beside the
# dims file, a search of the separate layout, a multi-replica run) a defaulted warm start
# trains from scratch and logs why; an explicit --warm-start fails instead.
WARM_START_DEFAULT = True


def parse_param_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parses ``key=value`` strings; a value is read as JSON when it parses, else a string.

    Args:
        items: e.g. ``["width_penalty=1e-4", "hidden_units=[32,16]", "dense_optimizer=sgd"]``.

    Returns:
        ``{key: value}``.

    Example:
        >>> parse_param_overrides(["a=1", "b=[1, 2]", "c=adam", "d=null"])
        {'a': 1, 'b': [1, 2], 'c': 'adam', 'd': None}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"`--param` must be key=value. Received: --param {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def default_model_dir(model_name: str, command: str) -> str:
    """``runs/<model>/<command>``, the default output directory of a command."""
    return os.path.join("runs", model_name.replace("/", "_"), command)


def resolve_params(
    model_name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    steps: int | None = None,
    batch_size: int | None = None,
    data_dir: str | None = None,
    check_data: bool = True,
) -> tuple[type, dict[str, Any]]:
    """A registered model's class and the params a run of it uses (the flat wire format
    of :func:`resolve_config`'s config).

    Example:
        >>> cls, params = resolve_params("synthetic", check_data=False)  # doctest: +SKIP
    """
    cls, config = resolve_config(
        model_name,
        overrides,
        steps=steps,
        batch_size=batch_size,
        data_dir=data_dir,
        check_data=check_data,
    )
    return cls, config.to_params()


def resolve_config(
    model_name: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    steps: int | None = None,
    batch_size: int | None = None,
    data_dir: str | None = None,
    check_data: bool = True,
) -> tuple[type, RunConfig]:
    """A registered model's class and the typed configuration a run of it uses.

    Args:
        model_name: a registered name (``synthetic``, ``movielens.params.MovieLensModel``).
        overrides: params to override (unknown keys are an error).
        steps: ``train_steps``.
        batch_size: ``batch_size``.
        data_dir: ``data_dir``; the data paths are then derived from it.
        check_data: check that the vocab file and the training files exist.

    Returns:
        ``(model_class, config)``: the model's ``default_params()`` with the overrides,
        read by type and validated once.

    Raises:
        LookupError: an unknown model (the registry suggests close names) or param key.
        ValueError: a bad value, naming its key.
        FileNotFoundError: missing data, with the command that makes it.
    """
    cls = registry.get_class(model_name)
    params = dict(registry.get_params(model_name))
    overrides = dict(overrides or {})
    check_known_keys(overrides, params, what=f"model {model_name!r}")
    if data_dir is not None:
        params["data_dir"] = data_dir
        for key in _DATA_KEYS:
            if key not in overrides:
                params[key] = None
    params.update(overrides)
    if steps is not None:
        params["train_steps"] = int(steps)
    if batch_size is not None:
        params["batch_size"] = int(batch_size)
    resolve = getattr(cls, "resolve_params", None)
    if resolve is not None:
        params = resolve(params)
    config = RunConfig.from_params({**params, "model_name": model_name})
    if check_data:
        _check_data(cls, config)
    return cls, config


#: The search's own step counts; :func:`scale_steps` keeps their ratio to train_steps.
SCHEDULE_KEYS = ("search_steps", "warmup_steps", "pretraining_steps", "arch_warmup_steps")


def scale_steps(params: Mapping[str, Any], steps: int, keep: Iterable[str] = ()) -> dict[str, Any]:
    """Params for ``steps`` training steps, the search's schedule scaled alike.

    ``train_steps`` becomes ``steps`` (and ``epochs`` None, unless in ``keep``: the
    length is given in steps); every key of :data:`SCHEDULE_KEYS` that is set (and not
    in ``keep``) is scaled by ``steps / train_steps``, so a task's search keeps its shape
    (e.g. 3x as many search steps as training steps) at any length.

    Args:
        params: resolved params with ``train_steps``.
        steps: the new ``train_steps`` (>= 1).
        keep: keys to leave as they are (e.g. ones a user set).

    Example:
        >>> scale_steps({"train_steps": 2000, "search_steps": 6000}, 500)
        {'train_steps': 500, 'search_steps': 1500}
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"`steps` must be an integer >= 1. Received: steps={steps!r}")
    ratio = steps / max(1, int(params["train_steps"]))
    out = {**params, "train_steps": steps}
    keep = set(keep)
    if "epochs" in out and "epochs" not in keep:
        out["epochs"] = None
    for key in SCHEDULE_KEYS:
        if out.get(key) and key not in keep:
            out[key] = max(1, round(int(out[key]) * ratio))
    return out


def _check_data(cls: type, config: RunConfig) -> None:
    """The vocab file and the data files of ``config`` exist; else an error naming the
    command that makes them (the model's ``@register(make_data=...)``)."""
    how = registry.make_data(cls)
    name = config.model.model_name
    vocab = config.model.vocab_file_path
    if not vocab or not os.path.exists(vocab):
        raise FileNotFoundError(
            f"`vocab_file_path` must name an existing file. Received: "
            f"vocab_file_path={vocab!r} for model {name!r}; make the data with "
            f"`{how}` or point --data-dir at it"
        )
    eval_pattern = config.model.eval_file_pattern
    if eval_pattern and not glob.glob(eval_pattern):
        # Checked before training: a run must not train for an hour to then find no test set.
        raise FileNotFoundError(
            f"`eval_file_pattern` must match files. Received: eval_file_pattern="
            f"{eval_pattern!r} for model {name!r}; make the data with `{how}` or point "
            "--data-dir at it"
        )
    pattern = config.model.train_file_pattern
    if not pattern or not glob.glob(pattern):
        raise FileNotFoundError(
            f"`train_file_pattern` must match files. Received: train_file_pattern="
            f"{pattern!r} for model {name!r}; make the data with `{how}` or point "
            "--data-dir at it"
        )


@dataclasses.dataclass
class RunReport:
    """What a search or training run produced.

    Args:
        model_name: the registered model.
        model_dir: the run's directory.
        step: the global step trained to.
        auc: test AUC.
        log_loss: test log loss.
        num_examples: test examples evaluated.
        embedding_parameters: table parameters (rows x dim, every table).
        embedding_bytes: the memory plan's ``raw_bytes`` (weights and optimizer slots).
        slot_dims: the width of every slot (search: the chosen sizes); a bucketed slot has
            a list, one width per bucket.
        examples_per_sec: training throughput.
        search_result_path: ``search_result.json`` (search runs).
        plot_path: ``search.png`` (search runs).
        memory_plan: the model's table memory plan.
        selection: how a search picked the widths (``search_result.json``'s
            ``"selection"``); None for training runs.
        early_stopping: with ``early_stopping_patience``: the best step (whose weights
            were restored and evaluated), its held-out log loss, where training stopped
            and every held-out evaluation (``TrainResult.early_stopping``).
        warm_start: a run started from a search's weights: what was copied
            (:class:`~nwsrec.search.warm_start.WarmStart`).
    """

    model_name: str
    model_dir: str
    step: int
    auc: float
    log_loss: float
    num_examples: int
    embedding_parameters: int
    embedding_bytes: int
    slot_dims: dict[int, int | list[int]]
    examples_per_sec: float
    search_result_path: str | None = None
    plot_path: str | None = None
    memory_plan: Any = None
    selection: dict[str, Any] | None = None
    early_stopping: dict[str, Any] | None = None
    frontier: dict[str, Any] | None = None
    frontier_path: str | None = None
    frontier_plot_path: str | None = None
    warm_start: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serializable summary (without the memory plan object)."""
        out = dataclasses.asdict(self)
        out.pop("memory_plan")
        out.pop("frontier")
        out["slot_dims"] = {str(k): v for k, v in self.slot_dims.items()}
        return out


def _train_and_evaluate(
    cls: type,
    config: RunConfig,
    model_dir: str,
    progress: bool,
    strategy: Any,
    restore_dir: str | None,
    before_training: Callable[[Trainer], None] | None = None,
) -> tuple[Trainer, Any, Any]:
    trainer = Trainer(
        lambda: cls(config),
        config,
        model_dir,
        strategy=strategy,
        progress=progress,
        restore_dir=restore_dir,
    )
    if before_training is not None:
        before_training(trainer)
    result = trainer.train()  # refuses a dir of another model or meaning (manifest.json)
    # A search is reported at full width (the layer's own inference would be the argmax
    # of its architecture weights, which the built-in searches never train).
    with contextlib.ExitStack() as stack:
        for layer in trainer.nws_layers:
            stack.enter_context(layer.pinned(layer.largest_sizes()))
        evaluation = trainer.evaluate()
    mapped = getattr(trainer.model, "out_of_range_count", 0)
    if mapped:
        logger.warning("%d ids outside their slot's vocab were mapped to the OOV row", mapped)
    return trainer, result, evaluation


def _report(
    config: RunConfig, model_dir: str, trainer: Any, result: Any, evaluation: Any
) -> RunReport:
    model = trainer.model
    plan = model.table_memory_plan()
    dims = getattr(model, "slot_dims", {})
    return RunReport(
        model_name=config.model.model_name or type(model).__name__,
        model_dir=model_dir,
        step=result.step,
        auc=evaluation.auc,
        log_loss=evaluation.log_loss,
        num_examples=evaluation.num_examples,
        embedding_parameters=embedding_parameters(model),
        embedding_bytes=int(plan.raw_bytes),
        slot_dims=dict(dims),
        examples_per_sec=result.examples_per_sec,
        memory_plan=plan,
        early_stopping=getattr(result, "early_stopping", None),
    )


def _holdout_batches(trainer: Any, config: RunConfig) -> list[Any]:
    """The run's held-out batches, ``selection_batches`` of them at most."""
    return holdout_batches(
        trainer, str(config.model.train_file_pattern), config.search.selection_batches
    )


def _select_on_holdout(trainer: Any, config: RunConfig, progress: bool) -> Any:
    """Each slot's width picked on the run's held-out records (``nwsrec.search.select``)."""
    search: SearchConfig = config.search
    return select_widths(
        trainer,
        _holdout_batches(trainer, config),
        tolerance=search.selection_tolerance,
        rounds=search.selection_rounds,
        loss=search.selection_loss,
        on_progress=CountProgress(0, "held-out evaluations", enabled=progress),
    )


#: Fractions of full width's embedding parameters at which every frontier search also
#: re-grows the best path point (``nwsrec.search.select.greedy_frontier``).
REGROW_FRACTIONS = (0.5, 0.25, 0.125)


def _frontier_on_holdout(
    trainer: Any,
    config: RunConfig,
    progress: bool,
    budget: float | None,
    max_bytes: int | None,
) -> tuple[dict[str, Any], Any]:
    """The held-out loss vs memory frontier (``nwsrec.search.select.search_frontier``).

    Returns ``(frontier.json document, neighbour losses around its default point)``.
    """
    batches = _holdout_batches(trainer, config)
    model = trainer.model
    unit_rows = model.unit_rows()
    bias_rows = model.slot_bias_rows()
    price_bytes = model.bytes_pricer()
    from nwsrec.search.cost import embedding_parameters_of, full_sizes

    evaluator = HoldoutEvaluator(trainer, batches, loss=config.search.selection_loss)
    candidates = layer_candidates(trainer.nws_layers)
    full = embedding_parameters_of(unit_rows, bias_rows, full_sizes(candidates))
    # Re-grown points at the usual budgets and at the one asked for (the uniform widths
    # are points of their own).
    budgets = [fraction * full for fraction in REGROW_FRACTIONS]
    if budget is not None:
        budgets.append(budget * full)
    budgets = sorted(set(budgets), reverse=True)
    frontier = search_frontier(
        trainer,
        batches,
        unit_rows,
        bias_rows,
        budgets=budgets,
        price_bytes=price_bytes,
        on_progress=CountProgress(0, "frontier steps", enabled=progress),
        evaluator=evaluator,
    )
    tolerance = config.search.selection_tolerance
    if budget is not None or max_bytes is not None:
        rule: dict[str, Any] = {"rule": "budget" if budget is not None else "max_bytes"}
        if budget is not None:
            rule["budget"] = float(budget)
        if max_bytes is not None:
            rule["max_bytes"] = int(max_bytes)
        document = frontier_document(frontier, 0, rule)
        document["default_point"] = choose_point(document["frontier"], budget, max_bytes)
    else:
        document = frontier_document(
            frontier, frontier.default_index(tolerance), {"rule": "tolerance"}
        )
    document["rule"]["tolerance"] = tolerance
    point = document["frontier"][document["default_point"]]
    for line in drop_warnings(document["frontier"], document["default_point"]):
        logger.warning("%s", line)
    neighbours = neighbour_losses(evaluator, point["sizes"])
    return document, neighbours


def load_search_trainer(cls: type, params: Mapping[str, Any], model_dir: str) -> Trainer:
    """A trainer of a finished search with the weights its selection saw restored: the
    best held-out step of an early-stopped search (``model_dir/best``), else the newest
    checkpoint.

    Raises:
        FileNotFoundError: no checkpoint in ``model_dir``.
    """
    config = RunConfig.from_params(params).replace(search=True, slot_dims=None)
    trainer = Trainer(lambda: cls(config), config, model_dir, progress=False)
    best = os.path.join(model_dir, "best")
    found = trainer.restore(best if glob.glob(os.path.join(best, "*.index")) else None)
    if not found:
        trainer.close()
        raise FileNotFoundError(
            f"`model_dir` must hold a finished search's checkpoint. Received: {model_dir!r}"
        )
    return trainer


def load_search_evaluator(
    cls: type, params: Mapping[str, Any], model_dir: str, *, loss: str | None = None
) -> HoldoutEvaluator:
    """The held-out evaluator of a finished search, for any choice of widths.

    Restores the search's weights as its selection saw them (the best held-out step of
    an early-stopped search, ``model_dir/best``; else the newest checkpoint) and reads
    its held-out records, so ``evaluator.losses(sizes)`` is the estimate the search
    would act on for ``sizes`` (``{unit: size}``). ``bench/search_quality.py`` checks
    these estimates against retrained test results.

    Args:
        cls: the model class of the search.
        params: the search's resolved params.
        model_dir: the search's directory.
        loss: the evaluator's loss (default: the params' ``selection_loss``).

    Raises:
        FileNotFoundError: no checkpoint in ``model_dir``.
    """
    config = RunConfig.from_params(params).replace(search=True, slot_dims=None)
    trainer = load_search_trainer(cls, config, model_dir)
    return HoldoutEvaluator(
        trainer, _holdout_batches(trainer, config), loss=loss or config.search.selection_loss
    )


def _holding_model_dir(run: Callable[..., RunReport]) -> Callable[..., RunReport]:
    """Runs ``run(cls, params, model_dir, ...)`` holding the model dir's lock."""

    @functools.wraps(run)
    def locked(cls: type, params: Mapping[str, Any], model_dir: str, **kwargs: Any) -> RunReport:
        lock = ModelDirLock(model_dir).acquire()
        try:
            return run(cls, params, model_dir, **kwargs)
        finally:
            lock.release(every_holder=True)  # the run is over: its trainers' holds too

    return locked


@_holding_model_dir
def run_search(
    cls: type,
    params: Mapping[str, Any],
    model_dir: str,
    *,
    progress: bool = True,
    strategy: Any = None,
    restore_dir: str | None = None,
    budget: float | None = None,
    max_bytes: int | None = None,
) -> RunReport:
    """Trains with the NWS layer; writes ``search_result.json`` and ``search.png``.

    The search trains to ``search_steps`` when the params set it (else ``train_steps``),
    then picks the widths by ``width_selection``: ``"argmax"`` of the architecture
    weights, or ``"holdout"`` (``nwsrec.search.select``, on the records that
    ``holdout_every`` kept out of training).

    Args:
        cls: the model class (a :class:`~nwsrec.search.model.WidthSearchModel`).
        params: the run's :class:`~nwsrec.config.RunConfig` (:func:`resolve_config`), or
            its flat params; searched with :meth:`~nwsrec.config.RunConfig.for_search`.
        model_dir: the run's directory.
        progress: show a progress bar.
        strategy: a ``tf.distribute`` strategy (default: the default strategy).
        restore_dir: where to resume from (default ``model_dir``; a non-chief worker
            resumes from the chief's directory).
        budget: ``width_selection="frontier"``: the default point is the frontier point
            of lowest held-out loss within this fraction of full width's embedding
            parameters (None: the smallest point within ``selection_tolerance``).
        max_bytes: ... within this many table bytes (the memory plan's padded bytes).

    Returns:
        A :class:`RunReport` whose ``slot_dims`` are the chosen sizes.

    Raises:
        ValueError: a ``width_selection`` on held-out records without ``holdout_every``,
            or a model without NWS layer.
    """
    config = RunConfig.from_params(params).for_search()
    method = config.search.width_selection
    check_budget(budget, max_bytes)
    if (budget is not None or max_bytes is not None) and method != "frontier":
        raise ValueError(
            "`--budget` / `--max-bytes` need width_selection=frontier. "
            f"Received: width_selection={method!r}"
        )
    trainer, result, evaluation = _train_and_evaluate(
        cls, config, model_dir, progress, strategy, restore_dir
    )
    if not trainer.nws_layers:
        raise ValueError(
            f"`--model` must build an NWS layer (MixedEmbedOpComb) in search mode. "
            f"Received: model {config.model.model_name!r} without one"
        )
    selection = document = neighbours = None
    if method == "holdout":
        selection = _select_on_holdout(trainer, config, progress)
    if method == "frontier":
        began = time.perf_counter()
        document, neighbours = _frontier_on_holdout(trainer, config, progress, budget, max_bytes)
        document["selection_seconds"] = time.perf_counter() - began
        logger.info(
            "frontier: %d held-out evaluations in %.1f s",
            document["evaluations"],
            document["selection_seconds"],
        )
    found = search_result(
        trainer.nws_layers,
        result.step,
        config.model.model_name,
        selection=selection,
        frontier=document,
        neighbours=neighbours,
    )
    found["eval"] = {"auc": evaluation.auc, "log_loss": evaluation.log_loss}
    result_path = write_search_result(os.path.join(model_dir, SEARCH_RESULT), found)
    plot_path = plot_search(read_history(model_dir), found, os.path.join(model_dir, SEARCH_PLOT))
    report = _report(config, model_dir, trainer, result, evaluation)
    report.slot_dims = units_to_slot_dims({s: v["size"] for s, v in found["slots"].items()})
    report.selection = dict(found["selection"])
    report.search_result_path = result_path
    report.plot_path = plot_path
    if document is not None:
        report.frontier = document
        report.frontier_path = os.path.join(model_dir, FRONTIER_RESULT)
        write_json_atomic(report.frontier_path, document)
        report.frontier_plot_path = plot_frontier(
            document,
            os.path.join(model_dir, FRONTIER_PLOT),
            title=f"Width frontier of {config.model.model_name or 'model'} "
            f"({document['num_examples']} held-out examples)",
        )
    return report


@_holding_model_dir
def run_train(
    cls: type,
    params: Mapping[str, Any],
    model_dir: str,
    *,
    dims_path: str | None = None,
    progress: bool = True,
    strategy: Any = None,
    restore_dir: str | None = None,
    budget: float | None = None,
    max_bytes: int | None = None,
    warm_start: bool | None = None,
) -> RunReport:
    """Trains at fixed widths and evaluates on the held-out split.

    Args:
        cls: the model class.
        params: the run's :class:`~nwsrec.config.RunConfig` (:func:`resolve_config`), or
            its flat params; trained with :meth:`~nwsrec.config.RunConfig.for_training`.
        model_dir: the run's directory.
        dims_path: a ``search_result.json``; None trains every slot at full width.
        progress: show a progress bar.
        strategy: a ``tf.distribute`` strategy.
        restore_dir: where to resume from (default ``model_dir``).
        budget: with ``dims_path``: the frontier point of lowest held-out loss within
            this fraction of full width's embedding parameters
            (:func:`nwsrec.search.result.read_search_dims`).
        max_bytes: with ``dims_path``: ... within this many table bytes.
        warm_start: with ``dims_path``: a new run starts from the search's weights (the
            first columns of each slot's nested block, :mod:`nwsrec.search.warm_start`)
            instead of a fresh initialisation; None: :data:`WARM_START_DEFAULT` (on),
            falling back to a fresh initialisation, logged, where the search cannot
            be read (True raises instead). A run that resumes from its own checkpoint
            ignores it.

    Returns:
        A :class:`RunReport`.

    Raises:
        ValueError: the dims file does not match the model (a slot missing, an unknown
            slot, a size that is not a candidate), naming the file and slot.
    """
    config = RunConfig.from_params(params).for_training()
    if dims_path is None and (budget is not None or max_bytes is not None):
        raise ValueError(
            "`--budget` / `--max-bytes` pick a point of a search's frontier: give `--dims "
            f"search_result.json` too. Received: budget={budget!r}, max_bytes={max_bytes!r}"
        )
    if dims_path is not None:
        dims = read_search_dims(dims_path, budget=budget, max_bytes=max_bytes)
        slots: Iterable[int] | None = config.search.slots
        if slots is None:
            slots = read_vocab_file(
                str(config.model.vocab_file_path), config.pipeline.vocab_size_per_slot
            )
        config = config.for_training(
            check_slot_dims(dims, slots, config.search.candidate_sizes, f"--dims {dims_path}")
        )
    requested = warm_start is not None
    if warm_start is None:
        warm_start = WARM_START_DEFAULT
    started: list[WarmStart] = []

    def start_from_search(trainer: Trainer) -> None:
        if dims_path is None or not warm_start or _has_checkpoint(restore_dir or model_dir):
            return
        search_dir = os.path.dirname(os.path.abspath(dims_path))
        try:
            search_params = _warm_start_source(trainer, search_dir)
        except (ValueError, FileNotFoundError) as err:
            if requested:
                raise
            logger.info("training from scratch (no warm start): %s", err)
            return
        with load_search_trainer(cls, search_params, search_dir) as search:
            with trainer.strategy.scope():
                started.append(warm_start_from(trainer, search, source=search_dir))

    trainer, result, evaluation = _train_and_evaluate(
        cls, config, model_dir, progress, strategy, restore_dir, start_from_search
    )
    report = _report(config, model_dir, trainer, result, evaluation)
    if started:
        report = dataclasses.replace(report, warm_start=started[0].as_dict())
    return report


def _warm_start_source(trainer: Trainer, search_dir: str) -> dict[str, Any]:
    """The params of the search a run can warm-start from.

    Raises:
        ValueError: the run has several replicas, or the search is not of the nested
            layout.
        FileNotFoundError: no ``params.json`` beside the dims file.
    """
    if trainer.strategy.num_replicas_in_sync > 1 or trainer.coordinator is not None:
        raise ValueError(
            "`--warm-start` reads the search's weights in one process: train without "
            "--strategy, or from scratch (--no-warm-start). Received: a run on "
            f"{trainer.strategy.num_replicas_in_sync} replicas"
        )
    params = read_search_params(search_dir)
    layout = params.get("supernet_layout", "nested")
    if layout != "nested":
        raise ValueError(
            "`--warm-start` needs a search of supernet_layout='nested'. Received: "
            f"supernet_layout={layout!r} in {search_dir}"
        )
    return params


def _has_checkpoint(model_dir: str) -> bool:
    """Whether ``model_dir`` holds a checkpoint a run would resume from."""
    return bool(glob.glob(os.path.join(model_dir, "ckpt-*.index")))


def read_search_params(search_dir: str) -> dict[str, Any]:
    """The resolved params of the search in ``search_dir`` (its ``params.json``).

    Raises:
        FileNotFoundError: naming the directory, when it has no ``params.json``.
    """
    return read_json_object(
        os.path.join(search_dir, "params.json"),
        "warm-start reads the search's params.json beside its search_result.json",
    )
