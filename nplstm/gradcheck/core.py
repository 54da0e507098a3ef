"""``gradcheck``: a hand-written backward against finite differences, in three modes.

    report = gradcheck(forward, backward, inputs, mode="full" | "directional" | "sampled")

``forward(*inputs) -> (output, cache)``; ``backward(doutput, cache) -> grads``, one gradient
per input in order (None for an input with no gradient: checked as zero).  ``output`` may be
an array, a float scalar or a nested tuple/list of them (``doutput`` has the same structure).

The outputs are projected onto fixed random directions u (seeded), L = Σ_k ⟨u_k, out_k⟩, so
the backward is called once, with doutput = u, and must return ∇L.  Then, on float64 copies
(the caller's arrays are never modified):

    full         every element j of every checked input: ∂L/∂x[j] ≈ central difference
                 cost 2 forwards per element; sees every wrong element and names it
    sampled      ``samples`` random elements per input; cost 2·samples per input; sees bugs
                 that touch many elements, a single wrong element only if it is drawn
    directional  ``directions`` random unit directions v per input (per group of its layout):
                 ⟨∇L, v⟩ ≈ (L(x + εv) − L(x − εv)) / 2ε; cost 2·directions per input (per
                 group), independent of the input's size; sees almost any bug, locates it to
                 an input (and a group), not to an element

``richardson=True`` doubles the cost for O(ε⁴) differences.  Inputs that are not float arrays
(None, integer lengths, Python numbers) are passed through unchanged and not checked.

Before any difference is taken: every setting is validated (``settings``, before forward is
called); forward must return a pair whose output is made of float arrays or float scalars
(``outputs``; a scalar output gets a scalar doutput); forward is called a second time at the
inputs and must give the same outputs (``determinism``); the outputs there must be finite.
A NaN or inf in a gradient or a difference fails its element, never passes it.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from .arrays import is_float_array, shape_of, why_skipped
from .determinism import check_deterministic
from .differences import ProjectedLoss
from .layout import GroupStats, group_stats
from .outputs import OutputLeaves, forward_pair, gradient_copy, gradient_sequence
from .report import GradcheckError, GradcheckReport, InputReport
from .settings import (EPS_MAX, EPS_MIN, bool_setting, callable_setting, choice_setting,
                       finite_inputs, inputs_setting, int_setting, layouts_setting,
                       names_setting, real_setting, wrt_setting)
from .tolerances import default_tolerances, error_ratios, finite_max_abs

__all__ = ["gradcheck", "MODES"]

MODES = ("full", "directional", "sampled")


def gradcheck(forward: Callable[..., Any], backward: Callable[..., Any], inputs: Sequence[Any],
              *, mode: str = "full", eps: Optional[float] = None, atol: Optional[float] = None,
              rtol: Optional[float] = None, seed: int = 0,
              names: Optional[Sequence[str]] = None, wrt: Any = None, directions: int = 4,
              samples: int = 16, richardson: bool = False, layouts: Any = None,
              raise_exception: bool = True, progress: Any = False,
              nondet_tol: float = 0.0) -> GradcheckReport:
    """Compare ``backward`` with finite differences of ``forward``; see the module docstring.

    inputs           a list or tuple of arguments for ``forward``; float arrays can be checked
                     (each must be finite)
    mode             "full" (every element), "directional" (random directions, cost
                     independent of size) or "sampled" (random elements)
    eps              the difference step, finite, in [1e-10, 0.1] (``settings.EPS_MIN``,
                     ``EPS_MAX``); default 1e-6, 1e-3 with ``richardson``
    atol, rtol       per-element tolerance, finite and >= 0; default derived per input from
                     the dtype of its gradient, ε, the loss and the problem size
                     (``gradcheck.tolerances``)
    seed             an int >= 0; seeds u, the sampled elements and the directions
    names            distinct strings, a name per input for the report (default: input0, …)
    wrt              names or positions of the inputs to check (default: every float input)
    directions       directions per input (per group) in mode="directional", an int >= 1
    samples          elements per input in mode="sampled", an int >= 1
    richardson       Richardson-extrapolated central differences: O(ε⁴), twice the cost
    layouts          {name: Layout} (or a list, one per input, None allowed): the report
                     breaks errors down by the layouts' groups (gate block, time step, …)
    raise_exception  raise ``GradcheckError`` (with the report) on failure; else return it
    progress         True: a tqdm bar on stderr when it is a terminal (if tqdm is installed)
    nondet_tol       forward is evaluated twice at the inputs; outputs differing by more than
                     this (absolute, finite, >= 0) raise ``NondeterministicForwardError``

    Every setting is validated before forward is called: a wrong type is a ``TypeError``,
    a wrong value (NaN, ±inf, negative, out of range) a ``ValueError``, naming the setting.
    Booleans are refused where numbers belong, numbers where booleans belong.
    """
    callable_setting("forward", forward, "forward(*inputs) -> (output, cache)")
    callable_setting("backward", backward, "backward(doutput, cache) -> grads")
    inputs = inputs_setting("inputs", inputs)
    names = names_setting(names, len(inputs))
    mode = choice_setting("mode", mode, MODES)
    richardson = bool_setting("richardson", richardson)
    raise_exception = bool_setting("raise_exception", raise_exception)
    progress = bool_setting("progress", progress)
    eps = (1e-3 if richardson else 1e-6) if eps is None else \
        real_setting("eps", eps, minimum=EPS_MIN, maximum=EPS_MAX)
    atol = real_setting("atol", atol, minimum=0.0, allow_none=True)
    rtol = real_setting("rtol", rtol, minimum=0.0, allow_none=True)
    nondet_tol = real_setting("nondet_tol", nondet_tol, minimum=0.0)
    seed = int_setting("seed", seed, minimum=0)
    directions = int_setting("directions", directions, minimum=1)
    samples = int_setting("samples", samples, minimum=1)
    differentiable = [is_float_array(a) for a in inputs]
    selected = wrt_setting(wrt, names, inputs)
    layouts = layouts_setting(layouts, names, inputs)
    checked = [ok and chosen for ok, chosen in zip(differentiable, selected)]
    if not any(checked):
        raise ValueError("gradcheck needs at least one float array input to check "
                         f"(inputs: {', '.join(names) or 'none'}; wrt={wrt!r})")
    inputs64 = finite_inputs(names, inputs, differentiable)

    # the caller's arrays are never handed to forward: a forward that edits its inputs in
    # place edits copies (and the differences below use their own float64 copies)
    output, cache = forward_pair(forward(*[a.copy() if ok else a
                                           for a, ok in zip(inputs, differentiable)]))
    leaves = OutputLeaves(output)
    leaves.check_finite()
    rng = np.random.default_rng(seed)
    # u in the output's own dtype, so that the backward and the float64 loss see the same u
    us = leaves.draw_directions(rng)
    grads = gradient_sequence(backward(leaves.doutput(us), cache), len(inputs))
    analytic = [gradient_copy(g, a, name) if ok else None   # float64 copies, taken at once
                for name, g, a, ok in zip(names, grads, inputs, checked)]

    loss = ProjectedLoss(forward, inputs64,
                         [a if ok else None for a, ok in zip(inputs, differentiable)], us)
    _check_deterministic(loss, leaves, inputs, nondet_tol)

    loss_terms = sum(float(np.abs(u * v).sum())
                     for u, v in zip(us, leaves.host) if u is not None)
    problem_size = sum(a.size for a in inputs if is_float_array(a)) + \
        sum(u.size for u in us if u is not None)
    bar = _progress_bar(progress, mode, inputs, selected, layouts, directions, samples,
                        richardson)
    loss.progress = bar

    def tolerances(dtype, scale):
        da, dr = default_tolerances(dtype, eps=eps, loss_terms=loss_terms,
                                    problem_size=problem_size, gradient_scale=scale,
                                    richardson=richardson)
        return (da if atol is None else atol), (dr if rtol is None else rtol)

    rows = []
    try:
        for k, (name, a) in enumerate(zip(names, inputs)):
            if not differentiable[k]:
                rows.append(InputReport(name, shape_of(a), checked=False, note=why_skipped(a)))
                continue
            if not selected[k]:
                rows.append(InputReport(name, shape_of(a), checked=False, note="not in wrt"))
                continue
            g = np.zeros(a.shape) if grads[k] is None else analytic[k]   # None: zero
            dtype = _precision(grads[k], a)
            sub_rng = np.random.default_rng([seed, 1 + k])    # per input: wrt changes nothing
            if mode == "directional":
                row = _check_directions(name, k, g, loss, layouts[k], directions, eps,
                                        richardson, sub_rng, lambda s: tolerances(dtype, s))
            else:
                flat = np.arange(a.size)
                if mode == "sampled" and a.size > samples:
                    flat = np.sort(sub_rng.choice(a.size, samples, replace=False))
                numeric = np.full(a.size, np.nan)
                drawn = np.zeros(a.size, dtype=bool)
                drawn[flat] = True
                for j in flat:
                    numeric[j] = loss.element(k, int(j), eps, richardson)
                numeric, drawn = numeric.reshape(a.shape), drawn.reshape(a.shape)
                row = _compare_elements(name, g, numeric, drawn,
                                        *tolerances(dtype, finite_max_abs(numeric[drawn])),
                                        layouts[k])
            if grads[k] is None:
                row.note = "backward gave None: checked as 0"
            rows.append(row)
    finally:
        if bar is not None:
            bar.close()

    first = next(r for r in rows if r.checked)
    report = GradcheckReport(all(r.passed for r in rows if r.checked), rows, mode, eps,
                             first.atol, first.rtol, richardson, seed, loss.evaluations)
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


def _check_deterministic(loss, leaves, inputs, nondet_tol):
    """forward twice at the inputs, compared output by output; one extra forward when the
    first call's inputs were already float64 (the values of the copies), two otherwise."""
    exact = all(np.dtype(a.dtype) == np.float64 and _contiguous(a)
                for a in inputs if is_float_array(a))
    reference = leaves if exact else OutputLeaves(loss.output(loss.inputs64))
    again = OutputLeaves(loss.output(loss.inputs64))
    check_deterministic(reference.host, again.host, leaves.paths, nondet_tol)
    again.check_finite("at the given inputs (evaluated in float64)")


def _contiguous(a) -> bool:
    flags = getattr(a, "flags", None)
    return flags is not None and (flags.c_contiguous or flags.f_contiguous)


def _precision(g, a):
    """The dtype whose round-off the analytic gradient carries (sets default tolerances):
    the gradient's (float64 for a Python float), the input's when the gradient is None."""
    return np.dtype(getattr(a if g is None else g, "dtype", np.float64))


def _compare_elements(name, analytic, numeric, drawn, atol, rtol, layout) -> InputReport:
    """Element-by-element comparison of one input at the ``drawn`` elements (a bool mask);
    a NaN or inf on either side fails the element."""
    abs_err, rel_err, ratio = (np.where(drawn, e, np.nan)     # NaN: not checked
                               for e in error_ratios(analytic, numeric, atol, rtol))
    r = InputReport(name, analytic.shape, checked=True, atol=atol, rtol=rtol)
    r.n_elements = int(analytic.size)
    r.n_checked = int(drawn.sum())
    r.n_failed = int((ratio[drawn] > 1).sum())
    r.passed = r.n_failed == 0
    if r.n_checked:
        def unravel(flat):
            return tuple(int(v) for v in np.unravel_index(flat, analytic.shape))

        r.max_abs_index = unravel(int(np.nanargmax(abs_err)))
        r.max_abs_error = float(abs_err[r.max_abs_index])
        r.max_rel_index = unravel(int(np.nanargmax(rel_err)))
        r.max_rel_error = float(rel_err[r.max_rel_index])
        r.worst_index = unravel(int(np.nanargmax(ratio)))
        r.worst_ratio = float(ratio[r.worst_index])
        r.worst_analytic = float(analytic[r.worst_index])
        r.worst_numeric = float(numeric[r.worst_index])
        r.where = f"{name}[{', '.join(map(str, r.worst_index))}]"
    if layout is not None:
        r.groups = group_stats(name, layout, ratio, abs_err)
    return r


def _check_directions(name, k, analytic, loss, layout, count, eps, richardson, rng,
                      tolerances) -> InputReport:
    """``count`` random unit directions per group of ``layout`` (or over the whole input)."""
    parts = list(layout.partitions(analytic.shape)) if layout is not None else []
    if not parts:
        parts = [(None, [(None, (slice(None),) * analytic.ndim)])]
    records = []                                   # (key, label, j, analytic, numeric)
    for key, groups in parts:
        for label, index in groups:
            for j in range(count):
                v = np.zeros(analytic.shape)
                mask = np.zeros(analytic.shape, dtype=bool)
                mask[index] = True
                v[mask] = rng.standard_normal(int(mask.sum()))
                norm = np.linalg.norm(v)
                if norm == 0:
                    continue
                v /= norm                                            # a unit direction
                with np.errstate(invalid="ignore", over="ignore"):   # NaN/inf: fails below
                    projected = float(np.sum(analytic * v))                # ⟨∇L, v⟩
                records.append((key, label, j, projected, loss.along(k, v, eps, richardson)))
    a = np.array([rec[3] for rec in records])
    n = np.array([rec[4] for rec in records])
    atol, rtol = tolerances(finite_max_abs(n))
    abs_err, rel_err, ratio = error_ratios(a, n, atol, rtol)

    def direction_name(rec):
        key, label, j, _, _ = rec
        return f"direction {j}" + ("" if key is None else f" in {key}={label}")

    r = InputReport(name, analytic.shape, checked=True, atol=atol, rtol=rtol,
                    n_elements=int(analytic.size), n_checked=len(records),
                    n_failed=int((ratio > 1).sum()))
    r.passed = r.n_failed == 0
    if records:
        w = int(np.argmax(ratio))
        r.max_abs_error, r.max_rel_error = float(abs_err.max()), float(rel_err.max())
        r.worst_ratio, r.worst_analytic, r.worst_numeric = float(ratio[w]), float(a[w]), float(n[w])
        r.where = direction_name(records[w])
    groups = {}
    for (key, label, _, _, _), rec, q, e in zip(records, records, ratio, abs_err):
        if key is None:
            continue
        stats = GroupStats(float(q), float(e), 1, int(q > 1), f"{name}, {direction_name(rec)}")
        groups.setdefault(key, {}).setdefault(label, GroupStats()).add(stats)
    if layout is not None:
        whole = GroupStats(r.worst_ratio, r.max_abs_error, r.n_checked, r.n_failed,
                           f"{name}, {r.where}")
        for key, label in layout.tags.items():
            groups.setdefault(key, {})[label] = whole
    r.groups = groups
    return r


def _progress_bar(progress, mode, inputs, selected, layouts, directions, samples, richardson):
    """A tqdm bar counting forward evaluations (None when off or tqdm is missing)."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415  (optional)
    except ImportError:
        return None
    per = 4 if richardson else 2
    total = 0
    for a, ok, layout in zip(inputs, selected, layouts):
        if not (ok and is_float_array(a)):
            continue
        if mode == "full":
            total += per * a.size
        elif mode == "sampled":
            total += per * min(a.size, samples)
        else:
            groups = sum(len(g) for _, g in layout.partitions(a.shape)) if layout else 1
            total += per * directions * max(groups, 1)
    # disable=None: only on a terminal; delay: only for checks that take more than a moment
    return tqdm(total=total, desc=f"gradcheck ({mode})", unit="fwd", leave=False,
                disable=None, delay=1.0)
