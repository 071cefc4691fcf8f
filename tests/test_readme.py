"""Runs the commands of the README's "Bring your own data" block, exactly as written."""

import os
import pathlib
import re
import shlex
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _commands():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Bring your own data", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_bring_your_own_data_commands_run(tmp_path):
    commands = _commands()
    assert [c.split()[0] for c in commands][:3] == ["python", "nwsrec", "nwsrec"]
    src = str(pathlib.Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    python = shlex.quote(sys.executable)
    for command in commands:
        line = re.sub(r"^nwsrec ", f"{python} -m nwsrec ", command)
        line = re.sub(r"^python ", f"{python} ", line)
        done = subprocess.run(
            line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
    assert (tmp_path / "mydata" / "id_counts.npz").exists()
    assert (tmp_path / "exported" / "mine" / "1" / "saved_model.pb").exists()
    assert "serving_default" in done.stdout and "predict_raw" in done.stdout
    scores = (tmp_path / "scores.tsv").read_text().splitlines()
    tests = sum(
        1
        for _ in __import__("tensorflow").data.TFRecordDataset(
            sorted(str(p) for p in (tmp_path / "mydata").glob("test-*"))
        )
    )
    assert len(scores) == tests + 1  # header + one score per held-out record
