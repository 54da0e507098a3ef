"""Text from a file, made safe to put in a one-line message."""

from __future__ import annotations

__all__ = ["shown"]


def shown(text, limit: int = 120) -> str:
    """``text`` as one printable line: what is not printable (newlines, ANSI escapes) escaped
    as ``repr`` escapes it, and at most ``limit`` characters, cut with "…"."""
    text = str(text)
    if not text.isprintable():
        text = repr(text)[1:-1]
    return text if len(text) <= limit else text[:limit] + "…"
