"""The checkers' settings, validated before anything is called: one helper per kind.

A wrong setting must never turn into a quietly passing check (``atol=inf``, ``eps=nan``), so
every setting of ``gradcheck`` and ``adjoint_check`` goes through one of these helpers first.
A refused setting is a ``TypeError`` (wrong type: a bool or a string where a number belongs)
or a ``ValueError`` (wrong value: NaN, ±inf, negative, out of range), and the message names
the setting, says what was expected and shows what was given.

    real_setting("atol", atol, minimum=0.0)            a finite real number ≥ 0 (or None)
    int_setting("samples", samples, minimum=1)         an int ≥ 1 (bool refused)
    int_setting("directions", d, minimum=1, maximum=COUNT_MAX)   ... and ≤ COUNT_MAX
    bool_setting("richardson", richardson)             True or False
    choice_setting("mode", mode, MODES)                one of some strings
    names_setting(names, n)                            n distinct non-empty strings
    inputs_setting("inputs", inputs)                   a list or tuple of forward's arguments
    callable_setting("forward", forward, "forward(*inputs) -> (output, cache)")
    wrt_setting(wrt, names, inputs)                    a bool per input: check it?
    layouts_setting(layouts, names, inputs)            a Layout (or None) per input
    finite_inputs(names, inputs, is_float)             float64 copies; NaN/inf refused

The bounds of ε (``EPS_MIN`` ≤ eps ≤ ``EPS_MAX``), for inputs of size O(1):

    below 1e-10  the round-off of a difference, u·S_L/ε, exceeds 1e-6·S_L, and the default
                 atol (8·u·S_L/ε, tolerances.py) grows with it until it hides real errors;
                 near 1e-16 the step vanishes in x ± ε altogether
    above 0.1    the truncation error ε²/6·L''' is ≳ 1e-3 relative: no longer a derivative
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import check_not_masked
from .arrays import (UNSUPPORTED_PRECISION, dtype_kind, is_complex, is_float_array,
                     is_python_float, to_host64, why_skipped)
from .layout import Layout
from ..checks import (describe_value as describe, check_real as real_setting, check_int as int_setting,
                      check_bool as bool_setting, check_choice as choice_setting)

__all__ = ["difference_settings", "EPS_MIN", "EPS_MAX", "COUNT_MAX", "real_setting", "int_setting", "bool_setting",
           "choice_setting", "names_setting", "inputs_setting", "callable_setting",
           "wrt_setting", "layouts_setting", "finite_inputs", "describe", "supported_values",
           "check_supported", "COMPLEX_UNSUPPORTED", "FLOAT16_UNSUPPORTED"]

COMPLEX_UNSUPPORTED = ("complex numbers are not supported: the checkers differentiate real "
                       "functions; pass the real and imaginary parts as two float inputs "
                       "(and return them as two float outputs)")
FLOAT16_UNSUPPORTED = ("float16 is not supported: its unit round-off (4.9e-4) would make the "
                       "derived tolerance 48*u*sqrt(m) at least 2e-2, too loose to catch "
                       "anything but a wrong term (and float32's tolerances would fail a right "
                       "backward); check a float32 or float64 version of the computation")

EPS_MIN = 1e-10
EPS_MAX = 1e-1
# the most random directions (trials) per input a check draws: each costs two forwards (a
# JVP and a VJP), so a count far above this is a run that never ends, not a stricter check
COUNT_MAX = 10_000


def names_setting(names, n) -> list:
    """``n`` distinct non-empty strings, one per input (default: input0, input1, …)."""
    if names is None:
        return [f"input{k}" for k in range(n)]
    if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
        raise TypeError(f"names must be a list or tuple of strings, one per input, "
                        f"got {describe(names)}")
    names = list(names)
    if len(names) != n:
        raise ValueError(f"names must have one entry per input ({n}), got {len(names)}")
    for k, v in enumerate(names):
        if not isinstance(v, str):
            raise TypeError(f"names[{k}] must be a string, got {describe(v)}")
        if not v:
            raise ValueError(f"names[{k}] must be a non-empty string, got ''")
    repeated = sorted({v for v in names if names.count(v) > 1})
    if repeated:
        raise ValueError(f"names must be distinct, got {repeated} more than once")
    return names


def inputs_setting(name, inputs) -> list:
    """forward's arguments: a list or tuple (a bare array would be split into its rows)."""
    if not isinstance(inputs, (list, tuple)):
        hint = "; wrap a single array as [x]" if hasattr(inputs, "shape") else ""
        raise TypeError(f"{name} must be a list or tuple of forward's arguments, "
                        f"got {describe(inputs)}{hint}")
    for k, a in enumerate(inputs):        # a mask would be dropped by every copy made here
        check_not_masked(f"{name}[{k}]", a)
    return list(inputs)


def callable_setting(name, value, signature):
    """A callable (``signature`` says what it is called with and returns)."""
    if not callable(value):
        raise TypeError(f"{name} must be a callable {signature}, got {describe(value)}")
    return value


def wrt_setting(wrt, names, inputs) -> list:
    """Which inputs to check, a bool per input: ``wrt`` is None (every float input), a name,
    a position, or a list/tuple of names and positions, each naming a float array input
    (or a Python float, for gradcheck)."""
    if wrt is None:
        return [True] * len(inputs)
    if isinstance(wrt, (str, int, np.integer)) and not isinstance(wrt, (bool, np.bool_)):
        wrt = [wrt]
    if not isinstance(wrt, (list, tuple)):
        raise TypeError(f"wrt must be an input's name or position, or a list of them, "
                        f"got {describe(wrt)}")
    if not wrt:
        raise ValueError("wrt must name at least one input, got an empty list "
                         "(pass wrt=None to check every float input)")
    chosen = [False] * len(inputs)
    for w in wrt:
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (str, int, np.integer)):
            raise TypeError(f"wrt entries must be input names (str) or positions (int), "
                            f"got {describe(w)}")
        if isinstance(w, str):
            if w not in names:
                raise ValueError(f"wrt: no input named {w!r} (inputs: {', '.join(names)})")
            k = names.index(w)
        else:
            if not -len(inputs) <= w < len(inputs):
                raise ValueError(f"wrt: position {w} is out of range for {len(inputs)} inputs")
            k = int(w) % len(inputs)
        if not (is_float_array(inputs[k]) or is_python_float(inputs[k])):
            raise ValueError(f"wrt: {names[k]} cannot be checked ({why_skipped(inputs[k])})")
        chosen[k] = True
    return chosen


def layouts_setting(layouts, names, inputs) -> list:
    """One ``Layout`` (or None) per input, from None, {name: Layout} or a list/tuple (one
    per input, None allowed); each validated against its input's shape."""
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
                        f"(or None) per input, got {describe(layouts)}")
    layouts = list(layouts)
    if len(layouts) != len(inputs):
        raise ValueError(f"layouts must have one entry per input ({len(inputs)}), "
                         f"got {len(layouts)}")
    for name, layout, a in zip(names, layouts, inputs):
        if layout is None:
            continue
        if not isinstance(layout, Layout):
            raise TypeError(f"layouts[{name!r}] must be a Layout, got {describe(layout)}")
        if is_float_array(a):
            layout.check(name, a.shape)
    return layouts


def check_supported(label, a):
    """TypeError naming ``label`` when ``a`` is complex or float16 (see the messages)."""
    if is_complex(a):
        raise TypeError(f"{label} is {describe(a)}: {COMPLEX_UNSUPPORTED}")
    if dtype_kind(a) == "f" and np.dtype(a.dtype).name in UNSUPPORTED_PRECISION:
        raise TypeError(f"{label} is {describe(a)}: {FLOAT16_UNSUPPORTED}")


def supported_values(names, values):
    """``check_supported`` for each input, labelled "inputs[k] (name)"."""
    for k, (name, a) in enumerate(zip(names, values)):
        check_supported(f"inputs[{k}] ({name})", a)


def finite_inputs(names, inputs, is_float) -> list:
    """float64 host copies of the float inputs (the others as they are); ValueError naming
    the first float input holding NaN or inf: no derivative is checked at such a point."""
    copies = [to_host64(a) if ok else a for a, ok in zip(inputs, is_float)]
    for k, (name, a, ok) in enumerate(zip(names, copies, is_float)):
        if ok and not np.isfinite(a).all():
            raise ValueError(f"inputs[{k}] ({name}) must be finite, got NaN or inf at "
                             f"{int((~np.isfinite(a)).sum())} of {a.size} elements")
    return copies


def difference_settings(richardson: Any, eps: Any, atol: Any, rtol: Any, nondet_tol: Any,
                        seed: Any, directions: Any) -> tuple[bool, float, Any, Any, float,
                                                             int, int]:
    """The finite-difference settings gradcheck and jvpcheck share, validated:
    ``(richardson, eps, atol, rtol, nondet_tol, seed, directions)``; eps defaults to 1e-6,
    1e-3 with Richardson extrapolation (whose wider step widens the blind zone around a kink:
    docs/gradcheck.md)."""
    richardson = bool_setting("richardson", richardson)
    eps = (1e-3 if richardson else 1e-6) if eps is None else \
        real_setting("eps", eps, minimum=EPS_MIN, maximum=EPS_MAX)
    atol = real_setting("atol", atol, minimum=0.0, allow_none=True)
    rtol = real_setting("rtol", rtol, minimum=0.0, allow_none=True)
    nondet_tol = real_setting("nondet_tol", nondet_tol, minimum=0.0)
    seed = int_setting("seed", seed, minimum=0)
    directions = int_setting("directions", directions, minimum=1, maximum=COUNT_MAX)
    return richardson, eps, atol, rtol, nondet_tol, seed, directions
