"""Exercise gru_cell: one step of torch.nn.GRUCell, forward and backward.

    gi = x W_ihᵀ + b_ih             (B, 3H): three blocks [gi_r | gi_z | gi_n]
    gh = h_prev W_hhᵀ + b_hh        (B, 3H): three blocks [gh_r | gh_z | gh_n]
    r = σ(gi_r + gh_r)              reset gate:  how much of the recurrent term n sees
    z = σ(gi_z + gh_z)              update gate: how much of h_prev to keep
    n = tanh(gi_n + r ⊙ gh_n)       candidate state
    h = (1 − z) ⊙ n + z ⊙ h_prev

The blocks are in torch's order r, z, n: rows k·H … (k+1)·H − 1 of W_ih, W_hh, b_ih and
b_hh belong to gate k (W_in is rows 2H … 3H − 1 of W_ih).  Two details are torch's, and
differ from many textbooks: r multiplies the whole recurrent term of n, its bias included,
gh_n = h_prev W_hnᵀ + b_hn (not h_prev before the product); and z is the share of the OLD
state (z near 1: h ≈ h_prev).  One state, no cell: x (B, I), h_prev (B, H), W_ih (3H, I),
W_hh (3H, H), b_ih (3H,), b_hh (3H,); B batch, I input size, H hidden size; float64.

The backward gets dh = ∂L/∂h and returns the gradient of L with respect to each input of
the step, shaped like that input.  Watch h_prev: it reaches h directly (z ⊙ h_prev) and
through each of the three blocks of W_hh, and every path adds.  Once yours passes, read
gru_step_forward and gru_step_backward in nplstm/functional/reference.py (the same names)
and the GRU section of docs/derivation.md.
"""

from typing import NamedTuple

import numpy as np


# given, from exercise lstm_cell_forward: sigmoid


class GRUCache(NamedTuple):
    """What the backward of the step needs: its inputs, the gates, and gh_n."""

    x: np.ndarray        # (B, I)
    h_prev: np.ndarray   # (B, H)
    r: np.ndarray        # (B, H) reset gate
    z: np.ndarray        # (B, H) update gate
    n: np.ndarray        # (B, H) candidate state
    gh_n: np.ndarray     # (B, H) h_prev W_hnᵀ + b_hn, the term r multiplies
    W_ih: np.ndarray     # (3H, I)
    W_hh: np.ndarray     # (3H, H)


def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One GRU step, as torch.nn.GRUCell (blocks in the order r, z, n).

    x (B, I), h_prev (B, H), W_ih (3H, I), W_hh (3H, H), b_ih (3H,), b_hh (3H,), float64
    returns h (B, H) and a cache for the backward (a GRUCache)
    """
    H = h_prev.shape[1]
    gi = x @ W_ih.T + b_ih                           # (B, 3H) gi = x W_ihᵀ + b_ih
    gh = h_prev @ W_hh.T + b_hh                      # (B, 3H) gh = h_prev W_hhᵀ + b_hh
    gi_r, gi_z, gi_n = gi[:, :H], gi[:, H:2 * H], gi[:, 2 * H:]   # (B, H) each
    gh_r, gh_z, gh_n = gh[:, :H], gh[:, H:2 * H], gh[:, 2 * H:]   # (B, H) each
    r = sigmoid(gi_r + gh_r)                         # (B, H)  r = σ(gi_r + gh_r)
    z = sigmoid(gi_z + gh_z)                         # (B, H)  z = σ(gi_z + gh_z)
    n = np.tanh(gi_n + r * gh_n)                     # (B, H)  n = tanh(gi_n + r ⊙ gh_n)
    h = (1 - z) * n + z * h_prev                     # (B, H)  h = (1 − z) ⊙ n + z ⊙ h_prev
    return h, GRUCache(x, h_prev, r, z, n, gh_n, W_ih, W_hh)


def gru_cell_backward(dh, cache):
    """Gradients of one GRU step from dh = ∂L/∂h (B, H) and the GRUCache of the forward.

    a_r, a_z, a_n are the arguments of σ, σ and tanh (a_n = gi_n + r ⊙ gh_n)
    returns dx (B, I), dh_prev (B, H), dW_ih (3H, I), dW_hh (3H, H), db_ih (3H,),
    db_hh (3H,)
    """
    x, h_prev, r, z, n, gh_n, W_ih, W_hh = cache
    dn = dh * (1 - z)                                # (B, H)  h = (1 − z) ⊙ n + …
    dz = dh * (h_prev - n)                           # (B, H)  h = n − z ⊙ n + z ⊙ h_prev
    dh_direct = dh * z                               # (B, H)  h = … + z ⊙ h_prev
    da_n = dn * (1 - n * n)                          # (B, H)  n = tanh(a_n): tanh' = 1 − t²
    dr = da_n * gh_n                                 # (B, H)  a_n = gi_n + r ⊙ gh_n
    dgh_n = da_n * r                                 # (B, H)  a_n = gi_n + r ⊙ gh_n
    da_z = dz * z * (1 - z)                          # (B, H)  z = σ(a_z): σ' = s(1 − s)
    da_r = dr * r * (1 - r)                          # (B, H)  r = σ(a_r)
    dgi = np.concatenate([da_r, da_z, da_n], axis=1)    # (B, 3H) a_r, a_z, a_n = gi + …
    dgh = np.concatenate([da_r, da_z, dgh_n], axis=1)   # (B, 3H) … + gh_r, gh_z, r ⊙ gh_n
    dx = dgi @ W_ih                                  # (B, I)  gi = x W_ihᵀ + …
    dh_prev = dh_direct + dgh @ W_hh                 # (B, H)  both paths: z ⊙ h_prev, and gh
    dW_ih = dgi.T @ x                                # (3H, I)
    dW_hh = dgh.T @ h_prev                           # (3H, H)
    db_ih = dgi.sum(axis=0)                          # (3H,)   gi = … + b_ih, on every row
    db_hh = dgh.sum(axis=0)                          # (3H,)   gh = … + b_hh, on every row
    return dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh
