"""Vanishing gradients, shown: ‖∂L/∂h_t‖ and ‖∂L/∂c_t‖ through time, LSTM vs a tanh RNN.

    python examples/vanishing_gradients.py [--out vanishing_gradients.png] [--steps 200]
                                                     (needs: pip install 'nplstm[plot]')

The loss reads only the last step, L = ⟨u, h_T⟩, so ∂L/∂h_t for earlier t is what
backpropagation through time carries back.  A plain RNN (``nplstm.RNN``, torch.nn.RNN's
h_t = tanh(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh)) multiplies it by diag(1 − h_t²) W_hh
at every step: with weights of the usual scale U(−1/√H, 1/√H) (spectral radius < 1) it
decays geometrically.  The LSTM's cell state carries
it back through c_{t−1} = … ∂c_t ⊙ f_t: the forget gate, not a matrix product, so the decay
is set by how open f is (σ(b_f + …) ≈ ½ at init; torch-style init with the forget bias
raised, as many practitioners do, keeps it open and the gradient alive much longer).

Both curves come from the record that ``LSTM.backward(..., record=dict)`` and
``RNN.backward(..., record=dict)`` keep (off by default, no cost when off).  Runs in a few
seconds.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import nplstm
from nplstm.training.plots import MATPLOTLIB_MISSING, matplotlib_pyplot, saved_figure


def rnn_gradient_norms(x, u, H, seed):
    """record["dh"] of a one-layer tanh nplstm.RNN with L = ⟨u, h_{T−1}⟩.
    x (T, B, I), u (B, H)."""
    T, B, I = x.shape
    rnn = nplstm.RNN(I, H, nonlinearity="tanh", dtype="float64", seed=seed)
    output, _ = rnn(x)
    doutput = np.zeros_like(output)
    doutput[-1] = u                                            # only the last step is read
    record = {}
    rnn.backward(doutput, record=record)
    return record[(0, 0)]["dh"]


def lstm_gradient_norms(x, u, H, seed, forget_bias=0.0):
    """record["dh"], record["dc"] of a one-layer nplstm.LSTM with L = ⟨u, h_{T−1}⟩."""
    T, B, I = x.shape
    lstm = nplstm.LSTM(I, H, dtype="float64", seed=seed)
    lstm.bias_ih_l0.data[H:2 * H] += forget_bias              # rows of the forget gate
    output, _ = lstm(x)
    doutput = np.zeros_like(output)
    doutput[-1] = u                                            # only the last step is read
    record = {}
    lstm.backward(doutput, record=record)
    return record[(0, 0)]["dh"], record[(0, 0)]["dc"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="vanishing_gradients.png", help="the plot")
    parser.add_argument("--steps", type=int, default=200, help="sequence length T")
    parser.add_argument("--hidden", type=int, default=64, help="hidden size H")
    args = parser.parse_args(argv)
    if matplotlib_pyplot() is None:
        sys.exit(f"this example draws its plot with matplotlib: {MATPLOTLIB_MISSING}")
    T, B, I, H = args.steps, 8, 16, args.hidden
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I))
    u = rng.standard_normal((B, H))

    curves = {"tanh RNN ‖∂L/∂h_t‖": rnn_gradient_norms(x, u, H, seed=1)}
    for bias, tag in ((0.0, "LSTM"), (1.0, "LSTM, forget bias +1")):
        dh, dc = lstm_gradient_norms(x, u, H, seed=1, forget_bias=bias)
        curves[f"{tag} ‖∂L/∂h_t‖"], curves[f"{tag} ‖∂L/∂c_t‖"] = dh, dc
    steps_back = T - 1 - np.arange(T)
    for name, norms in curves.items():
        ratio = norms[max(0, T - 51)] / norms[-1]
        print(f"{name:32s} after 50 steps back: ×{ratio:.1e}")

    with saved_figure(args.out, dpi=120) as ax:
        styles = ["k-", "C0-", "C0--", "C1-", "C1--"]
        for (name, norms), style in zip(curves.items(), styles):
            ax.semilogy(steps_back, np.maximum(norms, 1e-300), style, label=name)
        ax.set_xlabel("steps back from the loss (T − 1 − t)")
        ax.set_ylabel("gradient norm over the batch")
        ax.set_title(f"Backpropagation through time, T = {T}, H = {H}: "
                     "loss on the last step only", fontsize=10)
        ax.set_ylim(bottom=max(1e-30, min(float(c.min()) for c in curves.values()) / 10))
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
