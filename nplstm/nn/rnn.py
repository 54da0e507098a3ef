"""``RNN``: torch.nn.RNN (tanh or ReLU) on arrays, composed from ``functional.rnn``."""

from __future__ import annotations

from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from ..backend import Array

from ..functional.rnn import check_nonlinearity, rnn_backward, rnn_forward
from .recurrent import StackedRecurrent

__all__ = ["RNN"]

_WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class RNN(StackedRecurrent):
    """torch.nn.RNN on arrays: ``output, h_n = rnn(x, h0, lengths)``; ``rnn.backward(...)``.

        h_t = act(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh),   act = tanh or relu

    Same arguments, defaults, parameter names (``weight_ih_l{k}`` (H, I or D·H),
    ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,), ``_reverse`` for the
    second direction) and init U(−1/√H, 1/√H) as torch.  x is (T, B, I), (B, T, I) with
    ``batch_first``, or unbatched (T, I); h0 (L·D, B, H) (unbatched (L·D, H)) or None;
    output (T, B, D·H).  T, B ≥ 1: empty axes are refused.  dtype "float32" (also for None)
    or "float64"; seed None, an int ≥ 0 or a ``numpy.random.SeedSequence``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *,
                 dtype: npt.DTypeLike = "float32", device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, device=device)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        self._init_layers(1, seed)

    def _state_sizes(self) -> tuple[int, ...]:
        return (self.hidden_size,)

    def _state_letters(self) -> tuple[str, ...]:
        return ("(L·D, B, H)",)

    def forward(self, x: Array, h0: Optional[Array] = None, lengths: Any = None
                ) -> tuple[Array, Array]:
        """Run all layers and directions; records the pass for ``backward``.

        x        (T, B, I), (B, T, I) if batch_first, or unbatched (T, I)
        h0       (L·D, B, H) (unbatched: (L·D, H)), or None for zeros
        lengths  (B,) valid lengths in [1, T], or None: torch's
                 pack_padded_sequence(enforce_sorted=False): outputs past a sequence's end
                 are 0, h_n is its own last step's, the reverse direction starts there
        returns  output (T, B, D·H) (batch_first: (B, T, D·H)), h_n shaped like h0
        """
        x_tbi, unbatched, xp = self._time_major(x)
        (h0,) = self._initial_states((h0,), ("h0",), x_tbi.shape[1], unbatched, xp)
        if unbatched and lengths is not None:
            lengths = [lengths] if isinstance(lengths, (int, np.integer)) else lengths

        def forward_one(layer_input: Array, row_state: Any, suffix: str, reverse: bool,
                        keep_cache: bool) -> Any:
            (out, h_n), cache = rnn_forward(
                layer_input, row_state[0], *self._weights_of(suffix, _WEIGHT_NAMES),
                nonlinearity=self.nonlinearity, lengths=lengths, reverse=reverse,
                keep_cache=keep_cache)
            return out, (h_n,), cache

        output, (h_n,) = self._run_layers(x_tbi, [h0], unbatched, forward_one)
        return self._caller_layout(unbatched, output, h_n)

    def backward(self, doutput: Optional[Array], dh_n: Optional[Array] = None, *,
                 record: Optional[dict[Any, Any]] = None) -> tuple[Array, Array]:
        """Undo the most recent recorded forward: returns ``dx, dh0``.

        doutput  shaped like that forward's output (None = zeros); padded steps are ignored
        dh_n     shaped like h_n, or None (zeros)
        record   None, or a dict that receives the per-step gradient norms of every layer
                 and direction: record[(layer, direction)] = {"dh": (T,)}, ‖∂L/∂h_t‖ over
                 the batch (direction 0 forward, 1 reverse; see ``functional.rnn_backward``)
        Adds every parameter's gradient into its ``.grad``; dx is 0 at padded steps.  A
        refused call (a wrong shape, say) leaves the module and its tape as they were.
        """
        def backward_one(d_out: Array, row_upstream: Any, cache: Any, norms: Any) -> Any:
            grads = rnn_backward(d_out, row_upstream[0], cache, record=norms)
            return grads.x, (grads.h0,), {name: getattr(grads, name) for name in _WEIGHT_NAMES}

        return self._backprop_layers(doutput, "(T, B, D·H)", lambda: [("dh_n", dh_n)],
                                     record, backward_one)

    def __repr__(self) -> str:
        defaults = {"num_layers": 1, "nonlinearity": "tanh", "bias": True,
                    "batch_first": False, "dropout": 0.0, "bidirectional": False}
        extra = "".join(f", {k}={getattr(self, k)!r}" for k, v in defaults.items()
                        if getattr(self, k) != v)
        return f"RNN({self.input_size}, {self.hidden_size}{extra}, dtype={self.dtype.name})"
