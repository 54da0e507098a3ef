"""The adjoint (dot-product) test: a JVP against a VJP, with no finite differences.

For a function y = f(x) with Jacobian J, a forward-mode derivative (JVP) gives J v and a
backward (VJP) gives Jᵀ u.  For any u, v

    ⟨J v, u⟩ = ⟨v, Jᵀ u⟩

exactly; in floating point the two sides agree to round-off (≈1e-15 relative in float64),
so an error of relative size 1e-8 in either derivative, far below what finite differences
can see, stands out.  The identity holds for every input separately (v nonzero in input i
only), so the test names the input whose JVP or VJP is wrong.

    report = adjoint_check(jvp, vjp, inputs, names=...)

    jvp(inputs, tangents) -> (output, output_tangent)   tangents: one per input (None for
                                                        inputs that are not float arrays)
    vjp(inputs, cotangent) -> grads                      one per input; or a pair
                                                        (forward, backward) as gradcheck takes
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .arrays import flatten, is_float_array, like, shape_of, to_host64, why_skipped
from .outputs import OutputLeaves, forward_pair, gradient_copy, gradient_sequence
from .report import GradcheckError, GradcheckReport, InputReport
from .settings import (COUNT_MAX, bool_setting, callable_setting, describe, finite_inputs, inputs_setting,
                       int_setting, names_setting, real_setting, supported_values)

__all__ = ["adjoint_check", "which_side", "ADJOINT_CRITERION"]

_U = {np.dtype(np.float64): float(np.finfo(np.float64).eps) / 2,
      np.dtype(np.float32): float(np.finfo(np.float32).eps) / 2}


ADJOINT_CRITERION = ("a trial passes when |<J v, u> - <v, J^T u>| <= rtol*((|<J v, u>| + "
                     "|<v, J^T u>|)/2 + 1e-2*||J v||*||u||), rtol={rtol:.3g}")


def adjoint_check(jvp: Callable[..., Any], vjp: Any, inputs: Sequence[Any], *,
                  trials: int = 3, rtol: Optional[float] = None, seed: int = 0,
                  names: Optional[Sequence[str]] = None,
                  raise_exception: bool = True,
                  jvp_report: Optional[GradcheckReport] = None,
                  vjp_report: Optional[GradcheckReport] = None) -> GradcheckReport:
    """Check ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ per input for ``trials`` seeded random u, v.

    jvp, vjp         see the module docstring
    inputs           the point x: a list or tuple of arguments; float arrays are checked
                     (each must be finite)
    trials           random (u, v) pairs per input, an int in [1, 10000]
    rtol             pass when |⟨Jv,u⟩ − ⟨v,Jᵀu⟩| ≤ rtol·(|⟨Jv,u⟩| + |⟨v,Jᵀu⟩|)/2 + atol,
                     + rtol·10⁻²·‖Jv‖‖u‖ (guards sums that cancel by chance); finite, >= 0;
                     default 1e3·u·√m (u the unit round-off of the dtype, m the problem
                     size): ≈ 1e-11 for a small float64 problem, so a relative 1e-8 bug is
                     caught
    seed             an int >= 0; seeds u and v
    names            distinct strings, a name per input for the report
    raise_exception  raise ``GradcheckError`` on failure; else return the report
    jvp_report       a ``jvpcheck`` report of the same JVP (JVP against the forward)
    vjp_report       a ``gradcheck`` report of the same backward (backward against forward)
                     With both, a failing input's note says which side is wrong: the one
                     whose finite-difference check failed for it (both, or neither: an
                     error below finite differences' resolution, ~1e-6 relative)

    Every setting is validated before jvp or vjp is called (TypeError for a wrong type,
    ValueError for a wrong value, naming the setting).  A NaN or inf on either side fails.
    """
    callable_setting("jvp", jvp, "jvp(inputs, tangents) -> (output, output_tangent)")
    for label, given, source, title in (("jvp_report", jvp_report, "jvpcheck", "JVP check"),
                                        ("vjp_report", vjp_report, "gradcheck",
                                         "gradient check")):
        if given is not None and not isinstance(given, GradcheckReport):
            raise TypeError(f"{label} must be a GradcheckReport (from {source}) "
                            f"or None, got {describe(given)}")
        if given is not None and given.title != title:     # swapped: the blame would be too
            raise ValueError(f"{label} must be a report from {source} ({title!r}), got a "
                             f"{given.title!r} report")
    vjp = _as_vjp(vjp)
    inputs = inputs_setting("inputs", inputs)
    names = names_setting(names, len(inputs))
    trials = int_setting("trials", trials, minimum=1, maximum=COUNT_MAX)
    rtol = real_setting("rtol", rtol, minimum=0.0, allow_none=True)
    seed = int_setting("seed", seed, minimum=0)
    raise_exception = bool_setting("raise_exception", raise_exception)
    supported_values(names, inputs)
    float_inputs = [is_float_array(a) for a in inputs]
    if not any(float_inputs):
        raise ValueError("adjoint_check needs at least one float array among the inputs")
    finite_inputs(names, inputs, float_inputs)
    dtype = next(a.dtype for a, ok in zip(inputs, float_inputs) if ok)
    zero_tangents = [None if not ok else like(np.zeros(a.shape, a.dtype), a)
                     for a, ok in zip(inputs, float_inputs)]
    output, _ = forward_pair(jvp(inputs, zero_tangents), "jvp", "(output, output_tangent)")
    leaves = OutputLeaves(output, "jvp's output")
    m = sum(a.size for a, ok in zip(inputs, float_inputs) if ok) + \
        sum(int(np.prod(shape_of(o))) for o, p in zip(leaves.values, leaves.projected) if p)
    if rtol is None:
        rtol = 1e3 * _U.get(np.dtype(dtype), _U[np.dtype(np.float32)]) * math.sqrt(m)

    rng = np.random.default_rng(seed)
    rows = [InputReport(n, shape_of(a), checked=ok,
                        note="" if ok else why_skipped(a), rtol=rtol)
            for n, a, ok in zip(names, inputs, float_inputs)]
    for trial in range(trials):
        us = leaves.draw_directions(rng)
        grads = gradient_sequence(vjp(inputs, leaves.doutput(us)), len(inputs), "vjp")  # Jᵀu
        for k, (a, ok) in enumerate(zip(inputs, float_inputs)):
            if not ok:
                continue
            v = rng.standard_normal(a.shape).astype(a.dtype)            # nonzero in input k
            tangents = list(zero_tangents)
            tangents[k] = like(v, a)
            _, out_tangent = forward_pair(jvp(inputs, tangents), "jvp",
                                          "(output, output_tangent)")
            jv, _ = flatten(out_tangent)
            lhs = _dot(jv, us)                                         # ⟨J v, u⟩
            g = gradient_copy(grads[k], a, names[k], "vjp")
            with np.errstate(invalid="ignore", over="ignore"):   # NaN/inf: fails below
                rhs = 0.0 if g is None else float(np.dot(to_host64(v).ravel(),
                                                         g.ravel()))    # ⟨v, Jᵀu⟩
            scale = _norm(jv) * _norm(us)
            err = abs(lhs - rhs)
            mean = (abs(lhs) + abs(rhs)) / 2
            tol = rtol * (mean + 1e-2 * scale)          # the second term guards cancellation
            _record(rows[k], trial, lhs, rhs, err, mean, tol)
    checked = [r for r in rows if r.checked]
    for r in checked:
        if not r.passed:
            r.note = which_side(r.name, jvp_report, vjp_report)
    report = GradcheckReport(all(r.passed for r in checked), rows, mode="adjoint",
                             atol=0.0, rtol=rtol, seed=seed, title="adjoint check",
                             criterion=ADJOINT_CRITERION.format(rtol=rtol))
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


def which_side(name: str, jvp_report: Optional[GradcheckReport],
               vjp_report: Optional[GradcheckReport]) -> str:
    """Which derivative of input ``name`` the finite-difference checks blame ("" if not
    both were given, or either does not cover the input)."""
    if jvp_report is None or vjp_report is None:
        return ("pass jvp_report= (jvpcheck) and vjp_report= (gradcheck) to learn which "
                "side is wrong")
    verdicts = []
    for report in (jvp_report, vjp_report):
        row = next((r for r in report.inputs if r.name == name and r.checked), None)
        verdicts.append(None if row is None else row.passed)
    jvp_ok, vjp_ok = verdicts
    if jvp_ok is None or vjp_ok is None:
        return f"{name} is not checked by both jvp_report and vjp_report"
    if jvp_ok and not vjp_ok:
        return "the backward (vjp) is wrong: gradcheck fails it, jvpcheck passes the JVP"
    if vjp_ok and not jvp_ok:
        return "the JVP is wrong: jvpcheck fails it, gradcheck passes the backward"
    if not (jvp_ok or vjp_ok):
        return "both are wrong: jvpcheck and gradcheck both fail"
    return ("both pass their finite-difference checks: the error is below their resolution "
            "(~1e-6 relative); rerun them with richardson=True (away from kinks: its eps=1e-3 "
            "fails any element within 1e-3 of one)")


def _record(row: InputReport, trial: int, lhs: float, rhs: float, err: float, mean: float,
            tol: float) -> None:
    """Fold one trial into an input's row (analytic: ⟨v, Jᵀu⟩, numeric: ⟨Jv, u⟩); a NaN
    or inf on either side fails."""
    if not (math.isfinite(lhs) and math.isfinite(rhs)):
        err = ratio = math.inf
    else:
        ratio = err / tol if tol > 0 else (0.0 if err == 0 else math.inf)
    rel = err / mean if mean > 0 else 0.0
    row.n_checked += 1
    row.n_failed += int(ratio > 1)
    row.passed = row.n_failed == 0
    row.max_abs_error = max(row.max_abs_error, err)
    row.max_rel_error = max(row.max_rel_error, rel)
    if ratio >= row.worst_ratio:
        row.worst_ratio, row.worst_analytic, row.worst_numeric = ratio, rhs, lhs
        row.where = f"trial {trial}"


def _dot(xs: Sequence[Any], us: Sequence[Any]) -> float:
    return sum(float(np.dot(to_host64(x).ravel(), u.astype(np.float64).ravel()))
               for x, u in zip(xs, us) if u is not None and x is not None)


def _norm(xs: Sequence[Any]) -> float:
    return math.sqrt(sum(float(np.sum(to_host64(x) ** 2)) for x in xs if x is not None))


def _as_vjp(vjp: Any) -> Callable[[Sequence[Any], Any], Any]:
    """A vjp(inputs, cotangent) callable from a callable or a (forward, backward) pair."""
    if isinstance(vjp, (tuple, list)) and len(vjp) == 2 and all(map(callable, vjp)):
        forward, backward = vjp

        def from_pair(inputs: Sequence[Any], cotangent: Any) -> Any:
            _, cache = forward_pair(forward(*inputs))
            return backward(cotangent, cache)

        return from_pair
    if not callable(vjp):
        raise TypeError("vjp must be a callable vjp(inputs, cotangent) or a pair "
                        f"(forward, backward), got {describe(vjp)}")
    return vjp
