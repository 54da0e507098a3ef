"""Exercise linear: the gradients of an affine layer, y = x Wᵀ + b (torch.nn.Linear).

    x (N, I) rows of inputs,  W (O, I),  b (O,),  y (N, O)
    y[n, o] = Σ_i x[n, i] W[o, i] + b[o]

Each gradient has the shape of what it is the gradient of (dx like x, dW like W, db like b),
and the shapes alone nearly write the products: which of dy (N, O), x (N, I) and W (O, I),
transposed or not, multiply to that shape?  b is added to every row of y.
"""

import numpy as np


def linear_backward(dy, x, W, b):
    """Gradients of y = x Wᵀ + b from dy = ∂L/∂y.

    dy (N, O), x (N, I), W (O, I), b (O,), float64
    returns dx (N, I), dW (O, I), db (O,)
    """
    dx = dy @ W                              # (N, I)  y = x Wᵀ + b
    dW = dy.T @ x                            # (O, I)  y = x Wᵀ + b
    db = dy.sum(axis=0)                      # (O,)    y = … + b, b on every row
    return dx, dW, db
