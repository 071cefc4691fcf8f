import subprocess
import sys

import pytest

import nwsrec.data as data


def test_every_public_name_is_importable():
    assert data.__all__, "nwsrec.data must declare __all__"
    for name in data.__all__:
        assert getattr(data, name) is not None, name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        data.nope  # noqa: B018


def test_importing_the_package_does_not_load_tensorflow():
    code = "import sys, nwsrec.data; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
