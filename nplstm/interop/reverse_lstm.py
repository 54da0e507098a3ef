"""``ReverseLSTM``, ``ReverseGRU``: one layer that reads each sequence backwards (ONNX
``direction="reverse"``; torch has no reverse-only layer, but its bidirectional layer's
second half is one):

    output[t] = h after the steps len−1, len−2, …, t of the sequence (its own length len)
    h_n (, c_n) = the state after step 0

which is the parent (``nplstm.LSTM``, ``nplstm.GRU``) run on the sequence reversed within its
own length, with the output reversed back (padded steps stay where they are): ``_Reversed``
flips time around the parent's ``forward`` and ``backward``.  The parameters carry the names of
torch's reverse direction (``weight_ih_l0_reverse``, …), so a state dict never loads into a
forward module by mistake.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import numpy.typing as npt

from ..backend import Array, get_array_module
from ..checks import check_lengths, check_rank
from ..nn import GRU, LSTM
from ..nn.module import is_grad_enabled
from ..nn.recurrent import StackedRecurrent

__all__ = ["ReverseLSTM", "ReverseGRU"]


class _Reversed(StackedRecurrent):
    """What ReverseLSTM and ReverseGRU add to their parent (LSTM, GRU: next in the MRO):
    one layer, one direction, time flipped around the parent's forward and backward."""

    reverse = True

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 batch_first: bool = False, *, dtype: npt.DTypeLike = "float32",
                 device: str = "cpu", seed: Any = None) -> None:
        super().__init__(input_size, hidden_size, 1, bias, batch_first,  # type: ignore[call-arg]
                         dtype=dtype, device=device, seed=seed)   # LSTM's or GRU's __init__

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}_reverse"]     # the parameter names of torch's reverse direction

    def forward(self, x: Array, state: Any = None, lengths: Any = None) -> tuple[Array, Any]:
        """As the parent's forward; output[t] has seen the steps from the sequence's end to t."""
        self._check_input("x", x)
        check_rank("x", x, (2, 3), "(B, T, I) or (T, I)" if self.batch_first
                   else "(T, B, I) or (T, I)")
        flip = _TimeFlip(x, lengths, self.batch_first)
        output, state_n = super().forward(flip(x), state, lengths)
        if is_grad_enabled():   # the parent's tape entry travels with its flip
            self._tape.append((self._tape.pop(), flip))
        return flip(output), state_n

    def backward(self, doutput: Optional[Array], dstate: Any = None, *,
                 record: Optional[dict[Any, Any]] = None) -> tuple[Array, Any]:
        """As the parent's backward (``record``'s steps are in the order they were walked)."""
        entry, flip = self._peek()
        output_shape = flip.shape[:-1] + (self.hidden_size,)
        if doutput is not None and tuple(getattr(doutput, "shape", ())) == output_shape:
            doutput = flip(doutput)     # a wrongly shaped one is refused by the parent
        self._tape[-1] = entry          # the parent's own entry, which its backward consumes
        try:
            dx, dstate0 = super().backward(  # type: ignore[misc]
                doutput, dstate, record=record)      # LSTM's or GRU's backward
        except BaseException:
            self._tape[-1] = (entry, flip)      # refused: the tape as it was
            raise
        return flip(dx), dstate0


class ReverseLSTM(_Reversed, LSTM):
    """A one-layer, one-direction LSTM that walks each sequence from its last step to step 0
    (arguments as ``nplstm.LSTM``'s without num_layers, dropout, bidirectional, proj_size)."""


class ReverseGRU(_Reversed, GRU):
    """A one-layer, one-direction GRU that walks each sequence from its last step to step 0
    (arguments as ``nplstm.GRU``'s without num_layers, dropout, bidirectional)."""


class _TimeFlip:
    """Reverse every sequence of a batch within its own length (padding stays in place)."""

    def __init__(self, x: Array, lengths: Any, batch_first: bool) -> None:
        unbatched = x.ndim == 2
        self.time_axis = 1 if batch_first and not unbatched else 0
        self.shape = tuple(x.shape)
        T = x.shape[self.time_axis]
        B = 1 if unbatched else x.shape[1 - self.time_axis]
        if lengths is None:
            self.index = None
            return
        if unbatched and isinstance(lengths, (int, np.integer)):
            lengths = [lengths]
        lengths = check_lengths(lengths, T, B)                             # (B,) host int64
        steps = np.arange(T)[:, None]                                      # (T, 1)
        # index[t, b] = len_b − 1 − t inside the sequence, t in the padding
        index = np.where(steps < lengths, lengths - 1 - steps, steps)      # (T, B)
        xp = get_array_module(x)
        self.index = xp.asarray(index if not unbatched else index[:, 0])
        self.batch = None if unbatched else xp.arange(B)

    def __call__(self, a: Any) -> Any:
        xp = get_array_module(a)
        if self.index is None:
            return xp.ascontiguousarray(xp.flip(a, axis=self.time_axis))
        if self.batch is None:                                     # unbatched (T, F)
            return a[self.index]
        if self.time_axis == 0:                                    # (T, B, F)
            return a[self.index, self.batch[None, :]]
        return a[self.batch[:, None], self.index.T]                # (B, T, F)
