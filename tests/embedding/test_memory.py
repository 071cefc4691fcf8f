"""``slot_memory_plan`` and its override check (``nwsrec.embedding.memory``)."""

import pytest
import tensorflow as tf

from nwsrec.embedding.memory import check_dims_override, slot_memory_plan
from nwsrec.features import FeatureSlice, SlotSpec

E = tf.tpu.experimental.embedding


def _slots():
    bias = FeatureSlice(1, 0, 1, E.FTRL(0.1), None, is_bias=True)
    vector = FeatureSlice(1, 1, 4, E.Adagrad(0.1), None)
    return {1: SlotSpec(1, has_bias=True, default_vec_optimizer=E.SGD(0.1),
                        feature_slices=(bias, vector))}  # fmt: skip


def _plan(override=None, **kwargs):
    return slot_memory_plan(
        _slots(), lambda slot: 20, lambda slot, index: 10, lambda s, i: None, override, **kwargs
    )


def test_each_slice_is_a_row_with_its_optimizers_copies():
    plan = _plan()
    assert [(t.name, t.rows, t.dim, t.copies) for t in plan.tables] == [
        ("table_1_0", 10, 1, 3),
        ("table_1_1", 10, 4, 2),
    ]
    assert [t.copies for t in _plan(use_gradient_accumulation=True).tables] == [4, 3]


def test_overrides_set_widths_drop_tables_and_add_slices():
    assert [t.dim for t in _plan({1: 8}).tables] == [1, 8]  # the bias keeps its width
    assert [t.name for t in _plan({1: [0, 4]}).tables] == ["table_1_1"]
    extra = _plan({1: [1, 4, 2]}).tables[2]  # beyond the declared: the slot's default
    assert (extra.name, extra.rows, extra.optimizer) == ("table_1_2", 20, "SGD")


@pytest.mark.parametrize(
    "override, error, match",
    [
        ([1], ValueError, "must be a mapping"),
        ({2: 4}, LookupError, "must name slots the model declares"),
        ({1: -1}, ValueError, r"`dims_override\[1\]` must be a non-negative integer"),
        ({1: "4"}, ValueError, r"`dims_override\[1\]`"),
    ],
    ids=["not-a-mapping", "unknown-slot", "negative", "string"],
)
def test_bad_overrides_are_refused(override, error, match):
    with pytest.raises(error, match=match):
        check_dims_override(override, {1: None})


@pytest.mark.parametrize(
    "initializer, blocks",
    [(None, True), ("zeros", True), ("glorot_uniform", False)],
)
def test_the_fill_of_a_large_table_is_charged_by_block_where_it_fills_in_blocks(
    initializer, blocks
):
    import keras

    from nwsrec.embedding.collection import FILL_BLOCK_BYTES, FILL_TEMPORARIES

    rows = 4 << 20  # x 16 floats: 256 MiB, 8 blocks of 32 MiB
    init = None if initializer is None else keras.initializers.get(initializer)
    vector = FeatureSlice(1, 0, 16, E.SGD(0.1), init)
    slots = {1: SlotSpec(1, has_bias=False, feature_slices=(vector,))}
    plan = slot_memory_plan(slots, lambda s: rows, lambda s, i: rows, lambda s, i: None)
    table = rows * 16 * 4
    expected = FILL_TEMPORARIES * FILL_BLOCK_BYTES if blocks else table
    assert plan.tables[0].fill_bytes == expected
    assert plan.build_bytes == plan.raw_bytes + expected
