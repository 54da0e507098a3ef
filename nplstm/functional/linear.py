"""The affine layer and the embedding lookup, forward and hand-written backward.

    linear:     y = x Wᵀ + b          x (..., I), weight (O, I), bias (O,) → y (..., O)
    embedding:  y[n] = weight[idx[n]]   idx (...) integers in [0, V), weight (V, E) → y (..., E)

Leading axes ("...") are any batch shape, flattened to N rows for the products.
"""

from typing import Any, NamedTuple, Optional

import numpy as np

from ..backend import Array, get_array_module, scatter_add
from ..checks import (check_arrays, check_cache, check_indices, check_not_empty, check_rank,
                     check_shape, check_upstream)

__all__ = ["LinearCache", "LinearGrads", "linear_forward", "linear_backward",
           "EmbeddingCache", "EmbeddingGrads", "embedding_forward", "embedding_backward",
           "check_padding_idx"]


class LinearCache(NamedTuple):
    x: Array          # (N, I)  the input, leading axes flattened
    weight: Array     # (O, I)  a reference, not a copy
    has_bias: bool
    lead_shape: tuple[int, ...]  # the input's leading axes "..."


class LinearGrads(NamedTuple):
    x: Array                # (..., I)
    weight: Array           # (O, I)
    bias: Optional[Array]   # (O,), None without bias


def linear_forward(x: Array, weight: Array, bias: Optional[Array] = None
                   ) -> tuple[Array, LinearCache]:
    """``y, cache = linear_forward(x, weight, bias)`` with y = x Wᵀ + b (torch.nn.Linear).

    x       (..., I)  any number of leading axes, at least one dimension; no empty axis
    weight  (O, I);  bias (O,) or None
    returns y (..., O) and a ``LinearCache``
    """
    check_arrays({"weight": weight, "bias": bias, "x": x}, required=("weight", "x"))
    check_rank("weight", weight, (2,), "(O, I)")
    check_not_empty("weight", weight, ("O", "I"))
    O, I = weight.shape
    if bias is not None:
        check_shape("bias", bias, (O,), "(O,)", "O is weight's first dimension")
    if x.ndim == 0 or x.shape[-1] != I:
        raise ValueError(f"x must have shape (..., I) with I = {I} (weight's second dimension), "
                         f"got {tuple(x.shape)}")
    check_not_empty("x", x, ())
    lead_shape = tuple(x.shape[:-1])
    x2 = x.reshape(-1, I)                                    # (N, I)
    y = x2 @ weight.T                                        # (N, O)   y = x Wᵀ
    if bias is not None:
        y += bias                                            # (N, O)   + b
    return y.reshape(lead_shape + (O,)), LinearCache(x2, weight, bias is not None, lead_shape)


def linear_backward(dy: Array, cache: LinearCache) -> LinearGrads:
    """Gradients of ``linear_forward`` from ``dy`` = ∂L/∂y (..., O).

    returns ``LinearGrads``: x (..., I), weight (O, I), bias (O,) or None
    """
    check_cache(cache, LinearCache, "linear_forward")
    x2, weight, has_bias, lead_shape = cache
    O, I = weight.shape
    xp = check_arrays({"x (from the cache)": x2, "dy": dy})
    dy = check_upstream("dy", dy, lead_shape + (O,), "(..., O)", x2.dtype, xp)
    dy2 = dy.reshape(-1, O)                                  # (N, O)
    dx = (dy2 @ weight).reshape(lead_shape + (I,))           # (..., I)  y = x Wᵀ ⇒ dx = dy W
    dweight = dy2.T @ x2                                     # (O, I)    dW = dyᵀ x
    dbias = dy2.sum(axis=0) if has_bias else None            # (O,)      db = Σ_n dy
    return LinearGrads(dx, dweight, dbias)


class EmbeddingCache(NamedTuple):
    indices: Array    # (N,)   flattened integer indices (on the weight's device)
    keep: Optional[Array]  # (N, 1) 0/1 of the weight's dtype: 0 at padding_idx, or None
    weight_shape: tuple[int, ...]  # (V, E)
    dtype: np.dtype[Any]  # the weight's dtype
    lead_shape: tuple[int, ...]  # the indices' shape "..."


class EmbeddingGrads(NamedTuple):
    weight: Array     # (V, E)


def embedding_forward(indices: Array, weight: Array, padding_idx: Optional[int] = None
                      ) -> tuple[Array, EmbeddingCache]:
    """``y, cache = embedding_forward(indices, weight)``: y[...] = weight[indices[...]].

    indices      integer array (...) with values in [0, V), on the weight's device; 0-d
                 gives y (E,); no empty axis
    weight       (V, E)
    padding_idx  an int in [−V, V) whose row gets no gradient (torch.nn.Embedding's; a
                 negative one counts from the end), or None
    returns      y (..., E) and an ``EmbeddingCache``
    """
    xp = check_arrays({"weight": weight}, required=("weight",))
    check_rank("weight", weight, (2,), "(V, E)")
    check_not_empty("weight", weight, ("V", "E"))
    V, E = weight.shape
    padding_idx = check_padding_idx(padding_idx, V)
    check_indices("indices", indices, V, xp)
    check_not_empty("indices", indices, ())
    flat = indices.reshape(-1)                               # (N,)
    y = weight[flat]                                         # (N, E)  a gathered copy
    keep = None
    if padding_idx is not None:
        keep = (flat != padding_idx).astype(weight.dtype)[:, None]   # (N, 1)
    cache = EmbeddingCache(flat, keep, (V, E), weight.dtype, tuple(indices.shape))
    return y.reshape(tuple(indices.shape) + (E,)), cache


def check_padding_idx(padding_idx: Optional[int], V: int) -> Optional[int]:
    """``padding_idx`` as a row index in [0, V), or None: an int (not a bool) in [−V, V);
    ``TypeError`` for another type, ``ValueError`` outside the range (torch's rule)."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, (bool, np.bool_)) or not isinstance(padding_idx,
                                                                   (int, np.integer)):
        raise TypeError(f"padding_idx must be an int in [-{V}, {V}) or None, got "
                        f"{padding_idx!r} ({type(padding_idx).__name__})")
    if not -V <= padding_idx < V:
        raise ValueError(f"padding_idx must lie in [-{V}, {V}), got {padding_idx}")
    return int(padding_idx) % V


def embedding_backward(dy: Array, cache: EmbeddingCache) -> EmbeddingGrads:
    """Gradient of ``embedding_forward``: dweight[v] = Σ over positions n with idx[n] = v of dy[n].

    dy       (..., E) like the forward's output
    returns  ``EmbeddingGrads(weight)`` (V, E); the padding row is 0
    """
    check_cache(cache, EmbeddingCache, "embedding_forward")
    flat, keep, (V, E), dtype, lead_shape = cache
    xp = get_array_module(flat)
    dy = check_upstream("dy", dy, lead_shape + (E,), "(..., E)", dtype, xp,
                        "like the forward's output")
    dy2 = dy.reshape(-1, E)                                  # (N, E)
    if keep is not None:   # where, not a product: NaN · 0 would reach the padding row (torch: 0)
        dy2 = xp.where(keep != 0, dy2, dy2.dtype.type(0))   # (N, E)  no gradient to padding
    dweight = xp.zeros((V, E), dtype=dy.dtype)               # (V, E)
    scatter_add(dweight, flat, dy2)                          # dW[idx[n]] += dy[n]
    return EmbeddingGrads(dweight)
