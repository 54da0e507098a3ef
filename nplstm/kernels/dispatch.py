"""Which gate kernels serve an array module: NumPy's, CuPy's, or a registered backend's."""

import numpy as np

from ..backend import kernels_of
from . import cupy_gates, numpy_gates

__all__ = ["kernels_for"]


def kernels_for(xp):
    """The gate-kernel module for array module ``xp`` (numpy, cupy or a registered one)."""
    if xp is np:
        return numpy_gates
    registered = kernels_of(xp)
    return cupy_gates if registered is None else registered
