"""Validation of one LSTM layer's weights, shared by the cell and the sequence functions."""

from __future__ import annotations

from ..checks import check_arrays, check_not_empty, check_shape

__all__ = ["check_lstm_weights"]


def check_lstm_weights(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr=None):
    """Check that the weights of one LSTM layer fit each other; return (xp, I, H, P).

    weight_ih (4H, I), weight_hh (4H, P), bias_ih and bias_hh (4H,) (both or neither),
    weight_hr (P, H) or None (then P = H).  Shapes are ``ValueError``s, dtypes and backends
    ``TypeError``s, each naming the weight.
    """
    if (bias_ih is None) != (bias_hh is None):
        given, missing = ("bias_ih", "bias_hh") if bias_hh is None else ("bias_hh", "bias_ih")
        raise ValueError(f"{given} was given without {missing}: pass both biases or neither")
    xp = check_arrays({"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih,
                       "bias_hh": bias_hh, "weight_hr": weight_hr},
                      required=("weight_ih", "weight_hh"))
    if weight_ih.ndim != 2 or weight_ih.shape[0] % 4 or weight_ih.shape[0] == 0:
        raise ValueError(f"weight_ih must have shape (4H, I) with 4H a positive multiple of 4, "
                         f"got {tuple(weight_ih.shape)}")
    check_not_empty("weight_ih", weight_ih, ("4H", "I"))
    four_h, I = weight_ih.shape
    H = four_h // 4
    if weight_hr is not None:
        if weight_hr.ndim != 2 or weight_hr.shape[1] != H:
            raise ValueError(f"weight_hr must have shape (P, H) = (P, {H}), "
                             f"got {tuple(weight_hr.shape)}")
        check_not_empty("weight_hr", weight_hr, ("P", "H"))
        P = weight_hr.shape[0]
        check_shape("weight_hh", weight_hh, (four_h, P), "(4H, P)",
                    "with a projection weight_hh multiplies the projected h of size P")
    else:
        P = H
        check_shape("weight_hh", weight_hh, (four_h, H), "(4H, H)",
                    f"H = {H} from weight_ih's {four_h} rows")
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            check_shape(name, b, (four_h,), "(4H,)")
    return xp, I, H, P
