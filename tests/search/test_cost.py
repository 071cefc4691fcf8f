import pytest

from nwsrec.search.cost import embedding_parameters_of, full_sizes, unit_bucket, unit_slot_name


def test_parameters_count_vectors_and_the_bias_of_every_kept_slot():
    rows = {"1": 10, "2": 3, "3:0": 5, "3:1": 50}
    bias = {1: 10, 2: 3, 3: 55}
    sizes = {"1": 4, "2": 0, "3:0": 8, "3:1": 0}
    # slot 1: 10*4 + 10 bias; slot 2 dropped with its bias; slot 3 keeps its bias (55).
    assert embedding_parameters_of(rows, bias, sizes) == 40 + 10 + 40 + 55
    assert embedding_parameters_of(rows, bias, dict.fromkeys(rows, 0)) == 0
    full = full_sizes({"1": [0, 4, 8], "2": [0, 2], "3:0": [8, 0], "3:1": [1]})
    assert full == {"1": 8, "2": 2, "3:0": 8, "3:1": 1}


def test_unit_names_give_the_slot_and_bucket():
    assert unit_slot_name("12") == "12" and unit_bucket("12") is None
    assert unit_slot_name("12:3") == "12" and unit_bucket("12:3") == 3


@pytest.mark.parametrize(
    ("sizes", "match"), [({"1": 4}, "unit '2' missing"), ({"1": -1, "2": 0}, ">= 0")]
)
def test_bad_sizes_are_clear_errors(sizes, match):
    with pytest.raises(ValueError, match=match):
        embedding_parameters_of({"1": 3, "2": 3}, {}, sizes)
