"""The package's layering, read from the source (AST): lower layers never import upper ones.

From the bottom up::

    leaves      checks, files, metrics, config, interrupts, machine, the root
                (import no other nwsrec module; the root imports machine only)
    layers      layers/                                  (leaves only)
    features    features/, embedding/                    (leaves, layers)
    data        data/                                    (leaves)
    model       model.py, registry.py, model_imports.py  (the above)
    training    training/                                (the above)
    search      search/                                  (the above, training)
    tasks       tasks/                                   (the above, search)
    runs        runs.py                                  (the above)
    serving     serving/                                 (the above, like runs)
    cli         cli/, __main__                           (anything)

The rule the issue states: ``layers``, ``features``, ``embedding``, ``data`` and the leaf
modules never import ``training``, ``search``, ``runs``, ``cli`` or ``tasks``; only
``cli`` and ``__main__`` import ``cli``. The test also forbids every other upward import
of the table above, so the picture in ``docs/architecture.md`` stays true.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "nwsrec"

LEVELS = {
    "checks": 0,
    "files": 0,
    "metrics": 0,
    "config": 0,
    "interrupts": 0,
    "machine": 0,
    "layers": 1,
    "features": 2,
    "embedding": 2,
    "data": 2,
    "model": 3,
    "registry": 3,
    "model_imports": 3,
    "training": 4,
    "search": 5,
    "tasks": 6,
    "runs": 7,
    "serving": 7,
    "cli": 8,
    "__main__": 8,
    "root": 0,  # nwsrec/__init__.py: __version__ and the allocator setting of machine
}
# Parts of one level that must not import each other.
FORBIDDEN_SIDEWAYS = {("data", "features"), ("data", "embedding"), ("data", "layers")}


def _part(module: str) -> str:
    """``nwsrec.search.model`` -> ``search``; ``nwsrec`` -> ``__init__``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "root"


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_submodule(name: str) -> bool:
    return (SRC / f"{name}.py").exists() or (SRC / name / "__init__.py").exists()


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    """Every ``nwsrec`` module imported anywhere in the file (also inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("nwsrec")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "nwsrec":  # a submodule, or a name of the (leaf) root
                found += [
                    (node.lineno, f"nwsrec.{a.name}" if _is_submodule(a.name) else "nwsrec")
                    for a in node.names
                ]
            elif node.module.startswith("nwsrec."):
                found.append((node.lineno, node.module))
    return found


def _violations() -> list[str]:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        if module == "nwsrec":
            continue  # the package root only re-exports its version
        source = _part(module)
        assert source in LEVELS, f"{module}: add its part {source!r} to LEVELS"
        for line, target in _imports(path):
            dest = _part(target)
            if dest == source:
                continue
            where = f"{path.relative_to(SRC.parent)}:{line}: {module} imports {target}"
            if LEVELS.get(dest, 99) > LEVELS[source]:
                bad.append(f"{where} (an upper layer)")
            elif LEVELS.get(dest) == LEVELS[source] and (source, dest) in FORBIDDEN_SIDEWAYS:
                bad.append(f"{where} (a sibling it must not depend on)")
    return bad


def test_no_module_imports_an_upper_layer():
    assert _violations() == []


def test_the_walk_sees_function_local_imports(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from nwsrec.training import trainer\n    import nwsrec.cli\n")
    assert _imports(path) == [(2, "nwsrec.training"), (3, "nwsrec.cli")]


@pytest.mark.parametrize(
    "lower",
    ["layers", "features", "embedding", "data", "checks", "files", "metrics", "config"]
    + ["interrupts"],
)
def test_lower_layers_never_import_training_search_runs_cli_or_tasks(lower):
    paths = (
        [SRC / f"{lower}.py"]
        if (SRC / f"{lower}.py").exists()
        else sorted((SRC / lower).rglob("*.py"))
    )
    assert paths, f"no source for {lower}"
    upper = {"training", "search", "runs", "cli", "tasks"}
    hits = [
        f"{p.name}:{line} {target}"
        for p in paths
        for line, target in _imports(p)
        if _part(target) in upper
    ]
    assert hits == []


def test_only_cli_imports_cli():
    hits = []
    for path in sorted(SRC.rglob("*.py")):
        part = _part(_module_name(path))
        if part in ("cli", "__main__"):
            continue
        hits += [f"{path.name}:{ln}" for ln, t in _imports(path) if _part(t) == "cli"]
    assert hits == []


def test_the_env_never_imports_the_slots():
    """``Env`` records plain specs: ``features/env.py`` reads ``features/specs.py``, never
    ``features/slots.py`` (which imports the env), not even for type checking."""
    env = SRC / "features" / "env.py"
    targets = {target for _, target in _imports(env)}
    assert "nwsrec.features.slots" not in targets
    assert "nwsrec.features.specs" in targets
    tree = ast.parse(env.read_text(encoding="utf-8"))
    relative = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]
    assert relative == []
