"""The recurrent functions' boundary: validation of the weights, the inputs and the upstream
gradients, shared by the fast LSTM, GRU and RNN functions, the reference and the JVPs.

Each returns its arrays in *batched* form: an unbatched step input (I,) or state (H,)
comes back as (1, I) / (1, H), an unbatched sequence (T, I) as (T, 1, I), with a flag
``unbatched`` the caller uses to drop the batch axis of its results.
"""

from __future__ import annotations

from typing import Any

from ..checks import (add_batch_axis, check_arrays, check_not_empty, check_rank, check_shape,
                      check_upstream)

__all__ = ["check_weights", "check_step_inputs", "check_step_upstream",
           "check_sequence_x", "check_sequence_inputs", "check_sequence_upstream", "unpack_state",
           "single_state",
           "check_gru_weights", "check_hidden", "check_step_x"]


def check_weights(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr=None, *, gates=4):
    """Check that the weights of one layer fit each other; return (xp, I, H, P).

    weight_ih (G·H, I), weight_hh (G·H, P), bias_ih and bias_hh (G·H,) (both or neither),
    weight_hr (P, H) or None (then P = H); G = ``gates``, the blocks stacked in the rows:
    4 for the LSTM [i | f | g | o], 3 for the GRU [r | z | n], 1 for the RNN.  Shapes are
    ``ValueError``s, dtypes and backends ``TypeError``s, each naming the weight.
    """
    if (bias_ih is None) != (bias_hh is None):
        given, missing = ("bias_ih", "bias_hh") if bias_hh is None else ("bias_hh", "bias_ih")
        raise ValueError(f"{given} was given without {missing}: pass both biases or neither")
    xp = check_arrays({"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih,
                       "bias_hh": bias_hh, "weight_hr": weight_hr},
                      required=("weight_ih", "weight_hh"))
    gh = f"{gates}H" if gates > 1 else "H"                        # the rows, e.g. "4H"
    if weight_ih.ndim != 2 or (gates > 1 and (weight_ih.shape[0] % gates
                                              or weight_ih.shape[0] == 0)):
        multiple = f" with {gh} a positive multiple of {gates}" if gates > 1 else ""
        raise ValueError(f"weight_ih must have shape ({gh}, I){multiple}, "
                         f"got {tuple(weight_ih.shape)}")
    check_not_empty("weight_ih", weight_ih, (gh, "I"))
    rows, I = weight_ih.shape
    H = rows // gates
    if weight_hr is not None:
        if weight_hr.ndim != 2 or weight_hr.shape[1] != H:
            raise ValueError(f"weight_hr must have shape (P, H) = (P, {H}), "
                             f"got {tuple(weight_hr.shape)}")
        check_not_empty("weight_hr", weight_hr, ("P", "H"))
        P = weight_hr.shape[0]
        check_shape("weight_hh", weight_hh, (rows, P), f"({gh}, P)",
                    "with a projection weight_hh multiplies the projected h of size P")
    else:
        P = H
        check_shape("weight_hh", weight_hh, (rows, H), f"({gh}, H)",
                    f"H = {H} from weight_ih's {rows} rows")
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            check_shape(name, b, (rows,), f"({gh},)")
    return xp, I, H, P


def check_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh):
    """``check_weights`` of one GRU layer: (xp, I, H)."""
    return check_weights(weight_ih, weight_hh, bias_ih, bias_hh, gates=3)[:3]


def check_step_inputs(x, state, weight_ih, I, H, xp):
    """Validate x and (h, c) of one step; return batched x, h, c and whether x was unbatched."""
    h, c = (None, None) if state is None else unpack_state(state)
    x, unbatched = check_step_x(x, weight_ih, I, h=h, c=c)                  # (B, I)
    h, c = (check_hidden(name, a, x.shape[0], H, unbatched, x.dtype, xp)    # (B, H) each
            for name, a in (("h", h), ("c", c)))
    return x, h, c, unbatched


def unpack_state(state: Any, names: tuple[str, str] = ("h", "c")) -> tuple[Any, Any]:
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


def single_state(state: Any, name: str, argument: str = "state") -> Any:
    """A one-array state (the GRU's and the RNN's ``state`` / ``dstate``), returned as given;
    refuse a tuple or list, an LSTM-style (h, c) pair, naming the argument."""
    if isinstance(state, (tuple, list)):
        raise TypeError(f"{argument} must be one array {name} or None (a GRU's or an RNN's "
                        "state is h alone, not an LSTM's (h, c) pair), got "
                        f"{type(state).__name__} of length {len(state)}")
    return state


def check_step_upstream(name, d, B, H, unbatched, dtype, xp):
    """An upstream gradient as a batched (B, H) array: zeros for None, else checked."""
    if unbatched:
        d = check_upstream(name, d, (H,), "(H,)", dtype, xp, "the forward was unbatched")
        return add_batch_axis(True, 0, d)                                   # (1, H)
    return check_upstream(name, d, (B, H), "(B, H)", dtype, xp)


def check_sequence_x(x, weight_ih, I, **states):
    """Validate x (T, B, I) / (T, I) (and that ``states``, {name: array or None}, share its
    dtype and backend); return batched x (T, B, I) and whether x was unbatched.  Shared by
    the LSTM and the RNN functions."""
    check_arrays({"weight_ih": weight_ih, "x": x, **states}, required=("x",))
    check_rank("x", x, (2, 3), "(T, B, I) or unbatched (T, I)")
    unbatched = x.ndim == 2
    # T = 0 has no last step to return: every empty axis is refused (docs/guide.md#errors)
    check_not_empty("x", x, ("T", "I") if unbatched else ("T", "B", "I"))
    x = add_batch_axis(unbatched, 1, x)                                     # (T, B, I)
    T, B = x.shape[:2]
    check_shape("x", x[:, 0] if unbatched else x, (T, I) if unbatched else (T, B, I),
                "(T, I)" if unbatched else "(T, B, I)", "I is weight_ih's second dimension")
    return x, unbatched


def check_sequence_inputs(x, state, weight_ih, I, H, P, xp):
    """Validate x (T, B, I) / (T, I) and the state; return batched x, h0, c0, unbatched."""
    h0, c0 = (None, None) if state is None else unpack_state(state, names=("h0", "c0"))
    x, unbatched = check_sequence_x(x, weight_ih, I, h0=h0, c0=c0)
    B = x.shape[1]
    if h0 is None:
        h0 = xp.zeros((B, P), dtype=x.dtype)
        return x, h0, xp.zeros((B, H), dtype=x.dtype), unbatched
    for name, a, size, letter in (("h0", h0, P, "P" if P != H else "H"), ("c0", c0, H, "H")):
        if unbatched:
            check_shape(name, a, (size,), f"({letter},)", "unbatched x (T, I) takes (P,), (H,)")
        else:
            check_shape(name, a, (B, size), f"(B, {letter})", "B is x's batch size")
    h0, c0 = add_batch_axis(unbatched, 0, h0, c0)                           # (B, P), (B, H)
    return x, h0, c0, unbatched


def check_sequence_upstream(doutput, dh_n, dc_n, T, B, H, P, unbatched, dtype, xp, *,
                            cell=True, p_letter="P"):
    """Upstream gradients in batched form (zeros for None), shape-checked against the forward.

    cell=False (the RNN: no cell state): dc_n is not checked and comes back None; p_letter
    names the output size in messages ("H" for the RNN).
    """
    Q = p_letter
    if unbatched:
        doutput = check_upstream("doutput", doutput, (T, P), f"(T, {Q})", dtype, xp)
        dh_n = check_upstream("dh_n", dh_n, (P,), f"({Q},)", dtype, xp)
        dc_n = check_upstream("dc_n", dc_n, (H,), "(H,)", dtype, xp) if cell else None
        return add_batch_axis(True, 1, doutput), *add_batch_axis(True, 0, dh_n, dc_n)
    else:
        doutput = check_upstream("doutput", doutput, (T, B, P), f"(T, B, {Q})", dtype, xp)
        dh_n = check_upstream("dh_n", dh_n, (B, P), f"(B, {Q})", dtype, xp)
        dc_n = check_upstream("dc_n", dc_n, (B, H), "(B, H)", dtype, xp) if cell else None
    return doutput, dh_n, dc_n


def check_hidden(name, h, B, H, unbatched, dtype, xp):
    """One state array (the GRU's h, the LSTM cell's h or c): zeros (B, H) for None, else
    checked against x's batch size and H and returned batched (B, H)."""
    if h is None:
        return xp.zeros((B, H), dtype=dtype)
    check_shape(name, h, (H,) if unbatched else (B, H), "(H,)" if unbatched else "(B, H)",
                "unbatched x takes an unbatched state" if unbatched else
                "B is x's batch size, H is weight_hh's second dimension")
    return add_batch_axis(unbatched, 0, h)                                  # (B, H)


def check_step_x(x, weight_ih, I, **states):
    """Validate one step's x (B, I) / (I,) (and that ``states``, {name: array or None}, share
    its dtype and backend); return batched x (B, I) and whether x was unbatched.  Shared by
    the LSTM and the GRU functions."""
    # the weight first, so that dtype and device mismatches name it: "x has dtype float64
    # but weight_ih is float32"
    check_arrays({"weight_ih": weight_ih, "x": x, **states}, required=("x",))
    check_rank("x", x, (1, 2), "(B, I) or unbatched (I,)")
    unbatched = x.ndim == 1
    check_not_empty("x", x, ("I",) if unbatched else ("B", "I"))
    x = add_batch_axis(unbatched, 0, x)                                     # (B, I)
    check_shape("x", x[0] if unbatched else x, (I,) if unbatched else (x.shape[0], I),
                "(I,)" if unbatched else "(B, I)", "I is weight_ih's second dimension")
    return x, unbatched
