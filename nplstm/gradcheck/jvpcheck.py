"""``jvpcheck``: a hand-written forward-mode derivative (JVP) against finite differences.

    report = jvpcheck(forward, jvp, inputs, directions=2)

    forward(*inputs) -> (output, cache)       as for ``gradcheck``
    jvp(tangents, cache) -> output_tangent     tangents: one per input, shaped like it (None
                                               for inputs that are not float arrays); the
                                               output tangent J v mirrors ``output``

For each checked input k and each of ``directions`` seeded random unit tangents v (nonzero
in input k only, so a failure names the input), every element of J v is compared with the
central difference of forward's outputs along v, in float64 on the inputs' backend:

    (out(x + ε v) − out(x − ε v)) / 2ε      (Richardson: (4·D(ε/2) − D(ε)) / 3)

element by element, |jvp − difference| ≤ atol + rtol·|difference|, with the tolerances
``gradcheck`` derives (``tolerances``: the lowest precision among the input, the outputs and
the tangent; S_L = max |out|).  The adjoint test (``adjoint_check``) compares a JVP with a
backward; a JVP and a backward sharing one error pass it.  ``jvpcheck`` ties the JVP to the
forward itself, and ``adjoint_check(..., jvp_report=, vjp_report=)`` then says which side of
a failing adjoint test is wrong.  Cost: 2 forwards (4 with Richardson) and one JVP per
tangent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np

from .arrays import (flatten, is_float_array, like, lowest_precision, precision_of,
                     precision_words, shape_of, to_host64, why_skipped)
from .core import GRADCHECK_ROLES, _check_deterministic, _first_call
from .differences import ProjectedLoss
from .outputs import OutputLeaves
from .report import GradcheckError, GradcheckReport, InputReport
from .settings import (bool_setting, callable_setting, difference_settings, finite_inputs,
                       inputs_setting, names_setting, supported_values, wrt_setting)
from .tolerances import default_tolerances, error_ratios, finite_max_abs

__all__ = ["jvpcheck", "JVP_CRITERION"]

JVP_CRITERION = ("an element of J v passes when |jvp - difference| <= atol + rtol*|difference| "
                 "(tolerances per input below)")


def jvpcheck(forward: Callable[..., Any], jvp: Callable[..., Any], inputs: Sequence[Any], *,
             eps: Optional[float] = None, atol: Optional[float] = None,
             rtol: Optional[float] = None, seed: int = 0,
             names: Optional[Sequence[str]] = None, wrt: Any = None, directions: int = 2,
             richardson: bool = False, raise_exception: bool = True,
             nondet_tol: float = 0.0) -> GradcheckReport:
    """Compare ``jvp`` with central differences of ``forward`` along random tangents.

    forward, jvp     see the module docstring
    inputs           a list or tuple of forward's arguments; float arrays are checked (each
                     finite); complex and float16 inputs are refused (TypeError)
    eps              the difference step in [1e-10, 0.1]; default 1e-6 (1e-3 with Richardson)
    atol, rtol       per output element, finite and >= 0; default derived (module docstring)
    seed             an int >= 0; seeds the tangents
    names            distinct strings, one per input (default input0, …)
    wrt              names or positions of the inputs to check (default: every float input)
    directions       random tangents per input, an int >= 1
    richardson       Richardson-extrapolated differences, O(ε⁴), twice the cost
    raise_exception  raise ``GradcheckError`` on failure; else return the report
    nondet_tol       forward is evaluated twice at the inputs; outputs differing by more
                     than this raise ``NondeterministicForwardError``

    Returns a ``GradcheckReport`` (mode "jvp"): a row per input, its worst output element
    named as "tangent j, forward's output[…][i, j]".
    """
    callable_setting("forward", forward, "forward(*inputs) -> (output, cache)")
    callable_setting("jvp", jvp, "jvp(tangents, cache) -> output_tangent")
    inputs = inputs_setting("inputs", inputs)
    names = names_setting(names, len(inputs))
    raise_exception = bool_setting("raise_exception", raise_exception)
    richardson, eps, atol, rtol, nondet_tol, seed, directions = difference_settings(
        richardson, eps, atol, rtol, nondet_tol, seed, directions)
    supported_values(names, inputs)
    arrays = [is_float_array(a) for a in inputs]
    selected = wrt_setting(wrt, names, inputs)
    if wrt is not None:
        for name, a, ok, chosen in zip(names, inputs, arrays, selected):
            if chosen and not ok:
                raise ValueError(f"wrt: {name} cannot be checked by jvpcheck "
                                 f"({why_skipped(a)})")
    checked = [a and s for a, s in zip(arrays, selected)]
    if not any(checked):
        raise ValueError("jvpcheck needs at least one float array input to check "
                         f"(inputs: {', '.join(names) or 'none'}; wrt={wrt!r})")
    inputs64 = finite_inputs(names, inputs, arrays)

    output, cache = _first_call(forward, inputs, names, GRADCHECK_ROLES)
    leaves = OutputLeaves(output)
    leaves.check_finite()
    ones = [None if h is None else np.ones(h.shape) for h in leaves.host]
    loss = ProjectedLoss(forward, inputs64, [a if ok else None for a, ok in
                                             zip(inputs, arrays)], ones)
    _check_deterministic(loss, leaves, inputs, nondet_tol, GRADCHECK_ROLES)
    scale = max((finite_max_abs(h) for h in leaves.host if h is not None), default=0.0)
    problem_size = sum(a.size for a, ok in zip(inputs, arrays) if ok) + \
        sum(h.size for h in leaves.host if h is not None)
    zeros = [like(np.zeros(a.shape, a.dtype), a) if ok else None
             for a, ok in zip(inputs, arrays)]

    rows, evaluations = [], 0
    for k, (name, a) in enumerate(zip(names, inputs)):
        if not checked[k]:
            note = "not in wrt" if arrays[k] else why_skipped(a)
            rows.append(InputReport(name, shape_of(a), checked=False, note=note))
            continue
        rng = np.random.default_rng([seed, 1 + k])
        analytic, numeric, where, tangent_dtypes = [], [], [], []
        for j in range(directions):
            v = rng.standard_normal(a.shape)
            v = (v / max(np.linalg.norm(v), 1e-300)).astype(a.dtype)    # unit, input's dtype
            tangents = list(zeros)
            tangents[k] = like(v, a)
            jv = _output_tangent(jvp(tangents, cache), leaves)
            tangent_dtypes += [precision_of(t) for t in jv if t is not None]
            v64 = to_host64(v)
            diff = _differences(loss, k, v64, eps, richardson)
            evaluations += 4 if richardson else 2
            for t, d, path in zip(jv, diff, leaves.paths):
                if d is None:
                    continue
                analytic.append(to_host64(t).ravel())
                numeric.append(d.ravel())
                where += [f"tangent {j}, {path}{_index(i, d.shape)}" for i in range(d.size)]
        a_all, n_all = np.concatenate(analytic), np.concatenate(numeric)
        parts = {"input": precision_of(a), "output": lowest_precision(leaves.dtypes),
                 "tangent": lowest_precision(tangent_dtypes)}
        dtype = lowest_precision(parts.values())
        da, dr = default_tolerances(dtype, eps=eps, loss_terms=scale,
                                    problem_size=problem_size,
                                    gradient_scale=finite_max_abs(n_all),
                                    richardson=richardson)
        row = _row(name, a.shape, a_all, n_all, where, da if atol is None else atol,
                   dr if rtol is None else rtol)
        row.precision = precision_words(dtype, parts)
        rows.append(row)

    first = next(r for r in rows if r.checked)
    report = GradcheckReport(all(r.passed for r in rows if r.checked), rows, mode="jvp",
                             eps=eps, atol=first.atol, rtol=first.rtol, richardson=richardson,
                             seed=seed, n_evaluations=evaluations, title="JVP check",
                             criterion=JVP_CRITERION)
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


def _output_tangent(result: Any, leaves: OutputLeaves) -> list[Any]:
    """jvp's output tangent as a list mirroring the projected leaves of forward's output
    (None elsewhere); TypeError/ValueError naming the entry that does not fit."""
    flat, _ = flatten(result)
    if len(flat) != len(leaves.values):
        raise ValueError(f"jvp returned an output tangent with {len(flat)} entries for "
                         f"forward's output of {len(leaves.values)}: it must mirror the output")
    out: list[Any] = []
    for t, host, path in zip(flat, leaves.host, leaves.paths):
        if host is None:
            out.append(None)
            continue
        if isinstance(t, float) and host.shape == ():
            t = np.asarray(t)
        if not is_float_array(t):
            raise TypeError(f"jvp's tangent for {path} must be a float array, got "
                            f"{type(t).__name__}")
        if tuple(t.shape) != host.shape:
            raise ValueError(f"jvp's tangent for {path} has shape {tuple(t.shape)}, but the "
                             f"output has shape {host.shape}")
        out.append(t)
    return out


def _differences(loss: ProjectedLoss, k: int, v: np.ndarray, eps: float,
                 richardson: bool) -> list[Any]:
    """The central difference of every projected output along v (in input k), float64."""
    def central(step: float) -> list[Any]:
        args = list(loss.inputs64)
        args[k] = loss.inputs64[k] + step * v
        plus = loss.outputs(args)
        args[k] = loss.inputs64[k] - step * v
        minus = loss.outputs(args)
        return [None if p is None else (p - m) / (2 * step) for p, m in zip(plus, minus)]

    d = central(eps)
    if not richardson:
        return d
    half = central(eps / 2)
    return [None if x is None else (4.0 * h - x) / 3.0 for x, h in zip(d, half)]


def _index(flat: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]"


def _row(name: str, shape: tuple[int, ...], analytic: np.ndarray, numeric: np.ndarray, where: list[str],
         atol: float, rtol: float) -> InputReport:
    abs_err, rel_err, ratio = error_ratios(analytic, numeric, atol, rtol)
    r = InputReport(name, tuple(shape), checked=True, atol=atol, rtol=rtol,
                    n_elements=int(np.prod(shape)), n_checked=int(analytic.size),
                    n_failed=int((ratio > 1).sum()))
    r.passed = r.n_failed == 0
    if analytic.size:
        w = int(np.argmax(ratio))
        r.max_abs_error, r.max_rel_error = float(abs_err.max()), float(rel_err.max())
        r.worst_ratio = float(ratio[w])
        r.worst_analytic, r.worst_numeric = float(analytic[w]), float(numeric[w])
        r.where = where[w]
    return r
