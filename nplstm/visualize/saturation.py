"""How often each gate unit is saturated, and the figure of Karpathy, Johnson & Fei-Fei
(2015, "Visualizing and understanding recurrent networks", Fig. 3): per gate and layer,
one point per unit at (fraction of steps with activation < 0.1, fraction > 0.9)."""

from __future__ import annotations

import numpy as np

from ..training.plots import matplotlib_pyplot
from ..io import atomic_write

__all__ = ["LEFT", "RIGHT", "SATURATION_GATES", "DIAGONALS", "saturation_fractions",
           "saturation_figure", "plot_saturation"]

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
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_aspect("equal")
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
