"""Four small ops with hand-written backwards, as a gradient-check experimenter writes them,
and two planted bugs each (issue 28): layer norm, softmax attention, a GRU cell (with its
JVP) and relu(x + b).  Used by tests/test_checker_ops.py and
benchmarks/checker_table.py (``outcome`` runs one cell of the table).

Each op is ``Op(name, names, make_inputs, forward, backward, bugs)``:
    make_inputs(rng, dtype) -> list of inputs
    forward(*inputs) -> (output, cache); backward(doutput, cache, bug=None) -> grads
    bugs: {bug name: the input the bug is in}
The ops compute in their inputs' dtype, except where NumPy promotes (the attention's
``ds @ k / np.sqrt(d)`` returns float64 for float32 inputs, as the experimenter's did on NumPy 2;
here divided by a 1-element float64 array, which promotes on NumPy 1.24 too).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

__all__ = ["Op", "OPS", "gru_jvp", "GRU_JVP_BUG", "outcome"]


class Op(NamedTuple):
    name: str
    names: tuple
    make_inputs: Callable
    forward: Callable
    backward: Callable
    bugs: dict


# ---------------------------------------------------------------- layer norm over the last axis
def _layer_norm_inputs(rng, dtype):
    B, D = 4, 6
    return [rng.standard_normal((B, D)).astype(dtype),
            (1.0 + 0.5 * rng.standard_normal(D)).astype(dtype),
            rng.standard_normal(D).astype(dtype)]


def _layer_norm_forward(x, gamma, beta):
    mu = x.mean(axis=1, keepdims=True)                         # (B, 1)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)          # (B, 1)
    inv = 1.0 / np.sqrt(var + x.dtype.type(1e-5))              # (B, 1)
    xhat = (x - mu) * inv                                      # (B, D)
    return xhat * gamma + beta, (x, xhat, inv, gamma)


def _layer_norm_backward(dy, cache, bug=None):
    x, xhat, inv, gamma = cache
    dxhat = dy * gamma                                         # (B, D)
    mean_dxhat = dxhat.mean(axis=1, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=1, keepdims=True)
    if bug == "missing xhat term in dx":
        mean_dxhat_xhat = 0.0 * mean_dxhat_xhat
    dx = inv * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)
    dgamma = (dy * (x if bug == "dgamma uses x, not xhat" else xhat)).sum(axis=0)
    return dx, dgamma, dy.sum(axis=0)


# ---------------------------------------------------------------- softmax attention, one head
def _attention_inputs(rng, dtype):
    Tq, Tk, d, dv = 3, 4, 5, 2
    return [rng.standard_normal((Tq, d)).astype(dtype), rng.standard_normal((Tk, d)).astype(dtype),
            rng.standard_normal((Tk, dv)).astype(dtype)]


def _attention_forward(q, k, v):
    d = q.shape[1]
    s = q @ k.T / np.sqrt(d).astype(q.dtype)                   # (Tq, Tk)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)                          # softmax over keys
    return p @ v, (q, k, v, p)


def _attention_backward(do, cache, bug=None):
    q, k, v, p = cache
    d = q.shape[1]
    dp = do @ v.T                                              # (Tq, Tk)
    dv = p.T @ do                                              # (Tk, dv)
    row = (dp * p).sum(axis=1, keepdims=True)
    if bug == "softmax backward misses -sum(dp*p)":
        row = 0.0 * row
    ds = p * (dp - row)                                        # (Tq, Tk)
    # the experimenter's promotion to float64, made on every NumPy: np.sqrt(d) is a float64
    # scalar, which promotes a float32 array from NumPy 2 on (NEP 50) but not under NumPy
    # 1.x's value-based casting; a 1-element float64 array promotes under both
    root_d = np.full(1, np.sqrt(d))                            # (1,) float64
    dq = ds @ k / root_d                                       # float32 → float64
    dk = ds.T @ q / root_d
    if bug == "dk misses the 1/sqrt(d) scale":
        dk = ds.T @ q
    return dq, dk, dv


# ---------------------------------------------------------------- GRU cell (torch's equations)
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _gru_inputs(rng, dtype):
    B, I, H = 2, 3, 4
    return [rng.standard_normal((B, I)).astype(dtype), rng.standard_normal((B, H)).astype(dtype),
            (0.5 * rng.standard_normal((3 * H, I))).astype(dtype),
            (0.5 * rng.standard_normal((3 * H, H))).astype(dtype),
            (0.5 * rng.standard_normal(3 * H)).astype(dtype),
            (0.5 * rng.standard_normal(3 * H)).astype(dtype)]


def _gru_forward(x, h, w_ih, w_hh, b_ih, b_hh):
    H = h.shape[1]
    gi = x @ w_ih.T + b_ih                                     # (B, 3H)  [r | z | n]
    gh = h @ w_hh.T + b_hh                                     # (B, 3H)
    r = _sigmoid(gi[:, :H] + gh[:, :H])
    z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    h1 = (1 - z) * n + z * h
    return h1, (x, h, w_ih, w_hh, r, z, n, gh[:, 2 * H:])


def _gru_backward(dh1, cache, bug=None):
    x, h, w_ih, w_hh, r, z, n, ghn = cache
    dn = dh1 * (1 - z)
    dz = dh1 * (h - n)
    dh = dh1 * z                                               # h1 = … + z ⊙ h
    if bug == "dh misses the z*h path":
        dh = 0.0 * dh
    dan = dn * (1 - n * n)                                     # through tanh
    dr = dan * ghn
    dar = dr * (r * (1 - r))
    if bug == "r gate uses sigmoid(a) for its derivative":
        dar = dr * r
    daz = dz * (z * (1 - z))
    dgi = np.concatenate([dar, daz, dan], axis=1)              # (B, 3H)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)          # (B, 3H)
    dh = dh + dgh @ w_hh
    return dgi @ w_ih, dh, dgi.T @ x, dgh.T @ h, dgi.sum(axis=0), dgh.sum(axis=0)


GRU_JVP_BUG = "n's tangent misses r_dot"


def gru_jvp(tangents, cache, bug=None):
    """J v of ``_gru_forward`` at the cached point: tangents (x, h, w_ih, w_hh, b_ih, b_hh)
    -> h1_dot (B, H)."""
    x, h, w_ih, w_hh, r, z, n, ghn = cache
    xd, hd, w_ihd, w_hhd, b_ihd, b_hhd = tangents
    H = h.shape[1]
    gid = xd @ w_ih.T + x @ w_ihd.T + b_ihd                    # (B, 3H)
    ghd = hd @ w_hh.T + h @ w_hhd.T + b_hhd                    # (B, 3H)
    rd = r * (1 - r) * (gid[:, :H] + ghd[:, :H])
    zd = z * (1 - z) * (gid[:, H:2 * H] + ghd[:, H:2 * H])
    an_d = gid[:, 2 * H:] + rd * ghn + r * ghd[:, 2 * H:]
    if bug == GRU_JVP_BUG:
        an_d = gid[:, 2 * H:] + r * ghd[:, 2 * H:]
    nd = (1 - n * n) * an_d
    return (1 - z) * nd - zd * n + zd * h + z * hd


# ---------------------------------------------------------------- relu(x + b)
def _relu_inputs(rng, dtype):
    B, D = 3, 5
    while True:                     # away from the kink: |x + b| > 1e-2 everywhere
        x, b = rng.standard_normal((B, D)), rng.standard_normal(D)
        if np.abs(x + b).min() > 1e-2:
            return [x.astype(dtype), b.astype(dtype)]


def _relu_forward(x, b):
    return np.maximum(x + b, 0), (x, x + b)


def _relu_backward(dy, cache, bug=None):
    x, a = cache
    dx = dy * ((x if bug == "mask from x, not x + b" else a) > 0)
    db = dx[0].copy() if bug == "db takes the first row only" else dx.sum(axis=0)
    return dx, db


OPS = [
    Op("layer norm", ("x", "gamma", "beta"), _layer_norm_inputs, _layer_norm_forward,
       _layer_norm_backward, {"missing xhat term in dx": "x", "dgamma uses x, not xhat": "gamma"}),
    Op("softmax attention", ("q", "k", "v"), _attention_inputs, _attention_forward,
       _attention_backward, {"softmax backward misses -sum(dp*p)": "q",
                             "dk misses the 1/sqrt(d) scale": "k"}),
    Op("GRU cell", ("x", "h", "weight_ih", "weight_hh", "bias_ih", "bias_hh"), _gru_inputs,
       _gru_forward, _gru_backward, {"dh misses the z*h path": "h",
                                     "r gate uses sigmoid(a) for its derivative": "weight_hh"}),
    Op("relu(x + b)", ("x", "b"), _relu_inputs, _relu_forward, _relu_backward,
       {"mask from x, not x + b": "x", "db takes the first row only": "b"}),
]


def outcome(op, bug, mode, dtype, seed=0):
    """Run gradcheck on ``op`` (with ``bug`` planted, or right) -> (verdict, report, seconds).

    verdict: for a right backward "pass" or "FALSE ALARM"; for a bug "caught" when the
    check fails and names the bug's input, "missed" otherwise.
    """
    import time

    import nplstm

    inputs = op.make_inputs(np.random.default_rng(seed), dtype)
    started = time.perf_counter()
    report = nplstm.gradcheck(op.forward, lambda d, c: op.backward(d, c, bug), inputs,
                              names=op.names, mode=mode, seed=seed, raise_exception=False)
    seconds = time.perf_counter() - started
    if bug is None:
        return ("pass" if report.passed else "FALSE ALARM"), report, seconds
    return ("caught" if op.bugs[bug] in report.failed else "missed"), report, seconds
