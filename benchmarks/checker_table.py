"""Issue 28's closing table: the checkers on an experimenter's ops, right and with bugs.

    python benchmarks/checker_table.py [--seeds 1]

gradcheck on four ops with hand-written backwards (tests/checker_ops.py: layer norm,
softmax attention, a GRU cell, relu(x + b)), right and with two planted bugs each, in the
three modes, float64 and float32; then jvpcheck on the GRU cell's JVP and hvpcheck on the
LSTM's Gauss-Newton product (tests/gauss_newton_reference.py), right and with a planted
bug.  Each cell: "caught" (the check failed and named the bug's input), "missed", "pass"
(a right derivative passed) or "FALSE ALARM", with the time of one check.  Prints a
Markdown table.  (tests/test_checker_ops.py asserts the verdicts; times are not asserted.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import nplstm  # noqa: E402
from nplstm import functional as F  # noqa: E402
from nplstm.functional import gauss_newton  # noqa: E402
from nplstm.gradcheck import MODES  # noqa: E402
from tests.checker_ops import GRU_JVP_BUG, OPS, gru_jvp, outcome  # noqa: E402
from tests.gauss_newton_reference import (charlm_case, gauss_newton_hvp,  # noqa: E402
                                          model_gradient)

DTYPES = (np.float64, np.float32)


def gradcheck_rows(seeds):
    rows = []
    for op in OPS:
        for bug in [None, *op.bugs]:
            cells = []
            for dtype in DTYPES:
                for mode in MODES:
                    verdicts, seconds = set(), []
                    for seed in range(seeds):
                        verdict, _, t = outcome(op, bug, mode, dtype, seed)
                        verdicts.add(verdict)
                        seconds.append(t)
                    cells.append(f"{'/'.join(sorted(verdicts))} {max(seconds):.2f}s")
            rows.append([op.name, bug or "(right)", *cells])
    return rows


def _timed(check):
    started = time.perf_counter()
    report = check()
    return report, time.perf_counter() - started


def second_order_rows(seeds):
    """jvpcheck on the GRU cell's JVP; hvpcheck on the Gauss-Newton product (char-LM)."""
    gru = next(op for op in OPS if op.name == "GRU cell")
    rows = []
    for bug in (None, GRU_JVP_BUG):
        cells = []
        for dtype in DTYPES:
            verdicts, seconds = set(), []
            for seed in range(seeds):
                inputs = gru.make_inputs(np.random.default_rng(seed), dtype)
                report, t = _timed(lambda: nplstm.jvpcheck(
                    gru.forward, lambda tg, c: gru_jvp(tg, c, bug), inputs, names=gru.names,
                    seed=seed, raise_exception=False))
                verdicts.add(_verdict(report, bug))
                seconds.append(t)
            cells.append(f"{'/'.join(sorted(verdicts))} {max(seconds):.2f}s")
        rows.append(["GRU cell JVP (jvpcheck)", bug or "(right)", *cells])
    plant = {"loss Hessian without -p p^T": (
        "cross_entropy_hessian_product",
        lambda cache, z_dot: cache.probs * z_dot * cache.valid / max(cache.count, 1)),
        "JVP misses weight_hh's tangent": (
        "lstm_jvp", lambda *a, tangents=None, **k: F.lstm_jvp(
            *a, tangents=tangents._replace(weight_hh=None), **k))}
    for bug in (None, *plant):
        cells = []
        for dtype in DTYPES:
            for mode in MODES:
                saved = None
                if bug is not None:
                    name, planted = plant[bug]
                    saved = getattr(gauss_newton, name)
                    setattr(gauss_newton, name, planted)
                try:
                    verdicts, seconds = set(), []
                    for seed in range(seeds):
                        x, params, targets = charlm_case(np.random.default_rng(seed),
                                                         dtype=dtype)
                        report, t = _timed(lambda: nplstm.hvpcheck(
                            model_gradient(x, params, targets, "cross_entropy"),
                            gauss_newton_hvp(x, targets, "cross_entropy"), list(params),
                            names=list(F.READOUT_NAMES), mode=mode, seed=seed,
                            raise_exception=False))
                        verdicts.add(_verdict(report, bug))
                        seconds.append(t)
                finally:
                    if saved is not None:
                        setattr(gauss_newton, plant[bug][0], saved)
                cells.append(f"{'/'.join(sorted(verdicts))} {max(seconds):.2f}s")
        rows.append(["LSTM Gauss-Newton product (hvpcheck)", bug or "(right)", *cells])
    return rows


def _verdict(report, bug):
    if bug is None:
        return "pass" if report.passed else "FALSE ALARM"
    return "missed" if report.passed else "caught"


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(map(str, r)) + " |" for r in rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="seeds per cell (inputs, u)")
    args = parser.parse_args(argv)
    header = ["op", "backward"] + [f"{np.dtype(d).name} {m}" for d in DTYPES for m in MODES]
    print(markdown(header, gradcheck_rows(args.seeds)))
    print()
    header2 = ["derivative", "planted bug", "float64", "float32"]
    rows = second_order_rows(args.seeds)
    print(markdown(header2, [r for r in rows if "JVP" in r[0]]))
    print()
    header3 = ["derivative", "planted bug"] + [f"{np.dtype(d).name} {m}"
                                               for d in DTYPES for m in MODES]
    print(markdown(header3, [r for r in rows if "JVP" not in r[0]]))


if __name__ == "__main__":
    main()
