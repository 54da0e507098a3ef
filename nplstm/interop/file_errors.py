"""The errors of nplstm.interop: every refusal of a weight file is one of these (and a
missing optional package is an ImportError naming the extra that installs it)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["WeightFileError", "UnsafeFileError", "UnsupportedModelError", "require"]


class WeightFileError(ValueError):
    """A weight file that is missing, truncated, corrupt, of an unknown type, or holds
    something that is not weights.  The message names the file and what is wrong."""


class UnsafeFileError(WeightFileError):
    """A file that would run code when read the usual way (a pickle naming a global that a
    state dict never needs), or make the reader read other files (an HDF5 link, virtual
    dataset or external storage; ONNX external data outside the model's folder).  Nothing
    from it was executed, and nothing it points at was read."""


class UnsupportedModelError(WeightFileError):
    """Weights of a model nplstm cannot represent exactly (peepholes, other activations,
    a clip, a projection in ONNX, …): refused rather than approximated."""


def require(package: str, extra: str, doing: str) -> Any:
    """The optional ``package`` (a dotted name imports its parents too), or an ImportError:
    "``doing`` needs the <package> package: pip install 'nplstm[``extra``]'"."""
    try:
        return importlib.import_module(package)
    except ImportError as err:
        raise ImportError(f"{doing} needs the {package.split('.')[0]} package: "
                          f"pip install 'nplstm[{extra}]'") from err
