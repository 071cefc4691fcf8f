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
