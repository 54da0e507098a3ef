"""Exercise lstm_bptt: an LSTM over a whole sequence, and backpropagation through time.

The step (exercises lstm_cell_forward and lstm_cell_backward) is given below.  The sequence
runs it for t = 0 … T−1, each step reading the state the step before it wrote:
    h_t, c_t = step(x_t, h_{t−1}, c_{t−1})        h_{−1} = h0, c_{−1} = c0
    hs = [h_0, h_1, …, h_{T−1}]                   (T, B, H)
The loss reads every h_t, and dhs[t] = ∂L/∂h_t is the part of the gradient that arrives
there directly.  Backpropagation through time runs the steps backward, t = T−1 … 0, and
carries two gradients from step t+1 to step t:
    ∂L/∂h_t = dhs[t] + dh_prev of step t+1     (h_t is an output and step t+1's input)
    ∂L/∂c_t = dc_prev of step t+1              (c_t is read only by step t+1: the path
                                               through c, whose forget gate f_{t+1} lets
                                               gradients travel far)
At the last step nothing arrives from later: both carried gradients start at zero.  The
weights are used at every step, so their gradients are sums over the steps.
Compare: lstm_forward / lstm_backward in nplstm/functional/reference.py.
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


def lstm_cell_backward(dh, dc, cache):
    """Gradients of one LSTM step from dh = ∂L/∂h and dc = ∂L/∂c.

        do = dh ⊙ tanh(c)                        h = o ⊙ tanh(c)
        dc_total = dc + dh ⊙ o ⊙ (1 − tanh²(c))  c reaches L directly and through h
        df = dc_total ⊙ c_prev,  di = dc_total ⊙ g,  dg = dc_total ⊙ i
        dc_prev = dc_total ⊙ f                   c = f ⊙ c_prev + i ⊙ g
        dz = [di ⊙ i(1 − i) | df ⊙ f(1 − f) | dg ⊙ (1 − g²) | do ⊙ o(1 − o)]   (B, 4H)
        dx = dz W_ih,  dh_prev = dz W_hh,  dW_ih = dzᵀ x,  dW_hh = dzᵀ h_prev,
        db_ih = db_hh = Σ_B dz

    dh (B, H), dc (B, H), cache from lstm_cell_forward
    returns dx (B, I), dh_prev (B, H), dc_prev (B, H), dW_ih (4H, I), dW_hh (4H, H),
    db_ih (4H,), db_hh (4H,)
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c, W_ih, W_hh = cache
    do = dh * tanh_c                                 # (B, H)  h = o ⊙ tanh(c)
    dc = dc + dh * o * (1 - tanh_c * tanh_c)         # (B, H)  h = o ⊙ tanh(c): all of ∂L/∂c
    df = dc * c_prev                                 # (B, H)  c = f ⊙ c_prev + i ⊙ g
    dc_prev = dc * f                                 # (B, H)  c = f ⊙ c_prev + …
    di = dc * g                                      # (B, H)  c = … + i ⊙ g
    dg = dc * i                                      # (B, H)  c = … + i ⊙ g
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


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    """The LSTM over a sequence: lstm_cell_forward for t = 0 … T−1.

    x (T, B, I), h0 (B, H), c0 (B, H), W_ih (4H, I), W_hh (4H, H), b_ih (4H,), b_hh (4H,)
    returns hs (T, B, H), hs[t] = h_t, and a cache for lstm_backward
    """
    h, c = h0, c0
    hs, caches = [], []
    for x_t in x:                                    # x_t (B, I), t = 0 … T−1
        h, c, cache = lstm_cell_forward(x_t, h, c, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        caches.append(cache)
    return np.stack(hs), caches                      # (T, B, H)


def lstm_backward(dhs, cache):
    """Backpropagation through time: lstm_cell_backward for t = T−1 … 0.

    dhs (T, B, H): dhs[t] = the gradient arriving at h_t from the loss
    returns dx (T, B, I), dh0 (B, H), dc0 (B, H), dW_ih (4H, I), dW_hh (4H, H),
    db_ih (4H,), db_hh (4H,)
    """
    caches = cache
    dh_next = np.zeros_like(dhs[0])                  # (B, H) nothing arrives after the last step
    dc_next = np.zeros_like(dhs[0])                  # (B, H)
    dW_ih = np.zeros_like(caches[0].W_ih)            # (4H, I) sums over the steps
    dW_hh = np.zeros_like(caches[0].W_hh)            # (4H, H)
    db_ih = np.zeros(dW_ih.shape[0])                 # (4H,)
    db_hh = np.zeros(dW_ih.shape[0])                 # (4H,)
    dx = [None] * len(caches)
    for t in reversed(range(len(caches))):
        # ∂L/∂h_t = dhs[t] + what step t+1 sends back;  ∂L/∂c_t = what step t+1 sends back
        dx[t], dh_next, dc_next, dW_ih_t, dW_hh_t, db_ih_t, db_hh_t = lstm_cell_backward(
            dhs[t] + dh_next, dc_next, caches[t])
        dW_ih += dW_ih_t
        dW_hh += dW_hh_t
        db_ih += db_ih_t
        db_hh += db_hh_t
    return np.stack(dx), dh_next, dc_next, dW_ih, dW_hh, db_ih, db_hh   # dh0, dc0 last
