"""How the gates are stacked along the last axis, as torch stores them: the LSTM's four
[i | f | g | o], the GRU's three [r | z | n]."""

__all__ = ["GATE_NAMES", "split_gates", "GRU_GATE_NAMES", "split_gru_gates"]

GATE_NAMES = ("i", "f", "g", "o")
GRU_GATE_NAMES = ("r", "z", "n")


def split_gates(gates):
    """Views (i, f, g, o), each (..., H), of stacked gates (..., 4H); works for any backend."""
    H = gates.shape[-1] // 4
    return gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:]


def split_gru_gates(gates):
    """Views (r, z, n), each (..., H), of stacked GRU blocks (..., 3H); any backend."""
    H = gates.shape[-1] // 3
    return gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:]
