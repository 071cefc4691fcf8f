"""restore_in_parts: a checkpoint restored one embedding table at a time."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.embedding import EmbeddingTable
from nwsrec.training.checkpoints import restore_in_parts

E = tf.tpu.experimental.embedding


def _objects(names=("table_1_0", "table_2_0")):
    tables = {n: EmbeddingTable(n, 20, 3, E.Adagrad(0.1)) for n in names}
    return {
        "step": tf.Variable(0, dtype=tf.int64),
        "dense": [tf.Variable(tf.zeros([2, 2]))],
        "tables": tables,
    }


def test_every_table_and_the_rest_get_their_saved_values(tmp_path):
    objects = _objects()
    objects["step"].assign(7)
    objects["dense"][0].assign(tf.ones([2, 2]))
    saved = {n: [v.numpy().copy() for v in t.variables] for n, t in objects["tables"].items()}
    path = tf.train.Checkpoint(**objects).save(str(tmp_path / "ckpt"))
    objects["step"].assign(0)
    objects["dense"][0].assign(tf.zeros([2, 2]))
    for table in objects["tables"].values():
        for variable in table.variables:
            variable.assign(tf.fill(variable.shape, -3.0))
    restore_in_parts(objects, path)
    assert int(objects["step"].numpy()) == 7
    np.testing.assert_array_equal(objects["dense"][0].numpy(), np.ones([2, 2]))
    for name, table in objects["tables"].items():
        for before, variable in zip(saved[name], table.variables, strict=True):
            np.testing.assert_array_equal(variable.numpy(), before)


def test_a_table_the_checkpoint_lacks_is_an_error_unless_unchecked(tmp_path):
    path = tf.train.Checkpoint(**_objects(("table_1_0",))).save(str(tmp_path / "ckpt"))
    more = _objects(("table_1_0", "table_5_0"))
    with pytest.raises(AssertionError, match="table_5_0|Unresolved|not matched|match"):
        restore_in_parts(more, path)
    restore_in_parts(_objects(("table_1_0", "table_5_0")), path, check=False)


def test_a_table_of_another_shape_is_a_value_error(tmp_path):
    path = tf.train.Checkpoint(**_objects()).save(str(tmp_path / "ckpt"))
    other = _objects()
    other["tables"]["table_2_0"] = EmbeddingTable("table_2_0", 21, 3, E.Adagrad(0.1))
    with pytest.raises(ValueError, match="shape"):
        restore_in_parts(other, path)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's HWM reset")
def test_restoring_in_parts_peaks_at_one_table_a_whole_restore_at_all_of_them(tmp_path):
    # 8 tables of 2M x 4 floats (32 MiB, and 32 MiB of Adagrad accumulators): 512 MiB.
    script = textwrap.dedent(
        """
        import sys
        import nwsrec  # the system allocator, before TensorFlow allocates
        import tensorflow as tf
        from nwsrec.embedding import EmbeddingTable
        from nwsrec.training.checkpoints import restore_in_parts

        def kib(field):
            for line in open("/proc/self/status"):
                if line.startswith(field):
                    return int(line.split()[1])

        def peak_over(fn):
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            before = kib("VmRSS")
            fn()
            return (kib("VmHWM") - before) / 1024

        tables = {f"t{i}": EmbeddingTable(f"t{i}", 2_000_000, 4,
                  tf.tpu.experimental.embedding.Adagrad(0.1), "zeros") for i in range(8)}
        objects = {"tables": tables}
        path = tf.train.Checkpoint(**objects).save(sys.argv[1])
        parts = peak_over(lambda: restore_in_parts(objects, path))
        whole = peak_over(lambda: tf.train.Checkpoint(**objects).restore(path))
        print(parts, whole)
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ckpt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    parts, whole = map(float, out.stdout.split())
    assert whole > 400  # MiB: the whole restore holds every table's new values at once
    # Each table is freed before its restore: less than one table (64 MiB) at a time.
    assert parts < 16


def test_a_failed_restore_leaves_the_released_table_whole_at_its_initial_values(tmp_path):
    objects = _objects()
    path = tf.train.Checkpoint(**objects).save(str(tmp_path / "ckpt"))
    data = [f for f in os.listdir(tmp_path) if ".data-" in f][0]
    with open(tmp_path / data, "r+b") as f:  # a damaged data file: cut short
        f.truncate(os.path.getsize(tmp_path / data) // 2)
    fresh = _objects()
    for table in fresh["tables"].values():
        for variable in table.variables:
            variable.assign(tf.fill(variable.shape, 5.0))
    # What TensorFlow raises for a cut data file (the trainer catches each of them).
    with pytest.raises((tf.errors.OpError, ValueError, IndexError)):
        restore_in_parts(fresh, path)
    for table in fresh["tables"].values():
        assert not table.is_released()
        assert table.variable.numpy().shape == (20, 3)
    # The first table's restore failed: its initial values again (the initializer's draw
    # and Adagrad's 0.1, not the 5s); the restore stopped before the second.
    first = fresh["tables"]["table_1_0"]
    assert np.all(first.variable.numpy() != 5.0)
    np.testing.assert_allclose(first.slot_variables["accumulators"].numpy(), 0.1)


def test_release_then_reset_gives_a_table_its_initial_shape_and_slots():
    table = EmbeddingTable("t", 6, 2, E.Adagrad(0.1, initial_accumulator_value=0.3), "ones")
    assert table.releasable()
    table.release()
    assert table.is_released()
    assert tf.shape(table.variable.value()).numpy().tolist() == [0, 2]
    table.reset()
    assert not table.is_released()
    np.testing.assert_array_equal(table.variable.numpy(), np.ones([6, 2]))
    np.testing.assert_allclose(table.slot_variables["accumulators"].numpy(), 0.3)


def test_a_mirrored_table_is_restored_without_release():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        table = EmbeddingTable("m", 4, 2, E.Adagrad(0.1))
    assert not table.releasable()  # mirrored: outside the scope too
    with pytest.raises(ValueError, match="`release` needs plain variables"):
        table.release()
