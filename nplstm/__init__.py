"""nplstm: torch's LSTM on plain NumPy/CuPy arrays, with every backward written by hand."""

from . import functional, workspace
from .gradcheck import GradcheckError, GradcheckReport, adjoint_check, gradcheck
from .gradcheck import hvpcheck, jvpcheck
from .grad_mode import is_grad_enabled, no_grad
from .interop import load_weights, save_weights
from .io import load_checkpoint
from .nn import GRU, LSTM, RNN, Embedding, GRUCell, Linear, LSTMCell, Module, Parameter

__version__ = "0.1.0"

__all__ = [
    "functional", "workspace", "LSTMCell", "LSTM", "RNN", "GRUCell", "GRU", "Linear", "Embedding", "Module", "Parameter", "no_grad", "is_grad_enabled",
    "gradcheck", "adjoint_check", "GradcheckReport", "GradcheckError", "load_checkpoint",
    "load_weights", "save_weights",
    "jvpcheck", "hvpcheck",
    "__version__",
]
