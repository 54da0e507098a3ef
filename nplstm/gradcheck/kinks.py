"""Is a failing element a kink?  One-sided differences tell a wrong gradient from a point
where the function has no derivative.

At a kink (relu at 0, |x| at 0, max of two equal values) the central difference averages
the slopes on both sides, and no analytic value (a subgradient) matches it: the element
fails, and a report that says only ``a=-0 n=-0.066`` sends the user hunting for a bug that
is not there.  For each failing element (or direction) v:

    right(h) = (L(x + h·v) − L(x)) / h         left(h) = (L(x) − L(x − h·v)) / h

Where L is smooth, right(h) − left(h) ≈ h·vᵀ∇²L v: it shrinks with h.  At a kink it is
the jump of the slope: it does not.  So

    |right(ε) − left(ε)| > tol  and  |right(ε/10) − left(ε/10)| > ½·|right(ε) − left(ε)|
        → "not differentiable here"
    |right(ε) − left(ε)| > tol  and the central difference at ε/10 agrees with analytic
        → "a kink within eps of here" (the step straddles it; Richardson's ε = 1e-3 makes
          that zone 1000× wider than the default 1e-6)

(tol the element's own tolerance, atol + rtol·|numeric|).  The chainer gradient checker's
``detect_nondifferentiable`` fits the two sides; this is the cheaper two-step version, run
only on failing elements: 4 evaluations each, at most ``MAX_EXAMINED`` per input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["kink_label", "MAX_EXAMINED"]

MAX_EXAMINED = 8


def kink_label(loss: Any, k: int, v: np.ndarray, eps: float, analytic: float, tol: float,
               base: float) -> str:
    """"" or a label saying why the element along ``v`` of input k cannot be checked.

    loss      the ``ProjectedLoss``; base its value at the inputs, L(x)
    v         a direction shaped like input k (a unit vector e_j for an element)
    analytic  ⟨∇L, v⟩ from the backward; tol the element's tolerance
    """
    right, left = loss.one_sided(k, v, eps, base)
    jump = abs(right - left)
    if not (np.isfinite(jump) and jump > tol):
        return ""
    right10, left10 = loss.one_sided(k, v, eps / 10, base)
    if abs(right10 - left10) > 0.5 * jump:
        return (f"not differentiable here: the one-sided slopes disagree (left {left:.4g}, "
                f"right {right:.4g}, also at eps/10); check at a point away from the kink")
    if abs((right10 + left10) / 2 - analytic) <= 10 * tol:
        return (f"a kink within eps={eps:g} of here: the difference straddles it (at eps/10 "
                f"it agrees with analytic); use a smaller eps or move the point")
    return ""
