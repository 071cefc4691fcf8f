import functools
import importlib
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from nwsrec import model_imports, registry
from nwsrec.cli.main import main

MODEL_SOURCE = """\
from nwsrec.registry import register


@register(task_root={task_root!r})
class {cls}:
    pass
"""


def write(base: Path, relpath: str, text: str) -> Path:
    """Write ``base/relpath`` with an ``__init__.py`` in every folder below ``base``."""
    path = base / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    parent = path.parent
    while parent != base:
        (parent / "__init__.py").touch(exist_ok=True)
        parent = parent.parent
    path.write_text(textwrap.dedent(text))
    importlib.invalidate_caches()
    return path


def install_plugin(base: Path, dist: str, value: str) -> None:
    info = base / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[nwsrec.models]\nplugin = {value}\n")
    importlib.invalidate_caches()


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    """A throwaway package on sys.path whose ``tasks`` replace the built-in task root."""
    name = f"nwt_{uuid.uuid4().hex[:10]}"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(
        model_imports,
        "import_all_params",
        functools.partial(
            model_imports.import_all_params, task_root=f"{name}.tasks", task_dirs=("alpha",)
        ),
    )
    yield name
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_models_lists_task_and_plugin_models_with_source(pkg, tmp_path, capsys):
    task_file = write(
        tmp_path,
        f"{pkg}/tasks/alpha/params/params.py",
        MODEL_SOURCE.format(task_root=f"{pkg}.tasks", cls="Alpha"),
    )
    plugin_file = write(
        tmp_path, f"{pkg}/plugin.py", MODEL_SOURCE.format(task_root="x.tasks", cls="Acme")
    )
    install_plugin(tmp_path, f"{pkg}_dist", f"{pkg}.plugin")
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KEY", "SOURCE"]
    rows = [line.split() for line in lines[1:]]
    assert rows == [
        [
            "alpha.params.Alpha",
            f"{pkg}.tasks.alpha.params.params.Alpha",
            f"{task_file.relative_to(tmp_path)}:4",
        ],
        [f"{pkg}.plugin.Acme", f"{pkg}.plugin.Acme", f"{plugin_file.relative_to(tmp_path)}:4"],
    ]
    # Columns line up: every KEY starts at the same offset.
    offsets = {line.index(row[1], len(row[0])) for line, row in zip(lines[1:], rows, strict=True)}
    assert offsets == {lines[0].index("KEY")}


def test_models_without_any_model_says_so(pkg, capsys, monkeypatch):
    monkeypatch.setattr(model_imports, "import_plugins", lambda: [])
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No models registered.")
    assert "'nwsrec.models'" in out


def test_models_with_a_broken_model_module_fails_with_its_cause(pkg, tmp_path, capsys):
    write(tmp_path, f"{pkg}/tasks/alpha/params/params.py", "def broken(:\n")
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nwsrec models: error: model module")
    assert "SyntaxError" in err and "line 1" in err


def test_models_with_a_broken_plugin_names_it(pkg, tmp_path, capsys):
    write(tmp_path, f"{pkg}/plugin.py", "import nwt_not_installed_dependency\n")
    install_plugin(tmp_path, f"{pkg}_dist", f"{pkg}.plugin")
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert f"entry point 'plugin = {pkg}.plugin'" in err
    assert "nwt_not_installed_dependency" in err


def test_models_is_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "list the registered models" in capsys.readouterr().out
