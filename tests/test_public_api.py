"""Every public name of every nwsrec sub-package imports, and ``__all__`` lists real objects."""

import importlib

import pytest

PUBLIC_PACKAGES = [
    "nwsrec",
    "nwsrec.layers",
    "nwsrec.features",
    "nwsrec.embedding",
    "nwsrec.data",
    "nwsrec.training",
    "nwsrec.search",
    "nwsrec.config",
    "nwsrec.checks",
    "nwsrec.files",
    "nwsrec.metrics",
    "nwsrec.runs",
    "nwsrec.registry",
    "nwsrec.model_imports",
    "nwsrec.model",
    "nwsrec.serving",
]


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_every_name_in_all_is_importable(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} must declare a non-empty __all__"
    assert len(names) == len(set(names)), f"{package}.__all__ has duplicates"
    for name in names:
        assert getattr(module, name, None) is not None, f"{package}.{name} is missing"
