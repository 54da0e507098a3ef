"""Whether modules record their forward for a later backward: ``with nplstm.no_grad(): ...``."""

from __future__ import annotations

import threading

__all__ = ["no_grad", "is_grad_enabled"]

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad()`` block (of this thread)."""
    return getattr(_state, "enabled", True)


class no_grad:
    """Context manager: modules called inside keep no caches (inference, memory of one step).

    ``backward`` after such a call finds nothing recorded for it.  Nests, and is per-thread.
    """

    def __enter__(self) -> no_grad:
        self._previous = is_grad_enabled()
        _state.enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._previous
