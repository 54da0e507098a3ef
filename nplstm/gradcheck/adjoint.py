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

import numpy as np

from .arrays import flatten, is_float_array, like, shape_of, to_host64, why_skipped
from .report import GradcheckError, GradcheckReport, InputReport

__all__ = ["adjoint_check"]

_U = {np.dtype(np.float64): float(np.finfo(np.float64).eps) / 2,
      np.dtype(np.float32): float(np.finfo(np.float32).eps) / 2}


def adjoint_check(jvp, vjp, inputs, *, trials=3, rtol=None, seed=0, names=None,
                  raise_exception=True) -> GradcheckReport:
    """Check ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ per input for ``trials`` seeded random u, v.

    jvp, vjp         see the module docstring
    inputs           the point x: a sequence of arguments; float arrays are checked
    trials           random (u, v) pairs per input
    rtol             pass when |⟨Jv,u⟩ − ⟨v,Jᵀu⟩| ≤ rtol·(|⟨Jv,u⟩| + |⟨v,Jᵀu⟩|)/2 + atol,
                     + rtol·10⁻²·‖Jv‖‖u‖ (guards sums that cancel by chance); default
                     1e3·u·√m (u the unit round-off of the dtype, m the problem size):
                     ≈ 1e-11 for a small float64 problem, so a relative 1e-8 bug is caught
    seed             seeds u and v
    names            a name per input for the report
    raise_exception  raise ``GradcheckError`` on failure; else return the report
    """
    if not callable(jvp):
        raise TypeError(f"jvp must be a callable jvp(inputs, tangents), got {type(jvp).__name__}")
    vjp = _as_vjp(vjp)
    inputs = list(inputs)
    names = list(names) if names is not None else [f"input{k}" for k in range(len(inputs))]
    if len(names) != len(inputs):
        raise ValueError(f"names must have one entry per input ({len(inputs)}), got {len(names)}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive int, got {trials!r}")
    float_inputs = [is_float_array(a) for a in inputs]
    if not any(float_inputs):
        raise ValueError("adjoint_check needs at least one float array among the inputs")
    dtype = next(a.dtype for a, ok in zip(inputs, float_inputs) if ok)
    zero_tangents = [None if not ok else like(np.zeros(a.shape, a.dtype), a)
                     for a, ok in zip(inputs, float_inputs)]
    output, _ = jvp(inputs, zero_tangents)
    outputs, rebuild = flatten(output)
    m = sum(a.size for a, ok in zip(inputs, float_inputs) if ok) + \
        sum(o.size for o in outputs if is_float_array(o))
    if rtol is None:
        rtol = 1e3 * _U.get(np.dtype(dtype), _U[np.dtype(np.float32)]) * math.sqrt(m)

    rng = np.random.default_rng(seed)
    rows = [InputReport(n, shape_of(a), checked=ok,
                        note="" if ok else why_skipped(a), rtol=rtol)
            for n, a, ok in zip(names, inputs, float_inputs)]
    for trial in range(trials):
        us = [rng.standard_normal(o.shape).astype(o.dtype) if is_float_array(o) else None
              for o in outputs]
        cotangent = rebuild([None if u is None else like(u, o) for u, o in zip(us, outputs)])
        grads = list(vjp(inputs, cotangent))                           # Jᵀ u, per input
        if len(grads) < len(inputs):
            raise ValueError(f"vjp returned {len(grads)} gradients for {len(inputs)} inputs")
        for k, (a, ok) in enumerate(zip(inputs, float_inputs)):
            if not ok:
                continue
            v = rng.standard_normal(a.shape).astype(a.dtype)            # nonzero in input k
            tangents = list(zero_tangents)
            tangents[k] = like(v, a)
            _, out_tangent = jvp(inputs, tangents)                     # J v
            jv, _ = flatten(out_tangent)
            lhs = _dot(jv, us)                                         # ⟨J v, u⟩
            g = grads[k]
            if g is not None and tuple(g.shape) != tuple(a.shape):
                raise ValueError(f"vjp's gradient for {names[k]} has shape {tuple(g.shape)}, "
                                 f"but the input has shape {tuple(a.shape)}")
            rhs = 0.0 if g is None else float(np.dot(to_host64(v).ravel(),
                                                     to_host64(g).ravel()))   # ⟨v, Jᵀu⟩
            scale = _norm(jv) * _norm(us)
            err = abs(lhs - rhs)
            mean = (abs(lhs) + abs(rhs)) / 2
            tol = rtol * (mean + 1e-2 * scale)          # the second term guards cancellation
            _record(rows[k], trial, lhs, rhs, err, mean, tol)
    checked = [r for r in rows if r.checked]
    report = GradcheckReport(all(r.passed for r in checked), rows, mode="adjoint",
                             atol=0.0, rtol=rtol, seed=seed, title="adjoint check")
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


def _record(row, trial, lhs, rhs, err, mean, tol):
    """Fold one trial into an input's row (analytic: ⟨v, Jᵀu⟩, numeric: ⟨Jv, u⟩)."""
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


def _dot(xs, us) -> float:
    return sum(float(np.dot(to_host64(x).ravel(), u.astype(np.float64).ravel()))
               for x, u in zip(xs, us) if u is not None and x is not None)


def _norm(xs) -> float:
    return math.sqrt(sum(float(np.sum(to_host64(x) ** 2)) for x in xs if x is not None))


def _as_vjp(vjp):
    """A vjp(inputs, cotangent) callable from a callable or a (forward, backward) pair."""
    if isinstance(vjp, (tuple, list)) and len(vjp) == 2 and all(map(callable, vjp)):
        forward, backward = vjp

        def from_pair(inputs, cotangent):
            _, cache = forward(*inputs)
            return backward(cotangent, cache)

        return from_pair
    if not callable(vjp):
        raise TypeError("vjp must be a callable vjp(inputs, cotangent) or a pair "
                        f"(forward, backward), got {type(vjp).__name__}")
    return vjp
