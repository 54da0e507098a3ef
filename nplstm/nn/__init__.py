"""Modules: Parameters (value + grad), a tape of recorded forwards, torch's names and init.

A module's ``forward`` (also ``module(...)``) computes with ``nplstm.functional`` and, unless
inside ``nplstm.no_grad()``, pushes the cache on the module's tape; ``backward`` pops the
most recent one (last in, first out), returns the input gradients and *adds* the parameter
gradients into each ``Parameter.grad`` (``zero_grad()`` clears them), as torch accumulates.

A refused call changes nothing: ``backward`` validates and computes everything before it
pops its entry and adds into ``.grad``; ``load_state_dict`` checks every value before it
copies one.  A tape that keeps growing (forwards that no backward consumes) is announced
once per module with a ``TapeWarning``.

    module.py      Parameter, Module (parameters, tape, state dicts, devices), TapeWarning
    state_dict.py  torch's wording for missing/unexpected keys, with the prefix that fixes them
    lstm.py        LSTMCell, LSTM
    rnn.py         RNN (tanh or ReLU)
    gru.py         GRUCell, GRU
    recurrent.py   what LSTM, RNN and GRU share: the layers × directions × dropout loop
    layers.py      Linear, Embedding
"""

from .layers import Embedding, Linear
from .module import Module, Parameter, TapeWarning
from .gru import GRU, GRUCell
from .lstm import LSTM, LSTMCell
from .rnn import RNN
from .state_dict import StateDictKeyError

__all__ = ["Parameter", "Module", "LSTMCell", "LSTM", "RNN", "GRUCell", "GRU", "Linear",
           "Embedding", "TapeWarning", "StateDictKeyError"]
