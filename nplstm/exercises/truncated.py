"""The answers of exercise truncated_bptt, from the library's own pieces: the training step
``nplstm train`` takes (``nplstm.nn.LSTM`` and ``Linear`` over a chunk from the carried
state, the cross-entropy, ``LSTM.backward`` with nothing arriving at the chunk's end,
``optim.clip_grad_norm`` on the global norm, ``optim.SGD``), with each mistake a switch.

    truncated_training(x, targets, h0, c0, params, chunk, max_norm, lr, *, carry=True,
                       leak=False, clip="global")
        -> [losses (K,), W_ih, W_hh, b_ih, b_hh, W_out, b_out, h (B, H), c (B, H)]
    clipped(grads, max_norm, *, rule="global") -> [arrays]
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..nn import LSTM, Linear
from ..nn.module import Parameter
from ..optim import SGD, clip_grad_norm

__all__ = ["truncated_training", "clipped", "CLIP_RULES"]

CLIP_RULES = ("global", "each", "none", "always", "no-sqrt", "no-epsilon")


def clipped(grads, max_norm, *, rule="global") -> list:
    """The arrays ``grads`` after clipping: "global" is ``optim.clip_grad_norm`` (torch's
    rule); the others are mistakes: "each" array by its own norm, "none", "always" scaled to
    max_norm (even below it), the norm's square "no-sqrt", "no-epsilon" (max_norm / ‖g‖)."""
    params = [_parameter(np.zeros_like(g), g) for g in grads]
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


def _parameter(data, grad) -> Parameter:
    p = Parameter(np.array(data, dtype=np.float64))
    p.grad = np.array(grad, dtype=np.float64)
    return p


def truncated_training(x, targets, h0, c0, params, chunk, max_norm, lr, *, carry=True,
                       leak=False, clip="global") -> list:
    """One SGD step per chunk of ``chunk`` steps, as the trainer takes them.

    carry=False  every chunk starts from h0, c0 (the mistake: the state not carried)
    leak=True    a chunk's backward receives the previous chunk's dh0, dc0 at its end (the
                 mistake: a gradient crossing the chunk boundary)
    clip         one of ``CLIP_RULES``
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
