"""``hvpcheck``: hand-written Hessian-vector products against central differences of a
hand-written gradient.

    report = hvpcheck(grad, hvp, inputs, mode="full" | "directional" | "sampled")

    grad(*inputs) -> grads            the gradient of a scalar loss ℓ: one entry per input,
                                      shaped like it (None for inputs with no gradient)
    hvp(vectors, *inputs) -> products H v: ``vectors`` one per input (None where grad gave
                                      None), the products one per input

It is ``gradcheck`` applied to the gradient as a function: g = ∇ℓ has Jacobian H = ∇²ℓ, so
with the seeded random u of ``gradcheck`` (one per entry of grad's result)

    ∂/∂x_j ⟨u, g(x)⟩ = (Hᵀ u)_j = (H u)_j        (H is symmetric)

and the check compares hvp(u) with central differences of ⟨u, grad(x)⟩ — every element
(``full``), random elements (``sampled``) or random directions (``directional``), with the
same derived tolerances, determinism checks, kink labels and report as ``gradcheck``.  The
symmetry is the contract: ``hvp`` must be the product with a symmetric matrix that is the
Jacobian of ``grad`` (a Hessian, or a Gauss-Newton matrix with the gradient of the model
whose Hessian it is; see ``nplstm.functional.gauss_newton``).  Cost: as ``gradcheck`` with
``grad`` in the place of forward, and two calls of hvp.

A double backward (the derivative of a backward with respect to its inputs and its upstream
gradient) needs no new contract: it is the backward of the function
(x, dy) ↦ backward(dy, cache(x)), so ``gradcheck`` checks it (docs/gradcheck.md §3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

from .core import Roles, check_pair
from .outputs import gradient_sequence
from .report import GradcheckReport
from .settings import callable_setting, inputs_setting

__all__ = ["hvpcheck", "HVP_ROLES"]

HVP_ROLES = Roles("grad", "hvp", "Hessian-vector check")


def hvpcheck(grad: Callable[..., Any], hvp: Callable[..., Any], inputs: Sequence[Any], *,
             mode: str = "full", eps: Optional[float] = None, atol: Optional[float] = None,
             rtol: Optional[float] = None, seed: int = 0,
             names: Optional[Sequence[str]] = None, wrt: Any = None, directions: int = 4,
             samples: int = 16, richardson: bool = False, layouts: Any = None,
             raise_exception: bool = True, progress: bool = False,
             nondet_tol: float = 0.0) -> GradcheckReport:
    """Compare ``hvp`` with central differences of ``grad``; see the module docstring.

    The settings are ``gradcheck``'s, with the same meaning and validation; the report's
    "analytic" column is hvp's (H u)_j, "numeric" the difference of ⟨u, grad⟩ along e_j.
    """
    callable_setting("grad", grad, "grad(*inputs) -> grads")
    callable_setting("hvp", hvp, "hvp(vectors, *inputs) -> products")
    inputs = inputs_setting("inputs", inputs)
    n = len(inputs)
    at = [a.copy() if hasattr(a, "shape") and hasattr(a, "copy") else a for a in inputs]

    def forward(*xs: Any) -> tuple[Any, ...]:                 # the gradient, as gradcheck's forward
        return tuple(gradient_sequence(grad(*xs), n, "grad")[:n]), None

    def backward(vectors: Any, _: Any) -> Any:      # H u, at the point checked
        return hvp(vectors, *[a.copy() if hasattr(a, "shape") and hasattr(a, "copy") else a
                              for a in at])

    return check_pair(forward, backward, inputs, mode=mode, eps=eps, atol=atol, rtol=rtol,
                      seed=seed, names=names, wrt=wrt, directions=directions,
                      samples=samples, richardson=richardson, layouts=layouts,
                      raise_exception=raise_exception, progress=progress,
                      nondet_tol=nondet_tol, roles=HVP_ROLES)
