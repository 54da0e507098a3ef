"""What a char-LM's LSTM does at every step: each layer's cell state and gates, per character.

The module's fast forward keeps no per-step gates, so the steps are run again here, one at a
time, with the textbook step ``functional.reference.lstm_step_forward`` on the module's own
weights (B = 1, float64 copies); the library's fast path is not touched.  Layer l + 1 reads
layer l's h_t (the module in eval mode: no dropout).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import asnumpy
from ..functional.reference import lstm_step_forward
from ..grad_mode import no_grad

__all__ = ["LayerTrace", "record_traces"]


class LayerTrace(NamedTuple):
    """One layer over T characters, each (T, H) float64: the state after reading x_t."""

    c: np.ndarray      # c_t = f ⊙ c_{t−1} + i ⊙ g
    h: np.ndarray      # h_t = o ⊙ tanh(c_t)
    i: np.ndarray      # input gate  σ(z_i)
    f: np.ndarray      # forget gate σ(z_f)
    g: np.ndarray      # candidate   tanh(z_g)
    o: np.ndarray      # output gate σ(z_o)


def _layer_weights(lstm, layer: int) -> list:
    """weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,) or None, as float64
    host arrays, by the module's parameter names."""
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if lstm.bias else [])
    arrays = [asnumpy(getattr(lstm, f"{name}_l{layer}").data).astype(np.float64)
              for name in names]
    return arrays + [None] * (4 - len(arrays))


def record_traces(model, tokens) -> list:
    """``LayerTrace`` per layer of ``model.lstm`` (a one-direction LSTM without projection,
    as ``training.tasks.CharLM`` builds) for the token ids ``tokens`` (T,), from zero
    state."""
    lstm = model.lstm
    if lstm.bidirectional or lstm.proj_size:
        raise ValueError("model.lstm must be one-directional without a projection (as "
                         f"CharLM builds it), got bidirectional={lstm.bidirectional}, "
                         f"proj_size={lstm.proj_size}")
    tokens = np.asarray(tokens, dtype=np.int64)
    with no_grad():
        x = model.embedding(tokens[:, None])                        # (T, 1, E)
    layer_input = asnumpy(x)[:, 0].astype(np.float64)               # (T, E)
    traces = []
    for layer in range(lstm.num_layers):
        weights = _layer_weights(lstm, layer)
        H = lstm.hidden_size
        h, c = np.zeros((1, H)), np.zeros((1, H))                   # (1, H) each
        steps = {name: [] for name in LayerTrace._fields}
        for x_t in layer_input:                                     # x_t (E,) or (H,)
            (h, c), cache = lstm_step_forward(x_t[None], h, c, *weights)
            for name, value in (("c", c), ("h", h), ("i", cache.i), ("f", cache.f),
                                ("g", cache.g), ("o", cache.o)):
                steps[name].append(value[0])
        trace = LayerTrace(**{name: np.stack(values) for name, values in steps.items()})
        traces.append(trace)
        layer_input = trace.h                                       # (T, H)
    return traces
