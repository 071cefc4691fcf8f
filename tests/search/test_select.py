import math

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.layers import MixedEmbedOpComb
from nwsrec.search.evaluator import holdout_batches, pinned_all
from nwsrec.search.select import select_widths

# The held-out loss a fake model has at each size: slot "a" carries signal (8 is a bit
# better than 4, 0 much worse), slot "b" is noise (any width costs a little).
LOSS = {"a": {0: 0.10, 4: 0.0200, 8: 0.0195}, "b": {0: 0.0, 4: 0.0003, 8: 0.0002}}
BASE = 0.5


def _layer():
    layer = MixedEmbedOpComb(
        ["a", "b"], [[0, 4, 8], [0, 4, 8]], warmup_steps=0, pretraining_steps=0, seed=0
    )
    layer.build((None, 24))
    return layer


class FakeTrainer:
    """Evaluates to a loss that depends only on the sizes the layer is pinned to."""

    holdout_every = 4
    batch_size = 8

    def __init__(self, layer):
        self.nws_layers = [layer]
        self.calls = 0

    def local_eval_step(self, batch):
        self.calls += 1
        layer = self.nws_layers[0]
        sizes = {
            name: choices[int(np.argmax(p))]
            for (name, p), choices in zip(
                layer.choice_probabilities().items(),
                layer.embedding_size_choices_list,
                strict=True,
            )
        }
        loss = BASE + sum(LOSS[s][c] for s, c in sizes.items())
        # label 1 and logit z: log(1 + exp(-z)) == loss.
        z = -math.log(math.expm1(loss))
        n = batch["label"].shape[0]
        return tf.ones([n]), tf.fill([n], tf.constant(z, tf.float32))


def _batches(count=2, size=8):
    return [{"label": tf.ones([size])} for _ in range(count)]


@pytest.mark.parametrize(
    ("tolerance", "expected"), [(1e-3, {"a": 4, "b": 0}), (0.0, {"a": 8, "b": 0})]
)
def test_select_keeps_the_smallest_size_within_tolerance_of_the_best(tolerance, expected):
    trainer = FakeTrainer(_layer())
    selection = select_widths(trainer, _batches(), tolerance=tolerance, rounds=2)
    assert selection.sizes == expected
    for slot, row in selection.losses.items():
        best = min(row)
        np.testing.assert_allclose(
            np.array(row) - best,
            [LOSS[slot][c] - min(LOSS[slot].values()) for c in (0, 4, 8)],
            atol=1e-6,
        )
    assert selection.base_loss == pytest.approx(BASE + 0.0195 + 0.0002, abs=1e-6)
    final = BASE + sum(LOSS[s][c] for s, c in expected.items())
    assert selection.final_loss == pytest.approx(final, abs=1e-6)
    assert selection.num_examples == 16 and selection.tolerance == tolerance


def test_select_reports_progress_and_leaves_the_architecture_weights_as_they_were():
    layer = _layer()
    before = layer.get_arch_embedding_weights().numpy().copy()
    seen = []
    trainer = FakeTrainer(layer)
    select_widths(
        trainer, _batches(), tolerance=0.0, rounds=1, on_progress=lambda i, n: seen.append((i, n))
    )
    # 1 base + 2 slots x 2 other sizes + 1 final evaluations, 2 batches each.
    assert seen == [(i, 6) for i in range(1, 7)]
    assert trainer.calls == 12
    np.testing.assert_array_equal(layer.get_arch_embedding_weights().numpy(), before)


def test_pinned_pins_inside_the_block_and_restores_after_an_error():
    layer = _layer()
    before = layer.get_arch_embedding_weights().numpy().copy()
    with pytest.raises(RuntimeError, match="boom"):
        with layer.pinned({"a": 4, "b": 0}):
            probs = layer.choice_probabilities()
            np.testing.assert_allclose(probs["a"], [0.0, 1.0, 0.0], atol=1e-12)
            np.testing.assert_allclose(probs["b"], [1.0, 0.0, 0.0], atol=1e-12)
            raise RuntimeError("boom")
    np.testing.assert_array_equal(layer.get_arch_embedding_weights().numpy(), before)


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        ({"c": 4}, LookupError, "slots of the NWS layers.*'c'"),
        ({"a": 5}, ValueError, "slot a.*\\[0, 4, 8\\]"),
    ],
)
def test_pinned_rejects_unknown_slots_and_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        with pinned_all([_layer()], sizes):
            pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tolerance": -1.0}, "tolerance.*>= 0"),
        ({"tolerance": float("nan")}, "tolerance"),
        ({"tolerance": 0.0, "rounds": 0}, "rounds.*>= 1"),
    ],
)
def test_select_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_widths(FakeTrainer(_layer()), _batches(), **kwargs)


def test_select_needs_an_nws_layer():
    trainer = FakeTrainer(_layer())
    trainer.nws_layers = []
    with pytest.raises(ValueError, match="NWS layer"):
        select_widths(trainer, _batches(), tolerance=0.0)


def test_holdout_batches_needs_a_holdout_split():
    trainer = FakeTrainer(_layer())
    trainer.holdout_every = 0
    with pytest.raises(ValueError, match="holdout_every.*>= 2"):
        holdout_batches(trainer, "data/train-*")
