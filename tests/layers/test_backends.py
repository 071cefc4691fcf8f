"""The layers run on the JAX backend too: the backend-neutral layer tests, again under JAX.

``test_nws.py`` and ``test_teacher.py`` are written against ``keras.ops`` and the helpers
of ``layer_testing.py`` (which use ``jax.grad`` / ``jax.jit`` on JAX). Here they run in a
subprocess with ``KERAS_BACKEND=jax`` on the CPU and TensorFlow made unimportable, so a
layer that uses a TensorFlow op fails there: draws (warm-up, pre-training, frequencies,
seeds), the straight-through gradient (``jax.grad``, eager and ``jax.jit``), summaries,
distillation, ``get_config`` / ``from_config`` and the ``.keras`` save/load round-trip.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

import nwsrec

HERE = pathlib.Path(__file__).resolve().parent
BACKEND_NEUTRAL_MODULES = ["test_nws.py", "test_teacher.py"]

# Block TensorFlow before Keras is imported, then run pytest.
RUNNER = """
import sys
sys.modules["tensorflow"] = None  # `import tensorflow` raises ImportError
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def _jax_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(pathlib.Path(nwsrec.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [src, env.get("PYTHONPATH")] if p)
    env.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", NWSREC_EXPECT_BACKEND="jax")
    return env


def _require_jax(env: dict[str, str]) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import jax"], env=env, capture_output=True, text=True
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        pytest.skip(f"jax is not importable ({last}); install the extra: pip install -e '.[test]'")


def test_layer_tests_pass_on_the_jax_backend_without_tensorflow(tmp_path):
    env = _jax_env()
    _require_jax(env)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            "-q",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "pytest"),
            *[str(HERE / m) for m in BACKEND_NEUTRAL_MODULES],
        ],
        cwd=HERE.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert not re.search(r"skipped|deselected|xfail|error", summary), summary
