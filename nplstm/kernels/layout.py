"""How the four gates are stacked: [i | f | g | o] along the last axis, as torch stores them."""

__all__ = ["GATE_NAMES", "split_gates"]

GATE_NAMES = ("i", "f", "g", "o")


def split_gates(gates):
    """Views (i, f, g, o), each (..., H), of stacked gates (..., 4H); works for any backend."""
    H = gates.shape[-1] // 4
    return gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:]
