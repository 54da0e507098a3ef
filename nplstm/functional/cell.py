"""One LSTM step, as ``torch.nn.LSTMCell`` defines it, forward and hand-written backward.

    z  = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh          (B, 4H), blocks [i | f | g | o]
    i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = tanh(z_g)
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')

Shapes: B batch, I input size, H hidden size.  Unbatched inputs (I,), (H,) are accepted as
torch accepts them; the results then have no batch axis either.  The backward is derived in
docs/derivation.md, whose symbols are this file's variable names.

The fast twin of ``lstm_cell_forward`` (reference.py:94–105) and ``lstm_cell_backward``
(reference.py:108–120), which call ``lstm_step_forward`` (reference.py:46–61) and
``lstm_step_backward`` (reference.py:64–91): the same signatures and results,
tests/test_reference.py holds them equal.
"""

from typing import Any, NamedTuple, Optional

from ..backend import Array
from ..checks import check_arrays, check_cache, drop_batch_axis
from ..kernels import kernels_for
from .grads import CellGrads
from .inputs import check_step_inputs, check_step_upstream, check_weights

__all__ = ["CellCache", "CellGrads", "lstm_cell_forward", "lstm_cell_backward"]


class CellCache(NamedTuple):
    """What ``lstm_cell_backward`` needs, saved by ``lstm_cell_forward`` (batched shapes):
    ``reference.StepCache``'s fields, field for field, with i, f, g, o stacked as ``gates``."""

    x: Array          # (B, I)   the input
    h_prev: Array     # (B, H)   the previous hidden state
    c_prev: Array     # (B, H)   the previous cell state
    gates: Array      # (B, 4H)  post-activation gates [i | f | g | o]
    tanh_c: Array     # (B, H)   tanh(c')
    weight_ih: Array  # (4H, I)  a reference, not a copy
    weight_hh: Array  # (4H, H)  a reference, not a copy
    has_bias: bool
    unbatched: bool    # the forward was given (I,) and returned (H,) results


def lstm_cell_forward(x: Array, state: Optional[tuple[Array, Array]], weight_ih: Array,
                      weight_hh: Array, bias_ih: Optional[Array] = None,
                      bias_hh: Optional[Array] = None
                      ) -> tuple[tuple[Array, Array], CellCache]:
    """One LSTM step: ``(h1, c1), cache = lstm_cell_forward(x, (h, c), weight_ih, weight_hh, ...)``.

    x          (B, I) or (I,)
    state      (h, c), each (B, H) or (H,), or None for zeros
    weight_ih  (4H, I);  weight_hh (4H, H);  bias_ih, bias_hh (4H,) or None
    returns    (h1, c1), each (B, H) or (H,), and a ``CellCache``
    """
    xp, I, H, _ = check_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, h_prev, c_prev, unbatched = check_step_inputs(x, state, weight_ih, I, H, xp)
    B = x.shape[0]
    # z = x W_ihᵀ + h W_hhᵀ (+ b_ih + b_hh)
    gates = x @ weight_ih.T                                  # (B, 4H)
    gates += h_prev @ weight_hh.T                            # (B, 4H)
    if bias_ih is not None:
        gates += bias_ih                                     # (B, 4H)
        gates += bias_hh                                     # (B, 4H)
    c = xp.empty((B, H), dtype=x.dtype)
    tanh_c = xp.empty_like(c)
    h = xp.empty_like(c)
    # reference.py:51–58 (the activations, c, tanh(c), h) in one kernel call
    kernels_for(xp).gates_forward(gates, c_prev, c, tanh_c, h)   # gates now hold [i|f|g|o]
    cache = CellCache(x, h_prev, c_prev, gates, tanh_c, weight_ih, weight_hh,
                      bias_ih is not None, unbatched)
    h, c = drop_batch_axis(unbatched, 0, h, c)              # (H,) each for an (I,) input
    return (h, c), cache


def lstm_cell_backward(dh: Optional[Array], dc: Optional[Array], cache: CellCache) -> CellGrads:
    """Gradients of one step from ``dh`` = ∂L/∂h1 and ``dc`` = ∂L/∂c1 (either may be None).

    dh, dc   (B, H) or (H,) like the forward's outputs; None means zeros
    returns  ``CellGrads`` (x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh), each
             shaped like the corresponding forward input (bias fields None without bias)
    """
    check_cache(cache, CellCache, "lstm_cell_forward")
    x, h_prev, c_prev, gates, tanh_c, weight_ih, weight_hh, has_bias, unbatched = cache
    B, H = c_prev.shape
    xp = check_arrays({"x (from the cache)": x, "dh": dh, "dc": dc})
    dh = check_step_upstream("dh", dh, B, H, unbatched, x.dtype, xp)
    dc = check_step_upstream("dc", dc, B, H, unbatched, x.dtype, xp)
    kernels = kernels_for(xp)
    dgates = xp.empty_like(gates)                            # (B, 4H) first the factors
    dc_gain, dc_total, dc_prev = (xp.empty_like(c_prev) for _ in range(3))   # (B, H) each
    # h' = o ⊙ tanh c', c' = f ⊙ c + i ⊙ g: dc' = dc + dh ⊙ o ⊙ (1 − tanh² c'), then
    # dz = [dc' g σ'(i) | dc' c σ'(f) | dc' i tanh'(g) | dh tanh c' σ'(o)], dc_prev = dc' ⊙ f
    # (reference.py:72–83, the step's elementwise backward, in two kernel calls)
    kernels.backward_factors(gates, c_prev, tanh_c, dgates, dc_gain)
    kernels.backward_step(dh, dc, dgates, dc_gain, gates[:, H:2 * H], dgates, dc_total,
                          dc_prev)
    # z = x W_ihᵀ + h W_hhᵀ + b_ih + b_hh
    dx = dgates @ weight_ih                                  # (B, I)
    dh_prev = dgates @ weight_hh                             # (B, H)
    dweight_ih = dgates.T @ x                                # (4H, I)
    dweight_hh = dgates.T @ h_prev                           # (4H, H)
    dbias = dgates.sum(axis=0) if has_bias else None         # (4H,) = dbias_ih = dbias_hh
    dx, dh_prev, dc_prev = drop_batch_axis(unbatched, 0, dx, dh_prev, dc_prev)
    return CellGrads(dx, dh_prev, dc_prev, dweight_ih, dweight_hh,
                     dbias, None if dbias is None else dbias.copy())


