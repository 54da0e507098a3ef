"""``nplstm exercise hint`` and ``status``: hints that get closer without giving the answer,
and a learner's progress read from their folder."""

from __future__ import annotations

import ast
import re

import pytest

from nplstm.cli.main import main
from nplstm.exercises import EXERCISES, LEVELS, hint, progress, solution_source, stub_source


def _solution_lines(name: str) -> list:
    """The code of the lines of the functions the learner writes (comments and docstrings
    out), without whitespace."""
    source = solution_source(name)
    lines = source.splitlines()
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in EXERCISES[name].functions:
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            for statement in body:
                for line in lines[statement.lineno - 1:statement.end_lineno]:
                    code = re.sub(r"\s+", "", line.split("#")[0])
                    if len(code) >= 6:
                        found.append(code)
    return found


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_three_hints_each_longer_and_none_a_solution_line(name):
    hints = [hint(name, level) for level in LEVELS]
    assert len(set(hints)) == 3 and all(len(h) > 60 for h in hints)
    lines = _solution_lines(name)
    assert lines, name
    for level, text in zip(LEVELS, hints):
        for line in lines:
            assert line not in _squeezed(text), (name, level, line)


def test_the_check_finds_a_solution_line_in_a_hint():
    """The check above can fail: a hint holding a solution line is caught."""
    line = next(l for l in solution_source("linear").splitlines() if "dy.T @ x" in l)
    leaky = "dW: " + line.split("#")[0]
    assert any(code in _squeezed(leaky) for code in _solution_lines("linear"))


@pytest.mark.parametrize("level, error", [(0, ValueError), (4, ValueError), (True, TypeError),
                                          ("1", TypeError)])
def test_a_bad_level_is_refused_naming_it(level, error):
    with pytest.raises(error, match="level must be 1, 2 or 3"):
        hint("linear", level)


def test_hint_cli_prints_the_level_and_how_to_get_closer(capsys):
    assert main(["exercise", "hint", "lstm_bptt"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"lstm_bptt, hint 1 of 3: {hint('lstm_bptt', 1)}\n")
    assert out.endswith("(a closer hint: --level 2)\n")
    assert main(["exercise", "hint", "lstm_bptt", "--level", "3"]) == 0
    assert "hint 3 of 3" in capsys.readouterr().out


def test_status_reads_the_learners_folder(tmp_path, capsys):
    (tmp_path / "sigmoid_tanh.py").write_text(solution_source("sigmoid_tanh"))
    (tmp_path / "linear.py").write_text(stub_source("linear"))
    (tmp_path / "softmax_cross_entropy.py").write_text(
        solution_source("softmax_cross_entropy").replace("dlogits /= N", "pass"))
    (tmp_path / "lstm_bptt.ipynb").write_text("{}")
    states = {p.exercise: (p.state, p.detail) for p in progress(tmp_path)}
    assert states["sigmoid_tanh"] == ("pass", "")
    assert states["linear"] == ("fail", "not written yet")
    assert states["softmax_cross_entropy"] == ("fail", "not right yet: softmax_cross_entropy")
    assert states["lstm_cell_forward"] == ("not started", "")
    assert states["lstm_bptt"] == ("notebook", "check it in its notebook")
    assert main(["exercise", "status", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["sigmoid_tanh", "pass"]
    assert out[1].split() == ["linear", "FAIL:", "not", "written", "yet"]
    assert out[-1] == f"1 of {len(EXERCISES)} exercises pass ({tmp_path})"
