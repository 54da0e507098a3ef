"""How accurate is a central difference?  Its error against the step ε, float32 and float64.

    python examples/fd_epsilon.py [--out fd_epsilon.png]      (needs: pip install 'nplstm[plot]')

For the LSTM cell's projected loss L = ⟨u_h, h'⟩ + ⟨u_c, c'⟩, the exact gradient comes from
the hand-written backward in float64.  The central difference

    D(ε) = (L(x + ε e_j) − L(x − ε e_j)) / 2ε

has two errors pulling opposite ways: truncation ε²·|L'''|/6, which shrinks with ε, and the
round-off of evaluating L, ≈ u·|L|/ε (u the unit round-off), which grows as ε shrinks.  On a
log-log plot that is a V: slope +2 on the right, −1 on the left, the bottom near
ε* ≈ (3u)^(1/3) with an error ≈ u^(2/3).  For float64 (u ≈ 1.1e-16) that is ε* ≈ 7e-6 and
errors ≈ 1e-10 (why gradcheck uses ε = 1e-6); for float32 (u ≈ 6e-8), ε* ≈ 6e-3 and
errors ≈ 1e-4 at best, which is why nplstm differences float32 functions in float64.
Richardson extrapolation, (4·D(ε/2) − D(ε))/3, cancels the ε² term: slope +4, bottom at
larger ε and ~100× lower.  Runs in a few seconds.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from nplstm import functional as F
from nplstm.training.plots import MATPLOTLIB_MISSING, matplotlib_pyplot, saved_figure
from nplstm.gradcheck import random_cell_case



def projected_loss(inputs, u_h, u_c, dtype):
    """L = ⟨u_h, h'⟩ + ⟨u_c, c'⟩ with the forward evaluated in ``dtype``."""
    x, h, c, w_ih, w_hh, b_ih, b_hh = (a.astype(dtype) for a in inputs)
    (h1, c1), _ = F.lstm_cell_forward(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    return float(np.sum(u_h * h1, dtype=np.float64) + np.sum(u_c * c1, dtype=np.float64))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="fd_epsilon.png", help="where to write the plot")
    parser.add_argument("--elements", type=int, default=24, help="gradient elements used")
    args = parser.parse_args(argv)
    if matplotlib_pyplot() is None:
        sys.exit(f"this example draws its plot with matplotlib: {MATPLOTLIB_MISSING}")

    rng = np.random.default_rng(0)
    inputs = random_cell_case(rng, 4, 8, 8)                     # float64, B=4, I=8, H=8
    u_h, u_c = rng.standard_normal((4, 8)), rng.standard_normal((4, 8))
    (_, _), cache = F.lstm_cell_forward(inputs[0], (inputs[1], inputs[2]), *inputs[3:])
    exact = F.lstm_cell_backward(u_h, u_c, cache).weight_hh     # (4H, H), the reference
    k = 4                                                       # perturb weight_hh
    picks = rng.choice(exact.size, args.elements, replace=False)
    scale = np.abs(exact).max()

    def difference(j, eps, dtype):
        def at(step):
            moved = list(inputs)
            w = inputs[k].copy()
            w.reshape(-1)[j] += step
            moved[k] = w
            return projected_loss(moved, u_h, u_c, dtype)
        return (at(eps) - at(-eps)) / (2 * eps)

    def error(eps, dtype, richardson=False):
        """max over the picked elements of |D − exact| / max|exact|."""
        worst = 0.0
        for j in picks:
            d = difference(j, eps, dtype)
            if richardson:
                d = (4 * difference(j, eps / 2, dtype) - d) / 3
            worst = max(worst, abs(d - exact.reshape(-1)[j]) / scale)
        return worst

    epsilons = np.logspace(-13, 0, 53)
    curves = {
        "float64": [error(e, np.float64) for e in epsilons],
        "float32": [error(e, np.float32) for e in epsilons],
        "float64, Richardson": [error(e, np.float64, True) for e in epsilons],
    }
    with saved_figure(args.out, dpi=120) as ax:
        for (name, errs), color in zip(curves.items(), ("C0", "C1", "C2")):
            errs = np.maximum(np.array(errs), 1e-18)
            best = int(np.argmin(errs))
            ax.loglog(epsilons, errs, "o-", ms=3, color=color, label=name)
            ax.loglog(epsilons[best], errs[best], "*", ms=14, color=color,
                      label=f"  best ε = {epsilons[best]:.0e}, error {errs[best]:.1e}")
            print(f"{name:20s} best ε = {epsilons[best]:.1e}  relative error {errs[best]:.2e}")
        for dtype, color in ((np.float64, "C0"), (np.float32, "C1")):
            u = np.finfo(dtype).eps / 2
            ax.axvline((3 * u) ** (1 / 3), color=color, ls=":", lw=1)
        ax.set_xlabel("step ε")
        ax.set_ylabel("max |difference − exact| / max |exact|")
        ax.set_title("Central differences of an LSTM cell: truncation (right) vs round-off (left)\n"
                     "dotted: ε* = (3u)^(1/3)", fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
