"""``Linear`` and ``Embedding``: torch's modules on arrays, composed from ``nplstm.functional``."""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np
import numpy.typing as npt

from ..backend import Array, to_device
from ..checks import check_flags
from .. import functional as F
from ..functional.linear import check_padding_idx
from .module import Module, Parameter, check_sizes, generator

__all__ = ["Linear", "Embedding"]


class Linear(Module):
    """torch.nn.Linear on arrays: ``y = linear(x)`` with y = x Wᵀ + b; ``linear.backward(dy)``.

    weight (O, I) and bias (O,) initialised U(−1/√I, 1/√I) as torch's default init.
    x is (..., I) with any leading axes (none of them empty); y is (..., O).  dtype
    "float32" (also for None) or "float64"; seed None, an int ≥ 0 or a SeedSequence.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: npt.DTypeLike = "float32", device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(dtype=dtype, device=device)
        check_sizes(in_features=in_features, out_features=out_features)
        check_flags(bias=bias)
        self.in_features, self.out_features = in_features, out_features
        shapes: dict[str, tuple[int, ...]] = {"weight": (out_features, in_features)}
        if bias:
            shapes["bias"] = (out_features,)
        else:
            self.bias = None      # as torch: the attribute exists and is None
        self._init_uniform(shapes, 1.0 / math.sqrt(in_features), seed)

    def forward(self, x: Array) -> Array:
        """y = x Wᵀ + b: x (..., I) → y (..., O); records the call for ``backward``."""
        self._check_input("x", x)
        y, cache = F.linear_forward(x, self.weight.data,
                                    None if self.bias is None else self.bias.data)
        self._record(cache)
        return y

    def backward(self, dy: Array) -> Array:
        """Undo the most recent recorded forward: returns dx; adds into weight/bias ``.grad``."""
        grads = F.linear_backward(dy, self._peek())           # validates dy first
        self._consume({"weight": grads.weight} if self.bias is None else
                      {"weight": grads.weight, "bias": grads.bias})
        return grads.x

    def _repr_fields(self) -> tuple[tuple[Any, ...], dict[str, tuple[Any, Any]]]:
        return (self.in_features, self.out_features), {"bias": (self.bias is not None, True)}


class Embedding(Module):
    """torch.nn.Embedding on arrays: ``y = emb(indices)``, y[...] = weight[indices[...]].

    weight (V, E) initialised N(0, 1) as torch (the ``padding_idx`` row zeroed, and it never
    gets a gradient).  indices: an integer array (...) on the module's device; y (..., E).
    ``backward(dy)`` adds into weight.grad and returns None (indices have no gradient).
    padding_idx: None or an int (not a bool) in [−V, V).  dtype "float32" (also for None) or
    "float64"; seed None, an int ≥ 0 or a ``numpy.random.SeedSequence``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: Optional[int] = None, *, dtype: npt.DTypeLike = "float32",
                 device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(dtype=dtype, device=device)
        check_sizes(num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        padding_idx = check_padding_idx(padding_idx, num_embeddings)      # now in [0, V)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        value = generator(seed).standard_normal((num_embeddings, embedding_dim),
                                                 dtype=self.dtype)      # no float64 copy
        if padding_idx is not None:
            value[padding_idx] = 0.0
        self.weight = Parameter(to_device(value, self.device))

    def forward(self, indices: Array) -> Array:
        """y[...] = weight[indices[...]]: indices (...) → y (..., E); records the call."""
        y, cache = F.embedding_forward(indices, self.weight.data, self.padding_idx)
        self._record(cache)
        return y

    def backward(self, dy: Array) -> None:
        """Undo the most recent recorded forward: adds into weight.grad; returns None."""
        grads = F.embedding_backward(dy, self._peek())        # validates dy first
        self._consume({"weight": grads.weight})
        return None

    def _repr_fields(self) -> tuple[tuple[Any, ...], dict[str, tuple[Any, Any]]]:
        return (self.num_embeddings, self.embedding_dim), {
            "padding_idx": (self.padding_idx, None)}
