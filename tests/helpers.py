"""Small helpers for the tests: random arrays and the relative error used everywhere."""

import numpy as np


def rel_error(a, b) -> float:
    """max |a − b| / max |b| (0 when both are all zero): a norm-wise relative error."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = np.abs(b).max(initial=0.0)
    diff = np.abs(a - b).max(initial=0.0)
    return diff / scale if scale else diff
