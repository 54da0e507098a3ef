"""Which array module an array belongs to, moving arrays between devices, dtype rules.

The bottom layer of nplstm: everything above asks this module for ``xp`` (numpy or cupy)
and for validated dtypes.  Importing it never imports cupy unless cupy is installed, and a
missing or broken cupy simply means "no GPU backend".

Every non-NumPy backend is an ``ArrayBackend`` record: CuPy's is built in (device "cuda"),
and ``register_backend`` adds others the same way, a hook for tests (the strict backend of
tests/strict_backend.py, which refuses implicit NumPy calls) and extensions.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any, Callable, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "get_array_module", "asnumpy", "to_device", "device_of", "cupy_available",
           "resolve_dtype", "check_float_array", "check_not_masked", "dtype_name",
           "describe_value", "DEFAULT_DTYPE", "scatter_add", "SUPPORTED_DTYPES", "ArrayBackend",
           "register_backend", "unregister_backend", "kernels_of", "is_array", "devices",
           "check_device"]

Array: TypeAlias = npt.NDArray[Any]
"""The arrays nplstm takes and returns, in type hints: a ``numpy.ndarray``; on the GPU a
``cupy.ndarray``, which type checkers see as ``Any`` (CuPy ships no type information), so it
fits wherever an ``Array`` does."""

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_DTYPE = np.dtype(np.float32)     # what ``dtype=None`` means, as torch's default dtype
DEVICES = ("cpu", "cuda")
_NEVER_CAST = "(nplstm never casts inputs silently; convert explicitly with .astype)"

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


class ArrayBackend(NamedTuple):
    """A non-NumPy array backend: how nplstm recognises its arrays and moves them."""

    device: str                   # the device name of modules and to_device ("cuda")
    label: str                    # how error messages name its arrays ("CuPy")
    array_type: type              # its array class (cupy.ndarray)
    xp: object                    # its NumPy-like namespace (cupy)
    to_host: Callable             # array -> numpy.ndarray, a copy
    from_host: Callable           # numpy.ndarray -> array on the device, a copy
    kernels: object = None        # gate kernels (see nplstm.kernels); None: nplstm's own
    scatter_add: Callable = None  # (target, indices, values); None: xp.add.at


_REGISTERED: dict = {}            # device -> ArrayBackend, added by register_backend


def register_backend(device: str, array_type: type, xp, *, to_host: Callable,
                     from_host: Callable, kernels=None, label: str | None = None) -> None:
    """Testing and extension hook: treat arrays of ``array_type`` as nplstm treats CuPy's.

    ``get_array_module`` then returns ``xp`` for them, ``device_of`` gives ``device``,
    ``asnumpy`` / ``to_device`` move them with ``to_host`` / ``from_host``, ``scatter_add``
    uses ``xp.add.at``, modules accept ``device=device`` and ``kernels_for(xp)`` returns
    ``kernels``: a module-like object with the functions of ``kernels.numpy_gates.__all__``
    (``gates_forward``, ``backward_factors``, ``backward_step``, ``gate_derivatives``, …),
    same arguments and in-place conventions.
    """
    if device in DEVICES:
        raise ValueError(f"device {device!r} is built in; register another name")
    _REGISTERED[device] = ArrayBackend(device, label or array_type.__name__, array_type, xp,
                                       to_host, from_host, kernels)


def unregister_backend(device: str) -> None:
    """Forget a backend added by ``register_backend`` (no error when there is none)."""
    _REGISTERED.pop(device, None)


def _cupy_scatter_add(target, indices, values):
    import cupyx  # noqa: PLC0415  (present whenever cupy is)

    cupyx.scatter_add(target, indices, values)


@lru_cache(maxsize=None)
def _cupy_backend(cp) -> ArrayBackend:
    return ArrayBackend("cuda", "CuPy", cp.ndarray, cp, to_host=lambda a: a.get(),
                        from_host=lambda a: cp.asarray(a), scatter_add=_cupy_scatter_add)


def _backends() -> tuple:
    """Every non-NumPy backend: CuPy's (when cupy imports), then the registered ones."""
    cp = _get_cupy()
    return ((_cupy_backend(cp),) if cp is not None else ()) + tuple(_REGISTERED.values())


def _backend_of(a):
    """The ``ArrayBackend`` whose array type ``a`` is, or None (NumPy and anything else)."""
    for b in _backends():
        if isinstance(a, b.array_type):
            return b
    return None


def is_array(a) -> bool:
    """True for a NumPy array or an array of CuPy or a registered backend."""
    return isinstance(a, np.ndarray) or _backend_of(a) is not None


def kernels_of(xp):
    """The gate kernels a registered backend gave for namespace ``xp``, or None."""
    for b in _backends():
        if b.xp is xp:
            return b.kernels
    return None


def devices() -> tuple:
    """The device names modules and ``to_device`` accept: cpu, cuda and registered ones."""
    return DEVICES + tuple(_REGISTERED)


def check_device(device) -> None:
    """``ValueError`` unless ``device`` is one of ``devices()`` (``TypeError`` for a non-str)."""
    if not isinstance(device, str):
        raise TypeError(f"device must be one of {devices()}, got {device!r} "
                        f"({type(device).__name__})")
    if device not in devices():
        raise ValueError(f"device must be one of {devices()}, got {device!r}")


def describe_value(value, *, array_wanted: bool = True) -> str:
    """How an error message names a value (the one describer every layer uses): ``None``;
    ``a Python list (convert it with numpy.asarray(...))`` for a list or tuple (the usual
    non-array given where an array belongs; without ``array_wanted``, where a scalar belongs,
    as any other value); ``ndarray of shape (2, 3) and dtype float32`` for an array; else its
    type and its repr cut at 60 characters (``str 'abc'``)."""
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)) and array_wanted:
        return (f"a Python {type(value).__name__} (convert it with numpy.asarray(value, "
                "dtype=numpy.float32), or the dtype the call needs)")
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def dtype_name(dtype) -> str:
    """``float32``, or ``big-endian float32 (>f4)`` when the byte order is not this machine's
    (NumPy's ``dtype.name`` does not say, so "got float32" would read as a contradiction)."""
    dt = np.dtype(dtype)
    if dt.isnative:
        return dt.name
    order = {">": "big", "<": "little"}.get(dt.byteorder, "non-native")
    return f"{order}-endian {dt.name} ({dt.str})"


def get_array_module(*arrays, names=None):
    """Return ``numpy`` or ``cupy`` (or a registered ``xp``): the module of all given arrays.

    ``None`` entries and Python scalars are ignored.  Mixing arrays of two devices (NumPy and
    CuPy, say) is a ``TypeError`` naming both; ``names`` (one per array) makes the message
    name arguments.
    """
    names = names or [f"argument {k}" for k in range(len(arrays))]
    first = {}                                      # device -> (name, backend or None)
    for name, a in zip(names, arrays):
        b = _backend_of(a)
        if b is not None or isinstance(a, np.ndarray):
            first.setdefault(b.device if b else "cpu", (name, b))
    if len(first) > 1:
        cpu_first = sorted(first.items(), key=lambda entry: entry[0] != "cpu")
        (dev1, (n1, b1)), (dev2, (n2, b2)) = cpu_first[:2]
        raise TypeError(f"{n1} is a {b1.label if b1 else 'NumPy'} array ({dev1}) but {n2} is a "
                        f"{b2.label} array ({dev2}); all arrays of one call must live on the "
                        "same device (use nplstm.backend.to_device)")
    _, b = next(iter(first.values()), (None, None))
    return b.xp if b else np


def device_of(a) -> str:
    """'cuda' for a CuPy array (a registered backend's device for its arrays), else 'cpu'."""
    b = _backend_of(a)
    return b.device if b else "cpu"


def asnumpy(a):
    """A NumPy array with the values of ``a`` (a copy from the GPU, ``a`` itself on the CPU)."""
    b = _backend_of(a)
    return b.to_host(a) if b else np.asarray(a)


def to_device(a, device: str):
    """Return the array ``a`` on ``device`` ("cpu", "cuda" or a registered one); no copy when
    it is already there.

    ``a`` must be a NumPy, CuPy or registered backend's array of a numeric or bool dtype
    (anything else is a ``TypeError``).  Arrays moved onto a device are written in native byte
    order (a big-endian NumPy array arrives with the same values, little-endian).
    """
    check_device(device)
    if not is_array(a):
        raise TypeError(f"to_device: a must be a NumPy or CuPy array, got {describe_value(a)}")
    check_not_masked("to_device: a", a)
    if a.dtype.kind not in "biufc":
        raise TypeError("to_device: a must have a numeric or bool dtype, got "
                        f"{dtype_name(a.dtype)}")
    if device == "cpu":
        return asnumpy(a)
    if device_of(a) == device:
        return a
    b = next((b for b in _backends() if b.device == device), None)
    if b is None:
        raise RuntimeError("device='cuda' needs CuPy, which is not installed "
                           "(pip install 'nplstm[gpu]')")
    host = asnumpy(a)
    if not host.dtype.isnative:                # device arrays hold native byte order only
        host = host.astype(host.dtype.newbyteorder("="))
    return b.from_host(host)


def resolve_dtype(dtype) -> np.dtype:
    """The numpy dtype for a module's ``dtype=`` argument: float32 or float64, else TypeError.

    ``None`` means the default, float32 (as torch's ``dtype=None`` means its default dtype;
    ``numpy.dtype(None)`` would be float64).  Non-native byte order (``">f4"``) is refused.
    """
    if dtype is None:
        return DEFAULT_DTYPE
    if not isinstance(dtype, (str, type, np.dtype)):   # np.dtype(np.float64(0.5)) is float64
        raise TypeError(f"dtype must be float32 or float64 (a name, a type or a numpy dtype), "
                        f"got {dtype!r} ({type(dtype).__name__})")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from err
    if dt not in SUPPORTED_DTYPES:
        native = "" if dt.isnative or dt.newbyteorder("=") not in SUPPORTED_DTYPES else \
            " in this machine's byte order"
        raise TypeError(f"dtype must be float32 or float64{native}, got {dtype_name(dt)} "
                        "(float16/bfloat16, complex and integer types are not supported)")
    return dt


def check_not_masked(name: str, a) -> None:
    """``TypeError`` naming ``name`` when ``a`` is a ``numpy.ma`` masked array (every NumPy
    function nplstm calls would drop its mask, silently) or a ``numpy.matrix`` (whose ``*``
    is a matrix product).  Any other value passes."""
    ma = sys.modules.get("numpy.ma")          # no masked array exists before numpy.ma loads
    if ma is not None and isinstance(a, ma.MaskedArray):
        raise TypeError(f"{name} is a numpy.ma masked array, whose mask nplstm would ignore; "
                        f"pass {name}.filled(value) (padded sequences: the lengths= argument) "
                        f"or {name}.data to drop the mask explicitly")
    if isinstance(a, np.matrix):
        raise TypeError(f"{name} is a numpy.matrix, whose * is a matrix product; pass "
                        f"numpy.asarray({name})")


def check_float_array(name: str, a, dtype=None):
    """Validate that ``a`` is a float32/float64 NumPy or CuPy (or registered backend's) array
    (of ``dtype`` if given).

    Integer, bool, float16 or non-array inputs raise a ``TypeError`` naming ``name``; nothing is
    ever cast.  Returns ``a`` unchanged.
    """
    if not is_array(a):
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {describe_value(a)}")
    check_not_masked(name, a)
    if a.dtype not in SUPPORTED_DTYPES:
        native = a.dtype.newbyteorder("=")
        if native in SUPPORTED_DTYPES:   # ">f4": the right precision, the wrong byte order
            raise TypeError(f"{name} must have dtype float32 or float64 in this machine's byte "
                            f"order, got {dtype_name(a.dtype)}; convert with "
                            f"{name}.astype(numpy.{native.name})")
        raise TypeError(f"{name} must have dtype float32 or float64, got {dtype_name(a.dtype)} "
                        f"{_NEVER_CAST}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} has dtype {a.dtype.name} but {dtype_name(dtype)} is expected "
                        f"here {_NEVER_CAST}")
    return a


def scatter_add(target, indices, values) -> None:
    """``target[indices[n]] += values[n]`` for every n, repeated indices summed (in place).

    target (V, ...), indices (N,) integers, values (N, ...): ``numpy.add.at`` on the CPU,
    ``cupyx.scatter_add`` on the GPU, ``xp.add.at`` on a registered backend.
    """
    b = _backend_of(target)
    if b is None:
        np.add.at(target, indices, values)
    elif b.scatter_add is not None:
        b.scatter_add(target, indices, values)
    else:
        b.xp.add.at(target, indices, values)
