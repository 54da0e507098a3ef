"""The gradients the LSTM functions return, named after their inputs: one NamedTuple for the
step (cell) and one for a layer and direction over a sequence, shared by the fast functions
and the textbook reference, which return the very same types."""

from __future__ import annotations

from typing import NamedTuple, Optional

__all__ = ["CellGrads", "SequenceGrads"]


class CellGrads(NamedTuple):
    """Gradients of one step, named after the inputs of ``lstm_cell_forward``."""

    x: object                  # (B, I)
    h_prev: object             # (B, H)
    c_prev: object             # (B, H)
    weight_ih: object          # (4H, I)
    weight_hh: object          # (4H, H)
    bias_ih: Optional[object]  # (4H,), None without bias
    bias_hh: Optional[object]  # (4H,), None without bias


class SequenceGrads(NamedTuple):
    """Gradients of one layer and direction, named after the inputs of ``lstm_forward``."""

    x: object                    # (T, B, I)  zero at padded steps
    h0: object                   # (B, P)
    c0: object                   # (B, H)
    weight_ih: object            # (4H, I)
    weight_hh: object            # (4H, P)
    bias_ih: Optional[object]    # (4H,), None without bias
    bias_hh: Optional[object]    # (4H,), None without bias
    weight_hr: Optional[object]  # (P, H), None without projection
