"""Exercise softmax_cross_entropy: the loss of a classifier and its gradient, in one function.

    logits z (N, C): one row of scores per example;  targets t (N,): the right class of each
    p[n] = softmax(z[n]),  p[n, k] = e^(z[n, k]) / Σ_j e^(z[n, j])
    L = −(1/N) Σ_n log p[n, t[n]]                 the mean over the rows

Work out ∂L/∂z[n, k] on paper first, for k = t[n] and for k ≠ t[n]: log and softmax
simplify each other.  Subtracting each row's maximum first changes no p
(softmax(z) = softmax(z − m)) and keeps e^z from overflowing: one case has logits near 750,
and e^750 is inf in float64.
"""

import numpy as np


def softmax_cross_entropy(logits, targets):
    """The mean cross-entropy of softmax(logits) against targets, and ∂L/∂logits.

    logits (N, C) float64;  targets (N,) integers in [0, C)
    returns loss (a float) and dlogits (N, C)
    """
    N = logits.shape[0]
    rows = np.arange(N)
    shifted = logits - logits.max(axis=1, keepdims=True)                  # (N, C) z − m
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C) log softmax
    loss = -log_p[rows, targets].mean()                                   # L = −(1/N) Σ log p[n, t]
    dlogits = np.exp(log_p)                                               # (N, C) p
    dlogits[rows, targets] -= 1                                           # p − onehot(t)
    dlogits /= N                                                          # the mean: 1/N
    return loss, dlogits

