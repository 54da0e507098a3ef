"""Mutation testing of the backwards, forwards, readers, grader, optimizer and trainer: one
``ast`` mutation at a time.

    python tests/mutation/mutate.py --list                         # the mutants, no tests run
    python tests/mutation/mutate.py                                # every target function
    python tests/mutation/mutate.py --functions numpy_gates.backward_step,reference.lstm_backward
    python tests/mutation/mutate.py --ids numpy_gates.backward_step#3 --extra tests/test_mutation_gaps.py
    python tests/mutation/mutate.py --sample 200 --seed 0          # a random sample
    python tests/mutation/mutate.py --group readers,grader --sample 250   # issue 21's modules
    python tests/mutation/mutate.py --group forwards,optim,training --sample 250 --seed 24

How it works.  Each target module is parsed; inside each target function (docstrings and
``if …: raise`` guards excluded, so bad-input checks are not mutated) every node offers its
mutations (``candidates``): arithmetic swaps (+ ↔ −, * ↔ /, ** → *, @ dropped or its right
operand transposed), comparison swaps (< ↔ ≤, == ↔ ≠, is ↔ is not, …), negated conditions,
and ↔ or, constants (0 → 1, 1 → 0, n → n+1, True ↔ False), slice bounds ±1, ``.T`` removed,
unary minus removed or added (assigned values and ``out=`` call operands), statements
deleted (calls, augmented and subscript assignments), ``out=`` dropped (the result goes to
a temporary), ``.copy()`` dropped, ``reversed`` dropped, min ↔ max, and swaps of adjacent
positional arguments (not of np.add / np.multiply's two operands: commutative).  A mutant
is ONE mutation: its id is ``module.function#k`` (k counts the function's mutations in a
fixed order), so a run is reproducible.

Each mutant is written into a scratch copy of the package and the tests (``--scratch``,
default a temporary folder), never into the worktree, and tested in a forked child of a
process that has already imported numpy, pytest and hypothesis (about 1 s saved per
mutant); the child imports the mutated copy (the editable install's finder is removed,
bytecode is neither read nor written).  Tests: stage 1, a small set of files that covers
the module (``TARGETS``), with ``-x``; mutants it does not kill go to stage 2, a wider
set.  A run past ``--timeout`` seconds counts as killed.  Results go to ``--out`` (JSON
lines; ``--resume`` skips ids already there).  The original is run first and must pass.

pytest does not collect this file: its name does not start with ``test_``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# tests that compare source text (an unparsed function loses its comments): not run
_DESELECT = ["--deselect",
             "tests/test_reference.py::test_derivation_quotes_are_the_reference_lines_it_names"]

_GATES_TESTS = ["tests/test_kernels.py", "tests/test_cell.py", "tests/test_reference.py"]
_SEQ_FAST = ["tests/test_reference.py", "tests/test_sequence.py", "-k",
             "not test_module_backward_matches_finite_differences"]
# stage 2 leaves out the 18-s finite-difference test of the module (test_sequence.py)
_WIDE = ["tests/test_sequence.py", "tests/test_jvp.py", "tests/test_parity.py",
         "tests/test_layers.py", "tests/test_nn.py", "-k",
         "not test_module_backward_matches_finite_differences"]

# module file → (target functions, stage-1 pytest arguments, stage-2 pytest arguments)
TARGETS = {
    "nplstm/kernels/numpy_gates.py": (
        ["backward_factors", "backward_step", "gate_derivatives", "sigmoid_derivative",
         "tanh_derivative", "activate_gates", "gates_forward"],
        _GATES_TESTS, _WIDE),
    "nplstm/functional/reference.py": (
        ["lstm_step_backward", "lstm_cell_backward", "lstm_backward", "lstm_step_forward",
         "lstm_forward", "sigmoid", "reverse_within_lengths"],
        ["tests/test_reference.py"], ["tests/test_cell.py"] + _WIDE),
    "nplstm/functional/cell.py": (
        ["lstm_cell_backward", "lstm_cell_forward"],
        ["tests/test_cell.py", "tests/test_reference.py"], _WIDE),
    "nplstm/functional/sequence.py": (
        ["lstm_backward", "_chunk_factors", "_backward_chunk", "_StepNorms", "lstm_forward"],
        _SEQ_FAST, ["tests/test_jvp.py", "tests/test_parity.py", "tests/test_nn.py",
                    "tests/test_layers.py"]),
    "nplstm/functional/linear.py": (
        ["linear_backward", "embedding_backward", "linear_forward", "embedding_forward"],
        ["tests/test_layers.py", "tests/test_nn.py"],
        ["tests/test_optim.py", "tests/test_gradcheck.py"]),
    "nplstm/functional/losses.py": (
        ["cross_entropy_backward", "mse_backward", "cross_entropy_forward", "mse_forward"],
        ["tests/test_layers.py", "tests/test_nn.py"],
        ["tests/test_optim.py", "tests/test_gradcheck.py"]),
}
GROUPS = {"backwards": list(TARGETS)}      # the modules above (the default run, --forwards)

# issue 21: the readers (interop/, io/) and the grader (exercises/), every function of each
# module (None).  Stage 1 is the file (or two) written for the module, with -x; stage 2 the
# other files that read the same formats or grade the same exercises.
_TORCH = ["tests/test_interop_torch.py"]
_TORCH_WIDE = ["tests/test_interop_limits.py", "tests/test_interop_files.py"]
_KERAS = ["tests/test_interop_keras.py", "tests/test_interop_keras_safety.py"]
_ONNX = ["tests/test_interop_onnx_inputs.py", "tests/test_interop_onnx_external.py",
         "tests/test_interop_onnx.py"]
_FILES = ["tests/test_interop_files.py"]
_FILES_WIDE = ["tests/test_interop_torch.py", "tests/test_interop_keras.py",
               "tests/test_interop_limits.py", "tests/test_io.py"]
_CHECKPOINT = ["tests/test_io.py"]
_CHECKPOINT_WIDE = ["tests/test_atomic.py", "tests/test_interop_limits.py",
                    "tests/test_interop_cli.py"]
_GRADER = ["tests/test_exercises.py", "tests/test_exercise_gru.py"]
_GRADER_WIDE = ["tests/test_exercise_isolation.py", "tests/test_cli.py", "-k", "exercise"]
_ISOLATION = ["tests/test_exercise_isolation.py"]
_ISOLATION_WIDE = ["tests/test_exercises.py", "tests/test_cli.py", "-k", "exercise"]
READERS = {
    "nplstm/interop/torch_pickle.py": (None, _TORCH, _TORCH_WIDE),
    "nplstm/interop/torch_zip.py": (None, _TORCH, _TORCH_WIDE),
    "nplstm/interop/files.py": (None, _FILES, _FILES_WIDE),
    "nplstm/interop/groups.py": (None, _FILES, ["tests/test_interop_cli.py",
                                                "tests/test_interop_torch.py",
                                                "tests/test_bad_inputs.py"]),
    "nplstm/interop/opcode_walk.py": (None, _TORCH, _TORCH_WIDE),
    "nplstm/interop/notes.py": (None, _TORCH, _FILES),
    "nplstm/interop/keras.py": (None, _KERAS, _FILES + ["tests/test_interop_limits.py"]),
    "nplstm/interop/keras_layers.py": (None, _KERAS, _FILES),
    "nplstm/interop/onnx_import.py": (None, _ONNX, ["tests/test_interop_cli.py"]),
    "nplstm/interop/onnx_export.py": (None, _ONNX, ["tests/test_interop_cli.py"]),
    "nplstm/interop/reverse_lstm.py": (None, ["tests/test_interop_reverse_lstm.py"] + _ONNX,
                                       ["tests/test_interop_cli.py"]),
    "nplstm/io/atomic.py": (None, ["tests/test_atomic.py"],
                            _CHECKPOINT + ["tests/test_interop_cli.py"]),
    "nplstm/io/zip_limits.py": (None, _CHECKPOINT + ["tests/test_interop_limits.py"],
                                _TORCH + _FILES),
    "nplstm/io/checkpoint.py": (None, _CHECKPOINT, _CHECKPOINT_WIDE),
    "nplstm/io/checkpoint_format.py": (None, _CHECKPOINT, _CHECKPOINT_WIDE),
}
GRADER = {
    "nplstm/exercises/compare.py": (None, _GRADER, _GRADER_WIDE),
    "nplstm/exercises/graders.py": (None, _GRADER, _GRADER_WIDE),
    "nplstm/exercises/sequence_graders.py": (None, _GRADER, _GRADER_WIDE),
    "nplstm/exercises/mistakes.py": (None, _GRADER, _GRADER_WIDE),
    "nplstm/exercises/grading.py": (None, _ISOLATION, _ISOLATION_WIDE),
    "nplstm/exercises/learner.py": (None, _ISOLATION, _ISOLATION_WIDE),
    "nplstm/exercises/wire.py": (None, _ISOLATION, _ISOLATION_WIDE),
}
# issue 24: the forwards of functional/ (their modules above, their forward functions only),
# optim.py and training/.  Stage 1 is the file written for the module, with -x; stage 2 the
# files that use it (the models, the CLI's training commands, the fault tests).
_TRAIN = ["tests/test_train.py"]
_TRAIN_WIDE = ["tests/test_faults.py", "tests/test_cli_bad_inputs.py",
               "tests/test_strict_backend.py"]
FORWARD_MODULES = {
    "nplstm/functional/rnn.py": (["rnn_forward"], ["tests/test_rnn.py"],
                                 ["tests/test_nn.py", "tests/test_parity.py"]),
    "nplstm/functional/packing.py": (None, _SEQ_FAST, ["tests/test_rnn.py", "tests/test_nn.py",
                                                      "tests/test_parity.py"]),
    "nplstm/functional/jvp.py": (None, ["tests/test_jvp.py"],
                                 ["tests/test_jvpcheck_hvpcheck.py"]),
}
TARGETS.update(FORWARD_MODULES)
OPTIM = {"nplstm/optim.py": (None, ["tests/test_optim.py"], _TRAIN)}
TRAINING = {
    "nplstm/training/config.py": (None, _TRAIN, _TRAIN_WIDE),
    "nplstm/training/trainer.py": (None, _TRAIN, _TRAIN_WIDE),
    "nplstm/training/tasks.py": (None, _TRAIN + ["tests/test_data.py"], _TRAIN_WIDE),
    "nplstm/training/data.py": (None, ["tests/test_data.py"] + _TRAIN,
                                ["tests/test_cli_bad_inputs.py"]),
    "nplstm/training/run_dir.py": (None, _TRAIN, ["tests/test_faults.py",
                                                  "tests/test_atomic.py"]),
}
for _group, _targets in (("readers", READERS), ("grader", GRADER), ("optim", OPTIM),
                         ("training", TRAINING)):
    TARGETS.update(_targets)
    GROUPS[_group] = list(_targets)
# the forward functions of functional/ (not its input checks: inputs.py validates, and its
# guards are the bad-input tests' to check); the modules' backwards are the default run's
FORWARDS = {
    "nplstm/functional/reference.py": ["sigmoid", "lstm_step_forward", "lstm_cell_forward",
                                       "reverse_within_lengths", "lstm_forward"],
    "nplstm/functional/cell.py": ["lstm_cell_forward"],
    "nplstm/functional/sequence.py": ["lstm_forward", "cache_bytes_per_step",
                                      "join_directions", "_recurrent_weight"],
    "nplstm/functional/rnn.py": ["rnn_forward"],
    "nplstm/functional/linear.py": ["linear_forward", "embedding_forward"],
    "nplstm/functional/losses.py": ["cross_entropy_forward", "mse_forward", "_upstream_scalar"],
    "nplstm/functional/packing.py": None,
    "nplstm/functional/jvp.py": None,
}
GROUPS["forwards"] = list(FORWARDS)
# the functions the issue names (the default run); the forwards are run with --forwards
BACKWARDS = {
    "numpy_gates": ["backward_factors", "backward_step", "gate_derivatives",
                    "sigmoid_derivative", "tanh_derivative"],
    "reference": ["lstm_step_backward", "lstm_cell_backward", "lstm_backward"],
    "cell": ["lstm_cell_backward"],
    "sequence": ["lstm_backward", "_chunk_factors", "_backward_chunk", "_StepNorms"],
    "linear": ["linear_backward", "embedding_backward"],
    "losses": ["cross_entropy_backward", "mse_backward"],
}
# with stage 1: the gap tests (always run when they exist)
GAP_TESTS = "tests/test_mutation_gaps.py"

_BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
               ast.FloorDiv: ast.Mult, ast.Pow: ast.Mult}
_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
             ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
             ast.In: ast.NotIn, ast.NotIn: ast.In}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Pow: "**", ast.MatMult: "@"}
_COMMUTATIVE_CALLS = {"add", "multiply"}
# calls whose result is not a number array (a module, a plan, …): no unary minus on them
_NOT_NUMBERS = {"get_array_module", "kernels_for", "check_arrays", "make_plan", "len",
                "_backward_chunk", "_StepNorms", "range", "type"}


def _src(node) -> str:
    text = " ".join(line.strip() for line in ast.unparse(node).splitlines())
    return text if len(text) <= 70 else text[:67] + "..."


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _is_guard(node) -> bool:
    """``if …: raise …`` (bad-input checks: not mutated)."""
    return isinstance(node, ast.If) and any(isinstance(s, ast.Raise) for s in node.body)


def _is_docstring(node, parent) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


DELETE = object()


def candidates(node, parent):
    """The mutations ``node`` offers: a list of (description, transform); transform takes
    a copy of the node and returns its replacement (``DELETE`` removes a statement)."""
    out = []
    add = out.append
    if isinstance(node, ast.BinOp):
        op = type(node.op)
        if op in _BINOP_SWAP:
            new = _BINOP_SWAP[op]
            add((f"{_SYMBOL[op]} -> {_SYMBOL[new]}",
                 lambda n, new=new: ast.BinOp(n.left, new(), n.right)))
        if op is ast.MatMult:
            add(("@ dropped (left operand kept)", lambda n: n.left))
            add(("@ right operand transposed",
                 lambda n: ast.BinOp(n.left, ast.MatMult(),
                                     ast.Attribute(n.right, "T", ast.Load()))))
    elif isinstance(node, ast.AugAssign):
        op = type(node.op)
        if op in _BINOP_SWAP:
            new = _BINOP_SWAP[op]
            add((f"{_SYMBOL[op]}= -> {_SYMBOL[new]}=",
                 lambda n, new=new: ast.AugAssign(n.target, new(), n.value)))
        add(("augmented assignment deleted", lambda n: DELETE))
        add(("unary minus added to the operand",
             lambda n: ast.AugAssign(n.target, n.op, ast.UnaryOp(ast.USub(), n.value))))
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = type(node.ops[0])
        if op in _CMP_SWAP:
            new = _CMP_SWAP[op]
            add((f"comparison {op.__name__} -> {new.__name__}",
                 lambda n, new=new: ast.Compare(n.left, [new()], n.comparators)))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        add((f"{type(node.op).__name__} -> {new.__name__}",
             lambda n, new=new: ast.BoolOp(new(), n.values)))
    elif isinstance(node, ast.Constant) and not isinstance(node.value, str) \
            and node.value is not None and node.value is not Ellipsis:
        v = node.value
        if isinstance(v, bool):
            add((f"{v} -> {not v}", lambda n: ast.Constant(not n.value)))
        elif isinstance(v, (int, float)):
            add((f"constant {v!r} -> {v + 1!r}", lambda n: ast.Constant(n.value + 1)))
            if v == 1:
                add((f"constant {v!r} -> {v - 1!r}", lambda n: ast.Constant(n.value - 1)))
    elif isinstance(node, ast.Slice):
        for bound in ("lower", "upper"):
            if getattr(node, bound) is not None:
                for sign, op in (("+1", ast.Add), ("-1", ast.Sub)):
                    def change(n, bound=bound, op=op):
                        n = copy.copy(n)
                        setattr(n, bound, ast.BinOp(getattr(n, bound), op(), ast.Constant(1)))
                        return n
                    add((f"slice {bound} bound {sign}", change))
    elif isinstance(node, ast.Attribute) and node.attr == "T":
        add((".T removed", lambda n: n.value))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        add(("unary minus removed", lambda n: n.operand))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        add(("not removed", lambda n: n.operand))
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        add(("statement deleted", lambda n: DELETE))
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
        add(("subscript assignment deleted", lambda n: DELETE))
    if isinstance(node, ast.Assign) and len(node.targets) == 1 \
            and isinstance(node.targets[0], ast.Name) \
            and isinstance(node.value, (ast.BinOp, ast.Call, ast.Name, ast.Subscript,
                                        ast.Attribute)) \
            and not (isinstance(node.value, ast.Call)
                     and (_call_name(node.value)[:1].isupper()
                          or _call_name(node.value) in _NOT_NUMBERS
                          or _call_name(node.value).startswith("check_"))):
        add(("unary minus added to the assigned value",
             lambda n: ast.Assign(n.targets, ast.UnaryOp(ast.USub(), n.value))))
    if isinstance(node, (ast.If, ast.IfExp)) and not isinstance(node.test, ast.Compare):
        add(("condition negated",
             lambda n: type(n)(ast.UnaryOp(ast.Not(), n.test), n.body, n.orelse)))
    if isinstance(node, ast.Call):
        name = _call_name(node)
        has_out = any(k.arg == "out" for k in node.keywords)
        if has_out:
            add(("out= dropped (result to a temporary)",
                 lambda n: ast.Call(n.func, n.args, [k for k in n.keywords if k.arg != "out"])))
            for k, arg in enumerate(node.args):
                if isinstance(arg, (ast.Name, ast.Subscript, ast.Attribute, ast.Call)):
                    def negate(n, k=k):
                        args = list(n.args)
                        args[k] = ast.UnaryOp(ast.USub(), args[k])
                        return ast.Call(n.func, args, n.keywords)
                    add((f"unary minus added to argument {k}", negate))
        if name == "copy" and not node.args and isinstance(node.func, ast.Attribute):
            add((".copy() dropped", lambda n: n.func.value))
        if name == "reversed" and len(node.args) == 1:
            add(("reversed() dropped", lambda n: n.args[0]))
        if name in ("min", "max") and isinstance(node.func, ast.Name):
            other = "max" if name == "min" else "min"
            add((f"{name} -> {other}",
                 lambda n, other=other: ast.Call(ast.Name(other, ast.Load()), n.args,
                                                 n.keywords)))
        if not any(isinstance(a, ast.Starred) for a in node.args):
            for k in range(len(node.args) - 1):
                if k == 0 and name in _COMMUTATIVE_CALLS:
                    continue
                if ast.dump(node.args[k]) == ast.dump(node.args[k + 1]):
                    continue
                def swap(n, k=k):
                    args = list(n.args)
                    args[k], args[k + 1] = args[k + 1], args[k]
                    return ast.Call(n.func, args, n.keywords)
                add((f"arguments {k} and {k + 1} swapped", swap))
    return out


def _walk(func):
    """(node, parent) pairs of ``func``'s body in a fixed order, skipping docstrings, guards,
    f-strings and annotations."""
    order = []

    def visit(node, parent):
        if _is_guard(node) or isinstance(node, (ast.JoinedStr, ast.Raise)):
            return
        if isinstance(node, ast.arguments):
            return
        order.append((node, parent))
        for field, value in ast.iter_fields(node):
            if field in ("returns", "annotation", "decorator_list"):
                continue
            items = value if isinstance(value, list) else [value]
            for i, child in enumerate(items):
                if isinstance(child, ast.AST):
                    if field == "body" and i == 0 and _is_docstring(child, node):
                        continue
                    visit(child, node)

    for stmt in func.body:
        if not _is_docstring(stmt, func):
            visit(stmt, func)
    return order


def _replace(parent, old, new):
    for field, value in ast.iter_fields(parent):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    if new is DELETE:
                        del value[i]
                        if not value:
                            value.append(ast.Pass())
                    else:
                        value[i] = new
                    return
        elif value is old:
            setattr(parent, field, new)
            return
    raise RuntimeError("node not found in its parent")


class Mutant:
    def __init__(self, module, path, qualname, index, line, description, before, func_node,
                 position):
        self.module, self.path, self.qualname = module, path, qualname
        self.index, self.line, self.description, self.before = index, line, description, before
        self.func_node, self.position = func_node, position

    @property
    def id(self):
        return f"{self.module}.{self.qualname}#{self.index}"

    def mutated_source(self, source: str) -> tuple[str, str]:
        """(the module's source with this mutation, the mutated node's text)."""
        func = copy.deepcopy(self.func_node)
        node, parent = _walk(func)[self.position[0]]
        _, transform = candidates(node, parent)[self.position[1]]
        new = transform(copy.deepcopy(node))
        after = "(deleted)" if new is DELETE else _src(ast.fix_missing_locations(new))
        _replace(parent, node, new)
        ast.fix_missing_locations(func)
        lines = source.splitlines(keepends=True)
        start = min([func.lineno] + [d.lineno for d in func.decorator_list]) - 1
        indent = " " * self.func_node.col_offset
        text = textwrap.indent(ast.unparse(func), indent) + "\n"
        return "".join(lines[:start]) + text + "".join(lines[func.end_lineno:]), after


def enumerate_mutants(path: str, wanted: set[str] | None):
    """Every mutant of the target functions of one module, in a fixed order."""
    source = (ROOT / path).read_text()
    tree = ast.parse(source)
    module = Path(path).stem
    funcs = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            funcs.append((node.name, node))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    funcs.append((f"{node.name}.{item.name}", item))
    mutants = []
    for qualname, func in funcs:
        owner = qualname.split(".")[0]
        if wanted is not None and qualname not in wanted and owner not in wanted:
            continue
        k = 0
        for pos, (node, parent) in enumerate(_walk(func)):
            for j, (description, _) in enumerate(candidates(node, parent)):
                mutants.append(Mutant(module, path, qualname, k, getattr(node, "lineno", 0),
                                      description, _src(node), func, (pos, j)))
                k += 1
    return mutants


# --- running -------------------------------------------------------------------------------

def _make_scratch(base: Path) -> Path:
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(ROOT / "nplstm", base / "nplstm", ignore=ignore)
    shutil.copytree(ROOT / "tests", base / "tests", ignore=ignore)
    shutil.copytree(ROOT / "docs", base / "docs", ignore=ignore)
    if (ROOT / "examples").is_dir():      # the exercises' tests read the notebooks
        shutil.copytree(ROOT / "examples", base / "examples", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", base / "pyproject.toml")
    return base


class _FirstFailure:
    def __init__(self):
        self.failed = []

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.append(report.nodeid)


def _run_tests(scratch: Path, args: list[str], timeout: float, log: Path):
    """pytest ``args`` in a forked child on the scratch copy: ('passed'|'failed'|'timeout'
    |'error', first failing test or message, seconds)."""
    result_file = log.with_suffix(".json")
    if result_file.exists():
        result_file.unlink()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:   # the child: fresh imports of the mutated package
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(scratch)
            sys.path.insert(0, str(scratch))
            # a subprocess a test starts (a CLI run, a grader's child, a memory-limited
            # load) imports the scratch copy too, not the worktree on PYTHONPATH
            kept = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                    if p and Path(p).resolve() != ROOT]
            os.environ["PYTHONPATH"] = os.pathsep.join([str(scratch)] + kept)
            import pytest
            recorder = _FirstFailure()
            rc = pytest.main(["-x", "-q", "-p", "no:cacheprovider", *_DESELECT, *args],
                             plugins=[recorder])
            import nplstm
            here = Path(nplstm.__file__).resolve()
            if scratch.resolve() not in here.parents:
                rc, recorder.failed = 99, [f"imported the wrong nplstm: {here}"]
            result_file.write_text(json.dumps({"rc": int(rc), "failed": recorder.failed}))
        finally:
            sys.stdout.flush()
            os._exit(0)
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", f"over {timeout:.0f} s", time.monotonic() - start
        time.sleep(0.05)
    seconds = time.monotonic() - start
    if not result_file.exists():
        return "error", "the child died", seconds
    result = json.loads(result_file.read_text())
    if result["rc"] == 99:
        raise SystemExit(result["failed"][0])
    if result["rc"] == 0:
        return "passed", "", seconds
    if result["rc"] == 5:
        return "error", "no tests collected", seconds
    return "failed", (result["failed"] or [f"pytest exit code {result['rc']}"])[0], seconds


# what the readers' tests import (each optional): imported once, in the parent
_READER_IMPORTS = ("torch", "onnx", "onnx.reference", "onnxruntime", "h5py", "safetensors")


def _prepare_parent(readers: bool = False):
    """Import what every child needs (not nplstm) and hide the editable install; with
    ``readers``, also the libraries the readers' tests import (seconds per child saved)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.dont_write_bytecode = True
    # a background job of a non-interactive shell starts with SIGINT ignored, and the
    # processes the tests start would inherit that (a Ctrl-C test then waits in vain)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.pycache_prefix = tempfile.mkdtemp(prefix="nplstm-mut-pyc-")   # no stale bytecode
    sys.meta_path[:] = [f for f in sys.meta_path
                        if "editable" not in type(f).__module__.lower()
                        and "editable" not in getattr(f, "__module__", "").lower()
                        and "editable" not in repr(f).lower()]
    for name in [m for m in sys.modules if m == "nplstm" or m.startswith("nplstm.")]:
        del sys.modules[name]
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import hypothesis  # noqa: F401
    import hypothesis.extra.numpy  # noqa: F401
    if readers:
        import importlib
        for name in _READER_IMPORTS:
            try:
                importlib.import_module(name)
            except ImportError:
                pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", help="comma-separated module.function or function "
                        "names (default: the backward functions of the issue)")
    parser.add_argument("--forwards", action="store_true",
                        help="all functions of the backwards' modules, the forwards included")
    parser.add_argument("--group", help="comma-separated groups of modules, every function "
                        f"of each: {', '.join(GROUPS)} (readers: interop/ and io/; grader: "
                        "exercises/; forwards: the forward functions of functional/; "
                        "training: training/ but plots.py)")
    parser.add_argument("--modules", help="comma-separated module names (numpy_gates, "
                        "reference, cell, sequence, linear, losses, torch_pickle, compare, "
                        "…; --list --group readers,grader names them all): only these")
    parser.add_argument("--ids", help="comma-separated mutant ids to run")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--sample", type=int, help="run a random sample of this many")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard", help="k/n: only the mutants whose position in the list "
                        "is k modulo n (to run n processes side by side)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", default="tests/mutation/results.jsonl")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--extra", action="append", default=[],
                        help="test files added to stage 1 (e.g. tests/test_mutation_gaps.py)")
    parser.add_argument("--tests", help="pytest arguments (one string) that replace stage 1, "
                        "e.g. \"tests --ignore=tests/test_mutation_gaps.py\" (the whole suite)")
    parser.add_argument("--no-stage2", action="store_true")
    parser.add_argument("--scratch", help="the scratch folder (default: a temporary one)")
    parser.add_argument("--write", help="write this mutant's module into the scratch copy "
                        "and stop (for a look at it)")
    args = parser.parse_args(argv)

    if args.functions:
        wanted = {}
        for item in args.functions.split(","):
            module, _, func = item.strip().rpartition(".")
            for path in TARGETS:
                if not module or Path(path).stem == module:
                    wanted.setdefault(path, set()).add(func)
    elif args.group:
        unknown = set(args.group.split(",")) - set(GROUPS)
        if unknown:
            parser.error(f"--group: unknown {', '.join(sorted(unknown))}; the groups are "
                         f"{', '.join(GROUPS)}")
        wanted = {path: (FORWARDS[path] if group == "forwards" else None)
                  for group in args.group.split(",") for path in GROUPS[group]}
    elif args.forwards:
        wanted = {path: None for path in GROUPS["backwards"]}
    else:
        wanted = {path: set(BACKWARDS[Path(path).stem]) for path in GROUPS["backwards"]}
    if args.modules:
        keep = set(args.modules.split(","))
        wanted = {p: f for p, f in wanted.items() if Path(p).stem in keep}
    mutants = [m for path, funcs in wanted.items() for m in enumerate_mutants(path, funcs)]
    if args.ids:
        ids = {i.strip() for i in args.ids.split(",")}
        stems = {i.partition(".")[0] for i in ids}     # any function of any target module
        mutants = [m for path in TARGETS if Path(path).stem in stems
                   for m in enumerate_mutants(path, None) if m.id in ids]
    generated = len(mutants)
    if args.sample and args.sample < len(mutants):
        mutants = sorted(random.Random(args.seed).sample(mutants, args.sample),
                         key=lambda m: (list(TARGETS).index(m.path), m.qualname, m.index))
    if args.shard:
        k, n = (int(v) for v in args.shard.split("/"))
        mutants = mutants[k::n]
    if args.list:
        for m in mutants:
            print(f"{m.id:45} {m.path}:{m.line:<4} {m.description:40} {m.before}")
        print(f"{len(mutants)} of {generated} mutants")
        return 0

    out = ROOT / args.out
    done = set()
    if args.resume and out.exists():
        done = {json.loads(line)["id"] for line in out.read_text().splitlines() if line}
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="nplstm-mut-"))
    _make_scratch(scratch)
    if args.write:
        m = next(m for m in mutants if m.id == args.write)
        text, after = m.mutated_source((ROOT / m.path).read_text())
        (scratch / m.path).write_text(text)
        print(f"{scratch / m.path}: {m.description}: {m.before} -> {after}")
        return 0
    # the readers' libraries (torch: the layers', RNN's and training's tests use it too)
    _prepare_parent(readers=any(m.path in READERS or m.path not in GROUPS["backwards"]
                                or args.group for m in mutants))
    extra = [e for e in args.extra if (ROOT / e).exists()]
    logs = scratch / "logs"
    logs.mkdir()

    by_path = {}
    for m in mutants:
        by_path.setdefault(m.path, []).append(m)
    counts = {"killed": 0, "survived": 0}
    passed_originals = set()     # stage-1 sets the unmutated package passed (once per set)
    print(f"{len(mutants)} mutants to run (of {generated} generated); scratch {scratch}",
          flush=True)
    with open(out, "a") as results:
        for path, group in by_path.items():
            _, stage1, stage2 = TARGETS[path]
            stage1 = extra + (args.tests.split() if args.tests else stage1)
            original = (ROOT / path).read_text()
            group = [m for m in group if m.id not in done]
            if group and tuple(stage1) not in passed_originals:
                status, why, _ = _run_tests(scratch, stage1, args.timeout * 3,
                                            logs / "original.log")
                if status != "passed":
                    raise SystemExit(f"the unmutated {path} fails stage 1: {why}")
                passed_originals.add(tuple(stage1))
            for m in group:
                text, after = m.mutated_source(original)
                try:
                    (scratch / path).write_text(text)
                    status, why, seconds = _run_tests(scratch, stage1, args.timeout,
                                                      logs / "mutant.log")
                    stage = 1
                    if status == "passed" and not args.no_stage2:
                        status, why, more = _run_tests(scratch, stage2, args.timeout,
                                                       logs / "mutant.log")
                        seconds += more
                        stage = 2
                finally:
                    (scratch / path).write_text(original)
                verdict = "survived" if status == "passed" else "killed"
                counts[verdict] += 1
                record = {"id": m.id, "file": path, "line": m.line,
                          "mutation": m.description, "before": m.before, "after": after,
                          "verdict": verdict, "status": status, "stage": stage,
                          "killed_by": why, "seconds": round(seconds, 2)}
                results.write(json.dumps(record) + "\n")
                results.flush()
                print(f"{verdict:8} {m.id:42} {m.description:36} {m.before} -> {after}"
                      f"  [{why or 'all passed'}] {seconds:.1f}s", flush=True)
    total = counts["killed"] + counts["survived"]
    print(f"killed {counts['killed']} / {total}, survived {counts['survived']}")
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
