"""``gradcheck``: a hand-written backward against finite differences, in three modes; and
``hvpcheck``, the same check of a Hessian-vector product against a gradient.

    report = gradcheck(forward, backward, inputs, mode="full" | "directional" | "sampled")

``forward(*inputs) -> (output, cache)``; ``backward(doutput, cache) -> grads``, one per
input (None: checked as zero); ``output`` an array, a float or a nested tuple/list of them.
The outputs are projected onto seeded random directions u, L = Σ_k ⟨u_k, out_k⟩, so backward
is called once, with doutput = u, and must return ∇L; then, on float64 copies of the inputs:

    full         ∂L/∂x[j] ≈ central difference (``differences``), every element j
    sampled      the same for ``samples`` random elements per input
    directional  ⟨∇L, v⟩ ≈ (L(x + εv) − L(x − εv)) / 2ε for ``directions`` random unit v per
                 input (per group of its layout): names the input (and group), not the element

First the settings, inputs and returns are checked (``contract``), then forward's writes and
determinism (``misuse``); after the differences, failing elements are examined for kinks.
Costs, and what each mode sees: docs/gradcheck.md §2.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np

from ..checks import check_bool, check_choice, check_int
from .contract import (OutputLeaves, check_callable, check_inputs, check_layouts, check_wrt,
                       copies, difference_settings, finite_inputs, gradient_copy,
                       gradient_sequence, is_float_array, is_python_float, lowest_precision,
                       precision, precision_of, shape_of, why_skipped)
from .differences import (MAX_EXAMINED, ProjectedLoss, default_tolerances, error_ratios,
                          finite_max_abs, kink_label)
from .misuse import (TWO_OUTPUTS_HINT, check_backward_deterministic,
                     check_forward_deterministic, first_call, looks_like_an_output)
from .report import (GradcheckReport, GroupStats, Groups, InputReport, conclude, group_stats,
                     index_str)

__all__ = ["gradcheck", "hvpcheck", "check_pair", "Roles", "MODES"]

MODES = ("full", "directional", "sampled")
_Array = np.ndarray[Any, Any]


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

    inputs           forward's arguments, a list or tuple; float arrays are checked (finite);
                     a Python float is checked as 0-d when the backward returns a gradient
                     for it (or ``wrt`` names it); complex and float16 are refused
    mode             "full", "directional" or "sampled"
    eps              the difference step in [1e-10, 0.1]; default 1e-6, 1e-3 with richardson
    atol, rtol       per element, finite and >= 0; default derived per input from the lowest
                     precision among its dtype, the outputs' and its gradient's
    seed             an int >= 0; seeds u, the sampled elements and the directions
    names            distinct strings, one per input (default input0, …)
    wrt              names or positions of the inputs to check (default: every float input)
    directions       per input (per group), mode="directional": an int in [1, 10000]
    samples          elements per input, mode="sampled": an int >= 1
    richardson       O(ε⁴) differences at twice the cost; its ε = 1e-3 widens the blind zone
                     around a kink (relu within 1e-3 of 0 fails)
    layouts          {name: Layout} (or a list, one per input): the report breaks errors
                     down by their groups (gate block, layer, time step, …)
    raise_exception  raise ``GradcheckError`` (with the report) on failure; else return it
    progress         True: a tqdm bar on stderr when it is a terminal (if tqdm is installed)
    nondet_tol       outputs (gradients) of two calls at the inputs differing by more than
                     this raise ``NondeterministicForwardError`` (``…BackwardError``)

    A wrong setting is a ``TypeError`` (type) or ``ValueError`` (value) naming it, raised
    before forward is called; a forward writing to its inputs, ``MutatingForwardError``.
    """
    check_callable("forward", forward, "forward(*inputs) -> (output, cache)")
    check_callable("backward", backward, "backward(doutput, cache) -> grads")
    return check_pair(forward, backward, inputs, GRADCHECK_ROLES, mode, eps, atol, rtol, seed,
                      names, wrt, directions, samples, richardson, layouts, raise_exception,
                      progress, nondet_tol)


def hvpcheck(grad: Callable[..., Any], hvp: Callable[..., Any], inputs: Sequence[Any], *,
             mode: str = "full", eps: Optional[float] = None, atol: Optional[float] = None,
             rtol: Optional[float] = None, seed: int = 0,
             names: Optional[Sequence[str]] = None, wrt: Any = None, directions: int = 4,
             samples: int = 16, richardson: bool = False, layouts: Any = None,
             raise_exception: bool = True, progress: bool = False,
             nondet_tol: float = 0.0) -> GradcheckReport:
    """Compare ``hvp(vectors, *inputs) -> H v`` with central differences of ``grad(*inputs)
    -> ∇ℓ`` (one entry per input, None for no gradient): ``gradcheck`` of the gradient as
    a function, whose Jacobian H is symmetric, so ∂/∂x_j ⟨u, g(x)⟩ = (Hᵀu)_j = (Hu)_j.  The
    contract: hvp multiplies by a symmetric matrix that is the Jacobian of grad (a Hessian,
    or a Gauss-Newton matrix with its model's gradient: ``library_pairs``).  Settings,
    validation and report as ``gradcheck``'s ("analytic" is hvp's (Hu)_j).  A double
    backward needs no new contract: gradcheck (x, dy) ↦ backward(dy, cache(x)).
    """
    check_callable("grad", grad, "grad(*inputs) -> grads")
    check_callable("hvp", hvp, "hvp(vectors, *inputs) -> products")
    inputs, _ = check_inputs(inputs, names)
    at = copies(inputs)

    def forward(*xs: Any) -> tuple[Any, ...]:            # the gradient, as forward
        return tuple(gradient_sequence(grad(*xs), len(at), "grad")[:len(at)]), None

    def backward(vectors: Any, _: Any) -> Any:           # H u, at the point checked
        return hvp(vectors, *copies(at))

    return check_pair(forward, backward, inputs, Roles("grad", "hvp", "Hessian-vector check"),
                      mode, eps, atol, rtol, seed, names, wrt, directions, samples, richardson,
                      layouts, raise_exception, progress, nondet_tol)


def check_pair(forward: Callable[..., Any], backward: Callable[..., Any], inputs: Any,
               roles: Roles, mode: Any, eps: Any, atol: Any, rtol: Any, seed: Any, names: Any,
               wrt: Any, directions: Any, samples: Any, richardson: Any, layouts: Any,
               raise_exception: Any, progress: Any, nondet_tol: Any) -> GradcheckReport:
    """``gradcheck``'s work (the settings in its order), ``roles`` naming the caller's
    functions in messages."""
    inputs, names = check_inputs(inputs, names)
    mode = check_choice("mode", mode, MODES)
    richardson, eps, atol, rtol, nondet_tol, seed, directions, raise_exception = \
        difference_settings(richardson, eps, atol, rtol, nondet_tol, seed, directions,
                            raise_exception)
    progress = check_bool("progress", progress)
    samples = check_int("samples", samples, minimum=1)
    arrays = [is_float_array(a) for a in inputs]
    scalars = [is_python_float(a) for a in inputs]
    differentiable = [a or f for a, f in zip(arrays, scalars)]
    selected = check_wrt(wrt, names, inputs)
    layouts = check_layouts(layouts, names, inputs)
    if not any(ok and chosen for ok, chosen in zip(differentiable, selected)):
        raise ValueError(f"{roles.title} needs at least one float array (or Python float) "
                         f"input to check (inputs: {', '.join(names) or 'none'}; wrt={wrt!r})")
    inputs64 = finite_inputs(names, inputs, differentiable)

    output, cache = first_call(forward, inputs, names, roles.forward)
    leaves = OutputLeaves(output, f"{roles.forward}'s output")
    leaves.check_finite()
    us = leaves.draw_directions(np.random.default_rng(seed))   # u in the outputs' dtypes
    grads = gradient_sequence(backward(leaves.doutput(us), cache), len(inputs), roles.backward)
    # a Python float is checked when the backward differentiates it (or wrt names it)
    checked = [selected[k] and (arrays[k] or (scalars[k] and (grads[k] is not None
                                                               or wrt is not None)))
               for k in range(len(inputs))]
    if not any(checked):
        raise ValueError(f"{roles.title}: nothing to check: {roles.backward} returned None for "
                         "every Python float input and no float array input is selected (pass "
                         "wrt= to check a Python float as zero)")
    analytic: list[Any] = [gradient_copy(g, a, name, roles.backward) if ok else None
                for name, g, a, ok in zip(names, grads, inputs, checked)]   # float64 copies
    loss = ProjectedLoss(forward, inputs64, [a if ok else float if f else None
                                             for a, ok, f in zip(inputs, arrays, scalars)], us)
    check_forward_deterministic(loss, leaves, inputs, nondet_tol, roles.forward)
    check_backward_deterministic(forward, backward, inputs, leaves.doutput(us), analytic,
                                 names, nondet_tol, us, roles)
    loss_terms = sum(float(np.abs(u * v).sum()) for u, v in zip(us, leaves.host)
                     if u is not None)
    problem_size = sum(math.prod(shape_of(a)) for a, ok in zip(inputs, differentiable) if ok) + \
        sum(u.size for u in us if u is not None)
    rows = []
    loss.progress = bar = _progress_bar(progress, mode, inputs, checked, layouts, directions,
                                        samples, richardson)
    try:
        for k, (name, a) in enumerate(zip(names, inputs)):
            if not checked[k]:
                rows.append(InputReport(name, shape_of(a), checked=False, note=(
                    "not in wrt" if differentiable[k] and not selected[k] else
                    f"Python float: {roles.backward} gave None" if scalars[k] else
                    why_skipped(a))))
                continue
            parts = {"input": precision_of(a), "output": lowest_precision(leaves.dtypes)}
            if grads[k] is not None:
                parts["gradient"] = precision_of(grads[k])
            dtype, row_precision = precision(parts)
            tolerances = partial(default_tolerances, dtype, eps=eps, loss_terms=loss_terms,
                                 problem_size=problem_size, richardson=richardson, atol=atol,
                                 rtol=rtol)
            g = np.zeros(shape_of(a)) if analytic[k] is None else analytic[k]  # None: zero
            row = _check_input(name, k, g, loss, mode, layouts[k], directions, samples, eps,
                               richardson, np.random.default_rng([seed, 1 + k]), tolerances)
            row.precision = row_precision
            row.note = "; ".join(note for note, applies in (
                ("Python float: checked as a 0-d float64 input", scalars[k]),
                (f"{roles.backward} gave None: checked as 0", grads[k] is None)) if applies)
            rows.append(row)
    finally:
        if bar is not None:
            bar.close()

    hint = [] if all(r.passed for r in rows) or not looks_like_an_output(cache, output, inputs) \
        else [TWO_OUTPUTS_HINT.format(forward=roles.forward, backward=roles.backward)]
    return conclude(rows, raise_exception, hint, mode=mode, eps=eps, richardson=richardson,
                    seed=seed, n_evaluations=loss.evaluations, title=roles.title)


def _check_input(name: str, k: int, g: _Array, loss: ProjectedLoss, mode: str, layout: Any,
                 directions: int, samples: int, eps: float, richardson: bool,
                 rng: np.random.Generator,
                 tolerances: Callable[..., tuple[float, float]]) -> InputReport:
    """One input's row: ``g`` (float64, the analytic ∇L) against the differences of ``loss``
    along its elements or directions; failing ones (the worst ``MAX_EXAMINED``) are
    examined for kinks."""
    if mode == "directional":
        trials = _directions(layout, g.shape, directions, rng)
        vectors: list[Any] = [v for _, _, _, v in trials]
        labels = [f"direction {j}" + ("" if key is None else f" in {key}={label}")
                  for key, label, j, _ in trials]
        with np.errstate(invalid="ignore", over="ignore"):       # NaN/inf: fails below
            analytic = np.array([float(np.sum(g * v)) for v in vectors])       # ⟨∇L, v⟩
    else:
        flat = np.arange(g.size)
        if mode == "sampled" and g.size > samples:
            flat = np.sort(rng.choice(g.size, samples, replace=False))
        vectors = [int(j) for j in flat]
        index = [tuple(int(i) for i in np.unravel_index(j, g.shape)) for j in vectors]
        labels = [index_str(i) for i in index]
        analytic = g.reshape(-1)[flat]
    numeric = np.array([loss.along(k, v, eps, richardson) for v in vectors])
    atol, rtol = tolerances(gradient_scale=finite_max_abs(numeric))
    abs_err, rel_err, ratio = error_ratios(analytic, numeric, atol, rtol)
    row = InputReport(name, g.shape, checked=True, atol=atol, rtol=rtol, n_elements=g.size)
    row.compare(analytic, numeric, ratio, abs_err, rel_err,
                None if mode == "directional" else index.__getitem__)
    if mode == "directional":
        row.where = labels[int(np.argmax(ratio))] if ratio.size else ""
        row.groups = _direction_groups(name, row, trials, labels, ratio, abs_err, layout)
        labels = [f", {label}" for label in labels]     # kinks: "x, direction 0 in gate=i"
    else:
        row.where = f"{name}{labels[int(np.argmax(ratio))]}" if ratio.size else ""
        if layout is not None:
            full_ratio, full_err = np.full(g.size, np.nan), np.full(g.size, np.nan)
            full_ratio[flat], full_err[flat] = ratio, abs_err
            row.groups = group_stats(name, layout, full_ratio.reshape(g.shape),
                                     full_err.reshape(g.shape))
    for w in [w for w in np.argsort(-ratio, kind="stable") if ratio[w] > 1][:MAX_EXAMINED]:
        label = kink_label(loss, k, vectors[w], eps, float(analytic[w]),
                           atol + rtol * abs(float(numeric[w])))
        if label:
            row.kinks.append(f"{name}{labels[w]}: {label}")
    if len(row.kinks) > 2:                                # the same words, once is enough
        row.kinks[2:] = [f"{name}: {len(row.kinks) - 2} more failing "
                         f"{'directions' if mode == 'directional' else 'elements'} "
                         "labelled likewise"]
    return row


def _directions(layout: Any, shape: tuple[int, ...], count: int,
                rng: np.random.Generator) -> list[tuple[Any, Any, int, _Array]]:
    """(key, label, j, v): ``count`` random unit directions v per group key=label of
    ``layout`` (key None: the whole input), each nonzero in its group only."""
    parts = list(layout.partitions(shape)) if layout is not None else []
    out = []
    for key, labelled in parts or [(None, [(None, (slice(None),) * len(shape))])]:
        for label, index in labelled:
            mask = np.zeros(shape, dtype=bool)
            mask[index] = True
            for j in range(count):
                v = np.zeros(shape)
                v[mask] = rng.standard_normal(int(mask.sum()))
                norm = np.linalg.norm(v)
                if norm:
                    out.append((key, label, j, v / norm))
    return out


def _direction_groups(name: str, row: InputReport, trials: list[Any], labels: list[str],
                      ratio: _Array, abs_err: _Array, layout: Any) -> Groups:
    """{key: {label: GroupStats}} of the directions, and the whole input for each tag."""
    groups: Groups = {}
    for (key, label, _, _), words, q, e in zip(trials, labels, ratio, abs_err):
        if key is not None:
            groups.setdefault(key, {}).setdefault(label, GroupStats()).add(
                GroupStats(float(q), float(e), 1, int(q > 1), f"{name}, {words}"))
    whole = GroupStats(row.worst_ratio, row.max_abs_error, row.n_checked, row.n_failed,
                       f"{name}, {row.where}")
    for key, label in (layout.tags if layout is not None else {}).items():
        groups.setdefault(key, {})[label] = whole
    return groups


def _progress_bar(progress: bool, mode: str, inputs: Sequence[Any], checked: Sequence[bool],
                  layouts: Sequence[Any], directions: int, samples: int,
                  richardson: bool) -> Any:
    """A tqdm bar counting forward evaluations (None when off or tqdm is missing)."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415  (optional)
    except ImportError:
        return None
    total = 0
    for a, ok, layout in zip(inputs, checked, layouts):
        if ok and is_float_array(a):
            groups = sum(len(g) for _, g in layout.partitions(a.shape)) if layout else 1
            total += {"full": a.size, "sampled": min(a.size, samples)}.get(
                mode, directions * max(groups, 1))
    # disable=None: only on a terminal; delay: only for checks that take more than a moment
    return tqdm(total=total * (4 if richardson else 2), desc=f"gradcheck ({mode})",
                unit="fwd", leave=False, disable=None, delay=1.0)
