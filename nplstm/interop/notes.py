"""Notes about a weight file that is read but not as it was (a warning, not a refusal)."""

from __future__ import annotations

import warnings

__all__ = ["WeightFileWarning", "note"]


class WeightFileWarning(UserWarning):
    """A weight file was read, with something to know: float16 converted to float32, NaN
    values, a state dict picked out of a checkpoint dict."""


def note(message: str, *, stacklevel: int) -> None:
    """Warn with WeightFileWarning; ``stacklevel`` counts from the caller of ``note``."""
    warnings.warn(message, WeightFileWarning, stacklevel=stacklevel + 1)
