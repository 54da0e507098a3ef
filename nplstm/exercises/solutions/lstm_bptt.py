"""Exercise lstm_bptt: an LSTM over a whole sequence, and backpropagation through time.

The step and its backward (exercises lstm_cell_forward and lstm_cell_backward) are given, as
nplstm's reference writes them:
    (h, c), step_cache = lstm_step_forward(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh)
    grads, _ = lstm_step_backward(dh, dc, step_cache)      dh = ∂L/∂h, dc = ∂L/∂c
        grads.x (B, I), grads.h_prev (B, H), grads.c_prev (B, H), grads.weight_ih (4H, I),
        grads.weight_hh (4H, H), grads.bias_ih (4H,), grads.bias_hh (4H,)

The sequence runs the step for t = 0 … T−1, each step reading the state the step before it
wrote:
    h_t, c_t = step(x_t, h_{t−1}, c_{t−1})        h_{−1} = h0, c_{−1} = c0
    hs = [h_0, h_1, …, h_{T−1}]                   (T, B, H)
The loss reads every h_t, and dhs[t] = ∂L/∂h_t is the part of the gradient that arrives
there directly from the loss.  Backpropagation through time runs the steps backward,
t = T−1 … 0.  Before calling the step's backward at t, work out everything that reaches h_t
and c_t: which later computations read them?  The weights are used at every step.
Once yours passes, read lstm_forward / lstm_backward in nplstm/functional/reference.py.
"""

import numpy as np

from nplstm.functional.reference import lstm_step_backward, lstm_step_forward


def lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    """The LSTM over a sequence: lstm_step_forward for t = 0 … T−1.

    x (T, B, I), h0 (B, H), c0 (B, H), W_ih (4H, I), W_hh (4H, H), b_ih (4H,), b_hh (4H,)
    returns hs (T, B, H), hs[t] = h_t, and a cache for lstm_backward
    """
    h, c = h0, c0
    hs, caches = [], []
    for x_t in x:                                    # x_t (B, I), t = 0 … T−1
        (h, c), step_cache = lstm_step_forward(x_t, h, c, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        caches.append(step_cache)
    return np.stack(hs), caches                      # (T, B, H)


def lstm_backward(dhs, cache):
    """Backpropagation through time: lstm_step_backward for t = T−1 … 0.

    dhs (T, B, H): dhs[t] = the gradient arriving at h_t from the loss
    returns dx (T, B, I), dh0 (B, H), dc0 (B, H), dW_ih (4H, I), dW_hh (4H, H),
    db_ih (4H,), db_hh (4H,)
    """
    caches = cache
    dh_next = np.zeros_like(dhs[0])                  # (B, H) nothing arrives after the last step
    dc_next = np.zeros_like(dhs[0])                  # (B, H)
    dW_ih = np.zeros_like(caches[0].weight_ih)       # (4H, I) sums over the steps
    dW_hh = np.zeros_like(caches[0].weight_hh)       # (4H, H)
    db_ih = np.zeros(dW_ih.shape[0])                 # (4H,)
    db_hh = np.zeros(dW_ih.shape[0])                 # (4H,)
    dx = [None] * len(caches)
    for t in reversed(range(len(caches))):
        # ∂L/∂h_t = dhs[t] + what step t+1 sends back;  ∂L/∂c_t = what step t+1 sends back
        grads, _ = lstm_step_backward(dhs[t] + dh_next, dc_next, caches[t])
        dx[t], dh_next, dc_next = grads.x, grads.h_prev, grads.c_prev
        dW_ih += grads.weight_ih
        dW_hh += grads.weight_hh
        db_ih += grads.bias_ih
        db_hh += grads.bias_hh
    return np.stack(dx), dh_next, dc_next, dW_ih, dW_hh, db_ih, db_hh   # dh0, dc0 last
