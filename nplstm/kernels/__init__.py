"""Gate kernels: the elementwise math of one LSTM step, one implementation per backend.

``kernels_for(xp)`` returns the module (``numpy_gates`` or ``cupy_gates``, or the kernels a
backend gave to ``nplstm.backend.register_backend``) whose functions (``gates_forward``,
``backward_factors``, ``backward_step``, ``gate_derivatives``, …: ``numpy_gates.__all__``)
operate on arrays of ``xp``; callers look it up once per public call and use it inside
their loops.
"""

import numpy as np

from ..backend import kernels_of
from . import cupy_gates, numpy_gates
from .layout import GATE_NAMES, split_gates

__all__ = ["kernels_for", "split_gates", "GATE_NAMES"]


def kernels_for(xp):
    """The gate-kernel module for array module ``xp`` (numpy, cupy or a registered one)."""
    if xp is np:
        return numpy_gates
    registered = kernels_of(xp)
    return cupy_gates if registered is None else registered
