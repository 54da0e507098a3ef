"""The benchmark's table: medians, ratios and spreads per case, the roofline, Markdown."""

from __future__ import annotations

import statistics

from ..checks import format_table as aligned_lines

__all__ = ["DISTURBED", "make_row", "format_table", "format_stream_table", "roofline_warnings",
           "format_cell_comparison", "GATE_BLOCKS", "SAME_RATIO"]

DISTURBED = 1.5          # a round slower than this × a runner's median is discarded
GATE_BLOCKS = {"lstm": 4, "gru": 3}      # G: the gate blocks of W_ih, W_hh (G·H rows each)
SAME_RATIO = 1.10        # the GRU's nplstm/torch within 10% of the LSTM's (issue 25's goal)


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


def make_row(T, B, H, mode, times, rate, runtime=None, cell="lstm"):
    """One table row from the per-runner times (nplstm, then torch, torch without oneDNN),
    and ``runtime``'s (onnxruntime's), timed in the same rounds, or None.  In the "step"
    mode a call is T steps: the times are per step.  ``cell``: "lstm" or "gru" (the row's
    "cell"; its GEMM FLOPs for the roofline)."""
    if mode == "step":
        times = [[t / T for t in ts] for ts in times]
        runtime = None if runtime is None else [t / T for t in runtime]
    everyone = times + ([runtime] if runtime is not None else [])
    kept = _undisturbed(everyone)
    row = {"T": T, "B": B, "H": H, "mode": mode, "cell": cell,
           "rounds": f"{len(kept)}/{len(times[0])}"}
    if runtime is not None:
        runtime = [runtime[r] for r in kept]
    times = [[t[r] for r in kept] for t in times]
    row["nplstm_ms"] = 1e3 * statistics.median(times[0])
    with_torch = len(times) > 1
    if rate is not None and mode == "fwd+bwd":
        # the GEMMs of fwd+bwd at I = H: x W_ihᵀ and h W_hhᵀ forward (2 · 2·G·H² per row and
        # step), their three products backward (dx, dW_ih; dh, dW_hh: twice that): 12·G·T·B·H²
        flops = 12.0 * GATE_BLOCKS[cell] * T * B * H * H     # 48·T·B·H² for the LSTM
        row["roofline"] = flops / (statistics.median(times[0]) * rate)
        if with_torch:
            row["torch_roofline"] = flops / (statistics.median(times[1]) * rate)
    if with_torch:
        ratio, q1, q3 = _ratio_stats(times[0], times[1])
        floor, _, _ = _ratio_stats(times[0], times[2])
        row.update(torch_ms=1e3 * statistics.median(times[1]), ratio=ratio,
                   ratio_q1=q1, ratio_q3=q3,
                   floor_ms=1e3 * statistics.median(times[2]), floor_ratio=floor)
    if runtime is not None:
        row["ort_ms"] = 1e3 * statistics.median(runtime)
        row["nplstm_ort"], _, _ = _ratio_stats(times[0], runtime)
        if with_torch:
            row["ort_ratio"], row["ort_q1"], row["ort_q3"] = _ratio_stats(runtime, times[1])
    return row


def format_table(rows) -> str:
    """A Markdown table of ``time_cases`` rows."""
    has_torch = bool(rows) and "torch_ms" in rows[0]
    has_roof = any("roofline" in r for r in rows)
    has_ort = any("ort_ms" in r for r in rows)
    has_cells = any(r.get("cell", "lstm") != "lstm" for r in rows)
    header = ["T", "B", "H=I", "mode"] + (["cell"] if has_cells else []) + ["nplstm ms"]
    if has_torch:
        header += ["torch ms", "nplstm/torch", "spread (IQR)", "no-oneDNN ms", "vs no-oneDNN"]
    if has_ort:
        header += ["onnxruntime ms"] + (["onnxruntime/torch", "spread (IQR)"] if has_torch
                                        else []) + ["nplstm/onnxruntime"]
    if has_roof:
        header += ["roofline nplstm"] + (["roofline torch"] if has_torch else [])
    header.append("rounds kept")
    lines = [header]
    for r in rows:
        line = [str(r["T"]), str(r["B"]), str(r["H"]), r["mode"]] + \
            ([r.get("cell", "lstm")] if has_cells else []) + [f"{r['nplstm_ms']:.2f}"]
        if has_torch:
            line += [f"{r['torch_ms']:.2f}", f"{r['ratio']:.2f}x",
                     f"{r['ratio_q1']:.2f}-{r['ratio_q3']:.2f}", f"{r['floor_ms']:.2f}",
                     f"{r['floor_ratio']:.2f}x"]
        if has_ort:
            line += _ort_cells(r, has_torch)
        if has_roof:
            roof = [r.get("roofline")] + ([r.get("torch_roofline")] if has_torch else [])
            # above 100% is impossible (a GEMM rate measured too low): marked, and warned of
            line += ["" if v is None else f"{100 * v:.0f}%" + ("!" if v > 1.0 else "")
                     for v in roof]
        line.append(r["rounds"])
        lines.append(line)
    return "\n".join(aligned_lines(lines, markdown=True))


def _ort_cells(r, has_torch):
    """The onnxruntime columns of one row (blank where it was not timed: fwd+bwd)."""
    if "ort_ms" not in r:
        return [""] * (4 if has_torch else 2)
    ratios = [f"{r['ort_ratio']:.2f}x", f"{r['ort_q1']:.2f}-{r['ort_q3']:.2f}"] \
        if has_torch else []
    return [f"{r['ort_ms']:.2f}", *ratios, f"{r['nplstm_ort']:.2f}x"]


def format_stream_table(rows) -> str:
    """A Markdown table of "step" rows: microseconds per step of T = 1 calls."""
    has_torch = bool(rows) and "torch_ms" in rows[0]
    has_ort = any("ort_ms" in r for r in rows)
    header = ["B", "H=I", "steps", "nplstm µs/step"]
    header += ["torch µs/step", "nplstm/torch", "no-oneDNN µs/step"] if has_torch else []
    header += (["onnxruntime µs/step"] + (["onnxruntime/torch", "spread (IQR)"] if has_torch
                                          else []) + ["nplstm/onnxruntime"]) if has_ort else []
    header.append("rounds kept")
    lines = [header]
    for r in rows:
        line = [str(r["B"]), str(r["H"]), str(r["T"]), f"{1e3 * r['nplstm_ms']:.1f}"]
        if has_torch:
            line += [f"{1e3 * r['torch_ms']:.1f}", f"{r['ratio']:.2f}x",
                     f"{1e3 * r['floor_ms']:.1f}"]
        if has_ort:
            cells = _ort_cells(r, has_torch)
            line += [f"{1e3 * r['ort_ms']:.1f}" if "ort_ms" in r else "", *cells[1:]]
        line.append(r["rounds"])
        lines.append(line)
    return "\n".join(aligned_lines(lines, markdown=True))


def format_cell_comparison(rows) -> str:
    """A Markdown table, per case and mode timed for both cells: the LSTM's and the GRU's
    nplstm/torch (medians of the per-round ratios, each against its own torch module) and
    GRU ÷ LSTM, marked "ok" within ``SAME_RATIO`` (the GRU at the LSTM's ratio, within 10%)."""
    by_case = {}
    for r in rows:
        if "ratio" in r:
            by_case.setdefault((r["T"], r["B"], r["H"], r["mode"]), {})[r.get("cell", "lstm")] = r
    lines = [["T", "B", "H=I", "mode", "LSTM nplstm/torch", "GRU nplstm/torch",
              "GRU ÷ LSTM", f"within {100 * (SAME_RATIO - 1):.0f}%"]]
    for (T, B, H, mode), cells in by_case.items():
        if {"lstm", "gru"} <= cells.keys():
            lstm, gru = cells["lstm"]["ratio"], cells["gru"]["ratio"]
            lines.append([str(T), str(B), str(H), mode, f"{lstm:.2f}x", f"{gru:.2f}x",
                          f"{gru / lstm:.2f}", "ok" if gru <= SAME_RATIO * lstm else "no"])
    return "\n".join(aligned_lines(lines, markdown=True))


def roofline_warnings(rows) -> list:
    """A warning line for every roofline fraction above 100% (impossible: the GEMM rate was
    measured too low, e.g. while another program used the cores)."""
    lines = []
    for r in rows:
        for key, who in (("roofline", "nplstm"), ("torch_roofline", "torch")):
            if r.get(key) is not None and r[key] > 1.0:
                lines.append(f"warning: roofline {100 * r[key]:.0f}% for {who} at "
                             f"(T, B, H) = ({r['T']}, {r['B']}, {r['H']}) is above 100%, which "
                             "is impossible: the GEMM rate was measured while the machine was "
                             "busy; rerun on a quiet machine")
    return lines
