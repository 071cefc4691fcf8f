"""Slots and slices as plain data (``nwsrec.features.specs``)."""

import tensorflow as tf

from nwsrec.features.specs import FeatureSlice, SlotSpec

E = tf.tpu.experimental.embedding


def test_a_spec_grows_by_new_specs_and_names_its_tables():
    spec = SlotSpec(4, has_bias=True)
    bias = FeatureSlice(4, 0, 1, E.FTRL(0.1), None, is_bias=True)
    grown = spec.with_slice(bias).with_slice(FeatureSlice(4, 1, 8, E.SGD(0.1), None))
    assert spec.feature_slices == () and grown.dims == (1, 8)
    assert [s.table_name for s in grown.feature_slices] == ["table_4_0", "table_4_1"]
    assert grown.feature_slices[0] is bias
