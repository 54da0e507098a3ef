"""An independent reference for ``F.gauss_newton_product``: a gradient whose Jacobian is the
Gauss-Newton matrix, for ``nplstm.hvpcheck`` (tests/test_gauss_newton.py,
examples/truncated_newton.py).

At θ₀ let z₀ = z(θ₀) be the network's output and H₀ the loss's Hessian in z there, written
out here as dense matrices (cross-entropy: per valid row (diag(p) − p pᵀ)/M; MSE: 2/K · I),
not through the library's ``*_hessian_product``.  The quadratic

    q(θ) = ½ (z(θ) − z₀)ᵀ H₀ (z(θ) − z₀)

has gradient ∇q(θ) = J(θ)ᵀ H₀ (z(θ) − z₀) (the forward, then the library's backward, each
checked by gradcheck) and Hessian at θ₀

    ∇²q(θ₀) = J₀ᵀ H₀ J₀ + Σ_i [H₀ (z₀ − z₀)]_i ∇²z_i = J₀ᵀ H₀ J₀ = G,

the residual killing the second-derivative term.  So central differences of ∇q at θ₀ along
any v are G v + O(ε²), computed without the JVP and without the loss-Hessian product that
``gauss_newton_product`` uses: a bug in either fails

    nplstm.hvpcheck(model_gradient(x, params, targets, loss),
                    gauss_newton_hvp(x, targets, loss), list(params))

H₀ is dense, (N, C, C) for the cross-entropy: meant for the small problems of a check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..functional.gauss_newton import ReadoutCache

__all__ = ["dense_loss_hessian", "model_gradient", "gauss_newton_hvp"]


def dense_loss_hessian(cache: ReadoutCache) -> Any:
    """H₀ as dense blocks: (N, C, C) for cross-entropy, a scalar for MSE."""
    if cache.loss == "cross_entropy":
        p, _, valid, count = cache.loss_cache
        blocks = np.einsum("nc,cd->ncd", p, np.eye(p.shape[1])) - np.einsum("nc,nd->ncd", p, p)
        return blocks * valid[:, :, None] / max(count, 1)
    return 2.0 / cache.loss_cache.diff.size


def model_gradient(x: np.ndarray, params0: Sequence[np.ndarray], targets: np.ndarray,
                   loss: str) -> Callable[..., tuple[Any, ...]]:
    """grad(*params) -> ∇q(params) for hvpcheck (the module docstring)."""
    _, cache0 = F.readout_forward(x, params0, targets, loss=loss)
    H0 = dense_loss_hessian(cache0)
    z0 = cache0.z

    def grad(*params: np.ndarray) -> tuple[Any, ...]:   # in the parameters' dtype (float64 differences)
        dtype = params[0].dtype
        y = targets if loss == "cross_entropy" else targets.astype(dtype)
        _, cache = F.readout_forward(x.astype(dtype), params, y, loss=loss)
        r = cache.z - z0.astype(dtype)
        dz = np.einsum("ncd,nd->nc", H0.astype(dtype), r) if loss == "cross_entropy" \
            else H0 * r
        return F.readout_backward(dz.astype(r.dtype), cache)

    return grad


def gauss_newton_hvp(x: np.ndarray, targets: np.ndarray, loss: str) -> Callable[..., tuple[Any, ...]]:
    """hvp(vectors, *params) -> G v, the library's product, for hvpcheck."""
    def hvp(vectors: Sequence[np.ndarray], *params: np.ndarray) -> tuple[Any, ...]:
        return F.gauss_newton_product(x, params, targets, vectors, loss=loss)

    return hvp
