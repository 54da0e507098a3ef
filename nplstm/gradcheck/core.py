"""``gradcheck``: a hand-written backward against finite differences, in three modes.

    report = gradcheck(forward, backward, inputs, mode="full" | "directional" | "sampled")

``forward(*inputs) -> (output, cache)``; ``backward(doutput, cache) -> grads``, one gradient
per input in order (None for an input with no gradient: checked as zero).  ``output`` may be
an array or a nested tuple/list of arrays (``doutput`` then has the same structure).

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
"""

from __future__ import annotations

import numpy as np

from .arrays import flatten, is_float_array, like, shape_of, to_host64, why_skipped
from .differences import ProjectedLoss
from .layout import GroupStats, Layout, group_stats
from .report import GradcheckError, GradcheckReport, InputReport
from .tolerances import default_tolerances

__all__ = ["gradcheck", "MODES"]

MODES = ("full", "directional", "sampled")


def gradcheck(forward, backward, inputs, *, mode="full", eps=None, atol=None, rtol=None,
              seed=0, names=None, wrt=None, directions=4, samples=16, richardson=False,
              layouts=None, raise_exception=True, progress=False) -> GradcheckReport:
    """Compare ``backward`` with finite differences of ``forward``; see the module docstring.

    inputs           a sequence of arguments for ``forward``; float arrays can be checked
    mode             "full" (every element), "directional" (random directions, cost
                     independent of size) or "sampled" (random elements)
    eps              the difference step (default 1e-6; 1e-3 with ``richardson``)
    atol, rtol       per-element tolerance; default derived per input from the dtype of its
                     gradient, ε, the loss and the problem size (``gradcheck.tolerances``)
    seed             seeds u, the sampled elements and the directions
    names            a name per input for the report (default: input0, input1, …)
    wrt              names or positions of the inputs to check (default: every float input)
    directions       directions per input (per group) in mode="directional"
    samples          elements per input in mode="sampled"
    richardson       Richardson-extrapolated central differences: O(ε⁴), twice the cost
    layouts          {name: Layout} (or a list, one per input, None allowed): the report
                     breaks errors down by the layouts' groups (gate block, time step, …)
    raise_exception  raise ``GradcheckError`` (with the report) on failure; else return it
    progress         True: a tqdm bar on stderr when it is a terminal (if tqdm is installed)
    """
    if not callable(forward) or not callable(backward):
        raise TypeError("forward and backward must be callables: forward(*inputs) -> "
                        "(output, cache), backward(doutput, cache) -> grads")
    inputs = list(inputs)
    names = _names(names, len(inputs))
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    eps = (1e-3 if richardson else 1e-6) if eps is None else eps
    _positive("eps", eps, float)
    _positive("directions", directions, int)
    _positive("samples", samples, int)
    selected = _select(wrt, names, inputs)
    layouts = _layouts(layouts, names, inputs)

    output, cache = forward(*inputs)
    outputs, rebuild = flatten(output)
    rng = np.random.default_rng(seed)
    # u in the output's own dtype, so that the backward and the float64 loss see the same u
    us = [rng.standard_normal(o.shape).astype(o.dtype).astype(np.float64)
          if is_float_array(o) else None for o in outputs]
    doutput = rebuild([None if u is None else like(u.astype(o.dtype), o)
                       for o, u in zip(outputs, us)])
    grads = list(backward(doutput, cache))
    if len(grads) < len(inputs):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(inputs)} inputs")

    loss_terms = sum(float(np.abs(u * to_host64(o)).sum())
                     for u, o in zip(us, outputs) if u is not None)
    problem_size = sum(a.size for a in inputs if is_float_array(a)) + \
        sum(o.size for o in outputs if is_float_array(o))
    differentiable = [is_float_array(a) for a in inputs]
    loss = ProjectedLoss(forward, [to_host64(a) if ok else a
                                   for a, ok in zip(inputs, differentiable)],
                         [a if ok else None for a, ok in zip(inputs, differentiable)], us)
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
            g, note = grads[k], ""
            if g is None:
                g, note = np.zeros(a.shape, dtype=a.dtype), "backward gave None: checked as 0"
            elif tuple(g.shape) != tuple(a.shape):
                raise ValueError(f"backward's gradient for {name} has shape {tuple(g.shape)}, "
                                 f"but the input has shape {tuple(a.shape)}")
            analytic = to_host64(g)
            sub_rng = np.random.default_rng([seed, 1 + k])    # per input: wrt changes nothing
            if mode == "directional":
                row = _check_directions(name, k, analytic, loss, layouts[k], directions, eps,
                                        richardson, sub_rng, lambda s: tolerances(g.dtype, s))
            else:
                flat = np.arange(a.size)
                if mode == "sampled" and a.size > samples:
                    flat = np.sort(sub_rng.choice(a.size, samples, replace=False))
                numeric = np.full(a.size, np.nan)
                for j in flat:
                    numeric[j] = loss.element(k, int(j), eps, richardson)
                numeric = numeric.reshape(a.shape)
                scale = float(np.nanmax(np.abs(numeric))) if flat.size else 0.0
                row = _compare_elements(name, analytic, numeric, *tolerances(g.dtype, scale),
                                        layouts[k])
            row.note = note
            rows.append(row)
    finally:
        if bar is not None:
            bar.close()

    if not any(r.checked for r in rows):
        raise ValueError("gradcheck needs at least one float array input to check "
                         f"(inputs: {', '.join(names) or 'none'}; wrt={wrt!r})")
    first = next(r for r in rows if r.checked)
    report = GradcheckReport(all(r.passed for r in rows if r.checked), rows, mode, eps,
                             first.atol, first.rtol, richardson, seed, loss.evaluations)
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


def _compare_elements(name, analytic, numeric, atol, rtol, layout) -> InputReport:
    """Element-by-element comparison of one input; NaN in ``numeric`` marks unchecked ones."""
    checked = ~np.isnan(numeric)
    abs_err = np.where(checked, np.abs(analytic - np.nan_to_num(numeric)), np.nan)
    scale = np.maximum(np.abs(analytic), np.abs(np.nan_to_num(numeric)))
    rel_err = np.where(checked & (scale > 0), abs_err / np.where(scale > 0, scale, 1), 0.0)
    rel_err = np.where(checked, rel_err, np.nan)
    ratio = abs_err / (atol + rtol * np.abs(np.nan_to_num(numeric)))    # > 1: over tolerance
    r = InputReport(name, analytic.shape, checked=True, atol=atol, rtol=rtol)
    r.n_elements = int(analytic.size)
    r.n_checked = int(checked.sum())
    r.n_failed = int((np.nan_to_num(ratio) > 1).sum())
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
                records.append((key, label, j, float(np.sum(analytic * v)),   # ⟨∇L, v⟩
                                loss.along(k, v, eps, richardson)))
    a = np.array([rec[3] for rec in records])
    n = np.array([rec[4] for rec in records])
    scale = float(np.abs(n).max()) if n.size else 0.0
    atol, rtol = tolerances(scale)
    abs_err = np.abs(a - n)
    big = np.maximum(np.abs(a), np.abs(n))
    rel_err = np.divide(abs_err, big, out=np.zeros_like(abs_err), where=big > 0)
    ratio = abs_err / (atol + rtol * np.abs(n))

    def describe(rec):
        key, label, j, _, _ = rec
        return f"direction {j}" + ("" if key is None else f" in {key}={label}")

    r = InputReport(name, analytic.shape, checked=True, atol=atol, rtol=rtol,
                    n_elements=int(analytic.size), n_checked=len(records),
                    n_failed=int((ratio > 1).sum()))
    r.passed = r.n_failed == 0
    if records:
        w = int(np.argmax(ratio))
        r.max_abs_error, r.max_rel_error = float(abs_err.max()), float(rel_err.max())
        r.worst_ratio, r.worst_analytic, r.worst_numeric = float(ratio[w]), a[w], n[w]
        r.where = describe(records[w])
    groups = {}
    for (key, label, _, _, _), rec, q, e in zip(records, records, ratio, abs_err):
        if key is None:
            continue
        stats = GroupStats(float(q), float(e), 1, int(q > 1), f"{name}, {describe(rec)}")
        groups.setdefault(key, {}).setdefault(label, GroupStats()).add(stats)
    if layout is not None:
        whole = GroupStats(r.worst_ratio, r.max_abs_error, r.n_checked, r.n_failed,
                           f"{name}, {r.where}")
        for key, label in layout.tags.items():
            groups.setdefault(key, {})[label] = whole
    r.groups = groups
    return r


def _names(names, n):
    names = list(names) if names is not None else [f"input{k}" for k in range(n)]
    if len(names) != n:
        raise ValueError(f"names must have one entry per input ({n}), got {len(names)}")
    return [str(v) for v in names]


def _positive(name, value, kind):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if kind is int:
        ok = ok and float(value) == int(value)
    if not ok or value <= 0:
        raise ValueError(f"{name} must be a positive {kind.__name__}, got {value!r}")


def _select(wrt, names, inputs):
    """Which inputs to check: a bool per input."""
    if wrt is None:
        return [True] * len(inputs)
    if isinstance(wrt, (str, int)):
        wrt = [wrt]
    chosen = [False] * len(inputs)
    for w in wrt:
        if isinstance(w, (int, np.integer)) and not isinstance(w, bool):
            if not -len(inputs) <= w < len(inputs):
                raise ValueError(f"wrt: position {w} is out of range for {len(inputs)} inputs")
            k = int(w) % len(inputs)
        elif w in names:
            k = names.index(w)
        else:
            raise ValueError(f"wrt: no input named {w!r} (inputs: {', '.join(names)})")
        if not is_float_array(inputs[k]):
            raise ValueError(f"wrt: {names[k]} cannot be checked ({why_skipped(inputs[k])})")
        chosen[k] = True
    return chosen


def _layouts(layouts, names, inputs):
    """One ``Layout`` (or None) per input, validated against the input's shape."""
    if layouts is None:
        return [None] * len(inputs)
    if isinstance(layouts, dict):
        unknown = set(layouts) - set(names)
        if unknown:
            raise ValueError(f"layouts names unknown inputs: {sorted(unknown)}")
        layouts = [layouts.get(n) for n in names]
    layouts = list(layouts)
    if len(layouts) != len(inputs):
        raise ValueError(f"layouts must have one entry per input ({len(inputs)}), "
                         f"got {len(layouts)}")
    for name, layout, a in zip(names, layouts, inputs):
        if layout is None:
            continue
        if not isinstance(layout, Layout):
            raise TypeError(f"layouts[{name!r}] must be a Layout, got {type(layout).__name__}")
        if is_float_array(a):
            layout.check(name, a.shape)
    return layouts


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
