"""Misuses of the checkers' contracts that would otherwise read as a wrong backward.

    check_unmodified(who, names, originals, passed)   forward wrote to an input in place
    looks_like_an_output(cache, output, inputs)       (y1, y2) read as (output, cache)?

A forward that edits its inputs in place (``x += 1``) changes the point at which every later
evaluation runs: the differences of such a forward are of another function.  The checkers
hand forward copies and compare them with the caller's arrays after the first call.

A forward with two outputs must return ``((y1, y2), cache)``; one returning ``(y1, y2)`` is
read as output y1 with cache y2, and only y1 is checked (the backward, given dy1 alone,
usually fails).  Nothing tells that apart from a forward caching an array, so a failing
report says it when the "cache" is a bare float array that is neither the output nor an
input (a forward caching its own output or input is the common right case).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import is_float_array, to_host64

__all__ = ["MutatingForwardError", "check_unmodified", "looks_like_an_output",
           "TWO_OUTPUTS_HINT"]

TWO_OUTPUTS_HINT = ("{forward} returned (array, array): the second array is read as the "
                    "cache, not as an output. A {forward} with two outputs returns "
                    "((y1, y2), cache), and its {backward} gets doutput = (dy1, dy2)")


class MutatingForwardError(ValueError):
    """forward modified one of its inputs in place; no finite difference is meaningful."""


def check_unmodified(who: str, names: Sequence[str], originals: Sequence[Any],
                     passed: Sequence[Any]) -> None:
    """``MutatingForwardError`` naming the first array in ``passed`` (the copies ``who`` was
    called with) that no longer equals its original in ``originals``."""
    for name, before, after in zip(names, originals, passed):
        if after is before or not (hasattr(before, "shape") and hasattr(after, "shape")):
            continue
        try:
            a, b = np.asarray(_host(before)), np.asarray(_host(after))
        except (TypeError, ValueError):
            continue
        if a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            continue
        where = ""
        if a.shape == b.shape and a.dtype.kind in "fiub":
            changed = a != b
            if a.dtype.kind == "f":
                changed &= ~(np.isnan(a) & np.isnan(b))
            where = (f" ({int(changed.sum())} of {a.size} elements changed, first at "
                     f"{tuple(int(i) for i in np.argwhere(changed)[0])})") if a.ndim else ""
        raise MutatingForwardError(
            f"{who} modified its input {name} in place{where}: finite differences evaluate "
            f"{who} many times at the same inputs, so it must not write to them; work on a "
            f"copy (x = x.copy(), or y = x + 1 instead of x += 1)")


def _host(a: Any) -> Any:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a


def looks_like_an_output(cache: Any, output: Any, inputs: Sequence[Any]) -> bool:
    """True when ``cache`` is a bare float array that is neither ``output`` nor an input
    (by value): the sign of a forward returning (y1, y2) for two outputs."""
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
