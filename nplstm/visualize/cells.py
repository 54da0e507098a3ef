"""Which cells follow which simple features of the text, and the page that shows them.

Features: one number per character, describing the text *after reading* character t, as
the cell state c_t does (c_t has read x_0 … x_t); none looks ahead:

    in_quotes      1 inside a pair of double quotes "…" (the opening quote counts as inside,
                   the closing one as outside), else 0
    in_brackets    the nesting depth of (), [] and {} (an opening bracket counts as inside,
                   a closing one as outside; a closing bracket with none open is ignored)
    line_position  the column of character t in its line (0 for a line's first character;
                   a line break is the last character of the line it ends)
    indentation    the leading spaces of t's line read so far: 1, 2, … on the leading spaces
                   themselves, then all of them up to and including the line's break
    word_start     1 on the first character of a word (a letter, digit or _ after anything
                   else), else 0
    in_word        1 on a character of a word (a letter, digit or _), else 0

Ranking, held out:

    r[j, k]        Pearson correlation over time of tanh(c_t)[unit j] with feature k
    r1, r2         the same over the first and over the second half of the text
    score[j, k]    min(|r1|, |r2|) where r1 and r2 have the same sign, else 0: a cell must
                   follow its feature in each half on its own, not thanks to one stretch
    a unit's feature: its best score (ties: the larger |r|); units ranked by that score
    (ties: |r|, then the lower unit); ``convincing`` when score >= MIN_R

A constant feature or a constant unit has no correlation; it is taken as 0 (so a feature
that is constant over one half, quotes in one half only say, scores 0).

The page: the text, one copy per chosen cell, each character coloured by tanh(c_t) in
``LEVELS`` steps of a blue (−1) – white (0) – red (+1) scale (a CSS class per step), its
value in ``data-v``; one self-contained, HTML-escaped file whose texts scroll sideways and
never wrap (docs/visualize.md, "cells.html", says why).
"""

from __future__ import annotations

import html
from typing import NamedTuple

import numpy as np

__all__ = ["FEATURES", "text_features", "MIN_R", "RankedCell", "correlations",
           "held_out_scores", "rank_cells", "CellView", "render_page", "LEVELS"]

FEATURES = {
    "in_quotes": "inside a pair of double quotes \"…\"",
    "in_brackets": "nesting depth of (), [] and {}",
    "line_position": "column of the character in its line",
    "indentation": "leading spaces of the character's line, read so far",
    "word_start": "first character of a word",
    "in_word": "a letter, digit or _ (inside a word)",
}

_OPEN, _CLOSE = "([{", ")]}"


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def text_features(text: str) -> dict:
    """``{name: (T,) float64}`` for every name of ``FEATURES``, T = len(text)."""
    T = len(text)
    values = {name: np.zeros(T) for name in FEATURES}
    inside, depth, column, previous, indent, leading = False, 0, 0, "\n", 0, True
    for t, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        values["in_quotes"][t] = inside
        values["in_brackets"][t] = depth
        values["line_position"][t] = column
        values["word_start"][t] = _is_word_char(ch) and not _is_word_char(previous)
        values["in_word"][t] = _is_word_char(ch)
        if leading and ch == " ":
            indent += 1
        elif ch != "\n":
            leading = False                        # the first other character ends them
        values["indentation"][t] = indent
        if ch == "\n":
            column, indent, leading = 0, 0, True
        else:
            column += 1
        previous = ch
    return values


# --- ranking ------------------------------------------------------------------------------

MIN_R = 0.5          # |r| a shown cell must reach in both halves of the text to be convincing


class RankedCell(NamedTuple):
    """A unit of a layer, the feature it follows best, that correlation over the whole text
    and over each half (in [−1, 1]), and whether it reaches ``MIN_R`` in both halves."""

    unit: int
    feature: str
    r: float
    halves: tuple = (0.0, 0.0)
    convincing: bool = False


def correlations(values, features: dict) -> np.ndarray:
    """(H, F) Pearson correlations of ``values`` (T, H) with each of ``features``' (T,)
    arrays, in the dict's order; 0 where either side is constant."""
    values = np.asarray(values, dtype=np.float64)                          # (T, H)
    table = np.stack(list(features.values()), axis=1).astype(np.float64)   # (T, F)
    centred_v = values - values.mean(axis=0)                               # (T, H)
    centred_f = table - table.mean(axis=0)                                 # (T, F)
    norms = np.outer(np.linalg.norm(centred_v, axis=0), np.linalg.norm(centred_f, axis=0))
    covariance = centred_v.T @ centred_f                                   # (H, F)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(norms > 0, covariance / np.where(norms > 0, norms, 1), 0.0)
    return np.clip(r, -1.0, 1.0)


def held_out_scores(values, features: dict) -> tuple:
    """``(r1, r2, score)``, each (H, F): the correlations over the first ⌊T/2⌋ characters
    and over the rest, and min(|r1|, |r2|) where they agree in sign (else 0)."""
    values = np.asarray(values, dtype=np.float64)                          # (T, H)
    half = values.shape[0] // 2
    r1 = correlations(values[:half], {k: np.asarray(a)[:half] for k, a in features.items()})
    r2 = correlations(values[half:], {k: np.asarray(a)[half:] for k, a in features.items()})
    agree = np.sign(r1) * np.sign(r2) > 0
    return r1, r2, np.where(agree, np.minimum(np.abs(r1), np.abs(r2)), 0.0)


def rank_cells(values, features: dict, k: int, *, min_r: float = MIN_R) -> list:
    """The ``k`` units of ``values`` (T, H) that follow a feature best in both halves of the
    text, best first, as ``RankedCell``s (the rule: this module's docstring)."""
    r = correlations(values, features)                                     # (H, F)
    r1, r2, score = held_out_scores(values, features)                      # (H, F) each
    names, units = list(features), np.arange(r.shape[0])
    best = np.array([np.lexsort((-np.abs(r[j]), -score[j]))[0] for j in units], dtype=int)
    best_score, best_r = score[units, best], np.abs(r[units, best])        # (H,) each
    order = np.lexsort((units, -best_r, -best_score))[:k]
    return [RankedCell(int(j), names[best[j]], float(r[j, best[j]]),
                       (float(r1[j, best[j]]), float(r2[j, best[j]])),
                       bool(best_score[j] >= min_r)) for j in order]


# --- the page -----------------------------------------------------------------------------

LEVELS = 21                                    # colour steps over [−1, 1]: 0.1 apart
_NEGATIVE, _POSITIVE = (33, 102, 172), (178, 24, 43)     # the ends of the scale


class CellView(NamedTuple):
    """One cell to show: its layer (0-based), unit, best feature, correlation r, its values
    (T,) in [−1, 1] (tanh(c_t)), r over each half of the text, and whether it is convincing
    (``MIN_R`` reached in both halves)."""

    layer: int
    unit: int
    feature: str
    r: float
    values: np.ndarray
    halves: tuple | None = None
    convincing: bool = True


def _colour(level: int) -> tuple:
    """(background "#rrggbb", text colour) of a step 0 … LEVELS − 1 of the scale."""
    v = 2 * level / (LEVELS - 1) - 1                       # in [−1, 1]
    end = _POSITIVE if v > 0 else _NEGATIVE
    rgb = [round(255 + abs(v) * (e - 255)) for e in end]   # white → the end, linearly
    return "#{:02x}{:02x}{:02x}".format(*rgb), "#fff" if abs(v) > 0.55 else "#111"


def _style() -> str:
    scale = "".join(f".v{k}{{background:{bg};color:{fg}}}"
                    for k, (bg, fg) in ((k, _colour(k)) for k in range(LEVELS)))
    return (
        "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;"
        "max-width:60rem;padding:0.8rem;line-height:1.45;color:#111;background:#fff}"
        "h1{font-size:1.35rem}h2{font-size:1.15rem;border-bottom:1px solid #ccc;"
        "margin-top:1.6rem}h3{font-size:1rem;margin:1.1rem 0 0.3rem}"
        ".text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:0.85rem;"
        "white-space:pre;overflow-x:auto;max-width:100%;box-sizing:border-box;margin:0;"
        "padding:0.5rem;border:1px solid #ddd;border-radius:4px;line-height:1.6}"
        ".scale{display:flex;max-width:24rem;margin:0.3rem 0;border:1px solid #ccc}.scale span{flex:1;height:1.2rem}"
        ".ticks{display:flex;justify-content:space-between;max-width:24rem;font-size:0.8rem}"
        "dt{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:600}"
        "dd{margin:0 0 0.4rem 1.2rem}.meta{color:#555;font-size:0.9rem}"
        ".r{font-weight:normal;color:#555}.weak{font-weight:normal;color:#a33}"
        + scale)


def _level(value: float) -> int:
    return int(np.clip(np.rint((value + 1) / 2 * (LEVELS - 1)), 0, LEVELS - 1))


def _coloured_text(text: str, values) -> str:
    shown = {"\n": "↵", "\t": "→"}               # a newline as ↵ (then the line break)
    return "".join(f'<span class="v{_level(v)}" data-v="{v:.2f}">'
                   f"{html.escape(shown.get(ch, ch))}</span>" + ("\n" if ch == "\n" else "")
                   for ch, v in zip(text, values))


def _legend(min_r: float) -> str:
    swatches = "".join(f'<span class="v{k}"></span>' for k in range(LEVELS))
    features = "".join(f"<dt>{html.escape(name)}</dt><dd>{html.escape(words)}</dd>"
                       for name, words in FEATURES.items())
    return (
        '<section id="legend" class="legend"><h2>Legend</h2>'
        "<p>Each character is coloured by one cell's tanh(c<sub>t</sub>) just after the "
        "network has read it (c<sub>t</sub> is the cell state; tanh(c<sub>t</sub>) is what the "
        "output gate lets out, in [−1, 1]):</p>"
        f'<div class="scale" aria-hidden="true">{swatches}</div>'
        '<div class="ticks"><span>−1</span><span>0</span><span>+1</span></div>'
        "<p>↵ is a line break; a wide text scrolls sideways. The cells shown are, per layer, "
        "those whose tanh(c) follows one of these features of the text most closely in "
        "<em>each half</em> of the text on its own (the smaller |r| of the two halves, "
        "Pearson correlation over the characters; r &lt; 0: the cell goes down where the "
        f"feature goes up). A cell below |r| = {min_r:g} in either half is marked "
        "<em>weak</em>: not convincing.</p>"
        f"<dl>{features}</dl></section>")


def _heading(view: CellView, min_r: float) -> str:
    heading = (f"<h3>cell {view.unit} · {html.escape(view.feature)} "
               f'<span class="r">(r = {view.r:+.2f})</span>')
    if view.halves is not None:
        heading += f' <span class="r">halves {view.halves[0]:+.2f}, {view.halves[1]:+.2f}</span>'
    if not view.convincing:
        heading += f' <span class="weak">weak: |r| &lt; {min_r:g} in a half</span>'
    return heading + "</h3>"


def render_page(text: str, cells, *, title: str, meta: str, min_r: float = 0.5) -> str:
    """The HTML page: ``cells`` a list of ``CellView`` (grouped by layer in the given
    order), ``text`` the T characters they read, ``title`` and ``meta`` (a line about the
    run) plain text."""
    layers = {}
    for cell in cells:
        layers.setdefault(cell.layer, []).append(cell)
    body = []
    for layer, views in layers.items():
        body.append(f'<section class="layer" id="layer-{layer + 1}">'
                    f"<h2>Layer {layer + 1}</h2>")
        for view in views:
            body.append(
                f'<section class="cell" data-layer="{layer + 1}" data-unit="{view.unit}">'
                f'{_heading(view, min_r)}<pre class="text">'
                f"{_coloured_text(text, view.values)}</pre></section>")
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_style()}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"meta\">{html.escape(meta)}</p>"
        f"{_legend(min_r)}{''.join(body)}</body></html>\n")
