"""The capstone: a char-LM from the learner's own functions.  Its gradients are graded like
every exercise (stub fails, solution passes, planted mistakes named); its training is run
here on small plans only (the full plan takes minutes: see docs/exercises.md)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from nplstm.exercises import EXERCISES, grade, grade_here, progress, solution_source, stub_source
from nplstm.exercises import capstone

YOURS = ("lstm_cell_forward", "lstm_cell_backward", "softmax_cross_entropy", "linear")
TINY = capstone.TrainingPlan(hidden=8, batch=4, seq_len=8, steps=4, eval_every=2,
                             eval_chars=256, eval_streams=4, eval_seq_len=16)


@pytest.fixture(autouse=True)
def tiny_training(monkeypatch):
    """Every test here trains (if at all) on the tiny plan unless it sets another."""
    monkeypatch.setattr(capstone, "PLAN", TINY)


def _folder(tmp_path, source, *, others=True):
    """tmp_path holding capstone.py (``source``) and, with ``others``, the solutions of the
    exercises it imports, as a learner who did them would have them."""
    if others:
        for name in YOURS:
            (tmp_path / f"{name}.py").write_text(solution_source(name), encoding="utf-8")
    path = tmp_path / "capstone.py"
    path.write_text(source, encoding="utf-8")
    return path


def _body() -> str:
    """The solution's body of char_lm_loss_and_grads, put into the stub: the learner's file
    with the learner's own files beside it."""
    stub = stub_source("capstone")
    solution = solution_source("capstone")
    start = solution.index("    T, B = inputs.shape")
    end = solution.index("    return (loss, *grads, dW_out, db_out)\n")
    body = solution[start:end] + "    return (loss, *grads, dW_out, db_out)\n"
    return stub.replace('    raise NotImplementedError("char_lm_loss_and_grads: write me")\n',
                        body)


def test_the_stub_imports_the_learners_own_files_and_holds_no_earlier_answer():
    stub = stub_source("capstone")
    for name in YOURS:
        assert re.search(rf"^from {name} import .*# yours: {name}\.py, beside this file$",
                         stub, re.MULTILINE)
    assert "def lstm_cell_backward" not in stub and "def softmax_cross_entropy" not in stub
    assert "def lstm_cell_backward" in solution_source("capstone")     # self-contained


def test_without_the_earlier_files_the_stub_says_which_is_missing(tmp_path):
    result = grade_here(_folder(tmp_path, stub_source("capstone"), others=False), "capstone")
    assert result.problem.startswith(f"{tmp_path / 'capstone.py'} imports lstm_cell_forward, "
                                     f"and there is no {tmp_path / 'lstm_cell_forward.py'}")


def test_the_stub_with_the_earlier_files_is_not_written_yet(tmp_path):
    result = grade_here(_folder(tmp_path, stub_source("capstone")), "capstone")
    assert result.reports[0].problem == ("not written yet: char_lm_loss_and_grads raises "
                                         "NotImplementedError")
    assert result.training is None and not result.passed


def test_the_learners_file_with_their_functions_passes_the_gradients(tmp_path):
    """The stub filled in, importing the four files beside it, in a child process; the tiny
    training runs and is reported (it is too short to beat the baseline)."""
    result = grade(_folder(tmp_path, _body()), "capstone")
    assert result.reports[0].passed, result.reports[0]
    curve = result.training["curve"]
    assert [row[0] for row in curve] == [2, 4]
    assert all(row[2] < 5.0 for row in curve)                 # ln 96 = 4.56 at the start
    assert result.training["passed"] is False and not result.passed
    assert "is not below the bigram baseline" in result.training["sentence"]
    text = str(result)
    assert "step  train loss  eval loss" in text
    assert text.endswith("FAIL: the training did not reach the bigram baseline")
    assert result._repr_html_().count("<tr>") == 1 + 7 + 1 + 2


PATH_H = "_, dh, dc, *step = lstm_cell_backward(dhs[t] + dh, dc, caches[t])"


@pytest.mark.parametrize("old, new, outputs, words", [
    (PATH_H, PATH_H.replace("dhs[t] + dh,", "dhs[t],"), ["dW_ih", "dW_hh"],
     "missing the path through h"),
    (PATH_H, PATH_H.replace(", dc, caches", ", 0 * dc, caches"), ["dW_ih", "db_hh"],
     "missing the path through c"),
    ("            total += g\n", "            total[...] = g\n", ["dW_ih", "db_ih"],
     "overwritten instead of summed over t"),
    ("    return (loss, *grads, dW_out, db_out)", "    return (loss, *grads, dW_out / 2, db_out)",
     ["dW_out"], "off by a factor of 0.5"),
])
def test_a_planted_mistake_is_named_and_nothing_is_trained(old, new, outputs, words, tmp_path):
    source = solution_source("capstone")
    assert source.count(old) == 1
    result = grade_here(_folder(tmp_path, source.replace(old, new), others=False), "capstone")
    rows = {row.name: row for row in result.reports[0].rows}
    for output in outputs:
        assert not rows[output].passed and words in rows[output].where, rows[output]
    assert result.training is None and not result.passed


def test_the_solution_beats_the_bigram_baseline_on_a_small_plan(tmp_path, monkeypatch):
    """A smaller plan than the grader's (H = 16, batches of 32 × 8, lr 1, 512 eval
    characters; it crosses near step 200 of the 400 allowed, in about a second): the
    solution's own gradients, trained by the grader, go below the bigram baseline."""
    plan = dataclasses.replace(capstone.PLAN, hidden=16, batch=32, seq_len=8, lr=1.0,
                               steps=400, eval_every=25, eval_chars=512, eval_streams=8,
                               eval_seq_len=32)
    monkeypatch.setattr(capstone, "PLAN", plan)
    result = grade_here(_folder(tmp_path, solution_source("capstone"), others=False),
                        "capstone")
    training = result.training
    assert training["passed"] and result.passed, str(result)
    assert training["curve"][-1][2] < training["baseline"] < training["curve"][0][2]
    assert training["sentence"].startswith("eval loss ")


def test_status_leaves_the_capstone_to_check(tmp_path):
    _folder(tmp_path, solution_source("capstone"), others=False)
    found = {p.exercise: p for p in progress(tmp_path)}
    assert found["capstone"].state == "not graded here"
    assert "nplstm exercise check capstone" in found["capstone"].detail
    assert EXERCISES["capstone"].timeout > 60
