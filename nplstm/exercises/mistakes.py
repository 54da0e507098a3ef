"""What common mistakes would return, computed with nplstm's reference by leaving one term out
(the GRU's with ``gru_step``, the step written once more, a switch per mistake).

When a learner's array equals one of these, the grader names the mistake instead of only
saying "wrong".  Each function returns a list of (sentence, arrays): the arrays in the order
of the exercise's outputs (None where the mistake leaves that output right or undefined).
Exercise truncated_bptt's answers, and its mistakes as switches, come from the library's own
training step (``truncated_training``).
"""

from __future__ import annotations

from itertools import permutations

import numpy as np

from .. import functional as F
from ..functional import reference
from ..kernels.layout import GATE_NAMES, GRU_GATE_NAMES
from ..nn import LSTM, Linear
from ..nn.module import Parameter
from ..optim import SGD, clip_grad_norm

__all__ = ["permute_gates", "wrong_gate_order", "gate_order_mistakes",
           "truncated_training", "clipped", "cell_mistakes",
           "cell_forward_mistakes", "bptt_mistakes", "bptt_gradients", "bias_rows",
           "BIAS_NOT_SUMMED", "rnn_forward_mistakes", "rnn_mistakes", "reference_rnn_step",
           "gru_step", "gru_forward_mistakes", "gru_backward_mistakes"]

PATH_THROUGH_C_CELL = ("missing the path through c: dc, the gradient arriving at c, must be "
                       "added to the part coming through h = o ⊙ tanh(c) before it flows on "
                       "(to dc_prev through f, and to the gates)")
FORGET_GATE = ("missing the forget gate: c = f ⊙ c_prev + i ⊙ g, so dc_prev is f times all "
               "of ∂L/∂c")
PATH_THROUGH_C_BPTT = ("missing the path through c: at step t, ∂L/∂c_t must include dc_prev "
                       "of step t+1 (the forget-gate path), not only what comes through h_t")
PATH_THROUGH_H_BPTT = ("missing the path through h: at step t, ∂L/∂h_t = dhs[t] + dh_prev of "
                       "step t+1")
UPSTREAM_DC = ("dc_prev from the upstream dc alone: c_prev reaches L through all of ∂L/∂c, "
               "dc plus the part coming through h = o ⊙ tanh(c)")
BIAS_NOT_SUMMED = ("not summed over the batch: the bias is added to every row, so its "
                   "gradient gathers every row's (a sum over axis 0), not one row's")
NOT_SUMMED_OVER_T = ("overwritten instead of summed over t: the weights are used at every "
                     "step, so their gradient gathers every step's (+=, not =)")
SIGMA_FOR_TANH_G = "σ where tanh belongs: g = tanh(z_g)"
SIGMA_FOR_TANH_C = "σ where tanh belongs: h = o ⊙ tanh(c)"
SIGMA_PRIME_G = ("σ' where tanh' belongs: g = tanh(z_g), so ∂g/∂z_g is tanh's derivative, "
                 "written with g (exercise sigmoid_tanh)")
SIGMA_PRIME_C = ("σ' where tanh' belongs: h = o ⊙ tanh(c), so the path through h into c "
                 "takes tanh's derivative, written with tanh(c)")


def permute_gates(a, order):
    """The gate blocks of ``a`` (len(order)·H on axis 0: 4H, or the GRU's 3H) rearranged:
    block k of the result is block order[k] of ``a``."""
    blocks = np.split(a, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def wrong_gate_order(order, gru=False) -> str:
    """Gate k read from block order[k]: the LSTM's blocks of z, or the GRU's of its weights."""
    names, of, block = ((GRU_GATE_NAMES, "W_ih, W_hh and the biases", "the") if gru
                        else (GATE_NAMES, "z", "z's"))
    misplaced = ", ".join(f"{names[k]} from {block} {names[order[k]]} block"
                          for k in range(len(names)) if order[k] != k)
    return (f"gates read from the wrong blocks of {of}: {misplaced} (torch's order"
            f"{' along 3H' if gru else ''} is {', '.join(names)})")


def gate_order_mistakes(forward, inputs, w_at=(3, 4, 5, 6), gru=False):
    """forward(*inputs) with the gate blocks of the weights and biases (``inputs[w_at]``: the
    LSTM's i, f, g, o, or with ``gru`` r, z, n) in every order but torch's:
    [(sentence, output)]."""
    found = []
    for order in permutations(range(3 if gru else 4)):
        if order != tuple(sorted(order)):
            moved = [permute_gates(a, order) if k in w_at else a for k, a in enumerate(inputs)]
            found.append((wrong_gate_order(order, gru), forward(*moved)))
    return found


def cell_mistakes(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, dh, dc):
    """lstm_cell_backward's outputs (dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh) with the
    path through c dropped; dc_prev without the forget gate, or from the upstream dc alone;
    σ' in place of tanh' (for g, for tanh(c)); the biases' gradients of one row."""
    inputs = (x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)
    _, cache = reference.lstm_step_forward(*inputs)
    no_c_path, _ = reference.lstm_step_backward(dh, np.zeros_like(dc), cache)
    _, dc_total = reference.lstm_step_backward(dh, dc, cache)          # all of ∂L/∂c
    # σ' for tanh(c): the reference, given the dc whose total is the wrong one
    t = cache.tanh_c
    wrong_c, _ = reference.lstm_step_backward(
        dh, dc + dh * cache.o * (t * (1 - t) - (1 - t * t)), cache)
    # σ' for g: the reference's dz (read through W_ih = identity), its g block times
    # g(1 − g) / (1 − g²) = g / (1 + g), then the two affine maps' gradients
    dz = _dz(cache, dh, dc)
    H = dz.shape[1] // 4
    dz[:, 2 * H:3 * H] *= cache.g / (1 + cache.g)
    wrong_g = _affine_gradients(dz, *inputs)
    found = [(PATH_THROUGH_C_CELL, list(no_c_path)),
             (FORGET_GATE, [None, None, dc_total, None, None, None, None]),
             (UPSTREAM_DC, [None, None, dc * cache.f, None, None, None, None]),
             (SIGMA_PRIME_C, list(wrong_c)),
             (SIGMA_PRIME_G, wrong_g)]
    found += [(BIAS_NOT_SUMMED, [None] * 5 + [row, row]) for row in bias_rows(_dz(cache, dh, dc))]
    return found


def bias_rows(dy) -> list:
    """What a bias gradient taken from one row of the batch gives: dy[0] and dy[−1] (none
    for a batch of one, where that is right)."""
    return [dy[0], dy[-1]] if len(dy) > 1 else []


def _dz(cache, dh, dc):
    """∂L/∂z (B, 4H) of the reference's step: its dx with W_ih the identity."""
    eye = np.eye(cache.weight_ih.shape[0], dtype=cache.weight_ih.dtype)
    grads, _ = reference.lstm_step_backward(dh, dc, cache._replace(weight_ih=eye))
    return grads.x


def _affine_gradients(dz, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh) -> list:
    """(dx, dh_prev, None, dW_ih, dW_hh, db_ih, db_hh) from ∂L/∂z, through the affine maps
    z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh (nplstm's linear layer)."""
    through_x = F.linear_backward(dz, F.linear_forward(x, weight_ih, bias_ih)[1])
    through_h = F.linear_backward(dz, F.linear_forward(h, weight_hh, bias_hh)[1])
    return [through_x.x, through_h.x, None, through_x.weight, through_h.weight,
            through_x.bias, through_h.bias]


def cell_forward_mistakes(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """lstm_cell_forward's (h, c) with σ in place of tanh: for g, and for tanh(c)."""
    (h1, c1), cache = reference.lstm_step_forward(x, h, c, weight_ih, weight_hh, bias_ih,
                                                  bias_hh)
    H = h1.shape[1]
    z_g = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)[:, 2 * H:3 * H]
    c_sigma_g = cache.f * c + cache.i * reference.sigmoid(z_g)      # g = σ(z_g)
    return [(SIGMA_FOR_TANH_G, (cache.o * np.tanh(c_sigma_g), c_sigma_g)),
            (SIGMA_FOR_TANH_C, (cache.o * reference.sigmoid(c1), None))]


def bptt_gradients(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, dhs, *,
                   carry_h=True, carry_c=True, weights="sum"):
    """BPTT with the reference's step, optionally dropping what step t+1 sends back through
    h or through c: (dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh).  ``weights``: "sum" the
    steps' weight and bias gradients, or keep only the "first" step's or the "last" one's."""
    _, cache = reference.lstm_forward(x, (h0, c0), weight_ih, weight_hh, bias_ih, bias_hh)
    dh, dc = np.zeros_like(h0), np.zeros_like(c0)                     # nothing after step T−1
    steps = []
    for t in reversed(range(x.shape[0])):
        grads, _ = reference.lstm_step_backward(dhs[t] + dh, dc, cache.steps[t])
        steps.insert(0, grads)
        dh = grads.h_prev if carry_h else np.zeros_like(dh)
        dc = grads.c_prev if carry_c else np.zeros_like(dc)
    dx = np.stack([g.x for g in steps])                               # (T, B, I)
    kept = {"sum": steps, "first": steps[:1], "last": steps[-1:]}[weights]
    sums = [sum(getattr(g, name) for g in kept)
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return [dx, steps[0].h_prev, steps[0].c_prev, *sums]


def bptt_mistakes(*inputs):
    """lstm_backward's outputs without the path through c, without the path through h, and
    with the weights' gradients of one step only (overwritten, not summed over t)."""
    found = [(PATH_THROUGH_C_BPTT, bptt_gradients(*inputs, carry_c=False)),
             (PATH_THROUGH_H_BPTT, bptt_gradients(*inputs, carry_h=False))]
    if inputs[0].shape[0] > 1:                       # with T = 1, one step is every step
        for kept in ("first", "last"):
            found.append((NOT_SUMMED_OVER_T, [None] * 3
                          + bptt_gradients(*inputs, weights=kept)[3:]))
    return found


# --- the vanilla RNN step ------------------------------------------------------------------

RNN_SIGMA = "σ where tanh belongs: h = tanh(z)"
RNN_NO_HH_TRANSPOSE = ("h_prev W_hh where h_prev W_hhᵀ belongs: torch's W_hh is (H_out, H_in), "
                       "so z = … + h_prev W_hhᵀ")
RNN_ONE_BIAS = "a bias missing: z = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh has both"
RNN_NO_TANH_PRIME = ("missing tanh': the gradient at z is dh ⊙ tanh'(z) = dh ⊙ (1 − h²), "
                     "not dh itself")
RNN_TANH_PRIME_OF_H = ("tanh' applied to h: h is already tanh(z), so tanh'(z) = 1 − h² "
                       "(exercise sigmoid_tanh)")
RNN_SIGMA_PRIME = "σ' where tanh' belongs: h = tanh(z), so ∂h/∂z = 1 − h²"
RNN_DH_PREV_TRANSPOSE = ("dh_prev = dz W_hhᵀ: z = … + h_prev W_hhᵀ, so ∂L/∂h_prev = dz W_hh "
                         "(the transpose undone)")


def reference_rnn_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh, dh=None):
    """nplstm's RNN (one layer, tanh) over a sequence of one step: h' (B, H), and with
    ``dh`` its gradients (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh)."""
    (out, _), cache = F.rnn_forward(x[None], h, weight_ih, weight_hh, bias_ih, bias_hh)
    if dh is None:
        return out[0]
    g = F.rnn_backward(dh[None], None, cache)
    return out[0], [g.x[0], g.h0, g.weight_ih, g.weight_hh, g.bias_ih, g.bias_hh]


def rnn_forward_mistakes(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """rnn_step_forward's h with σ for tanh, with W_hh not transposed (H > 1), with one bias
    left out."""
    z = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    found = [(RNN_SIGMA, reference.sigmoid(z)),
             (RNN_ONE_BIAS, np.tanh(z - bias_hh)), (RNN_ONE_BIAS, np.tanh(z - bias_ih))]
    if weight_hh.shape[0] > 1:
        found.append((RNN_NO_HH_TRANSPOSE, np.tanh(z - h @ weight_hh.T + h @ weight_hh)))
    return found


def rnn_mistakes(x, h, weight_ih, weight_hh, bias_ih, bias_hh, dh):
    """rnn_step_backward's (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh) with tanh' left out,
    applied to h, or σ' in its place; dh_prev through W_hhᵀ; a bias gradient of one row."""
    h_new, right = reference_rnn_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh, dh)
    inputs = (x, h, None, weight_ih, weight_hh, bias_ih, bias_hh)

    def through(dz):
        grads = _affine_gradients(dz, *inputs)
        return grads[:2] + grads[3:]                  # no c in the RNN

    found = [(RNN_NO_TANH_PRIME, through(dh)),
             (RNN_TANH_PRIME_OF_H, through(dh * (1 - np.tanh(h_new) ** 2))),
             (RNN_SIGMA_PRIME, through(dh * h_new * (1 - h_new)))]
    dz = dh * (1 - h_new * h_new)
    if weight_hh.shape[0] > 1:
        found.append((RNN_DH_PREV_TRANSPOSE, [None, dz @ weight_hh.T, None, None, None, None]))
    found += [(BIAS_NOT_SUMMED, [None] * 4 + [row, row]) for row in bias_rows(dz)]
    return found


# --- the GRU step -----------------------------------------------------------------------

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


def gru_step(x, h, W_ih, W_hh, b_ih, b_hh, dh=None, *, r_on_h=False, b_hn_outside=False,
             swap_z=False, sigma_n=False, direct=True, through_hh=True, r_on_gh_n=True,
             r_path=True, tanh_prime=True):
    """One GRU step, and with ``dh`` its gradients ([dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh],
    (dgi, dgh)), written once more beside the reference (which grades): with every switch
    off it is the reference's step (the suite checks), each switch a named mistake:
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


def gru_forward_mistakes(*inputs) -> list:
    """gru_cell_forward's h with each named mistake: [(sentence, h)]."""
    return [(R_ON_H, gru_step(*inputs, r_on_h=True)),
            (B_HN_OUTSIDE, gru_step(*inputs, b_hn_outside=True)),
            (Z_SWAPPED, gru_step(*inputs, swap_z=True)),
            (SIGMA_FOR_TANH_N, gru_step(*inputs, sigma_n=True))] + gate_order_mistakes(
        gru_step, inputs, w_at=(2, 3, 4, 5), gru=True)


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


# --- truncated BPTT ----------------------------------------------------------------------

def clipped(grads, max_norm, *, rule="global") -> list:
    """The arrays ``grads`` after clipping: "global" is ``optim.clip_grad_norm`` (torch's
    rule); the others are mistakes: "each" array by its own norm, "none", "always" scaled to
    max_norm (even below it), the norm's square "no-sqrt", "no-epsilon" (max_norm / ‖g‖)."""
    params = [Parameter(np.zeros(np.shape(g))) for g in grads]
    for p, g in zip(params, grads):
        p.grad = np.array(g, dtype=np.float64)
    if rule == "global":
        clip_grad_norm(params, max_norm)
    elif rule == "each":
        for p in params:
            clip_grad_norm([p], max_norm)
    elif rule != "none":
        total = float(np.sqrt(sum(np.sum(p.grad * p.grad) for p in params)))
        factor = {"always": max_norm / (total + 1e-6),
                  "no-sqrt": min(1.0, max_norm / (total * total + 1e-6)),
                  "no-epsilon": min(1.0, max_norm / total)}[rule]
        for p in params:
            p.grad *= factor
    return [p.grad for p in params]


def truncated_training(x, targets, h0, c0, params, chunk, max_norm, lr, *, carry=True,
                       leak=False, clip="global") -> list:
    """One SGD step per chunk of ``chunk`` steps, as the trainer takes them.

    carry=False  every chunk starts from h0, c0 (the mistake: the state not carried)
    leak=True    a chunk's backward receives the previous chunk's dh0, dc0 at its end (the
                 mistake: a gradient crossing the chunk boundary)
    clip         a ``clipped`` rule
    """
    T, B, I = x.shape
    H, V = h0.shape[1], params[4].shape[0]
    lstm = LSTM(I, H, dtype="float64")
    head = Linear(H, V, dtype="float64")
    weights = [lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0,
               head.weight, head.bias]
    for p, value in zip(weights, params):
        p.data = np.array(value, dtype=np.float64)
    optimizer = SGD(weights, lr=lr)
    h, c, arriving, losses = h0, c0, None, []
    for start in range(0, T, chunk):
        xs, ts = x[start:start + chunk], targets[start:start + chunk]
        optimizer.zero_grad()
        output, (h_n, c_n) = lstm(xs, (h[None], c[None]))             # (t, B, H), (1, B, H)
        logits = head(output.reshape(-1, H))                          # (t·B, V)
        loss, cache = F.cross_entropy_forward(logits, ts.reshape(-1))
        dlogits = F.cross_entropy_backward(1.0, cache).logits
        _, (dh0, dc0) = lstm.backward(head.backward(dlogits).reshape(output.shape), arriving)
        if leak:
            arriving = (dh0, dc0)
        for p, g in zip(weights, clipped([p.grad for p in weights], max_norm, rule=clip)):
            p.grad[...] = g
        optimizer.step()
        losses.append(float(loss))
        h, c = (h_n[0], c_n[0]) if carry else (h0, c0)
    return [np.array(losses)] + [p.data.copy() for p in weights] + [h, c]
