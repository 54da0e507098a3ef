"""Benchmark nplstm.LSTM against torch.nn.LSTM on the CPU (same as ``nplstm bench``).

    python benchmarks/bench_lstm.py [--threads 2,1] [--repeats R] [--cases "T,B,H;..."]

Needs torch for the comparison (pip install 'nplstm[torch]'); without it, nplstm alone is
timed.  Results are recorded in docs/benchmarks.md.
"""

import sys

from nplstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
