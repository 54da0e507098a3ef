"""The run driver: ``visualize_run`` writes a char-LM run's cells.html and gates.png into the
run; ``load_charlm_run`` rebuilds the run's model (a directory written by ``nplstm train``)
and ``choose_text`` picks the text to show it: read from a file, or the run's own eval split
(the text it was not trained on)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..checks import check_int
from ..io import CheckpointError, atomic_write_bytes
from ..training import TrainingError
from ..training.tasks import charlm_from_checkpoint
from .cells import MIN_R, CellView, rank_cells, render_page, text_features
from .traces import plot_saturation, record_traces
from .visualize_error import VisualizeError

__all__ = ["VisualizeResult", "visualize_run", "LoadedRun", "load_charlm_run", "choose_text"]

_LINE_START_WITHIN = 200        # the eval split is shown from its first line within this


class VisualizeResult(NamedTuple):
    """What was written: the page, the figure (None without matplotlib), the checkpoint
    read, how many characters were shown and the characters skipped (char → count)."""

    page: Path
    figure: Path | None
    checkpoint: Path
    chars: int
    skipped: dict


def visualize_run(out, *, text=None, chars: int = 2000, cells: int = 5) -> VisualizeResult:
    """Read OUT (``load_charlm_run``), run ``chars`` characters of ``text`` (a file; None:
    the run's eval split) through it, and write OUT/cells.html (the ``cells`` most
    interpretable cells per layer) and OUT/gates.png (gate saturation)."""
    chars, cells = check_int("chars", chars, minimum=1), check_int("cells", cells, minimum=1)
    run = load_charlm_run(out)
    cell = run.task.model.cell
    if cell != "lstm":
        raise VisualizeError(f"run {out}: visualize reads an LSTM's cells and gates; this run "
                             f"trained {'an' if cell == 'rnn' else 'a'} {cell.upper()} (--cell {cell})")
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


class LoadedRun(NamedTuple):
    """The rebuilt task (``training.tasks.CharLMTask``, weights loaded), the checkpoint file
    read and its step."""

    task: object
    checkpoint: Path
    step: int


def load_charlm_run(out) -> LoadedRun:
    """OUT's best.npz (else checkpoint.npz) loaded into the model ``training.build_task``
    builds from the settings stored in it.  ``VisualizeError`` naming the file when OUT is
    not a directory, holds no checkpoint, the checkpoint is damaged or not a char-LM's, or
    the training text is missing or changed."""
    out = Path(out)
    if not out.is_dir():
        raise VisualizeError(f"run {out}: not a directory (give the --out of nplstm train)")
    path = out / "best.npz"
    if not path.is_file():
        path = out / "checkpoint.npz"
    if not path.is_file():
        raise VisualizeError(f"run {out}: no best.npz or checkpoint.npz (not a run of "
                             "nplstm train, or one that has not saved yet)")
    try:
        task, checkpoint = charlm_from_checkpoint(path)
    except (CheckpointError, TrainingError) as err:
        raise VisualizeError(str(err) if str(err).startswith(str(path))
                             else f"{path}: {err}") from None
    except (ValueError, TypeError, KeyError) as err:
        raise VisualizeError(f"{path}: {err}") from None
    return LoadedRun(task, path, int(checkpoint["step"]))


def choose_text(corpus, text_path=None, chars: int = 2000) -> tuple:
    """(text, skipped): the first ``chars`` characters of the file ``text_path`` that are in
    the run's vocabulary (others are skipped; ``skipped`` counts them per character), or of
    the run's eval split (``corpus.eval``, from its first line start within the first
    200 characters) without a file.  ``VisualizeError`` for a file that cannot be read as
    UTF-8 or leaves fewer than 2 characters."""
    if text_path is None:                      # from the split's first line start, if near
        head = corpus.decode(corpus.eval[:_LINE_START_WITHIN])
        start = head.find("\n") + 1 if "\n" in head[:-1] else 0
        return corpus.decode(corpus.eval[start:start + chars]), Counter()
    try:
        raw = Path(text_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VisualizeError(f"text {text_path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise VisualizeError(f"text {text_path}: cannot be read as UTF-8 text ({err})") \
            from None
    vocabulary = set(corpus.chars)
    kept, skipped = [], Counter()
    for ch in raw:
        if ch in vocabulary:
            kept.append(ch)
            if len(kept) == chars:
                break
        else:
            skipped[ch] += 1
    if len(kept) < 2:
        raise VisualizeError(f"text {text_path}: fewer than 2 of its characters are in the "
                             f"run's vocabulary of {len(vocabulary)}")
    return "".join(kept), skipped
