"""``visualize_run``: a char-LM run's cells.html and gates.png, written into the run."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..io import atomic_write_bytes
from .errors import VisualizeError
from .features import text_features
from .html import CellView, render_page
from .ranking import MIN_R, rank_cells
from .run_model import choose_text, load_charlm_run
from .saturation import plot_saturation
from .traces import record_traces

__all__ = ["VisualizeResult", "visualize_run"]


class VisualizeResult(NamedTuple):
    """What was written: the page, the figure (None without matplotlib), the checkpoint
    read, how many characters were shown and the characters skipped (char → count)."""

    page: Path
    figure: Path | None
    checkpoint: Path
    chars: int
    skipped: dict


def _count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def visualize_run(out, *, text=None, chars: int = 2000, cells: int = 5) -> VisualizeResult:
    """Read OUT (``load_charlm_run``), run ``chars`` characters of ``text`` (a file; None:
    the run's eval split) through it, and write OUT/cells.html (the ``cells`` most
    interpretable cells per layer) and OUT/gates.png (gate saturation)."""
    chars, cells = _count("chars", chars), _count("cells", cells)
    run = load_charlm_run(out)
    hidden = run.task.model.lstm.hidden_size
    if cells > hidden:
        raise VisualizeError(f"cells {cells}: the run's layers have only {hidden} cells")
    shown, skipped = choose_text(run.task.corpus, text, chars)
    traces = record_traces(run.task.model, run.task.corpus.encode(shown))
    features = text_features(shown)
    views = []
    for layer, trace in enumerate(traces):
        values = np.tanh(trace.c)                                        # (T, H)
        for cell in rank_cells(values, features, cells):
            views.append(CellView(layer, cell.unit, cell.feature, cell.r, values[:, cell.unit],
                                  cell.halves, cell.convincing))
    source = "the run's eval split" if text is None else str(text)
    meta = (f"{run.checkpoint} (step {run.step}); {len(shown)} characters of {source}; "
            f"{len(traces)} layer(s) of {hidden} cells, {cells} shown per layer")
    page, figure = Path(out) / "cells.html", Path(out) / "gates.png"
    for target in (page, figure):         # both checked before either is written
        if target.is_dir():
            raise VisualizeError(f"{target} is a directory; visualize writes a file there")
    atomic_write_bytes(page, render_page(shown, views, title="Inside a trained LSTM: cells",
                                         meta=meta, min_r=MIN_R).encode("utf-8"))
    wrote = plot_saturation(traces, figure)
    return VisualizeResult(page, figure if wrote else None, run.checkpoint, len(shown),
                           dict(skipped))
