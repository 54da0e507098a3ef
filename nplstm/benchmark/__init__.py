"""Timing nplstm's LSTM and GRU against torch's (and onnxruntime) side by side: behind
``nplstm bench``.

Modules: ``timing`` (one worker process per runner, interleaved rounds; the machine's GEMM
rate, SIMD extensions, BLAS kernel, per-element costs), ``table`` (rows, ratios, the
roofline, Markdown).  The command itself is nplstm/cli/bench.py.
"""

from .timing import (DEFAULT_CASES, STREAM_CASES, blas_name, elementwise_ns, gemm_rate,
                     simd_extensions, time_cases)
from .table import (format_cell_comparison, format_stream_table, format_table, make_row,
                    roofline_warnings)

__all__ = ["DEFAULT_CASES", "STREAM_CASES", "time_cases", "gemm_rate", "simd_extensions",
           "elementwise_ns", "blas_name", "format_table", "format_stream_table", "make_row",
           "roofline_warnings", "format_cell_comparison"]
