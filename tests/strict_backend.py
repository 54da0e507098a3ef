"""A strict array backend: NumPy behind a CuPy-like wall, to keep the one code path honest.

``StrictArray`` wraps a NumPy array and behaves like a CuPy array (operators, indexing,
``.shape``/``.dtype``/``.T``, the methods nplstm uses, ``.get()``), but, like CuPy, refuses
to become a NumPy array implicitly: ``np.asarray(a)``, ``np.tanh(a)``, ``np.concatenate([a])``
raise ``TypeError``, and so does mixing it with NumPy arrays in an operation.  ``strict`` is
its namespace (the ``cupy`` of this backend): each function unwraps, calls NumPy and wraps.
Reductions return 0-d arrays, never host scalars, as CuPy's do.

``register()`` makes nplstm treat it as a device named "strict"; its gate kernels unwrap and
call the NumPy kernels, so what is tested is every layer above the kernels.  The same
computation on NumPy and on "strict" gives bit-identical results.
"""

from __future__ import annotations

import operator
import types

import numpy as np

from nplstm import backend
from nplstm.kernels import numpy_gates

__all__ = ["StrictArray", "strict", "register", "DEVICE"]

DEVICE = "strict"


class StrictArray:
    """A NumPy array that refuses implicit conversion to NumPy (as ``cupy.ndarray`` does)."""

    __slots__ = ("_a",)
    __array_ufunc__ = None          # np.tanh(a) raises; numpy scalars defer to our operators

    def __init__(self, a: np.ndarray):
        self._a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a StrictArray to a NumPy array is not allowed; "
                        "use .get() or nplstm.backend.asnumpy")

    def __array_function__(self, func, types, args, kwargs):
        return NotImplemented       # np.concatenate([a]) etc. raise TypeError

    def get(self) -> np.ndarray:
        """A host copy (``cupy.ndarray.get``)."""
        return self._a.copy()

    @property
    def T(self):
        return StrictArray(self._a.T)

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value):
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"StrictArray({self._a!r})"

    # host scalars from 0-d arrays, as CuPy allows (a synchronising copy there)
    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)


def _unwrap(x):
    """The NumPy array inside ``x`` (recursing into tuples and lists); a NumPy array is a
    ``TypeError``: host data must be moved explicitly (``strict.asarray``)."""
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError("a NumPy array was mixed with StrictArrays; move it with "
                        "strict.asarray / nplstm.backend.to_device")
    if isinstance(x, (tuple, list)):
        return type(x)(_unwrap(v) for v in x)
    return x


def _wrap(r):
    """NumPy results back into StrictArrays; NumPy scalars become 0-d arrays (as CuPy's)."""
    if isinstance(r, (np.ndarray, np.generic)):
        return StrictArray(np.asarray(r))
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    return r


def _strict(func):
    """``func`` on unwrapped arguments, result wrapped; with ``out=`` the ``out`` array itself."""
    def call(*args, **kwargs):
        r = func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
        return kwargs["out"] if kwargs.get("out") is not None else _wrap(r)
    call.__name__ = getattr(func, "__name__", "function")
    return call


for _name in ("shape", "dtype", "ndim", "size", "itemsize", "nbytes"):
    setattr(StrictArray, _name, property(lambda self, n=_name: getattr(self._a, n)))

for _name in ("reshape", "transpose", "sum", "max", "min", "copy", "astype", "fill", "ravel"):
    setattr(StrictArray, _name,
            (lambda n: lambda self, *a, **k: _strict(getattr(self._a, n))(*a, **k))(_name))

for _name in ("add", "sub", "mul", "truediv", "pow", "matmul", "lt", "le", "gt", "ge", "eq",
              "ne", "and", "or"):
    _op = getattr(operator, _name + "_" if _name in ("and", "or") else _name)
    setattr(StrictArray, f"__{_name}__",
            (lambda op: lambda self, other: _strict(op)(self, other))(_op))
    if _name not in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(StrictArray, f"__r{_name}__",
                (lambda op: lambda self, other: _strict(op)(other, self))(_op))
        _iop = getattr(operator, f"i{_name}")

        def _inplace(self, other, op=_iop):   # in place on the buffer: views see the change
            op(self._a, _unwrap(other))
            return self
        setattr(StrictArray, f"__i{_name}__", _inplace)

for _name in ("neg", "invert"):
    setattr(StrictArray, f"__{_name}__",
            (lambda op: lambda self: _strict(op)(self))(getattr(operator, _name)))


class _Ufunc:
    """A NumPy ufunc on StrictArrays: ``f(a, b, out=c)`` and ``f.at(target, indices, values)``."""

    def __init__(self, ufunc):
        self._call, self._ufunc = _strict(ufunc), ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def at(self, target, indices, values=None):
        self._ufunc.at(*_unwrap((target, indices) + (() if values is None else (values,))))


def asarray(a, dtype=None):
    """A StrictArray from host data (a copy, as ``cupy.asarray``), or ``a`` itself."""
    if isinstance(a, StrictArray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return StrictArray(np.array(a, dtype=dtype))


strict = types.ModuleType("strict", "The namespace of StrictArrays (the 'cupy' of this backend).")
strict.ndarray = StrictArray
strict.asarray = asarray
for _name in ("empty", "zeros", "ones", "full", "arange", "empty_like", "zeros_like",
              "ascontiguousarray", "where", "concatenate", "stack"):
    setattr(strict, _name, _strict(getattr(np, _name)))
for _name in ("add", "subtract", "multiply", "divide", "negative", "matmul", "exp", "log",
              "tanh", "sqrt", "maximum"):
    setattr(strict, _name, _Ufunc(getattr(np, _name)))
strict.dot = _strict(np.dot)
strict.linalg = types.SimpleNamespace(norm=_strict(np.linalg.norm))
strict.float32, strict.float64 = np.float32, np.float64

# the gate kernels: the NumPy ones on unwrapped arrays (they write into the arrays' buffers)
kernels = types.SimpleNamespace(**{name: _strict(getattr(numpy_gates, name))
                                   for name in numpy_gates.__all__})


def register() -> None:
    """Make nplstm recognise StrictArrays as the device "strict" (undo: unregister)."""
    backend.register_backend(DEVICE, StrictArray, strict, to_host=StrictArray.get,
                             from_host=asarray, kernels=kernels, label="strict")


def unregister() -> None:
    backend.unregister_backend(DEVICE)
