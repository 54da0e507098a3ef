"""Exercise truncated_bptt: train on a long sequence in chunks, carrying the state forward,
stopping the gradient at each chunk's start, clipping the gradient's global norm.

The model (a character language model's core), at each time step t:
    h_t, c_t = the LSTM step (exercise lstm_cell_forward) of x_t, h_{t−1}, c_{t−1}
    logits_t = h_t W_outᵀ + b_out                       (B, V)
    the loss of a chunk: the mean cross-entropy of softmax(logits_t) against targets_t over
    its steps and rows (exercise softmax_cross_entropy)

A sequence of T steps is cut into chunks of `chunk` steps (the last one may be shorter), and
each chunk, in order, is one training step:
    1. forward from the state (h, c) where the previous chunk ended: the state is carried
       across chunks (the first chunk starts from h0, c0);
    2. backward within the chunk only: no gradient flows into the previous chunk, and none
       comes in from the next one: the state crosses the boundary as values, the gradient
       stops there;
    3. clip the gradients by their global norm: all six together, as
       torch.nn.utils.clip_grad_norm_ does;
    4. update every parameter by SGD: p ← p − lr · (its clipped gradient).
This is what `nplstm train` does at every step, and what this exercise is graded against.

Shapes: T time, B batch, I input size, H hidden size, V classes; everything float64.
Given, from nplstm (exercises lstm_bptt, linear and softmax_cross_entropy, done for you):
lstm_forward / lstm_backward of nplstm.functional.reference, and nplstm.functional's
linear and cross-entropy.  Once yours passes, read nplstm.optim.clip_grad_norm and
nplstm.training's CharLMTask.train_step.
"""

import numpy as np

from nplstm.functional import (cross_entropy_backward, cross_entropy_forward, linear_backward,
                               linear_forward)
from nplstm.functional.reference import lstm_backward, lstm_forward

#   (hs, (h_n, c_n)), cache = lstm_forward(x, (h0, c0), W_ih, W_hh, b_ih, b_hh)
#       x (T, B, I); hs (T, B, H); h_n, c_n (B, H): the state after the last step
#   grads = lstm_backward(dhs, dh_n, dc_n, cache)
#       dhs (T, B, H); dh_n, dc_n (B, H): the gradients arriving at h_n and c_n (None: zero)
#       grads.x, .h0, .c0, .weight_ih, .weight_hh, .bias_ih, .bias_hh
#   y, cache = linear_forward(x, W, b)          y = x Wᵀ + b, x (N, H)
#   grads = linear_backward(dy, cache)          grads.x, .weight, .bias
#   loss, cache = cross_entropy_forward(logits, targets)     logits (N, V), targets (N,)
#   dlogits = cross_entropy_backward(1.0, cache).logits


def clip_global_norm(grads, max_norm):
    """The gradients scaled together so that their global norm is at most max_norm.

    grads     a list of arrays (any shapes), float64;  max_norm  a positive float
    the global norm is ‖g‖ = √(Σ_k Σ_j g_k[j]²), over every element of every array
    returns a list of new arrays, in the order of grads: each g_k times
    min(1, max_norm / (‖g‖ + 1e-6)) (torch's rule: one factor for all of them)
    """
    total = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
    factor = min(1.0, max_norm / (total + 1e-6))
    return [g * factor for g in grads]


def train_truncated(x, targets, h0, c0, params, chunk, max_norm, lr):
    """Truncated BPTT: one training step per chunk of `chunk` steps (module docstring).

    x (T, B, I) float64;  targets (T, B) integers in [0, V);  h0, c0 (B, H)
    params    [W_ih (4H, I), W_hh (4H, H), b_ih (4H,), b_hh (4H,), W_out (V, H), b_out (V,)]
    chunk     an int ≥ 1;  max_norm  a positive float;  lr  a positive float
    returns   losses (K,): the loss of each of the K = ⌈T / chunk⌉ chunks, before its update;
              then the six trained parameters, in the order of params;
              then h (B, H), c (B, H): the state where the last chunk ended
    """
    params = [p.copy() for p in params]
    h, c = h0, c0
    losses = []
    for start in range(0, x.shape[0], chunk):
        xs, ts = x[start:start + chunk], targets[start:start + chunk]
        W_ih, W_hh, b_ih, b_hh, W_out, b_out = params
        (hs, (h_n, c_n)), cache = lstm_forward(xs, (h, c), W_ih, W_hh, b_ih, b_hh)
        N = hs.shape[0] * hs.shape[1]
        logits, head = linear_forward(hs.reshape(N, -1), W_out, b_out)
        loss, ce = cross_entropy_forward(logits, ts.reshape(N))
        dhead = linear_backward(cross_entropy_backward(1.0, ce).logits, head)
        grads = lstm_backward(dhead.x.reshape(hs.shape), None, None, cache)  # stops at h, c
        clipped = clip_global_norm([grads.weight_ih, grads.weight_hh, grads.bias_ih,
                                    grads.bias_hh, dhead.weight, dhead.bias], max_norm)
        params = [p - lr * g for p, g in zip(params, clipped)]
        h, c = h_n, c_n                                   # carried on, as values
        losses.append(float(loss))
    return (np.array(losses), *params, h, c)
