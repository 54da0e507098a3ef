"""A look inside a trained char-LM (``nplstm visualize``): which cells track which features of
the text (cells.html), and how saturated the gates are (gates.png).  Its modules, one job
each: docs/visualize.md, "The parts".
"""

from .cells import (FEATURES, CellView, RankedCell, correlations, rank_cells, render_page,
                    text_features)
from .run_driver import LoadedRun, VisualizeResult, choose_text, load_charlm_run, visualize_run
from .traces import LayerTrace, plot_saturation, record_traces, saturation_fractions
from .visualize_error import VisualizeError

__all__ = ["VisualizeError", "FEATURES", "text_features", "CellView", "render_page",
           "RankedCell", "correlations", "rank_cells", "VisualizeResult", "visualize_run",
           "LoadedRun", "choose_text", "load_charlm_run", "plot_saturation",
           "saturation_fractions", "LayerTrace", "record_traces"]
