"""Issue 28's experiment as a test: four ops with hand-written backwards (layer norm,
softmax attention, a GRU cell, relu(x + b)), two planted bugs each, every mode, float64 and
float32: every bug caught with its input named, no false alarm on the right backwards.
benchmarks/checker_table.py prints the same runs as a table, with times."""

import numpy as np
import pytest

from nplstm.gradcheck import MODES

from .checker_ops import OPS, outcome

CELLS = [(op, bug) for op in OPS for bug in [None, *op.bugs]]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op, bug", CELLS, ids=[f"{op.name}: {bug or 'right'}"
                                                for op, bug in CELLS])
def test_every_planted_bug_is_caught_and_no_right_backward_fails(op, bug, mode, dtype):
    verdict, report, _ = outcome(op, bug, mode, dtype)
    assert verdict == ("pass" if bug is None else "caught"), str(report)
