"""The cells page: the text, one copy per chosen cell, each character coloured by tanh(c_t).

One self-contained file: inline CSS, no script, no font or image from anywhere; a meta
viewport, and each text in a box that scrolls sideways (never wraps: a wrapped line would
break the columns that line_position and indentation are about) so it reads on a phone.
Colours come in ``LEVELS`` steps of a blue (−1) – white (0) – red (+1) scale, one CSS class
per step; each character's span also carries its value (``data-v``, 2 decimals).  Every
piece of text is HTML-escaped.
"""

from __future__ import annotations

import html
from typing import NamedTuple

import numpy as np

from .features import FEATURES

__all__ = ["CellView", "render_page", "LEVELS"]

LEVELS = 21                                    # colour steps over [−1, 1]: 0.1 apart
_NEGATIVE, _POSITIVE = (33, 102, 172), (178, 24, 43)     # the ends of the scale


class CellView(NamedTuple):
    """One cell to show: its layer (0-based), unit, best feature, correlation r, its values
    (T,) in [−1, 1] (tanh(c_t)), r over each half of the text, and whether it is convincing
    (``ranking.MIN_R`` reached in both halves)."""

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


def _character(ch: str) -> str:
    """A character as shown: a newline as ↵ (then the line break), a tab as →."""
    return {"\n": "↵", "\t": "→"}.get(ch, ch)


def _coloured_text(text: str, values) -> str:
    parts = []
    for ch, v in zip(text, values):
        parts.append(f'<span class="v{_level(v)}" data-v="{v:.2f}">'
                     f"{html.escape(_character(ch))}</span>" + ("\n" if ch == "\n" else ""))
    return "".join(parts)


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
