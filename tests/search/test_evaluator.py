"""The held-out evaluator on a real search model: joined lookups, dropped biases."""

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.search.evaluator import HoldoutEvaluator, holdout_batches, pinned_all


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
    from nwsrec.runs import resolve_params
    from nwsrec.training.trainer import Trainer

    tmp = tmp_path_factory.mktemp("evaluator")
    config = SyntheticConfig(num_train=2048, num_test=256, pair_ranks=(1,), num_noise_slots=1)
    generate_synthetic(tmp / "data", config)
    overrides = {"batch_size": 64, "hidden_units": [4], "holdout_every": 4, "search": True}
    cls, params = resolve_params("synthetic", overrides, data_dir=str(tmp / "data"))
    trainer = Trainer(lambda: cls(params), params, str(tmp / "run"), progress=False)
    trainer.train(steps=20)
    batches = holdout_batches(trainer, params["train_file_pattern"], max_batches=3)
    return trainer, batches


def _per_batch_logits(trainer, batches, sizes, drop_bias=()):
    model = trainer.model
    out = []
    with pinned_all(trainer.nws_layers, sizes):
        for batch in batches:
            pooled = dict(model.lookup(batch))
            for slot in drop_bias:
                pooled[f"slot_{slot}_0"] = tf.zeros_like(pooled[f"slot_{slot}_0"])
            logits, _ = model.forward_pooled(pooled, batch, training=False)
            out.append(np.asarray(logits, dtype=np.float64))
    return np.concatenate(out)


def test_joined_lookups_give_the_logits_of_a_forward_pass_per_batch(trained):
    trainer, batches = trained
    evaluator = HoldoutEvaluator(trainer, batches, chunk=128)  # 2 + 1 batches of 64 rows
    assert len(evaluator._chunks) == 2 and evaluator.num_examples == 3 * 64
    sizes = {"1": 4, "2": 16, "3": 8}
    np.testing.assert_allclose(
        evaluator.logits(sizes), _per_batch_logits(trainer, batches, sizes), rtol=1e-5, atol=1e-6
    )
    labels = np.concatenate([np.asarray(b["label"], dtype=np.float64) for b in batches])
    z = evaluator.logits(sizes)
    raw = HoldoutEvaluator(trainer, batches, loss="raw").losses(sizes)
    np.testing.assert_allclose(raw, np.logaddexp(0.0, z) - labels * z, rtol=1e-6)
    assert evaluator.losses(sizes).mean() <= raw.mean() + 1e-9  # the refit never hurts


def test_a_slot_at_width_zero_is_dropped_with_its_bias(trained):
    trainer, batches = trained
    evaluator = HoldoutEvaluator(trainer, batches)
    sizes = {"1": 0, "2": 16, "3": 8}
    dropped = evaluator.logits(sizes)
    np.testing.assert_allclose(
        dropped, _per_batch_logits(trainer, batches, sizes, drop_bias=[1]), rtol=1e-5, atol=1e-6
    )
    # The model itself drops the bias at size 0 (the NWS layer's `kept`), and the bias
    # has learnt something in 20 steps, so it was there to drop.
    np.testing.assert_allclose(
        dropped, _per_batch_logits(trainer, batches, sizes), rtol=1e-5, atol=1e-6
    )
    bias = np.concatenate([np.asarray(trainer.model.lookup(b)["slot_1_0"]) for b in batches])
    assert np.abs(bias).max() > 1e-4


def test_the_evaluator_restores_the_architecture_weights(trained):
    trainer, batches = trained
    weights = trainer.nws_layers[0].get_arch_embedding_weights()
    before = np.array(weights.numpy())
    evaluator = HoldoutEvaluator(trainer, batches)
    evaluator.losses({"1": 0, "2": 4, "3": 16})
    np.testing.assert_array_equal(weights.numpy(), before)
    with pytest.raises(ValueError, match="loss"):
        HoldoutEvaluator(trainer, batches, loss="hinge")
