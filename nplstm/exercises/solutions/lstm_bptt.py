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


# given, from exercise lstm_cell_backward: sigmoid, CellCache, lstm_cell_forward, lstm_cell_backward


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
