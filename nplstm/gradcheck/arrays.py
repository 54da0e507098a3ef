"""Small helpers of the checker: nested outputs, float arrays, host/device copies."""

from __future__ import annotations

import numpy as np

from ..backend import asnumpy, get_array_module

__all__ = ["flatten", "dtype_kind", "is_float_array", "is_python_float", "is_complex", "like",
           "shape_of", "to_host64", "why_skipped", "lowest_precision", "precision_of",
           "precision_words", "UNSUPPORTED_PRECISION", "ABSENT"]

# float dtypes whose round-off is too coarse for a derived tolerance to mean anything (see
# ``tolerances``): refused by name rather than checked with float32's bars
UNSUPPORTED_PRECISION = ("float16",)


def shape_of(a) -> tuple:
    """The shape of an input (an array of any backend, a Python number, a list, or None)."""
    if a is None:
        return ()
    return tuple(a.shape) if hasattr(a, "shape") else tuple(np.shape(a))


def dtype_kind(a) -> str:
    """NumPy's kind letter of ``a``'s dtype ("f" float, "i" int, …); "" for values without a
    NumPy dtype (a Python object, a torch tensor)."""
    if not (hasattr(a, "dtype") and hasattr(a, "shape")):
        return ""
    try:
        return np.dtype(a.dtype).kind
    except TypeError:                       # a dtype NumPy does not know (torch.float32)
        return ""


def is_float_array(a) -> bool:
    """True for a NumPy/CuPy array of a floating dtype (the inputs a checker can perturb)."""
    return dtype_kind(a) == "f"


def is_python_float(a) -> bool:
    """True for a Python float (not a NumPy scalar, not a bool): a 0-d input checked only
    when the backward returns a gradient for it (or ``wrt`` names it)."""
    return isinstance(a, float) and not isinstance(a, np.generic)


def is_complex(a) -> bool:
    """True for a complex array, NumPy scalar or Python complex number."""
    return isinstance(a, complex) or dtype_kind(a) == "c"


def precision_of(a) -> np.dtype:
    """The float dtype of an array or scalar (float64 for a Python float)."""
    return np.dtype(a.dtype) if hasattr(a, "dtype") else np.dtype(np.float64)


def lowest_precision(dtypes) -> np.dtype:
    """The dtype with the largest unit round-off among float dtypes (float64 if none)."""
    dtypes = [np.dtype(d) for d in dtypes if d is not None]
    return max(dtypes, key=lambda d: float(np.finfo(d).eps), default=np.dtype(np.float64))


def precision_words(dtype, parts: dict) -> str:
    """"float32" or, when some part differs, "float32 (gradient float64)"."""
    other = [f"{k} {np.dtype(d).name}" for k, d in parts.items() if np.dtype(d) != dtype]
    return np.dtype(dtype).name + (f" ({', '.join(other)})" if other else "")


ABSENT = "absent (None)"             # the note of an input given as None (a bias=False bias)


def why_skipped(a) -> str:
    """A short note saying why an input is not checked."""
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


def flatten(output):
    """Flatten nested tuples/lists of arrays; return (list, function rebuilding the nesting)."""
    if isinstance(output, (tuple, list)):
        parts = [flatten(o) for o in output]
        sizes = [len(p[0]) for p in parts]
        flat = [a for p in parts for a in p[0]]

        def rebuild(values):
            out, start = [], 0
            for (_, sub), n in zip(parts, sizes):
                out.append(sub(values[start:start + n]))
                start += n
            return tuple(out)

        return flat, rebuild
    return [output], lambda values: values[0]
