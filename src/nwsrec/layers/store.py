"""``LayerStore``: Keras layers created once by name and kept across calls.

A model's ``logits_fn`` runs once per step (and once per replica thread); a layer it asks
for by name must be the same object every time, or its weights would be new each step.
The store creates each layer on the first request only (thread-safe) and lists the
weights of all of them.

Example:
    >>> import keras
    >>> store = LayerStore()
    >>> dense = store.get("out", lambda: keras.layers.Dense(1))
    >>> store.get("out", lambda: keras.layers.Dense(2)) is dense
    True
    >>> list(store.layers)
    ['out']
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import keras

__all__ = ["LayerStore"]


class LayerStore:
    """Keras layers by name, each created by its factory on the first request."""

    def __init__(self) -> None:
        self._layers: dict[str, keras.layers.Layer] = {}
        self._lock = threading.Lock()

    @property
    def layers(self) -> Mapping[str, keras.layers.Layer]:
        """The layers created so far, by name (read-only)."""
        return MappingProxyType(self._layers)

    def get(self, name: str, factory: Callable[[], keras.layers.Layer]) -> keras.layers.Layer:
        """The layer called ``name``, created by ``factory()`` on the first call only.

        Raises:
            ValueError: an empty name, a factory that is not a no-argument callable (a
                layer object itself, say), or one that returns no Keras layer.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")
        layer = self._layers.get(name)
        if layer is not None:
            return layer
        with self._lock:
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

    def trainable_variables(self) -> list[Any]:
        """The trainable weights of every layer, each variable once, in creation order."""
        seen: set[int] = set()
        variables = []
        for layer in self._layers.values():
            for variable in layer.trainable_weights:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    variables.append(variable)
        return variables

    def of_type(self, layer_class: type) -> list[Any]:
        """The layers that are instances of ``layer_class``."""
        return [layer for layer in self._layers.values() if isinstance(layer, layer_class)]
