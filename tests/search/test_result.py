import json

import numpy as np
from hand_model import HandModel

from nwsrec.search.plot import plot_search
from nwsrec.search.result import search_result, write_search_result
from nwsrec.search.select import holdout_batches, select_widths
from nwsrec.training.summaries import read_history
from nwsrec.training.trainer import Trainer


def test_search_result_reports_argmax_sizes_and_plot_is_a_png(hand_params, tmp_path):
    params = {**hand_params, "train_steps": 10}
    trainer = Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False)
    trainer.train()
    layer = trainer.nws_layers[0]
    weights = np.zeros(layer.total_num_choices, dtype=np.float32)
    weights[1::3] = 5.0  # every slot prefers its second candidate, size 2
    layer.get_arch_embedding_weights().assign(weights)
    result = search_result(trainer.nws_layers, trainer.step, "hand")
    assert result["step"] == 10 and result["model"] == "hand"
    assert {v["size"] for v in result["slots"].values()} == {2}
    first = result["slots"][str(params["slots"][0])]
    assert first["candidates"] == [0, 2, 4]
    assert abs(sum(first["probabilities"]) - 1.0) < 1e-6
    path = write_search_result(str(tmp_path / "search_result.json"), result)
    assert json.loads(open(path).read()) == result
    png = plot_search(read_history(str(tmp_path)), result, str(tmp_path / "search.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert result["selection"] == {"method": "argmax"}
    assert all("holdout_loss" not in v for v in result["slots"].values())


def test_held_out_selection_sets_the_sizes_and_records_losses_and_a_plot(hand_params, tmp_path):
    params = {**hand_params, "train_steps": 10, "holdout_every": 4}
    trainer = Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False)
    trainer.train()
    batches = holdout_batches(trainer, params["train_file_pattern"], max_batches=2)
    selection = select_widths(trainer, batches, tolerance=1e-3, rounds=1)
    result = search_result(trainer.nws_layers, trainer.step, "hand", selection=selection)
    assert result["selection"]["method"] == "holdout"
    assert result["selection"]["num_examples"] == 128
    assert result["selection"]["tolerance"] == 1e-3
    for slot, entry in result["slots"].items():
        assert entry["size"] == selection.sizes[slot]
        assert entry["holdout_loss"] == selection.losses[slot]
    png = plot_search(read_history(str(tmp_path)), result, str(tmp_path / "search.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------- frontier / budgets

import pytest  # noqa: E402

from nwsrec.search.result import group_unit_sizes, read_search_dims  # noqa: E402


def _frontier_file(tmp_path, points):
    full = max(p[0] for p in points)
    frontier = [
        {
            "embedding_parameters": params,
            "fraction": params / full,
            "embedding_bytes": params * 12,
            "holdout_loss": loss,
            "delta": loss - 0.5,
            "ci95": [loss - 0.5, loss - 0.5],
            "sizes": sizes,
        }
        for params, loss, sizes in sorted(points, key=lambda p: p[0])
    ]
    data = {"slots": {"1": {"size": 8}, "2": {"size": 4}}, "frontier": frontier}
    path = tmp_path / "search_result.json"
    path.write_text(json.dumps(data))
    return path


POINTS = [
    (1000, 0.500, {"1": 16, "2": 16}),
    (600, 0.501, {"1": 8, "2": 16}),
    (400, 0.504, {"1": 8, "2": 4}),
    (260, 0.503, {"1": 4, "2": 8}),  # a re-grown point: lower loss than a bigger one
    (120, 0.520, {"1": 4, "2": 0}),
]


def test_budget_reads_the_lowest_loss_point_within_the_fraction(tmp_path):
    path = _frontier_file(tmp_path, POINTS)
    assert read_search_dims(path) == {1: 8, 2: 4}  # the default point ("slots")
    assert read_search_dims(path, budget=1.0) == {1: 16, 2: 16}
    assert read_search_dims(path, budget=0.5) == {1: 4, 2: 8}
    assert read_search_dims(path, budget=0.25) == {1: 4, 2: 0}
    assert read_search_dims(path, max_bytes=600 * 12) == {1: 8, 2: 16}
    with pytest.raises(ValueError, match="smallest has 0.1200 of full width"):
        read_search_dims(path, budget=0.1)
    with pytest.raises(ValueError, match="fraction in \\(0, 1\\]"):
        read_search_dims(path, budget=1.5)


def test_budget_needs_a_frontier_and_old_files_stay_valid(tmp_path):
    path = tmp_path / "old.json"
    path.write_text('{"slots": {"3": {"size": 8}, "5": {"size": 0}}}')
    assert read_search_dims(path) == {3: 8, 5: 0}
    with pytest.raises(ValueError, match="old.json: `--budget`.*frontier"):
        read_search_dims(path, budget=0.5)


def test_bucket_units_become_a_list_per_slot():
    assert group_unit_sizes({"2": 4, "1:1": 0, "1:0": 8}) == {1: [8, 0], 2: 4}
