"""What ONNX export and import share: the optional ``onnx`` import and the gate order.

torch stacks the four gates along 4H as  i, f, g, o;  ONNX's LSTM stacks them as  i, o, f, c
(c is torch's g, the cell candidate).  A weight (4H, ·) or bias (4H,) is reordered by
moving whole blocks of H rows:

    onnx_block[k] = torch_block[TORCH_TO_ONNX[k]]        torch_block[k] = onnx_block[ONNX_TO_TORCH[k]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["require_onnx", "reorder_gates", "TORCH_TO_ONNX", "ONNX_TO_TORCH"]

#            ONNX i  o  f  c(=g)   read from torch's blocks i=0 f=1 g=2 o=3
TORCH_TO_ONNX = (0, 3, 1, 2)
#            torch i  f  g  o      read from ONNX's blocks i=0 o=1 f=2 c=3
ONNX_TO_TORCH = (0, 2, 3, 1)


def require_onnx():
    """The ``onnx`` package, or an ImportError that names the extra to install."""
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401  (a submodule not imported by ``onnx`` itself)
    except ImportError as err:
        raise ImportError("ONNX export/import needs the onnx package: "
                          "pip install 'nplstm[onnx]'") from err
    return onnx


def reorder_gates(a: np.ndarray, order) -> np.ndarray:
    """``a`` (4H, ...) with its four H-row gate blocks taken in ``order`` (a copy)."""
    H = a.shape[0] // 4
    blocks = a.reshape(4, H, *a.shape[1:])                 # (4, H, ...)
    return np.ascontiguousarray(blocks[list(order)].reshape(a.shape))
