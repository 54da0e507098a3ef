"""One LSTM step, as ``torch.nn.LSTMCell`` defines it, forward and hand-written backward.

    z  = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh          (B, 4H), blocks [i | f | g | o]
    i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = tanh(z_g)
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')

Shapes: B batch, I input size, H hidden size.  Unbatched inputs (I,), (H,) are accepted as
torch accepts them; the results then have no batch axis either.  The backward is derived in
docs/derivation.md, whose symbols are this file's variable names.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from ..checks import check_arrays, check_not_empty, check_rank, check_shape, check_upstream
from ..kernels import kernels_for
from .weights import check_lstm_weights

__all__ = ["CellCache", "CellGrads", "lstm_cell_forward", "lstm_cell_backward"]


class CellCache(NamedTuple):
    """What ``lstm_cell_backward`` needs, saved by ``lstm_cell_forward`` (batched shapes)."""

    x: object          # (B, I)   the input
    h_prev: object     # (B, H)   the previous hidden state
    c_prev: object     # (B, H)   the previous cell state
    gates: object      # (B, 4H)  post-activation gates [i | f | g | o]
    tanh_c: object     # (B, H)   tanh(c')
    weight_ih: object  # (4H, I)  a reference, not a copy
    weight_hh: object  # (4H, H)  a reference, not a copy
    has_bias: bool
    unbatched: bool    # the forward was given (I,) and returned (H,) results


class CellGrads(NamedTuple):
    """Gradients of one step, named after the inputs of ``lstm_cell_forward``."""

    x: object                  # (B, I)
    h_prev: object             # (B, H)
    c_prev: object             # (B, H)
    weight_ih: object          # (4H, I)
    weight_hh: object          # (4H, H)
    bias_ih: Optional[object]  # (4H,), None without bias
    bias_hh: Optional[object]  # (4H,), None without bias


def lstm_cell_forward(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step: ``(h1, c1), cache = lstm_cell_forward(x, (h, c), weight_ih, weight_hh, ...)``.

    x          (B, I) or (I,)
    state      (h, c), each (B, H) or (H,), or None for zeros
    weight_ih  (4H, I);  weight_hh (4H, H);  bias_ih, bias_hh (4H,) or None
    returns    (h1, c1), each (B, H) or (H,), and a ``CellCache``
    """
    xp, I, H, _ = check_lstm_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, h_prev, c_prev, unbatched = _check_step_inputs(x, state, weight_ih, I, H, xp)
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
    kernels_for(xp).gates_forward(gates, c_prev, c, tanh_c, h)   # gates now hold [i|f|g|o]
    cache = CellCache(x, h_prev, c_prev, gates, tanh_c, weight_ih, weight_hh,
                      bias_ih is not None, unbatched)
    if unbatched:
        h, c = h[0], c[0]
    return (h, c), cache


def lstm_cell_backward(dh, dc, cache: CellCache) -> CellGrads:
    """Gradients of one step from ``dh`` = ∂L/∂h1 and ``dc`` = ∂L/∂c1 (either may be None).

    dh, dc   (B, H) or (H,) like the forward's outputs; None means zeros
    returns  ``CellGrads`` (x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh), each
             shaped like the corresponding forward input (bias fields None without bias)
    """
    if not isinstance(cache, CellCache):
        raise TypeError(f"cache must be the CellCache returned by lstm_cell_forward, "
                        f"got {type(cache).__name__}")
    x, h_prev, c_prev, gates, tanh_c, weight_ih, weight_hh, has_bias, unbatched = cache
    B, H = c_prev.shape
    xp = check_arrays({"x (from the cache)": x, "dh": dh, "dc": dc})
    dh = _upstream("dh", dh, B, H, unbatched, x.dtype, xp)
    dc = _upstream("dc", dc, B, H, unbatched, x.dtype, xp)
    kernels = kernels_for(xp)
    dgates = xp.empty_like(gates)                            # (B, 4H) first the factors
    dc_gain, dc_total, dc_prev = (xp.empty_like(c_prev) for _ in range(3))   # (B, H) each
    # h' = o ⊙ tanh c', c' = f ⊙ c + i ⊙ g: dc' = dc + dh ⊙ o ⊙ (1 − tanh² c'), then
    # dz = [dc' g σ'(i) | dc' c σ'(f) | dc' i tanh'(g) | dh tanh c' σ'(o)], dc_prev = dc' ⊙ f
    kernels.backward_factors(gates, c_prev, tanh_c, dgates, dc_gain)
    kernels.backward_step(dh, dc, dgates, dc_gain, gates[:, H:2 * H], dgates, dc_total,
                          dc_prev)
    # z = x W_ihᵀ + h W_hhᵀ + b_ih + b_hh
    dx = dgates @ weight_ih                                  # (B, I)
    dh_prev = dgates @ weight_hh                             # (B, H)
    dweight_ih = dgates.T @ x                                # (4H, I)
    dweight_hh = dgates.T @ h_prev                           # (4H, H)
    dbias = dgates.sum(axis=0) if has_bias else None         # (4H,) = dbias_ih = dbias_hh
    if unbatched:
        dx, dh_prev, dc_prev = dx[0], dh_prev[0], dc_prev[0]
    return CellGrads(dx, dh_prev, dc_prev, dweight_ih, dweight_hh,
                     dbias, None if dbias is None else dbias.copy())


def _check_step_inputs(x, state, weight_ih, I, H, xp):
    """Validate x and (h, c) of one step; return batched x, h, c and whether x was unbatched."""
    h, c = (None, None) if state is None else unpack_state(state)
    # the weight first, so that dtype and device mismatches name it: "x has dtype float64
    # but weight_ih is float32"
    check_arrays({"weight_ih": weight_ih, "x": x, "h": h, "c": c}, required=("x",))
    check_rank("x", x, (1, 2), "(B, I) or unbatched (I,)")
    unbatched = x.ndim == 1
    check_not_empty("x", x, ("I",) if unbatched else ("B", "I"))
    if unbatched:
        x = x[None]
    check_shape("x", x[0] if unbatched else x, (I,) if unbatched else (x.shape[0], I),
                "(I,)" if unbatched else "(B, I)", "I is weight_ih's second dimension")
    B = x.shape[0]
    if h is None:
        h = xp.zeros((B, H), dtype=x.dtype)
        return x, h, xp.zeros_like(h), unbatched
    letters = "(H,)" if unbatched else "(B, H)"
    expected = (H,) if unbatched else (B, H)
    hint = "unbatched x (I,) takes an unbatched state" if unbatched else \
        "B is x's batch size, H is weight_hh's second dimension"
    check_shape("h", h, expected, letters, hint)
    check_shape("c", c, expected, letters, hint)
    if unbatched:
        h, c = h[None], c[None]
    return x, h, c, unbatched


def unpack_state(state, names=("h", "c")):
    """Unpack an (h, c) state pair; refuse anything else (h without c, say) with a clear message."""
    h_name, c_name = names
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        got = type(state).__name__
        if isinstance(state, (tuple, list)):
            got += f" of length {len(state)}"
        raise ValueError(f"state must be a pair ({h_name}, {c_name}) or None, got {got} "
                         f"(an LSTM state needs both {h_name} and {c_name})")
    h, c = state
    if (h is None) != (c is None):
        missing = c_name if c is None else h_name
        raise ValueError(f"state must give both {h_name} and {c_name}, or be None: "
                         f"{missing} is missing")
    return h, c


def _upstream(name, d, B, H, unbatched, dtype, xp):
    """An upstream gradient as a batched (B, H) array: zeros for None, else checked."""
    if unbatched:
        return check_upstream(name, d, (H,), "(H,)", dtype, xp, "the forward was unbatched")[None]
    return check_upstream(name, d, (B, H), "(B, H)", dtype, xp)
