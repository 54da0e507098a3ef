"""``nplstm bench``'s reporting: the roofline can never silently exceed 100%, and the header
names the machine's SIMD extensions, BLAS kernel and per-element costs.  Nothing here times
anything against a threshold (speed is measured in benchmarks, never asserted)."""

import numpy as np

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
