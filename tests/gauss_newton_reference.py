"""Small cases for the Gauss-Newton product's checks; the reference itself is
``nplstm.gradcheck.library_pairs`` (its docstring says why it is independent)."""

import numpy as np

from nplstm.gradcheck.library_pairs import dense_loss_hessian, gauss_newton_hvp, model_gradient

__all__ = ["charlm_case", "adding_case", "dense_loss_hessian", "gauss_newton_hvp",
           "model_gradient"]


def charlm_case(rng, T=3, B=2, V=4, H=3, dtype=np.float64):
    """x (T, B, V) one-hot characters, params, targets (T, B): a tiny char-LM."""
    chars = rng.integers(0, V, size=(T + 1, B))
    x = np.eye(V, dtype=dtype)[chars[:-1]]
    params = _params(rng, V, H, V, dtype)
    return x, params, chars[1:]


def adding_case(rng, T=4, B=3, H=3, dtype=np.float64):
    from nplstm.training.data import adding_problem
    x, y = adding_problem(rng, B, T, dtype=np.dtype(dtype).name)
    return x, _params(rng, 2, H, 1, dtype), y


def _params(rng, I, H, O, dtype):
    shapes = [(4 * H, I), (4 * H, H), (4 * H,), (4 * H,), (O, H), (O,)]
    return tuple((0.5 * rng.standard_normal(s)).astype(dtype) for s in shapes)
