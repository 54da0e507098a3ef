"""Time nplstm.LSTM against torch.nn.LSTM on the CPU, side by side (``nplstm bench``), and
nplstm.GRU against torch.nn.GRU the same way (``cells``).

Each case (T, B, H = I) is timed as fwd+bwd (forward, then the backward of sum(output ⊙ R)
for a fixed random R; torch also computes dx, as nplstm does) and as forward-only
(``no_grad``), against torch twice: as shipped (oneDNN) and with oneDNN disabled
(``torch.backends.mkldnn.flags(enabled=False)``, the floor).  Method (the machine may be
shared):
- the runners are interleaved round by round, so a burst of load hits all of them; a round
  where any runner took more than 1.5× its own median is *disturbed* and discarded (at
  most half of them, the slowest first); the table gives medians over the kept rounds, the
  median of the per-round ratios and their interquartile range (the spread);
- each runner (nplstm, torch, torch without oneDNN) lives in its own worker process, started
  with OMP/OPENBLAS/MKL_NUM_THREADS = N set before numpy or torch loads (and
  ``torch.set_num_threads(N)``), for each N of ``--threads``; a call is timed inside its
  worker.  In one process the libraries' thread pools fight over the cores: OpenBLAS's
  worker spins ~0.1 s after each GEMM, and at N = 2 on 2 cores that slowed both sides
  (torch's forward at (50, 32, 128) 6.6 → 10.6 ms, nplstm's 10.6 → 16 ms);
- at N > 1 each call starts ``SETTLE_S`` after the previous runner's call ended (its
  spinning threads asleep); a call shorter than ``WARM_CALL_MAX_S`` is preceded by an
  untimed call of the same runner: each runner is timed as in a loop of its own;
- the GEMM roofline: the sustained GEMM rate (``gemm_rate``, N threads in the nplstm worker,
  best of ``GEMM_REPEATS`` square 2048 products) is measured before the first case and
  beside every case; the table uses the best rate of the run (one measured while something
  else ran is too low) and gives 48·T·B·H² / (time · rate) for fwd+bwd, the fraction of the
  time the LSTM's own GEMM FLOPs need; above 100% (a rate measured low) it is marked "!"
  and warned of;
- the header names NumPy's SIMD extensions found at run time, the BLAS and its kernel, and
  the per-element cost of float32 exp and tanh (``simd_extensions``, ``blas_name``,
  ``elementwise_ns``), which differ several-fold between machines (tanh: 0.54 against 3.2 ns).
Without ``--repeats`` each case gets rounds until a time budget is spent (1 to 15): a
quick look in under 2 minutes; the documented table uses ``--repeats 15``.

``runtime="onnxruntime"`` adds a fourth worker: the same LSTM through
``nplstm.interop.compile_onnxruntime(lstm, threads=N)``, timed in the forward mode and the
streaming mode ("step": T calls of one step each, T = 1 and the case's B, carrying the
state, as a step-by-step inference loop does; the table gives the time per step).

``cells=("lstm", "gru")`` times both cells in the same interleaved rounds (a worker per runner
and cell), so that a burst of load hits both cells' ratios alike; each row names its cell.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
import warnings

import numpy as np

from ..nn.module import no_grad
from ..interop import compile_onnxruntime
from ..nn import GRU, LSTM
from .table import make_row

__all__ = ["DEFAULT_CASES", "STREAM_CASES", "time_cases", "RUNNERS", "RUNTIMES", "MODES", "CELLS",
           "THREAD_VARIABLES", "CASE_BUDGET_S", "MIN_ROUNDS", "MAX_ROUNDS", "SETTLE_S",
           "WARM_CALL_MAX_S", "GEMM_REPEATS", "gemm_rate", "simd_extensions", "elementwise_ns",
           "blas_name", "torch_version"]

DEFAULT_CASES = [(50, 32, 128), (100, 64, 256), (25, 16, 512), (100, 128, 1024),
                 (200, 1, 64), (500, 8, 128)]
CASE_BUDGET_S = 1.5      # default: rounds per case and mode until this many seconds are spent
MIN_ROUNDS, MAX_ROUNDS = 1, 15   # default run: a quick look; the docs' table uses --repeats 15
SETTLE_S = 0.15          # pause between runners at N > 1: OpenBLAS's workers spin ~0.11 s
WARM_CALL_MAX_S = 0.5    # calls shorter than this are preceded by an untimed call
RUNNERS = ("nplstm", "torch", "torch-noDNN")
RUNTIMES = ("onnxruntime",)     # optional extra runners: forward and step modes only
MODES = ("fwd+bwd", "forward", "step")
STREAM_CASES = [(100, 1, 64), (100, 1, 256), (100, 1, 1024)]   # T steps of one call each
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
GEMM_REPEATS = 3         # square 2048 GEMMs per rate measurement (before and beside each case)
CELLS = {"lstm": LSTM, "gru": GRU}      # nplstm's module of each cell (torch.nn's: same name)


def _nplstm_runner(T, B, H, dtype, seed=0, cell="lstm"):
    rng = np.random.default_rng(seed)
    lstm = CELLS[cell](H, H, dtype=dtype, seed=seed)
    x = rng.standard_normal((T, B, H)).astype(dtype)
    R = rng.standard_normal((T, B, H)).astype(dtype)

    def train_step():
        lstm(x)
        lstm.backward(R)

    def infer_step():
        with no_grad():
            lstm(x)

    return lstm, {"fwd+bwd": train_step, "forward": infer_step,
                  "step": _stream(lambda xt, state: lstm(xt, state), x, no_grad)}


def _stream(forward, x, context):
    """T calls of ``forward`` on one step each (x[t:t+1], (1, B, I)), carrying the state."""
    steps = [x[t:t + 1] for t in range(x.shape[0])]

    def stream():
        state = None
        with context():
            for xt in steps:
                _, state = forward(xt, state)

    return stream


def _onnxruntime_runner(lstm, T, B, H, dtype, threads):
    """nplstm's LSTM compiled for onnxruntime (its intra-op threads = ``threads``)."""
    fast = compile_onnxruntime(lstm, threads=threads)
    x = np.random.default_rng(1).standard_normal((T, B, H)).astype(dtype)
    return {"forward": lambda: fast(x), "step": _stream(fast, x, contextlib.nullcontext)}


def _torch_runner(torch, lstm, T, B, H, dtype, onednn=True, cell="lstm"):
    """torch.nn.LSTM (GRU) with nplstm's weights, on the same input; oneDNN on or off."""
    tdtype = getattr(torch, np.dtype(dtype).name)
    m = getattr(torch.nn, cell.upper())(H, H).to(tdtype)
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

    def stream_context():
        with flags(), torch.no_grad():
            yield

    return {"fwd+bwd": train_step, "forward": infer_step,
            "step": _stream(m, x.detach(), contextlib.contextmanager(stream_context))}


def _serve(kind, threads, dtype, conn, cell="lstm"):
    """A worker process's loop: build one runner per case, time single calls on request.

    Messages: ("ready",) → None once the imports are done; ("case", T, B, H) → None;
    ("run", mode, warm) → seconds of one call of that mode (timed here, so the pipe is not
    counted), after one untimed call if ``warm``; ("gemm_rate",) → FLOP/s; ("stop",).
    Any exception is sent back (and re-raised by the parent)."""
    torch = None
    if kind in RUNNERS[1:]:
        import torch  # noqa: PLC0415
        torch.set_num_threads(threads)
        # torch warns about TF32 on Intel GPUs whenever the oneDNN flags are set
        warnings.filterwarnings("ignore", message="TF32 acceleration")
    runners = {}
    while True:
        message = conn.recv()
        try:
            if message[0] == "stop":
                return
            if message[0] == "ready":
                reply = None
            elif message[0] == "case":
                T, B, H = message[1:]
                runners = {}                  # the previous case's arrays freed first
                lstm, runners = _nplstm_runner(T, B, H, dtype, cell=cell)
                if torch is not None:
                    runners = _torch_runner(torch, lstm, T, B, H, dtype,
                                            onednn=kind == "torch", cell=cell)
                elif kind == "onnxruntime":
                    runners = _onnxruntime_runner(lstm, T, B, H, dtype, threads)
                reply = None
            elif message[0] == "run":
                _, mode, warm = message
                if warm:
                    runners[mode]()
                reply = _time(runners[mode])
            elif message[0] == "gemm_rate":
                reply = gemm_rate(dtype)
            else:
                raise ValueError(f"unknown message {message!r}")
        except Exception as error:  # noqa: BLE001 - sent to the parent, which raises it
            reply = error
        conn.send(reply)


class _Worker:
    """One runner in its own process, started with its thread variables set to ``threads``
    (they must be set before numpy and torch load: the spawned child reads them then)."""

    def __init__(self, kind, threads, dtype, cell="lstm"):
        context = multiprocessing.get_context("spawn")
        self.kind, self.cell = kind, cell
        self.conn, child = context.Pipe()
        saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
        os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
        try:
            self.process = context.Process(target=_serve,
                                           args=(kind, threads, dtype, child, cell),
                                           daemon=True, name=f"nplstm-bench-{kind}-{cell}")
            self.process.start()
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        child.close()

    def call(self, *message):
        try:
            self.conn.send(message)
            reply = self.conn.recv()
        except (EOFError, OSError) as error:
            raise RuntimeError(
                f"the benchmark's {self.kind} worker process died (exit code "
                f"{self.process.exitcode}); a script that calls nplstm.bench must run it under "
                "`if __name__ == '__main__':` (worker processes are spawned, which re-imports "
                "the main module)") from error
        if isinstance(reply, Exception):
            raise reply
        return reply

    def close(self):
        with contextlib.suppress(OSError, EOFError):
            self.conn.send(("stop",))
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


@contextlib.contextmanager
def _workers(kinds, threads, dtype, cells=("lstm",)):
    """A worker per runner kind and cell, in the order cell by cell, kind by kind."""
    workers = [_Worker(kind, threads, dtype, cell) for cell in cells for kind in kinds]
    try:
        for worker in workers:                 # all started and imported before any timing
            worker.call("ready")
        yield workers
    finally:
        for worker in workers:
            worker.close()


def _interleave(workers, mode, repeats, warmup, budget_s, settle_s):
    """Per-worker lists of call times over interleaved rounds (the warm-up rounds dropped).

    repeats None: rounds until ``budget_s`` is spent, at least MIN_ROUNDS, at most MAX_ROUNDS.
    Each call starts ``settle_s`` after the previous one ended, and a call shorter than
    WARM_CALL_MAX_S is preceded by an untimed one of the same runner (after an idle pause
    or another process's work a short call runs from cold caches: 20–50% slower here).
    """
    last = [0.0] * len(workers)

    def call(k):
        time.sleep(settle_s)
        last[k] = workers[k].call("run", mode, last[k] < WARM_CALL_MAX_S)
        return last[k]

    for _ in range(warmup):
        for k in range(len(workers)):
            call(k)
    times = [[] for _ in workers]
    start = time.perf_counter()
    while len(times[0]) < (repeats or MAX_ROUNDS):
        if repeats is None and len(times[0]) >= MIN_ROUNDS and \
                time.perf_counter() - start > budget_s:
            break
        for k in range(len(workers)):
            times[k].append(call(k))
    return times


def time_cases(cases, repeats=None, dtype="float32", with_torch=False, threads=1, warmup=1,
               roofline=False, budget_s=CASE_BUDGET_S, settle_s=None, runtime=None,
               modes=MODES[:2], cells=("lstm",)):
    """Rows of medians, ratios and spreads per case, mode and cell (nplstm alone without
    torch).

    repeats None: rounds until ``budget_s`` is spent (1 to 15); roofline: measure the GEMM
    rate (in the nplstm worker) for the roofline column; settle_s None: SETTLE_S at
    threads > 1, else 0; runtime None or "onnxruntime": a column for that runtime in the
    forward and step modes (the LSTM only); modes: a subset of MODES, in that order; cells:
    "lstm" and/or "gru", timed in the same rounds (the rows of a case: cell by cell).
    """
    if runtime is not None and runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES} or None, got {runtime!r}")
    if not modes or any(mode not in MODES for mode in modes):
        raise ValueError(f"modes must be a non-empty subset of {MODES}, got {modes!r}")
    if not cells or len(set(cells)) != len(cells) or any(c not in CELLS for c in cells) \
            or (runtime is not None and tuple(cells) != ("lstm",)):
        raise ValueError(f"cells must be distinct names of {tuple(CELLS)} (only ('lstm',) "
                         f"with a runtime), got {cells!r}")
    kinds = (RUNNERS if with_torch else RUNNERS[:1]) + ((runtime,) if runtime else ())
    settle_s = (SETTLE_S if threads > 1 else 0.0) if settle_s is None else settle_s
    rates = []                       # GEMM rate measurements: before the first case, then
    timed = []                       # beside every case; the rows use the best of them all
    with _workers(kinds, threads, dtype, cells) as workers:
        for T, B, H in cases:
            if roofline:
                rates.append(workers[0].call("gemm_rate"))
            for worker in workers:
                worker.call("case", T, B, H)
            for k, mode in enumerate(modes):
                # the warm-up rounds (first touches of the case's memory, caches) before the
                # case's first mode only: the forward reuses what fwd+bwd just warmed
                timing = [w for w in workers if mode != "fwd+bwd" or w.kind in RUNNERS]
                times = _interleave(timing, mode, repeats, warmup if k == 0 else 0,
                                    budget_s, settle_s)
                for cell in cells:
                    mine = [t for w, t in zip(timing, times) if w.cell == cell]
                    extra = mine[len(RUNNERS):] if with_torch else mine[1:]
                    timed.append((T, B, H, mode, mine[:len(mine) - len(extra)],
                                  extra[0] if extra else None, cell))
        if roofline:
            rates.append(workers[0].call("gemm_rate"))
    rate = max(rates) if rates else None
    return [make_row(*entry[:5], rate, runtime=entry[5], cell=entry[6])
            for entry in timed], rate


# -- the machine: GEMM rate, SIMD, BLAS, per-element costs ----------------------------------

def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gemm_rate(dtype="float32", n=2048, repeats=GEMM_REPEATS) -> float:
    """Sustained GEMM rate of NumPy's BLAS in FLOP/s: best of ``repeats`` n×n×n products."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=out)                                         # warm-up
    best = min(_time(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2.0 * n ** 3 / best


def simd_extensions() -> str:
    """The SIMD extensions NumPy found on this CPU at run time, as ``np.show_runtime()``
    lists them: its compiled-in baseline, and the dispatch targets found and not found."""
    try:
        from numpy._core import _multiarray_umath as umath  # noqa: PLC0415  (NumPy 2)
    except ImportError:
        try:
            from numpy.core import _multiarray_umath as umath  # noqa: PLC0415  (NumPy 1)
        except ImportError:
            return "unknown"
    found = getattr(umath, "__cpu_features__", {})
    baseline = getattr(umath, "__cpu_baseline__", [])
    dispatch = getattr(umath, "__cpu_dispatch__", [])
    present = [name for name in dispatch if found.get(name)]
    missing = [name for name in dispatch if not found.get(name)]
    return (f"baseline {' '.join(baseline) or 'none'}; found {' '.join(present) or 'none'}"
            + (f"; not found {' '.join(missing)}" if missing else ""))


def elementwise_ns(dtype="float32", n=1 << 20, repeats=5) -> dict:
    """Nanoseconds per element of NumPy's exp and tanh on ``n`` values, best of ``repeats``."""
    x = np.random.default_rng(0).uniform(-4, 4, n).astype(dtype)
    out = np.empty_like(x)
    costs = {}
    for name, ufunc in (("exp", np.exp), ("tanh", np.tanh)):
        ufunc(x, out=out)                                            # warm-up
        costs[name] = 1e9 * min(_time(lambda: ufunc(x, out=out)) for _ in range(repeats)) / n
    return costs


def blas_name():
    """NumPy's BLAS, its version and the kernel it runs (OpenBLAS's core type)."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            return ", ".join(f"{i.get('internal_api')} {i.get('version')}, kernel "
                             f"{i.get('architecture')}" for i in info)
    try:        # the build's record names the library, not the kernel chosen at run time
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - an older NumPy: no machine-readable config
        name = "BLAS"
    return f"{name}, kernel unknown (pip install threadpoolctl to see it)"


def torch_version():
    """torch's version without importing it here (the workers do), or None."""
    from importlib import metadata  # noqa: PLC0415
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
