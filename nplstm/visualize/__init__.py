"""A look inside a trained char-LM (``nplstm visualize``): which cells track which features of
the text (cells.html), and how saturated the gates are (gates.png).

Modules, one job each: ``run_model`` (the run's model rebuilt, the text chosen), ``traces``
(each layer's c_t and gates per character, by the textbook step), ``features`` (simple
features of a text), ``ranking`` (correlations, the most interpretable cells), ``html`` (the
page), ``saturation`` (the gate-saturation fractions and figure), ``report`` (all of it into
the run's directory).
"""

from .errors import VisualizeError
from .features import FEATURES, text_features
from .html import CellView, render_page
from .ranking import RankedCell, correlations, rank_cells
from .report import VisualizeResult, visualize_run
from .run_model import LoadedRun, choose_text, load_charlm_run
from .saturation import plot_saturation, saturation_fractions
from .traces import LayerTrace, record_traces

__all__ = ["VisualizeError", "FEATURES", "text_features", "CellView", "render_page",
           "RankedCell", "correlations", "rank_cells", "VisualizeResult", "visualize_run",
           "LoadedRun", "choose_text", "load_charlm_run", "plot_saturation",
           "saturation_fractions", "LayerTrace", "record_traces"]
