"""The one error of ``nplstm.visualize``: a run, a text or a setting it cannot work with."""

from __future__ import annotations

__all__ = ["VisualizeError"]


class VisualizeError(ValueError):
    """What is wrong, in one line that names the file or the setting (the CLI exits 2)."""
