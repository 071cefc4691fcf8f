"""The tables of a model, built from their specs as groups that share one variable.

:class:`TableCollection` reads a list of :class:`~nwsrec.embedding.specs.TableSpec`, plans
the groups (:func:`~nwsrec.embedding.specs.plan_groups`) and builds one
:class:`TableGroup` per group. A lookup of every table for a batch costs, per group, one
concatenation of the members' ids (each shifted by its member's row offset), one gather
and one segment sum, whatever the number of tables; the gradient of a group is one
``IndexedSlices`` and its update one unique, gather, optimizer step and scatter::

    group adagrad_dim16 [17, 16]: table_1_1 rows 0-9, table_2_1 rows 10-16
    batch of B examples: ids of slot 1 [3], [], [9]    ids of slot 2 [0, 6], [2], []
      ids      [3, 9, 10 + 0, 10 + 6, 10 + 2]            (row offsets added)
      segments [0, 2, B + 0, B + 0, B + 1]               (member k pools into k*B + example)
      gather -> [5, 16] -> segment sum -> [2 * B, 16]
             -> table_1_1 [B, 16], table_2_1 [B, 16]

Where every example has one id of each member (segments ``0, 1, ..., n - 1``, the usual
CTR batch) the gathered rows are the pooled ones and the sum and its gradient's gather do
not run (:func:`~nwsrec.embedding.table.pool_or_pass`).

:class:`TableView` shows one table of a group as the per-table object the rest of nwsrec
reads (``vocab_size``, ``dim``, ``optimizer``, ``variable``, ``slot_variables``): its rows of
the group's variables.

Example:
    >>> import tensorflow as tf
    >>> from nwsrec.embedding.specs import TableSpec
    >>> E = tf.tpu.experimental.embedding
    >>> tables = TableCollection([TableSpec("a", 3, 2, E.SGD(0.1), "ones"),
    ...                           TableSpec("b", 4, 2, E.SGD(0.1), "zeros")])
    >>> list(tables.groups), tables.groups["sgd_dim2"].variable.shape
    (['sgd_dim2'], TensorShape([7, 2]))
    >>> ids = tf.ragged.constant([[0, 2], []], dtype=tf.int64)
    >>> pooled = tables.lookup({"a": tables.prepare("a", ids), "b": tables.prepare("b", ids)})
    >>> pooled["a"].numpy().tolist(), pooled["b"].numpy().tolist()
    ([[2.0, 2.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]])
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import tensorflow as tf

from nwsrec.embedding.sharded import gather_rows, is_sharded, shard_offsets, shards
from nwsrec.embedding.specs import GroupPlan, TableSpec, plan_groups
from nwsrec.embedding.table import (
    EmbeddingTable,
    LookupIds,
    block_initializer,
    checked_ids,
    fills_in_blocks,
    has_gpu,
    one_row_each,
    pool_or_pass,
    prepare_ids,
    resolve_initializer,
    sum_pool,
)
from nwsrec.features.optimizers import EmbeddingOptimizer, Initializer

__all__ = [
    "MemberLayout",
    "TableCollection",
    "TableGroup",
    "TableView",
    "assign_rows",
    "fill_block_rows",
    "fill_bytes",
]

#: A member of a group larger than this is filled in blocks of rows of at most this size
#: (where its initializer allows it, :func:`~nwsrec.embedding.table.block_initializer`):
#: creating a group then takes the group plus a few blocks (a Keras random draw holds two
#: or three temporaries of its shape), not the group plus its largest member two or three
#: times over (at the Criteo shape, 0.6 GiB each for the 10M-row table at width 16).
#: 32 MiB is glibc's largest mmap threshold: a block of it is mapped and given back when
#: freed; smaller ones come from malloc's arenas, which keep them (measured: blocks of 16
#: MiB left the peak higher than blocks of 32).
FILL_BLOCK_BYTES = 32 << 20
#: Temporaries of a block's shape that one block's fill may hold at once (a Keras random
#: draw: the draw, then its scaling and shift).
FILL_TEMPORARIES = 3


def fill_block_rows(rows: int, dim: int, initializer: Initializer) -> int | None:
    """Rows per block when a table of ``rows x dim`` is filled by ``initializer`` (resolved,
    :func:`~nwsrec.embedding.table.resolve_initializer`) in blocks, or None when it is
    filled in one piece (it fits in one block, or the initializer cannot fill in blocks).

    Example:
        >>> import keras
        >>> fill_block_rows(1 << 22, 16, keras.initializers.Zeros())
        524288
        >>> fill_block_rows(1 << 22, 16, keras.initializers.GlorotUniform()) is None
        True
    """
    block_rows = max(1, FILL_BLOCK_BYTES // (4 * dim))
    if rows <= block_rows or not fills_in_blocks(initializer):
        return None
    return block_rows


def fill_bytes(
    rows: int,
    dim: int,
    initializer: Initializer | str | dict[str, Any] | None,
    name: str = "table",
) -> int:
    """Bytes of the temporaries that fill table ``name`` of ``rows x dim`` built by
    ``initializer`` (a table spec's: None is the default truncated normal): the table's own
    bytes, or :data:`FILL_TEMPORARIES` blocks where it is filled in blocks.

    Example:
        >>> fill_bytes(10, 4, None), fill_bytes(1 << 22, 16, None) // (1 << 20)
        (160, 96)
    """
    resolved = resolve_initializer(initializer, dim, name)
    block_rows = fill_block_rows(rows, dim, resolved)
    if block_rows is None:
        return rows * dim * 4
    return min(rows, FILL_TEMPORARIES * block_rows) * dim * 4


class MemberLayout(NamedTuple):
    """Where the ids of a group's members go: the group's rows and the pooled segments."""

    rows: tf.Tensor
    """int64 ``[n]``: each id's row of the group (its member's offset added), checked."""
    segments: tf.Tensor
    """int64 ``[n]``: ``k * B + b`` for an id of member ``k`` (in lookup order), example ``b``."""
    num_segments: tf.Tensor
    """Scalar: members x B."""
    one_each: tf.Tensor | None
    """Scalar bool: each example has one id of each member (``segments`` is ``0 .. n - 1``),
    so pooling passes the rows through (:func:`~nwsrec.embedding.table.pool_or_pass`).
    None on a machine with a GPU, where the test's ``tf.cond`` would wait for the device
    each step and the sum is cheap: pooling always sums there."""


class TableGroup(EmbeddingTable):
    """Tables of one width and optimizer in one variable, each at its row offset.

    An :class:`~nwsrec.embedding.EmbeddingTable` of the members' summed rows (its
    ``apply_gradient`` updates the group's rows with the shared optimizer) whose rows
    ``offsets[k] .. offsets[k] + rows_k`` are member ``k``, filled with that member's
    initializer. A group of one table is exactly an ``EmbeddingTable`` of that table
    (same variables, same checkpoint keys).

    Args:
        plan: the :class:`~nwsrec.embedding.specs.GroupPlan` (name, members, offsets).

    Example:
        >>> import tensorflow as tf
        >>> from nwsrec.embedding.specs import TableSpec, plan_groups
        >>> E = tf.tpu.experimental.embedding
        >>> plan = plan_groups([TableSpec("a", 2, 1, E.SGD(0.1), "ones"),
        ...                     TableSpec("b", 3, 1, E.SGD(0.1), "zeros")])[0]
        >>> TableGroup(plan).variable.numpy()[:, 0].tolist()
        [1.0, 1.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, plan: GroupPlan) -> None:
        self._plan = plan
        self._member_initializers = [
            resolve_initializer(spec.initializer, spec.dim, spec.name) for spec in plan.members
        ]
        # Filled after creation, member by member and block by block (_fill_members): the
        # peak is the group plus a block, not the group plus its largest member.
        self._fill_in_place = not tf.distribute.has_strategy() and (
            len(plan.members) > 1 or self._block_rows(0) is not None
        )
        single = plan.members[0] if len(plan.members) == 1 else None
        super().__init__(
            plan.name,
            plan.rows,
            plan.dim,
            plan.optimizer,
            initializer=None if single is None else self._member_initializers[0],
        )
        if self._fill_in_place:
            self._fill_members()

    @property
    def plan(self) -> GroupPlan:
        """The group's plan: its members and their row offsets."""
        return self._plan

    @property
    def members(self) -> tuple[TableSpec, ...]:
        """The tables of the group, in row order."""
        return self._plan.members

    @property
    def offsets(self) -> tuple[int, ...]:
        """The first row of each member."""
        return self._plan.offsets

    def __repr__(self) -> str:
        return (
            f"TableGroup(name={self.name!r}, tables={len(self.members)}, rows={self.vocab_size}, "
            f"dim={self.dim}, optimizer={type(self.optimizer).__name__})"
        )

    def lookup_members(
        self,
        ids: Mapping[int, LookupIds],
        layouts: dict[Any, MemberLayout] | None = None,
        parts: dict[Any, tuple[tf.Tensor, int]] | None = None,
    ) -> dict[int, tf.Tensor]:
        """Sum-pooled embeddings of some members for one batch, in one gather.

        Args:
            ids: member index -> its ids, prepared (:func:`~nwsrec.embedding.table.prepare_ids`)
                for that member's rows; every member's batch has the same size.
            layouts: a cache of the members' row ids and segments, shared by the groups
                of one lookup: groups whose members read the same ids at the same row
                offsets (a slot's bias and vector tables) compute them, and check the
                ids, once; their gradients then carry the same row ids, so the
                optimizers' ``unique`` of those ids is computed once per step too.
            parts: where to note, per returned tensor (by ``ref()``), the group's
                ``[members, B, dim]`` result it is a slice of and its position there
                (:meth:`TableCollection.concat`).

        Returns:
            member index -> ``[B, dim]``. The gradient with respect to :attr:`variable` is
            one ``IndexedSlices`` over the group's rows.
        """
        order = sorted(ids)
        for k in order:
            rows = self.members[k].rows
            if ids[k].vocab_size != rows:
                raise ValueError(
                    f"`ids` of table '{self.members[k].name}' must be prepared for {rows} rows. "
                    f"Received: LookupIds checked against vocab_size={ids[k].vocab_size}"
                )
        if len(order) == 1:
            k = order[0]
            prepared = ids[k]
            values = prepared.values
            if not prepared.checked:
                values = checked_ids(values, self.members[k].rows, self.members[k].name)
            if self.offsets[k]:
                values = tf.cast(values, tf.int64) + self.offsets[k]
            pooled = sum_pool(gather_rows(self.variable, values), prepared.examples, prepared.batch)
            return {k: tf.ensure_shape(pooled, [prepared.static_batch, self.dim])}
        key = tuple((id(ids[k]), self.offsets[k], self.members[k].rows) for k in order)
        layout = None if layouts is None else layouts.get(key)
        if layout is None:
            layout = self._member_layout(ids, order)
            if layouts is not None:
                layouts[key] = layout
        rows = gather_rows(self.variable, layout.rows)
        if layout.one_each is None:
            pooled = sum_pool(rows, layout.segments, layout.num_segments)
        else:
            pooled = pool_or_pass(rows, layout.segments, layout.num_segments, layout.one_each)
        static = ids[order[0]].static_batch
        stacked = tf.reshape(pooled, [len(order), -1 if static is None else static, self.dim])
        sliced = tf.unstack(stacked, num=len(order))
        if parts is not None:
            for position, part in enumerate(sliced):
                parts[part.ref()] = (stacked, position)
        return {k: sliced[position] for position, k in enumerate(order)}

    def _member_layout(self, ids: Mapping[int, LookupIds], order: list[int]) -> MemberLayout:
        """The members' ids as rows of the group and the segment (member k, example b) ->
        k * B + b each pools into, checked against each id's own table.

        No per-id vector of members is built (``tf.repeat`` of the members by their id
        counts and the gathers of offsets and bounds through it cost more than the rest
        of the layout): each member's row offset and segment offset are added to its own
        ids before the concatenation (one scalar add each), and the range check compares
        the ids of the members of one table size at once (:meth:`_checked_members`).
        """
        batch = tf.cast(ids[order[0]].batch, tf.int64)
        raw = [tf.cast(ids[k].values, tf.int64) for k in order]
        rows = tf.concat(
            [
                v + self.offsets[k] if self.offsets[k] else v
                for v, k in zip(raw, order, strict=True)
            ],
            0,
        )
        segments = tf.concat(
            [
                ids[k].examples + position * batch if position else ids[k].examples
                for position, k in enumerate(order)
            ],
            0,
        )
        unchecked = [position for position, k in enumerate(order) if not ids[k].checked]
        if unchecked:
            rows = self._checked_members(rows, raw, order, unchecked)
        count = len(order) * batch
        one_each = None if has_gpu() else one_row_each(segments, count)
        return MemberLayout(rows, segments, count, one_each)

    def _checked_members(
        self, rows: tf.Tensor, raw: list[tf.Tensor], order: list[int], unchecked: list[int]
    ) -> tf.Tensor:
        """``rows`` after one run-time check that each id of the ``unchecked`` members (as
        positions in ``order``; ``raw``: their ids) lies in its own table's rows.

        One comparison per table size: the ids of the members of that many rows are
        compared together (all of them at once when the tables are of one size). The error
        names the first table with an id outside (as ``checked_ids`` does) and its ids.
        """
        by_bound: dict[int, list[int]] = {}
        for position in unchecked:
            by_bound.setdefault(self.members[order[position]].rows, []).append(position)
        bad = []
        for bound, positions in by_bound.items():
            values = (
                raw[positions[0]]
                if len(positions) == 1
                else tf.concat([raw[p] for p in positions], 0)
            )
            bad.append(tf.reduce_any(tf.cast(values, tf.uint64) >= tf.constant(bound, tf.uint64)))
        in_range = tf.logical_not(bad[0] if len(bad) == 1 else tf.reduce_any(tf.stack(bad)))

        def fail() -> tf.Tensor:
            # Built only in the failing branch: the per-table checks cost nothing per step.
            outside = [
                tf.cast(raw[p], tf.uint64) >= tf.constant(self.members[order[p]].rows, tf.uint64)
                for p in unchecked
            ]
            bad_ids = tf.concat(outside, 0)
            member = tf.concat([tf.fill(tf.shape(o), i) for i, o in enumerate(outside)], 0)
            messages = tf.constant(
                [
                    # No quotes: graph-mode errors escape them.
                    f"`ids` of table {self.members[order[p]].name} must lie in "
                    f"[0, {self.members[order[p]].rows}) (vocab_size of the table). "
                    "Received: ids ="
                    for p in unchecked
                ]
            )
            first = tf.gather(member, tf.argmax(tf.cast(bad_ids, tf.int32)))
            values = tf.concat([raw[p] for p in unchecked], 0)
            check = tf.debugging.Assert(
                in_range,
                [tf.gather(messages, first), tf.boolean_mask(values, bad_ids)],
                summarize=8,
            )
            with tf.control_dependencies([check]):
                return tf.identity(rows)

        return tf.cond(in_range, lambda: rows, fail)

    def _member_value(
        self, index: int, rows: int | None = None, initializer: Initializer | None = None
    ) -> tf.Tensor:
        """Member ``index``'s initial rows (``rows`` of them, by ``initializer``: by default
        all of them, by the member's initializer)."""
        spec = self.members[index]
        shape = (spec.rows if rows is None else rows, spec.dim)
        fill = self._member_initializers[index] if initializer is None else initializer
        value = tf.convert_to_tensor(fill(shape, dtype=tf.float32))
        if tuple(value.shape) != shape:
            raise ValueError(
                f"`initializer` of table '{spec.name}' must return a tensor of shape "
                f"{list(shape)}. Received: shape={value.shape.as_list()}"
            )
        return tf.cast(value, tf.float32)

    def _initial_value(self) -> tf.Tensor:
        if self._fill_in_place:
            # The uninitialized tensor's pages are never touched before _fill_members
            # writes them, so they take no memory until then.
            return tf.raw_ops.Empty(shape=[self.vocab_size, self.dim], dtype=tf.float32)
        if len(self.members) == 1:
            return self._member_value(0)
        return tf.concat([self._member_value(k) for k in range(len(self.members))], 0)

    def reset(self) -> None:
        """As :meth:`EmbeddingTable.reset`: each member's initial rows, filled in place."""
        if not self._fill_in_place:
            super().reset()
            return
        with tf.init_scope():
            self._assign_whole(self.variable, self._initial_value())
            self._fill_members()
            self._reset_slots()

    def _fill_members(self) -> None:
        with tf.init_scope():
            for index, offset in enumerate(self.offsets):
                for start, value in self._member_blocks(index):
                    assign_rows(self.variable, offset + start, value)

    def _block_rows(self, index: int) -> int | None:
        """Rows per block of member ``index``, or None where it is filled in one piece (it
        fits in one block, or its initializer cannot fill it in blocks)."""
        spec = self.members[index]
        return fill_block_rows(spec.rows, spec.dim, self._member_initializers[index])

    def _member_blocks(self, index: int) -> Iterator[tuple[int, tf.Tensor]]:
        """``(first row, initial rows)`` of member ``index``: one block, or blocks of at most
        :data:`FILL_BLOCK_BYTES` where the member is larger and its initializer draws
        rows apart (:func:`~nwsrec.embedding.table.block_initializer`)."""
        spec = self.members[index]
        block_rows = self._block_rows(index)
        initializer = self._member_initializers[index]
        if block_rows is None:
            yield 0, self._member_value(index)
            return
        for block, start in enumerate(range(0, spec.rows, block_rows)):
            rows = min(block_rows, spec.rows - start)
            yield start, self._member_value(index, rows, block_initializer(initializer, block))


def _rows_of(variable: Any, start: int, rows: int) -> tf.Tensor:
    """Rows ``start .. start + rows`` of a (possibly sharded) variable, as a tensor."""
    if is_sharded(variable):
        return tf.convert_to_tensor(variable)[start : start + rows]
    if start == 0 and rows == int(variable.shape[0]):
        return tf.convert_to_tensor(variable)
    return variable[start : start + rows]


def assign_rows(variable: Any, start: int, value: Any) -> None:
    """Writes ``value`` (``[n, ...]``) into rows ``start .. start + n`` of ``variable``,
    shard by shard for a variable split across ps tasks."""
    value = tf.convert_to_tensor(value)
    end = start + int(value.shape[0])
    offsets = shard_offsets(variable)
    for i, shard in enumerate(shards(variable)):
        low, high = max(start, offsets[i]), min(end, offsets[i + 1])
        if low >= high:
            continue
        part = value[low - start : high - start]
        if low == offsets[i] and high == offsets[i + 1]:
            shard.assign(part)
            continue
        # Written in place: `shard[a:b].assign` reads the variable first, and a variable
        # whose buffer is also held by a read is copied whole before the write.
        rank = len(shard.shape)
        tf.raw_ops.ResourceStridedSliceAssign(
            ref=shard.handle,
            begin=[low - offsets[i]] + [0] * (rank - 1),
            end=[high - offsets[i], *shard.shape[1:]],
            strides=[1] * rank,
            value=part,
        )


class TableView:
    """One table of a group, read as a table of its own.

    Attributes:
        name, vocab_size, dim, optimizer, initializer: the table's spec.
        group: the :class:`TableGroup` holding it; ``offset``: its first row there.
    """

    def __init__(self, group: TableGroup, index: int) -> None:
        spec = group.members[index]
        self.group = group
        self.index = index
        self.offset = group.offsets[index]
        self.name = spec.name
        self.vocab_size = spec.rows
        self.dim = spec.dim
        self.spec = spec

    @property
    def optimizer(self) -> EmbeddingOptimizer:
        """The table's optimizer object."""
        return self.spec.optimizer

    @property
    def initializer(self) -> Initializer:
        """The initializer that filled the table's rows."""
        return resolve_initializer(self.spec.initializer, self.dim, self.name)

    @property
    def parameter_copies(self) -> int:
        """As :attr:`EmbeddingTable.parameter_copies` of its group."""
        return self.group.parameter_copies

    @property
    def variable(self) -> tf.Tensor:
        """The table's rows of the group's variable (the variable itself for a group of one)."""
        if len(self.group.members) == 1:
            return self.group.variable
        return _rows_of(self.group.variable, self.offset, self.vocab_size)

    @property
    def slot_variables(self) -> dict[str, Any]:
        """The table's rows of each optimizer slot of the group."""
        if len(self.group.members) == 1:
            return self.group.slot_variables
        return {
            name: _rows_of(slot, self.offset, self.vocab_size)
            for name, slot in self.group.slot_variables.items()
        }

    @property
    def variables(self) -> tuple[Any, ...]:
        """The table's rows, then those of its slots in the optimizer's order."""
        slots = self.slot_variables
        return (self.variable, *(slots[name] for name in self.group.slot_variables))

    def prepare(self, ids: tf.SparseTensor | tf.RaggedTensor) -> LookupIds:
        """``ids`` unpacked and checked against the table's rows (see ``prepare_ids``)."""
        return prepare_ids(ids, self.vocab_size, self.name)

    def lookup(self, ids: tf.SparseTensor | tf.RaggedTensor | LookupIds) -> tf.Tensor:
        """Sum-pooled embeddings ``[B, dim]`` of a batch, read from the group."""
        if not isinstance(ids, LookupIds):
            ids = self.prepare(ids)
        return self.group.lookup_members({self.index: ids})[self.index]

    def __repr__(self) -> str:
        return (
            f"TableView(name={self.name!r}, vocab_size={self.vocab_size}, dim={self.dim}, "
            f"group={self.group.name!r}, offset={self.offset})"
        )


class TableCollection:
    """The tables of a model, in groups that share one variable.

    Create it inside the strategy's scope: the variables are created at once.

    Args:
        specs: the tables.
        grouped: share variables among tables of one width, dtype and optimizer (default);
            False: one variable per table (the layout before groups).

    Attributes:
        groups: ``{group name: TableGroup}``: what is trained and checkpointed.
        tables: ``{table name: TableView}``: each table as a table of its own.
    """

    def __init__(self, specs: Sequence[TableSpec], grouped: bool = True) -> None:
        self.plans = plan_groups(specs, grouped)
        self.grouped = grouped
        self.groups: dict[str, TableGroup] = {plan.name: TableGroup(plan) for plan in self.plans}
        self.tables: dict[str, TableView] = {}
        self._where: dict[str, tuple[str, int]] = {}
        for group in self.groups.values():
            for index, spec in enumerate(group.members):
                self.tables[spec.name] = TableView(group, index)
                self._where[spec.name] = (group.name, index)
        self._serving: dict[str, tf.Variable] | None = None
        # Per thread (a strategy runs replicas in threads), the last lookup's results that
        # are slices of one group's result (see concat).
        self._local = threading.local()

    def prepare(
        self, name: str, ids: tf.SparseTensor | tf.RaggedTensor, check: bool = True
    ) -> LookupIds:
        """``ids`` for table ``name``'s rows (share it among tables of that size).

        ``check=False`` leaves the range check to :meth:`lookup`, which checks the ids of
        all the tables of a group at once.
        """
        return prepare_ids(ids, self.tables[name].vocab_size, name, check=check)

    def lookup(self, ids: Mapping[str, LookupIds]) -> dict[str, tf.Tensor]:
        """Sum-pooled embeddings of the named tables for one batch: one gather per group.

        Args:
            ids: table name -> its prepared ids (:meth:`prepare`).

        Returns:
            table name -> ``[B, dim]``.
        """
        out: dict[str, tf.Tensor] = {}
        parts: dict[Any, tuple[tf.Tensor, int]] = {}
        self._local.parts = parts  # concat reads this lookup's results, no older trace's
        if self._serving is not None:
            for name, p in ids.items():
                values = p.values if p.checked else checked_ids(p.values, p.vocab_size, name)
                pooled = sum_pool(tf.gather(self._serving[name], values), p.examples, p.batch)
                out[name] = tf.ensure_shape(pooled, [p.static_batch, self.tables[name].dim])
            return out
        by_group: dict[str, dict[int, LookupIds]] = {}
        layouts: dict[Any, MemberLayout] = {}
        for name, prepared in ids.items():
            where = self._where.get(name)
            if where is None:
                raise LookupError(
                    f"`ids` must name tables of the collection. Received: table={name!r}, "
                    f"tables={list(self.tables)[:20]}"
                )
            by_group.setdefault(where[0], {})[where[1]] = prepared
        for group_name, members in by_group.items():
            group = self.groups[group_name]
            for index, pooled in group.lookup_members(members, layouts, parts).items():
                out[group.members[index].name] = pooled
        return {name: out[name] for name in ids}

    def concat(self, pooled: Sequence[tf.Tensor]) -> tf.Tensor:
        """``tf.concat(pooled, axis=1)`` of ``[B, dim]`` results of the last :meth:`lookup`.

        A run of results that are consecutive members of one group's lookup is taken from
        the group's ``[members, B, dim]`` result by one transpose, instead of one slice
        per member and a concatenation of them (and their gradients: a ``Pack`` and a
        ``SplitV`` of every member). The values are the same, bit for bit: both move data
        only. Any other tensor is concatenated as it is.

        Args:
            pooled: ``[B, d_i]`` tensors, e.g. the vectors a model feeds to its DNN.

        Returns:
            ``[B, sum(d_i)]``.

        Raises:
            ValueError: if ``pooled`` is empty.
        """
        if not pooled:
            raise ValueError("`pooled` must hold at least one tensor. Received: pooled=[]")
        # Runs: [source or None, first position, tensors]; a tensor of no group result
        # is a run of its own.
        runs: list[tuple[tf.Tensor | None, int, list[tf.Tensor]]] = []
        parts: dict[Any, tuple[tf.Tensor, int]] = getattr(self._local, "parts", {})
        for tensor in pooled:
            found = parts.get(tensor.ref()) if isinstance(tensor, tf.Tensor) else None
            if found is not None and runs:
                source, first, tensors = runs[-1]
                if source is found[0] and found[1] == first + len(tensors):
                    tensors.append(tensor)
                    continue
            runs.append((None, 0, [tensor]) if found is None else (found[0], found[1], [tensor]))
        pieces = []
        for source, first, tensors in runs:
            if source is None or len(tensors) == 1:
                pieces.append(tensors[0])
                continue
            members, dim = int(source.shape[0]), int(source.shape[2])
            block = source if len(tensors) == members else source[first : first + len(tensors)]
            batch = tf.shape(source)[1] if source.shape[1] is None else int(source.shape[1])
            pieces.append(tf.reshape(tf.transpose(block, [1, 0, 2]), [batch, len(tensors) * dim]))
        return pieces[0] if len(pieces) == 1 else tf.concat(pieces, axis=1)

    def split_for_serving(self) -> None:
        """From now on every table is looked up from a variable of its own holding its rows
        (no optimizer state), so a SavedModel traced after this holds one variable per
        table, as before groups. The groups stay (a checkpoint still reads them); the
        collection is not trained after this."""
        if self._serving is not None:
            return
        with tf.init_scope():
            self._serving = {
                name: tf.Variable(
                    _rows_of(view.group.variable, view.offset, view.vocab_size),
                    trainable=False,
                    name=f"{name}/embeddings",
                )
                for name, view in self.tables.items()
            }
