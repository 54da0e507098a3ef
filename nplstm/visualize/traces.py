"""What a char-LM's LSTM does at every step: each layer's cell state and gates, per character,
and how often each gate unit is saturated.

The module's fast forward keeps no per-step gates, so the steps are run again here, one at a
time, with the textbook step ``functional.reference.lstm_step_forward`` on the module's own
weights (B = 1, float64 copies); the library's fast path is not touched.  Layer l + 1 reads
layer l's h_t (the module in eval mode: no dropout).

The saturation figure is Karpathy, Johnson & Fei-Fei's (2015, "Visualizing and understanding
recurrent networks", Fig. 3): per gate and layer, one point per unit at (fraction of steps
with activation < 0.1, fraction > 0.9).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import asnumpy
from ..functional.reference import lstm_step_forward
from ..nn.module import no_grad
from ..io import atomic_write
from ..training.plots import matplotlib_pyplot

__all__ = ["LayerTrace", "record_traces", "LEFT", "RIGHT", "SATURATION_GATES", "DIAGONALS",
           "saturation_fractions", "saturation_figure", "plot_saturation"]


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


# --- gate saturation ----------------------------------------------------------------------

LEFT, RIGHT = 0.1, 0.9                     # σ below 0.1: left-saturated; above 0.9: right
SATURATION_GATES = {"i": "input gate", "f": "forget gate", "o": "output gate"}
# the two reference lines of every panel, as the legend names them
DIAGONALS = {"always": "left + right = 1: saturated at every step (a switch)",
             "even": "left = right: as often closed as open"}


def saturation_fractions(gate) -> tuple:
    """(left, right), each (H,): the fraction of the T steps at which each unit of ``gate``
    (T, H) is below ``LEFT`` and above ``RIGHT``."""
    gate = np.asarray(gate)
    return (gate < LEFT).mean(axis=0), (gate > RIGHT).mean(axis=0)


def plot_saturation(traces, path) -> bool:
    """Write the figure to ``path`` (PNG, atomically): a row per layer, a column per gate of
    ``SATURATION_GATES``.  False (nothing written) without matplotlib."""
    plt = matplotlib_pyplot()
    if plt is None:
        return False
    fig = saturation_figure(plt, traces)
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    finally:
        plt.close(fig)
    return True


def saturation_figure(plt, traces):
    """The figure (not saved): one panel per layer and gate, the diagonals in a legend."""
    rows, cols = len(traces), len(SATURATION_GATES)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.6 * rows + 0.5),
                             squeeze=False)
    for layer, trace in enumerate(traces):
        for col, (name, title) in enumerate(SATURATION_GATES.items()):
            ax = axes[layer, col]
            left, right = saturation_fractions(getattr(trace, name))
            ax.plot([0, 1], [1, 0], color="0.6", lw=1, ls="--", zorder=1,
                    label=DIAGONALS["always"])                               # left + right = 1
            ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls=":", zorder=1,
                    label=DIAGONALS["even"])                                 # left = right
            ax.scatter(left, right, s=14, alpha=0.6, color=f"C{col}", edgecolors="none",
                       zorder=2)
            ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
            ax.set_title(f"layer {layer + 1}: {title} ({name})", fontsize=10)
            ax.set_xlabel(f"fraction of steps {name} < {LEFT}", fontsize=9)
            ax.set_ylabel(f"fraction of steps {name} > {RIGHT}", fontsize=9)
            ax.tick_params(labelsize=8)
    fig.suptitle("Gate saturation: one point per unit (top left: mostly open, "
                 "bottom right: mostly closed)", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=1, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.09 / rows, 1, 1))
    return fig
