"""Default tolerances: from the precision of the differences and of the backward.

An element passes when |analytic − numeric| ≤ atol + rtol·|numeric| (``error_ratios``: the
ratio of the two sides, > 1 fails; NaN or inf on either side always fails).  Two error
sources:

float64 backward (checked against float64 differences).  The analytic value is exact to
round-off; the error is the difference's own.  Central differences:

    numeric − exact ≈ ε²/6 · L'''  (truncation)  +  u₆₄ · S_L / ε  (round-off)

with u₆₄ = 2⁻⁵³ ≈ 1.1e-16 and S_L = Σ_k |u_k · out_k|, the size of the terms summed into the
projected loss L (it bounds the rounding error of evaluating L).  The default ε = 1e-6 makes
truncation ~1e-13, so atol = max(1e-8, 8·u₆₄·S_L/ε), rtol = 1e-6: a relative error of 1e-5
in a gradient element of size ≳ 1e-3 is caught.  Richardson extrapolation (ε = 1e-3) removes
the ε² term (error ≈ ε⁴/30·L⁽⁵⁾ + 3·u₆₄·S_L/ε, about 1e-12 at ε = 1e-3), so its defaults
are 100× tighter: atol = max(1e-10, 24·u₆₄·S_L/ε), rtol = 1e-8.

float32 backward (checked against the same function differenced in float64).  The numeric
value is now the accurate one; the analytic value carries float32 round-off.  Each element
of a backward is a sum over at most m terms, m = the problem size (elements of all float
inputs and outputs), each term carrying relative errors of a few u₃₂ = 2⁻²⁴ ≈ 6e-8; rounding
errors add up like a random walk, so the error of an element is ≲ C·u₃₂·√m · S, S the size
of the gradient (max |numeric| over the input).  Hence, per input,

    rtol = C·u₃₂·√m,    atol = rtol · S,    C = 48

C was set from measurements: over 425 random float32 checks (cells, 1–2-layer uni- and
bidirectional sequences with and without lengths and projections up to T = 60, linear,
embedding, losses; sizes down to 1) the worst error/tolerance was 0.15 at C = 32, i.e. 0.10
at C = 48: a margin of 10, so a right float32 backward does not flake (the worst cases are
tiny problems where a gradient element is a cancelling sum of larger terms).  A relative
error δ at the input's largest element is caught while δ > 2·rtol: δ = 1e-3 up to
m ≈ 3·10⁴ (rtol = 5e-4 there), δ = 1e-4 up to m ≈ 300; a wrong term, always.

Which precision.  The analytic gradient carries the round-off of the lowest precision it
went through: the input's, the output's (the forward ran in it) and the gradient's own — a
float32 backward whose gradient comes back float64 (``ds @ k / np.sqrt(d)`` promotes) still
computed in float32.  So the dtype passed here is the lowest precision among the three
(``arrays.lowest_precision``), and the report says so when they differ.

float16 is refused (``settings.FLOAT16_UNSUPPORTED``): u₁₆ = 2⁻¹¹ ≈ 4.9e-4 makes
48·u₁₆·√m ≥ 2e-2 for any problem (0.2 at m = 100): such a bar sees only a wrong term, and
the constant 48 was measured for float32 only, so it would not be a derived tolerance.

Kinks.  At a point where L is not differentiable (relu at 0) no tolerance helps: the
central difference averages the two one-sided slopes.  The checker compares the one-sided
differences of each failing element (``kinks``) and labels it "not differentiable here"
when they disagree by more than its tolerance at ε and still at ε/10.  Within ε of a
kink the central difference straddles it and fails too; Richardson's larger ε (1e-3)
widens that blind zone a thousandfold (relu at x = 2e-4 fails with it, passes without).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["default_tolerances", "error_ratios", "finite_max_abs", "FLOAT32_SAFETY"]

FLOAT32_SAFETY = 48.0
_U64 = float(np.finfo(np.float64).eps) / 2
_U32 = float(np.finfo(np.float32).eps) / 2


def default_tolerances(dtype, *, eps, loss_terms, problem_size, gradient_scale,
                       richardson=False):
    """(atol, rtol) for one input whose analytic gradient carries the round-off of ``dtype``
    (the lowest precision among input, output and gradient); see the module doc.

    eps             the difference step
    loss_terms      S_L = Σ |u_k · out_k| at the unperturbed point
    problem_size    m, the number of elements of all float inputs and outputs
    gradient_scale  S, max |numeric| over this input (0 allowed)
    """
    if richardson:     # O(ε⁴): the differences are ~100× more accurate, so are the bars
        atol64, rtol64 = max(1e-10, 8.0 * 3.0 * _U64 * loss_terms / eps), 1e-8
    else:
        atol64, rtol64 = max(1e-8, 8.0 * _U64 * loss_terms / eps), 1e-6
    unit = float(np.finfo(np.dtype(dtype)).eps) / 2
    if unit <= _U64:
        return atol64, rtol64
    rtol = FLOAT32_SAFETY * unit * math.sqrt(max(problem_size, 1))
    return max(atol64, rtol * gradient_scale), max(rtol64, rtol)


def error_ratios(analytic, numeric, atol, rtol):
    """(abs_err, rel_err, ratio) elementwise for float64 arrays of one shape.

    abs_err = |a − n|,  rel_err = |a − n| / max(|a|, |n|) (0 where both are 0),
    ratio = |a − n| / (atol + rtol·|n|): > 1 fails (inf when the tolerance is 0 and a ≠ n).
    Where a or n is NaN or ±inf all three are inf: a non-finite value never passes.
    """
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    bad = ~(np.isfinite(analytic) & np.isfinite(numeric))
    a, n = np.where(bad, 0.0, analytic), np.where(bad, 0.0, numeric)
    abs_err = np.abs(a - n)
    big = np.maximum(np.abs(a), np.abs(n))
    rel_err = np.divide(abs_err, big, out=np.zeros_like(abs_err), where=big > 0)
    tol = atol + rtol * np.abs(n)
    ratio = np.divide(abs_err, tol, out=np.where(abs_err > 0, np.inf, 0.0), where=tol > 0)
    return tuple(np.where(bad, np.inf, err) for err in (abs_err, rel_err, ratio))


def finite_max_abs(values) -> float:
    """max |v| over the finite entries of ``values`` (0 when there are none): the gradient
    scale S, which a NaN or inf must not inflate into an infinite tolerance."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    return float(np.abs(finite).max()) if finite.size else 0.0
