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
3. The trainer reads :attr:`Model.table_groups`, :meth:`Model.dense_variables` and
   :meth:`Model.nws_layers`.

The model never builds a table: :class:`~nwsrec.embedding.SlotTables` reads the env's
:class:`~nwsrec.features.SlotSpec` s and builds, plans and looks up the tables; the model
gives it the layout hooks (:meth:`Model.table_rows`, :meth:`Model.table_bucket`,
:meth:`Model.slice_ids`).

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
import threading
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import keras
import tensorflow as tf

from nwsrec.config import RunConfig
from nwsrec.embedding.collection import TableGroup, TableView
from nwsrec.embedding.slot_tables import SlotTables
from nwsrec.embedding.specs import TableSpec
from nwsrec.features import Env, FeatureSlice, TableMemoryPlan, read_vocab_file
from nwsrec.features.env import discovery_batch
from nwsrec.layers import MixedEmbedOpComb
from nwsrec.layers.store import LayerStore

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
        self._layers = LayerStore()
        self._table_groups = self.run_config.model.table_groups
        self._oov_ids = self.run_config.pipeline.out_of_range_ids == "oov"
        vocab_size_dict = read_vocab_file(params["vocab_file_path"], params["vocab_size_per_slot"])
        self.env = Env(vocab_size_dict)
        self._slot_tables = SlotTables(
            self.env,
            self,
            grouped=self._table_groups,
            oov=self._oov_ids,
            use_gradient_accumulation=self.run_config.model.use_gradient_accumulation,
            check_memory=self.run_config.model.check_memory,
            owner=f"model {type(self).__name__!r}",
            vocab_file=params["vocab_file_path"],
        )
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
        return self._layers.layers

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
        self._enter_round(discovery_batch(self.feature_map()), training=False)
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
            features: the parsed batch: the slots' ids (see :meth:`lookup`), ``label`` and
                whatever else ``logits_fn`` reads.
            training: whether this is a training step (``self.training`` in ``logits_fn``).

        Returns:
            ``(logits [B], aux_losses)``, the losses added with :meth:`add_loss`.

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

        ``features`` holds ``slot_{s}_0`` ids per example (``tf.SparseTensor`` or
        ``tf.RaggedTensor``), which every slice of slot ``s`` reads (``slot_{s}_{i}``
        where ``slot_{s}_0`` is missing); returns ``{"slot_{s}_{i}": [B, dim]}``. See
        :meth:`nwsrec.embedding.SlotTables.lookup`.

        Raises:
            LookupError: naming the feature, if a slot's ids are missing.
        """
        return self._slot_tables.lookup(features)

    def concat_pooled(self, pooled: Sequence[tf.Tensor]) -> tf.Tensor:
        """``tf.concat(pooled, axis=1)`` of embeddings of this round (``logits_fn``'s
        vectors), the same values bit for bit.

        The slot vectors of one table group come out of :meth:`lookup` as slices of one
        ``[slots, B, dim]`` result: a run of them in slot order is taken from it by one
        transpose, which saves a slice per slot forward and a ``Pack`` and ``SplitV`` of
        every slot backward (at 64 slots, ~1-2 ms of CPU per step).

        Args:
            pooled: ``[B, d_i]`` tensors, e.g. ``FeatureColumnV1.add_vector`` results.

        Returns:
            ``[B, sum(d_i)]``.
        """
        return self._slot_tables.concat(pooled)

    def table_rows(self, slot_id: int, index: int) -> int:
        """The rows of slice ``index`` of slot ``slot_id``'s table: the slot's vocab size
        (plus the OOV row with ``out_of_range_ids="oov"``); fewer in a subclass whose
        slices hold part of a slot's ids (frequency buckets, mapped by :meth:`slice_ids`).

        Raises:
            LookupError: naming the slot, if it is missing from the vocab file.
        """
        return self._slot_tables.slot_rows(slot_id)

    def table_bucket(self, slot_id: int, index: int) -> int | None:
        """The frequency bucket that slice ``index`` of slot ``slot_id`` holds (None: all ids)."""
        return None

    def slice_ids(self, feature_slice: FeatureSlice, ids: Any) -> Any:
        """The batch's ids of ``feature_slice`` as rows of its table (identity by default).

        Args:
            feature_slice: the :class:`~nwsrec.features.FeatureSlice`.
            ids: its ids ``[B, None]`` (``tf.SparseTensor`` or ``tf.RaggedTensor``).
        """
        return ids

    def keras_layer(
        self, name: str, factory: Callable[[], keras.layers.Layer]
    ) -> keras.layers.Layer:
        """The Keras layer called ``name``, created by ``factory()`` on the first call only
        (a :class:`~nwsrec.layers.store.LayerStore`).

        ``logits_fn`` runs once per step; creating layers through this method keeps their
        weights across steps.

        Args:
            name: a key unique within the model.
            factory: a no-argument callable returning a ``keras.layers.Layer``.

        Example:
            >>> # inside logits_fn:
            >>> # dense = self.keras_layer("dnn", lambda: keras.layers.Dense(1))
        """
        return self._layers.get(name, factory)

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
        """``{"table_{s}_{i}": TableView}``, one per slice: its rows of its group
        (:attr:`table_groups`). The first access creates the variables: do it inside the
        strategy's scope.

        Raises:
            LookupError: if a declared slot is missing from the vocab file.
        """
        return dict(self._slot_tables.collection.tables)

    @property
    def table_groups(self) -> dict[str, TableGroup]:
        """``{group name: TableGroup}``: what the trainer updates and checkpoints save.

        With ``params["table_groups"]`` (default True) tables of one width and optimizer
        share one variable (``adagrad_dim16``, ``ftrl_dim1``, ...); with False each table
        is a group of its own, named as the table.
        """
        return dict(self._slot_tables.collection.groups)

    def table_specs(self) -> list[TableSpec]:
        """The tables of every slice as data: name, rows, dim, optimizer, initializer."""
        return self._slot_tables.specs()

    def split_tables_for_serving(self) -> None:
        """Look every table up from a variable of its own from now on (for an export:
        the SavedModel then holds one variable per table, no optimizer state)."""
        self._slot_tables.collection.split_for_serving()

    def dense_variables(self) -> list:
        """The trainable weights of the layers created through :meth:`keras_layer` (the
        architecture weights of :meth:`nws_layers` included), each variable once."""
        return self._layers.trainable_variables()

    def nws_layers(self) -> list:
        """The ``nwsrec.layers.MixedEmbedOpComb`` layers created through :meth:`keras_layer`."""
        return self._layers.of_type(MixedEmbedOpComb)

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
            split: a ``nwsrec.data.RecordSplit`` (one part of the records); None: all.
            shuffle: read in a seeded order; None: ``repeat`` (training shuffles).
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
        """The seed's TPU export: ``(feature_to_config, table_to_config)`` of every slice,
        keyed ``slot_{s}_{i}`` / ``table_{s}_{i}`` (see
        :meth:`nwsrec.embedding.SlotTables.tpu_configs`), and the memory plan in the log.

        Raises:
            ValueError: a slot's vocab size is 0, or a slice trains with
                :class:`~nwsrec.features.AdagradRowwise` (no TPU counterpart).
            LookupError: naming the slot, if a slot is missing from the vocab file.
        """
        return self._slot_tables.tpu_configs()

    def table_memory_plan(
        self, dims_override: Mapping[int, int | Sequence[int]] | None = None
    ) -> TableMemoryPlan:
        """The memory of the model's embedding tables (also logged).

        See :func:`nwsrec.embedding.slot_memory_plan`: per table ``rows x dim x 4 bytes x
        parameter copies`` (plus row state), the totals, and each table's group;
        ``dims_override`` (``{slot_id: width}`` or ``{slot_id: [dim, ...]}``, 0 drops a
        table) plans other widths without rebuilding the model.

        Raises:
            LookupError: naming the slot, if a slot is missing from the vocab file or an
                override names a slot the model does not declare.
            ValueError: for a bad override.
        """
        return self._slot_tables.memory_plan(dims_override)

    # --------------------------------------------------------------------- internals

    def _enter_round(self, features: Mapping[str, Any], training: bool) -> None:
        self._local.features = features
        self._local.training = training
        self._local.losses = []

    def _exit_round(self) -> None:
        self._local.features = None
        self._local.training = False
        self._local.losses = None

    def _check_logits(self, logits: Any) -> tf.Tensor:
        if logits is None:
            raise ValueError("`logits_fn` must return logits [B]. Received: None")
        logits = tf.convert_to_tensor(logits)
        if logits.shape.rank is not None and logits.shape.rank != 1:
            raise ValueError(
                f"`logits_fn` must return logits of shape [B]. Received: shape={logits.shape}"
            )
        return logits

    @property
    def out_of_range_count(self) -> int:
        """Ids outside their slot's vocab mapped to the OOV row (``out_of_range_ids=oov``)."""
        return self._slot_tables.out_of_range_count
