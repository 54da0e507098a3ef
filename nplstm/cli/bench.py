"""``nplstm bench``: time nplstm.LSTM against torch.nn.LSTM (``--cell gru``: nplstm.GRU against
torch.nn.GRU; ``--cell lstm,gru``: both in the same rounds) and print the tables (the
harness: nplstm/benchmark)."""

from __future__ import annotations

import importlib.util
import os
import platform

import numpy as np

from ..benchmark.timing import (CASE_BUDGET_S, CELLS, DEFAULT_CASES, GEMM_REPEATS, MAX_ROUNDS,
                                MIN_ROUNDS, SETTLE_S, STREAM_CASES, THREAD_VARIABLES,
                                blas_name, elementwise_ns, simd_extensions, time_cases,
                                torch_version)
from ..benchmark.table import (DISTURBED, SAME_RATIO, format_cell_comparison,
                               format_stream_table, format_table, roofline_warnings)

__all__ = ["parse_cases", "parse_threads", "parse_cells", "check_runtime", "run_bench"]


# the largest case timed: its LSTMs' memory (gates T·B·4H, weights 4H·2H) stays ~1 GiB
MAX_HIDDEN = 4096
MAX_CASE_ELEMENTS = 2**25        # T·B·H
MAX_THREADS = 1024               # as compile_onnxruntime's threads (more only exhaust a machine)


def parse_cases(text):
    """'T,B,H;T,B,H' → [(T, B, H), ...]; None → the default cases."""
    if text is None:
        return list(DEFAULT_CASES)
    cases = []
    for part in text.split(";"):
        values = part.split(",")
        if len(values) != 3 or not all(v.strip().isdigit() and int(v) > 0 for v in values):
            raise ValueError(f"--cases wants T,B,H triples of positive ints separated by ';', "
                             f"got {part[:60]!r}")
        T, B, H = (int(v) for v in values)
        if H > MAX_HIDDEN or T * B * H > MAX_CASE_ELEMENTS:
            raise ValueError(f"--cases wants H <= {MAX_HIDDEN} and T*B*H <= "
                             f"{MAX_CASE_ELEMENTS} (about 1 GiB per LSTM), got {part[:60]!r}")
        cases.append((T, B, H))
    return cases


def parse_threads(text):
    """'2,1' → [2, 1]; None → [all cores]."""
    if text is None:
        return [os.cpu_count() or 1]
    values = [v.strip() for v in str(text).split(",")]
    if not all(v.isdigit() and 0 < int(v) <= MAX_THREADS for v in values):
        raise ValueError(f"--threads wants ints in [1, {MAX_THREADS}] separated by ',', "
                         f"got {str(text)[:60]!r}")
    return [int(v) for v in values]


def parse_cells(text):
    """'lstm,gru' → ("lstm", "gru"); None → ("lstm",)."""
    if text is None:
        return ("lstm",)
    cells = tuple(v.strip() for v in str(text).split(","))
    if not all(c in CELLS for c in cells) or len(set(cells)) != len(cells):
        raise ValueError(f"--cell wants lstm, gru or lstm,gru, got {str(text)[:60]!r}")
    return cells


def check_runtime(runtime, dtype, cells=("lstm",)) -> None:
    """``--runtime onnxruntime`` needs onnxruntime installed, float32 and the LSTM alone
    (ValueError)."""
    if runtime is None:
        return
    if tuple(cells) != ("lstm",):
        raise ValueError(f"--runtime onnxruntime times the LSTM only, got --cell "
                         f"{','.join(cells)}")
    if importlib.util.find_spec("onnxruntime") is None:
        raise ValueError("--runtime onnxruntime needs the onnxruntime package: "
                         "pip install 'nplstm[onnx]'")
    if dtype != "float32":
        raise ValueError(f"--runtime onnxruntime times float32 (onnxruntime's LSTM runs "
                         f"float32 only), got --dtype {dtype}")


def run_bench(cases, threads=None, repeats=None, dtype="float32", runtime=None,
              forward_only=False, cells=("lstm",)) -> int:
    """Print one table per thread count (and, with ``runtime``, a streaming table after
    each; with both cells, the comparison of their ratios); ``forward_only`` skips the
    fwd+bwd rows.  Returns 0."""
    thread_counts = threads if isinstance(threads, list) else parse_threads(threads)
    installed_torch = torch_version()
    if installed_torch is None:
        print("nplstm bench: torch is not installed, so nplstm is timed alone (no ratios); "
              "pip install 'nplstm[torch]' for the comparison with torch.nn.LSTM and GRU")
    print(f"nplstm bench: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores; numpy {np.__version__} ({blas_name()}); "
          f"torch {installed_torch or 'not installed'}; dtype {dtype}; "
          f"cell{'s' if len(cells) > 1 else ''} {', '.join(cells)}"
          + (f"; onnxruntime {_onnxruntime_version()}" if runtime else ""))
    costs = elementwise_ns(dtype)
    print(f"SIMD found by NumPy: {simd_extensions()}; {dtype} exp {costs['exp']:.2f} ns, "
          f"tanh {costs['tanh']:.2f} ns per element (one thread)")
    rounds = f"{repeats} rounds" if repeats else (
        f"{MIN_ROUNDS}-{MAX_ROUNDS} rounds (~{CASE_BUDGET_S:g} s per case and mode; "
        "--repeats 15 for a table to quote)")
    print(f"each runner in its own process; interleaved {rounds} after one warm-up round "
          f"per case, {SETTLE_S} s apart at N > 1; rounds with a runner above {DISTURBED}x "
          "its median discarded; spread = IQR of the per-round ratios")
    for n in thread_counts:
        rows, rate = time_cases(cases, repeats=repeats, dtype=dtype,
                                with_torch=installed_torch is not None, threads=n,
                                roofline=True, runtime=runtime, cells=cells,
                                modes=("forward",) if forward_only else ("fwd+bwd", "forward"))
        print(f"\n## N = {n} thread(s): {', '.join(THREAD_VARIABLES)} = {n} in every worker"
              f"{f', torch.set_num_threads({n})' if installed_torch else ''}"
              f"{f', onnxruntime intra_op_num_threads = {n}' if runtime else ''}; sustained "
              f"{dtype} GEMM {rate / 1e9:.1f} GFLOP/s (2048³, the best of {GEMM_REPEATS} "
              f"before and beside every case)\n")
        print(format_table(rows), flush=True)
        for line in roofline_warnings(rows):
            print(line, flush=True)
        if len(cells) > 1 and installed_torch is not None:
            print(f"\nthe cells' ratios at N = {n} (GRU ÷ LSTM ≤ {SAME_RATIO:.2f}: the GRU "
                  "reaches the LSTM's ratio within 10%)\n")
            print(format_cell_comparison(rows), flush=True)
        if runtime:
            stream, _ = time_cases(STREAM_CASES, repeats=repeats, dtype=dtype,
                                   with_torch=installed_torch is not None, threads=n,
                                   runtime=runtime, modes=("step",))
            print(f"\nstreaming at N = {n}: T calls of one step each (x (1, B, H), the "
                  "state carried from call to call), time per step\n")
            print(format_stream_table(stream), flush=True)
    if runtime:
        print("\nonnxruntime: the same LSTM through nplstm.interop.compile_onnxruntime "
              "(forward and streaming only: it has no backward)")
    if installed_torch is not None:
        print("\nnplstm/torch: ratio to torch with oneDNN; vs no-oneDNN: ratio to torch with "
              "oneDNN disabled (the floor, < 1 required); roofline: 12·G·T·B·H² GEMM FLOPs "
              "(G = 4 gate blocks for the LSTM: 48·T·B·H²; 3 for the GRU) / (time · GEMM "
              "rate), fwd+bwd only")
    return 0


def _onnxruntime_version() -> str:
    import onnxruntime  # noqa: PLC0415  (checked installed by check_runtime)

    return onnxruntime.__version__
