"""The grader of exercise gru_cell: one step of torch.nn.GRUCell, forward and backward.

The right answers are nplstm's reference (``reference.gru_step_forward`` and
``gru_step_backward``); what the named mistakes give comes from ``gru_step``, the same step
written once more with a switch per mistake (with every switch off it is the reference's
step, which the suite checks):

    gru_step(x, h, W_ih, W_hh, b_ih, b_hh, dh=None, *, <mistakes>)
        -> h (B, H);  with dh: ([dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh], (dgi, dgh))
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from ..functional import reference
from .compare import (GRU_GATE_NAMES, Compared, OutputSpec, central_differences, gate_spec,
                      grade_step, normal, projection)
from .mistakes import BIAS_NOT_SUMMED, bias_rows, permute_gates

__all__ = ["grade_gru_cell", "gru_step", "gru_forward_mistakes", "gru_backward_mistakes",
           "GRU_GRADS"]

GRU_GRADS = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
GRU_SHAPES = (("B", "I"), ("B", "H"), ("3H", "I"), ("3H", "H"), ("3H",), ("3H",))

R_ON_H = ("r applied to h_prev: torch multiplies r into the whole recurrent term, its bias "
          "included, n = tanh(gi_n + r ⊙ (h_prev W_hnᵀ + b_hn)); (r ⊙ h_prev) W_hnᵀ is the "
          "original paper's form (Keras reset_after=False), not torch's")
B_HN_OUTSIDE = ("b_hn left outside r: n = tanh(gi_n + r ⊙ gh_n) with gh_n = h_prev W_hnᵀ + "
                "b_hn, so r multiplies the recurrent bias too")
Z_SWAPPED = ("z's two roles swapped: z is the share of the old state, h = (1 − z) ⊙ n + "
             "z ⊙ h_prev, not z ⊙ n + (1 − z) ⊙ h_prev")
SIGMA_FOR_TANH_N = "σ where tanh belongs: n = tanh(gi_n + r ⊙ gh_n)"
NO_DIRECT_PATH = ("missing the direct path through h_prev: h = … + z ⊙ h_prev, so dh_prev "
                  "gets dh ⊙ z besides what comes back through W_hh")
NO_HH_PATH = ("missing the paths through W_hh: h_prev also reaches r, z and n through gh = "
              "h_prev W_hhᵀ + b_hh, so dh_prev is dh ⊙ z plus dgh W_hh (all three blocks)")
NO_R_ON_GH_N = ("r missing from the gradient of gh_n: a_n = gi_n + r ⊙ gh_n, so ∂L/∂gh_n = "
                "da_n ⊙ r (the n rows of dW_hh and db_hh, and dh_prev, take it)")
NO_R_PATH = ("missing the path through r: a_n = gi_n + r ⊙ gh_n, so dr = da_n ⊙ gh_n, "
             "then σ' into the r blocks")
SIGMA_PRIME_N = ("σ' where tanh' belongs: n = tanh(a_n), so ∂n/∂a_n = 1 − n² (exercise "
                 "sigmoid_tanh)")
# every order of the three blocks but torch's: the learner read gate k from block order[k]
GRU_ORDERS = [order for order in permutations(range(3)) if order != (0, 1, 2)]


def gru_step(x, h, W_ih, W_hh, b_ih, b_hh, dh=None, *, r_on_h=False, b_hn_outside=False,
             swap_z=False, sigma_n=False, direct=True, through_hh=True, r_on_gh_n=True,
             r_path=True, tanh_prime=True):
    """One GRU step, and with ``dh`` its gradients, with the named mistakes as switches:
    r_on_h (n from (r ⊙ h) W_hnᵀ + b_hn), b_hn_outside (r ⊙ (h W_hnᵀ) + b_hn), swap_z
    (h = z ⊙ n + (1 − z) ⊙ h), sigma_n (n = σ(a_n)); in the backward, direct=False (no
    dh ⊙ z), through_hh=False (no dgh W_hh in dh_prev), r_on_gh_n=False (∂L/∂gh_n = da_n),
    r_path=False (dr = 0), tanh_prime=False (σ' for n)."""
    H = h.shape[1]
    W_hn, b_hn = W_hh[2 * H:], b_hh[2 * H:]
    gi = x @ W_ih.T + b_ih                                          # (B, 3H)
    gh = h @ W_hh.T + b_hh                                          # (B, 3H)
    r = reference.sigmoid(gi[:, :H] + gh[:, :H])                    # (B, H)
    z = reference.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])          # (B, H)
    if r_on_h:
        recurrent = (r * h) @ W_hn.T + b_hn
    elif b_hn_outside:
        recurrent = r * (h @ W_hn.T) + b_hn
    else:
        recurrent = r * gh[:, 2 * H:]                               # r ⊙ gh_n
    a_n = gi[:, 2 * H:] + recurrent
    n = reference.sigmoid(a_n) if sigma_n else np.tanh(a_n)         # (B, H)
    keep = 1 - z if swap_z else z                                   # h's share of h_prev
    h_new = (1 - keep) * n + keep * h
    if dh is None:
        return h_new
    dn = dh * (1 - keep)
    da_z = dh * (h - n) * (-1 if swap_z else 1) * z * (1 - z)
    da_n = dn * (1 - n * n) if tanh_prime else dn * n * (1 - n)
    if r_on_h:
        d_rh = da_n @ W_hn                                          # ∂L/∂(r ⊙ h)
        dgh_n, dr, dh_n_path, dW_hn = da_n, d_rh * h, d_rh * r, da_n.T @ (r * h)
    else:
        dgh_n = da_n * r if r_on_gh_n else da_n                     # ∂L/∂gh_n
        dr, dh_n_path, dW_hn = da_n * gh[:, 2 * H:], dgh_n @ W_hn, dgh_n.T @ h
    da_r = dr * r * (1 - r) if r_path else np.zeros_like(dr)
    dgi = np.concatenate([da_r, da_z, da_n], axis=1)                # (B, 3H)
    dgh = np.concatenate([da_r, da_z, dgh_n], axis=1)               # (B, 3H)
    dh_prev = np.zeros_like(h)
    if direct:
        dh_prev = dh_prev + dh * keep
    if through_hh:
        dh_prev = dh_prev + dgh[:, :2 * H] @ W_hh[:2 * H] + dh_n_path
    grads = [dgi @ W_ih, dh_prev, dgi.T @ x, np.concatenate([dgh[:, :2 * H].T @ h, dW_hn]),
             dgi.sum(axis=0), dgh.sum(axis=0)]
    return grads, (dgi, dgh)


def _wrong_gate_order(order) -> str:
    misplaced = ", ".join(f"{GRU_GATE_NAMES[k]} from the {GRU_GATE_NAMES[order[k]]} block"
                          for k in range(3) if order[k] != k)
    return (f"gates read from the wrong blocks of W_ih, W_hh and the biases: {misplaced} "
            f"(torch's order along 3H is r, z, n)")


def gru_forward_mistakes(*inputs) -> list:
    """gru_cell_forward's h with each named mistake: [(sentence, h)]."""
    found = [(R_ON_H, gru_step(*inputs, r_on_h=True)),
             (B_HN_OUTSIDE, gru_step(*inputs, b_hn_outside=True)),
             (Z_SWAPPED, gru_step(*inputs, swap_z=True)),
             (SIGMA_FOR_TANH_N, gru_step(*inputs, sigma_n=True))]
    for order in GRU_ORDERS:
        moved = [permute_gates(a, order) if k >= 2 else a for k, a in enumerate(inputs)]
        found.append((_wrong_gate_order(order), gru_step(*moved)))
    return found


def gru_backward_mistakes(*inputs_and_dh) -> list:
    """gru_cell_backward's six gradients with each named mistake: [(sentence, [arrays])].
    A learner whose forward holds a mistake (r on h_prev, z swapped) and whose backward
    follows it gets that forward mistake's name here too."""
    named = [(NO_DIRECT_PATH, {"direct": False}), (NO_HH_PATH, {"through_hh": False}),
             (Z_SWAPPED, {"swap_z": True}), (R_ON_H, {"r_on_h": True}),
             (NO_R_ON_GH_N, {"r_on_gh_n": False}), (NO_R_PATH, {"r_path": False}),
             (SIGMA_PRIME_N, {"tanh_prime": False})]
    found = [(sentence, gru_step(*inputs_and_dh, **switch)[0]) for sentence, switch in named]
    _, (dgi, dgh) = gru_step(*inputs_and_dh)
    found += [(BIAS_NOT_SUMMED, [None] * 4 + [gi_row, gh_row])
              for gi_row, gh_row in zip(bias_rows(dgi), bias_rows(dgh))]
    return found


def grade_gru_cell(learner, rng):
    cases = []
    for B, I, H in [(1, 3, 2), (3, 4, 1), (2, 4, 3), (4, 2, 3)]:
        inputs = [normal(rng, (B, I)), normal(rng, (B, H), 0.5), normal(rng, (3 * H, I), 0.5),
                  normal(rng, (3 * H, H), 0.5), normal(rng, 3 * H, 0.5),
                  normal(rng, 3 * H, 0.5)]
        cases.append({"inputs": inputs, "dh": normal(rng, (B, H))})
    h_spec = OutputSpec("h", ("B", "H"))
    specs = tuple(gate_spec(n, s) for n, s in zip(GRU_GRADS, GRU_SHAPES))

    def learner_forward(*inputs):
        return learner.returns("gru_cell_forward", ("h", "cache"), *inputs)

    def run_forward(case):
        inputs = case["inputs"]
        h, _ = learner_forward(*inputs)
        want, _ = reference.gru_step_forward(*inputs)
        yield Compared(h_spec, h, want, alternatives=gru_forward_mistakes(*inputs))

    def run_backward(case):
        inputs, dh = case["inputs"], case["dh"]
        _, cache = learner_forward(*inputs)
        got = learner.returns("gru_cell_backward", GRU_GRADS, dh, cache)
        want = reference.gru_step_backward(dh, reference.gru_step_forward(*inputs)[1])
        numeric = central_differences(
            lambda *a: projection([learner_forward(*a)[0]], [dh], ("h",)), inputs)
        mistakes = gru_backward_mistakes(*inputs, dh)
        for k, spec in enumerate(specs):
            yield Compared(spec, got[k], want[k], numeric[k],
                           [(s, arrays[k]) for s, arrays in mistakes], {"B": len(dh)})

    return grade_step(learner, "gru_cell_forward", run_forward, "gru_cell_backward",
                      run_backward, cases, lambda case: case["dh"]), len(cases)
