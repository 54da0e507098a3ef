"""Exercise lstm_cell_backward: backpropagation through one LSTM step.

The step (exercise lstm_cell_forward) is given below, computed by nplstm's reference:
    z = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh     (B, 4H): four blocks [z_i | z_f | z_g | z_o]
    i = σ(z_i),  f = σ(z_f),  g = tanh(z_g),  o = σ(z_o)
    c = f ⊙ c_prev + i ⊙ g
    h = o ⊙ tanh(c)

Undo these lines in reverse order, one line each, from dh = ∂L/∂h and dc = ∂L/∂c (the
gradients arriving at the step's two outputs).  Two things to watch:
  - c reaches L twice: directly, and through h.
  - the derivatives of σ and tanh are written with the gates the forward kept (exercise
    sigmoid_tanh), never with z.
The gradient of z keeps torch's block order i, f, g, o; the weight and bias gradients follow
from it as in exercise linear.  Once yours passes, read lstm_step_backward in
nplstm/functional/reference.py.
"""

from typing import NamedTuple

import numpy as np

from nplstm.functional.reference import lstm_step_forward


# given, from exercise lstm_cell_forward: CellCache


def lstm_cell_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """Given: one LSTM step (exercise lstm_cell_forward), by nplstm's reference.

    x (B, I), h_prev (B, H), c_prev (B, H), W_ih (4H, I), W_hh (4H, H), b_ih (4H,),
    b_hh (4H,), float64
    returns h (B, H), c (B, H) and the CellCache lstm_cell_backward gets
    """
    (h, c), step = lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh)
    return h, c, CellCache(x, h_prev, c_prev, step.i, step.f, step.g, step.o, step.tanh_c,
                           W_ih, W_hh)


def lstm_cell_backward(dh, dc, cache):
    """Gradients of one LSTM step from dh = ∂L/∂h and dc = ∂L/∂c.

    dh (B, H), dc (B, H), cache: the CellCache of lstm_cell_forward
    returns the gradients of L with respect to the step's inputs, each shaped like its
    input: dx (B, I), dh_prev (B, H), dc_prev (B, H), dW_ih (4H, I), dW_hh (4H, H),
    db_ih (4H,), db_hh (4H,)
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c, W_ih, W_hh = cache
    do = dh * tanh_c                                 # (B, H)  h = o ⊙ tanh(c)
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c)   # (B, H)  h = o ⊙ tanh(c): all of ∂L/∂c
    df = dc_total * c_prev                                 # (B, H)  c = f ⊙ c_prev + i ⊙ g
    dc_prev = dc_total * f                                 # (B, H)  c = f ⊙ c_prev + …
    di = dc_total * g                                      # (B, H)  c = … + i ⊙ g
    dg = dc_total * i                                      # (B, H)  c = … + i ⊙ g
    dz = np.concatenate([di * i * (1 - i),           # (B, 4H) i = σ(z_i): σ' = s(1 − s)
                         df * f * (1 - f),           #         f = σ(z_f)
                         dg * (1 - g * g),           #         g = tanh(z_g): tanh' = 1 − t²
                         do * o * (1 - o)], axis=1)  #         o = σ(z_o)
    dx = dz @ W_ih                                   # (B, I)  z = x W_ihᵀ + …
    dh_prev = dz @ W_hh                              # (B, H)  z = … + h_prev W_hhᵀ + …
    dW_ih = dz.T @ x                                 # (4H, I)
    dW_hh = dz.T @ h_prev                            # (4H, H)
    db_ih = dz.sum(axis=0)                           # (4H,)   z = … + b_ih, on every row
    db_hh = dz.sum(axis=0)                           # (4H,)   z = … + b_hh, on every row
    return dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh
