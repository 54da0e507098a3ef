"""Modules: Parameters (value + grad), a tape of recorded forwards, torch's names and init.

A module's ``forward`` (also ``module(...)``) computes with ``nplstm.functional`` and, unless
inside ``nplstm.no_grad()``, pushes the cache on the module's tape; ``backward`` pops the
most recent one (last in, first out), returns the input gradients and *adds* the parameter
gradients into each ``Parameter.grad`` (``zero_grad()`` clears them), as torch accumulates.

    module.py      Parameter, Module (parameters, tape, state dicts, devices, repr),
                   TapeWarning, StateDictKeyError
    lstm.py        LSTMCell, LSTM
    gru.py         GRUCell, GRU
    recurrent.py   what the recurrent modules share: the cells' step; the layers × directions
                   × dropout loop; RNN (tanh, ReLU)
    layers.py      Linear, Embedding
"""

from .layers import Embedding, Linear
from .module import Module, Parameter, StateDictKeyError, TapeWarning, is_grad_enabled, no_grad
from .gru import GRU, GRUCell
from .lstm import LSTM, LSTMCell
from .recurrent import RNN

__all__ = ["Parameter", "Module", "LSTMCell", "LSTM", "RNN", "GRUCell", "GRU", "Linear",
           "Embedding", "TapeWarning", "StateDictKeyError", "no_grad", "is_grad_enabled"]
