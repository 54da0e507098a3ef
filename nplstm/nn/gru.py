"""``GRUCell`` and ``GRU``: torch's modules on arrays, composed from ``functional.gru``."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from ..backend import Array
from ..functional.gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward
from ..functional.inputs import single_state
from .recurrent import RecurrentCell, StackedRecurrent

__all__ = ["GRUCell", "GRU"]


class GRUCell(RecurrentCell):
    """torch.nn.GRUCell on arrays: ``h = cell(x, state)``; ``dx, dh_prev = cell.backward(dh)``.

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),  z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h

    Parameters weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H,), blocks
    [r | z | n]; state h (B, H) or (H,), or None (zeros).  x, init, dtype and seed as
    ``LSTMCell``.
    """

    _gate_rows = 3

    def forward(self, x: Array, state: Optional[Array] = None) -> Array:
        """One step; records it for ``backward``.  Returns h, (B, H) or (H,)."""
        h: Array = self._step(gru_cell_forward, x, single_state(state, "h"))
        return h

    def backward(self, dh: Optional[Array]) -> tuple[Array, Array]:
        """Undo the most recent recorded step: returns ``dx, dh_prev``.

        dh: ∂L/∂h of that step's output (None = zeros).  Adds the parameter gradients into
        ``.grad``.
        """
        grads = self._undo(gru_cell_backward(dh, self._peek()))     # validates dh first
        return grads.x, grads.h_prev


class GRU(StackedRecurrent):
    """torch.nn.GRU on arrays: ``output, h_n = gru(x, state, lengths)``; ``gru.backward(...)``.

    The step of ``GRUCell`` over every time step, layer and direction.  Same arguments,
    defaults, parameter names (``weight_ih_l{k}`` (3H, I or D·H), ``weight_hh_l{k}``
    (3H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3H,), ``_reverse`` for the second
    direction) and init U(−1/√H, 1/√H) as torch.  x is (T, B, I), (B, T, I) with
    ``batch_first``, or unbatched (T, I); state h0 (L·D, B, H) (unbatched (L·D, H)) or
    None; output (T, B, D·H).  T, B ≥ 1: empty axes are refused.  dtype and seed as
    ``LSTM``; the layer loop is shared with ``LSTM`` and ``RNN`` (``recurrent.py``).
    """

    _layer_functions = (gru_forward, gru_backward)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, dtype: npt.DTypeLike = "float32",
                 device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, device=device)
        self._init_layers(3, seed)

    def forward(self, x: Array, state: Optional[Array] = None, lengths: Any = None
                ) -> tuple[Array, Array]:
        """Run all layers and directions; records the pass for ``backward``.

        x        (T, B, I), (B, T, I) if batch_first, or unbatched (T, I)
        state    h0 (L·D, B, H) (unbatched: (L·D, H)), or None for zeros
        lengths  (B,) valid lengths in [1, T], or None (see ``functional.gru_forward``)
        returns  output (T, B, D·H) (batch_first: (B, T, D·H)), h_n shaped like state
        """
        return self._run_layers(x, (single_state(state, "h0"),), ("state",), lengths)

    def backward(self, doutput: Optional[Array], dstate: Optional[Array] = None, *,
                 record: Optional[dict[Any, Any]] = None) -> tuple[Array, Array]:
        """Undo the most recent recorded forward: returns ``dx, dh0``.

        doutput  shaped like that forward's output (None = zeros); padded steps are ignored
        dstate   dh_n shaped like h_n, or None (zeros)
        record   None or a dict: record[(layer, direction)] = {"dh": (T,)} (direction 0
                 forward, 1 reverse; ``functional.lstm_backward`` defines it)
        Adds every parameter's gradient into its ``.grad``; dx is 0 at padded steps.
        """
        return self._backprop_layers(doutput, "(T, B, D·H)",
                                     lambda: [("dstate", single_state(dstate, "dh_n", "dstate"))],
                                     record)
