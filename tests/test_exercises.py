"""nplstm exercise: the stubs fail, the solutions pass, planted mistakes are named, and a
learner's file cannot take the checker down (a crash, a syntax error, an endless loop).

Grading runs in this process (``grade_here``) wherever the subprocess is not what is tested;
three tests run the real ``nplstm exercise check`` in a fresh process.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from nplstm.cli.main import main
from nplstm.exercises import (EXERCISES, GradeResult, grade, grade_here, solution_source,
                              stub_source)
from nplstm.exercises.compare import OutputSpec, diagnose, relative_error
from nplstm.exercises.sequence_graders import SEQUENCE_GRADS

from .helpers import ROOT
from .strategies import seed

NAMES = list(EXERCISES)
QUICK = [name for name in NAMES if EXERCISES[name].quick]   # the capstone trains: its own file


def _write(tmp_path, name, source) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def _planted(tmp_path, name, old, new) -> Path:
    """The solution of ``name`` with one line changed (``old`` must occur exactly once)."""
    source = solution_source(name)
    assert source.count(old) == 1, f"{old!r} is not one line of the {name} solution"
    return _write(tmp_path, name, source.replace(old, new))


def _report(result: GradeResult, function: str):
    return next(r for r in result.reports if r.function == function)


def _cli(*argv):
    """``nplstm`` in this process; its exit status (capsys reads what it printed)."""
    return main(list(argv))


# --- the exercise files -------------------------------------------------------------------

@pytest.mark.parametrize("name", QUICK)
def test_the_solution_passes(name, tmp_path):
    result = grade_here(_write(tmp_path, name, solution_source(name)), name)
    assert result.passed, [(r.function, r.problem, r.rows) for r in result.reports]
    assert result.cases >= 4
    assert {r.function for r in result.reports} == set(EXERCISES[name].functions)


@pytest.mark.parametrize("name", QUICK)
def test_the_stub_is_not_written_yet(name, tmp_path):
    result = grade_here(_write(tmp_path, name, stub_source(name)), name)
    assert not result.passed
    for function in EXERCISES[name].functions:
        assert _report(result, function).problem == \
            f"not written yet: {function} raises NotImplementedError"


@pytest.mark.parametrize("name", NAMES)
def test_stub_and_solution_have_the_same_functions_and_docstrings(name):
    """The stub is the solution with the learner's bodies taken out, nothing else."""
    def functions(source):
        return {node.name: (ast.unparse(node.args), ast.get_docstring(node))
                for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}

    stub, solution = functions(stub_source(name)), functions(solution_source(name))
    if "# yours: " in stub_source(name):     # the capstone: the learner's own, imported
        solution = {f: solution[f] for f in stub}
    assert stub == solution
    assert set(EXERCISES[name].functions) <= set(stub)
    for function in EXERCISES[name].functions:
        assert stub[function][1] and "(" in stub[function][1]     # equations and shapes
    assert ast.get_docstring(ast.parse(stub_source(name))) == \
        ast.get_docstring(ast.parse(solution_source(name)))


def _math(text: str) -> str:
    """A line as an equation, whatever its notation: "dW = dy.T @ x" and the docstring's
    "dW = dyᵀ x" both become "dW=dyx"."""
    for old, new in [(".T", ""), ("ᵀ", ""), ("@", ""), ("⊙", ""), ("*", ""), ("np.", ""),
                     ("−", "-")]:
        text = text.replace(old, new)
    return "".join(text.split())


def _backward_lines(name) -> set:
    """The lines of the backward functions in the solution of ``name`` (every function the
    learner writes that is not a forward), as equations, a return as its expression; trivial
    ones left out (names alone, a renaming, a line shorter than 6 characters)."""
    source = solution_source(name)
    lines = source.splitlines()
    found = set()
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.FunctionDef) and node.name in EXERCISES[name].functions
                and "forward" not in node.name):
            continue
        for statement in node.body[1:]:                  # after the docstring
            for line in lines[statement.lineno - 1:statement.end_lineno]:
                code = line.split("#")[0].strip().removeprefix("return ")  # its expression
                if (len(_math(code)) >= 6 and not re.fullmatch(r"[\w, ]+", code)
                        and not re.fullmatch(r"[\w, ]+ = [\w, ]+", code)):
                    found.add(_math(code))
    return found


def test_the_stubs_do_not_give_the_backward_away():
    """No stub holds a line of any solution's backward, as code or as an equation in a
    docstring: a stub gives the task, the shapes, the forward equations and what the
    backward returns; what it needs from an earlier exercise it imports from nplstm."""
    lines = {name: _backward_lines(name) for name in NAMES}
    assert sum(len(found) for found in lines.values()) >= 25      # the check reads something
    for stub_name in NAMES:
        stub = _math(stub_source(stub_name))
        for name, found in lines.items():
            leaked = sorted(code for code in found if code in stub)
            assert not leaked, f"the {stub_name} stub holds {name}'s backward: {leaked}"
        assert "Compare:" not in stub_source(stub_name)


def test_notebook_01_and_the_docs_say_try_first():
    """Notebook 01 prints no line of the reference's backward (its outputs, as stored), and
    docs/exercises.md, like the README, sends the learner to the reference after trying."""
    import inspect
    import json

    from nplstm.functional import reference

    body = inspect.getsource(reference.lstm_step_backward).split('"""')[2]
    lines = [line.split("#")[0].strip() for line in body.splitlines()]
    forward = inspect.getsource(reference.lstm_step_forward)     # the notebook prints it
    lines = [line for line in lines if len(line) >= 12 and line not in forward]
    assert len(lines) >= 15
    notebook = json.loads((ROOT / "examples/notebooks/01_cell_by_hand.ipynb").read_text(
        encoding="utf-8"))
    printed = "".join("".join(output.get("text", "")) for cell in notebook["cells"]
                      for output in cell.get("outputs", []))
    assert printed and not [line for line in lines if line in printed]
    docs = (ROOT / "docs/exercises.md").read_text(encoding="utf-8")
    assert "reference.py` first" not in docs and "Try each exercise first" in docs


def test_the_exercise_files_are_packaged():
    """They live in packages that setuptools' find (pyproject's include nplstm*) picks up;
    run against an installed wheel (no source tree beside the tests), they are in it."""
    if not (ROOT / "nplstm").is_dir():
        import importlib.util
        assert importlib.util.find_spec("nplstm.exercises.solutions") is not None
        return
    setuptools = pytest.importorskip("setuptools")
    packages = setuptools.find_packages(str(ROOT), include=["nplstm*"])
    assert "nplstm.exercises.solutions" in packages


# --- planted mistakes ---------------------------------------------------------------------

CELL_SWAP_OLD = ("dz = np.concatenate([di * i * (1 - i),           "
                 "# (B, 4H) i = σ(z_i): σ' = s(1 − s)\n"
                 "                         df * f * (1 - f),")
CELL_SWAP_NEW = ("dz = np.concatenate([df * f * (1 - f),\n"
                 "                         di * i * (1 - i),")
BPTT_CALL = "dhs[t] + dh_next, dc_next, caches[t])"
RNN_FORWARD = "h = np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)"
TRAINED = ["losses", "W_ih", "W_hh", "b_ih", "b_hh", "W_out", "b_out", "h", "c"]
CLIPPED = ["clipped[0]", "clipped[1]", "clipped[2]"]

# (exercise, line, planted line, function, outputs, the words that name the mistake)
MISTAKES = [
    ("sigmoid_tanh", "return ds * s * (1 - s)", "return (ds * s * (1 - s)).T",
     "sigmoid_backward", None, "did you transpose it?"),
    ("sigmoid_tanh", "return dt * (1 - t * t)", "return -dt * (1 - t * t)",
     "tanh_backward", ["dz"], "sign flipped"),
    ("sigmoid_tanh", "return ds * s * (1 - s)", "return ds * s * (1 - s) / len(s)",
     "sigmoid_backward", ["dz"], "off by a factor of 0.3333"),
    ("linear", "dW = dy.T @ x", "dW = x.T @ dy", "linear_backward", None,
     "dW has shape (3, 2), expected (2, 3) = (O, I): did you transpose it?"),
    ("linear", "dx = dy @ W ", "dx = -dy @ W ", "linear_backward", ["dx"], "sign flipped"),
    ("linear", "db = dy.sum(axis=0)", "db = dy.mean(axis=0)", "linear_backward", ["db"],
     "off by a factor of 1/N = 1/4"),
    # an all-zero answer has relative error 1: kills max → min in relative_error's scale
    ("linear", "db = dy.sum(axis=0)", "db = np.zeros_like(b)", "linear_backward", ["db"],
     "all zeros: no gradient reaches it"),
    ("softmax_cross_entropy", "return loss, dlogits", "return loss, dlogits.T",
     "softmax_cross_entropy", None, "did you transpose it?"),
    ("softmax_cross_entropy", "return loss, dlogits", "return loss, -dlogits",
     "softmax_cross_entropy", ["dlogits"], "sign flipped"),
    ("softmax_cross_entropy", "    dlogits /= N ", "    dlogits /= 1 ",
     "softmax_cross_entropy", ["dlogits"], "off by a factor of N = 4"),
    ("lstm_cell_forward", "return h, c, CellCache", "return h.T, c, CellCache",
     "lstm_cell_forward", None, "h has shape (2, 1), expected (1, 2) = (B, H)"),
    ("lstm_cell_forward", "h = o * tanh_c ", "h = -o * tanh_c ", "lstm_cell_forward", ["h"],
     "sign flipped"),
    ("lstm_cell_forward", "i = sigmoid(z[:, 0 * H:1 * H])                   # (B, H)  i = σ(z_i)\n"
     "    f = sigmoid(z[:, 1 * H:2 * H])",
     "i = sigmoid(z[:, 1 * H:2 * H])\n    f = sigmoid(z[:, 0 * H:1 * H])",
     "lstm_cell_forward", ["h", "c"], "i from z's f block, f from z's i block"),
    ("lstm_cell_backward", "dW_ih = dz.T @ x", "dW_ih = x.T @ dz", "lstm_cell_backward", None,
     "dW_ih has shape (3, 8), expected (8, 3) = (4H, I): did you transpose it?"),
    ("lstm_cell_backward", "dx = dz @ W_ih ", "dx = -(dz @ W_ih) ", "lstm_cell_backward",
     ["dx"], "sign flipped"),
    ("lstm_cell_backward", "dc_total = dc + dh * o", "dc_total = dh * o", "lstm_cell_backward",
     ["dc_prev", "dh_prev", "dW_ih"], "missing the path through c"),
    ("lstm_cell_backward", "dc_prev = dc_total * f ", "dc_prev = dc_total ",
     "lstm_cell_backward",
     ["dc_prev"], "missing the forget gate"),
    ("lstm_cell_backward", CELL_SWAP_OLD, CELL_SWAP_NEW, "lstm_cell_backward",
     ["dW_ih", "dW_hh", "db_ih", "db_hh"], "gate blocks i and f swapped"),
    ("lstm_cell_backward", "db_hh = dz.sum(axis=0) ",
     "db_hh = dz[:, :1].sum(axis=0).repeat(dz.shape[1]) ",
     "lstm_cell_backward", ["db_hh"], "wrong in gate blocks f (rows H:2H), g (rows 2H:3H), "
     "o (rows 3H:4H); i right"),
    ("lstm_bptt", "dW_hh, db_ih, db_hh   # dh0", "dW_hh.T, db_ih, db_hh   # dh0",
     "lstm_backward", None, "dW_hh has shape (2, 8), expected (8, 2) = (4H, H)"),
    ("lstm_bptt", "return np.stack(dx), ", "return -np.stack(dx), ", "lstm_backward", ["dx"],
     "sign flipped"),
    ("lstm_bptt", BPTT_CALL, "dhs[t] + dh_next, 0 * dc_next, caches[t])", "lstm_backward",
     ["dh0", "dc0", "dx", "dW_ih"], "missing the path through c"),
    ("lstm_bptt", BPTT_CALL, "dhs[t], dc_next, caches[t])", "lstm_backward",
     ["dh0", "dx"], "missing the path through h"),
    ("lstm_bptt", BPTT_CALL, "(0 * dhs[t] if t == 1 else dhs[t]) + dh_next, dc_next, caches[t])",
     "lstm_backward", ["dx"], "wrong at time steps t = 0, 1 of 0 … 2: BPTT runs from t = 2 "
     "down, so look at step t = 1 first"),
    ("lstm_bptt", "        hs.append(h)\n", "        hs.append(h if len(hs) != 2 else 0 * h)\n",
     "lstm_forward", ["hs"], "so look at step t = 2 first"),
    # the hinted diagnoses (issue 22, item 3)
    ("lstm_bptt", "dW_ih += grads.weight_ih", "dW_ih = grads.weight_ih", "lstm_backward",
     ["dW_ih"], "overwritten instead of summed over t: the weights are used at every step"),
    ("lstm_bptt", "db_hh += grads.bias_hh", "db_hh = grads.bias_hh", "lstm_backward",
     ["db_hh"], "overwritten instead of summed over t"),
    ("linear", "db = dy.sum(axis=0)", "db = dy[0]", "linear_backward", ["db"],
     "not summed over the batch: the bias is added to every row"),
    ("lstm_cell_backward", "db_hh = dz.sum(axis=0) ", "db_hh = dz[-1] ", "lstm_cell_backward",
     ["db_hh"], "not summed over the batch"),
    ("linear", "dx = dy @ W ", "dx = dy @ W.T ", "linear_backward", None,
     "(line 20); transpose? dy @ W.T multiplies (1, 2) @ (3, 2), and dy @ W would fit"),
    ("lstm_cell_backward", "dW_hh = dz.T @ h_prev", "dW_hh = dz @ h_prev", "lstm_cell_backward",
     None, "; transpose? dz @ h_prev multiplies (1, 8) @ (1, 2), and dz.T @ h_prev would fit"),
    ("lstm_cell_forward", "g = np.tanh(z[:, 2 * H:3 * H])", "g = sigmoid(z[:, 2 * H:3 * H])",
     "lstm_cell_forward", ["h", "c"], "σ where tanh belongs: g = tanh(z_g)"),
    ("lstm_cell_forward", "h = o * tanh_c ", "h = o * sigmoid(c) ", "lstm_cell_forward", ["h"],
     "σ where tanh belongs: h = o ⊙ tanh(c)"),
    ("lstm_cell_backward", "dg * (1 - g * g)", "dg * g * (1 - g)", "lstm_cell_backward",
     ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"],
     "σ' where tanh' belongs: g = tanh(z_g)"),
    ("lstm_cell_backward", "dh * o * (1 - tanh_c * tanh_c)", "dh * o * tanh_c * (1 - tanh_c)",
     "lstm_cell_backward", ["dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"],
     "σ' where tanh' belongs: h = o ⊙ tanh(c)"),
    ("lstm_bptt", "dW_ih += grads.weight_ih",
     "dW_ih += np.concatenate([*np.split(grads.weight_ih, 4)[1::-1], "
     "*np.split(grads.weight_ih, 4)[2:]])", "lstm_backward", ["dW_ih"],
     "gate blocks i and f swapped"),
    # rnn_step (issue 22, new exercises)
    ("rnn_step", RNN_FORWARD,
     "h = 1 / (1 + np.exp(-(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)))",
     "rnn_step_forward", ["h"], "σ where tanh belongs: h = tanh(z)"),
    ("rnn_step", RNN_FORWARD, RNN_FORWARD.replace("h_prev @ W_hh.T", "h_prev @ W_hh"),
     "rnn_step_forward", ["h"], "h_prev W_hh where h_prev W_hhᵀ belongs"),
    ("rnn_step", RNN_FORWARD, RNN_FORWARD.replace(" + b_hh)", ")"), "rnn_step_forward", ["h"],
     "a bias missing"),
    ("rnn_step", RNN_FORWARD, RNN_FORWARD.replace("x @ W_ih.T", "x @ W_ih"), "rnn_step_forward",
     None, "transpose? x @ W_ih multiplies (1, 3) @ (2, 3), and x @ W_ih.T would fit"),
    ("rnn_step", "dz = dh * (1 - h * h)", "dz = dh", "rnn_step_backward",
     ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"], "missing tanh'"),
    ("rnn_step", "dz = dh * (1 - h * h)", "dz = dh * (1 - np.tanh(h) ** 2)", "rnn_step_backward",
     ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"], "tanh' applied to h"),
    ("rnn_step", "dz = dh * (1 - h * h)", "dz = dh * h * (1 - h)", "rnn_step_backward",
     ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"], "σ' where tanh' belongs"),
    ("rnn_step", "dh_prev = dz @ W_hh ", "dh_prev = dz @ W_hh.T ", "rnn_step_backward",
     ["dh_prev"], "dh_prev = dz W_hhᵀ"),
    ("rnn_step", "dW_hh = dz.T @ h_prev", "dW_hh = h_prev.T @ dz", "rnn_step_backward",
     ["dW_hh"], "off by a transpose"),
    ("rnn_step", "db_ih = dz.sum(axis=0)", "db_ih = dz[0]", "rnn_step_backward", ["db_ih"],
     "not summed over the batch"),
    ("rnn_step", "dx = dz @ W_ih ", "dx = dz @ W_ih.T ", "rnn_step_backward", None,
     "transpose? dz @ W_ih.T multiplies (1, 2) @ (3, 2), and dz @ W_ih would fit"),
    # truncated_bptt (issue 22, new exercises)
    ("truncated_bptt", "h, c = h_n, c_n ", "h, c = h0, c0 ", "train_truncated", TRAINED,
     "the state not carried"),
    ("truncated_bptt", "lstm_backward(dhead.x.reshape(hs.shape), None, None, cache)",
     "lstm_backward(dhead.x.reshape(hs.shape), *locals().get('carried', (None, None)), "
     "cache)\n        carried = (grads.h0, grads.c0)  # dh0, dc0 into the next chunk",
     "train_truncated", TRAINED, "the gradient not stopped at the chunk boundary"),
    ("truncated_bptt", "return [g * factor for g in grads]",
     "return [g * min(1.0, max_norm / (np.sqrt(np.sum(g * g)) + 1e-6)) for g in grads]",
     "clip_global_norm", CLIPPED, "clipped per array: the norm is global"),
    ("truncated_bptt", "return [g * factor for g in grads]",
     "return [g * min(1.0, max_norm / (np.sqrt(np.sum(g * g)) + 1e-6)) for g in grads]",
     "train_truncated", TRAINED, "clipped per array: the norm is global"),
    ("truncated_bptt", "factor = min(1.0, max_norm / (total + 1e-6))",
     "factor = max_norm / (total + 1e-6)", "clip_global_norm", CLIPPED,
     "scaled although the global norm is below max_norm"),
    ("truncated_bptt", "factor = min(1.0, max_norm / (total + 1e-6))",
     "factor = min(1.0, max_norm / total)", "clip_global_norm", CLIPPED,
     "without torch's 1e-6"),
    ("truncated_bptt", "total = np.sqrt(sum(", "total = (sum(", "clip_global_norm", CLIPPED,
     "the norm without its square root"),
    ("truncated_bptt", "        clipped = clip_global_norm([",
     "        clipped = (lambda g, n: g)([", "train_truncated", TRAINED, "not clipped"),
]


@pytest.mark.parametrize("name, old, new, function, outputs, words", MISTAKES,
                         ids=[f"{m[0]}-{m[5][:30]}" for m in MISTAKES])
def test_a_planted_mistake_is_named(name, old, new, function, outputs, words, tmp_path):
    result = grade_here(_planted(tmp_path, name, old, new), name)
    assert not result.passed
    report = _report(result, function)
    if outputs is None:                         # a shape: one sentence instead of a table
        assert words in report.problem, report.problem
        return
    rows = {row.name: row for row in report.rows}
    for output in outputs:
        assert not rows[output].passed
        assert words in rows[output].where, (output, rows[output].where)
    right = [row for row in report.rows if row.passed]
    assert all(not row.where for row in right)


def test_a_wrong_result_carries_errors_and_places_never_values(tmp_path):
    """What grading hands over (JSON to the CLI) holds sentences and error sizes only."""
    path = _planted(tmp_path, "lstm_cell_backward", "dc_prev = dc_total * f ",
                    "dc_prev = dc_total ")
    data = grade_here(path, "lstm_cell_backward").to_dict()

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        else:
            yield value

    assert all(isinstance(v, (str, int, float, type(None))) for v in leaves(data))
    assert GradeResult.from_dict(data).to_dict() == data


def test_a_wrong_dtype_and_a_wrong_number_of_values_are_sentences(tmp_path):
    path = _planted(tmp_path, "linear", "return dx, dW, db", "return dx.astype(np.float32), dW, db")
    assert _report(grade_here(path, "linear"), "linear_backward").problem == (
        "dx has dtype float32, expected float64 (the inputs' dtype): keep the dtype of the "
        "arrays you are given")
    path = _planted(tmp_path, "linear", "return dx, dW, db", "return dx, dW")
    assert _report(grade_here(path, "linear"), "linear_backward").problem == \
        "linear_backward returned 2 values, expected 3: dx, dW, db"


# --- a learner's file cannot take the checker down ----------------------------------------

def test_a_crash_is_one_line_naming_the_exception_and_the_line(tmp_path):
    source = solution_source("linear")
    lineno = source.splitlines().index("    db = dy.sum(axis=0)                      # (O,)    "
                                       "y = … + b, b on every row") + 1
    path = _planted(tmp_path, "linear", "    db = dy.sum(axis=0)", "    db = [][3]")
    problem = _report(grade_here(path, "linear"), "linear_backward").problem
    assert problem == ("linear_backward crashed: IndexError: list index out of range "
                       f"(line {lineno})")


def test_a_syntax_error_is_one_line_naming_the_file_and_line(tmp_path):
    path = _planted(tmp_path, "linear", "    dW = dy.T @ x", "    dW = dy.T @@ x")
    lineno = next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                  if "@@" in line)
    result = grade_here(path, "linear")
    assert not result.passed and not result.reports
    assert result.problem == f"{path}, line {lineno}: syntax error: invalid syntax"
    assert "\n" not in result.problem


def test_a_crash_on_import_is_one_line(tmp_path):
    path = _write(tmp_path, "linear", "import numpy as np\nnp.zeros(3) + np.zeros(4)\n")
    problem = grade_here(path, "linear").problem
    assert problem.startswith(f"{path} crashed on import: ValueError: operands could not be")
    assert problem.endswith("(line 2)")


def test_an_endless_loop_is_stopped_by_the_time_limit(tmp_path):
    path = _planted(tmp_path, "linear", "    dx = dy @ W ",
                    "    while True:\n        pass\n    dx = dy @ W ")
    result = grade(path, "linear", timeout=1.5)
    assert not result.passed
    assert result.problem == ("stopped after 1.5 s: does linear.py loop forever? (raise the "
                              "limit with --timeout)")


def test_check_runs_in_a_fresh_process(tmp_path, capsys):
    """The real command: a solution passes (exit 0), a stub fails (exit 1), one process each;
    a learner's os._exit ends the child, not the checker."""
    env_dir = str(tmp_path)
    _write(tmp_path, "linear", solution_source("linear"))
    run = subprocess.run([sys.executable, "-m", "nplstm", "exercise", "check", "linear",
                          "--dir", env_dir], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines()[-1] == "PASS: linear is right"
    assert _cli("exercise", "start", "sigmoid_tanh", "--dir", env_dir) == 0
    assert _cli("exercise", "check", "sigmoid_tanh", "--dir", env_dir) == 1
    out = capsys.readouterr().out
    assert "not written yet: sigmoid_backward raises NotImplementedError" in out
    assert out.splitlines()[-1] == "FAIL: sigmoid_backward, tanh_backward not right yet"
    _write(tmp_path, "softmax_cross_entropy", "import os\nos._exit(3)\n")
    result = grade(tmp_path / "softmax_cross_entropy.py", "softmax_cross_entropy")
    assert result.problem == ("grading softmax_cross_entropy.py ended without a result "
                              "(exit status 3)")


# --- the other commands -------------------------------------------------------------------

def test_start_writes_the_stub_and_never_overwrites(tmp_path, capsys):
    folder = tmp_path / "new"
    assert _cli("exercise", "start", "lstm_cell_backward", "--dir", str(folder)) == 0
    path = folder / "lstm_cell_backward.py"
    assert path.read_text(encoding="utf-8") == stub_source("lstm_cell_backward")
    path.write_text("my work", encoding="utf-8")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        _cli("exercise", "start", "lstm_cell_backward", "--dir", str(folder))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "exists already" in err
    assert path.read_text(encoding="utf-8") == "my work"


@pytest.mark.parametrize("action", ["start", "check", "solution"])
def test_an_unknown_name_is_one_line_listing_the_names(action, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        _cli("exercise", action, "lstm_cel_backward", *(["--dir", str(tmp_path)]
                                                        if action != "solution" else []))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == (f"nplstm exercise {action}: error: unknown exercise 'lstm_cel_backward'; "
                   f"the exercises are: {', '.join(NAMES)}\n")
    assert not any(tmp_path.iterdir())


def test_check_without_the_file_and_a_bad_timeout_are_usage_errors(tmp_path, capsys):
    for argv in (["check", "linear", "--dir", str(tmp_path)],
                 ["check", "linear", "--timeout", "0"]):
        with pytest.raises(SystemExit) as exit_:
            _cli("exercise", *argv)
        assert exit_.value.code == 2
        assert len(capsys.readouterr().err.splitlines()) == 1


def test_list_and_solution(capsys):
    assert _cli("exercise", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    assert _cli("exercise", "solution", "lstm_bptt") == 0
    assert capsys.readouterr().out == solution_source("lstm_bptt")


# --- the diagnoses, on generated arrays ---------------------------------------------------

@given(seed=seed, H=st.integers(1, 4), I=st.integers(1, 5),
       swap=st.sampled_from([(0, 1), (0, 3), (2, 3), (1, 2)]))
def test_diagnoses_name_sign_factor_and_swapped_blocks(seed, H, I, swap):
    rng = np.random.default_rng(seed)
    want = rng.standard_normal((4 * H, I)) + 0.1
    spec = OutputSpec("dW_ih", ("4H", "I"), gate_axis=0)
    assert relative_error(want, want) == 0
    assert diagnose(spec, -want, want) == "sign flipped"
    assert diagnose(spec, 3 * want, want, sizes={"N": 3}) == "off by a factor of N = 3"
    blocks = np.split(want, 4)
    a, b = swap
    blocks[a], blocks[b] = blocks[b], blocks[a]
    assert diagnose(spec, np.concatenate(blocks), want) == (
        f"gate blocks {'ifgo'[a]} and {'ifgo'[b]} swapped (torch's order along 4H is i, f, g, o)")


@given(seed=seed, T=st.integers(2, 5), t=st.integers(0, 4))
def test_diagnoses_name_the_time_step(seed, T, t):
    t = t % (T - 1)                           # at least the last step is right
    rng = np.random.default_rng(seed)
    want = rng.standard_normal((T, 2, 3)) + 0.1
    got = want.copy()
    got[:t + 1] *= 1.5                        # BPTT: a mistake at t reaches the steps before
    spec = OutputSpec("dx", ("T", "B", "I"), time_axis=0)
    assert diagnose(spec, got, want).endswith(f"so look at step t = {t} first")


def test_grade_refuses_bad_arguments_with_a_clear_error(tmp_path):
    path = _write(tmp_path, "linear", solution_source("linear"))
    with pytest.raises(ValueError, match="unknown exercise 'lstm'; the exercises are: "):
        grade(path, "lstm")
    with pytest.raises(TypeError, match="name must be the name of an exercise"):
        grade(path, ["linear"])
    with pytest.raises(TypeError, match="path must be a str or a path"):
        grade(3, "linear")
    with pytest.raises(TypeError, match=r"timeout \(seconds\) must be a finite real number .*, got str"):
        grade(path, "linear", timeout="60")
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"timeout \(seconds\) must be a finite real number in \(0, 31536000\]"):
            grade(path, "linear", timeout=bad)
    with pytest.raises(FileNotFoundError, match="nplstm exercise start lstm_bptt"):
        grade(tmp_path / "lstm_bptt.py", "lstm_bptt")


def test_a_forward_changed_to_another_shape_is_a_sentence(tmp_path):
    """lstm_cell_backward's differences run the learner's forward: a broken one is named."""
    path = _planted(tmp_path, "lstm_cell_backward", "return h, c, CellCache",
                    "return h[:, :1], c, CellCache")
    problem = _report(grade_here(path, "lstm_cell_backward"), "lstm_cell_backward").problem
    assert problem == ("your forward's h has shape (1, 1), expected shape (1, 2): the "
                       "central differences need a forward that runs")


# --- the comparisons' edge cases (each kills a mutant the suite missed, issue 21) ----------

def test_relative_error_of_an_all_zero_answer_is_one():
    """Kills ``max`` → ``min`` in relative_error's scale: with min, an all-zero answer has
    scale 0 and error 0, and zeros would pass."""
    want = np.array([[0.5, -2.0], [1.0, 0.25]])
    assert relative_error(np.zeros_like(want), want) == 1.0
    assert relative_error(want, np.zeros_like(want)) == 1.0


def test_relative_error_is_relative():
    """Kills ``/ scale`` → ``* scale``: max|got − want| = 2 over max(|got|, |want|) = 3 is
    2/3, and scaling both by 2^10 changes nothing (exactly, powers of two)."""
    got, want = np.array([3.0, -1.0]), np.array([1.0, -1.0])
    assert relative_error(got, want) == 2 / 3
    assert relative_error(1024 * got, 1024 * want) == 2 / 3
    assert relative_error(got / 1024, want / 1024) == 2 / 3


def test_relative_error_of_nothing_and_of_zeros_is_zero():
    """Pins 0/0 (both all zeros: 0, not NaN; kills dropping ``if scale > 0``) and empty
    outputs (0; kills dropping ``if got.size == 0``, whose max would raise), and NaN or inf
    in the answer (inf)."""
    with np.errstate(all="raise"):
        assert relative_error(np.zeros((2, 3)), np.zeros((2, 3))) == 0.0
        assert relative_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    assert relative_error(np.array([1.0, np.nan]), np.ones(2)) == float("inf")
    assert relative_error(np.array([1.0, -np.inf]), np.ones(2)) == float("inf")


@pytest.mark.parametrize("returned", ["np.asarray(loss)", "float(loss)", "np.float64(loss)"])
def test_a_right_loss_as_a_0d_array_or_a_float_passes(returned, tmp_path):
    """checked_output takes a loss returned as a 0-d array (kills dropping its
    ``isinstance(got, np.ndarray) and got.shape == ()`` branch) or as a float."""
    path = _planted(tmp_path, "softmax_cross_entropy", "return loss, dlogits",
                    f"return {returned}, dlogits")
    result = grade_here(path, "softmax_cross_entropy")
    assert result.passed, result.reports


@pytest.mark.parametrize("returned, sentence", [
    ("[loss], dlogits", "loss is a list, expected a single float (e.g. the .mean() of an "
                        "array)"),
    ("np.array([loss]), dlogits", "loss is a ndarray of shape (1,), expected a single float "
                                  "(e.g. the .mean() of an array)"),
    ("loss, dlogits.tolist()", "dlogits is a list, expected a NumPy array of shape (1, 3) = "
                               "(N, C)"),
])
def test_a_loss_or_gradient_of_the_wrong_type_is_its_sentence(returned, sentence, tmp_path):
    """checked_output's sentences for a list where a float or an array belongs (kills
    accepting any sequence, and a changed message)."""
    path = _planted(tmp_path, "softmax_cross_entropy", "return loss, dlogits",
                    f"return {returned}")
    report = _report(grade_here(path, "softmax_cross_entropy"), "softmax_cross_entropy")
    assert report.problem == sentence


def test_softmax_cross_entropy_is_graded_on_a_batch_of_one(tmp_path):
    """A mean taken as ``/ max(N, 2)`` is right for every batch but N = 1: it fails, so the
    (N, C) = (1, 3) case cannot vanish from the grader unseen."""
    path = _planted(tmp_path, "softmax_cross_entropy", "    dlogits /= N ",
                    "    dlogits /= max(N, 2) ")
    report = _report(grade_here(path, "softmax_cross_entropy"), "softmax_cross_entropy")
    rows = {row.name: row for row in report.rows}
    assert rows["loss"].passed
    assert not rows["dlogits"].passed
    assert rows["dlogits"].where == "off by a factor of 0.5"


# --- diagnoses that must not mislead (issue 22, item 2) ------------------------------------

def test_a_factor_is_claimed_only_on_enough_elements():
    """A one- or two-element output makes any wrong value look like a factor: one is claimed
    there only when it is a named size; on three or more elements, when the ratio is the
    same across all of them."""
    spec = OutputSpec("db", ("O",))
    for want in (np.array([0.7]), np.array([0.7, -1.3])):
        assert diagnose(spec, 2.76 * want, want, sizes={"N": 4}) == ""
        assert diagnose(spec, 4 * want, want, sizes={"N": 4}) == "off by a factor of N = 4"
        assert diagnose(spec, want / 4, want, sizes={"N": 4}) == "off by a factor of 1/N = 1/4"
    want = np.array([0.7, -1.3, 0.2])
    assert diagnose(spec, 2.76 * want, want, sizes={"N": 4}) == "off by a factor of 2.76"
    assert diagnose(spec, want * [2.76, 2.76, 1.0], want, sizes={"N": 4}) == ""


def test_a_bias_not_summed_over_the_batch_is_no_factor(tmp_path):
    """``db = dy[0]`` was "off by a factor of 2.76": linear's case with O = 1 has a
    one-element db."""
    path = _planted(tmp_path, "linear", "db = dy.sum(axis=0)", "db = dy[0]")
    row = _report(grade_here(path, "linear"), "linear_backward").rows[2]
    assert row.name == "db" and not row.passed
    assert "factor" not in row.where, row.where


FLOAT32 = ("right to float32 precision only: compute in float64 (a float32 array, or an "
           "astype(np.float32), on the way?)")
TO_FLOAT32 = ".astype(np.float32).astype(np.float64)"


@pytest.mark.parametrize("name, old, new, function, outputs", [
    ("sigmoid_tanh", "return ds * s * (1 - s)", f"return (ds * s * (1 - s)){TO_FLOAT32}",
     "sigmoid_backward", ["dz"]),
    ("linear", "dW = dy.T @ x", f"dW = (dy.T @ x){TO_FLOAT32}", "linear_backward", ["dW"]),
    ("lstm_cell_backward", "    dx = dz @ W_ih ", f"    dz = dz{TO_FLOAT32}\n    dx = dz @ W_ih ",
     "lstm_cell_backward", ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]),
    ("lstm_bptt", "        hs.append(h)\n", f"        hs.append(h{TO_FLOAT32})\n",
     "lstm_forward", ["hs"]),
])
def test_float32_round_off_is_named_and_no_forward_is_blamed(name, old, new, function,
                                                              outputs, tmp_path):
    """Computing in float32 was "your forward computes something else", even in exercises
    where the learner wrote no forward: it is round-off at float32 level, named so, and
    "your forward" is said only where the learner wrote one."""
    result = grade_here(_planted(tmp_path, name, old, new), name)
    rows = {row.name: row for row in _report(result, function).rows}
    assert {n for n, row in rows.items() if not row.passed} == set(outputs)
    for output in outputs:
        assert 1e-8 <= rows[output].reference < 1e-5
        assert rows[output].where == FLOAT32
    if name in ("sigmoid_tanh", "linear", "lstm_cell_backward"):
        assert not any("your forward" in row.where for r in result.reports for row in r.rows)


def test_dc_prev_from_the_upstream_dc_is_named(tmp_path):
    """dc_prev = f ⊙ (the dc that arrived), everything else right: named, not only located."""
    source = solution_source("lstm_cell_backward")
    for old, new in [("    dc_prev = dc_total * f ", "    dc_prev = dc * f ")]:
        assert source.count(old) == 1
        source = source.replace(old, new)
    result = grade_here(_write(tmp_path, "lstm_cell_backward", source), "lstm_cell_backward")
    rows = {row.name: row for row in _report(result, "lstm_cell_backward").rows}
    assert [name for name, row in rows.items() if not row.passed] == ["dc_prev"]
    assert rows["dc_prev"].where == (
        "dc_prev from the upstream dc alone: c_prev reaches L through all of ∂L/∂c, dc plus "
        "the part coming through h = o ⊙ tanh(c)")


# --- wrong solutions that passed (issue 22, item 4) ----------------------------------------

NO_MAX_SHIFT = ("overflows for large logits (this case's are near 750, and e^750 is inf in "
                "float64): subtract each row's maximum before exponentiating, "
                "softmax(z) = softmax(z − max z)")

NAIVE_SOFTMAX = """
import numpy as np


def softmax_cross_entropy(logits, targets):
    N = len(logits)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), targets]).mean()
    dlogits = p.copy()
    dlogits[np.arange(N), targets] -= 1
    return loss, dlogits / N
"""


@pytest.mark.parametrize("form", ["log-softmax", "naive"])
def test_a_softmax_without_the_max_shift_fails_with_its_name(form, tmp_path):
    """Right on ordinary logits, a softmax that does not subtract the row maximum overflows
    on the case whose logits are near 750: both outputs fail, and the mistake is named."""
    if form == "naive":
        path = _write(tmp_path, "softmax_cross_entropy", NAIVE_SOFTMAX)
    else:
        path = _planted(tmp_path, "softmax_cross_entropy",
                        "shifted = logits - logits.max(axis=1, keepdims=True)",
                        "shifted = logits + 0 * logits.max(axis=1, keepdims=True)")
    result = grade_here(path, "softmax_cross_entropy")
    assert result.cases == 5
    rows = _report(result, "softmax_cross_entropy").rows
    assert [(row.name, row.passed, row.where) for row in rows] == [
        ("loss", False, NO_MAX_SHIFT), ("dlogits", False, NO_MAX_SHIFT)]


STATEFUL_RESET_ON_SHAPE = (
    "    dh_next = np.zeros_like(dhs[0])                  # (B, H) nothing arrives after the "
    "last step\n    dc_next = np.zeros_like(dhs[0])                  # (B, H)\n",
    "    global dh_next, dc_next\n"
    "    if 'dh_next' not in globals() or dh_next.shape != dhs[0].shape:\n"
    "        dh_next, dc_next = np.zeros_like(dhs[0]), np.zeros_like(dhs[0])\n")
MEMO_BY_SHAPE = (
    "def lstm_backward(dhs, cache):\n",
    "MEMO = {}\n\n\ndef lstm_backward(dhs, cache):\n"
    "    if dhs.shape not in MEMO:\n"
    "        MEMO[dhs.shape] = _lstm_backward(dhs, cache)\n"
    "    return MEMO[dhs.shape]\n\n\ndef _lstm_backward(dhs, cache):\n")
FORWARD_MEMO_BY_SHAPE = (
    "def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):\n",
    "MEMO = {}\n\n\ndef lstm_forward(*inputs):\n"
    "    if inputs[0].shape not in MEMO:\n"
    "        MEMO[inputs[0].shape] = _lstm_forward(*inputs)[0]\n"
    "    return MEMO[inputs[0].shape], _lstm_forward(*inputs)[1]\n\n\n"
    "def _lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):\n")


def test_a_backward_that_keeps_dh_and_dc_in_a_global_fails(tmp_path):
    """BPTT carrying dh and dc in module-level variables, reset only when the shapes change,
    passed (every case had other shapes): each call is now made twice, and the second one's
    answer differs."""
    result = grade_here(_planted(tmp_path, "lstm_bptt", *STATEFUL_RESET_ON_SHAPE), "lstm_bptt")
    assert _report(result, "lstm_forward").passed
    assert _report(result, "lstm_backward").problem == (
        "lstm_backward gave another answer when called again with the same arguments: does "
        "it keep state between calls (a module-level variable)? Each call must start afresh")


@pytest.mark.parametrize("function, planted, outputs", [
    ("lstm_backward", MEMO_BY_SHAPE, list(SEQUENCE_GRADS)),
    ("lstm_forward", FORWARD_MEMO_BY_SHAPE, ["hs"]),
])
def test_an_answer_kept_from_the_previous_call_fails(function, planted, outputs, tmp_path):
    """A function that returns what it computed for the previous call of the same shapes
    (same answer when called twice): the case after it has the same sizes and another
    sequence, and its answer is named as the previous one."""
    result = grade_here(_planted(tmp_path, "lstm_bptt", *planted), "lstm_bptt")
    assert result.cases == 5
    rows = {row.name: row for row in _report(result, function).rows}
    assert [name for name, row in rows.items() if not row.passed] == outputs
    for name in outputs:
        assert rows[name].where == (
            "is the answer to the previous call (the same shapes, another sequence): does it "
            "keep state between calls (a module-level variable)?")


def test_the_rnn_step_grader_is_torchs_rnn(tmp_path):
    """rnn_step's right answers (nplstm.functional's RNN over one step) are torch.nn.RNN's:
    the same h and the same gradients, float64."""
    torch = pytest.importorskip("torch")
    from nplstm.exercises.mistakes import reference_rnn_step

    rng = np.random.default_rng(3)
    B, I, H = 3, 4, 5
    x, h, dh = rng.standard_normal((B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    rnn = torch.nn.RNN(I, H).double()
    weights = [p.detach().numpy().copy() for p in (rnn.weight_ih_l0, rnn.weight_hh_l0,
                                                   rnn.bias_ih_l0, rnn.bias_hh_l0)]
    h_new, grads = reference_rnn_step(x, h, *weights, dh)
    xt = torch.tensor(x[None], requires_grad=True)
    ht = torch.tensor(h[None], requires_grad=True)
    out, _ = rnn(xt, ht)
    (out[0] * torch.tensor(dh)).sum().backward()
    want = [xt.grad[0], ht.grad[0], rnn.weight_ih_l0.grad, rnn.weight_hh_l0.grad,
            rnn.bias_ih_l0.grad, rnn.bias_hh_l0.grad]
    np.testing.assert_allclose(h_new, out[0].detach().numpy(), rtol=1e-12, atol=1e-14)
    for got, expected in zip(grads, want):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-10, atol=1e-13)
