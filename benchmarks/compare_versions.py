"""Time two installations of nplstm against each other, side by side (new / old).

    python benchmarks/compare_versions.py --old OLD_VENV/bin/python --new NEW_VENV/bin/python
                                          [--threads 1] [--repeats 9] [--cases "T,B,H;..."]

Each interpreter runs a worker process that imports *its own* nplstm (so each version lives
in its own venv) and times single calls of nplstm.LSTM(H, H) on the same seeded input:
fwd+bwd (forward, then the backward of sum(output ⊙ R)) and forward (under no_grad).  The
two workers are called alternately, round by round, each call preceded by an untimed one
(warm caches), with the thread variables set to ``--threads`` before numpy loads.  The table
gives each side's median and the median of the per-round ratios new/old with their
interquartile range, so that a burst of load on a shared machine hits both sides.
Only the public API is used, so any two versions can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DEFAULT_CASES = "50,32,128;100,64,256;25,16,512;100,128,1024;200,1,64;500,8,128"

WORKER = r"""
import json, sys, time
import numpy as np
import nplstm
runners = {}
for line in sys.stdin:
    msg = json.loads(line)
    if msg[0] == "case":
        T, B, H = msg[1:]
        rng = np.random.default_rng(0)
        lstm = nplstm.LSTM(H, H, seed=0)
        x = rng.standard_normal((T, B, H)).astype(np.float32)
        R = rng.standard_normal((T, B, H)).astype(np.float32)
        def train(lstm=lstm, x=x, R=R):
            lstm(x)
            lstm.backward(R)
        def infer(lstm=lstm, x=x):
            with nplstm.no_grad():
                lstm(x)
        runners = {"fwd+bwd": train, "forward": infer}
        reply = nplstm.__file__
    else:
        fn = runners[msg[1]]
        fn()                                    # untimed: warm caches and threads
        start = time.perf_counter()
        fn()
        reply = time.perf_counter() - start
    print(json.dumps(reply), flush=True)
"""


class Worker:
    def __init__(self, python, threads):
        env = dict(os.environ, **{name: str(threads) for name in
                                  ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
        self.process = subprocess.Popen([python, "-c", WORKER], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env,
                                        cwd="/")    # import the venv's nplstm, not ./nplstm

    def call(self, *message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("a worker died (see its traceback above)")
        return json.loads(line)

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


def compare(old, new, cases, repeats, threads):
    workers = {"old": Worker(old, threads), "new": Worker(new, threads)}
    rows = []
    try:
        for T, B, H in cases:
            paths = {k: w.call("case", T, B, H) for k, w in workers.items()}
            for mode in ("fwd+bwd", "forward"):
                times = {"old": [], "new": []}
                for r in range(repeats):
                    order = ("old", "new") if r % 2 == 0 else ("new", "old")
                    for k in order:
                        times[k].append(workers[k].call("run", mode))
                ratios = sorted(n / o for n, o in zip(times["new"], times["old"]))
                q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
                rows.append({"T": T, "B": B, "H": H, "mode": mode,
                             "old_ms": 1e3 * statistics.median(times["old"]),
                             "new_ms": 1e3 * statistics.median(times["new"]),
                             "ratio": statistics.median(ratios), "q1": q[0], "q3": q[-1]})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.close()
    return rows, paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the old version's python")
    parser.add_argument("--new", default=sys.executable, help="the new version's python")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cases", default=DEFAULT_CASES)
    args = parser.parse_args(argv)
    cases = [tuple(int(v) for v in part.split(",")) for part in args.cases.split(";")]
    rows, paths = compare(args.old, args.new, cases, args.repeats, args.threads)
    print(f"old: {paths['old']}\nnew: {paths['new']}\nN = {args.threads} thread(s), "
          f"median of {args.repeats} alternated rounds\n")
    print("| T | B | H=I | mode | old ms | new ms | new/old | IQR |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['T']} | {r['B']} | {r['H']} | {r['mode']} | {r['old_ms']:.2f} | "
              f"{r['new_ms']:.2f} | {r['ratio']:.3f} | {r['q1']:.2f}-{r['q3']:.2f} |")


if __name__ == "__main__":
    main()
