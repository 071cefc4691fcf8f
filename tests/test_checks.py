"""nwsrec.checks: the one integer check."""

import numpy as np
import pytest

from nwsrec.checks import check_int, is_int


@pytest.mark.parametrize("value", [0, -3, 2**70, np.int64(5), np.int8(1)])
def test_integers_are_ints(value):
    assert is_int(value)


@pytest.mark.parametrize("value", [True, False, 1.0, "1", None, np.float32(1)])
def test_bools_floats_and_strings_are_not(value):
    assert not is_int(value)


def test_check_int_returns_a_python_int_and_names_the_bound():
    assert type(check_int("n", np.int64(3))) is int
    with pytest.raises(ValueError, match=r"^`n` must be an integer >= 2. Received: n=1$"):
        check_int("n", 1, minimum=2)
    with pytest.raises(ValueError, match=r"^`n` must be an integer. Received: n='x'$"):
        check_int("n", "x")
