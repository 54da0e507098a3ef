"""Misuses of the checkers' contract that would otherwise read as a wrong backward.

A forward must be a function (a fresh dropout mask moves L by O(1), the "derivative" by that
over 2ε): it is called twice at the inputs, max |out₁ − out₂| ≤ nondet_tol, and so is the
backward, allowing the round-off of a reordered sum.  It must not write to its inputs (it gets
copies, compared after its first call).  And one returning (y1, y2) for two outputs is read as
output y1 with cache y2: a failing report says so.  docs/gradcheck.md §1 says why each.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from ..backend import asnumpy
from .contract import (OutputLeaves, copies, forward_pair, gradient_copy, gradient_sequence,
                       is_float_array, precision_of, shape_of, to_host64)
from .differences import finite_max_abs
from .report import index_str

BACKWARD_ROUND_OFF = 8.0     # the backward's determinism bound, in u·√m·max|g|
FORWARD_FIX = ("fix the randomness inside forward (draw the dropout mask or noise once, "
               "outside forward, or reseed it with a fixed seed on every call) and make sure "
               "forward does not modify its inputs or keep state between calls")
BACKWARD_FIX = ("a backward must be a function of (doutput, cache): make sure it draws "
                "nothing at random, keeps no state between calls (an accumulator it does not "
                "reset, a cache it consumes) and does not modify doutput, and that forward "
                "returns the same cache for the same inputs")
TWO_OUTPUTS_HINT = ("{forward} returned (array, array): the second array is read as the "
                    "cache, not as an output. A {forward} with two outputs returns "
                    "((y1, y2), cache), and its {backward} gets doutput = (dy1, dy2)")


class NondeterministicForwardError(ValueError):
    """forward returned different outputs for the same inputs; no gradient check is possible."""


class NondeterministicBackwardError(ValueError):
    """backward returned different gradients for the same doutput at the same inputs."""


class MutatingForwardError(ValueError):
    """forward modified one of its inputs in place; no finite difference is meaningful."""


def check_deterministic(first, second, paths, nondet_tol, who="forward", *,
                        error=NondeterministicForwardError, fix=FORWARD_FIX, limit=""):
    """Two evaluations' float64 leaves (None: not compared) must agree within ``nondet_tol``
    (``limit`` names the bound in the message): max |out₁ − out₂| ≤ nondet_tol."""
    if len(first) != len(second):
        raise error(f"{who} is not deterministic: its output has {len(first)} entries in one "
                    f"call and {len(second)} in another at the same inputs; {fix}")
    worst, where = 0.0, ""
    for a, b, path in zip(first, second, paths):
        if a is None or b is None:
            continue
        if a.shape != b.shape:
            raise error(f"{who} is not deterministic: {path} has shape {a.shape} in one call "
                        f"and {b.shape} in another at the same inputs; {fix}")
        if a.size == 0:
            continue
        same = (a == b) | (np.isnan(a) & np.isnan(b))        # equal infs and NaNs agree
        with np.errstate(invalid="ignore", over="ignore"):   # inf − inf: NaN, then inf
            diff = np.where(same, 0.0, np.nan_to_num(np.abs(a - b), nan=np.inf))
        k = np.unravel_index(int(np.argmax(diff)), diff.shape)
        if diff[k] > worst:
            worst, where = float(diff[k]), (f"{path}{index_str(k) if k else ''}: "
                                            f"{float(a[k])!r} then {float(b[k])!r}")
    if worst > nondet_tol:
        raise error(f"{who} is not deterministic: two calls at the same inputs differ by up to "
                    f"{worst:.3g} (at {where}), more than {limit or f'nondet_tol={nondet_tol:g}'}"
                    f". Its derivatives cannot be checked: {fix}; or pass a larger nondet_tol "
                    "if the difference is harmless round-off")


def check_unmodified(who, names, originals, passed) -> None:
    """``MutatingForwardError`` naming the first array in ``passed`` (the copies ``who`` was
    called with) no longer equal to its original: a forward editing its inputs (``x += 1``)
    moves the point every later evaluation runs at."""
    for name, before, after in zip(names, originals, passed):
        if after is before or not (hasattr(before, "shape") and hasattr(after, "shape")):
            continue
        try:
            a, b = asnumpy(before), asnumpy(after)
        except (TypeError, ValueError):
            continue
        if a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            continue
        where = ""
        if a.shape == b.shape and a.dtype.kind in "fiub" and a.ndim:
            changed = a != b
            if a.dtype.kind == "f":
                changed &= ~(np.isnan(a) & np.isnan(b))
            where = (f" ({int(changed.sum())} of {a.size} elements changed, first at "
                     f"{tuple(int(i) for i in np.argwhere(changed)[0])})")
        raise MutatingForwardError(
            f"{who} modified its input {name} in place{where}: finite differences evaluate "
            f"{who} many times at the same inputs, so it must not write to them; work on a "
            f"copy (x = x.copy(), or y = x + 1 instead of x += 1)")


def looks_like_an_output(cache, output, inputs) -> bool:
    """True when ``cache`` is a bare float array that is neither ``output`` nor an input (by
    value): the sign of a forward returning (y1, y2) for two outputs, read as (output,
    cache).  A forward caching its own output or input is the common right case."""
    if not is_float_array(cache) or isinstance(cache, np.generic):
        return False
    c = to_host64(cache)
    for other in [output, *inputs]:
        if other is cache:
            return False
        if is_float_array(other) and tuple(other.shape) == c.shape and \
                np.array_equal(to_host64(other), c, equal_nan=True):
            return False
    return True


def first_call(forward: Callable[..., Any], inputs: Sequence[Any], names: Sequence[str],
               who: str) -> tuple[Any, Any]:
    """forward(*copies of the inputs) -> (output, cache); ``MutatingForwardError`` if it
    wrote to one of them (finite differences evaluate it many times at the same inputs)."""
    passed = copies(inputs)
    result = forward(*passed)
    check_unmodified(who, names, inputs, passed)
    return forward_pair(result, who)


def check_forward_deterministic(loss: Any, leaves: OutputLeaves,
                                inputs: Sequence[Any], nondet_tol: float, who: str) -> None:
    """forward twice at the inputs, output by output; one extra forward when the first
    call's inputs were float64 already (the copies' values), two otherwise.  Its outputs
    must be float64 there and finite."""
    exact = all(np.dtype(a.dtype) == np.float64 and any(
        getattr(getattr(a, "flags", None), order, False) for order in ("c_contiguous",
                                                                        "f_contiguous"))
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
                f"should find); make {who} compute in its inputs' dtype")
    check_deterministic(reference.host, again.host, leaves.paths, nondet_tol, who)
    again.check_finite("at the given inputs (evaluated in float64)")


def check_backward_deterministic(forward: Callable[..., Any], backward: Callable[..., Any],
                                 inputs: Sequence[Any], doutput: Any,
                                 analytic: Sequence[Any], names: Sequence[str],
                                 nondet_tol: float, us: Sequence[Any], roles: Any) -> None:
    """A fresh forward at the inputs, backward again with the same doutput: each gradient
    must equal the first within ``nondet_tol`` + the round-off of a sum taken in another
    order, 8·u·√m·max|g| (GPU atomics reorder sums)."""
    _, cache = forward_pair(forward(*copies(inputs)), roles.forward)
    again = gradient_sequence(backward(doutput, cache), len(inputs), roles.backward)
    size = sum(math.prod(shape_of(a)) for a, g in zip(inputs, analytic) if g is not None) + \
        sum(u.size for u in us if u is not None)
    for name, a, g, g2 in zip(names, inputs, analytic, again):
        if g is None or g2 is None:
            continue
        second = gradient_copy(g2, a, name, roles.backward)
        unit = float(np.finfo(precision_of(g2)).eps) / 2
        tol = nondet_tol + BACKWARD_ROUND_OFF * unit * math.sqrt(size) * finite_max_abs(g)
        check_deterministic([g], [second], [f"{roles.backward}'s gradient for {name}"], tol,
                            roles.backward, error=NondeterministicBackwardError,
                            fix=BACKWARD_FIX, limit=f"nondet_tol={nondet_tol:g} + the "
                            f"round-off of a reordered sum ({tol - nondet_tol:.2g})")
