"""The adding problem (Hochreiter & Schmidhuber 1997), solved by an LSTM (about 40 s).

Each input step is (value, marker): values U(0, 1), the marker is 1 at exactly two steps.
The target is the sum of the two marked values, read from the LSTM's last hidden state by a
linear layer.  Predicting the mean (1) scores MSE 1/6 ≈ 0.167; an LSTM that has learned to
remember the marked values gets close to 0.  A plain tanh RNN struggles at long T.

    python examples/adding_problem.py [--seq-len 30] [--steps N]   (writes adding_problem.png)

T = 30 solves in about 1200 steps here; `nplstm train --task adding` runs T = 50 (4000 steps).
"""

import argparse
import time

import numpy as np

import nplstm
from nplstm import functional as F
from nplstm.training.data import adding_problem
from nplstm.optim import SGD, clip_grad_norm
from nplstm.training.plots import MATPLOTLIB_MISSING, saved_figure

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=30)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--out", default="adding_problem.png", help="where to write the plot")
    args = parser.parse_args(argv)
    T, B, H = args.seq_len, 64, 64

    lstm = nplstm.LSTM(2, H, seed=0)
    head = nplstm.Linear(H, 1, seed=1)
    params = lstm.parameters() + head.parameters()
    optimizer = SGD(params, lr=0.5, momentum=0.9)
    x_eval, y_eval = adding_problem(np.random.default_rng(12345), 1000, T)

    history, started = [], time.perf_counter()
    for step in range(args.steps):
        x, y = adding_problem(np.random.default_rng([0, step]), B, T)   # (T, B, 2), (B, 1)
        _, (h_n, _) = lstm(x)                          # h_n (1, B, H): the last hidden state
        pred = head(h_n[0])                            # (B, 1)
        loss, cache = F.mse_forward(pred, y)
        optimizer.zero_grad()
        dh_last = head.backward(F.mse_backward(1.0, cache).pred)           # (B, H)
        lstm.backward(None, (dh_last[None], None))     # only h_T is read: no ∂L/∂output
        clip_grad_norm(params, 1.0)
        optimizer.step()
        if step % 100 == 0 or step == args.steps - 1:
            with nplstm.no_grad():                     # nothing recorded, no cache kept
                _, (h_eval, _) = lstm(x_eval)
                eval_mse = float(F.mse_forward(head(h_eval[0]), y_eval)[0])
            history.append((step, float(loss), eval_mse))
            print(f"step {step:5d}  train MSE {float(loss):.4f}  eval MSE {eval_mse:.4f}")

    print(f"{args.steps} steps in {time.perf_counter() - started:.0f} s; eval MSE "
          f"{history[-1][2]:.4f} (always predicting 1: 0.167)")

    with saved_figure(args.out, figsize=(6, 3.5)) as ax:
        if ax is None:
            print(f"{MATPLOTLIB_MISSING}: no plot")
            return
        steps, train, evals = zip(*history)
        ax.semilogy(steps, train, label="train MSE")
        ax.semilogy(steps, evals, "o-", label="eval MSE")
        ax.axhline(1 / 6, color="gray", ls="--", label="predict the mean (1/6)")
        ax.set(xlabel="step", ylabel="MSE", title=f"adding problem, T = {T}")
        ax.legend()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
