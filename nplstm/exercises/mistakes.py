"""What common mistakes would return, computed with nplstm's reference by leaving one term out.

When a learner's array equals one of these, the grader names the mistake instead of only
saying "wrong".  Each function returns a list of (sentence, arrays): the arrays in the order
of the exercise's outputs (None where the mistake leaves that output right or undefined).
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from ..functional import reference
from ..kernels.layout import GATE_NAMES

__all__ = ["GATE_ORDERS", "permute_gates", "wrong_gate_order", "cell_mistakes",
           "bptt_mistakes", "bptt_gradients"]

# every order but torch's: the learner read gate k of z from block order[k]
GATE_ORDERS = [order for order in permutations(range(4)) if order != (0, 1, 2, 3)]

PATH_THROUGH_C_CELL = ("missing the path through c: dc, the gradient arriving at c, must be "
                       "added to the part coming through h = o ⊙ tanh(c) before it flows on "
                       "(to dc_prev through f, and to the gates)")
FORGET_GATE = ("missing the forget gate: c = f ⊙ c_prev + i ⊙ g, so dc_prev is f times all "
               "of ∂L/∂c")
PATH_THROUGH_C_BPTT = ("missing the path through c: at step t, ∂L/∂c_t must include dc_prev "
                       "of step t+1 (the forget-gate path), not only what comes through h_t")
PATH_THROUGH_H_BPTT = ("missing the path through h: at step t, ∂L/∂h_t = dhs[t] + dh_prev of "
                       "step t+1")


def permute_gates(a, order):
    """The gate blocks of ``a`` (4H on axis 0) rearranged: block k of the result is block
    order[k] of ``a``."""
    blocks = np.split(a, 4, axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def wrong_gate_order(order) -> str:
    misplaced = ", ".join(f"{GATE_NAMES[k]} from z's {GATE_NAMES[order[k]]} block"
                          for k in range(4) if order[k] != k)
    return f"gates read from the wrong blocks of z: {misplaced} (torch's order is i, f, g, o)"


def cell_mistakes(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, dh, dc):
    """lstm_cell_backward's outputs (dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh) with the
    path through c dropped, and dc_prev with the forget gate dropped."""
    _, cache = reference.lstm_step_forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)
    no_c_path, _ = reference.lstm_step_backward(dh, np.zeros_like(dc), cache)
    _, dc_total = reference.lstm_step_backward(dh, dc, cache)          # all of ∂L/∂c
    return [(PATH_THROUGH_C_CELL, list(no_c_path)),
            (FORGET_GATE, [None, None, dc_total, None, None, None, None])]


def bptt_gradients(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, dhs, *,
                   carry_h=True, carry_c=True):
    """BPTT with the reference's step, optionally dropping what step t+1 sends back through
    h or through c: (dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh)."""
    _, cache = reference.lstm_forward(x, (h0, c0), weight_ih, weight_hh, bias_ih, bias_hh)
    dh, dc = np.zeros_like(h0), np.zeros_like(c0)                     # nothing after step T−1
    steps = []
    for t in reversed(range(x.shape[0])):
        grads, _ = reference.lstm_step_backward(dhs[t] + dh, dc, cache.steps[t])
        steps.insert(0, grads)
        dh = grads.h_prev if carry_h else np.zeros_like(dh)
        dc = grads.c_prev if carry_c else np.zeros_like(dc)
    dx = np.stack([g.x for g in steps])                               # (T, B, I)
    sums = [sum(getattr(g, name) for g in steps)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return [dx, steps[0].h_prev, steps[0].c_prev, *sums]


def bptt_mistakes(*inputs):
    """lstm_backward's outputs without the path through c, and without the path through h."""
    return [(PATH_THROUGH_C_BPTT, bptt_gradients(*inputs, carry_c=False)),
            (PATH_THROUGH_H_BPTT, bptt_gradients(*inputs, carry_h=False))]
