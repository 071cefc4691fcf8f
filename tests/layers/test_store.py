"""``LayerStore``: Keras layers created once by name (``nwsrec.layers.store``)."""

import keras
import pytest

from nwsrec.layers.store import LayerStore


def test_a_layer_is_created_once_and_its_weights_listed_once():
    store = LayerStore()
    calls = []

    def make():
        calls.append(1)
        return keras.layers.Dense(2)

    dense = store.get("a", make)
    assert store.get("a", make) is dense and len(calls) == 1
    dense.build((None, 3))
    store.get("b", lambda: dense)  # the same layer under a second name
    assert [id(v) for v in store.trainable_variables()] == [id(v) for v in dense.weights]
    assert store.of_type(keras.layers.Dense) == [dense, dense]
    assert list(store.layers) == ["a", "b"]


@pytest.mark.parametrize(
    "name, factory, match",
    [
        ("", lambda: keras.layers.Dense(1), "`name` must be a non-empty string"),
        ("x", keras.layers.Dense(1), "must be a no-argument callable"),
        ("x", lambda: 3, "must return a keras.layers.Layer"),
    ],
    ids=["empty-name", "a-layer-not-a-factory", "not-a-layer"],
)
def test_bad_requests_are_refused(name, factory, match):
    with pytest.raises(ValueError, match=match):
        LayerStore().get(name, factory)
