"""Simple features of a text, one number per character, that a cell may track.

Each feature at position t describes the text *after reading* character t, as the cell
state c_t does (c_t has read x_0 … x_t):

    in_quotes      1 inside a pair of double quotes "…" (the opening quote counts as inside,
                   the closing one as outside), else 0
    in_brackets    the nesting depth of (), [] and {} (an opening bracket counts as inside,
                   a closing one as outside; a closing bracket with none open is ignored)
    line_position  the column of character t in its line (0 for a line's first character;
                   a line break is the last character of the line it ends)
    indentation    the leading spaces of t's line read so far: 1, 2, … on the leading spaces
                   themselves, then all of them up to and including the line's break
    word_start     1 on the first character of a word (a letter, digit or _ after anything
                   else), else 0
    in_word        1 on a character of a word (a letter, digit or _), else 0

None looks ahead: each depends on characters 0 … t only.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FEATURES", "text_features"]

FEATURES = {
    "in_quotes": "inside a pair of double quotes \"…\"",
    "in_brackets": "nesting depth of (), [] and {}",
    "line_position": "column of the character in its line",
    "indentation": "leading spaces of the character's line, read so far",
    "word_start": "first character of a word",
    "in_word": "a letter, digit or _ (inside a word)",
}

_OPEN, _CLOSE = "([{", ")]}"


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def text_features(text: str) -> dict:
    """``{name: (T,) float64}`` for every name of ``FEATURES``, T = len(text)."""
    T = len(text)
    values = {name: np.zeros(T) for name in FEATURES}
    inside, depth, column, previous, indent, leading = False, 0, 0, "\n", 0, True
    for t, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        values["in_quotes"][t] = inside
        values["in_brackets"][t] = depth
        values["line_position"][t] = column
        values["word_start"][t] = _is_word_char(ch) and not _is_word_char(previous)
        values["in_word"][t] = _is_word_char(ch)
        if leading and ch == " ":
            indent += 1
        elif ch != "\n":
            leading = False                        # the first other character ends them
        values["indentation"][t] = indent
        if ch == "\n":
            column, indent, leading = 0, 0, True
        else:
            column += 1
        previous = ch
    return values
