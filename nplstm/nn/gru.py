"""``GRUCell`` and ``GRU``: torch's modules on arrays, composed from ``functional.gru``."""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from ..backend import Array
from ..checks import check_flags
from ..functional.gru import gru_backward, gru_cell_backward, gru_cell_forward, gru_forward
from .module import Module, check_sizes
from .recurrent import StackedRecurrent

__all__ = ["GRUCell", "GRU"]

_WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class GRUCell(Module):
    """torch.nn.GRUCell on arrays: ``h = cell(x, state)``; ``dx, dh_prev = cell.backward(dh)``.

        r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),  z = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)
        n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h

    Parameters weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H,), blocks
    [r | z | n], initialised U(−1/√H, 1/√H) like torch.  x is (B, I) or unbatched (I,);
    state h (B, H) or (H,), or None (zeros).  dtype "float32" (also for None) or "float64";
    seed None, an int ≥ 0 or a ``numpy.random.SeedSequence``.
    """

    tape_warning_limit = 1000     # one entry per time step, as LSTMCell's

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 dtype: npt.DTypeLike = "float32", device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(dtype=dtype, device=device)
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        check_flags(bias=bias)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        H, I = hidden_size, input_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (3 * H, I), "weight_hh": (3 * H, H)}
        if bias:
            shapes.update(bias_ih=(3 * H,), bias_hh=(3 * H,))
        self._init_uniform(shapes, 1.0 / math.sqrt(H), seed)

    def forward(self, x: Array, state: Optional[Array] = None) -> Array:
        """One step; records it for ``backward``.  Returns h, (B, H) or (H,)."""
        self._check_input("x", x)
        bias = (self.bias_ih.data, self.bias_hh.data) if self.bias else (None, None)
        h, cache = gru_cell_forward(x, state, self.weight_ih.data, self.weight_hh.data, *bias)
        self._record(cache)
        return h

    def backward(self, dh: Optional[Array]) -> tuple[Array, Array]:
        """Undo the most recent recorded step: returns ``dx, dh_prev``.

        dh: ∂L/∂h of that step's output (None = zeros).  Adds the parameter gradients into
        ``.grad``.
        """
        grads = gru_cell_backward(dh, self._peek())     # validates dh first
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        self._consume({name: getattr(grads, name) for name in names})
        return grads.x, grads.h_prev

    def __repr__(self) -> str:
        return (f"GRUCell({self.input_size}, {self.hidden_size}, bias={self.bias}, "
                f"dtype={self.dtype.name}, device={self.device!r})")


class GRU(StackedRecurrent):
    """torch.nn.GRU on arrays: ``output, h_n = gru(x, state, lengths)``; ``gru.backward(...)``.

    The step of ``GRUCell`` over every time step, layer and direction.  Same arguments,
    defaults, parameter names (``weight_ih_l{k}`` (3H, I or D·H), ``weight_hh_l{k}``
    (3H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (3H,), ``_reverse`` for the second
    direction) and init U(−1/√H, 1/√H) as torch.  x is (T, B, I), (B, T, I) with
    ``batch_first``, or unbatched (T, I); state h0 (L·D, B, H) (unbatched (L·D, H)) or
    None; output (T, B, D·H).  T, B ≥ 1: empty axes are refused.  dtype "float32" (also
    for None) or "float64"; seed None, an int ≥ 0 or a ``numpy.random.SeedSequence``.  The
    layer loop is shared with ``LSTM`` and ``RNN`` (``recurrent.py``).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, dtype: npt.DTypeLike = "float32",
                 device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, device=device)
        self._init_layers(3, seed)

    def _state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)

    def _state_letters(self) -> tuple[str, ...]:
        return ("(L·D, B, H)",)

    def forward(self, x: Array, state: Optional[Array] = None, lengths: Any = None
                ) -> tuple[Array, Array]:
        """Run all layers and directions; records the pass for ``backward``.

        x        (T, B, I), (B, T, I) if batch_first, or unbatched (T, I)
        state    h0 (L·D, B, H) (unbatched: (L·D, H)), or None for zeros
        lengths  (B,) valid lengths in [1, T], or None (see ``functional.gru_forward``)
        returns  output (T, B, D·H) (batch_first: (B, T, D·H)), h_n shaped like state
        """
        x_tbi, unbatched, xp = self._time_major(x)
        (h0,) = self._initial_states((state,), ("state",), x_tbi.shape[1], unbatched, xp)
        if unbatched and lengths is not None:
            lengths = [lengths] if isinstance(lengths, (int, np.integer)) else lengths

        def forward_one(layer_input: Array, row_state: Any, suffix: str, reverse: bool,
                        keep_cache: bool) -> Any:
            (out, h_n), cache = gru_forward(
                layer_input, row_state[0], *self._weights_of(suffix, _WEIGHT_NAMES),
                lengths=lengths, reverse=reverse, keep_cache=keep_cache)
            return out, (h_n,), cache

        output, (h_n,) = self._run_layers(x_tbi, [h0], unbatched, forward_one)
        output, h_n = self._caller_layout(unbatched, output, h_n)
        return output, h_n

    def backward(self, doutput: Optional[Array], dstate: Optional[Array] = None, *,
                 record: Optional[dict[Any, Any]] = None) -> tuple[Array, Array]:
        """Undo the most recent recorded forward: returns ``dx, dh0``.

        doutput  shaped like that forward's output (None = zeros); padded steps are ignored
        dstate   dh_n shaped like h_n, or None (zeros)
        record   None, or a dict that receives the per-step gradient norms of every layer
                 and direction: record[(layer, direction)] = {"dh": (T,)}, ‖∂L/∂h_t‖ over
                 the batch (direction 0 forward, 1 reverse; see ``functional.gru_backward``)
        Adds every parameter's gradient into its ``.grad``; dx is 0 at padded steps.  A
        refused call leaves the module as it was (``StackedRecurrent._backprop_layers``).
        """
        def backward_one(d_out: Array, row_upstream: Any, cache: Any, norms: Any) -> Any:
            grads = gru_backward(d_out, row_upstream[0], cache, record=norms)
            return grads.x, (grads.h0,), {name: getattr(grads, name) for name in _WEIGHT_NAMES}

        dx, dh0 = self._backprop_layers(doutput, "(T, B, D·H)", lambda: [("dstate", dstate)],
                                        record, backward_one)
        return dx, dh0

    def __repr__(self) -> str:
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                    "bidirectional": False}
        extra = "".join(f", {k}={getattr(self, k)!r}" for k, v in defaults.items()
                        if getattr(self, k) != v)
        return f"GRU({self.input_size}, {self.hidden_size}{extra}, dtype={self.dtype.name})"
