"""Exercise gru_cell: each planted mistake of issue 25 (r on h_prev instead of on the
recurrent term, z's two roles swapped, a path back to h_prev missing) and its neighbours is
named; what the grader calls a mistake is what that mistake computes (central differences of
the mistaken forward), and with no mistake its step is nplstm's reference."""

from __future__ import annotations

import numpy as np
import pytest

from nplstm.exercises import grade_here
from nplstm.exercises.compare import central_differences, projection
from nplstm.exercises.mistakes import gru_step
from nplstm.functional import reference

from .test_exercises import _planted, _report

GRADS = ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]
N_LINE = "n = np.tanh(gi_n + r * gh_n)"
H_LINE = "h = (1 - z) * n + z * h_prev"
DH_PREV = "dh_prev = dh_direct + dgh @ W_hh"
SWAPPED_BACKWARD = ("dn = dh * z\n    dz = dh * (n - h_prev)\n    dh_direct = dh * (1 - z)\n"
                    "    _ = None")
R_ON_H_FORWARD = "n = np.tanh(gi_n + (r * h_prev) @ W_hh[2 * H:].T + b_hh[2 * H:])"
# the backward of R_ON_H_FORWARD, written right for it: what a learner who read the paper's
# equations (Keras reset_after=False) writes
R_ON_H_BACKWARD = [
    ("dr = da_n * gh_n ", "H = len(r[0])\n    d_rh = da_n @ W_hh[2 * H:]\n"
                          "    dr = d_rh * h_prev "),
    ("dgh_n = da_n * r ", "dgh_n = da_n "),
    (DH_PREV, "dh_prev = dh_direct + dgh[:, :2 * H] @ W_hh[:2 * H] + d_rh * r"),
    ("dW_hh = dgh.T @ h_prev", "dW_hh = np.concatenate([dgh[:, :2 * H].T @ h_prev, "
                               "da_n.T @ (r * h_prev)])"),
]

# (the solution's line(s), planted, function, outputs that must fail, the words naming it
# there[, other outputs that fail]); every other output passes
MISTAKES = [
    # issue 25's three: r on h_prev, z swapped, a missing path through h
    ([(N_LINE, R_ON_H_FORWARD)], "gru_cell_forward", ["h"],
     "r applied to h_prev: torch multiplies r into the whole recurrent term"),
    ([(N_LINE, R_ON_H_FORWARD)] + R_ON_H_BACKWARD, "gru_cell_backward",
     ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"], "r applied to h_prev"),
    ([(H_LINE, "h = z * n + (1 - z) * h_prev")], "gru_cell_forward", ["h"],
     "z's two roles swapped: z is the share of the old state"),
    ([("dn = dh * (1 - z)", "dn = dh * z"), ("dz = dh * (h_prev - n)", "dz = dh * (n - h_prev)"),
      ("dh_direct = dh * z", "dh_direct = dh * (1 - z)")], "gru_cell_backward",
     ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"], "z's two roles swapped"),
    ([(DH_PREV, "dh_prev = dgh @ W_hh")], "gru_cell_backward", ["dh_prev"],
     "missing the direct path through h_prev: h = … + z ⊙ h_prev"),
    ([(DH_PREV, "dh_prev = dh_direct")], "gru_cell_backward", ["dh_prev"],
     "missing the paths through W_hh"),
    ([("dgh_n = da_n * r ", "dgh_n = da_n ")], "gru_cell_backward",
     ["dh_prev", "dW_hh", "db_hh"], "r missing from the gradient of gh_n"),
    ([("dr = da_n * gh_n ", "dr = 0 * gh_n ")], "gru_cell_backward",
     ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"], "missing the path through r"),
    # their neighbours
    ([(N_LINE, "n = np.tanh(gi_n + r * (h_prev @ W_hh[2 * H:].T) + b_hh[2 * H:])")],
     "gru_cell_forward", ["h"], "b_hn left outside r"),
    ([(N_LINE, "n = sigmoid(gi_n + r * gh_n)")], "gru_cell_forward", ["h"],
     "σ where tanh belongs: n = tanh"),
    ([("r = sigmoid(gi_r + gh_r)", "r = sigmoid(gi_z + gh_z)"),
      ("z = sigmoid(gi_z + gh_z)", "z = sigmoid(gi_r + gh_r)")], "gru_cell_forward", ["h"],
     "r from the z block, z from the r block (torch's order along 3H is r, z, n)"),
    ([("da_n = dn * (1 - n * n)", "da_n = dn * n * (1 - n)")], "gru_cell_backward",
     ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"], "σ' where tanh' belongs: n"),
    ([("db_hh = dgh.sum(axis=0)", "db_hh = dgh[0]")], "gru_cell_backward", ["db_hh"],
     "not summed over the batch"),
    ([("dgi = np.concatenate([da_r, da_z, da_n]", "dgi = np.concatenate([da_z, da_r, da_n]")],
     "gru_cell_backward", ["dW_ih", "db_ih"],
     "gate blocks r and z swapped (torch's order along 3H is r, z, n)", ["dx"]),
    ([("dW_hh = dgh.T @ h_prev", "dW_hh = dgh.T @ h_prev * np.r_[1, 1, 0].repeat(len(r[0]))"
       "[:, None]")], "gru_cell_backward", ["dW_hh"],
     "wrong in gate block n (rows 2H:3H); r, z right"),
]


def _planted_many(tmp_path, changes):
    path = _planted(tmp_path, "gru_cell", *changes[0])
    source = path.read_text(encoding="utf-8")
    for old, new in changes[1:]:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    path.write_text(source, encoding="utf-8")
    return path


@pytest.mark.parametrize("changes, function, outputs, words, others",
                         [m if len(m) == 5 else (*m, []) for m in MISTAKES],
                         ids=[f"{m[1]}-{m[3][:40]}" for m in MISTAKES])
def test_a_planted_gru_mistake_is_named(changes, function, outputs, words, others, tmp_path):
    result = grade_here(_planted_many(tmp_path, changes), "gru_cell")
    assert not result.passed
    report = _report(result, function)
    assert not report.problem, report.problem
    rows = {row.name: row for row in report.rows}
    for output in outputs:
        assert not rows[output].passed, output
        assert words in rows[output].where, (output, rows[output].where)
    right = [row for row in report.rows if row.passed]
    assert {row.name for row in right} == set(rows) - set(outputs) - set(others)
    assert all(not row.where for row in right)


def test_a_backward_that_follows_its_mistaken_forward_agrees_with_its_differences(tmp_path):
    """The r-on-h_prev learner of the table above: their backward is right for their own
    forward (central differences agree), and the grade still names the mistake."""
    result = grade_here(_planted_many(tmp_path, [(N_LINE, R_ON_H_FORWARD)] + R_ON_H_BACKWARD),
                        "gru_cell")
    rows = _report(result, "gru_cell_backward").rows
    assert all(row.differences < 1e-6 and row.reference > 1e-3 for row in rows)


def _inputs(seed, B=3, I=4, H=2):
    rng = np.random.default_rng(seed)
    shapes = [(B, I), (B, H), (3 * H, I), (3 * H, H), (3 * H,), (3 * H,)]
    return [0.7 * rng.standard_normal(s) for s in shapes], rng.standard_normal((B, H))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_mistake_free_step_is_the_reference(seed):
    inputs, dh = _inputs(seed)
    h, cache = reference.gru_step_forward(*inputs)
    want = reference.gru_step_backward(dh, cache)
    assert np.allclose(gru_step(*inputs), h, rtol=1e-13, atol=1e-15)
    got, _ = gru_step(*inputs, dh)
    for g, w in zip(got, want):
        assert np.allclose(g, w, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("switch", ["r_on_h", "b_hn_outside", "swap_z"])
def test_a_mistaken_forward_and_its_backward_agree(switch):
    """The backward ``gru_step`` gives for a mistaken forward is that forward's gradient."""
    inputs, dh = _inputs(2)
    if switch == "b_hn_outside":     # a forward-only mistake: its backward is not named
        assert not np.allclose(gru_step(*inputs, b_hn_outside=True), gru_step(*inputs))
        return
    got, _ = gru_step(*inputs, dh, **{switch: True})
    numeric = central_differences(
        lambda *a: projection([gru_step(*a, **{switch: True})], [dh]), inputs)
    for g, n in zip(got, numeric):
        assert np.abs(g - n).max() < 1e-7 * max(1.0, np.abs(n).max())
    right, _ = gru_step(*inputs, dh)
    assert not np.allclose(got[1], right[1])
