"""Gate kernels: the elementwise math of one LSTM step, one implementation per backend.

``kernels_for(xp)`` returns the module (``numpy_gates`` or ``cupy_gates``) whose
``gates_forward`` / ``gates_backward`` operate on arrays of ``xp``; callers look it up once
per public call and use it inside their loops.
"""

from . import cupy_gates, numpy_gates
from .layout import GATE_NAMES, split_gates

__all__ = ["kernels_for", "split_gates", "GATE_NAMES"]


def kernels_for(xp):
    """The gate-kernel module for array module ``xp`` (numpy or cupy)."""
    return numpy_gates if xp.__name__ == "numpy" else cupy_gates
