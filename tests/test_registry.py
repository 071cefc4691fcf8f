import importlib
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from nwsrec import registry
from nwsrec.model_imports import ModelImportError
from nwsrec.registry import (
    RegisteredModel,
    RegisterSingleTaskModel,
    all_registered,
    get_class,
    get_params,
    register,
    registered_models,
    short_key,
)

MODEL_SOURCE = """\
from nwsrec.registry import register


@register(task_root={task_root!r})
class {cls}:
    @classmethod
    def default_params(cls):
        return {{"batch_size": {batch_size}, "name": {cls!r}}}
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

    def model(self, task: str, file: str, cls: str, batch_size: int = 32, root=None) -> Path:
        """``<root>/<task>/params/<file>.py`` registering ``cls`` relative to ``root``."""
        root = root or "tasks"
        source = MODEL_SOURCE.format(
            task_root=f"{self.name}.{root}", cls=cls, batch_size=batch_size
        )
        return self.write(f"{root}/{task}/params/{file}.py", source)

    def lookup(self, name: str, tasks=("alpha", "beta")) -> type:
        return get_class(name, task_root=self.task_root, task_dirs=tasks)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    name = f"nwt_{uuid.uuid4().hex[:10]}"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    yield Tree(tmp_path, name)
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        del sys.modules[module]


def test_short_key_drops_params_package_but_keeps_file_name():
    assert (
        short_key("nwsrec.tasks.synthetic.params.params", "SyntheticModel")
        == "synthetic.params.SyntheticModel"
    )
    assert short_key("nwsrec.tasks.synthetic.params.ctr", "Wide") == "synthetic.ctr.Wide"
    assert short_key("nwsrec.tasks.synthetic.params", "Base") == "synthetic.Base"
    assert short_key("nwsrec.tasks.synthetic.model", "M") == "synthetic.model.M"
    assert short_key("nwsrec.tasksfoo.x.params.params", "M") is None
    assert short_key("acme.models", "M") is None


def test_register_keys_class_by_full_and_short_name_with_source(tree):
    path = tree.model("alpha", "params", "Alpha")
    cls = tree.lookup("alpha.params.Alpha")
    full = f"{tree.task_root}.alpha.params.params.Alpha"
    assert all_registered()[full] is cls
    assert all_registered()["alpha.params.Alpha"] is cls
    (entry,) = [m for m in registered_models() if m.cls is cls]
    assert entry == RegisteredModel(cls, full, "alpha.params.Alpha", str(path), 4)
    assert entry.name == "alpha.params.Alpha"
    assert entry.source == f"{path}:4"


def test_short_name_does_not_drop_a_trailing_params_module(tree):
    tree.model("alpha", "params", "Alpha")
    tree.lookup("alpha.params.Alpha")
    assert "alpha.Alpha" not in all_registered()
    with pytest.raises(LookupError, match=r"Did you mean: 'alpha\.params\.Alpha'"):
        tree.lookup("alpha.Alpha")


def test_class_in_params_package_init_gets_task_dot_class(tree):
    tree.write(
        "tasks/alpha/params/__init__.py",
        MODEL_SOURCE.format(task_root=tree.task_root, cls="Base", batch_size=1),
    )
    importlib.import_module(f"{tree.task_root}.alpha.params")
    assert all_registered()["alpha.Base"].__name__ == "Base"


def test_class_outside_task_root_has_only_its_full_key(tree):
    tree.write("models.py", MODEL_SOURCE.format(task_root="nwsrec.tasks", cls="Out", batch_size=1))
    cls = tree.lookup(f"{tree.name}.models.Out")
    (entry,) = [m for m in registered_models() if m.cls is cls]
    assert entry.short_key is None
    assert entry.keys == (f"{tree.name}.models.Out",)
    assert entry.name == f"{tree.name}.models.Out"


def test_get_class_imports_the_module_on_demand(tree):
    tree.model("beta", "ctr", "Wide")
    module = f"{tree.task_root}.beta.params.ctr"
    assert module not in sys.modules
    cls = tree.lookup("beta.ctr.Wide")
    assert cls.__module__ == module
    assert tree.lookup(f"{module}.Wide") is cls


def test_get_params_returns_a_copy_of_default_params(tree):
    tree.model("alpha", "params", "Alpha", batch_size=64)
    params = get_params("alpha.params.Alpha", task_root=tree.task_root, task_dirs=("alpha",))
    assert params == {"batch_size": 64, "name": "Alpha"}
    params["batch_size"] = 1
    again = get_params("alpha.params.Alpha", task_root=tree.task_root, task_dirs=("alpha",))
    assert again["batch_size"] == 64


def test_get_params_of_class_without_default_params_is_empty(tree):
    tree.write(
        "tasks/alpha/params/params.py",
        f"""\
        from nwsrec.registry import register

        @register(task_root={tree.task_root!r})
        class Bare:
            pass
        """,
    )
    assert get_params("alpha.params.Bare", task_root=tree.task_root, task_dirs=("alpha",)) == {}


def test_get_params_rejects_default_params_that_is_not_a_dict(tree):
    tree.write(
        "tasks/alpha/params/params.py",
        f"""\
        from nwsrec.registry import register

        @register(task_root={tree.task_root!r})
        class Odd:
            @classmethod
            def default_params(cls):
                return [("batch_size", 1)]
        """,
    )
    with pytest.raises(ValueError, match=r"`Odd.default_params\(\)` must return a dict"):
        get_params("alpha.params.Odd", task_root=tree.task_root, task_dirs=("alpha",))


def test_duplicate_key_from_another_source_names_both_sources(tree):
    first = tree.model("alpha", "params", "Alpha")
    second = tree.model("alpha", "params", "Alpha", root="other")
    tree.lookup("alpha.params.Alpha")
    pattern = (
        rf"key='alpha\.params\.Alpha' defined at {second}:4, already registered by"
        rf" {tree.task_root}\.alpha\.params\.params\.Alpha at {first}:4"
    )
    with pytest.raises(ValueError, match=pattern):
        importlib.import_module(f"{tree.name}.other.alpha.params.params")
    assert f"{tree.name}.other.alpha.params.params.Alpha" not in all_registered()


def test_registering_the_same_class_again_is_a_no_op(tree):
    tree.model("alpha", "params", "Alpha")
    cls = tree.lookup("alpha.params.Alpha")
    before = registered_models()
    assert register(cls) is cls
    assert RegisterSingleTaskModel(task_root=tree.task_root)(cls) is cls
    assert registered_models() == before


def test_reloading_a_model_module_replaces_its_classes(tree):
    tree.model("alpha", "params", "Alpha")
    old = tree.lookup("alpha.params.Alpha")
    module = importlib.reload(sys.modules[old.__module__])
    new = tree.lookup("alpha.params.Alpha")
    assert new is module.Alpha
    assert new is not old
    assert len([m for m in registered_models() if m.name == "alpha.params.Alpha"]) == 1


def test_register_rejects_what_is_not_a_class():
    with pytest.raises(ValueError, match=r"`register` must decorate a class. Received: cls=<"):
        register(lambda: None)


def test_unknown_name_suggests_close_matches_and_lists_known_models(tree):
    tree.model("alpha", "params", "Alpha")
    tree.model("beta", "params", "Beta")
    pattern = (
        r"`name` must be a registered model\. Received: name='alhpa\.params\.Alpha'\."
        r" Did you mean: 'alpha\.params\.Alpha'\?"
        r" Known models: alpha\.params\.Alpha, beta\.params\.Beta"
    )
    with pytest.raises(LookupError, match=pattern) as exc:
        tree.lookup("alhpa.params.Alpha")
    assert "modules tried: alhpa.params" in str(exc.value)


def test_suggestions_name_each_model_once_by_its_short_name(tree):
    tree.model("alpha", "params", "Alpha")
    typo = f"{tree.task_root}.alpah.params.params.Alpha"
    for name in (typo, "alpha.params.Alpah"):
        # (the built-in models may be suggested too when they are registered)
        with pytest.raises(LookupError, match=r"Did you mean: 'alpha\.params\.Alpha'") as exc:
            tree.lookup(name)
        suggested = str(exc.value).split("Did you mean: ", 1)[1].split("?", 1)[0]
        assert suggested.count("Alpha") == 1


def test_unknown_name_without_dot_suggests_models_of_similar_task_or_class(tree):
    tree.model("alpha", "params", "Alpha")
    with pytest.raises(LookupError, match=r"Did you mean: 'alpha\.params\.Alpha'\?"):
        tree.lookup("alpah")
    with pytest.raises(LookupError, match=r"Did you mean: 'alpha\.params\.Alpha'\?"):
        tree.lookup("beta.params.Alpah")


def test_unknown_name_with_nothing_close_suggests_nothing(tree):
    tree.model("alpha", "params", "Alpha")
    with pytest.raises(LookupError, match="Known models: alpha.params.Alpha") as exc:
        tree.lookup("zzz.qqq.Xyz")
    assert "Did you mean" not in str(exc.value)


def test_broken_model_module_is_an_error_not_an_unknown_name(tree):
    tree.write("tasks/alpha/params/params.py", "import nwt_not_installed_dependency\n")
    with pytest.raises(ModelImportError, match="nwt_not_installed_dependency"):
        tree.lookup("alpha.params.Alpha")


@pytest.mark.parametrize("name", ["../alpha.Model", "alpha..Model", "a/b", "", None])
def test_get_class_rejects_invalid_names(name):
    with pytest.raises(ValueError, match=r"`name` must .*Received: name="):
        get_class(name)


def test_entry_point_plugin_model_is_found_without_configuration(tree):
    tree.model("ads", "params", "AcmeModel", batch_size=7, root="acme_tasks")
    module = f"{tree.name}.acme_tasks.ads.params.params"
    info = tree.base / f"{tree.name}_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {tree.name}_dist\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[nwsrec.models]\nacme = {module}\n")
    importlib.invalidate_caches()
    assert module not in sys.modules
    # 'ads' is no task of the lookup and no top-level module: only the entry point finds it.
    assert tree.lookup("ads.params.AcmeModel").__module__ == module
    assert get_params("ads.params.AcmeModel")["batch_size"] == 7


def test_registry_does_not_import_tensorflow():
    code = (
        "import sys, nwsrec.registry, nwsrec.model_imports, nwsrec.tasks\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


ALIAS_SOURCE = """\
from nwsrec.registry import register


@register(task_root={task_root!r}, name={alias!r})
class {cls}:
    pass
"""


def test_plain_alias_finds_a_built_in_task_model_without_importing_it_first(tree):
    tree.write(
        "tasks/alpha/params/params.py",
        ALIAS_SOURCE.format(task_root=tree.task_root, alias="alphamodel", cls="Alpha"),
    )
    cls = tree.lookup("alphamodel")
    assert cls.__name__ == "Alpha"
    (entry,) = [m for m in registered_models() if m.cls is cls]
    assert entry.name == "alphamodel"
    assert entry.keys == (
        f"{tree.task_root}.alpha.params.params.Alpha",
        "alpha.params.Alpha",
        "alphamodel",
    )


def test_alias_taken_by_another_class_fails_the_import_naming_both_sources(tree):
    tree.write(
        "tasks/alpha/params/params.py",
        ALIAS_SOURCE.format(task_root=tree.task_root, alias="same", cls="Alpha"),
    )
    tree.lookup("alpha.params.Alpha")
    tree.write(
        "tasks/beta/params/params.py",
        ALIAS_SOURCE.format(task_root=tree.task_root, alias="same", cls="Beta"),
    )
    with pytest.raises(ModelImportError, match=r"key='same'.*alpha/params/params\.py:4") as err:
        tree.lookup("beta.params.Beta")
    assert isinstance(err.value.__cause__, ValueError)


def test_a_task_registers_the_command_that_makes_its_data(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @register(name=f"made_{uuid.uuid4().hex[:8]}", make_data="acme make-data --here")
    class Made:
        pass

    class Plain:
        pass

    assert registry.make_data(Made) == "acme make-data --here"
    assert registry.make_data(Plain) == "write it with nwsrec convert"
    assert registry.make_data(get_class("synthetic")) == "nwsrec datasets generate synthetic"
    with pytest.raises(ValueError, match="`make_data` must be a non-empty command"):
        register(name="x_empty", make_data=" ")
