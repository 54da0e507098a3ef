"""Which array module an array belongs to, moving arrays between devices, dtype rules.

The bottom layer of nplstm: everything above asks this module for ``xp`` (numpy or cupy)
and for validated dtypes.  Importing it never imports cupy unless cupy is installed, and a
missing or broken cupy simply means "no GPU backend".
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "get_array_module",
    "asnumpy",
    "to_device",
    "device_of",
    "cupy_available",
    "resolve_dtype",
    "check_float_array",
    "scatter_add",
    "SUPPORTED_DTYPES",
]

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEVICES = ("cpu", "cuda")

_cupy = None
_cupy_checked = False


def _get_cupy():
    """The cupy module, or None when cupy is not installed or fails to import."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy  # noqa: PLC0415  (optional dependency)

            _cupy = cupy
        except Exception:  # ImportError, or a CUDA library that fails to load
            _cupy = None
    return _cupy


def cupy_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    cp = _get_cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _is_cupy_array(a) -> bool:
    cp = _get_cupy()
    return cp is not None and isinstance(a, cp.ndarray)


def _describe(a) -> str:
    return f"{type(a).__module__}.{type(a).__name__}"


def get_array_module(*arrays, names=None):
    """Return ``numpy`` or ``cupy``: the module all the given arrays belong to.

    ``None`` entries and Python scalars are ignored.  Mixing NumPy and CuPy arrays is a
    ``TypeError`` naming both; ``names`` (one per array) makes the message name arguments.
    """
    names = names or [f"argument {k}" for k in range(len(arrays))]
    first_numpy = first_cupy = None
    for name, a in zip(names, arrays):
        if a is None:
            continue
        if _is_cupy_array(a):
            first_cupy = first_cupy or name
        elif isinstance(a, np.ndarray):
            first_numpy = first_numpy or name
    if first_numpy and first_cupy:
        raise TypeError(
            f"{first_numpy} is a NumPy array (cpu) but {first_cupy} is a CuPy array (cuda); "
            "all arrays of one call must live on the same device (use nplstm.backend.to_device)"
        )
    return _get_cupy() if first_cupy else np


def device_of(a) -> str:
    """'cuda' for a CuPy array, 'cpu' otherwise."""
    return "cuda" if _is_cupy_array(a) else "cpu"


def asnumpy(a):
    """A NumPy array with the values of ``a`` (a copy from the GPU, ``a`` itself on the CPU)."""
    if _is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def to_device(a, device: str):
    """Return ``a`` on ``device`` ("cpu" or "cuda"); no copy when it is already there."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return asnumpy(a)
    cp = _get_cupy()
    if cp is None:
        raise RuntimeError(
            "device='cuda' needs CuPy, which is not installed (pip install 'nplstm[gpu]')"
        )
    return cp.asarray(a)


def resolve_dtype(dtype) -> np.dtype:
    """The numpy dtype for a module's ``dtype=`` argument: float32 or float64, else TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from err
    if dt not in SUPPORTED_DTYPES:
        raise TypeError(
            f"dtype must be float32 or float64, got {dt.name} "
            "(float16/bfloat16 and integer types are not supported)"
        )
    return dt


def check_float_array(name: str, a, dtype=None):
    """Validate that ``a`` is a float32/float64 NumPy or CuPy array (of ``dtype`` if given).

    Integer, bool, float16 or non-array inputs raise a ``TypeError`` naming ``name``; nothing is
    ever cast.  Returns ``a`` unchanged.
    """
    if not (isinstance(a, np.ndarray) or _is_cupy_array(a)):
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {_describe(a)}")
    if a.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name} must have dtype float32 or float64, got {a.dtype.name} "
            "(nplstm never casts inputs silently; convert explicitly with .astype)"
        )
    if dtype is not None and a.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {a.dtype.name} but {np.dtype(dtype).name} is expected here "
            "(nplstm never casts inputs silently; convert explicitly with .astype)"
        )
    return a


def scatter_add(target, indices, values) -> None:
    """``target[indices[n]] += values[n]`` for every n, repeated indices summed (in place).

    target (V, ...), indices (N,) integers, values (N, ...): ``numpy.add.at`` on the CPU,
    ``cupyx.scatter_add`` on the GPU.
    """
    if _is_cupy_array(target):
        import cupyx  # noqa: PLC0415  (present whenever cupy is)

        cupyx.scatter_add(target, indices, values)
    else:
        np.add.at(target, indices, values)
