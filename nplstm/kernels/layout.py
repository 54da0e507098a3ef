"""How the four gates are stacked: [i | f | g | o] along the last axis, as torch stores them."""

from functools import lru_cache

import numpy as np

__all__ = ["GATE_NAMES", "split_gates", "activation_prescale"]

GATE_NAMES = ("i", "f", "g", "o")


def split_gates(gates):
    """Views (i, f, g, o), each (..., H), of stacked gates (..., 4H); works for any backend."""
    H = gates.shape[-1] // 4
    return gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:]


@lru_cache(maxsize=64)
def activation_prescale(H: int, dtype) -> np.ndarray:
    """The (4H,) host row s = [−1 −1 −2 −1] (blocks i, f, g, o), read-only.

    The kernels activate a gate row through one exp of p = s ⊙ z:
        σ(z)    = 1 / (1 + e^{−z})          on i, f, o  (p = −z)
        tanh(z) = 2 / (1 + e^{−2z}) − 1      on g        (p = −2z)
    Multiplying by −1 or −2 is exact, so a driver may fold the row into the weights and
    biases instead (``gates_forward(..., prescaled=True)``) and get the same numbers.
    """
    row = np.full(4 * H, -1.0, dtype=dtype)
    row[2 * H:3 * H] = -2.0
    row.setflags(write=False)
    return row
