"""How the four gates are stacked: [i | f | g | o] along the last axis, as torch stores them."""

from functools import lru_cache

import numpy as np

__all__ = ["GATE_NAMES", "split_gates", "sigmoid_prescale"]

GATE_NAMES = ("i", "f", "g", "o")


def split_gates(gates):
    """Views (i, f, g, o), each (..., H), of stacked gates (..., 4H); works for any backend."""
    H = gates.shape[-1] // 4
    return gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:]


@lru_cache(maxsize=64)
def sigmoid_prescale(H: int, dtype) -> np.ndarray:
    """The (4H,) host row [½ ½ 1 ½] (blocks i, f, g, o), read-only.

    σ(z) = ½·tanh(½z) + ½ on i, f, o and tanh(z) on g: the kernels take tanh of
    ``sigmoid_prescale · z`` over the whole row.  Multiplying by ½ is exact, so a driver may
    fold the row into the weights and biases instead (``gates_forward(..., prescaled=True)``).
    """
    row = np.full(4 * H, 0.5, dtype=dtype)
    row[2 * H:3 * H] = 1.0
    row.setflags(write=False)
    return row
