import importlib
import logging
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from nwsrec import model_imports, registry
from nwsrec.model_imports import (
    ImportAllParams,
    ImportParams,
    ModelImportError,
    candidate_modules,
    import_all_params,
    import_params,
    import_plugins,
)

MODEL_SOURCE = """
from nwsrec.registry import register

@register(task_root={task_root!r})
class {cls}:
    pass
"""


class Tree:
    """A throwaway package ``name`` written under ``base``, which is on sys.path."""

    def __init__(self, base: Path, name: str):
        self.base = base
        self.name = name
        self.task_root = f"{name}.tasks"

    def write(self, relpath: str, text: str = "") -> Path:
        path = self.base / self.name / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        parent = path.parent
        while parent != self.base:
            (parent / "__init__.py").touch(exist_ok=True)
            parent = parent.parent
        path.write_text(textwrap.dedent(text))
        importlib.invalidate_caches()
        return path

    def model(self, task: str, file: str, cls: str) -> Path:
        """A task params module ``tasks/<task>/params/<file>.py`` registering ``cls``."""
        source = MODEL_SOURCE.format(task_root=self.task_root, cls=cls)
        return self.write(f"tasks/{task}/params/{file}.py", source)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    name = f"nwt_{uuid.uuid4().hex[:10]}"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield Tree(tmp_path, name)
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_candidate_modules_tries_direct_module_then_task_params_path():
    assert candidate_modules("synthetic.params.SyntheticModel") == [
        "synthetic.params",
        "nwsrec.tasks.synthetic.params.params",
    ]
    assert candidate_modules("movielens.ctr.Wide", "acme.tasks", ("movielens",)) == [
        "movielens.ctr",
        "acme.tasks.movielens.params.ctr",
    ]
    assert candidate_modules("pkg.mod.Model") == ["pkg.mod"]


def test_full_module_path_is_imported_directly(tree):
    tree.model("alpha", "params", "Alpha")
    module = f"{tree.task_root}.alpha.params.params"
    assert module not in sys.modules
    assert import_params(f"{module}.Alpha", tree.task_root, ("alpha",)) is True
    assert module in sys.modules
    assert registry.all_registered()[f"{module}.Alpha"].__name__ == "Alpha"


def test_task_prefixed_name_imports_task_params_module(tree):
    tree.model("alpha", "params", "Alpha")
    tree.model("alpha", "ctr", "Wide")
    assert import_params("alpha.params.Alpha", tree.task_root, ("beta", "alpha")) is True
    assert f"{tree.task_root}.alpha.params.params" in sys.modules
    assert f"{tree.task_root}.alpha.params.ctr" not in sys.modules
    assert import_params("alpha.ctr.Wide", tree.task_root, ("alpha",)) is True
    assert "alpha.ctr.Wide" in registry.all_registered()


def test_import_all_params_imports_every_task_and_skips_missing_ones(tree, caplog):
    tree.model("alpha", "params", "Alpha")
    tree.model("beta", "params", "Beta")
    with caplog.at_level(logging.DEBUG, logger="nwsrec.model_imports"):
        assert import_all_params(tree.task_root, ("alpha", "gamma", "beta")) is True
    assert {"alpha.params.Alpha", "beta.params.Beta"} <= set(registry.all_registered())
    assert f"{tree.task_root}.gamma.params.params" in caplog.text
    assert "does not exist" in caplog.text


def test_import_all_params_requiring_success_lists_every_path_tried(tree):
    tree.write("tasks/__init__.py")
    assert import_all_params(tree.task_root, ("alpha", "beta")) is False
    with pytest.raises(LookupError, match=r"alpha\.params\.params.*beta\.params\.params"):
        import_all_params(tree.task_root, ("alpha", "beta"), require_success=True)


def test_missing_module_is_a_logged_miss(tree, caplog):
    tree.write("tasks/alpha/params/__init__.py")
    with caplog.at_level(logging.INFO, logger="nwsrec.model_imports"):
        found = import_params(
            "alpha.nosuch.Model", tree.task_root, ("alpha",), require_success=False
        )
    assert found is False
    assert "no module found for model 'alpha.nosuch.Model'" in caplog.text


def test_missing_module_with_require_success_lists_every_path_tried(tree):
    tree.write("tasks/alpha/params/__init__.py")
    pattern = rf"'alpha\.nosuch', '{tree.task_root}\.alpha\.params\.nosuch'"
    with pytest.raises(LookupError, match=pattern):
        import_params("alpha.nosuch.Model", tree.task_root, ("alpha",))


def test_missing_parent_package_is_a_miss_not_an_error():
    root = f"nwt_absent_{uuid.uuid4().hex[:8]}.tasks"
    assert import_params("alpha.params.Model", root, ("alpha",), require_success=False) is False
    assert import_all_params(root, ("alpha",)) is False


def test_module_whose_own_dependency_is_missing_is_an_error(tree):
    tree.write("tasks/alpha/params/params.py", "import nwt_not_installed_dependency\n")
    with pytest.raises(ModelImportError, match="one of its own imports failed") as exc:
        import_params("alpha.params.Model", tree.task_root, ("alpha",), require_success=False)
    assert isinstance(exc.value.__cause__, ModuleNotFoundError)
    assert exc.value.__cause__.name == "nwt_not_installed_dependency"
    assert "nwt_not_installed_dependency" in str(exc.value)


def test_task_package_whose_init_fails_is_an_error_not_a_miss(tree):
    tree.write("tasks/alpha/params/params.py", "")
    tree.write("tasks/alpha/__init__.py", "import nwt_not_installed_dependency\n")
    with pytest.raises(ModelImportError, match="nwt_not_installed_dependency"):
        import_all_params(tree.task_root, ("alpha",))


def test_module_with_syntax_error_is_an_error_naming_file_and_line(tree):
    tree.write("tasks/alpha/params/params.py", "x = 1\ndef broken(:\n")
    with pytest.raises(ModelImportError, match=r"SyntaxError.*params\.py, line 2") as exc:
        import_params("alpha.params.Model", tree.task_root, ("alpha",))
    assert isinstance(exc.value.__cause__, SyntaxError)


def test_module_raising_while_importing_is_an_error_with_its_cause(tree):
    tree.write("tasks/alpha/params/params.py", "raise RuntimeError('bad config')\n")
    with pytest.raises(ModelImportError, match="RuntimeError: bad config") as exc:
        import_params("alpha.params.Model", tree.task_root, ("alpha",))
    assert isinstance(exc.value.__cause__, RuntimeError)


@pytest.mark.parametrize(
    "name",
    [
        "NoDot",
        "../evil.Model",
        "a..b",
        ".a.Model",
        "a.Model.",
        "tasks/alpha.Model",
        "alpha\\params.Model",
        "~/alpha.Model",
        "a b.Model",
        "alpha.class.Model",
        "",
        42,
    ],
    ids=lambda n: repr(n),
)
def test_invalid_names_are_rejected_before_any_import(name, monkeypatch):
    def no_import(*args, **kwargs):
        raise AssertionError("imported before validating the name")

    monkeypatch.setattr(model_imports.importlib, "import_module", no_import)
    with pytest.raises(ValueError, match=r"`model_name` must .*Received: model_name="):
        import_params(name, require_success=False)


def test_invalid_task_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"`task_dirs` must be a sequence.*'synthetic'"):
        import_all_params(task_dirs="synthetic")
    with pytest.raises(ValueError, match=r"`task_root` must .*Received: task_root='a/b'"):
        import_all_params(task_root="a/b")
    with pytest.raises(ValueError, match=r"`task_dirs` must .*Received: task_dirs='x-y'"):
        import_params("a.B", task_dirs=("x-y",))


def test_original_names_are_aliases():
    assert ImportParams is import_params
    assert ImportAllParams is import_all_params


def write_dist(site: Path, dist: str, entry_points: str) -> None:
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    importlib.invalidate_caches()


def test_entry_point_plugin_is_loaded_and_registers(tree):
    tree.write("plugin.py", MODEL_SOURCE.format(task_root="unused.root", cls="AcmeModel"))
    write_dist(tree.base, f"{tree.name}_dist", f"[nwsrec.models]\nacme = {tree.name}.plugin\n")
    assert f"{tree.name}.plugin.AcmeModel" not in registry.all_registered()
    loaded = import_plugins()
    assert f"acme = {tree.name}.plugin" in loaded
    assert f"{tree.name}.plugin.AcmeModel" in registry.all_registered()


def test_broken_entry_point_plugin_is_an_error_naming_it_and_its_distribution(tree):
    tree.write("plugin.py", "import nwt_not_installed_dependency\n")
    dist = f"{tree.name}_dist"
    write_dist(tree.base, dist, f"[nwsrec.models]\nbroken = {tree.name}.plugin\n")
    with pytest.raises(ModelImportError, match=rf"'broken = {tree.name}\.plugin'.*{dist}"):
        import_plugins()
