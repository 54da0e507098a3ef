"""Exercise lstm_cell_forward: one step of torch.nn.LSTMCell, the six equations.

    z = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh     (B, 4H): four blocks [z_i | z_f | z_g | z_o]
    i = σ(z_i)         input gate:  how much of g to write
    f = σ(z_f)         forget gate: how much of c_prev to keep
    g = tanh(z_g)      candidate cell: what to write
    o = σ(z_o)         output gate: how much of the cell to show
    c = f ⊙ c_prev + i ⊙ g
    h = o ⊙ tanh(c)

The blocks are in torch's order i, f, g, o: block k is columns k·H … (k+1)·H − 1 of z,
so rows k·H … (k+1)·H − 1 of W_ih, W_hh, b_ih and b_hh belong to gate k.
Shapes: B batch, I input size, H hidden size.  Once yours passes, read the reference's
lstm_step_forward in nplstm/functional/reference.py.
"""

from typing import NamedTuple

import numpy as np


def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)) = (1 + tanh(z/2)) / 2: the second form never overflows."""
    return 0.5 * (1 + np.tanh(0.5 * z))


class CellCache(NamedTuple):
    """What the backward of the step needs: its inputs and the gates it computed."""

    x: np.ndarray        # (B, I)
    h_prev: np.ndarray   # (B, H)
    c_prev: np.ndarray   # (B, H)
    i: np.ndarray        # (B, H) input gate
    f: np.ndarray        # (B, H) forget gate
    g: np.ndarray        # (B, H) candidate cell
    o: np.ndarray        # (B, H) output gate
    tanh_c: np.ndarray   # (B, H) tanh(c)
    W_ih: np.ndarray     # (4H, I)
    W_hh: np.ndarray     # (4H, H)


def lstm_cell_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step, as torch.nn.LSTMCell (gates in the order i, f, g, o).

    x (B, I), h_prev (B, H), c_prev (B, H), W_ih (4H, I), W_hh (4H, H), b_ih (4H,),
    b_hh (4H,), float64
    returns h (B, H), c (B, H) and a cache for the backward (a CellCache)
    """
    H = h_prev.shape[1]
    z = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh   # (B, 4H) z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
    i = sigmoid(z[:, 0 * H:1 * H])                   # (B, H)  i = σ(z_i)
    f = sigmoid(z[:, 1 * H:2 * H])                   # (B, H)  f = σ(z_f)
    g = np.tanh(z[:, 2 * H:3 * H])                   # (B, H)  g = tanh(z_g)
    o = sigmoid(z[:, 3 * H:4 * H])                   # (B, H)  o = σ(z_o)
    c = f * c_prev + i * g                           # (B, H)  c = f ⊙ c_prev + i ⊙ g
    tanh_c = np.tanh(c)                              # (B, H)
    h = o * tanh_c                                   # (B, H)  h = o ⊙ tanh(c)
    return h, c, CellCache(x, h_prev, c_prev, i, f, g, o, tanh_c, W_ih, W_hh)
