"""Gate kernels: the elementwise math of one LSTM step, one implementation per backend.

``kernels_for(xp)`` returns the module (``numpy_gates`` or ``cupy_gates``, or the kernels a
backend gave to ``nplstm.backend.register_backend``) whose functions (``gates_forward``,
``backward_factors``, ``backward_step``, ``gate_derivatives``, …: ``numpy_gates.__all__``)
operate on arrays of ``xp``; callers look it up once per public call and use it inside
their loops.
"""

from .layout import GATE_NAMES, GRU_GATE_NAMES, split_gates, split_gru_gates
from .dispatch import kernels_for

__all__ = ["kernels_for", "split_gates", "GATE_NAMES", "split_gru_gates", "GRU_GATE_NAMES"]
