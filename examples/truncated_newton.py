"""Truncated-Newton (Hessian-free) steps on the adding problem, with nplstm's Gauss-Newton
product, in the spirit of Martens & Sutskever (2011) (about 10 s).

Each outer step solves (G + λI) d = −g approximately by conjugate gradients, G the
Gauss-Newton matrix of the MSE at the current weights, applied as products
``F.gauss_newton_product`` (JVP → loss Hessian → backward; never formed), g the gradient
(``F.readout_loss_and_grad``).  As in Hessian-free optimisation:

  * CG starts from the previous step's direction (scaled by 0.95) and stops after
    ``--cg-iters`` iterations or when the quadratic model stops improving;
  * λ (Levenberg-Marquardt damping) follows the reduction ratio ρ = (actual decrease) /
    (decrease the model predicted): ρ < 1/4 → λ·3/2, ρ > 3/4 → λ·2/3;
  * a step that does not lower the loss is rejected (and λ raised).

The Gauss-Newton product is first checked with ``nplstm.hvpcheck`` against central
differences of its definition (directional mode, one line).  One fixed batch is used for g
and G (a large one: full-batch second-order steps), a fresh one for evaluation.

    python examples/truncated_newton.py [--steps 30] [--cg-iters 30] [--seq-len 10]
                                        (writes truncated_newton.png)
"""

import argparse
import time

import numpy as np

import nplstm
from nplstm import functional as F
from nplstm.gradcheck import gauss_newton_hvp, model_gradient
from nplstm.training.data import adding_problem
from nplstm.training.plots import MATPLOTLIB_MISSING, saved_figure


def _dot(a, b):
    return sum(float(np.sum(x * y)) for x, y in zip(a, b))


def _axpy(alpha, x, y):                      # alpha·x + y, parameter by parameter
    return tuple(alpha * a + b for a, b in zip(x, y))


def conjugate_gradients(apply, b, x0, iters):
    """Minimise q(x) = ½ xᵀAx − bᵀx by CG from x0 (A = ``apply``, symmetric positive
    definite); stop after ``iters`` or when q improved by less than 5e-4 relative over the
    last tenth of the iterations (Martens' test).  Returns (x, [q after each iteration])."""
    x = x0
    r = _axpy(-1.0, apply(x), b)                           # r = b − A x
    p, rr = r, _dot(r, r)
    values = []
    for i in range(iters):
        ap = apply(p)
        pap = _dot(p, ap)
        if pap <= 0:                                       # not positive definite: stop
            break
        alpha = rr / pap
        x = _axpy(alpha, p, x)
        r = _axpy(-alpha, ap, r)
        rr, previous = _dot(r, r), rr
        # q(x) = −½ bᵀx − ½ rᵀx  (since A x = b − r)
        values.append(-0.5 * _dot(b, x) - 0.5 * _dot(r, x))
        k = max(10, i // 10)
        if i > k and values[-1] < 0 and \
                (values[-1] - values[-1 - k]) / values[-1] < 5e-4 * k:
            break
        p = _axpy(rr / previous, p, r)
    return x, values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30, help="outer (Newton) steps")
    parser.add_argument("--cg-iters", type=int, default=30, help="CG iterations per step")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=8)
    parser.add_argument("--out", default="truncated_newton.png", help="where to write the plot")
    args = parser.parse_args(argv)
    T, B, H = args.seq_len, args.batch, args.hidden

    rng = np.random.default_rng(0)
    x, y = adding_problem(rng, B, T, dtype="float64")      # (T, B, 2), (B, 1)
    x_eval, y_eval = adding_problem(np.random.default_rng(1), 1000, T, dtype="float64")
    bound = 1 / np.sqrt(H)
    shapes = [(4 * H, 2), (4 * H, H), (4 * H,), (4 * H,), (1, H), (1,)]
    params = tuple(rng.uniform(-bound, bound, s) for s in shapes)

    # the product first: hvpcheck against differences of its definition (tests/test_gauss_
    # newton.py does the full check; here one directional pass on a small batch)
    report = nplstm.hvpcheck(model_gradient(x[:, :8], params, y[:8], "mse"),
                             gauss_newton_hvp(x[:, :8], y[:8], "mse"), list(params),
                             names=list(F.READOUT_NAMES), mode="directional")
    print(f"hvpcheck of the Gauss-Newton product: {'passed' if report.passed else 'FAILED'} "
          f"(worst err/tol {max(r.worst_ratio for r in report.inputs):.1e})")

    def loss_at(ps, xs=x, ys=y):
        return float(F.readout_forward(xs, ps, ys, loss="mse")[0])

    damping, direction = 1.0, tuple(np.zeros_like(p) for p in params)
    history, cg_curves, started = [], [], time.perf_counter()
    for step in range(args.steps):
        loss, grad = F.readout_loss_and_grad(x, params, y, loss="mse")
        loss = float(loss)

        def apply(v, lam=damping):                          # (G + λI) v
            return _axpy(lam, v, F.gauss_newton_product(x, params, y, v, loss="mse"))

        direction, values = conjugate_gradients(
            apply, tuple(-g for g in grad), tuple(0.95 * d for d in direction), args.cg_iters)
        cg_curves.append(values)
        candidate = _axpy(1.0, direction, params)
        new_loss = loss_at(candidate)
        predicted = values[-1] if values else 0.0           # q(d) − q(0), with damping
        rho = (new_loss - loss) / predicted if predicted < 0 else -np.inf
        if rho < 0.25:
            damping *= 1.5
        elif rho > 0.75:
            damping *= 2 / 3
        if new_loss < loss:
            params, loss = candidate, new_loss
        else:
            direction = tuple(np.zeros_like(p) for p in params)
        eval_mse = loss_at(params, x_eval, y_eval)
        history.append((step, loss, eval_mse, damping, len(values)))
        print(f"step {step:3d}  train MSE {loss:.2e}  eval MSE {eval_mse:.2e}  "
              f"CG {len(values):3d} it  rho {rho:6.2f}  lambda {damping:.3g}")

    print(f"{args.steps} truncated-Newton steps in {time.perf_counter() - started:.0f} s; "
          f"eval MSE {history[-1][2]:.2e} (always predicting 1: 0.167)")

    with saved_figure(args.out, figsize=(6, 3.5)) as ax:
        if ax is None:
            print(f"{MATPLOTLIB_MISSING}: no plot")
            return
        steps, train, evals, lambdas, _ = zip(*history)
        ax.semilogy(steps, train, "o-", ms=3, label="train MSE (the batch of g and G)")
        ax.semilogy(steps, evals, "s-", ms=3, label="eval MSE")
        ax.semilogy(steps, lambdas, ":", color="gray", label="damping λ")
        ax.axhline(1 / 6, color="gray", ls="--", label="predict the mean (1/6)")
        ax.set(xlabel="truncated-Newton step", ylabel="MSE (and λ)",
               title=f"adding problem, T = {T}: Gauss-Newton + CG")
        ax.legend(fontsize=8)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
