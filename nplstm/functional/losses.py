"""Losses, forward and hand-written backward: softmax cross-entropy and mean squared error.

    cross-entropy:  L = −(1/M) Σ_{n valid} log softmax(z_n)[t_n]      z (N, C), t (N,)
                    M = the number of valid targets (t_n ≠ ignore_index)
    MSE:            L = (1/K) Σ_k (p_k − y_k)²                           K = p.size

Both return the loss as a 0-d array of the input's dtype (``float(loss)`` for a number), and
agree with torch.nn.functional.cross_entropy / mse_loss (reduction "mean").
"""

from typing import Any, NamedTuple, Optional, Union

import numpy as np

from ..backend import Array, check_not_masked, describe_value, dtype_name, get_array_module, is_array
from ..checks import (check_arrays, check_cache, check_indices, check_int, check_not_empty,
                     check_rank, check_shape)

__all__ = ["CrossEntropyCache", "CrossEntropyGrads", "cross_entropy_forward",
           "cross_entropy_backward", "MSECache", "MSEGrads", "mse_forward", "mse_backward"]


class CrossEntropyCache(NamedTuple):
    probs: Array      # (N, C)  softmax(z)
    targets: Array    # (N,)    class indices, 0 where ignored
    valid: Array      # (N, 1)  1 where the target counts, 0 where it is ignore_index
    count: int  # type: ignore[assignment]  # M, the valid targets (shadows tuple.count)


class CrossEntropyGrads(NamedTuple):
    logits: Array     # (N, C)


def cross_entropy_forward(logits: Array, targets: Array, ignore_index: int = -100
                          ) -> tuple[Array, CrossEntropyCache]:
    """``loss, cache = cross_entropy_forward(logits, targets)``: mean of −log softmax(z)[t].

    logits        (N, C) unnormalised scores, N, C ≥ 1 (empty axes are refused)
    targets       (N,) integers in [0, C), or ``ignore_index`` (those rows add nothing)
    ignore_index  an int (default −100, torch's)
    returns       the loss (0-d array; NaN when every target is ignored, as torch) and a
                  ``CrossEntropyCache``
    """
    xp = check_arrays({"logits": logits}, required=("logits",))
    check_rank("logits", logits, (2,), "(N, C) (reshape (B, T, C) to (B·T, C))")
    check_not_empty("logits", logits, ("N", "C"))
    check_int("ignore_index", ignore_index)
    N, C = logits.shape
    _check_targets(targets, N, C, ignore_index, xp)
    valid = targets != ignore_index                          # (N,)
    safe_targets = xp.where(valid, targets, 0)               # (N,)  any index where ignored
    # log softmax(z)[t] = z_t − m − log Σ_c exp(z_c − m),  m = max_c z_c  (no overflow)
    shifted = logits - logits.max(axis=1, keepdims=True)     # (N, C)  z − m
    exp = xp.exp(shifted)                                    # (N, C)
    sum_exp = exp.sum(axis=1, keepdims=True)                 # (N, 1)
    log_p = shifted[xp.arange(N), safe_targets] - xp.log(sum_exp[:, 0])   # (N,)
    count = int(valid.sum())
    valid_col = valid[:, None].astype(logits.dtype)          # (N, 1)
    if count:   # where, not a product: an ignored row's NaN must not reach the loss (torch)
        log_p = xp.where(valid, log_p, logits.dtype.type(0))                           # (N,)
        loss = xp.asarray(-log_p.sum() / logits.dtype.type(count))                     # ()
    else:   # 0/0, as torch: the mean over no targets is NaN
        loss = xp.asarray(float("nan"), dtype=logits.dtype)
    probs = exp / sum_exp                                    # (N, C)  softmax(z)
    return loss, CrossEntropyCache(probs, safe_targets, valid_col, count)


def cross_entropy_backward(dloss: Union[float, Array], cache: CrossEntropyCache
                           ) -> CrossEntropyGrads:
    """∂L/∂z = dloss · (softmax(z) − onehot(t)) / M on valid rows, 0 on ignored rows.

    dloss    ∂(final)/∂L, a scalar or 0-d array (1.0 when L is the final loss)
    returns  ``CrossEntropyGrads(logits)`` (N, C)
    """
    check_cache(cache, CrossEntropyCache, "cross_entropy_forward")
    probs, targets, valid, count = cache
    xp = get_array_module(probs)
    scale = _upstream_scalar(dloss, probs) / max(count, 1)   # ()  dloss / M
    dlogits = probs.copy()                                   # (N, C)  softmax(z)
    dlogits[xp.arange(probs.shape[0]), targets] -= 1         # (N, C)  − onehot(t)
    dlogits *= valid * scale                                 # (N, C)  rows ignored → 0
    return CrossEntropyGrads(dlogits)


class MSECache(NamedTuple):
    diff: Array       # p − y, shaped like the inputs


class MSEGrads(NamedTuple):
    pred: Array       # like pred
    target: Array     # like target


def mse_forward(pred: Array, target: Array) -> tuple[Array, MSECache]:
    """``loss, cache = mse_forward(pred, target)``: the mean of (p − y)² over all elements.

    pred, target  the same shape and dtype (any shape, 0-d included; no empty axis)
    returns       the loss (0-d array) and an ``MSECache``
    """
    xp = check_arrays({"pred": pred, "target": target}, required=("pred", "target"))
    check_shape("target", target, tuple(pred.shape), "like pred")
    check_not_empty("pred", pred, ())
    diff = xp.asarray(pred - target)                         # p − y  (0-d stays an array)
    loss = xp.asarray((diff * diff).sum() / pred.dtype.type(pred.size))  # ()  (1/K) Σ (p − y)²
    return loss, MSECache(diff)


def mse_backward(dloss: Union[float, Array], cache: MSECache) -> MSEGrads:
    """∂L/∂p = dloss · 2 (p − y) / K and ∂L/∂y = −∂L/∂p."""
    check_cache(cache, MSECache, "mse_forward")
    diff = cache.diff
    scale = _upstream_scalar(dloss, diff) * (2.0 / diff.size)   # ()  2 dloss / K
    dpred = get_array_module(diff).asarray(diff * scale)     # like pred
    return MSEGrads(dpred, -dpred)


def _check_targets(targets: Array, N: int, C: int, ignore_index: int, xp: Any) -> None:
    """targets: (N,) integers, each in [0, C) or equal to ignore_index."""
    if not is_array(targets):
        raise TypeError("targets must be an integer array of class indices, got "
                        f"{describe_value(targets)}")
    check_not_masked("targets", targets)
    if targets.dtype.kind not in "iu":
        raise TypeError("targets must be an integer array of class indices, got "
                        f"{dtype_name(targets.dtype)}")
    check_shape("targets", targets, (N,), "(N,)", "one class index per row of logits")
    counted = targets[targets != ignore_index]
    check_indices("targets", counted, C, xp)


def _upstream_scalar(dloss: Any, like: Array) -> Any:
    """The upstream gradient of a scalar loss: a number (Python or NumPy scalar, like 1.0 or
    ``loss.item()``), or a 0-d array of the loss's dtype and device; returned as a scalar
    that keeps ``like``'s dtype (a number is a value, not an array with a dtype)."""
    if isinstance(dloss, (int, float, np.integer, np.floating)) and not isinstance(dloss, bool):
        return like.dtype.type(dloss)
    if not is_array(dloss):     # None is not "zeros" here: the final loss's gradient is 1.0
        raise TypeError("dloss must be a real number or a 0-d array of the loss's dtype "
                        f"(1.0 when L is the final loss), got {describe_value(dloss)}")
    check_arrays({"the loss": like, "dloss": dloss})
    if dloss.shape != ():
        raise ValueError(f"dloss must be a scalar (shape ()), got shape {tuple(dloss.shape)}")
    return dloss
