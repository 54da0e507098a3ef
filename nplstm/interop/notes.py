"""Notes about a weight file that is read but not as it was (a warning, not a refusal)."""

from __future__ import annotations

import warnings

from ..checks import quoted_names

__all__ = ["WeightFileWarning", "note", "converted_note"]


class WeightFileWarning(UserWarning):
    """A weight file was read, with something to know: float16 converted to float32, NaN
    values, a state dict picked out of a checkpoint dict."""


def note(message: str, *, stacklevel: int) -> None:
    """Warn with WeightFileWarning; ``stacklevel`` counts from the caller of ``note``."""
    warnings.warn(message, WeightFileWarning, stacklevel=stacklevel + 1)


def converted_note(source: str, names: list[str], dtype: str) -> str:
    """The note for tensors ``names`` of ``source`` converted from ``dtype`` to float32."""
    return (f"{source}: {quoted_names(names, 6)} converted from {dtype} to float32 (exactly; "
            "nplstm computes in float32 or float64)")
