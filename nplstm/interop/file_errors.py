"""The errors of nplstm.interop: every refusal of a weight file is one of these."""

from __future__ import annotations

__all__ = ["WeightFileError", "UnsafeFileError", "UnsupportedModelError"]


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
