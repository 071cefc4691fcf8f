import pytest

from nwsrec.features import (
    FLOAT32_BYTES,
    TableMemoryPlan,
    TableMemoryRow,
    format_bytes,
    padding_8,
)


@pytest.mark.parametrize(
    ("dim", "padded"), [(0, 0), (1, 8), (7, 8), (8, 8), (9, 16), (16, 16), (17, 24)]
)
def test_padding_8_rounds_up_to_a_multiple_of_eight(dim, padded):
    assert padding_8(dim) == padded


@pytest.mark.parametrize("dim", [-1, 1.5, True, "8"])
def test_padding_8_rejects_non_integers(dim):
    with pytest.raises(ValueError, match="`dim` must be a non-negative integer"):
        padding_8(dim)


def test_row_bytes_are_rows_dim_four_bytes_copies():
    row = TableMemoryRow("table_3_1", 3, rows=1000, dim=12, copies=3, optimizer="FTRL")
    assert FLOAT32_BYTES == 4
    assert row.raw_bytes == 1000 * 12 * 4 * 3
    assert row.padded_dim == 16
    assert row.padded_bytes == 1000 * 16 * 4 * 3
    assert row.padded_bytes_with_copies(4) == 1000 * 16 * 4 * 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "`name` must be a non-empty string"),
        ({"rows": -1}, "`rows` of table t must be an integer >= 0"),
        ({"dim": 0}, "`dim` of table t must be an integer >= 1"),
        ({"copies": 0}, "`copies` of table t must be an integer >= 1"),
        ({"slot_id": -2}, "`slot_id` of table t must be an integer >= 0"),
        ({"dim": 2.0}, r"`dim` of table t must be an integer >= 1. Received: dim=2.0"),
    ],
)
def test_row_validation(kwargs, match):
    args = {"name": "t", "slot_id": 1, "rows": 10, "dim": 4, "copies": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        TableMemoryRow(**args)


def _hand_plan():
    # bias (FTRL, 3 copies), a dim-4 vector (Adagrad, 2), a dim-12 vector (SGD, 1)
    return TableMemoryPlan.from_rows(
        [
            TableMemoryRow("table_1_0", 1, rows=100, dim=1, copies=3, optimizer="FTRL"),
            TableMemoryRow("table_1_1", 1, rows=100, dim=4, copies=2, optimizer="Adagrad"),
            TableMemoryRow("table_2_0", 2, rows=50, dim=12, copies=1, optimizer="SGD"),
        ]
    )


def test_plan_totals_match_hand_computation():
    plan = _hand_plan()
    # raw: 100*1*4*3 + 100*4*4*2 + 50*12*4*1
    assert plan.raw_bytes == 1200 + 3200 + 2400
    # padded: 100*8*4*3 + 100*8*4*2 + 50*16*4*1
    assert plan.padded_bytes == 9600 + 6400 + 3200
    # padded, every table at 3 copies: 100*8*4*3 + 100*8*4*3 + 50*16*4*3
    assert plan.max_copies == 3
    assert plan.padded_max_copies_bytes == 9600 + 9600 + 9600
    assert plan.num_parameters == 100 + 400 + 600


def test_empty_plan_is_all_zeros():
    plan = TableMemoryPlan.from_rows([])
    assert (plan.raw_bytes, plan.padded_bytes, plan.padded_max_copies_bytes) == (0, 0, 0)
    assert plan.max_copies == 0


def test_plan_rejects_duplicate_names_and_foreign_rows():
    row = TableMemoryRow("table_1_0", 1, rows=1, dim=1, copies=1)
    with pytest.raises(ValueError, match="unique names. Received: duplicate name='table_1_0'"):
        TableMemoryPlan((row, row))
    with pytest.raises(ValueError, match="must hold TableMemoryRow objects"):
        TableMemoryPlan((row, ("table_2_0", 1)))


def test_format_table_lists_every_table_and_the_three_totals():
    text = _hand_plan().format_table()
    lines = text.splitlines()
    assert lines[0].split() == [
        "table", "rows", "dim", "padded", "dim", "optimizer", "copies", "bytes", "padded", "bytes"
    ]  # fmt: skip
    assert lines[1].split() == ["table_1_0", "100", "1", "8", "FTRL", "3", "1200", "9600"]
    assert lines[3].split() == ["table_2_0", "50", "12", "16", "SGD", "1", "2400", "3200"]
    assert "raw bytes:" in text and " 6800 (6.64 KiB)" in text
    assert "padded to 8:" in text and " 19200 (18.75 KiB)" in text
    assert "padded to 8, max copies:" in text and " 28800 (28.12 KiB)" in text


def test_format_table_can_truncate_the_table_lines_but_not_the_totals():
    text = _hand_plan().format_table(max_tables=1)
    assert "table_1_1" not in text
    assert "... 2 more tables" in text
    assert "tables: 3," in text and " 6800 " in text
    with pytest.raises(ValueError, match="`max_tables` must be None or an integer >= 0"):
        _hand_plan().format_table(max_tables=-1)


def test_to_dict_carries_rows_and_totals():
    data = _hand_plan().to_dict()
    assert [t["name"] for t in data["tables"]] == ["table_1_0", "table_1_1", "table_2_0"]
    assert data["tables"][2]["padded_dim"] == 16
    assert (data["raw_bytes"], data["padded_bytes"], data["padded_max_copies_bytes"]) == (
        6800,
        19200,
        28800,
    )


@pytest.mark.parametrize(
    ("num_bytes", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.00 KiB"), (3 * 1024**2, "3.00 MiB"),
     (5 * 1024**3, "5.00 GiB")],
)  # fmt: skip
def test_format_bytes_uses_binary_units(num_bytes, text):
    assert format_bytes(num_bytes) == text


def test_row_state_is_charged_per_row_not_per_width():
    # AdagradRowwise: the table (copies 1) plus one accumulator float per row.
    row = TableMemoryRow("t", 1, rows=1000, dim=16, copies=1, row_state=1)
    assert row.raw_bytes == 1000 * (16 + 1) * 4
    assert row.padded_bytes == 1000 * (16 + 1) * 4
    assert TableMemoryRow("t", 1, rows=10, dim=3, copies=1, row_state=1).padded_bytes == 10 * 9 * 4
    plan = TableMemoryPlan.from_rows([row])
    assert plan.raw_bytes == row.raw_bytes and plan.padded_max_copies_bytes == row.padded_bytes
    with pytest.raises(ValueError, match="`row_state` of table t must be an integer >= 0"):
        TableMemoryRow("t", 1, rows=10, dim=3, copies=1, row_state=-1)


def test_build_bytes_charges_the_largest_table_and_groups_sum_their_tables():
    rows = [
        TableMemoryRow("a", 1, rows=100, dim=4, copies=2, optimizer="Adagrad", group="g4"),
        TableMemoryRow("b", 2, rows=300, dim=4, copies=2, optimizer="Adagrad", group="g4"),
        TableMemoryRow("c", 3, rows=350, dim=4, copies=2, optimizer="Adagrad"),
    ]
    plan = TableMemoryPlan.from_rows(rows)
    # A group's variable is filled table by table: the largest temporary is table c's.
    assert plan.build_bytes == plan.raw_bytes + 350 * 4 * 4
    assert plan.groups() == {
        "g4": {"tables": 2, "rows": 400, "dim": 4, "optimizer": "Adagrad", "raw_bytes": 12800}
    }
    text = plan.format_table()
    assert "  g4: 2 tables, 400 rows x 4, Adagrad, 12.50 KiB" in text
    assert text.splitlines()[0].split()[-1] == "group"
    assert text.splitlines()[3].split()[-1] == "-"  # table c: a variable of its own
    assert plan.to_dict()["tables"][2]["group"] is None


def test_build_bytes_charges_a_rows_fill_bytes_where_given_and_refuses_bad_ones():
    rows = [
        TableMemoryRow("big", 1, rows=1000, dim=4, copies=1, fill_bytes=400),
        TableMemoryRow("small", 2, rows=200, dim=4, copies=1),
    ]
    plan = TableMemoryPlan.from_rows(rows)
    # big fills in blocks (400 bytes of temporaries); small in one piece of 3,200 bytes.
    assert plan.build_bytes == plan.raw_bytes + 200 * 4 * 4
    with pytest.raises(ValueError, match="`fill_bytes` of table t must be None or an integer"):
        TableMemoryRow("t", 1, rows=1, dim=1, copies=1, fill_bytes=-1)
