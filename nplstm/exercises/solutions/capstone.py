"""Exercise capstone: a character language model, trained with your own functions.

The model reads a text one character at a time and predicts the next one:
    x_t = onehot(inputs[t])                                   (B, V)
    h_t, c_t = lstm_cell_forward(x_t, h_{t−1}, c_{t−1}, W_ih, W_hh, b_ih, b_hh)
                                                              h_{−1} = c_{−1} = 0, (B, H)
    logits_t = h_t W_outᵀ + b_out                             (B, V)
    loss = the mean cross-entropy of softmax(logits_t) against targets[t], over all T·B
           positions

Write its loss and gradients with your own functions from the earlier exercises (imported
below from your exercise files, which must be in the same folder as this one): the cell's
forward and backward, backpropagation through time (exercise lstm_bptt, here with your own
cell), softmax cross-entropy, and the linear layer's backward.

`nplstm exercise check capstone` first compares your gradients with nplstm's on small random
cases, then trains the model with them: nplstm.optim.SGD with the gradient's global norm
clipped, on the demo corpus (the standard library's docstrings, the text `nplstm train`
reads by default), and reports the curve.  It passes when the eval loss ends below the
add-k bigram baseline (a model that only knows which character follows which).
Shapes: T time, B batch, V characters, H hidden size; everything float64.
"""

from typing import NamedTuple

import numpy as np

# yours, from exercise lstm_cell_forward: sigmoid, CellCache, lstm_cell_forward

# yours, from exercise lstm_cell_backward: lstm_cell_backward

# yours, from exercise softmax_cross_entropy: softmax_cross_entropy

# yours, from exercise linear: linear_backward


def char_lm_loss_and_grads(inputs, targets, W_ih, W_hh, b_ih, b_hh, W_out, b_out):
    """The model's loss on one batch, and its gradient with respect to each parameter.

    inputs, targets  (T, B) integers in [0, V): targets[t] is the character after inputs[t]
    W_ih (4H, V), W_hh (4H, H), b_ih (4H,), b_hh (4H,), W_out (V, H), b_out (V,), float64
    returns loss (a float), dW_ih, dW_hh, db_ih, db_hh, dW_out, db_out (each shaped like its
    parameter)
    """
    T, B = inputs.shape
    V, H = W_out.shape
    h, c = np.zeros((B, H)), np.zeros((B, H))
    hs, caches = [], []
    for t in range(T):
        x = np.zeros((B, V))
        x[np.arange(B), inputs[t]] = 1.0                      # (B, V) one-hot
        h, c, cache = lstm_cell_forward(x, h, c, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        caches.append(cache)
    hs = np.concatenate(hs)                                   # (T·B, H)
    logits = hs @ W_out.T + b_out                             # (T·B, V)
    loss, dlogits = softmax_cross_entropy(logits, targets.reshape(-1))
    dhs, dW_out, db_out = linear_backward(dlogits, hs, W_out, b_out)
    dhs = dhs.reshape(T, B, H)
    grads = [np.zeros_like(p) for p in (W_ih, W_hh, b_ih, b_hh)]
    dh, dc = np.zeros((B, H)), np.zeros((B, H))
    for t in reversed(range(T)):
        _, dh, dc, *step = lstm_cell_backward(dhs[t] + dh, dc, caches[t])
        for total, g in zip(grads, step):
            total += g
    return (loss, *grads, dW_out, db_out)
