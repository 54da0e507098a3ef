"""Exercise sigmoid_tanh: the derivatives of σ and tanh, written through their outputs.

    σ(z) = 1 / (1 + e^(−z)),     tanh(z) = (e^z − e^(−z)) / (e^z + e^(−z))

The forward pass keeps their outputs s = σ(z) and t = tanh(z), not z.  Differentiate each,
then write the derivative with s (or t) alone: a backward pass then needs no exp and no z,
only what the forward already computed.
"""

import numpy as np


def sigmoid_backward(ds, s):
    """dz = ∂L/∂z for s = σ(z), from ds = ∂L/∂s and the output s (no z: write σ'(z) with s).

    ds, s   arrays of one shape (any), float64
    returns dz, shaped like s
    """
    return ds * s * (1 - s)                  # σ' = s (1 − s)


def tanh_backward(dt, t):
    """dz = ∂L/∂z for t = tanh(z), from dt = ∂L/∂t and the output t (no z: write tanh'(z)
    with t).

    dt, t   arrays of one shape (any), float64
    returns dz, shaped like t
    """
    return dt * (1 - t * t)                  # tanh' = 1 − t²
