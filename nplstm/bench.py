"""Time nplstm.LSTM against torch.nn.LSTM on the CPU, side by side (``nplstm bench``).

Each case (T, B, H = I) is timed as fwd+bwd (forward, then the backward of sum(output ⊙ R)
for a fixed random R; torch also computes dx, as nplstm does) and as forward-only
(``nplstm.no_grad()`` / ``torch.no_grad()``), against torch twice: as shipped (oneDNN) and
with oneDNN disabled (``torch.backends.mkldnn.flags(enabled=False)``, the floor).

Method (the machine may be shared):
- the runners are interleaved round by round, so a burst of load hits all of them;
- a round is *disturbed*, and discarded, when any runner took more than 1.5× its own
  median over all rounds (at most half of the rounds are discarded: the slowest first);
- the table gives medians over the kept rounds, the median of the per-round ratios and
  their interquartile range (the spread);
- torch runs on N threads (``torch.set_num_threads``), NumPy's BLAS on the same N
  (threadpoolctl), for each N of ``--threads``;
- the GEMM roofline: this machine's sustained float32 GEMM rate is measured in the same run
  (a square 2048 GEMM, best of 5, at N threads) and the fwd+bwd column gives
  48·T·B·H² / (time · rate), the fraction of the time the LSTM's own GEMM FLOPs need.
Without ``--repeats`` each case gets rounds until a time budget is spent (2 to 15): a
quick look in under 2 minutes; the documented table uses ``--repeats 15``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
import warnings

import numpy as np

from .grad_mode import no_grad
from .nn import LSTM

__all__ = ["DEFAULT_CASES", "parse_cases", "parse_threads", "run_bench", "time_cases",
           "gemm_rate", "format_table"]

DEFAULT_CASES = [(50, 32, 128), (100, 64, 256), (25, 16, 512), (100, 128, 1024),
                 (200, 1, 64), (500, 8, 128)]
DISTURBED = 1.5          # a round slower than this × a runner's median is discarded
CASE_BUDGET_S = 3.0      # default: rounds per case and mode until this many seconds are spent
MIN_ROUNDS, MAX_ROUNDS = 2, 15   # default run: a quick look; the docs' table uses --repeats 15


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


def parse_threads(text):
    """'2,1' → [2, 1]; None → [all cores]."""
    if not text:
        return [os.cpu_count() or 1]
    values = [v.strip() for v in str(text).split(",")]
    if not all(v.isdigit() and int(v) > 0 for v in values):
        raise ValueError(f"--threads wants positive ints separated by ',', got {text!r}")
    return [int(v) for v in values]


def _nplstm_runner(T, B, H, dtype, seed=0):
    rng = np.random.default_rng(seed)
    lstm = LSTM(H, H, dtype=dtype, seed=seed)
    x = rng.standard_normal((T, B, H)).astype(dtype)
    R = rng.standard_normal((T, B, H)).astype(dtype)

    def train_step():
        lstm(x)
        lstm.backward(R)

    def infer_step():
        with no_grad():
            lstm(x)

    return lstm, train_step, infer_step


def _torch_runner(torch, lstm, T, B, H, dtype, onednn=True):
    """torch.nn.LSTM with nplstm's weights, on the same input; oneDNN on or off."""
    tdtype = getattr(torch, np.dtype(dtype).name)
    m = torch.nn.LSTM(H, H).to(tdtype)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in lstm.state_dict().items()})
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((T, B, H)).astype(dtype)).requires_grad_(True)
    R = torch.from_numpy(rng.standard_normal((T, B, H)).astype(dtype))
    flags = (contextlib.nullcontext if onednn
             else lambda: torch.backends.mkldnn.flags(enabled=False))

    def train_step():
        with flags():
            out, _ = m(x)
            out.backward(R)
        x.grad = None
        m.zero_grad(set_to_none=True)

    def infer_step():
        with flags(), torch.no_grad():
            m(x)

    return train_step, infer_step


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gemm_rate(dtype="float32", n=2048, repeats=5) -> float:
    """Sustained GEMM rate of NumPy's BLAS in FLOP/s: best of ``repeats`` n×n×n products."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=out)                                         # warm-up
    best = min(_time(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2.0 * n ** 3 / best


def _interleave(fns, repeats, warmup, budget_s):
    """Per-runner lists of times over interleaved rounds (the warm-up rounds dropped).

    repeats None: rounds until ``budget_s`` is spent, at least MIN_ROUNDS, at most MAX_ROUNDS.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < (repeats or MAX_ROUNDS):
        if repeats is None and len(times[0]) >= MIN_ROUNDS and \
                time.perf_counter() - start > budget_s:
            break
        for k, fn in enumerate(fns):
            times[k].append(_time(fn))
    return times


def _undisturbed(times):
    """Indices of the rounds kept: no runner above DISTURBED × its median (≥ half kept)."""
    rounds = len(times[0])
    medians = [statistics.median(t) for t in times]
    worst = [max(t[r] / m for t, m in zip(times, medians)) for r in range(rounds)]
    kept = [r for r in range(rounds) if worst[r] <= DISTURBED]
    if len(kept) < (rounds + 1) // 2:                        # keep the calmest half
        kept = sorted(sorted(range(rounds), key=worst.__getitem__)[:(rounds + 1) // 2])
    return kept


def _ratio_stats(a, b):
    """Median and interquartile range of the per-round ratios a / b."""
    ratios = sorted(x / y for x, y in zip(a, b))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return statistics.median(ratios), q[0], q[-1]


def time_cases(cases, repeats=None, dtype="float32", torch=None, warmup=1, rate=None,
               budget_s=CASE_BUDGET_S):
    """Rows of medians, ratios and spreads per case and mode; torch=None times nplstm alone.

    repeats None: rounds until ``budget_s`` is spent (2 to 15); rate: the GEMM rate in
    FLOP/s for the roofline column (None: no column).
    """
    rows = []
    for T, B, H in cases:
        lstm, np_train, np_infer = _nplstm_runner(T, B, H, dtype)
        runners = {"fwd+bwd": [np_train], "forward": [np_infer]}
        if torch is not None:
            for onednn in (True, False):
                t_train, t_infer = _torch_runner(torch, lstm, T, B, H, dtype, onednn)
                runners["fwd+bwd"].append(t_train)
                runners["forward"].append(t_infer)
        for mode, fns in runners.items():
            times = _interleave(fns, repeats, warmup, budget_s)
            kept = _undisturbed(times)
            row = {"T": T, "B": B, "H": H, "mode": mode,
                   "rounds": f"{len(kept)}/{len(times[0])}"}
            times = [[t[r] for r in kept] for t in times]
            row["nplstm_ms"] = 1e3 * statistics.median(times[0])
            if rate is not None and mode == "fwd+bwd":
                flops = 48.0 * T * B * H * H             # the LSTM's GEMMs, fwd+bwd, I = H
                row["roofline"] = flops / (statistics.median(times[0]) * rate)
                if torch is not None:
                    row["torch_roofline"] = flops / (statistics.median(times[1]) * rate)
            if torch is not None:
                ratio, q1, q3 = _ratio_stats(times[0], times[1])
                floor, _, _ = _ratio_stats(times[0], times[2])
                row.update(torch_ms=1e3 * statistics.median(times[1]), ratio=ratio,
                           ratio_q1=q1, ratio_q3=q3,
                           floor_ms=1e3 * statistics.median(times[2]), floor_ratio=floor)
            rows.append(row)
    return rows


def _limit_threads(threads):
    """Limit NumPy's BLAS to ``threads``; returns (limiter or None, a description)."""
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415
    except ImportError:
        return None, "BLAS threads not limited (pip install threadpoolctl)"
    limiter = threadpool_limits(limits=threads, user_api="blas")
    return limiter, f"NumPy's BLAS limited to {threads} by threadpoolctl"


def _blas_name():
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415
    except ImportError:
        return "BLAS unknown"
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i.get('internal_api')} {i.get('version')} "
                     f"({i.get('architecture')})" for i in info) or "BLAS unknown"


def run_bench(cases, threads=None, repeats=None, dtype="float32") -> int:
    """Print one table per thread count; returns 0."""
    thread_counts = threads if isinstance(threads, list) else parse_threads(threads)
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        torch = None
        print("nplstm bench: torch is not installed, so nplstm is timed alone (no ratios); "
              "pip install 'nplstm[torch]' for the comparison with torch.nn.LSTM")
    print(f"nplstm bench: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; numpy {np.__version__} ({_blas_name()}); "
          f"torch {torch.__version__ if torch else 'not installed'}; dtype {dtype}")
    rounds = f"{repeats} rounds" if repeats else (
        f"{MIN_ROUNDS}-{MAX_ROUNDS} rounds (~{CASE_BUDGET_S:.0f} s per case and mode; "
        "--repeats 15 for a table to quote)")
    print(f"interleaved {rounds} after one warm-up round; rounds with a runner above "
          f"{DISTURBED}x its median discarded; spread = IQR of the per-round ratios")
    # torch warns about TF32 on Intel GPUs whenever the oneDNN flags are set: not ours to show
    warnings.filterwarnings("ignore", message="TF32 acceleration")
    for n in thread_counts:
        limiter, blas_note = _limit_threads(n)
        if torch is not None:
            torch.set_num_threads(n)
        rate = gemm_rate(dtype)
        print(f"\n## N = {n} thread(s): torch.set_num_threads({n}); {blas_note}; "
              f"sustained {dtype} GEMM {rate / 1e9:.1f} GFLOP/s (2048³, best of 5)\n")
        rows = time_cases(cases, repeats=repeats, dtype=dtype, torch=torch, rate=rate)
        print(format_table(rows), flush=True)
        if limiter is not None:
            limiter.restore_original_limits()
    if torch is not None:
        print("\nnplstm/torch: ratio to torch with oneDNN; vs no-oneDNN: ratio to torch with "
              "oneDNN disabled (the floor, < 1 required); roofline: 48·T·B·H² GEMM FLOPs / "
              "(time · GEMM rate), fwd+bwd only")
    return 0


def format_table(rows) -> str:
    """A Markdown table of ``time_cases`` rows."""
    has_torch = bool(rows) and "torch_ms" in rows[0]
    has_roof = any("roofline" in r for r in rows)
    header = ["T", "B", "H=I", "mode", "nplstm ms"]
    if has_torch:
        header += ["torch ms", "nplstm/torch", "spread (IQR)", "no-oneDNN ms", "vs no-oneDNN"]
    if has_roof:
        header += ["roofline nplstm"] + (["roofline torch"] if has_torch else [])
    header.append("rounds kept")
    lines = [header]
    for r in rows:
        line = [str(r["T"]), str(r["B"]), str(r["H"]), r["mode"], f"{r['nplstm_ms']:.2f}"]
        if has_torch:
            line += [f"{r['torch_ms']:.2f}", f"{r['ratio']:.2f}x",
                     f"{r['ratio_q1']:.2f}-{r['ratio_q3']:.2f}", f"{r['floor_ms']:.2f}",
                     f"{r['floor_ratio']:.2f}x"]
        if has_roof:
            roof = [r.get("roofline")] + ([r.get("torch_roofline")] if has_torch else [])
            line += ["" if v is None else f"{100 * v:.0f}%" for v in roof]
        line.append(r["rounds"])
        lines.append(line)
    widths = [max(len(row[k]) for row in lines) for k in range(len(header))]
    out = ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |" for row in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)
