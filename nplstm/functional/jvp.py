"""Forward-mode derivatives (JVPs) of the LSTM and GRU cells and layers, written by hand.

Where a backward maps ∂L/∂outputs to ∂L/∂inputs (a vector-Jacobian product, Jᵀu), a JVP
pushes a *tangent* of the inputs forward to the tangent of the outputs (J v): for inputs
moving as x + s·x_dot, the outputs move as h + s·h_dot + O(s²).  Tangents are named with the
suffix ``_dot``; the NamedTuples of tangents have the fields of the matching gradients, and
a tangent left None is zero.  The LSTM's equations, with the code's names: docs/derivation.md
§6 (and beside each line of ``_gates_jvp``); the GRU's open the GRU section below.

These exist to check the backward passes without finite differences:
``nplstm.adjoint_check`` verifies ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ to round-off.  They favour clarity
over speed (one allocation per step).
"""

from typing import Any, Callable, NamedTuple, Optional, Union

from ..backend import Array

from ..checks import check_arrays, check_lengths, check_shape, drop_batch_axis
from ..kernels import kernels_for, split_gates, split_gru_gates
from .gru import _input_bias as _gru_input_bias, _step_forward as _gru_step_forward
from .packing import make_plan
from .inputs import (check_gru_weights, check_hidden, check_sequence_inputs, check_sequence_x,
                     check_step_inputs, check_step_x, check_weights)

__all__ = ["CellTangents", "SequenceTangents", "lstm_cell_jvp", "lstm_jvp", "GRUCellTangents",
           "GRUTangents", "gru_cell_jvp", "gru_jvp"]


class CellTangents(NamedTuple):
    """Tangents of ``lstm_cell_forward``'s inputs (fields as ``CellGrads``); None = zero."""

    x: Optional[Array] = None          # (B, I) or (I,)
    h_prev: Optional[Array] = None     # (B, H) or (H,)
    c_prev: Optional[Array] = None     # (B, H) or (H,)
    weight_ih: Optional[Array] = None  # (4H, I)
    weight_hh: Optional[Array] = None  # (4H, H)
    bias_ih: Optional[Array] = None    # (4H,)
    bias_hh: Optional[Array] = None    # (4H,)


class SequenceTangents(NamedTuple):
    """Tangents of ``lstm_forward``'s inputs (fields as ``SequenceGrads``); None = zero."""

    x: Optional[Array] = None          # (T, B, I) or (T, I)
    h0: Optional[Array] = None         # (B, P) or (P,)
    c0: Optional[Array] = None         # (B, H) or (H,)
    weight_ih: Optional[Array] = None  # (4H, I)
    weight_hh: Optional[Array] = None  # (4H, P)
    bias_ih: Optional[Array] = None    # (4H,)
    bias_hh: Optional[Array] = None    # (4H,)
    weight_hr: Optional[Array] = None  # (P, H)


def lstm_cell_jvp(x: Array, state: Optional[tuple[Array, Array]], weight_ih: Array,
                  weight_hh: Array, bias_ih: Optional[Array] = None,
                  bias_hh: Optional[Array] = None, *,
                  tangents: Union[CellTangents, dict[str, Any], None] = None
                  ) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """One step and its tangent: ``(h1, c1), (h1_dot, c1_dot)``.

    Arguments as ``lstm_cell_forward``; ``tangents`` a ``CellTangents`` (or a dict of its
    fields, or None), each tangent shaped like its input.  Returns (h1, c1) and their
    tangents, each (B, H) (unbatched (H,)).
    """
    xp, I, H, _ = check_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, h_prev, c_prev, unbatched = check_step_inputs(x, state, weight_ih, I, H, xp)
    t = _tangents(tangents, xp, unbatched, batch_axis=0, primals=CellTangents(
        x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh))
    # z = x W_ihᵀ + h W_hhᵀ + b_ih + b_hh, and its tangent by the product rule
    z = x @ weight_ih.T + h_prev @ weight_hh.T                               # (B, 4H)
    z_dot = (t.x @ weight_ih.T + x @ t.weight_ih.T
             + t.h_prev @ weight_hh.T + h_prev @ t.weight_hh.T)              # (B, 4H)
    if bias_ih is not None:
        z = z + bias_ih + bias_hh
        z_dot = z_dot + t.bias_ih + t.bias_hh
    c, h, c_dot, h_dot = _gates_jvp(z, z_dot, c_prev, t.c_prev, xp)
    h, c, h_dot, c_dot = drop_batch_axis(unbatched, 0, h, c, h_dot, c_dot)
    return (h, c), (h_dot, c_dot)


def lstm_jvp(x: Array, state: Optional[tuple[Array, Array]], weight_ih: Array, weight_hh: Array,
             bias_ih: Optional[Array] = None, bias_hh: Optional[Array] = None,
             weight_hr: Optional[Array] = None, *, lengths: Any = None, reverse: bool = False,
             tangents: Union[SequenceTangents, dict[str, Any], None] = None
             ) -> tuple[tuple[Array, tuple[Array, Array]], tuple[Array, tuple[Array, Array]]]:
    """One layer and direction, and its tangent.

    Arguments as ``lstm_forward`` (lengths and reverse included); ``tangents`` a
    ``SequenceTangents`` (or a dict, or None).  Returns ``(output, (h_n, c_n)),
    (output_dot, (h_n_dot, c_n_dot))``, shaped (T, B, P), (B, P), (B, H) (unbatched: no B).
    Tangents of x at padded steps are ignored, as the forward ignores x there.
    """
    xp, I, H, P = check_weights(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)
    x, h0, c0, unbatched = check_sequence_inputs(x, state, weight_ih, I, H, P, xp)
    T, B = x.shape[:2]
    t = _tangents(tangents, xp, unbatched, batch_axis=None, primals=SequenceTangents(
        x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr))
    plan = make_plan(T, B, None if lengths is None else check_lengths(lengths, T, B), reverse,
                     xp)
    c_w, c_dot_w = plan.batch_to_work(c0).copy(), plan.batch_to_work(t.c0).copy()  # (B, H)

    def step(z_in: Array, z_in_dot: Array, h_prev: Array, h_prev_dot: Array) -> Any:
        n = h_prev.shape[0]                                                  # rows running
        z = z_in + h_prev @ weight_hh.T                                      # (n, 4H)
        z_dot = z_in_dot + h_prev_dot @ weight_hh.T + h_prev @ t.weight_hh.T
        c, r, c_dot, r_dot = _gates_jvp(z, z_dot, c_w[:n], c_dot_w[:n], xp)
        c_w[:n], c_dot_w[:n] = c, c_dot          # rows past their end keep their last state
        if weight_hr is None:
            return r, r_dot                                                  # h = r
        # h = r W_hrᵀ ⇒ h_dot = r_dot W_hrᵀ + r W_hr_dotᵀ                    (n, P)
        return r @ weight_hr.T, r_dot @ weight_hr.T + r @ t.weight_hr.T

    bias = bias_dot = None                # z_in = x W_ihᵀ + b_ih + b_hh, and its tangent
    if bias_ih is not None and bias_hh is not None:
        bias, bias_dot = bias_ih + bias_hh, t.bias_ih + t.bias_hh
    output, output_dot, h_n, h_n_dot = _layer_jvp(x, h0, t, plan, weight_ih, bias, bias_dot,
                                                  P, step, xp)
    c_n, c_n_dot = plan.batch_from_work(c_w), plan.batch_from_work(c_dot_w)  # (B, H)
    output, output_dot = drop_batch_axis(unbatched, 1, output, output_dot)
    h_n, c_n, h_n_dot, c_n_dot = drop_batch_axis(unbatched, 0, h_n, c_n, h_n_dot, c_n_dot)
    return (output, (h_n, c_n)), (output_dot, (h_n_dot, c_n_dot))


def _layer_jvp(x: Array, h0: Array, t: Any, plan: Any, weight_ih: Array, bias: Any,
               bias_dot: Any, size: int, step: Callable[..., Any], xp: Any) -> Any:
    """The walk of ``lstm_jvp`` and ``gru_jvp`` over batched x (T, B, I), h0 (B, size) and
    their tangents ``t``: z_in = x W_ihᵀ (+ bias) and its tangent (+ bias_dot) for every step,
    one GEMM each, then ``step(z_in, z_in_dot, h_prev, h_prev_dot)`` → (h, h_dot) of the
    running rows, in work order.  Returns output, output_dot (T, B, size), h_n, h_n_dot."""
    T, B = x.shape[:2]
    x_w = plan.to_work(x, zero_padding=True)                                 # (T, B, I)
    x_dot_w = plan.to_work(t.x, zero_padding=True)                           # (T, B, I)
    z_in = x_w @ weight_ih.T                                                 # (T, B, G·H)
    z_in_dot = x_dot_w @ weight_ih.T + x_w @ t.weight_ih.T                   # (T, B, G·H)
    if bias is not None:
        z_in = z_in + bias
    if bias_dot is not None:
        z_in_dot = z_in_dot + bias_dot
    output = xp.zeros((T, B, size), dtype=x.dtype)     # zero at padded steps, as the forward
    output_dot = xp.zeros_like(output)                                       # (T, B, size)
    h0_w, h0_dot_w = plan.batch_to_work(h0), plan.batch_to_work(t.h0)        # (B, size)
    for s in range(T):
        n = plan.batch_sizes[s]                                              # rows running
        h_prev = output[s - 1, :n] if s else h0_w[:n]                        # (n, size)
        h_prev_dot = output_dot[s - 1, :n] if s else h0_dot_w[:n]
        output[s, :n], output_dot[s, :n] = step(z_in[s, :n], z_in_dot[s, :n], h_prev,
                                                h_prev_dot)
    rows, last = xp.arange(B), xp.asarray(plan.last_step)
    h_n, h_n_dot = (plan.batch_from_work(o[last, rows]) for o in (output, output_dot))
    return plan.from_work(output), plan.from_work(output_dot), h_n, h_n_dot


def _gates_jvp(z: Array, z_dot: Array, c_prev: Array, c_prev_dot: Array,
               xp: Any) -> tuple[Array, Array, Array, Array]:
    """The elementwise step and its tangent: (c, r, c_dot, r_dot), each (B, H).

    z, z_dot (B, 4H) pre-activations and their tangent; r = o ⊙ tanh(c) (the cell's h before
    any projection).  The primal values and the gates' derivatives come from the same gate
    kernels as the forward and the backward.
    """
    B, H = c_prev.shape
    kernels = kernels_for(xp)
    gates = z.copy()                                                         # (B, 4H)
    c, tanh_c, r = (xp.empty((B, H), dtype=z.dtype) for _ in range(3))
    kernels.gates_forward(gates, c_prev, c, tanh_c, r)            # gates now [i | f | g | o]
    a_dot = xp.empty_like(gates)
    kernels.gate_derivatives(gates, a_dot)                        # da/dz        (B, 4H)
    a_dot *= z_dot                                   # a = act(z) ⇒ a_dot = act'(z) ⊙ z_dot
    i, f, g, o = split_gates(gates)
    i_dot, f_dot, g_dot, o_dot = split_gates(a_dot)
    dtanh_c = xp.empty_like(tanh_c)
    kernels.tanh_derivative(tanh_c, dtanh_c)                      # 1 − tanh²(c)  (B, H)
    c_dot = f_dot * c_prev + f * c_prev_dot + i_dot * g + i * g_dot   # c = f c_prev + i g
    r_dot = o_dot * tanh_c + o * dtanh_c * c_dot                      # r = o tanh(c)
    return c, r, c_dot, r_dot


def _tangents(tangents: Any, xp: Any, unbatched: bool, batch_axis: Optional[int],
              primals: Any) -> Any:
    """Batched tangents of the kind of ``primals``: zeros for None, each checked against
    its primal.

    ``primals`` holds the batched primal of every field (None where the input is absent);
    with ``unbatched`` the caller's tangents of x and the state lack the batch axis
    (axis 0 for the cell, axis 1 of x and axis 0 of the state for the sequence).
    """
    kind = type(primals)
    if tangents is None:
        tangents = kind()
    elif isinstance(tangents, dict):
        unknown = set(tangents) - set(kind._fields)
        if unknown:
            raise ValueError(f"tangents has unknown fields {sorted(unknown)}; "
                             f"expected {kind._fields}")
        tangents = kind(**tangents)
    elif not isinstance(tangents, kind):
        raise TypeError(f"tangents must be a {kind.__name__}, a dict of its fields or None, "
                        f"got {type(tangents).__name__}")
    out: dict[str, Any] = {}
    for name, primal in zip(kind._fields, primals):
        tangent = getattr(tangents, name)
        label = f"tangents.{name}"
        if primal is None:
            if tangent is not None:
                raise ValueError(f"{label} was given, but the forward has no {name}")
            out[name] = None
            continue
        if tangent is None:
            out[name] = xp.zeros_like(primal)
            continue
        check_arrays({name: primal, label: tangent})
        axis = None
        if unbatched and not name.startswith(("weight", "bias")):
            axis = 1 if (batch_axis is None and name == "x") else 0
        expected = primal.shape if axis is None else \
            primal.shape[:axis] + primal.shape[axis + 1:]
        check_shape(label, tangent, expected, f"{name}'s shape")
        out[name] = tangent if axis is None else xp.expand_dims(tangent, axis)
    return kind(**out)


# -- the GRU (gru.py) --------------------------------------------------------------------------
#
#     gi_dot = x_dot W_ihᵀ + x W_ih_dotᵀ + b_ih_dot,   gh_dot = h_dot W_hhᵀ + h W_hh_dotᵀ + b_hh_dot
#     r_dot  = r(1 − r) ⊙ (gi_r_dot + gh_r_dot),      z_dot = z(1 − z) ⊙ (gi_z_dot + gh_z_dot)
#     n_dot  = (1 − n²) ⊙ (gi_n_dot + r_dot ⊙ hn + r ⊙ gh_n_dot)        (hn = h W_hnᵀ + b_hn)
#     h'_dot = n_dot + z_dot ⊙ (h − n) + z ⊙ (h_dot − n_dot)            (h' = n + z ⊙ (h − n))

class GRUCellTangents(NamedTuple):
    """Tangents of ``gru_cell_forward``'s inputs (fields as ``GRUCellGrads``); None = zero."""

    x: Optional[Array] = None          # (B, I) or (I,)
    h_prev: Optional[Array] = None     # (B, H) or (H,)
    weight_ih: Optional[Array] = None  # (3H, I)
    weight_hh: Optional[Array] = None  # (3H, H)
    bias_ih: Optional[Array] = None    # (3H,)
    bias_hh: Optional[Array] = None    # (3H,)


class GRUTangents(NamedTuple):
    """Tangents of ``gru_forward``'s inputs (fields as ``GRUGrads``); None = zero."""

    x: Optional[Array] = None          # (T, B, I) or (T, I)
    h0: Optional[Array] = None         # (B, H) or (H,)
    weight_ih: Optional[Array] = None  # (3H, I)
    weight_hh: Optional[Array] = None  # (3H, H)
    bias_ih: Optional[Array] = None    # (3H,)
    bias_hh: Optional[Array] = None    # (3H,)


def gru_cell_jvp(x: Array, state: Optional[Array], weight_ih: Array, weight_hh: Array,
                 bias_ih: Optional[Array] = None, bias_hh: Optional[Array] = None, *,
                 tangents: Union[GRUCellTangents, dict[str, Any], None] = None
                 ) -> tuple[Array, Array]:
    """One GRU step and its tangent: ``h1, h1_dot``, each (B, H) (unbatched (H,)).

    Arguments as ``gru_cell_forward``; ``tangents`` a ``GRUCellTangents`` (or a dict of its
    fields, or None), each tangent shaped like its input.
    """
    xp, I, H = check_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, unbatched = check_step_x(x, weight_ih, I, state=state)               # (B, I)
    h_prev = check_hidden("state", state, x.shape[0], H, unbatched, x.dtype, xp)  # (B, H)
    t = _tangents(tangents, xp, unbatched, batch_axis=0, primals=GRUCellTangents(
        x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh))
    gi = x @ weight_ih.T                                                     # (B, 3H)
    gi_dot = t.x @ weight_ih.T + x @ t.weight_ih.T
    if bias_ih is not None:
        gi_dot = gi_dot + t.bias_ih
    h1, h1_dot = _gru_step_jvp(gi, gi_dot, h_prev, t.h_prev, weight_hh, t.weight_hh, bias_ih,
                               bias_hh, t.bias_hh, xp)
    return drop_batch_axis(unbatched, 0, h1, h1_dot)


def gru_jvp(x: Array, state: Optional[Array], weight_ih: Array, weight_hh: Array,
            bias_ih: Optional[Array] = None, bias_hh: Optional[Array] = None, *,
            lengths: Any = None, reverse: bool = False,
            tangents: Union[GRUTangents, dict[str, Any], None] = None
            ) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """One GRU layer and direction, and its tangent: ``(output, h_n), (output_dot, h_n_dot)``.

    Arguments as ``gru_forward`` (lengths and reverse included); ``tangents`` a
    ``GRUTangents`` (or a dict, or None).  Shapes (T, B, H), (B, H) (unbatched: no B).
    Tangents of x at padded steps are ignored, as the forward ignores x there.
    """
    xp, I, H = check_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, unbatched = check_sequence_x(x, weight_ih, I, state=state)           # (T, B, I)
    T, B = x.shape[:2]
    h0 = check_hidden("state", state, B, H, unbatched, x.dtype, xp)         # (B, H)
    t = _tangents(tangents, xp, unbatched, batch_axis=None, primals=GRUTangents(
        x, h0, weight_ih, weight_hh, bias_ih, bias_hh))
    plan = make_plan(T, B, None if lengths is None else check_lengths(lengths, T, B), reverse,
                     xp)
    # gi = x W_ihᵀ for every step (the step adds the biases), and its tangent with b_ih's
    output, output_dot, h_n, h_n_dot = _layer_jvp(
        x, h0, t, plan, weight_ih, None, None if bias_ih is None else t.bias_ih, H,
        lambda gi, gi_dot, h_prev, h_prev_dot: _gru_step_jvp(
            gi, gi_dot, h_prev, h_prev_dot, weight_hh, t.weight_hh, bias_ih, bias_hh,
            t.bias_hh, xp), xp)
    output, output_dot = drop_batch_axis(unbatched, 1, output, output_dot)
    h_n, h_n_dot = drop_batch_axis(unbatched, 0, h_n, h_n_dot)
    return (output, h_n), (output_dot, h_n_dot)


def _gru_step_jvp(gi: Array, gi_dot: Array, h_prev: Array, h_prev_dot: Array,
                  weight_hh: Array, weight_hh_dot: Array, bias_ih: Optional[Array],
                  bias_hh: Optional[Array], bias_hh_dot: Optional[Array],
                  xp: Any) -> tuple[Array, Array]:
    """The GRU step and its tangent (module comment above): (h1, h1_dot), each (B, H).

    gi (B, 3H) is x W_ihᵀ without bias, gi_dot its tangent with b_ih's; the primal comes
    from the fast step itself (gru.py), so h1 is the forward's to the bit.
    """
    B, H = h_prev.shape
    gates = gi.copy()                                                        # (B, 3H)
    bias = _gru_input_bias(bias_ih, bias_hh)
    if bias is not None:
        gates += bias
    recurrent = h_prev @ weight_hh.T                                         # (B, 3H)
    gh_dot = h_prev_dot @ weight_hh.T + h_prev @ weight_hh_dot.T             # (B, 3H)
    if bias_hh_dot is not None:
        gh_dot = gh_dot + bias_hh_dot
    hn, h1 = xp.empty((B, H), dtype=gi.dtype), xp.empty((B, H), dtype=gi.dtype)
    _gru_step_forward(xp, gates, recurrent, None if bias_hh is None else bias_hh[2 * H:],
                      h_prev, hn, h1)                            # gates now [r | z | n]
    r, z, n = split_gru_gates(gates)
    a_dot = gi_dot + gh_dot                                     # [a_r | a_z | ·] tangents
    r_dot = r * (1 - r) * a_dot[:, :H]                          # r = σ(a_r)
    z_dot = z * (1 - z) * a_dot[:, H:2 * H]                     # z = σ(a_z)
    n_dot = (1 - n * n) * (gi_dot[:, 2 * H:] + r_dot * hn + r * gh_dot[:, 2 * H:])
    h1_dot = n_dot + z_dot * (h_prev - n) + z * (h_prev_dot - n_dot)   # h' = n + z (h − n)
    return h1, h1_dot
