"""What the caller's functions return, checked: forward's pair and output, backward's grads.

    output, cache = forward_pair(result)         a tuple (output, cache), else TypeError
    leaves = OutputLeaves(output)                forward's output flattened; each leaf is
                                                 projected (a float array, a float scalar)
                                                 or ignored (None, integers); anything else
                                                 is a TypeError naming the leaf
    grads = gradient_sequence(result, n)         backward's result: a sequence of ≥ n
    g64 = gradient_copy(g, a, name)              one gradient: a float array (or float
                                                 scalar for a 0-d input) of a's shape

Scalar outputs.  A forward may return a Python float, a NumPy float scalar or a 0-d array
(a loss).  It is projected like a 0-d float64 array, and backward's ``doutput`` for it has
the type forward returned: a Python float for a Python float, a NumPy scalar of the same
dtype for a NumPy scalar, an array of the same dtype, shape and backend for an array
(``direction_like``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .arrays import (dtype_kind, flatten, is_float_array, like, precision_of, shape_of,
                     to_host64)
from .settings import check_supported, describe

__all__ = ["forward_pair", "OutputLeaves", "gradient_sequence", "gradient_copy",
           "OUTPUT_KINDS"]

OUTPUT_KINDS = ("a float array, a float scalar (Python float, NumPy floating), None, an "
                "integer array, or a nested tuple/list of those")


def forward_pair(result, who="forward", pair="(output, cache)"):
    """``(output, cache)`` from what ``who`` returned; TypeError unless it is such a pair."""
    if not isinstance(result, tuple) or len(result) != 2:
        what = (f"a tuple of {len(result)}" if isinstance(result, tuple)
                else describe(result))
        hint = ("; return (output, None) when there is nothing to cache"
                if pair == "(output, cache)" else "")
        raise TypeError(f"{who} must return a pair {pair}, got {what}{hint}")
    return result


def _is_float_scalar(value) -> bool:
    return isinstance(value, (float, np.floating)) and not isinstance(value, np.ndarray)


def _is_ignored(value) -> bool:
    """Leaves that are passed over: None, Python/NumPy integers and bools, integer arrays."""
    if value is None or isinstance(value, (bool, int, np.integer, np.bool_)):
        return True
    return dtype_kind(value) in ("b", "i", "u")


def _paths(output, prefix):
    """Names of the leaves of a nested output, in ``flatten``'s order: "output[1][0]"."""
    if isinstance(output, (tuple, list)):
        return [p for k, o in enumerate(output) for p in _paths(o, f"{prefix}[{k}]")]
    return [prefix]


class OutputLeaves:
    """forward's output, flattened: the leaves, which of them are projected, their names.

    values    the leaves, in order (nested tuples/lists flattened depth first)
    projected a bool per leaf: a float array or a float scalar
    paths     a name per leaf, e.g. "forward's output[1][0]"
    rebuild   values -> the original nesting
    host      float64 NumPy copies of the projected leaves, taken at once (None for the
              others): later calls of forward may reuse the buffers it returned
    """

    def __init__(self, output, who="forward's output"):
        self.values, self.rebuild = flatten(output)
        self.paths = _paths(output, who)
        self.projected = []
        for value, path in zip(self.values, self.paths):
            check_supported(path, value)
            if is_float_array(value) or _is_float_scalar(value):
                self.projected.append(True)
            elif _is_ignored(value):
                self.projected.append(False)
            else:
                raise TypeError(f"{path} is {describe(value)}: expected {OUTPUT_KINDS}")
        if not any(self.projected):
            raise TypeError(f"{who} holds no float array or float scalar to differentiate "
                            f"(got {describe(output)}); expected {OUTPUT_KINDS}")
        self.host = [to_host64(v) if p else None for v, p in zip(self.values, self.projected)]
        # the float dtypes of the projected leaves (a Python float counts as float64)
        self.dtypes = [precision_of(v) for v, p in zip(self.values, self.projected) if p]

    def check_finite(self, when="at the given inputs"):
        """ValueError naming the first projected leaf holding NaN or inf."""
        for value, path in zip(self.host, self.paths):
            if value is not None and not np.isfinite(value).all():
                raise ValueError(f"{path} is not finite {when} (NaN or inf at "
                                 f"{int((~np.isfinite(value)).sum())} of {value.size} "
                                 "elements): derivatives there are meaningless; check at a "
                                 "point where forward is finite")

    def draw_directions(self, rng) -> list:
        """A random u per projected leaf, rounded to the leaf's dtype, held in float64."""
        return [rng.standard_normal(shape_of(v)).astype(_dtype_of(v)).astype(np.float64)
                if p else None for v, p in zip(self.values, self.projected)]

    def doutput(self, directions):
        """backward's ``doutput``: the directions in the nesting and types of the output."""
        return self.rebuild([None if u is None else direction_like(u, v)
                             for u, v in zip(directions, self.values)])


def _dtype_of(value):
    return np.dtype(value.dtype) if hasattr(value, "dtype") else np.dtype(np.float64)


def direction_like(u, value):
    """``u`` (float64 host) as the kind of value forward returned (see the module doc)."""
    if isinstance(value, np.generic):
        return value.dtype.type(u)                  # a NumPy scalar of the same dtype
    if isinstance(value, float):
        return float(u)                             # a Python float
    return like(u.astype(value.dtype), value)       # an array: same dtype, shape, backend


def gradient_sequence(result, n_inputs, who="backward") -> list:
    """backward's gradients as a list; TypeError unless a sequence, ValueError if too short."""
    if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
        hint = " ((dx,) for one input)" if hasattr(result, "shape") else ""
        raise TypeError(f"{who} must return a sequence of gradients, one per input, as a "
                        f"tuple or list{hint}; got {describe(result)}")
    grads = list(result)
    if len(grads) < n_inputs:
        raise ValueError(f"{who} returned {len(grads)} gradients for {n_inputs} inputs")
    return grads


def gradient_copy(g, a, name, who="backward"):
    """A float64 host copy of ``who``'s gradient ``g`` for input ``name`` (array ``a``); None
    stays None.  TypeError unless a float array (a float scalar for a 0-d input), ValueError
    unless it has ``a``'s shape.  Copied at once: later forward calls may reuse its memory."""
    if g is None:
        return None
    if _is_float_scalar(g) and not hasattr(g, "shape"):
        g = np.asarray(g)                           # a Python float for a 0-d input
    check_supported(f"{who}'s gradient for {name}", g)
    if not is_float_array(g):
        raise TypeError(f"{who}'s gradient for {name} must be a float array (or None), "
                        f"got {describe(g)}")
    if tuple(g.shape) != tuple(a.shape):
        raise ValueError(f"{who}'s gradient for {name} has shape {tuple(g.shape)}, "
                         f"but the input has shape {tuple(a.shape)}")
    return to_host64(g)
