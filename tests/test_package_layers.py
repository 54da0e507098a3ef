"""The package's folders are its layers (docs/guide.md): imports point only down, there is no
import cycle (imports inside functions count), and only ``nplstm/cli`` prints, parses flags or
exits.  Read from the source with ``ast``, so a lazy import cannot hide a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nplstm

PACKAGE = Path(nplstm.__file__).resolve().parent      # the code under test, installed or not

# lowest first; a module may import its own top-level unit and units of lower layers
LAYERS = [
    {"backend"},
    {"checks"},              # argument checks and the one escaping of names from files
    {"workspace", "io"},
    {"kernels"},
    {"functional"},
    {"nn"},
    {"optim"},
    {"interop", "gradcheck"},   # gradcheck: the checker, and nn's pieces as pairs
    {"benchmark"},          # times interop's onnxruntime runner beside nn's LSTM
    {"training"},
    {"exercises"},          # above training: the capstone trains on the demo corpus
    {"visualize"},
    {"cli"},
    {"__init__", "__main__"},
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _imports(name: str, path: Path) -> set:
    """The nplstm modules ``name`` imports, wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names
                          if f"{target}.{alias.name}" in MODULES]
            # "from .. import workspace" imports the module workspace; "from .x import f"
            # the module x (a package's __init__ re-exports its own modules' names)
            candidates = submodules or [target]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        # a module's own ancestors are imported before it anyway: not a dependency
        found.update(c for c in candidates if c in MODULES and c != name
                     and not name.startswith(c + "."))
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _unit(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_unit_has_a_layer():
    units = {_unit(name) for name in MODULES}
    assert units <= set(RANK), sorted(units - set(RANK))


def test_imports_point_down_the_layers():
    wrong = []
    for name, targets in GRAPH.items():
        unit = _unit(name)
        for target in targets:
            other = _unit(target)
            if other != unit and RANK[other] >= RANK[unit] and unit != "__init__":
                wrong.append(f"{name} imports {target}")
    assert not wrong, wrong


def test_there_is_no_import_cycle():
    state, cycles = {}, []

    def visit(name, stack):
        state[name] = "open"
        for target in sorted(GRAPH[name]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if getattr(node, "module", None)
                                                     else [])
            yield from (f"import {n}" for n in names)


@pytest.mark.parametrize("forbidden", ["print", "sys.exit", "exit", "import argparse",
                                       "input"])
def test_only_the_cli_prints_parses_flags_or_exits(forbidden):
    offenders = [name for name, path in MODULES.items()
                 if _unit(name) not in ("cli", "__main__")
                 and any(call == forbidden for call in _calls(path))]
    assert not offenders, f"{forbidden} outside nplstm/cli: {offenders}"


def test_the_workspace_is_used_only_by_the_functional_layer():
    users = {name for name, targets in GRAPH.items() if "nplstm.workspace" in targets}
    assert users <= {name for name in MODULES if _unit(name) in ("functional", "__init__")}, \
        sorted(users)


def test_the_checker_finds_what_it_looks_for():
    """The graph is not empty and sees a lazy import (cli/main.py imports its gradcheck
    command inside a function), so the tests above cannot pass by reading nothing."""
    assert len(MODULES) > 40
    assert "nplstm.cli.gradcheck" in GRAPH["nplstm.cli.main"]
    assert "nplstm.functional.inputs" in GRAPH["nplstm.functional.cell"]
