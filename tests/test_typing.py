"""The public API is typed (PEP 561: nplstm/py.typed): every public function, class
constructor and public method of the names in ``nplstm.__all__`` and the ``__all__`` of
``nplstm.functional``, ``nplstm.interop`` and ``nplstm.exercises`` annotates every parameter
and its return.  (mypy checks the annotations themselves, strictly, in CI: pyproject.toml.)
A public name added later is covered without a list to update."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import nplstm

PUBLIC_MODULES = ["nplstm", "nplstm.functional", "nplstm.interop", "nplstm.exercises",
                  "nplstm.nn", "nplstm.workspace"]
# typed in a stub beside it (reference.pyi): the textbook code stays as learners read it
STUBBED = {"nplstm.functional.reference"}


def _callables():
    seen = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or getattr(obj, "__module__", "") in STUBBED:
                continue
            if inspect.isfunction(obj):
                seen[f"{obj.__module__}.{obj.__qualname__}"] = obj
            elif inspect.isclass(obj) and obj.__module__.startswith("nplstm"):
                if issubclass(obj, (BaseException, tuple)):    # errors, NamedTuples
                    continue
                for attr, member in vars(obj).items():
                    if inspect.isfunction(member) and (attr == "__init__"
                                                       or not attr.startswith("_")):
                        seen[f"{obj.__module__}.{obj.__qualname__}.{attr}"] = member
    return seen


CALLABLES = _callables()


def test_there_are_public_callables_to_check():
    assert len(CALLABLES) > 60
    assert "nplstm.functional.cell.lstm_cell_forward" in CALLABLES
    assert "nplstm.nn.lstm.LSTM.backward" in CALLABLES


@pytest.mark.parametrize("name", sorted(CALLABLES))
def test_every_parameter_and_the_return_is_annotated(name):
    signature = inspect.signature(CALLABLES[name])
    missing = [p.name for p in signature.parameters.values()
               if p.name not in ("self", "cls") and p.annotation is inspect.Parameter.empty]
    assert missing == [], f"{name}: parameters without a type: {missing}"
    assert signature.return_annotation is not inspect.Signature.empty, \
        f"{name}: no return type"


def test_the_reference_stub_has_the_signatures_of_the_code():
    """reference.pyi against reference.py: the same functions, each with the same
    parameters (names, kinds, defaults), so the stub cannot drift from the code."""
    from nplstm.functional import reference

    stub = ast.parse(Path(reference.__file__).with_suffix(".pyi").read_text())
    stubbed = {node.name: node for node in stub.body if isinstance(node, ast.FunctionDef)}
    assert sorted(stubbed) == sorted(n for n in reference.__all__
                                     if inspect.isfunction(getattr(reference, n)))
    for name, node in stubbed.items():
        runtime = inspect.signature(getattr(reference, name))
        args = node.args
        positional = [a.arg for a in args.args]
        keyword = [a.arg for a in args.kwonlyargs]
        kinds = {p.name: p.kind for p in runtime.parameters.values()}
        assert positional + keyword == list(runtime.parameters), name
        assert all(kinds[a] == inspect.Parameter.KEYWORD_ONLY for a in keyword), name
        defaults = [ast.literal_eval(d) for d in args.defaults] + \
            [ast.literal_eval(d) for d in args.kw_defaults if d is not None]
        assert defaults == [p.default for p in runtime.parameters.values()
                            if p.default is not inspect.Parameter.empty], name
        assert all(a.annotation is not None for a in args.args + args.kwonlyargs), name
        assert node.returns is not None, name
