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
called; complex and float16 values are refused by name); forward gets copies of the inputs
and must not write to them (``misuse``); it must return a pair whose output is made of
float arrays or float scalars (``outputs``; a scalar output gets a scalar doutput); forward
is called a second time at the inputs and must give the same outputs, backward a second
time with the same doutput and must give the same gradients (``determinism``); the outputs
there must be finite, and float64 for float64 inputs.  A NaN or inf in a gradient or a
difference fails its element, never passes it.

After: each input's tolerances come from the lowest precision among its dtype, the outputs'
and its gradient's (``tolerances``); failing elements whose one-sided differences disagree
are labelled as kinks (``kinks``); a failing forward that returned (array, array) is named
as a likely two-output mistake (``misuse``).  A Python float input is checked, as a 0-d
input, when the backward returns a gradient for it (or ``wrt`` names it).
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np

from .arrays import (is_float_array, is_python_float, lowest_precision, precision_of,
                     precision_words, shape_of, why_skipped)
from .determinism import BACKWARD_FIX, NondeterministicBackwardError, check_deterministic
from .differences import PYTHON_FLOAT, ProjectedLoss
from .kinks import MAX_EXAMINED, kink_label
from .layout import GroupStats, group_stats
from .misuse import TWO_OUTPUTS_HINT, check_unmodified, looks_like_an_output
from .outputs import OutputLeaves, forward_pair, gradient_copy, gradient_sequence
from .report import GradcheckError, GradcheckReport, Groups, InputReport
from .settings import (bool_setting, callable_setting, choice_setting,
                       difference_settings, finite_inputs, inputs_setting, int_setting,
                       layouts_setting, names_setting, supported_values, wrt_setting)
from .tolerances import default_tolerances, error_ratios, finite_max_abs

__all__ = ["gradcheck", "check_pair", "Roles", "GRADCHECK_ROLES", "MODES"]

MODES = ("full", "directional", "sampled")
_Array = np.ndarray[Any, Any]   # a float64 host array (the checker's copies and differences)
BACKWARD_ROUND_OFF = 8.0      # the backward's determinism bound, in u·√m·max|g| (determinism)


class Roles(NamedTuple):
    """How messages and the report name the caller's two functions and the check."""

    forward: str
    backward: str
    title: str


GRADCHECK_ROLES = Roles("forward", "backward", "gradient check")


def gradcheck(forward: Callable[..., Any], backward: Callable[..., Any], inputs: Sequence[Any],
              *, mode: str = "full", eps: Optional[float] = None, atol: Optional[float] = None,
              rtol: Optional[float] = None, seed: int = 0,
              names: Optional[Sequence[str]] = None, wrt: Any = None, directions: int = 4,
              samples: int = 16, richardson: bool = False, layouts: Any = None,
              raise_exception: bool = True, progress: Any = False,
              nondet_tol: float = 0.0) -> GradcheckReport:
    """Compare ``backward`` with finite differences of ``forward``; see the module docstring.

    inputs           a list or tuple of arguments for ``forward``; float arrays can be checked
                     (each must be finite); a Python float is checked as a scalar when the
                     backward returns a gradient for it (or ``wrt`` names it); complex and
                     float16 inputs are refused (TypeError)
    mode             "full" (every element), "directional" (random directions, cost
                     independent of size) or "sampled" (random elements)
    eps              the difference step, finite, in [1e-10, 0.1] (``settings.EPS_MIN``,
                     ``EPS_MAX``); default 1e-6, 1e-3 with ``richardson``
    atol, rtol       per-element tolerance, finite and >= 0; default derived per input from
                     the lowest precision among its dtype, the outputs' and its gradient's,
                     ε, the loss and the problem size (``gradcheck.tolerances``)
    seed             an int >= 0; seeds u, the sampled elements and the directions
    names            distinct strings, a name per input for the report (default: input0, …)
    wrt              names or positions of the inputs to check (default: every float input)
    directions       directions per input (per group) in mode="directional", an int in [1, 10000]
    samples          elements per input in mode="sampled", an int >= 1
    richardson       Richardson-extrapolated central differences: O(ε⁴), twice the cost;
                     its ε = 1e-3 widens the blind zone around a kink (relu within 1e-3
                     of 0 fails)
    layouts          {name: Layout} (or a list, one per input, None allowed): the report
                     breaks errors down by the layouts' groups (gate block, time step, …)
    raise_exception  raise ``GradcheckError`` (with the report) on failure; else return it
    progress         True: a tqdm bar on stderr when it is a terminal (if tqdm is installed)
    nondet_tol       forward is evaluated twice at the inputs, and backward twice with the
                     same doutput; outputs (gradients) differing by more than this (absolute,
                     finite, >= 0) raise ``NondeterministicForwardError``
                     (``NondeterministicBackwardError``)

    Every setting is validated before forward is called: a wrong type is a ``TypeError``,
    a wrong value (NaN, ±inf, negative, out of range) a ``ValueError``, naming the setting.
    Booleans are refused where numbers belong, numbers where booleans belong.  A forward
    that writes to its inputs raises ``MutatingForwardError`` (a ``ValueError``).
    """
    callable_setting("forward", forward, "forward(*inputs) -> (output, cache)")
    callable_setting("backward", backward, "backward(doutput, cache) -> grads")
    return check_pair(forward, backward, inputs, mode=mode, eps=eps, atol=atol, rtol=rtol,
                      seed=seed, names=names, wrt=wrt, directions=directions,
                      samples=samples, richardson=richardson, layouts=layouts,
                      raise_exception=raise_exception, progress=progress,
                      nondet_tol=nondet_tol)


def check_pair(forward: Callable[..., Any], backward: Callable[..., Any],
               inputs: Sequence[Any], *, mode: str, eps: Optional[float],
               atol: Optional[float], rtol: Optional[float], seed: int,
               names: Optional[Sequence[str]], wrt: Any, directions: int, samples: int,
               richardson: bool, layouts: Any, raise_exception: bool, progress: Any,
               nondet_tol: float, roles: Roles = GRADCHECK_ROLES) -> GradcheckReport:
    """``gradcheck``'s work, with ``roles`` naming the caller's functions in messages
    (``hvpcheck`` checks grad/hvp through it)."""
    inputs = inputs_setting("inputs", inputs)
    names = names_setting(names, len(inputs))
    mode = choice_setting("mode", mode, MODES)
    raise_exception = bool_setting("raise_exception", raise_exception)
    progress = bool_setting("progress", progress)
    richardson, eps, atol, rtol, nondet_tol, seed, directions = difference_settings(
        richardson, eps, atol, rtol, nondet_tol, seed, directions)
    samples = int_setting("samples", samples, minimum=1)
    supported_values(names, inputs)
    arrays = [is_float_array(a) for a in inputs]
    scalars = [is_python_float(a) for a in inputs]
    differentiable = [a or f for a, f in zip(arrays, scalars)]
    selected = wrt_setting(wrt, names, inputs)
    layouts = layouts_setting(layouts, names, inputs)
    if not any(ok and chosen for ok, chosen in zip(differentiable, selected)):
        raise ValueError(f"{roles.title} needs at least one float array (or Python float) "
                         f"input to check (inputs: {', '.join(names) or 'none'}; "
                         f"wrt={wrt!r})")
    inputs64 = finite_inputs(names, inputs, differentiable)

    # forward gets copies of every array input: one that edits its inputs in place edits
    # copies, and is caught (finite differences evaluate it many times at the same inputs)
    output, cache = _first_call(forward, inputs, names, roles)
    leaves = OutputLeaves(output, f"{roles.forward}'s output")
    leaves.check_finite()
    rng = np.random.default_rng(seed)
    # u in the output's own dtype, so that the backward and the float64 loss see the same u
    us = leaves.draw_directions(rng)
    grads = gradient_sequence(backward(leaves.doutput(us), cache), len(inputs),
                              roles.backward)
    # a Python float is checked when the backward differentiates it (or wrt names it)
    checked = [selected[k] and (arrays[k] or (scalars[k] and (grads[k] is not None
                                                               or wrt is not None)))
               for k in range(len(inputs))]
    if not any(checked):
        raise ValueError(f"{roles.title}: nothing to check: {roles.backward} returned None for "
                         "every Python float input and no float array input is selected (pass "
                         "wrt= to check a Python float as zero)")
    analytic = [gradient_copy(g, _shaped(a), name, roles.backward) if ok else None
                for name, g, a, ok in zip(names, grads, inputs, checked)]  # float64 copies

    devices = [a if ok else (PYTHON_FLOAT if f else None)
               for a, ok, f in zip(inputs, arrays, scalars)]
    loss = ProjectedLoss(forward, inputs64, devices, us)
    _check_deterministic(loss, leaves, inputs, nondet_tol, roles)
    _check_backward_deterministic(forward, backward, inputs, leaves, us, analytic, checked,
                                  names, nondet_tol, roles)

    loss_terms = sum(float(np.abs(u * v).sum())
                     for u, v in zip(us, leaves.host) if u is not None)
    problem_size = sum(int(_shaped(a).size) for a, ok in zip(inputs, differentiable) if ok) + \
        sum(u.size for u in us if u is not None)
    bar = _progress_bar(progress, mode, inputs, checked, layouts, directions, samples,
                        richardson)
    loss.progress = bar

    def tolerances(dtype: Any, scale: float) -> tuple[float, float]:
        da, dr = default_tolerances(dtype, eps=eps, loss_terms=loss_terms,
                                    problem_size=problem_size, gradient_scale=scale,
                                    richardson=richardson)
        return (da if atol is None else atol), (dr if rtol is None else rtol)

    base: list[float] = []                        # L(x), computed once if a kink is examined

    def at_x() -> float:
        if not base:
            base.append(loss(list(inputs64)))
        return base[0]

    rows = []
    try:
        for k, (name, a) in enumerate(zip(names, inputs)):
            if not checked[k]:
                note = ("not in wrt" if differentiable[k] and not selected[k] else
                        f"Python float: {roles.backward} gave None" if scalars[k] else
                        why_skipped(a))
                rows.append(InputReport(name, shape_of(a), checked=False, note=note))
                continue
            g = analytic[k]                              # None when the backward gave None:
            if g is None:                                # checked as zero
                g = np.zeros(_shaped(a).shape)
            dtype, precision = _precision(a, grads[k], leaves.dtypes)
            sub_rng = np.random.default_rng([seed, 1 + k])    # per input: wrt changes nothing
            if mode == "directional":
                row = _check_directions(name, k, g, loss, layouts[k], directions, eps,
                                        richardson, sub_rng, lambda s: tolerances(dtype, s),
                                        at_x)
            else:
                size = int(_shaped(a).size)
                flat = np.arange(size)
                if mode == "sampled" and size > samples:
                    flat = np.sort(sub_rng.choice(size, samples, replace=False))
                numeric = np.full(size, np.nan)
                drawn = np.zeros(size, dtype=bool)
                drawn[flat] = True
                for j in flat:
                    numeric[j] = loss.element(k, int(j), eps, richardson)
                numeric, drawn = numeric.reshape(g.shape), drawn.reshape(g.shape)
                row = _compare_elements(name, g, numeric, drawn,
                                        *tolerances(dtype, finite_max_abs(numeric[drawn])),
                                        layouts[k])
                _label_kinks(row, k, g, numeric, drawn, loss, eps, at_x)
            if len(row.kinks) > 2:                       # the same words, once is enough
                row.kinks[2:] = [f"{name}: {len(row.kinks) - 2} more failing "
                                 f"{'directions' if mode == 'directional' else 'elements'} "
                                 "labelled likewise"]
            row.precision = precision
            notes = []
            if scalars[k]:
                notes.append("Python float: checked as a 0-d float64 input")
            if grads[k] is None:
                notes.append(f"{roles.backward} gave None: checked as 0")
            row.note = "; ".join(notes)
            rows.append(row)
    finally:
        if bar is not None:
            bar.close()

    first = next(r for r in rows if r.checked)
    report = GradcheckReport(all(r.passed for r in rows if r.checked), rows, mode, eps,
                             first.atol, first.rtol, richardson, seed, loss.evaluations,
                             title=roles.title)
    if not report.passed and looks_like_an_output(cache, output, inputs):
        report.notes.append(TWO_OUTPUTS_HINT.format(forward=roles.forward,
                                                    backward=roles.backward))
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


def _first_call(forward: Callable[..., Any], inputs: Sequence[Any], names: Sequence[str],
                roles: Roles) -> tuple[Any, Any]:
    """forward(*copies of the inputs) -> (output, cache); ``MutatingForwardError`` if it
    wrote to any of its array inputs."""
    copies = [a.copy() if hasattr(a, "shape") and hasattr(a, "copy") else a for a in inputs]
    result = forward(*copies)
    check_unmodified(roles.forward, names, inputs, copies)
    return forward_pair(result, roles.forward)


def _check_backward_deterministic(forward: Callable[..., Any], backward: Callable[..., Any],
                                  inputs: Sequence[Any], leaves: OutputLeaves,
                                  us: Sequence[Any], analytic: Sequence[Any],
                                  checked: Sequence[bool], names: Sequence[str],
                                  nondet_tol: float, roles: Roles) -> None:
    """A fresh forward at the inputs, backward again with the same doutput: each gradient
    must equal the first call's within ``nondet_tol`` + the round-off of a sum taken in
    another order, 8·u·√m·max|g| (``determinism``: GPU atomics reorder sums)."""
    _, cache = forward_pair(forward(*[a.copy() if hasattr(a, "shape") and hasattr(a, "copy")
                                      else a for a in inputs]), roles.forward)
    again = gradient_sequence(backward(leaves.doutput(us), cache), len(inputs),
                              roles.backward)
    second = [gradient_copy(g, _shaped(a), name, roles.backward) if ok else None
              for name, g, a, ok in zip(names, again, inputs, checked)]
    size = sum(int(_shaped(a).size) for a, ok in zip(inputs, checked) if ok) + \
        sum(u.size for u in us if u is not None)
    for k, (name, ok) in enumerate(zip(names, checked)):
        if not ok or analytic[k] is None or second[k] is None:
            continue
        unit = float(np.finfo(precision_of(again[k])).eps) / 2
        scale = finite_max_abs(analytic[k])
        tol = nondet_tol + BACKWARD_ROUND_OFF * unit * math.sqrt(size) * scale
        check_deterministic([analytic[k]], [second[k]], [f"{roles.backward}'s gradient for "
                                                         f"{name}"], tol, roles.backward,
                            error=NondeterministicBackwardError, fix=BACKWARD_FIX,
                            limit=f"nondet_tol={nondet_tol:g} + the round-off of a reordered "
                                  f"sum ({tol - nondet_tol:.2g})")


def _check_deterministic(loss: ProjectedLoss, leaves: OutputLeaves, inputs: Sequence[Any],
                         nondet_tol: float, roles: Roles) -> None:
    """forward twice at the inputs, compared output by output; one extra forward when the
    first call's inputs were already float64 (the values of the copies), two otherwise."""
    exact = all(np.dtype(a.dtype) == np.float64 and _contiguous(a)
                for a in inputs if is_float_array(a))
    reference = leaves if exact else OutputLeaves(loss.output(loss.inputs64))
    again = OutputLeaves(loss.output(loss.inputs64))
    for dtype, path in zip(again.dtypes, [p for p, ok in zip(again.paths, again.projected)
                                           if ok]):
        if np.finfo(dtype).eps > np.finfo(np.float64).eps:
            raise ValueError(
                f"{path} is {dtype.name} even for float64 inputs: the finite differences, "
                f"taken in float64, would carry {dtype.name} round-off (about "
                f"{np.finfo(dtype).eps / 2:.1g}/eps relative, larger than any error they "
                f"should find); make {roles.forward} compute in its inputs' dtype")
    check_deterministic(reference.host, again.host, leaves.paths, nondet_tol, roles.forward)
    again.check_finite("at the given inputs (evaluated in float64)")


def _shaped(a: Any) -> Any:
    """``a`` itself when it has a shape (an array of any backend), else a 0-d NumPy array
    (a Python float input)."""
    return a if hasattr(a, "shape") else np.asarray(a)


def _contiguous(a: Any) -> bool:
    flags = getattr(a, "flags", None)
    return flags is not None and (flags.c_contiguous or flags.f_contiguous)


def _precision(a: Any, g: Any, output_dtypes: Sequence[Any]) -> tuple[Any, str]:
    """(dtype, words): the lowest precision among the input's, the outputs' and the
    gradient's dtypes (the round-off the analytic gradient carries: sets the default
    tolerances), and its name, with the three when they differ."""
    parts = {"input": precision_of(a), "output": lowest_precision(output_dtypes)}
    if g is not None:
        parts["gradient"] = precision_of(g)
    dtype = lowest_precision(parts.values())
    return dtype, precision_words(dtype, parts)


def _compare_elements(name: str, analytic: _Array, numeric: _Array, drawn: _Array,
                      atol: float, rtol: float, layout: Any) -> InputReport:
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
        def unravel(flat: int) -> tuple[int, ...]:
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


def _label_kinks(row: InputReport, k: int, analytic: _Array, numeric: _Array, drawn: _Array,
                 loss: ProjectedLoss, eps: float, at_x: Callable[[], float]) -> None:
    """Label failing elements (at most ``MAX_EXAMINED``, worst first) that sit at or near
    a kink (``kinks``): their one-sided differences disagree."""
    if row.passed:
        return
    _, _, ratio = error_ratios(analytic, numeric, row.atol, row.rtol)
    failing = np.argwhere(drawn & (ratio > 1))
    order = np.argsort(-ratio[tuple(failing.T)], kind="stable")[:MAX_EXAMINED]
    for index in failing[order]:
        index = tuple(int(i) for i in index)
        v = np.zeros(analytic.shape)
        v[index] = 1.0
        tol = row.atol + row.rtol * abs(numeric[index])
        label = kink_label(loss, k, v, eps, float(analytic[index]), tol, at_x())
        if label:
            row.kinks.append(f"{row.name}[{', '.join(map(str, index))}]: {label}")


def _check_directions(name: str, k: int, analytic: _Array, loss: ProjectedLoss, layout: Any,
                      count: int, eps: float, richardson: bool, rng: np.random.Generator,
                      tolerances: Callable[[float], tuple[float, float]],
                      at_x: Callable[[], float]) -> InputReport:
    """``count`` random unit directions per group of ``layout`` (or over the whole input)."""
    parts = list(layout.partitions(analytic.shape)) if layout is not None else []
    if not parts:
        parts = [(None, [(None, (slice(None),) * analytic.ndim)])]
    # (key, label, j, analytic, numeric, v): direction j of group key=label, the two sides
    trials: list[tuple[Any, Any, int, float, float, _Array]] = []
    for key, labelled in parts:
        for label, index in labelled:
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
                trials.append((key, label, j, projected, loss.along(k, v, eps, richardson), v))
    vectors = [rec[5] for rec in trials]
    records = [(key, label, j, projected, numeric)
               for key, label, j, projected, numeric, _ in trials]
    a = np.array([rec[3] for rec in records])
    n = np.array([rec[4] for rec in records])
    atol, rtol = tolerances(finite_max_abs(n))
    abs_err, rel_err, ratio = error_ratios(a, n, atol, rtol)

    def direction_name(rec: tuple[Any, Any, int, float, float]) -> str:
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
    groups: Groups = {}
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
    failing = [w for w in np.argsort(-ratio, kind="stable") if ratio[w] > 1][:MAX_EXAMINED]
    for w in failing:
        label = kink_label(loss, k, vectors[w], eps, float(a[w]),
                           atol + rtol * abs(float(n[w])), at_x())
        if label:
            r.kinks.append(f"{name}, {direction_name(records[w])}: {label}")
    return r


def _progress_bar(progress: bool, mode: str, inputs: Sequence[Any], selected: Sequence[bool],
                  layouts: Sequence[Any], directions: int, samples: int,
                  richardson: bool) -> Any:
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
