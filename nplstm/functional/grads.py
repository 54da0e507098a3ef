"""The gradients the LSTM and GRU functions return, named after their inputs: one NamedTuple
for the step (cell) and one for a layer and direction over a sequence, shared by the fast
functions and the textbook reference, which return the very same types."""

from typing import NamedTuple, Optional

from ..backend import Array

__all__ = ["CellGrads", "SequenceGrads", "GRUCellGrads", "GRUGrads"]


class CellGrads(NamedTuple):
    """Gradients of one step, named after the inputs of ``lstm_cell_forward``."""

    x: Array                  # (B, I)
    h_prev: Array             # (B, H)
    c_prev: Array             # (B, H)
    weight_ih: Array          # (4H, I)
    weight_hh: Array          # (4H, H)
    bias_ih: Optional[Array]  # (4H,), None without bias
    bias_hh: Optional[Array]  # (4H,), None without bias


class SequenceGrads(NamedTuple):
    """Gradients of one layer and direction, named after the inputs of ``lstm_forward``."""

    x: Array                    # (T, B, I)  zero at padded steps
    h0: Array                   # (B, P)
    c0: Array                   # (B, H)
    weight_ih: Array            # (4H, I)
    weight_hh: Array            # (4H, P)
    bias_ih: Optional[Array]    # (4H,), None without bias
    bias_hh: Optional[Array]    # (4H,), None without bias
    weight_hr: Optional[Array]  # (P, H), None without projection


class GRUCellGrads(NamedTuple):
    """Gradients of one GRU step, named after the inputs of ``gru_cell_forward``."""

    x: Array                  # (B, I)
    h_prev: Array             # (B, H)
    weight_ih: Array          # (3H, I)
    weight_hh: Array          # (3H, H)
    bias_ih: Optional[Array]  # (3H,), None without bias
    bias_hh: Optional[Array]  # (3H,), None without bias


class GRUGrads(NamedTuple):
    """Gradients of one GRU layer and direction, named after the inputs of ``gru_forward``."""

    x: Array                    # (T, B, I)  zero at padded steps
    h0: Array                   # (B, H)
    weight_ih: Array            # (3H, I)
    weight_hh: Array            # (3H, H)
    bias_ih: Optional[Array]    # (3H,), None without bias
    bias_hh: Optional[Array]    # (3H,), None without bias
