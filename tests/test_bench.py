"""``nplstm bench``'s reporting: the roofline can never silently exceed 100%, and the header
names the machine's SIMD extensions, BLAS kernel and per-element costs.  Nothing here times
anything against a threshold (speed is measured in benchmarks, never asserted)."""

import numpy as np
import pytest

from nplstm import benchmark as bench


def _rows(rate):
    """Rows from fixed call times: T·B·H² = 10·4·64² → 48·163,840 FLOPs of GEMMs per call."""
    times = [[0.010, 0.011, 0.012], [0.020, 0.020, 0.021], [0.030, 0.031, 0.030]]
    return [bench.make_row(10, 4, 64, "fwd+bwd", times, rate)]


def test_roofline_is_the_gemm_flops_over_time_and_rate():
    rate = 1e9
    row = _rows(rate)[0]
    flops = 48.0 * 10 * 4 * 64 * 64
    assert np.isclose(row["roofline"], flops / (0.011 * rate))
    assert np.isclose(row["torch_roofline"], flops / (0.020 * rate))


def test_a_roofline_above_100_percent_is_marked_and_warned_of():
    flops = 48.0 * 10 * 4 * 64 * 64
    low_rate = flops / 0.015              # nplstm's 11 ms then needs > 100% of the rate
    rows = _rows(low_rate)
    assert rows[0]["roofline"] > 1.0 > rows[0]["torch_roofline"]
    table = bench.format_table(rows)
    assert "136%!" in table                # 15 / 11 ms
    warnings = bench.roofline_warnings(rows)
    assert len(warnings) == 1
    assert "nplstm" in warnings[0] and "impossible" in warnings[0] and "136%" in warnings[0]


def test_a_plausible_roofline_is_not_marked():
    rows = _rows(1e12)
    assert "!" not in bench.format_table(rows)
    assert bench.roofline_warnings(rows) == []


def test_the_header_facts_are_measured():
    simd = bench.simd_extensions()
    assert simd.startswith("baseline ") and "found" in simd
    costs = bench.elementwise_ns("float32", n=1 << 12, repeats=2)
    assert set(costs) == {"exp", "tanh"} and all(c > 0 for c in costs.values())
    assert "kernel" in bench.blas_name()


def test_the_gru_roofline_counts_its_three_gate_blocks():
    times = [[0.010, 0.011, 0.012], [0.020, 0.020, 0.021], [0.030, 0.031, 0.030]]
    row = bench.make_row(10, 4, 64, "fwd+bwd", times, 1e9, cell="gru")
    # forward x W_ihᵀ, h W_hhᵀ: 2·(3H)·H·2 FLOPs per row and step; backward twice that
    flops = 3 * (2 * 2 * 3 * 64 * 64) * 10 * 4
    assert row["cell"] == "gru" and flops == 36 * 10 * 4 * 64 * 64
    assert np.isclose(row["roofline"], flops / (0.011 * 1e9))
    assert _rows(1e9)[0]["cell"] == "lstm"


def _ratio_row(cell, mode, nplstm_s, torch_s):
    times = [[nplstm_s] * 3, [torch_s] * 3, [2 * torch_s] * 3]
    return bench.make_row(10, 4, 64, mode, times, None, cell=cell)


def test_the_cell_comparison_divides_the_grus_ratio_by_the_lstms():
    rows = [_ratio_row("lstm", "fwd+bwd", 0.012, 0.010),
            _ratio_row("gru", "fwd+bwd", 0.013, 0.010),
            _ratio_row("lstm", "forward", 0.010, 0.010),
            _ratio_row("gru", "forward", 0.0111, 0.010)]
    table = bench.format_cell_comparison(rows).splitlines()
    assert [c.strip() for c in table[0].split("|")[5:9]] == [
        "LSTM nplstm/torch", "GRU nplstm/torch", "GRU ÷ LSTM", "within 10%"]
    fwd_bwd, forward = ([c.strip() for c in line.split("|")[1:-1]] for line in table[2:])
    assert fwd_bwd == ["10", "4", "64", "fwd+bwd", "1.20x", "1.30x", "1.08", "ok"]
    assert forward == ["10", "4", "64", "forward", "1.00x", "1.11x", "1.11", "no"]
    full = bench.format_table(rows)
    assert "| cell |" in full and "| gru  |" in full
    assert "cell" not in bench.format_table(rows[::2])           # LSTM alone: as before


def test_bench_cells_parse_and_a_tiny_run_times_both_cells_in_one_go():
    from nplstm.cli.bench import check_runtime, parse_cells

    assert parse_cells(None) == ("lstm",) and parse_cells("lstm,gru") == ("lstm", "gru")
    assert parse_cells("gru") == ("gru",)
    for bad in ("rnn", "gru,gru", "", "lstm;gru"):
        with pytest.raises(ValueError, match="--cell wants lstm, gru or lstm,gru"):
            parse_cells(bad)
    with pytest.raises(ValueError, match="--runtime onnxruntime times the LSTM only"):
        check_runtime("onnxruntime", "float32", ("gru",))
    rows, _ = bench.time_cases([(3, 2, 4)], repeats=2, warmup=1, threads=1,
                               cells=("lstm", "gru"))
    assert [(r["mode"], r["cell"]) for r in rows] == [
        ("fwd+bwd", "lstm"), ("fwd+bwd", "gru"), ("forward", "lstm"), ("forward", "gru")]
    assert all(r["nplstm_ms"] > 0 and r["rounds"] == "2/2" for r in rows)
    with pytest.raises(ValueError, match="cells must be distinct names"):
        bench.time_cases([(3, 2, 4)], cells=("rnn",))
