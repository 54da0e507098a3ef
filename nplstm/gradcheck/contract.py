"""The checkers' contract with the caller, enforced before any difference is taken.

The settings (every one validated before forward is called: a wrong setting must never
become a quietly passing check such as ``atol=inf``; scalars through ``nplstm.checks``), the
inputs (which can be differentiated, their precision, float64 host copies) and what forward
and backward return (docs/gradcheck.md §1 says why each refusal).

The bounds of ε, for inputs of size O(1): below ``EPS_MIN`` = 1e-10 the round-off of a
difference, u·S_L/ε, swamps it and the derived atol grows with it until it hides real
errors; above ``EPS_MAX`` = 0.1 the truncation error ε²/6·L''' is ≳ 1e-3 relative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..backend import asnumpy, check_not_masked, get_array_module
from ..checks import check_bool, check_int, check_real, describe_value
from .report import ABSENT, Layout

EPS_MIN, EPS_MAX = 1e-10, 1e-1
# the most random directions (trials) per input: each costs forward calls, so a count far
# above this is a run that never ends, not a stricter check
COUNT_MAX = 10_000
COMPLEX_UNSUPPORTED = ("complex numbers are not supported: the checkers differentiate real "
                       "functions; pass the real and imaginary parts as two float inputs "
                       "(and return them as two float outputs)")
FLOAT16_UNSUPPORTED = ("float16 is not supported: its unit round-off (4.9e-4) would make the "
                       "derived tolerance 48*u*sqrt(m) at least 2e-2, too loose to catch "
                       "anything but a wrong term (and float32's tolerances would fail a right "
                       "backward); check a float32 or float64 version of the computation")
OUTPUT_KINDS = ("a float array, a float scalar (Python float, NumPy floating), None, an "
                "integer array, or a nested tuple/list of those")


# ---- values: which can be differentiated, their precision, host copies ----

def dtype_kind(a) -> str:
    """NumPy's kind letter of ``a``'s dtype ("" for a Python object, a torch tensor)."""
    try:
        return np.dtype(a.dtype).kind if hasattr(a, "shape") else ""
    except (AttributeError, TypeError):     # no dtype, or one NumPy does not know
        return ""


def is_float_array(a) -> bool:
    return dtype_kind(a) == "f"


def is_python_float(a) -> bool:
    """A Python float (not a NumPy scalar): a 0-d input, checked when the backward returns a
    gradient for it (or ``wrt`` names it)."""
    return isinstance(a, float) and not isinstance(a, np.generic)


def is_float_scalar(value) -> bool:
    return isinstance(value, (float, np.floating)) and not isinstance(value, np.ndarray)


def shape_of(a) -> tuple:
    return () if a is None else tuple(a.shape) if hasattr(a, "shape") else tuple(np.shape(a))


def precision_of(a) -> np.dtype:
    """The float dtype of an array or scalar (float64 for a Python float)."""
    return np.dtype(a.dtype) if hasattr(a, "dtype") else np.dtype(np.float64)


def lowest_precision(dtypes) -> np.dtype:
    """The dtype with the largest unit round-off (float64 if none)."""
    return max((np.dtype(d) for d in dtypes if d is not None),
               key=lambda d: float(np.finfo(d).eps), default=np.dtype(np.float64))


def precision(parts: dict) -> tuple[np.dtype, str]:
    """The lowest precision among ``parts`` ({"input": dtype, "output": ..., ...}: the
    round-off an analytic value carries) and its words: "float32 (gradient float64)"."""
    dtype = lowest_precision(parts.values())
    other = [f"{k} {np.dtype(d).name}" for k, d in parts.items() if np.dtype(d) != dtype]
    return dtype, dtype.name + (f" ({', '.join(other)})" if other else "")


def why_skipped(a) -> str:
    if a is None:
        return ABSENT
    if is_python_float(a):
        return "Python float: not checked here (pass a 0-d float array to check it)"
    if dtype_kind(a):
        return f"{np.dtype(a.dtype).name}: not differentiable"
    return f"{type(a).__name__}: not a NumPy or CuPy array"


def to_host64(a) -> np.ndarray:
    """A float64 NumPy copy of ``a`` (never a view: the caller's array is never touched)."""
    return np.array(asnumpy(a), dtype=np.float64, copy=True)


def like(host_array, reference):
    """``host_array`` on ``reference``'s backend (a no-op for NumPy)."""
    return get_array_module(reference).asarray(host_array)


def copies(values) -> list:
    """A copy of every array (what forward is called with: it may not reach the originals)."""
    return [a.copy() if hasattr(a, "shape") and hasattr(a, "copy") else a for a in values]


def flatten(output):
    """Nested tuples/lists of leaves, depth first: (leaves, function rebuilding the nesting)."""
    if not isinstance(output, (tuple, list)):
        return [output], lambda values: values[0]
    parts = [flatten(o) for o in output]
    flat = [a for leaves, _ in parts for a in leaves]

    def rebuild(values):
        out, start = [], 0
        for leaves, sub in parts:
            out.append(sub(values[start:start + len(leaves)]))
            start += len(leaves)
        return tuple(out)

    return flat, rebuild


def check_supported(label, a) -> None:
    """TypeError naming ``label`` when ``a`` is complex or float16."""
    if isinstance(a, complex) or dtype_kind(a) == "c":
        raise TypeError(f"{label} is {describe_value(a)}: {COMPLEX_UNSUPPORTED}")
    if dtype_kind(a) == "f" and np.dtype(a.dtype) == np.float16:
        raise TypeError(f"{label} is {describe_value(a)}: {FLOAT16_UNSUPPORTED}")


# ---- settings ----

def check_callable(name, value, signature) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be a callable {signature}, got {describe_value(value)}")


def check_inputs(inputs, names) -> tuple[list, list]:
    """(inputs, names): forward's arguments as a list (a bare array would be split into its
    rows), none masked, complex or float16; ``n`` distinct non-empty names (default input0…)."""
    if not isinstance(inputs, (list, tuple)):
        hint = "; wrap a single array as [x]" if hasattr(inputs, "shape") else ""
        raise TypeError(f"inputs must be a list or tuple of forward's arguments, "
                        f"got {describe_value(inputs)}{hint}")
    for k, a in enumerate(inputs):        # a mask would be dropped by every copy made here
        check_not_masked(f"inputs[{k}]", a)
    n = len(inputs)
    if names is None:
        names = [f"input{k}" for k in range(n)]
    elif isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise TypeError(f"names must be a list or tuple of strings, one per input, "
                        f"got {describe_value(names)}")
    names = list(names)
    if len(names) != n:
        raise ValueError(f"names must have one entry per input ({n}), got {len(names)}")
    for k, v in enumerate(names):
        if not isinstance(v, str):
            raise TypeError(f"names[{k}] must be a string, got {describe_value(v)}")
        if not v:
            raise ValueError(f"names[{k}] must be a non-empty string, got ''")
    repeated = sorted({v for v in names if names.count(v) > 1})
    if repeated:
        raise ValueError(f"names must be distinct, got {repeated} more than once")
    for k, (name, a) in enumerate(zip(names, inputs)):
        check_supported(f"inputs[{k}] ({name})", a)
    return list(inputs), names


def check_wrt(wrt, names, inputs) -> list:
    """A bool per input, check it?  ``wrt``: None (every float input), a name, a position,
    or a list/tuple of them, each naming a float array input (or a Python float)."""
    if wrt is None:
        return [True] * len(inputs)
    if isinstance(wrt, (str, int, np.integer)) and not isinstance(wrt, (bool, np.bool_)):
        wrt = [wrt]
    if not isinstance(wrt, (list, tuple)):
        raise TypeError(f"wrt must be an input's name or position, or a list of them, "
                        f"got {describe_value(wrt)}")
    if not wrt:
        raise ValueError("wrt must name at least one input, got an empty list "
                         "(pass wrt=None to check every float input)")
    chosen = [False] * len(inputs)
    for w in wrt:
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (str, int, np.integer)):
            raise TypeError(f"wrt entries must be input names (str) or positions (int), "
                            f"got {describe_value(w)}")
        if isinstance(w, str) and w not in names:
            raise ValueError(f"wrt: no input named {w!r} (inputs: {', '.join(names)})")
        if not isinstance(w, str) and not -len(inputs) <= w < len(inputs):
            raise ValueError(f"wrt: position {w} is out of range for {len(inputs)} inputs")
        k = names.index(w) if isinstance(w, str) else int(w) % len(inputs)
        if not (is_float_array(inputs[k]) or is_python_float(inputs[k])):
            raise ValueError(f"wrt: {names[k]} cannot be checked ({why_skipped(inputs[k])})")
        chosen[k] = True
    return chosen


def check_layouts(layouts, names, inputs) -> list:
    """A ``Layout`` (or None) per input, from None, {name: Layout} or a list/tuple with one
    per input; each checked against its input's shape."""
    if layouts is None:
        return [None] * len(inputs)
    if isinstance(layouts, dict):
        unknown = [k for k in layouts if k not in names]
        if unknown:
            raise ValueError(f"layouts names unknown inputs: {sorted(map(str, unknown))} "
                             f"(inputs: {', '.join(names)})")
        layouts = [layouts.get(n) for n in names]
    elif not isinstance(layouts, (list, tuple)):
        raise TypeError(f"layouts must be a dict {{name: Layout}} or a list with one Layout "
                        f"(or None) per input, got {describe_value(layouts)}")
    if len(layouts) != len(inputs):
        raise ValueError(f"layouts must have one entry per input ({len(inputs)}), "
                         f"got {len(layouts)}")
    for name, layout, a in zip(names, layouts, inputs):
        if layout is not None and not isinstance(layout, Layout):
            raise TypeError(f"layouts[{name!r}] must be a Layout, got {describe_value(layout)}")
        if layout is not None and is_float_array(a):
            layout.check(name, a.shape)
    return list(layouts)


def difference_settings(richardson, eps, atol, rtol, nondet_tol, seed, directions,
                        raise_exception) -> tuple[bool, float, float | None, float | None,
                                                  float, int, int, bool]:
    """The settings gradcheck and jvpcheck share, validated, in this order; eps defaults to
    1e-6, 1e-3 with Richardson extrapolation (whose wider step widens the blind zone around
    a kink: docs/gradcheck.md §4)."""
    richardson = check_bool("richardson", richardson)
    eps = (1e-3 if richardson else 1e-6) if eps is None else \
        check_real("eps", eps, minimum=EPS_MIN, maximum=EPS_MAX)
    return (richardson, eps, check_real("atol", atol, minimum=0.0, allow_none=True),
            check_real("rtol", rtol, minimum=0.0, allow_none=True),
            check_real("nondet_tol", nondet_tol, minimum=0.0),
            check_int("seed", seed, minimum=0),
            check_int("directions", directions, minimum=1, maximum=COUNT_MAX),
            check_bool("raise_exception", raise_exception))


def finite_inputs(names, inputs, is_float) -> list:
    """float64 host copies of the float inputs (the others as they are); ValueError naming
    the first holding NaN or inf: no derivative is checked at such a point."""
    out = [to_host64(a) if ok else a for a, ok in zip(inputs, is_float)]
    for k, (name, a, ok) in enumerate(zip(names, out, is_float)):
        if ok and not np.isfinite(a).all():
            raise ValueError(f"inputs[{k}] ({name}) must be finite, got NaN or inf at "
                             f"{int((~np.isfinite(a)).sum())} of {a.size} elements")
    return out


# ---- what forward and backward return ----

def forward_pair(result, who="forward", pair="(output, cache)"):
    """``(output, cache)`` from what ``who`` returned; TypeError unless it is such a pair."""
    if not isinstance(result, tuple) or len(result) != 2:
        what = f"a tuple of {len(result)}" if isinstance(result, tuple) else \
            describe_value(result)
        hint = "; return (output, None) when there is nothing to cache" \
            if pair == "(output, cache)" else ""
        raise TypeError(f"{who} must return a pair {pair}, got {what}{hint}")
    return result


def _paths(output, prefix) -> list:
    """The names of a nested output's leaves, in ``flatten``'s order: "output[1][0]"."""
    if isinstance(output, (tuple, list)):
        return [p for k, o in enumerate(output) for p in _paths(o, f"{prefix}[{k}]")]
    return [prefix]


class OutputLeaves:
    """forward's output, flattened: ``values`` (the leaves), ``projected`` (a bool per leaf:
    a float array or scalar; None, integers and integer arrays are passed over), ``paths``
    ("forward's output[1][0]"), ``host`` (float64 copies of the projected leaves, taken at
    once: later calls may reuse the buffers) and ``dtypes`` (theirs; float64 for a float)."""

    def __init__(self, output, who="forward's output"):
        self.values, self.rebuild = flatten(output)
        self.paths = _paths(output, who)
        self.projected = []
        for value, path in zip(self.values, self.paths):
            check_supported(path, value)
            ignored = value is None or isinstance(value, (bool, int, np.integer, np.bool_)) \
                or dtype_kind(value) in ("b", "i", "u")
            if not (ignored or is_float_array(value) or is_float_scalar(value)):
                raise TypeError(f"{path} is {describe_value(value)}: expected {OUTPUT_KINDS}")
            self.projected.append(not ignored)
        if not any(self.projected):
            raise TypeError(f"{who} holds no float array or float scalar to differentiate "
                            f"(got {describe_value(output)}); expected {OUTPUT_KINDS}")
        self.host = [to_host64(v) if p else None for v, p in zip(self.values, self.projected)]
        self.dtypes = [precision_of(v) for v, p in zip(self.values, self.projected) if p]

    def check_finite(self, when="at the given inputs"):
        for value, path in zip(self.host, self.paths):
            if value is not None and not np.isfinite(value).all():
                raise ValueError(f"{path} is not finite {when} (NaN or inf at "
                                 f"{int((~np.isfinite(value)).sum())} of {value.size} "
                                 "elements): derivatives there are meaningless; check at a "
                                 "point where forward is finite")

    def draw_directions(self, rng) -> list:
        """A random u per projected leaf, rounded to the leaf's dtype, held in float64."""
        return [rng.standard_normal(shape_of(v)).astype(precision_of(v)).astype(np.float64)
                if p else None for v, p in zip(self.values, self.projected)]

    def doutput(self, directions):
        """backward's ``doutput``: the directions in the nesting and the types of the output
        (a scalar output gets a scalar of its type, an array one of its dtype and backend)."""
        def as_leaf(u, value):
            if isinstance(value, np.generic):
                return value.dtype.type(u)
            return float(u) if isinstance(value, float) else like(u.astype(value.dtype), value)

        return self.rebuild([None if u is None else as_leaf(u, v)
                             for u, v in zip(directions, self.values)])


def gradient_sequence(result, n_inputs, who="backward") -> list:
    """backward's gradients as a list; TypeError unless a sequence, ValueError if too short."""
    if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
        hint = " ((dx,) for one input)" if hasattr(result, "shape") else ""
        raise TypeError(f"{who} must return a sequence of gradients, one per input, as a "
                        f"tuple or list{hint}; got {describe_value(result)}")
    if len(result) < n_inputs:
        raise ValueError(f"{who} returned {len(result)} gradients for {n_inputs} inputs")
    return list(result)


def gradient_copy(g, a, name, who="backward"):
    """A float64 host copy of ``who``'s gradient ``g`` for input ``name`` (None stays None):
    a float array (or scalar, for a 0-d input) of ``a``'s shape.  Copied at once: later
    forward calls may reuse its memory."""
    if g is None:
        return None
    if is_float_scalar(g) and not hasattr(g, "shape"):
        g = np.asarray(g)
    check_supported(f"{who}'s gradient for {name}", g)
    if not is_float_array(g):
        raise TypeError(f"{who}'s gradient for {name} must be a float array (or None), "
                        f"got {describe_value(g)}")
    if tuple(g.shape) != shape_of(a):
        raise ValueError(f"{who}'s gradient for {name} has shape {tuple(g.shape)}, "
                         f"but the input has shape {shape_of(a)}")
    return to_host64(g)
