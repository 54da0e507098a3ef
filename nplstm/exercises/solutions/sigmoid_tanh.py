"""Exercise sigmoid_tanh: the derivatives of σ and tanh, written through their outputs.

The forward pass keeps s = σ(z) and t = tanh(z), not z, and both derivatives can be written
with those outputs alone:
    σ(z) = 1 / (1 + e^(−z))      σ'(z) = σ(z) (1 − σ(z)) = s (1 − s)
    tanh'(z) = 1 − tanh(z)² = 1 − t²
So a backward pass needs no exp and no z: only what the forward already computed.
"""

import numpy as np


def sigmoid_backward(ds, s):
    """dz = ∂L/∂z for s = σ(z), from ds = ∂L/∂s and the output s.

        dz = ds ⊙ s ⊙ (1 − s)        (⊙ elementwise)

    ds, s   arrays of one shape (any), float64
    returns dz, shaped like s
    """
    return ds * s * (1 - s)                  # σ' = s (1 − s)


def tanh_backward(dt, t):
    """dz = ∂L/∂z for t = tanh(z), from dt = ∂L/∂t and the output t.

        dz = dt ⊙ (1 − t²)

    dt, t   arrays of one shape (any), float64
    returns dz, shaped like t
    """
    return dt * (1 - t * t)                  # tanh' = 1 − t²

