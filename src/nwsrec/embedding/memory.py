"""The memory plan of a model's slot tables, from the slots' specs (pure Python).

One :class:`~nwsrec.features.TableMemoryRow` per slice (``table_{s}_{i}``): its rows (from
the model's layout: the slot's vocab size, a frequency bucket's rows, plus the OOV row),
width, optimizer copies and row state, and the group whose variable holds it
(:func:`~nwsrec.embedding.specs.group_names`, as the collection will build them). Widths
can be overridden to plan a model without building it (what the width search prices).

Example:
    >>> import tensorflow as tf
    >>> from nwsrec.features import FeatureSlice, SlotSpec
    >>> E = tf.tpu.experimental.embedding
    >>> spec = SlotSpec(1, default_vec_optimizer=E.Adagrad(0.1),
    ...                 feature_slices=(FeatureSlice(1, 0, 4, E.Adagrad(0.1), None),))
    >>> rows, bucket = lambda slot, index: 10, lambda slot, index: None
    >>> plan = slot_memory_plan({1: spec}, lambda slot: 10, rows, bucket)
    >>> plan.raw_bytes, plan.tables[0].group  # 10 rows x 4 x 4 bytes x 2 copies
    (320, 'adagrad_dim4')
    >>> slot_memory_plan({1: spec}, lambda slot: 10, rows, bucket, {1: [8, 2]}).raw_bytes
    800
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nwsrec.checks import is_int
from nwsrec.embedding.collection import fill_bytes
from nwsrec.embedding.specs import group_names
from nwsrec.features.memory_plan import TableMemoryPlan, TableMemoryRow
from nwsrec.features.optimizers import optimizer_name, parameter_copies, row_state_floats
from nwsrec.features.specs import SlotSpec

__all__ = ["check_dims_override", "slot_memory_plan"]

DimsOverride = Mapping[int, int | Sequence[int]]


def check_dims_override(
    dims_override: DimsOverride | None, declared: Mapping[int, Any]
) -> dict[int, int | list[int]]:
    """``dims_override`` checked against the ``declared`` slots (see :func:`slot_memory_plan`).

    Raises:
        LookupError: an override of a slot that is not declared.
        ValueError: an override that is not a non-negative width or a list of them.
    """
    if dims_override is None:
        return {}
    if not isinstance(dims_override, Mapping):
        raise ValueError(
            "`dims_override` must be a mapping {slot_id: width or [dim, ...]}. "
            f"Received: dims_override={dims_override!r}"
        )
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


def slot_memory_plan(
    slots: Mapping[int, SlotSpec],
    slot_rows: Callable[[int], int],
    rows_of: Callable[[int, int], int],
    bucket_of: Callable[[int, int], int | None],
    dims_override: DimsOverride | None = None,
    *,
    use_gradient_accumulation: bool = False,
    grouped: bool = True,
) -> TableMemoryPlan:
    """The memory of the tables of ``slots``.

    Per table ``rows x (dim x parameter_copies(optimizer, use_gradient_accumulation) +
    row state) x 4 bytes``, and the plan's totals (see
    :class:`~nwsrec.features.TableMemoryPlan`).

    Args:
        slots: ``{slot_id: SlotSpec}`` (``Env.slot_to_config``).
        slot_rows: ``slot_id -> rows`` of a table of all the slot's ids (what a slice
            beyond the declared ones gets).
        rows_of: ``(slot_id, index) -> rows`` of a declared slice's table.
        bucket_of: ``(slot_id, index) -> frequency bucket`` of a declared slice (or None).
        dims_override: plan other widths without rebuilding the model: ``{slot_id:
            width}`` sets every vector (non-bias) slice of the slot to ``width``;
            ``{slot_id: [dim, ...]}`` sets each slice's dim. A dim of 0 drops the table. A
            slice beyond the declared ones uses the slot's default vector optimizer.
        use_gradient_accumulation: count the accumulation buffer as a copy.
        grouped: name each table's group as the collection will (False: none).

    Raises:
        LookupError: an override of an undeclared slot (and whatever ``rows_of`` raises).
        ValueError: for a bad override.
    """
    overrides = check_dims_override(dims_override, slots)
    copies_cache: dict[type, tuple[int, str, int]] = {}
    entries: list[dict[str, Any]] = []
    optimizers = []
    for slot_id, slot in slots.items():
        all_ids_rows = slot_rows(slot_id)  # raises for a slot missing from the vocab
        slices = slot.feature_slices
        dims = overrides.get(slot_id)
        if dims is None:
            dims = [s.dim for s in slices]
        elif isinstance(dims, int):
            dims = [1 if s.is_bias else dims for s in slices]
        for index, dim in enumerate(dims):
            if dim == 0:
                continue
            declared = index < len(slices)
            optimizer = slices[index].optimizer if declared else slot.default_vec_optimizer
            initializer = slices[index].initializer if declared else slot.default_vec_initializer
            cached = copies_cache.get(type(optimizer))  # copies depend on the class only
            if cached is None:
                cached = (
                    parameter_copies(optimizer, use_gradient_accumulation),
                    optimizer_name(optimizer),
                    row_state_floats(optimizer),
                )
                copies_cache[type(optimizer)] = cached
            rows = rows_of(slot_id, index) if declared else all_ids_rows
            name = f"table_{slot_id}_{index}"
            entries.append(
                {
                    "name": name,
                    "slot_id": slot_id,
                    "rows": rows,
                    "dim": dim,
                    "copies": cached[0],
                    "optimizer": cached[1],
                    "row_state": cached[2],
                    "bucket": bucket_of(slot_id, index) if declared else None,
                    "fill_bytes": fill_bytes(rows, dim, initializer, name),
                }
            )
            optimizers.append(optimizer)
    groups = group_names(
        [(e["rows"], e["dim"], o) for e, o in zip(entries, optimizers, strict=True)],
        grouped,
        [e["name"] for e in entries],
    )
    return TableMemoryPlan(
        tuple(
            TableMemoryRow(**entry, group=group if grouped else None)
            for entry, group in zip(entries, groups, strict=True)
        )
    )
