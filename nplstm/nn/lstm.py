"""``LSTMCell`` and ``LSTM``: torch's modules on arrays, composed from ``nplstm.functional``."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from ..backend import Array
from ..checks import check_int
from .. import functional as F
from ..functional.inputs import unpack_state
from .recurrent import RecurrentCell, StackedRecurrent

__all__ = ["LSTMCell", "LSTM"]


class LSTMCell(RecurrentCell):
    """torch.nn.LSTMCell on arrays: ``h, c = cell(x, state)``; ``cell.backward(dh, dc)``.

    Parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,), blocks
    [i | f | g | o], initialised U(−1/√H, 1/√H) like torch.  x is (B, I) or unbatched (I,);
    state (h, c) or None (zeros).  dtype "float32" (also for None) or "float64"; seed None,
    an int ≥ 0 or a ``numpy.random.SeedSequence``.
    """

    _gate_rows = 4

    def forward(self, x: Array, state: Optional[tuple[Array, Array]] = None
                ) -> tuple[Array, Array]:
        """One step; records it for ``backward``. Returns (h, c), each (B, H) or (H,)."""
        h, c = self._step(F.lstm_cell_forward, x, state)
        return h, c

    def backward(self, dh: Optional[Array], dc: Optional[Array] = None
                 ) -> tuple[Array, tuple[Array, Array]]:
        """Undo the most recent recorded step: returns ``dx, (dh_prev, dc_prev)``.

        dh, dc: ∂L/∂h and ∂L/∂c of that step's outputs (None = zeros).  Adds the parameter
        gradients into ``.grad``.
        """
        grads = self._undo(F.lstm_cell_backward(dh, dc, self._peek()))  # validates dh, dc first
        return grads.x, (grads.h_prev, grads.c_prev)


class LSTM(StackedRecurrent):
    """torch.nn.LSTM on arrays: ``output, (h_n, c_n) = lstm(x, state, lengths)``.

    Same arguments, defaults, parameter names (``weight_ih_l{k}[_reverse]``, …) and shapes
    as torch.  x is (T, B, I), (B, T, I) with ``batch_first``, or unbatched (T, I); state
    (h0, c0) of shapes (L·D, B, P or H), (L·D, B, H) or None; output (T, B, D·P).
    T, B ≥ 1: empty axes are refused.  dtype "float32" (also for None) or "float64"; seed
    None, an int ≥ 0 or a ``numpy.random.SeedSequence``.  The layer loop is shared with
    ``GRU`` and ``RNN`` (``recurrent.py``).
    """

    _WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *,
                 dtype: npt.DTypeLike = "float32", device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, device=device)
        proj_size = check_int("proj_size", proj_size, minimum=0)
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size = {hidden_size}, "
                             f"got {proj_size}")
        self.proj_size = proj_size
        self.output_size = proj_size or hidden_size                            # P
        self._init_layers(4, seed, projection=bool(proj_size))

    def _state_shapes(self) -> list[tuple[int, str]]:
        return [(self.output_size, "(L·D, B, P)" if self.proj_size else "(L·D, B, H)"),
                (self.hidden_size, "(L·D, B, H)")]                              # P, H

    def forward(self, x: Array, state: Optional[tuple[Array, Array]] = None,
                lengths: Any = None) -> tuple[Array, tuple[Array, Array]]:
        """Run all layers and directions; records the pass for ``backward``.

        x        (T, B, I), (B, T, I) if batch_first, or unbatched (T, I)
        state    (h0, c0): (L·D, B, P), (L·D, B, H) (unbatched: no B axis), or None
        lengths  (B,) valid lengths in [1, T], or None (see ``functional.lstm_forward``)
        returns  output (T, B, D·P) (batch_first: (B, T, D·P)), (h_n, c_n) shaped like state
        """
        given = (None, None) if state is None else unpack_state(state, names=("h0", "c0"))
        output, h_n, c_n = self._run_layers(x, given, ("h0", "c0"), lengths)
        return output, (h_n, c_n)

    def _layer_forward(self, x: Array, states: list[Array], weights: list[Any],
                       **options: Any) -> tuple[Array, tuple[Array, ...], Any]:
        (out, (h_n, c_n)), cache = F.lstm_forward(x, (states[0], states[1]), *weights,
                                                  **options)
        return out, (h_n, c_n), cache

    def backward(self, doutput: Optional[Array],
                 dstate: Optional[tuple[Optional[Array], Optional[Array]]] = None, *,
                 record: Optional[dict[Any, Any]] = None
                 ) -> tuple[Array, tuple[Array, Array]]:
        """Undo the most recent recorded forward: returns ``dx, (dh0, dc0)``.

        doutput  shaped like that forward's output (None = zeros); padded steps are ignored
        dstate   (dh_n, dc_n) shaped like (h_n, c_n), either may be None, or None
        record   None or a dict: record[(layer, direction)] = {"dh": (T,), "dc": (T,)}
                 (direction 0 forward, 1 reverse; ``functional.lstm_backward`` defines it)
        Adds every parameter's gradient into its ``.grad``; dx is 0 at padded steps.
        """
        dx, dh0, dc0 = self._backprop_layers(doutput, "(T, B, D·P)",
                                             lambda: _upstream_state(dstate), record)
        return dx, (dh0, dc0)

    def _layer_backward(self, d_out: Optional[Array], upstream: list[Optional[Array]],
                        cache: Any, norms: Optional[dict[str, Any]]) -> tuple[Any, Any, Any]:
        grads = F.lstm_backward(d_out, upstream[0], upstream[1], cache, record=norms)
        return grads.x, (grads.h0, grads.c0), grads

    def _repr_fields(self) -> tuple[tuple[Any, ...], dict[str, tuple[Any, Any]]]:
        sizes, options = super()._repr_fields()
        return sizes, {**options, "proj_size": (self.proj_size, 0)}


def _upstream_state(dstate: Any) -> list[tuple[str, Any]]:
    """[("dh_n", dh_n), ("dc_n", dc_n)] from ``dstate``: None, or a pair whose entries may
    each be None."""
    if dstate is not None and (not isinstance(dstate, (tuple, list)) or len(dstate) != 2):
        raise ValueError("dstate must be a pair (dh_n, dc_n), either of which may be None, "
                         f"or None; got {type(dstate).__name__}")
    return list(zip(("dh_n", "dc_n"), dstate or (None, None)))
