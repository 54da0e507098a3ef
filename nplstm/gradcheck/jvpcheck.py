"""Forward-mode derivatives (JVPs) checked two ways.

``jvpcheck(forward, jvp, inputs)``: ``jvp(tangents, cache) -> output_tangent`` (a tangent per
input, None where not a float array; J v mirrors forward's output) against central differences
of forward along seeded random unit tangents v, nonzero in one input at a time (so a failure
names the input), with ``gradcheck``'s tolerances.  Cost: 2 forwards (4 with Richardson) per v.

``adjoint_check(jvp, vjp, inputs)``: the dot-product test, no differences at all:
``jvp(inputs, tangents) -> (output, J v)`` and ``vjp(inputs, u) -> Jᵀ u`` (or a (forward,
backward) pair) must satisfy ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ to round-off, so an error of 1e-8 relative,
far below what differences see, stands out.  A JVP and a backward sharing one error pass it:
``jvp_report=`` and ``vjp_report=`` say which side is wrong (docs/gradcheck.md §3).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np

from ..checks import check_bool, check_int, check_real, describe_value
from .contract import (COUNT_MAX, OutputLeaves, check_callable, check_inputs, check_wrt,
                       difference_settings, finite_inputs, flatten, forward_pair,
                       gradient_copy, gradient_sequence, is_float_array, like,
                       lowest_precision, precision, precision_of, shape_of, to_host64,
                       why_skipped)
from .misuse import check_forward_deterministic, first_call
from .differences import ProjectedLoss, default_tolerances, error_ratios, finite_max_abs
from .report import GradcheckReport, InputReport, conclude, index_str

__all__ = ["jvpcheck", "adjoint_check"]

JVP_CRITERION = ("an element of J v passes when |jvp - difference| <= atol + rtol*|difference| "
                 "(tolerances per input below)")
ADJOINT_CRITERION = ("a trial passes when |<J v, u> - <v, J^T u>| <= rtol*((|<J v, u>| + "
                     "|<v, J^T u>|)/2 + 1e-2*||J v||*||u||), rtol={rtol:.3g}")
_JVP_PAIR = "(output, output_tangent)"


def jvpcheck(forward: Callable[..., Any], jvp: Callable[..., Any], inputs: Sequence[Any], *,
             eps: Optional[float] = None, atol: Optional[float] = None,
             rtol: Optional[float] = None, seed: int = 0,
             names: Optional[Sequence[str]] = None, wrt: Any = None, directions: int = 2,
             richardson: bool = False, raise_exception: bool = True,
             nondet_tol: float = 0.0) -> GradcheckReport:
    """Compare ``jvp`` with central differences of ``forward`` along random tangents (the
    module docstring).  The settings are ``gradcheck``'s, with the same meaning and
    validation; ``directions`` counts tangents per input.  The report (mode "jvp") names a
    row's worst output element "tangent j, forward's output[…][i, j]"."""
    check_callable("forward", forward, "forward(*inputs) -> (output, cache)")
    check_callable("jvp", jvp, "jvp(tangents, cache) -> output_tangent")
    inputs, names = check_inputs(inputs, names)
    richardson, eps, atol, rtol, nondet_tol, seed, directions, raise_exception = \
        difference_settings(richardson, eps, atol, rtol, nondet_tol, seed, directions,
                            raise_exception)
    arrays = [is_float_array(a) for a in inputs]
    selected = check_wrt(wrt, names, inputs)
    for name, a, ok, chosen in zip(names, inputs, arrays, selected):
        if wrt is not None and chosen and not ok:
            raise ValueError(f"wrt: {name} cannot be checked by jvpcheck ({why_skipped(a)})")
    checked = [a and s for a, s in zip(arrays, selected)]
    if not any(checked):
        raise ValueError("jvpcheck needs at least one float array input to check "
                         f"(inputs: {', '.join(names) or 'none'}; wrt={wrt!r})")
    inputs64 = finite_inputs(names, inputs, arrays)

    output, cache = first_call(forward, inputs, names, "forward")
    leaves = OutputLeaves(output)
    leaves.check_finite()
    loss = ProjectedLoss(forward, inputs64, [a if ok else None for a, ok in zip(inputs, arrays)],
                         [None if h is None else np.ones(h.shape) for h in leaves.host])
    check_forward_deterministic(loss, leaves, inputs, nondet_tol, "forward")
    scale = max((finite_max_abs(h) for h in leaves.host if h is not None), default=0.0)
    problem_size = sum(a.size for a, ok in zip(inputs, arrays) if ok) + \
        sum(h.size for h in leaves.host if h is not None)
    zeros = [like(np.zeros(a.shape, a.dtype), a) if ok else None
             for a, ok in zip(inputs, arrays)]

    rows = []
    for k, (name, a) in enumerate(zip(names, inputs)):
        if not checked[k]:
            rows.append(InputReport(name, shape_of(a), checked=False,
                                    note="not in wrt" if arrays[k] else why_skipped(a)))
            continue
        rng = np.random.default_rng([seed, 1 + k])
        analytic, numeric, where, tangent_dtypes = [], [], [], []
        for j in range(directions):
            v = rng.standard_normal(a.shape)
            v = (v / max(np.linalg.norm(v), 1e-300)).astype(a.dtype)   # unit, input's dtype
            tangents = list(zeros)
            tangents[k] = like(v, a)
            jv = _output_tangent(jvp(tangents, cache), leaves)
            tangent_dtypes += [precision_of(t) for t in jv if t is not None]
            diff = loss.along(k, to_host64(v), eps, richardson, outputs=True)
            for t, d, path in zip(jv, diff, leaves.paths):
                if d is not None:
                    analytic.append(to_host64(t).ravel())
                    numeric.append(d.ravel())
                    where += [f"tangent {j}, {path}" + (index_str(np.unravel_index(i, d.shape))
                                                        if d.shape else "") for i in range(d.size)]
        a_all, n_all = np.concatenate(analytic), np.concatenate(numeric)
        parts = {"input": precision_of(a), "output": lowest_precision(leaves.dtypes),
                 "tangent": lowest_precision(tangent_dtypes)}
        dtype, words = precision(parts)
        tolerances = default_tolerances(dtype, eps=eps, loss_terms=scale, richardson=richardson,
                                        problem_size=problem_size, atol=atol, rtol=rtol,
                                        gradient_scale=finite_max_abs(n_all))
        row = InputReport(name, shape_of(a), checked=True, atol=tolerances[0],
                          rtol=tolerances[1], n_elements=int(a.size), precision=words)
        abs_err, rel_err, ratio = error_ratios(a_all, n_all, row.atol, row.rtol)
        row.compare(a_all, n_all, ratio, abs_err, rel_err)
        row.where = where[int(np.argmax(ratio))] if ratio.size else ""
        rows.append(row)

    return conclude(rows, raise_exception, mode="jvp", eps=eps, richardson=richardson,
                    seed=seed, n_evaluations=loss.evaluations, title="JVP check",
                    criterion=JVP_CRITERION)


def _output_tangent(result: Any, leaves: OutputLeaves) -> list[Any]:
    """jvp's output tangent as a list mirroring forward's output leaves (None where not
    projected); TypeError/ValueError naming the entry that does not fit."""
    flat, _ = flatten(result)
    if len(flat) != len(leaves.values):
        raise ValueError(f"jvp returned an output tangent with {len(flat)} entries for "
                         f"forward's output of {len(leaves.values)}: it must mirror the output")
    out: list[Any] = []
    for t, host, path in zip(flat, leaves.host, leaves.paths):
        if host is not None and isinstance(t, float) and host.shape == ():
            t = np.asarray(t)
        if host is not None and not is_float_array(t):
            raise TypeError(f"jvp's tangent for {path} must be a float array, got "
                            f"{type(t).__name__}")
        if host is not None and tuple(t.shape) != host.shape:
            raise ValueError(f"jvp's tangent for {path} has shape {tuple(t.shape)}, but the "
                             f"output has shape {host.shape}")
        out.append(None if host is None else t)
    return out


def adjoint_check(jvp: Callable[..., Any], vjp: Any, inputs: Sequence[Any], *,
                  trials: int = 3, rtol: Optional[float] = None, seed: int = 0,
                  names: Optional[Sequence[str]] = None,
                  raise_exception: bool = True,
                  jvp_report: Optional[GradcheckReport] = None,
                  vjp_report: Optional[GradcheckReport] = None) -> GradcheckReport:
    """Check ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ per input for ``trials`` seeded random u, v (the module
    docstring); a NaN or inf on either side fails.

    trials           random (u, v) pairs per input, an int in [1, 10000]
    rtol             a trial passes when |⟨Jv,u⟩ − ⟨v,Jᵀu⟩| ≤ rtol·((|⟨Jv,u⟩| + |⟨v,Jᵀu⟩|)/2
                     + 10⁻²·‖Jv‖‖u‖) (the second term guards sums that cancel by chance);
                     default 1e3·u·√m (u the dtype's unit round-off, m the problem size):
                     ≈ 1e-11 for a small float64 problem, so a relative 1e-8 bug is caught
    jvp_report       a ``jvpcheck`` report of the same JVP, and ``vjp_report`` a ``gradcheck``
    vjp_report       report of the same backward: with both, a failing input's note says
                     which side is wrong (the one whose finite-difference check failed)
    inputs, seed, names, raise_exception   as for ``gradcheck``
    """
    check_callable("jvp", jvp, "jvp(inputs, tangents) -> (output, output_tangent)")
    for label, given, source, title in (("jvp_report", jvp_report, "jvpcheck", "JVP check"),
                                        ("vjp_report", vjp_report, "gradcheck",
                                         "gradient check")):
        if given is not None and not isinstance(given, GradcheckReport):
            raise TypeError(f"{label} must be a GradcheckReport (from {source}) "
                            f"or None, got {describe_value(given)}")
        if given is not None and given.title != title:     # swapped: the blame would be too
            raise ValueError(f"{label} must be a report from {source} ({title!r}), got a "
                             f"{given.title!r} report")
    vjp = _as_vjp(vjp)
    inputs, names = check_inputs(inputs, names)
    trials = check_int("trials", trials, minimum=1, maximum=COUNT_MAX)
    rtol = check_real("rtol", rtol, minimum=0.0, allow_none=True)
    seed = check_int("seed", seed, minimum=0)
    raise_exception = check_bool("raise_exception", raise_exception)
    floats = [is_float_array(a) for a in inputs]
    if not any(floats):
        raise ValueError("adjoint_check needs at least one float array among the inputs")
    finite_inputs(names, inputs, floats)
    zero_tangents = [like(np.zeros(a.shape, a.dtype), a) if ok else None
                     for a, ok in zip(inputs, floats)]
    leaves = OutputLeaves(forward_pair(jvp(inputs, zero_tangents), "jvp", _JVP_PAIR)[0],
                          "jvp's output")
    if rtol is None:
        dtype = next(a.dtype for a, ok in zip(inputs, floats) if ok)
        m = sum(a.size for a, ok in zip(inputs, floats) if ok) + \
            sum(h.size for h in leaves.host if h is not None)
        u = np.finfo(np.float64 if dtype == np.float64 else np.float32).eps / 2
        rtol = 1e3 * float(u) * math.sqrt(m)

    rng = np.random.default_rng(seed)
    sides: list[list[tuple[float, float, float]]] = [[] for _ in inputs]   # (lhs, rhs, tol)
    for _ in range(trials):
        us = leaves.draw_directions(rng)
        grads = gradient_sequence(vjp(inputs, leaves.doutput(us)), len(inputs), "vjp")  # Jᵀu
        for k, (a, ok) in enumerate(zip(inputs, floats)):
            if not ok:
                continue
            v = rng.standard_normal(a.shape).astype(a.dtype)            # nonzero in input k
            tangents = list(zero_tangents)
            tangents[k] = like(v, a)
            jv = flatten(forward_pair(jvp(inputs, tangents), "jvp", _JVP_PAIR)[1])[0]
            pairs = [(to_host64(t), w) for t, w in zip(jv, us) if t is not None and w is not None]
            lhs = sum(float(np.dot(t.ravel(), w.ravel())) for t, w in pairs)   # ⟨J v, u⟩
            g = gradient_copy(grads[k], a, names[k], "vjp")
            with np.errstate(invalid="ignore", over="ignore"):         # NaN/inf: fails below
                rhs = 0.0 if g is None else float(np.dot(to_host64(v).ravel(), g.ravel()))
            scale = math.sqrt(sum(float(np.sum(to_host64(t) ** 2)) for t in jv if t is not None)
                              * sum(float(np.sum(w ** 2)) for w in us if w is not None))
            sides[k].append((lhs, rhs, rtol * ((abs(lhs) + abs(rhs)) / 2 + 1e-2 * scale)))

    rows = []
    for name, a, ok, trial in zip(names, inputs, floats, sides):
        row = InputReport(name, shape_of(a), checked=ok, note="" if ok else why_skipped(a),
                          rtol=rtol)
        if ok:
            left, right, tols = (np.array(column) for column in zip(*trial))
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                finite = np.isfinite(left) & np.isfinite(right)
                err = np.where(finite, np.abs(left - right), np.inf)
                mean = (np.abs(left) + np.abs(right)) / 2
                rel = np.where(finite, np.where(mean > 0, err / mean, 0.0), np.inf)
                ratio = np.where(finite & (tols > 0), err / tols,
                                 np.where(finite & (err == 0), 0.0, np.inf))
            row.compare(right, left, ratio, err, rel)
            row.where = f"trial {int(np.argmax(ratio))}"
            row.note = "" if row.passed else which_side(name, jvp_report, vjp_report)
        rows.append(row)
    return conclude(rows, raise_exception, mode="adjoint", seed=seed, title="adjoint check",
                    criterion=ADJOINT_CRITERION.format(rtol=rtol))


def which_side(name: str, jvp_report: Optional[GradcheckReport],
               vjp_report: Optional[GradcheckReport]) -> str:
    """Which derivative of input ``name`` the finite-difference checks blame."""
    if jvp_report is None or vjp_report is None:
        return ("pass jvp_report= (jvpcheck) and vjp_report= (gradcheck) to learn which "
                "side is wrong")
    jvp_ok, vjp_ok = (next((r.passed for r in report.inputs if r.name == name and r.checked),
                           None) for report in (jvp_report, vjp_report))
    if jvp_ok is None or vjp_ok is None:
        return f"{name} is not checked by both jvp_report and vjp_report"
    if jvp_ok != vjp_ok:
        return ("the backward (vjp) is wrong: gradcheck fails it, jvpcheck passes the JVP"
                if jvp_ok else
                "the JVP is wrong: jvpcheck fails it, gradcheck passes the backward")
    if not jvp_ok:
        return "both are wrong: jvpcheck and gradcheck both fail"
    return ("both pass their finite-difference checks: the error is below their resolution "
            "(~1e-6 relative); rerun them with richardson=True (away from kinks: its eps=1e-3 "
            "fails any element within 1e-3 of one)")


def _as_vjp(vjp: Any) -> Callable[[Sequence[Any], Any], Any]:
    """A vjp(inputs, cotangent) callable from a callable or a (forward, backward) pair."""
    if isinstance(vjp, (tuple, list)) and len(vjp) == 2 and all(map(callable, vjp)):
        forward, backward = vjp
        return lambda inputs, cotangent: backward(cotangent, forward_pair(forward(*inputs))[1])
    if not callable(vjp):
        raise TypeError("vjp must be a callable vjp(inputs, cotangent) or a pair "
                        f"(forward, backward), got {describe_value(vjp)}")
    return vjp
