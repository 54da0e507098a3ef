"""Draw the three diagrams of docs/derivation.md with matplotlib: boxes, arrows, labels.

    python docs/make_diagrams.py [--out-dir docs]        (needs: pip install 'nplstm[plot]')

lstm_cell.png   one step of reference.py's ``lstm_step_forward``: x and h_prev make z, z makes
                the gates i, f, g, o (σ, tanh), c = f ⊙ c_prev + i ⊙ g along the top,
                h = o ⊙ tanh(c)
bptt_paths.png  three steps unrolled, and the two routes the gradient takes back through time:
                c_t → c_t−1 through f (an elementwise product), h_t → h_t−1 through W_hh
gru_cell.png    one step of reference.py's ``gru_step_forward``: x and h_prev make gi and gh,
                they make r, z and n (r inside n's recurrent term), h = (1 − z) ⊙ n + z ⊙ h_prev
Subscripts are matplotlib mathtext ($c_{t-1}$), so no brace is drawn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nplstm.io import atomic_write
from nplstm.training.plots import MATPLOTLIB_MISSING, matplotlib_pyplot

FORWARD = "#222222"
BACKWARD = "#c0392b"
GATE = "#dbe9f6"          # gate boxes
LINEAR = "#fdf1d6"        # the matrix products
CELL = "#eef5e9"          # the unrolled cells
FONT = 13


def _box(ax, x, y, w, h, text, face, size=FONT, **kw):
    """A rounded box centred at (x, y), ``w`` by ``h``, with ``text`` in it."""
    from matplotlib.patches import FancyBboxPatch  # noqa: PLC0415

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, facecolor=face,
                                edgecolor=FORWARD, linewidth=1.3,
                                boxstyle="round,pad=0.02,rounding_size=0.15", zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, zorder=3, **kw)


def _operator(ax, x, y, symbol, radius=0.32):
    """A circle with an elementwise operator (⊙, +) at (x, y)."""
    from matplotlib.patches import Circle  # noqa: PLC0415

    ax.add_patch(Circle((x, y), radius, facecolor="white", edgecolor=FORWARD, linewidth=1.3,
                        zorder=2))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=FONT + 3, zorder=3)


def _arrow(ax, start, end, color=FORWARD, style="-", width=1.5, shrink=0.0):
    ax.annotate("", xy=end, xytext=start, zorder=1,
                arrowprops=dict(arrowstyle="-|>", color=color, lw=width, linestyle=style,
                                shrinkA=shrink, shrinkB=shrink, mutation_scale=16))


def _line(ax, points, color=FORWARD, width=1.5, style="-"):
    xs, ys = zip(*points)
    ax.plot(xs, ys, color=color, lw=width, ls=style, zorder=1, solid_capstyle="round")


def _sub(symbol: str, index: str) -> str:
    """Mathtext for ``symbol`` with subscript ``index`` ("t−1" → ``$c_{t-1}$``), drawn as a
    subscript: never a literal underscore or brace."""
    return f"${symbol}_{{{index.replace('−', '-')}}}$"


def _canvas(plt, width, height, scale=0.78):
    fig, ax = plt.subplots(figsize=(width * scale, height * scale))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def draw_cell(plt):
    """The figure of one LSTM step (forward)."""
    fig, ax = _canvas(plt, 17, 10.5)
    ax.text(8.5, 10.1, "One LSTM step: lstm_step_forward (reference.py)", ha="center",
            fontsize=FONT + 2, weight="bold")
    y_c, y_gate, y_z = 8.4, 5.0, 2.4
    x_f, x_i, x_g, x_o = 3.4, 5.9, 8.5, 11.1
    x_add, x_out = 7.2, 13.6
    # the cell state along the top: c_prev → ⊙ f → + i ⊙ g → c
    ax.text(0.1, y_c + 0.5, "c_prev", fontsize=FONT + 2, va="center", style="italic")
    _arrow(ax, (0.2, y_c), (x_f - 0.32, y_c))
    _operator(ax, x_f, y_c, "⊙")
    _arrow(ax, (x_f + 0.32, y_c), (x_add - 0.32, y_c))
    _operator(ax, x_add, y_c, "+")
    _arrow(ax, (x_add + 0.32, y_c), (16.0, y_c))
    ax.text(16.15, y_c, "c", fontsize=FONT + 4, va="center", style="italic")
    ax.text(x_f, y_c + 0.55, "f ⊙ c_prev", ha="center", fontsize=FONT - 1)
    ax.text(x_add + 0.1, y_c + 0.55, "c = f ⊙ c_prev + i ⊙ g", ha="left", fontsize=FONT - 1)
    # the gates
    gates = [(x_f, "f = σ(z_f)", "forget gate"), (x_i, "i = σ(z_i)", "input gate"),
             (x_g, "g = tanh(z_g)", "candidate cell"), (x_o, "o = σ(z_o)", "output gate")]
    for x, text, name in gates:
        _box(ax, x, y_gate, 2.3, 1.3, "", GATE)
        ax.text(x, y_gate + 0.18, text, ha="center", va="center", fontsize=FONT, zorder=3)
        ax.text(x, y_gate - 0.35, name, ha="center", va="center", fontsize=FONT - 3,
                color="#555555", zorder=3)
    _arrow(ax, (x_f, y_gate + 0.65), (x_f, y_c - 0.32))                      # f → ⊙
    # i ⊙ g → +
    y_ig = 6.75
    _operator(ax, x_add, y_ig, "⊙")
    _line(ax, [(x_i, y_gate + 0.65), (x_i, y_ig), (x_add - 0.32, y_ig)])
    _arrow(ax, (x_i, y_ig), (x_add - 0.32, y_ig))
    _line(ax, [(x_g, y_gate + 0.65), (x_g, y_ig), (x_add + 0.32, y_ig)])
    _arrow(ax, (x_g, y_ig), (x_add + 0.32, y_ig))
    _arrow(ax, (x_add, y_ig + 0.32), (x_add, y_c - 0.32))
    ax.text(x_add + 0.45, y_ig + 0.55, "i ⊙ g", fontsize=FONT - 1)
    # h = o ⊙ tanh(c)
    y_tanh, y_h = 6.75, y_gate
    _arrow(ax, (x_out, y_c), (x_out, y_tanh + 0.45))
    _box(ax, x_out, y_tanh, 1.6, 0.85, "tanh", GATE)
    _operator(ax, x_out, y_h, "⊙")
    _arrow(ax, (x_out, y_tanh - 0.43), (x_out, y_h + 0.32))
    _arrow(ax, (x_o + 1.15, y_h), (x_out - 0.32, y_h))
    _arrow(ax, (x_out + 0.32, y_h), (16.0, y_h))
    ax.text(16.15, y_h, "h", fontsize=FONT + 4, va="center", style="italic")
    ax.text(x_out + 0.15, (y_tanh + y_h) / 2, "tanh(c)", fontsize=FONT - 1, va="center")
    ax.text(x_out + 0.45, y_h - 0.75, "h = o ⊙ tanh(c)", fontsize=FONT - 1)
    # z from x and h_prev
    _box(ax, 7.7, y_z, 10.4, 1.0,
         "z = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh   →   [ z_i | z_f | z_g | z_o ]",
         LINEAR, size=FONT - 1)
    for x, label in ((x_f, "z_f"), (x_i, "z_i"), (x_g, "z_g"), (x_o, "z_o")):
        _arrow(ax, (x, y_z + 0.5), (x, y_gate - 0.65))
        ax.text(x + 0.12, (y_z + y_gate) / 2 - 0.1, label, fontsize=FONT - 2, color="#555555")
    ax.text(0.1, y_z + 0.5, "h_prev", fontsize=FONT + 2, va="center", style="italic")
    _arrow(ax, (0.2, y_z), (2.5, y_z))
    ax.text(7.3, 0.25, "x", fontsize=FONT + 4, ha="center", style="italic")
    _arrow(ax, (7.3, 0.75), (7.3, y_z - 0.5))
    ax.text(16.9, 0.3, "σ: logistic sigmoid    ⊙: elementwise product", ha="right",
            fontsize=FONT - 3, color="#555555")
    return fig


def draw_bptt(plt):
    """The unrolled graph with the gradient's two routes back through time."""
    fig, ax = _canvas(plt, 18, 10)
    ax.text(9, 9.6, "Backpropagation through time: two routes back from every step",
            ha="center", fontsize=FONT + 2, weight="bold")
    xs, w, y_c, y_h, y_box = (3.5, 9.0, 14.5), 3.0, 5.6, 3.6, 4.6
    for k, x in enumerate(xs):
        t = ("t−1", "t", "t+1")[k]
        _box(ax, x, y_box, w, 3.0, "", CELL)
        ax.text(x, y_box + 0.15, f"cell\nstep {t}", ha="center", va="center",
                fontsize=FONT - 1, color="#555555")
        ax.text(x, 0.4, _sub("x", t), ha="center",
                fontsize=FONT + 1, style="italic")
        _arrow(ax, (x, 0.85), (x, y_box - 1.5))
        # output h_t up to its loss term, and the gradient coming down
        _arrow(ax, (x - 0.35, y_box + 1.5), (x - 0.35, 7.55))
        ax.text(x, 7.95, _sub("L", t), ha="center", fontsize=FONT, style="italic")
        _arrow(ax, (x + 0.35, 7.55), (x + 0.35, y_box + 1.5), color=BACKWARD, style="--")
        ax.text(x + 0.5, 7.0, f"doutput[{t}]", fontsize=FONT - 3, color=BACKWARD)
        ax.text(x - 0.5, 7.0, _sub("h", t), fontsize=FONT - 1, ha="right", style="italic")
    # forward states between the cells (and in from the left, out to the right)
    edges = [(0.2, xs[0] - w / 2)] + [(xs[k] + w / 2, xs[k + 1] - w / 2) for k in range(2)] \
        + [(xs[2] + w / 2, 17.8)]
    names = ["t−2", "t−1", "t", "t+1"]
    for (a, b), name in zip(edges, names):
        _arrow(ax, (a, y_c), (b, y_c))
        _arrow(ax, (a, y_h), (b, y_h))
        ax.text((a + b) / 2, y_c + 0.2, _sub("c", name), ha="center", fontsize=FONT - 1,
                style="italic")
        ax.text((a + b) / 2, y_h - 0.5, _sub("h", name), ha="center", fontsize=FONT - 1,
                style="italic")
    # the gradient's routes back, between step t and step t−1 (and t+1 → t)
    for k in (1, 2):
        a, b = xs[k - 1] + w / 2, xs[k] - w / 2
        step = ("t", "t+1")[k - 1]
        _arrow(ax, (b, y_c + 0.85), (a, y_c + 0.85), color=BACKWARD, style="--")
        ax.text((a + b) / 2, y_c + 1.05, "⊙ " + _sub("f", step), ha="center", fontsize=FONT,
                color=BACKWARD)
        _arrow(ax, (b, y_h - 1.05), (a, y_h - 1.05), color=BACKWARD, style="--")
        ax.text((a + b) / 2, y_h - 1.65, _sub("dz", step) + " " + _sub("W", "hh"), ha="center",
                fontsize=FONT,
                color=BACKWARD)
    notes = (r"$\partial L/\partial c_{t-1} = \partial L/\partial c_t \odot f_t$   (+ the route "
             r"through $h_{t-1}$):  an elementwise product, no matrix",
             r"$\partial L/\partial h_{t-1} = dz_t\,W_{hh}$   (+ doutput[t−1]):  a matrix product "
             r"and the gates' σ′, tanh′ in $dz_t$")
    for k, note in enumerate(notes):
        ax.text(9, 9.0 - 0.45 * k, note, ha="center", fontsize=FONT - 2, color=BACKWARD)
    ax.plot([], [], color=FORWARD, lw=1.5, label="forward")
    ax.plot([], [], color=BACKWARD, lw=1.5, ls="--", label="gradient (backward)")
    ax.legend(loc="lower center", bbox_to_anchor=(6.25 / 18, 0.0), fontsize=FONT - 3,
              frameon=False)
    return fig


def draw_gru_cell(plt):
    """The figure of one GRU step (forward): the gates r, z, n from the two products, r
    inside n's recurrent term, and h = (1 − z) ⊙ n + z ⊙ h_prev along the top."""
    fig, ax = _canvas(plt, 17, 10.5)
    ax.text(8.5, 10.1, "One GRU step: gru_step_forward (reference.py)", ha="center",
            fontsize=FONT + 2, weight="bold")
    y_top, y_mix, y_gate, y_g = 8.4, 6.75, 5.0, 2.4
    x_r, x_n, x_z, x_one, x_out, x_split = 3.4, 7.3, 11.0, 13.6, 13.6, 1.0
    # h_prev along the top, and down into the recurrent product
    ax.text(0.1, y_top + 0.5, "h_prev", fontsize=FONT + 2, va="center", style="italic")
    _arrow(ax, (0.2, y_top), (x_z - 0.32, y_top))
    _line(ax, [(x_split, y_top), (x_split, y_g)])
    ax.plot([x_split], [y_top], "o", color=FORWARD, markersize=5, zorder=3)
    _arrow(ax, (x_split, y_g), (2.0, y_g))
    _operator(ax, x_z, y_top, "⊙")
    ax.text(x_z, y_top + 0.55, "z ⊙ h_prev", ha="center", fontsize=FONT - 1)
    _arrow(ax, (x_z + 0.32, y_top), (x_out - 0.32, y_top))
    _operator(ax, x_out, y_top, "+")
    _arrow(ax, (x_out + 0.32, y_top), (16.0, y_top))
    ax.text(16.15, y_top, "h", fontsize=FONT + 4, va="center", style="italic")
    ax.text(x_out + 0.45, y_top + 0.55, "h = (1 − z) ⊙ n + z ⊙ h_prev", ha="left",
            fontsize=FONT - 1)
    # the gates
    gates = [(x_r, 2.3, "r = σ(a_r)", "reset gate"), (x_n, 3.4, "n = tanh(a_n)", "candidate"),
             (x_z, 2.3, "z = σ(a_z)", "update gate")]
    for x, w, text, name in gates:
        _box(ax, x, y_gate, w, 1.3, "", GATE)
        ax.text(x, y_gate + 0.18, text, ha="center", va="center", fontsize=FONT, zorder=3)
        ax.text(x, y_gate - 0.35, name, ha="center", va="center", fontsize=FONT - 3,
                color="#555555", zorder=3)
    _arrow(ax, (x_r + 1.15, y_gate), (x_n - 1.7, y_gate))                    # r → n
    ax.text((x_r + x_n) / 2 - 0.3, y_gate + 0.25, "r", ha="center", fontsize=FONT - 1,
            style="italic")
    _arrow(ax, (x_z, y_gate + 0.65), (x_z, y_top - 0.32))                    # z → ⊙ h_prev
    # (1 − z) ⊙ n → +
    _operator(ax, x_out, y_mix, "⊙")
    _line(ax, [(x_n, y_gate + 0.65), (x_n, y_mix), (x_z - 0.2, y_mix)])
    _arrow(ax, (x_z + 0.2, y_mix), (x_out - 0.32, y_mix))     # under z's arrow: a gap
    _box(ax, x_one, y_gate, 1.5, 0.8, "1 − z", GATE, size=FONT - 1)
    _arrow(ax, (x_z + 1.15, y_gate), (x_one - 0.75, y_gate))
    _arrow(ax, (x_one, y_gate + 0.4), (x_out, y_mix - 0.32))
    _arrow(ax, (x_out, y_mix + 0.32), (x_out, y_top - 0.32))
    ax.text(x_out + 0.45, y_mix + 0.1, "(1 − z) ⊙ n", fontsize=FONT - 1, va="center")
    # the two products, kept apart: r reaches only the recurrent part of n's argument
    _box(ax, 7.2, y_g, 10.4, 1.0, "gi = x W_ihᵀ + b_ih,   gh = h_prev W_hhᵀ + b_hh   →   "
         "blocks r, z, n", LINEAR, size=FONT - 1)
    for x, label in ((x_r, "a_r = gi_r + gh_r"), (x_n, "a_n = gi_n + r ⊙ gh_n"),
                     (x_z, "a_z = gi_z + gh_z")):
        _arrow(ax, (x, y_g + 0.5), (x, y_gate - 0.65))
        ax.text(x + 0.12, (y_g + y_gate) / 2 - 0.1, label, fontsize=FONT - 2, color="#555555")
    ax.text(4.6, 0.25, "x", fontsize=FONT + 4, ha="center", style="italic")
    _arrow(ax, (4.6, 0.75), (4.6, y_g - 0.5))
    ax.text(16.9, 0.3, "σ: logistic sigmoid    ⊙: elementwise product    "
            "gh_n = h_prev W_hnᵀ + b_hn (torch's form)", ha="right", fontsize=FONT - 3,
            color="#555555")
    return fig


def save(fig, plt, path: Path) -> None:
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120,
                                                 bbox_inches="tight", facecolor="white"))
    finally:
        plt.close(fig)


DIAGRAMS = {"lstm_cell.png": draw_cell, "bptt_paths.png": draw_bptt,
            "gru_cell.png": draw_gru_cell}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent),
                        help="where to write lstm_cell.png, bptt_paths.png and gru_cell.png "
                        "(default: this folder)")
    args = parser.parse_args(argv)
    plt = matplotlib_pyplot()
    if plt is None:
        print(MATPLOTLIB_MISSING, file=sys.stderr)
        return 1
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, draw in DIAGRAMS.items():
        save(draw(plt), plt, out / name)
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
