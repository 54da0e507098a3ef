"""What crosses the wire between the grader and the learner's process, value by value.

Child → parent, what a learner's function returned (a tuple or list of them, or one):
    an ndarray of a plain numeric dtype (of any subclass)  → a fresh base-class ndarray copy
    a NumPy scalar                                         → the same scalar type and value
    a float                                                → a float
    None                                                   → None
    anything else (a cache, a list of arrays, an object array, an int)
                                                           → an ``Opaque``: its type name, and
                                                             a handle the child keeps it under
Parent → child, the arguments: arrays, None, and ``Opaque`` handles (a cache passed back).

So the grader compares only plain arrays and floats it built itself: no method of the
learner's objects runs in the grading process.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Opaque", "type_name", "describe", "rebuild", "describe_argument",
           "rebuild_argument"]

_NUMERIC_KINDS = "biufc"
_NAME_LENGTH = 80


@dataclass(frozen=True)
class Opaque:
    """A value that stays in the learner's process: its type's name, the handle it is kept
    under there, and, for an array of a dtype that cannot be compared (object, str), that
    dtype."""

    type_name: str
    handle: int
    dtype: str = ""


def type_name(value) -> str:
    """The name a sentence uses for ``value``'s type (an ``Opaque`` keeps the child's)."""
    return value.type_name if isinstance(value, Opaque) else type(value).__name__


def describe(value, keep, arrays: list, top: bool = True) -> dict:
    """The JSON description of a returned ``value`` (the child's side), appending the arrays
    it carries to ``arrays``; ``keep(value) -> handle`` stores what stays in the child.
    A tuple or list is described item by item at the top level only."""
    if top and isinstance(value, (tuple, list)):
        return {"kind": "list" if isinstance(value, list) else "tuple",
                "items": [describe(v, keep, arrays, top=False) for v in value]}
    if value is None:
        return {"kind": "none"}
    if isinstance(value, np.ndarray):
        plain = np.array(value, copy=True, subok=False)       # the data, as a base ndarray
        if plain.dtype.kind in _NUMERIC_KINDS and plain.dtype.fields is None:
            arrays.append(plain)
            return {"kind": "array", "index": len(arrays) - 1}
        return {"kind": "object", "type": "ndarray", "dtype": str(plain.dtype)[:_NAME_LENGTH],
                "handle": keep(value)}
    if isinstance(value, np.generic) and np.dtype(type(value)).kind in _NUMERIC_KINDS:
        arrays.append(np.array(value, copy=True, subok=False).reshape(()))
        return {"kind": "scalar", "index": len(arrays) - 1}
    if isinstance(value, float):
        arrays.append(np.array(float(value), dtype=np.float64))
        return {"kind": "float", "index": len(arrays) - 1}
    return {"kind": "object", "type": type(value).__name__[:_NAME_LENGTH],
            "handle": keep(value)}


def rebuild(description, arrays: list, top: bool = True):
    """The value ``describe`` described (the parent's side): plain arrays, NumPy scalars,
    floats, None, tuples or lists of them, ``Opaque``.  ValueError for anything malformed."""
    if not isinstance(description, dict):
        raise ValueError("a value described by something else than an object")
    kind = description.get("kind")
    if top and kind in ("tuple", "list"):
        items = description.get("items")
        if not isinstance(items, list):
            raise ValueError("a sequence without its items")
        values = [rebuild(item, arrays, top=False) for item in items]
        return values if kind == "list" else tuple(values)
    if kind == "none":
        return None
    if kind in ("array", "scalar", "float"):
        index = description.get("index")
        if type(index) is not int or not 0 <= index < len(arrays):
            raise ValueError("a value pointing at no array")
        array = arrays[index]
        if kind == "array":
            return array
        if array.shape != ():
            raise ValueError("a scalar that is not 0-d")
        if kind == "scalar":
            return array[()]
        if array.dtype != np.float64:
            raise ValueError("a float that is not float64")
        return float(array)
    if kind == "object":
        name, handle = description.get("type"), description.get("handle")
        dtype = description.get("dtype", "")
        if not (isinstance(name, str) and type(handle) is int and isinstance(dtype, str)):
            raise ValueError("an object without its type name and handle")
        return Opaque(name[:_NAME_LENGTH], handle, dtype[:_NAME_LENGTH])
    raise ValueError(f"a value of unknown kind {str(kind)[:40]!r}")


def describe_argument(value, arrays: list) -> dict:
    """An argument the grader passes (an array, None, or an ``Opaque`` the child returned)."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, Opaque):
        return {"kind": "handle", "handle": value.handle}
    arrays.append(np.asarray(value))
    return {"kind": "array", "index": len(arrays) - 1}


def rebuild_argument(description: dict, arrays: list, kept: dict):
    """The child's side of ``describe_argument``: fresh arrays (the learner may change them
    in place), None, or the object kept under a handle."""
    kind = description["kind"]
    if kind == "none":
        return None
    if kind == "handle":
        return kept[description["handle"]]
    return arrays[description["index"]]
