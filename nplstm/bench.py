"""Time nplstm.LSTM against torch.nn.LSTM on the CPU, side by side (``nplstm bench``).

Each case (T, B, H = I) is timed as forward+backward (forward, then the backward of
sum(output ⊙ R) for a fixed random R; torch also computes dx, as nplstm does) and as
forward-only (``nplstm.no_grad()`` / ``torch.no_grad()``).  The libraries' runs are
interleaved round by round, so a burst of load on a shared machine hits both; the table
gives medians over the rounds, the ratio nplstm / torch and the spread of the ratios
(the interquartile range over rounds).  torch and NumPy's BLAS run on the same number of
threads (threadpoolctl limits the BLAS; without it the count is only asked of torch and
the table says so).
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np

from .grad_mode import no_grad
from .nn import LSTM

__all__ = ["DEFAULT_CASES", "parse_cases", "run_bench", "time_cases"]

DEFAULT_CASES = [(50, 32, 128), (100, 64, 256), (25, 16, 512), (200, 1, 64)]


def parse_cases(text):
    """'T,B,H;T,B,H' → [(T, B, H), ...]; None → the default cases."""
    if not text:
        return list(DEFAULT_CASES)
    cases = []
    for part in text.split(";"):
        values = part.split(",")
        if len(values) != 3 or not all(v.strip().isdigit() and int(v) > 0 for v in values):
            raise ValueError(f"--cases wants T,B,H triples of positive ints separated by ';', "
                             f"got {part!r}")
        cases.append(tuple(int(v) for v in values))
    return cases


def _nplstm_runner(T, B, H, dtype, seed=0):
    rng = np.random.default_rng(seed)
    lstm = LSTM(H, H, dtype=dtype, seed=seed)
    x = rng.standard_normal((T, B, H)).astype(dtype)
    R = rng.standard_normal((T, B, H)).astype(dtype)

    def train_step():
        out, _ = lstm(x)
        lstm.backward(R)

    def infer_step():
        with no_grad():
            lstm(x)

    return lstm, train_step, infer_step


def _torch_runner(torch, lstm, T, B, H, dtype):
    """torch.nn.LSTM with nplstm's weights, on the same input."""
    tdtype = getattr(torch, np.dtype(dtype).name)
    m = torch.nn.LSTM(H, H).to(tdtype)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in lstm.state_dict().items()})
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((T, B, H)).astype(dtype)).requires_grad_(True)
    R = torch.from_numpy(rng.standard_normal((T, B, H)).astype(dtype))

    def train_step():
        out, _ = m(x)
        out.backward(R)
        x.grad = None
        m.zero_grad(set_to_none=True)

    def infer_step():
        with torch.no_grad():
            m(x)

    return train_step, infer_step


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_cases(cases, repeats=7, dtype="float32", torch=None, warmup=2):
    """Medians and ratio spreads per case and mode; torch=None times nplstm alone."""
    rows = []
    for T, B, H in cases:
        lstm, np_train, np_infer = _nplstm_runner(T, B, H, dtype)
        runners = {"fwd+bwd": [np_train], "forward": [np_infer]}
        if torch is not None:
            t_train, t_infer = _torch_runner(torch, lstm, T, B, H, dtype)
            runners["fwd+bwd"].append(t_train)
            runners["forward"].append(t_infer)
        for mode, fns in runners.items():
            for _ in range(warmup):
                for fn in fns:
                    fn()
            times = [[] for _ in fns]
            for _ in range(repeats):                      # interleaved rounds
                for k, fn in enumerate(fns):
                    times[k].append(_time(fn))
            row = {"T": T, "B": B, "H": H, "mode": mode,
                   "nplstm_ms": 1e3 * statistics.median(times[0])}
            if torch is not None:
                ratios = sorted(a / b for a, b in zip(times[0], times[1]))
                q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
                row.update(torch_ms=1e3 * statistics.median(times[1]),
                           ratio=statistics.median(ratios), ratio_q1=q[0], ratio_q3=q[-1])
            rows.append(row)
    return rows


def _limit_threads(threads):
    """Limit NumPy's BLAS to ``threads``; returns a description of what was limited."""
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:
        return None, "BLAS threads not limited (pip install threadpoolctl)"
    limiter = threadpool_limits(limits=threads, user_api="blas")
    return limiter, f"BLAS limited to {threads} thread(s) by threadpoolctl"


def run_bench(cases, threads=None, repeats=7, dtype="float32") -> int:
    """Print the table; returns 0."""
    threads = threads or os.cpu_count() or 1
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        torch = None
    limiter, blas_note = _limit_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"nplstm bench: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; numpy {np.__version__}; "
          f"torch {torch.__version__ if torch else 'not installed (nplstm times only)'}")
    print(f"threads: {threads} for torch; {blas_note}; dtype {dtype}; "
          f"median of {repeats} interleaved rounds")
    rows = time_cases(cases, repeats=repeats, dtype=dtype, torch=torch)
    print(format_table(rows))
    if limiter is not None:
        limiter.restore_original_limits()
    return 0


def format_table(rows) -> str:
    has_torch = rows and "torch_ms" in rows[0]
    header = ["T", "B", "H=I", "mode", "nplstm ms"]
    if has_torch:
        header += ["torch ms", "nplstm/torch", "spread (IQR)"]
    lines = [header]
    for r in rows:
        line = [str(r["T"]), str(r["B"]), str(r["H"]), r["mode"], f"{r['nplstm_ms']:.2f}"]
        if has_torch:
            line += [f"{r['torch_ms']:.2f}", f"{r['ratio']:.2f}x",
                     f"{r['ratio_q1']:.2f}-{r['ratio_q3']:.2f}"]
        lines.append(line)
    widths = [max(len(row[k]) for row in lines) for k in range(len(header))]
    out = ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)
