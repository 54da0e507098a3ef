"""Exercise rnn_step: one step of the vanilla RNN (torch.nn.RNN, tanh), forward and backward.

    z = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh     (B, H)
    h = tanh(z)                                   (B, H)

The recurrent network before the LSTM: the same affine map of the input and of the previous
state, one nonlinearity, no gates and no cell.  Shapes are torch's: x (B, I), h_prev (B, H),
W_ih (H, I), W_hh (H, H), b_ih (H,), b_hh (H,); B batch, I input size, H hidden size;
everything float64.  The backward gets dh = ∂L/∂h and returns the gradient of L with
respect to each input of the step, shaped like that input.  Once yours passes, compare it
with nplstm.functional.rnn (the same step over a sequence).
"""

import numpy as np


def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One step: h = tanh(x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh).

    x (B, I), h_prev (B, H), W_ih (H, I), W_hh (H, H), b_ih (H,), b_hh (H,), float64
    returns h (B, H) and a cache: whatever rnn_step_backward will need (a tuple is fine)
    """
    h = np.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)   # (B, H)
    return h, (x, h_prev, W_ih, W_hh, h)


def rnn_step_backward(dh, cache):
    """Gradients of one step from dh = ∂L/∂h (B, H) and the cache of rnn_step_forward.

    returns dx (B, I), dh_prev (B, H), dW_ih (H, I), dW_hh (H, H), db_ih (H,), db_hh (H,)
    """
    x, h_prev, W_ih, W_hh, h = cache
    dz = dh * (1 - h * h)                    # (B, H)  h = tanh(z): tanh' = 1 − h²
    dx = dz @ W_ih                           # (B, I)  z = x W_ihᵀ + …
    dh_prev = dz @ W_hh                      # (B, H)  z = … + h_prev W_hhᵀ + …
    dW_ih = dz.T @ x                         # (H, I)
    dW_hh = dz.T @ h_prev                    # (H, H)
    db_ih = dz.sum(axis=0)                   # (H,)    z = … + b_ih, on every row
    db_hh = dz.sum(axis=0)                   # (H,)    z = … + b_hh, on every row
    return dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh
