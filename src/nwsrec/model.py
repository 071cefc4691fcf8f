"""``Model``: the Sail-like base class tying features, tables and data together.

A subclass writes ``logits_fn()``: it declares its slots with
:class:`~nwsrec.features.FeatureSlot` / :class:`~nwsrec.features.FeatureColumnV1` on
``self.env``, gets Keras layers through :meth:`Model.keras_layer`, and returns logits
``[B]``. The life cycle (see ``docs/architecture.md``):

1. ``Model(params)`` reads the vocab file, creates ``self.env`` and calls
   :meth:`Model.init_slot_to_dims`, which runs ``logits_fn`` once in *discovery*
   (``self.features`` is a dummy batch of one example; ``add_vector(dim)`` returns zeros
   ``[1, dim]``) and finalizes the env. Keras layers are built here, once.
2. Each :meth:`Model.forward` is one *round*: it looks up every table for the batch
   (:meth:`Model.lookup`), runs ``logits_fn`` with those pooled embeddings and returns
   ``(logits [B], aux_losses)``.
3. The trainer reads :attr:`Model.tables` (one :class:`~nwsrec.embedding.EmbeddingTable`
   per slice, each with its own optimizer), :meth:`Model.dense_variables` and
   :meth:`Model.nws_layers`.

Example:
    >>> import pathlib, tempfile
    >>> import keras, tensorflow as tf
    >>> from nwsrec.features import FeatureColumnV1, FeatureSlot
    >>> class Tiny(Model):
    ...     def logits_fn(self):
    ...         fc = FeatureColumnV1(FeatureSlot(self.env, 3, has_bias=True), "slot_3_0")
    ...         dense = self.keras_layer("out", lambda: keras.layers.Dense(1))
    ...         return dense(fc.add_vector(4))[:, 0] + fc.get_bias()[:, 0]
    >>> vocab = pathlib.Path(tempfile.mkdtemp()) / "vocab.tsv"
    >>> _ = vocab.write_text("3\\t50\\n")
    >>> model = Tiny({"vocab_file_path": str(vocab), "vocab_size_per_slot": None,
    ...               "use_gradient_accumulation": False})
    >>> model.env.slot_to_dims
    {3: [1, 4]}
    >>> model.table_memory_plan().raw_bytes  # 50*1*4*3 (FTRL) + 50*4*4*2 (Adagrad)
    2200
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from nwsrec.checks import is_int
from nwsrec.config import RunConfig
from nwsrec.features import (
    Env,
    FeatureColumnV1,
    TableMemoryPlan,
    TableMemoryRow,
    optimizer_name,
    parameter_copies,
    read_vocab_file,
    row_state_floats,
)
from nwsrec.features.pooling import sum_pooling
from nwsrec.machine import check_tables_fit, format_bytes

if TYPE_CHECKING:
    from nwsrec.embedding.collection import TableCollection, TableGroup, TableView
    from nwsrec.embedding.specs import TableSpec

__all__ = ["Model"]

logger = logging.getLogger(__name__)

_REQUIRED_PARAMS = ("vocab_file_path", "vocab_size_per_slot", "use_gradient_accumulation")


class Model:
    """Base class of nwsrec models (the seed's Sail-like ``Model``, made whole for TF2).

    Args:
        params: a mapping with at least ``vocab_file_path`` (the vocab-size TSV),
            ``vocab_size_per_slot`` (``None`` or an integer that overrides every size) and
            ``use_gradient_accumulation`` (bool); usually ``cls.default_params()`` updated
            with the run's values. A subclass reads its own knobs from it (e.g.
            ``slot_dims``, the widths chosen by a search: ``{slot_id: size}``).

    Attributes:
        env: the :class:`~nwsrec.features.Env` holding the slots.
        params: the params (read-only).
        features: the current batch inside ``logits_fn`` (``None`` outside a round).
        training: whether the current round is a training step.

    A subclass that needs its own attributes in ``logits_fn`` sets them *before* calling
    ``super().__init__(params)``, since discovery runs inside the constructor.

    Raises:
        LookupError: if a required key is missing from ``params``.
        ValueError: for a bad parameter, a bad vocab file, or a ``logits_fn`` that breaks
            the rules of discovery.
    """

    def __init__(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping):
            raise ValueError(f"`params` must be a mapping. Received: params={params!r}")
        missing = [key for key in _REQUIRED_PARAMS if key not in params]
        if missing:
            raise LookupError(
                f"`params` must contain {list(_REQUIRED_PARAMS)}. "
                f"Received: params without {missing}"
            )
        # Read by type and validated once (a RunConfig given as params is used as it is).
        self.run_config = RunConfig.from_params(params)
        if params["vocab_file_path"] is None:
            raise ValueError(
                "`params['vocab_file_path']` must name the vocab-size TSV. "
                "Received: vocab_file_path=None"
            )
        self._params = dict(params)
        self._local = threading.local()
        self._layers: dict[str, keras.layers.Layer] = {}
        self._layers_lock = threading.Lock()
        self._tables: TableCollection | None = None
        self._table_groups = self.run_config.model.table_groups
        self._oov_ids = self.run_config.pipeline.out_of_range_ids == "oov"
        self._oov_counter: Any = None
        self._tables_lock = threading.Lock()
        vocab_size_dict = read_vocab_file(params["vocab_file_path"], params["vocab_size_per_slot"])
        self.env = Env(vocab_size_dict)
        self.init_slot_to_dims()

    # ------------------------------------------------------------ what a subclass writes

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The params a registered model runs with; a subclass extends this dict.

        They include the input pipeline's knobs (``nwsrec.data.pipeline.DEFAULT_PARAMS``:
        ``cycle_length``, ``compression_type``, ``skip_corrupt_files``, ...), so a run
        can set them with ``--param`` and ``params.json`` records them.

        Example:
            >>> Model.default_params()["batch_size"]
            1024
        """
        from nwsrec.data.pipeline import DEFAULT_PARAMS as PIPELINE_DEFAULTS

        return {
            **PIPELINE_DEFAULTS,
            "batch_size": 1024,
            "vocab_file_path": None,
            "vocab_size_per_slot": None,
            "use_gradient_accumulation": False,
            "check_memory": True,
            "table_groups": True,
            "train_file_pattern": None,
            "eval_file_pattern": None,
            "dense_learning_rate": 0.001,
            "train_steps": 1000,
        }

    def logits_fn(self) -> tf.Tensor:
        """Declare the slots on ``self.env`` and return logits ``[B]`` (subclass)."""
        raise NotImplementedError(f"{type(self).__name__} must implement logits_fn()")

    def feature_map(self) -> dict[str, Any]:
        """What to parse from each ``tf.train.Example``.

        By default ``slot_{s}_0`` as ``tf.io.VarLenFeature(tf.int64)`` for every declared
        slot (once discovery is over) plus ``label`` as ``FixedLenFeature([], float32)``.
        A subclass overrides it to add features, e.g.
        ``{**super().feature_map(), "dense": tf.io.FixedLenFeature([13], tf.float32)}``;
        during discovery it is called to build the dummy batch, before the slots exist.
        """
        feature_map: dict[str, Any] = {}
        if self.env.is_finalized():
            for slot_id in self.env.slot_to_config:
                feature_map[f"slot_{slot_id}_0"] = tf.io.VarLenFeature(tf.int64)
        feature_map["label"] = tf.io.FixedLenFeature([], tf.float32)
        return feature_map

    # -------------------------------------------------------------------- properties

    @property
    def params(self) -> Mapping[str, Any]:
        """The model's params (read-only)."""
        return MappingProxyType(self._params)

    @property
    def vocab_size_dict(self) -> Mapping[int, int]:
        """``{slot_id: vocab_size}`` read from the vocab file (read-only)."""
        return self.env.vocab_size_dict

    @property
    def features(self) -> Mapping[str, Any] | None:
        """The batch of the current round (a dummy batch of one during discovery)."""
        return getattr(self._local, "features", None)

    @property
    def training(self) -> bool:
        """Whether the current round is a training step (``False`` during discovery)."""
        return getattr(self._local, "training", False)

    @property
    def layers(self) -> Mapping[str, keras.layers.Layer]:
        """The Keras layers created through :meth:`keras_layer`, by name (read-only)."""
        return MappingProxyType(self._layers)

    # ------------------------------------------------------------------ the rounds

    def init_slot_to_dims(self) -> None:
        """Run ``logits_fn`` once to discover the slots and dims, then finalize the env.

        ``logits_fn`` may return anything here, None included (the seed calls it only to
        declare the slots); :meth:`forward` checks that it returns logits ``[B]``.

        Raises:
            ValueError: if discovery already ran, or ``logits_fn`` breaks the rules of
                declaring slots.
        """
        if self.env.is_finalized():
            raise ValueError(
                "`init_slot_to_dims` must run once; the constructor already ran it. "
                "Received: a second call"
            )
        logger.info("%s: discovering slots", type(self).__name__)
        self._enter_round(self._dummy_features(), training=False)
        try:
            logits = self.logits_fn()
        finally:
            self._exit_round()
        # As in the seed, discovery only finds the slots: a logits_fn that returns nothing
        # (a model built for its table configs or memory plan) constructs; returned
        # logits of the wrong shape fail now rather than at the first step.
        if logits is not None:
            self._check_logits(logits)
        self.env.finalize()
        logger.info(
            "%s: %d slots, %d tables",
            type(self).__name__,
            len(self.env.slot_to_config),
            len(self.env.feature_slices()),
        )

    def forward(
        self, features: Mapping[str, Any], training: bool = False
    ) -> tuple[tf.Tensor, list]:
        """One round: look up every table for the batch and run ``logits_fn``.

        Works eagerly and inside ``tf.function`` (each trace is one round).

        Args:
            features: the parsed batch: ``slot_{s}_{i}`` ids (``tf.SparseTensor`` or
                ``tf.RaggedTensor``; a missing ``slot_{s}_{i}`` falls back to
                ``slot_{s}_0``), ``label`` and whatever else ``logits_fn`` reads.
            training: whether this is a training step (``self.training`` in
                ``logits_fn``).

        Returns:
            ``(logits [B], aux_losses)``: the auxiliary losses added with
            :meth:`add_loss` during this round.

        Raises:
            ValueError: for bad arguments, or a round that declares other slots or dims
                than discovery, or logits that are not of rank 1.
            LookupError: if a slot's ids are missing from ``features``.
        """
        return self.forward_pooled(self.lookup(features), features, training)

    def forward_pooled(
        self, pooled: Mapping[str, Any], features: Mapping[str, Any], training: bool = False
    ) -> tuple[tf.Tensor, list]:
        """One round of ``logits_fn`` on embeddings already looked up (:meth:`lookup`).

        :meth:`forward` is ``forward_pooled(lookup(features), features, training)``; a
        caller that runs the same batch many times with other weights downstream of
        the tables (the width selection) looks the batch up once.

        Args:
            pooled: ``{feature_name: [B, dim]}`` from :meth:`lookup`.
            features: the parsed batch (what ``logits_fn`` reads besides the slots).
            training: whether this is a training step.

        Returns:
            ``(logits [B], aux_losses)``, as :meth:`forward`.
        """
        if not isinstance(training, bool):
            raise ValueError(f"`training` must be a Python bool. Received: training={training!r}")
        self.env.begin_round(pooled)
        self._enter_round(features, training)
        try:
            logits = self.logits_fn()
            self.env.end_round()
            losses = list(self._local.losses)
        finally:
            self._exit_round()
        return self._check_logits(logits), losses

    def lookup(self, features: Mapping[str, Any]) -> dict[str, tf.Tensor]:
        """Sum-pooled embeddings of every slice for a batch.

        Args:
            features: ``slot_{s}_0`` ids per example (``tf.SparseTensor`` or
                ``tf.RaggedTensor``), which every slice of slot ``s`` reads: the input
                pipeline copies ``slot_{s}_0`` to ``slot_{s}_{i}`` and refuses a feature
                map that parses ``slot_{s}_{i}`` itself; ``slot_{s}_{i}`` is read where
                ``slot_{s}_0`` is missing. Reading one tensor per slot lets a slot's
                tables share one unpacking of its ids.

        Returns:
            ``{"slot_{s}_{i}": [B, dim]}``.

        Raises:
            LookupError: naming the feature, if a slot's ids are missing.
        """
        if not isinstance(features, Mapping):
            raise ValueError(
                f"`features` must be a mapping of feature name to tensor. "
                f"Received: features={type(features).__name__}"
            )
        collection = self._get_tables()
        tables = collection.tables
        by_table: dict[str, Any] = {}
        mapped: dict[int, Any] = {}
        # Tables of one slot see the same ids: unpacked and checked once per vocab size.
        prepared: dict[tuple[int, int], Any] = {}
        slices = self.env.feature_slices()
        for feature_slice in slices:
            name = feature_slice.feature_name
            ids = features.get(f"slot_{feature_slice.slot_id}_0")
            if ids is None:
                ids = features.get(name)
            if ids is None:
                raise LookupError(
                    f"`features` must hold the ids of slot {feature_slice.slot_id} as {name!r} "
                    f"or 'slot_{feature_slice.slot_id}_0'. Received: keys={sorted(features)[:20]}"
                )
            if self._oov_ids:
                ids = self._map_out_of_range(feature_slice.slot_id, ids, mapped)
            ids = self.slice_ids(feature_slice, ids)
            table = tables[feature_slice.table_name]
            key = (id(ids), table.vocab_size)
            if key not in prepared:  # `ids` stays alive in `features`: its id is not reused
                # Range-checked by the lookup: once per table group, not per slot.
                prepared[key] = collection.prepare(table.name, ids, check=False)
            by_table[table.name] = prepared[key]
        # One gather per table group (tables of one width and optimizer share a variable).
        pooled = collection.lookup(by_table)
        return {s.feature_name: pooled[s.table_name] for s in slices}

    def table_rows(self, slot_id: int, index: int) -> int:
        """The rows of slice ``index`` of slot ``slot_id``'s table: the slot's vocab size
        (plus the OOV row with ``out_of_range_ids="oov"``).

        A subclass whose slices hold part of a slot's ids (frequency buckets) returns
        fewer, and maps the ids in :meth:`slice_ids`.

        Raises:
            LookupError: naming the slot, if it is missing from the vocab file.
        """
        return self._table_rows(slot_id)

    def table_bucket(self, slot_id: int, index: int) -> int | None:
        """The frequency bucket that slice ``index`` of slot ``slot_id`` holds (None: all ids)."""
        return None

    def slice_ids(self, feature_slice: Any, ids: Any) -> Any:
        """The batch's ids of ``feature_slice`` as rows of its table (identity by default).

        Args:
            feature_slice: the :class:`~nwsrec.features.FeatureSlice`.
            ids: its ids ``[B, None]`` (``tf.SparseTensor`` or ``tf.RaggedTensor``).
        """
        return ids

    def keras_layer(
        self, name: str, factory: Callable[[], keras.layers.Layer]
    ) -> keras.layers.Layer:
        """The Keras layer called ``name``, created by ``factory()`` on the first call only.

        ``logits_fn`` runs once per step; creating layers through this method keeps their
        weights across steps.

        Args:
            name: a key unique within the model.
            factory: a no-argument callable returning a ``keras.layers.Layer``.

        Example:
            >>> # inside logits_fn:
            >>> # dense = self.keras_layer("dnn", lambda: keras.layers.Dense(1))
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")
        layer = self._layers.get(name)
        if layer is not None:
            return layer
        with self._layers_lock:
            layer = self._layers.get(name)
            if layer is None:
                if isinstance(factory, keras.layers.Layer) or not callable(factory):
                    raise ValueError(
                        f"`factory` of layer {name!r} must be a no-argument callable that "
                        f"returns the layer, e.g. `lambda: keras.layers.Dense(1)`. "
                        f"Received: factory={factory!r}"
                    )
                layer = factory()
                if not isinstance(layer, keras.layers.Layer):
                    raise ValueError(
                        f"`factory` of layer {name!r} must return a keras.layers.Layer. "
                        f"Received: {type(layer).__name__}"
                    )
                self._layers[name] = layer
        return layer

    def add_loss(self, loss: Any) -> None:
        """Add a scalar auxiliary loss (e.g. distillation) to the current round.

        Raises:
            ValueError: outside ``logits_fn`` or for a loss that is not a scalar.
        """
        losses = getattr(self._local, "losses", None)
        if losses is None:
            raise ValueError(
                "`add_loss` must be called inside logits_fn during a round. "
                "Received: a call outside a round"
            )
        loss = tf.convert_to_tensor(loss)
        if loss.shape.rank not in (None, 0):
            raise ValueError(f"`loss` must be a scalar. Received: shape={loss.shape}")
        losses.append(loss)

    # -------------------------------------------------------------- what the trainer reads

    @property
    def tables(self) -> dict[str, TableView]:
        """``{"table_{s}_{i}": TableView}``, one per slice, built on first access.

        Each table has its slice's optimizer and initializer and the slot's vocab size,
        and is a view of its rows in its group (:attr:`table_groups`). The first access
        creates the variables: do it inside the strategy's scope.

        Raises:
            LookupError: if a declared slot is missing from the vocab file.
        """
        return dict(self._get_tables().tables)

    @property
    def table_groups(self) -> dict[str, TableGroup]:
        """``{group name: TableGroup}``: what the trainer updates and checkpoints save.

        With ``params["table_groups"]`` (default True) tables of one width and optimizer
        share one variable (``adagrad_dim16``, ``ftrl_dim1``, ...); with False each table
        is a group of its own, named as the table.
        """
        return dict(self._get_tables().groups)

    def table_specs(self) -> list[TableSpec]:
        """The tables of every slice as data: name, rows, dim, optimizer, initializer."""
        from nwsrec.embedding.specs import TableSpec

        return [
            TableSpec(
                name=s.table_name,
                rows=self.table_rows(s.slot_id, s.index),
                dim=s.dim,
                optimizer=s.optimizer,
                initializer=s.initializer,
            )
            for s in self.env.feature_slices()
        ]

    def split_tables_for_serving(self) -> None:
        """Look every table up from a variable of its own from now on (for an export:
        the SavedModel then holds one variable per table, no optimizer state)."""
        self._get_tables().split_for_serving()

    def dense_variables(self) -> list:
        """The trainable weights of the layers created through :meth:`keras_layer`.

        Includes the architecture weights of :meth:`nws_layers`; each variable once.
        """
        seen: set[int] = set()
        variables = []
        for layer in self._layers.values():
            for variable in layer.trainable_weights:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    variables.append(variable)
        return variables

    def nws_layers(self) -> list:
        """The ``nwsrec.layers.MixedEmbedOpComb`` layers created through :meth:`keras_layer`."""
        import nwsrec.layers as nws_layers_module

        layer_class = getattr(nws_layers_module, "MixedEmbedOpComb", None)
        if layer_class is None:
            return []
        return [layer for layer in self._layers.values() if isinstance(layer, layer_class)]

    def create_input_fn(
        self,
        file_pattern: str,
        repeat: bool = True,
        split: Any = None,
        shuffle: bool | None = None,
    ) -> Callable[[Any], Any]:
        """The input function of this model; see ``nwsrec.data.pipeline.make_input_fn``.

        Args:
            file_pattern: glob of the TFRecord files.
            repeat: repeat the data forever.
            split: a ``nwsrec.data.RecordSplit`` to read one part of the records (a
                search's training part or its held-out part); None reads every record.
            shuffle: read in a seeded order (the pipeline's ``shuffle_*`` knobs); None:
                ``repeat`` (the training input shuffles, evaluation reads in order).
        """
        from nwsrec.data.pipeline import make_input_fn

        return make_input_fn(
            file_pattern,
            feature_map=self.feature_map(),
            slot_to_dims=self.env.slot_to_dims,
            params=self.params,
            repeat=repeat,
            split=split,
            shuffle=repeat if shuffle is None else bool(shuffle),
        )

    # ------------------------------------------------------------ configs and planning

    def create_feature_and_table_config_dict(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """TF TPU-embedding configs of every slice, and the memory plan in the log.

        Returns:
            ``(feature_to_config, table_to_config)`` keyed ``slot_{s}_{i}`` /
            ``table_{s}_{i}``, holding ``tf.tpu.experimental.embedding.FeatureConfig`` /
            ``TableConfig`` (combiner ``sum``, the slice's optimizer and initializer, the
            slot's vocab size and the slice's dim).

        Raises:
            ValueError: if the env is not finalized, a slot's vocab size is 0, or a slice
                trains with :class:`~nwsrec.features.AdagradRowwise` (no TPU counterpart).
            LookupError: naming the slot, if a slot is missing from the vocab file.
        """
        if not self.env.is_finalized():
            raise ValueError(
                "`env` must be finalized (init_slot_to_dims) before configs are built. "
                "Received: env in discovery"
            )
        from nwsrec.embedding.tpu import tpu_embedding_configs

        slices = self.env.feature_slices()
        specs = self.table_specs()
        feature_to_config, table_to_config = tpu_embedding_configs(
            specs, [s.feature_name for s in slices]
        )
        self.table_memory_plan()
        return feature_to_config, table_to_config

    def table_memory_plan(
        self, dims_override: Mapping[int, int | Sequence[int]] | None = None
    ) -> TableMemoryPlan:
        """The memory of the model's embedding tables (also logged).

        Per table ``vocab_size x dim x 4 bytes x parameter_copies(optimizer,
        params["use_gradient_accumulation"])``, and the totals ``raw_bytes``,
        ``padded_bytes`` (dims padded to multiples of 8) and ``padded_max_copies_bytes``
        (padded, every table charged the model's largest copy count).

        Args:
            dims_override: plan other widths without rebuilding the model:
                ``{slot_id: width}`` sets every vector (non-bias) slice of the slot to
                ``width``; ``{slot_id: [dim, ...]}`` sets each slice's dim. A dim of 0
                drops the table. A slice beyond the declared ones uses the slot's default
                vector optimizer.

        Returns:
            A :class:`~nwsrec.features.TableMemoryPlan`.

        Raises:
            LookupError: naming the slot, if a slot is missing from the vocab file or an
                override names a slot the model does not declare.
            ValueError: for a bad override.
        """
        from nwsrec.embedding.specs import group_names

        overrides = self._check_dims_override(dims_override)
        use_accumulation = self.run_config.model.use_gradient_accumulation
        copies_cache: dict[type, tuple[int, str, int]] = {}
        entries: list[dict[str, Any]] = []
        for slot_id, slot in self.env.slot_to_config.items():
            vocab_size = self._table_rows(slot_id)
            slices = slot.feature_slices
            dims = overrides.get(slot_id)
            if dims is None:
                dims = [s.dim for s in slices]
            elif isinstance(dims, int):
                dims = [1 if s.is_bias else dims for s in slices]
            for index, dim in enumerate(dims):
                if dim == 0:
                    continue
                optimizer = (
                    slices[index].optimizer if index < len(slices) else slot.default_vec_optimizer
                )
                cached = copies_cache.get(type(optimizer))  # copies depend on the class only
                if cached is None:
                    cached = (
                        parameter_copies(optimizer, use_accumulation),
                        optimizer_name(optimizer),
                        row_state_floats(optimizer),
                    )
                    copies_cache[type(optimizer)] = cached
                entries.append(
                    {
                        "name": f"table_{slot_id}_{index}",
                        "slot_id": slot_id,
                        "rows": (
                            self.table_rows(slot_id, index) if index < len(slices) else vocab_size
                        ),
                        "dim": dim,
                        "copies": cached[0],
                        "optimizer": cached[1],
                        "row_state": cached[2],
                        "bucket": (
                            self.table_bucket(slot_id, index) if index < len(slices) else None
                        ),
                        "_optimizer": optimizer,
                    }
                )
        groups = group_names(
            [(e["rows"], e["dim"], e.pop("_optimizer")) for e in entries],
            self._table_groups,
            [e["name"] for e in entries],
        )
        rows = [
            TableMemoryRow(**entry, group=group if self._table_groups else None)
            for entry, group in zip(entries, groups, strict=True)
        ]
        plan = TableMemoryPlan(tuple(rows))
        logger.info("%s table memory plan: %s", type(self).__name__, plan.summary())
        return plan

    # ---------------------------------------------------------------------- pooling
    # The seed's helper, kept for models written against it (nwsrec.features.pooling).

    def sum_pooling(
        self,
        fc_dict: Mapping[Any, FeatureColumnV1],
        input_map: MutableMapping[Any, tf.Tensor],
        features: Sequence[Any],
        dim: int,
        total_embeddings: list,
        add_into_embeddings: bool = True,
    ) -> tf.Tensor:
        """Add a ``dim``-wide slice to each of ``features``' columns and sum them.

        For each key in ``features``, ``fc_dict[key].add_vector(dim)``; the embedding is
        stored in ``input_map`` under ``key`` the first time, then ``"{key}_1"``,
        ``"{key}_2"``, ... when the same key is pooled again (the seed's naming, counted
        exactly rather than by substring). With ``add_into_embeddings``,
        ``(embedding, dim)`` is appended to ``total_embeddings``.

        Args:
            fc_dict: ``{key: FeatureColumnV1}``.
            input_map: receives each slot's embedding (mutated).
            features: the keys of ``fc_dict`` to pool, at least one.
            dim: the width of the new slices.
            total_embeddings: receives ``(embedding, dim)`` pairs (mutated).
            add_into_embeddings: whether to append to ``total_embeddings``.

        Returns:
            The one embedding if ``features`` has one key, else their sum ``[B, dim]``.

        Raises:
            ValueError: if ``features`` is empty.
            LookupError: if a key of ``features`` is not in ``fc_dict``.
        """
        return sum_pooling(fc_dict, input_map, features, dim, total_embeddings, add_into_embeddings)

    # --------------------------------------------------------------------- internals

    def _enter_round(self, features: Mapping[str, Any], training: bool) -> None:
        self._local.features = features
        self._local.training = training
        self._local.losses = []

    def _exit_round(self) -> None:
        self._local.features = None
        self._local.training = False
        self._local.losses = None

    def _dummy_features(self) -> dict[str, Any]:
        """A batch of one example parsed with ``feature_map()``: zeros, empty id lists."""
        feature_map = self.feature_map()
        if not isinstance(feature_map, Mapping):
            raise ValueError(
                f"`feature_map()` must return a mapping. Received: {type(feature_map).__name__}"
            )
        example = tf.train.Example()
        for name, spec in feature_map.items():
            if not isinstance(spec, tf.io.FixedLenFeature) or spec.default_value is not None:
                continue
            size = math.prod(tf.TensorShape(spec.shape).as_list())
            feature = example.features.feature[name]
            dtype = tf.as_dtype(spec.dtype)
            if dtype == tf.string:
                feature.bytes_list.value.extend([b""] * size)
            elif dtype.is_integer:
                feature.int64_list.value.extend([0] * size)
            else:
                feature.float_list.value.extend([0.0] * size)
        return tf.io.parse_example(tf.constant([example.SerializeToString()]), dict(feature_map))

    def _check_logits(self, logits: Any) -> tf.Tensor:
        if logits is None:
            raise ValueError("`logits_fn` must return logits [B]. Received: None")
        logits = tf.convert_to_tensor(logits)
        if logits.shape.rank is not None and logits.shape.rank != 1:
            raise ValueError(
                f"`logits_fn` must return logits of shape [B]. Received: shape={logits.shape}"
            )
        return logits

    def _vocab_size(self, slot_id: int) -> int:
        size = self.env.vocab_size_dict.get(slot_id)
        if size is None:
            raise LookupError(
                f"slot {slot_id} must be listed in the vocab file "
                f"{self._params['vocab_file_path']}. Received: slot_id={slot_id}"
            )
        if size < 1:
            raise ValueError(
                f"vocab size of slot {slot_id} must be >= 1 to build its tables. "
                f"Received: vocab_size={size}"
            )
        return size

    def _table_rows(self, slot_id: int) -> int:
        """Rows of a slot's tables: its vocab size, plus the OOV row with ``oov`` ids."""
        return self._vocab_size(slot_id) + (1 if self._oov_ids else 0)

    @property
    def out_of_range_count(self) -> int:
        """Ids outside their slot's vocab mapped to the OOV row (``out_of_range_ids=oov``)."""
        counter = getattr(self, "_oov_counter", None)
        return 0 if counter is None else int(counter.numpy())

    def _map_out_of_range(self, slot_id: int, ids: Any, mapped: dict[int, Any]) -> Any:
        """``ids`` with every id outside ``[0, vocab size)`` replaced by the OOV row."""
        if slot_id in mapped:
            return mapped[slot_id]
        size = self._vocab_size(slot_id)
        values = ids.values
        bad = tf.logical_or(values < 0, values >= size)
        if self._oov_counter is not None:
            self._oov_counter.assign_add(tf.reduce_sum(tf.cast(bad, tf.int64)))
        values = tf.where(bad, tf.constant(size, values.dtype), values)
        if isinstance(ids, tf.SparseTensor):
            out = tf.SparseTensor(ids.indices, values, ids.dense_shape)
        else:
            out = ids.with_values(values)
        mapped[slot_id] = out
        return out

    def _get_tables(self) -> TableCollection:
        if self._tables is not None:
            return self._tables
        with self._tables_lock:
            if self._tables is None:
                from nwsrec.embedding.collection import TableCollection

                self._check_tables_fit()
                tables = TableCollection(self.table_specs(), grouped=self._table_groups)
                if self._oov_ids:
                    self._oov_counter = tf.Variable(
                        0,
                        dtype=tf.int64,
                        trainable=False,
                        name="out_of_range_ids",
                        synchronization=tf.VariableSynchronization.ON_READ,
                        aggregation=tf.VariableAggregation.SUM,
                    )
                self._tables = tables
        return self._tables

    def _check_tables_fit(self) -> None:
        """Refuses, before allocating, tables that the machine's memory cannot hold.

        The need is the plan's ``build_bytes``: its raw bytes plus the largest single
        variable, which is filled from a temporary tensor of its size. Skipped with
        ``params["check_memory"] = False`` and under ``ParameterServerStrategy``, whose
        tables live on the ps tasks, not here.
        """
        if not self.run_config.model.check_memory:
            return
        if tf.distribute.has_strategy() and isinstance(
            tf.distribute.get_strategy(), tf.distribute.experimental.ParameterServerStrategy
        ):
            return
        plan = self.table_memory_plan()
        check_tables_fit(
            plan.build_bytes,
            f"model {type(self).__name__!r}",
            detail=(
                f"memory plan: {len(plan.tables)} tables {format_bytes(plan.raw_bytes)}, + "
                f"{format_bytes(plan.build_bytes - plan.raw_bytes)} to fill the largest"
            ),
        )

    def _check_dims_override(
        self, dims_override: Mapping[int, int | Sequence[int]] | None
    ) -> dict[int, int | list[int]]:
        if dims_override is None:
            return {}
        if not isinstance(dims_override, Mapping):
            raise ValueError(
                "`dims_override` must be a mapping {slot_id: width or [dim, ...]}. "
                f"Received: dims_override={dims_override!r}"
            )
        declared = self.env.slot_to_config
        checked: dict[int, int | list[int]] = {}
        for slot_id, dims in dims_override.items():
            if slot_id not in declared:
                raise LookupError(
                    f"`dims_override` must name slots the model declares. "
                    f"Received: slot_id={slot_id!r}, declared={sorted(declared)[:20]}"
                )
            if is_int(dims) and dims >= 0:
                checked[slot_id] = dims
            elif (
                isinstance(dims, Sequence)
                and not isinstance(dims, str)
                and all(is_int(d) and d >= 0 for d in dims)
            ):
                checked[slot_id] = list(dims)
            else:
                raise ValueError(
                    f"`dims_override[{slot_id}]` must be a non-negative integer or a list of "
                    f"them. Received: {dims!r}"
                )
        return checked
