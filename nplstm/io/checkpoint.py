"""Writing checkpoints, atomically (their layout: checkpoint_format.py; reading them:
checkpoint_read.py)."""

from __future__ import annotations

import json
import math
import numbers

import numpy as np

from ..backend import asnumpy, check_not_masked
from .checkpoint_format import (FORMAT, META, RESERVED_KEYS, STORED_DTYPES, optimizer_key)
from .atomic import atomic_write

__all__ = ["save_checkpoint"]


def save_checkpoint(path, *, step: int, model: dict, optimizer: dict | None = None,
                    state: dict | None = None, **meta) -> None:
    """Write a checkpoint atomically (layout: checkpoint_format.py).

    step       the number of steps done, an int ≥ 0
    model      ``{name: array}``, e.g. ``module.state_dict()``
    optimizer  ``{"lr": float ≥ 0, "buffers": [array or None]}`` (``SGD.state_dict()``) or None
    state      ``{name: array}`` of carried arrays, or None
    meta       JSON-able extras (config, metrics, …) stored in the meta document

    Arrays may be NumPy or CuPy, float32/float64/int32/int64 (stored little-endian).  A wrong
    type is a ``TypeError``, a wrong value (a negative step) a ``ValueError``, either raised
    before anything is written.
    """
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"save_checkpoint: step must be an int >= 0, got {step!r}")
    if step < 0:
        raise ValueError(f"save_checkpoint: step must be an int >= 0, got {step!r}")
    clashing = sorted(RESERVED_KEYS & meta.keys())
    if clashing:
        raise TypeError(f"save_checkpoint: meta keys {clashing} are reserved for the "
                        f"checkpoint itself")
    arrays = _section_arrays("model", model)
    arrays.update(_section_arrays("state", state or {}))
    document = dict(meta, format=FORMAT, step=int(step))
    if optimizer is not None:
        lr, buffers = _optimizer_parts(optimizer)
        document["optimizer"] = {"lr": lr, "buffers_present": [b is not None for b in buffers]}
        arrays.update({optimizer_key(k): _stored_array(f"optimizer buffer {k}", b)
                       for k, b in enumerate(buffers) if b is not None})
    document["arrays"] = {key: {"shape": list(a.shape), "dtype": a.dtype.str}
                          for key, a in arrays.items()}
    try:
        text = json.dumps(document, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise TypeError(f"save_checkpoint: the meta extras must be JSON values ({err})") \
            from None
    arrays[META] = np.array(text)

    def write(f):
        np.savez(f, **arrays)

    atomic_write(path, write)


def _section_arrays(section: str, arrays) -> dict:
    """``{"<section>/<name>": host array}`` for one of save_checkpoint's dicts, checked."""
    if not isinstance(arrays, dict):
        raise TypeError(f"save_checkpoint: {section} must be a dict of arrays, "
                        f"got {type(arrays).__name__}")
    for name in arrays:
        if not isinstance(name, str) or not name:
            raise TypeError(f"save_checkpoint: {section} keys must be non-empty strings, "
                            f"got {name!r}")
    return {f"{section}/{name}": _stored_array(f"{section} array {name!r}", a)
            for name, a in arrays.items()}


def _stored_array(what: str, a) -> np.ndarray:
    """``a`` on the host, little-endian; a dtype outside STORED_DTYPES is a TypeError."""
    if not hasattr(a, "dtype") or not hasattr(a, "shape"):
        raise TypeError(f"save_checkpoint: {what} must be an array, got {type(a).__name__}")
    check_not_masked(f"save_checkpoint: {what}", a)
    host = asnumpy(a)
    little = host.dtype.newbyteorder("<")
    if little.str not in STORED_DTYPES:
        raise TypeError(f"save_checkpoint: {what} has dtype {host.dtype}; checkpoints hold "
                        f"float32, float64, int32 or int64 arrays")
    return host.astype(little, copy=False)          # the same values; only the byte order


def _optimizer_parts(optimizer) -> tuple[float, list]:
    """(lr, buffers) of an ``SGD.state_dict()``, checked."""
    if not isinstance(optimizer, dict) or set(optimizer) != {"lr", "buffers"}:
        raise TypeError("save_checkpoint: optimizer must be {'lr': float, 'buffers': [...]} "
                        "(SGD.state_dict()) or None")
    lr, buffers = optimizer["lr"], optimizer["buffers"]
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"save_checkpoint: optimizer lr must be a finite number >= 0, "
                        f"got {lr!r}")
    if not (math.isfinite(lr) and lr >= 0):        # 0 is fine: a schedule may reach it
        raise ValueError(f"save_checkpoint: optimizer lr must be a finite number >= 0, "
                         f"got {lr!r}")
    if not isinstance(buffers, (list, tuple)):
        raise TypeError(f"save_checkpoint: optimizer buffers must be a list of arrays or "
                        f"None, got {type(buffers).__name__}")
    return float(lr), list(buffers)
