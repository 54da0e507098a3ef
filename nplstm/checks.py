"""Validation at the public boundary: one helper per kind of check, one wording for errors.

Every public entry point (functional forwards/backwards, module calls) validates its inputs
once with these helpers; inner loops and kernels trust their inputs.  Messages always name the
argument, what was expected and what was given.
"""

from __future__ import annotations

import math
import os

import numpy as np

from .backend import (asnumpy, check_float_array, check_not_masked, describe_value, dtype_name,
                      get_array_module, is_array)

__all__ = ["check_shape", "check_rank", "check_arrays", "check_lengths", "check_upstream",
           "check_indices", "check_not_empty", "shape_str", "add_batch_axis", "drop_batch_axis",
           "check_flags", "check_cache", "check_record", "printable_name", "quoted_name",
           "printable_text", "NAME_LIMIT", "describe_value", "check_real", "check_int", "check_bool",
           "check_choice", "check_path", "format_table", "one_line"]

# what one entry along an axis is, for "x must have at least one time step (T ≥ 1)"
_AXIS_ENTRIES = {"T": "time step", "B": "sequence in the batch", "I": "input feature",
                 "H": "hidden unit", "4H": "gate row", "N": "row", "C": "class", "O": "output",
                 "V": "embedding row", "E": "embedding feature"}


# how many characters of a name from a file a message or a listing shows (then "…")
NAME_LIMIT = 120

_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable_name(name, limit: int = NAME_LIMIT) -> str:
    """``name`` (a name read from a file, or anything: non-str values show as their repr) safe
    to print on a terminal and bounded in length: every character that is not printable
    (ANSI escapes, newlines, bidi controls, …) and the backslash are escaped as Python
    writes them (``\\x1b``, ``\\n``, ``\\u202e``), and past ``limit`` characters the rest is
    cut: ``"encoder.…(20000000 characters)"``.  For a str, costs O(limit) whatever its length.

    Every message and listing that quotes a name from a file goes through this (the CLI's
    inspect and convert, the readers' errors), so a file can neither draw on the terminal
    nor make a line of gigabytes.
    """
    if isinstance(name, str):
        return _printable(name, limit, _ESCAPES)
    return _printable(repr(name), limit, {})        # a repr's \ is its own escape


def quoted_name(name, limit: int = NAME_LIMIT) -> str:
    """``'name'`` for error messages: ``printable_name`` in single quotes."""
    return f"'{printable_name(name, limit)}'"


def quoted_names(names, limit: int = 3, name_limit: int = NAME_LIMIT // 2) -> str:
    """Up to ``limit`` names from a file, each ``quoted_name``'d to ``name_limit`` characters,
    and how many more there are: ``'a', 'b', 'c' and 4 more``."""
    names = list(names)
    listed = ", ".join(quoted_name(n, name_limit) for n in names[:limit])
    return listed + (f" and {len(names) - limit} more" if len(names) > limit else "")


def printable_text(text: str, limit: int) -> str:
    """A whole message (which may quote names already escaped) safe for a terminal: as
    ``printable_name``, but a backslash stays one backslash (it is not escaped twice)."""
    return _printable(str(text), limit, {"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def one_line(text, limit: int) -> str:
    """``text`` (a message, an exception: anything ``str`` takes) on one line, its runs of
    white space folded to one space, then ``printable_text``: safe for a terminal, cut past
    ``limit`` characters.  What every "one line, never a traceback" message goes through."""
    return printable_text(" ".join(str(text).split()), limit)


def _printable(text: str, limit: int, escapes: dict) -> str:
    shown = []
    width = 0
    for ch in text[:limit]:
        piece = escapes.get(ch) or (ch if ch.isprintable() else _escape(ch))
        if width + len(piece) > limit:
            break
        shown.append(piece)
        width += len(piece)
    if len(shown) < len(text):
        return "".join(shown) + f"…({len(text)} characters)"
    return "".join(shown)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def shape_str(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_shape(name: str, a, expected: tuple, letters: str, hint: str = "") -> None:
    """Raise ``ValueError`` unless ``a.shape == expected``.

    ``letters`` spells the expected shape symbolically, e.g. ``"(B, H)"``; the message reads
    ``h must have shape (B, H) = (3, 20), got (3, 21)``.
    """
    if tuple(a.shape) != tuple(expected):
        extra = f"; {hint}" if hint else ""
        raise ValueError(f"{name} must have shape {letters} = {shape_str(expected)}, "
                         f"got {shape_str(a.shape)}{extra}")


def check_rank(name: str, a, ranks: tuple, letters: str) -> None:
    """Raise ``ValueError`` unless ``a.ndim`` is one of ``ranks`` (``letters`` names the forms)."""
    if a.ndim not in ranks:
        raise ValueError(f"{name} must have shape {letters}, got {shape_str(a.shape)} ({a.ndim}-D)")


def check_arrays(named: dict, dtype=None, required=()):
    """Validate float arrays given as ``{name: array or None}``; return their module ``xp``.

    All non-None arrays must be float32/float64 NumPy or CuPy arrays, live on one backend and
    share one dtype (``dtype`` if given, else the first one's).  The names in ``required``
    may not be None (the others are optional).  Mismatches are ``TypeError``s naming the
    arguments involved.
    """
    present = {k: v for k, v in named.items() if v is not None or k in required}
    first_name = None
    for name, a in present.items():
        check_float_array(name, a)
    xp = get_array_module(*present.values(), names=list(present))
    for name, a in present.items():
        if dtype is None:
            dtype, first_name = a.dtype, name
        elif a.dtype != dtype:
            ref = f"{first_name} is {np.dtype(dtype).name}" if first_name else (
                f"{np.dtype(dtype).name} is expected")
            raise TypeError(f"{name} has dtype {dtype_name(a.dtype)} but {ref}; nplstm never "
                            "casts silently (convert explicitly with .astype, or build the "
                            "module with that dtype)")
    return xp


def check_not_empty(name: str, a, axes: tuple) -> None:
    """``ValueError`` when an axis of ``a`` has length 0: nplstm refuses empty arrays.

    ``axes`` names ``a``'s axes by letter, e.g. ``("T", "B", "I")``; the message reads
    ``x must have at least one time step (T ≥ 1), got shape (0, 2, 3) = (T, B, I)``.
    """
    if a.size:
        return
    k = list(a.shape).index(0)
    letter = axes[k] if len(axes) == a.ndim else f"axis {k}"
    entry = _AXIS_ENTRIES.get(letter, "entry")
    layout = f" = ({', '.join(axes)})" if len(axes) == a.ndim else ""
    raise ValueError(f"{name} must have at least one {entry} ({letter} ≥ 1), got shape "
                     f"{shape_str(a.shape)}{layout}; nplstm refuses empty arrays")


def check_lengths(lengths, T: int, B: int) -> np.ndarray:
    """Validate per-sequence ``lengths`` (B,) with 1 <= length <= T; return a host int64 array."""
    if isinstance(lengths, (list, tuple)):
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in lengths):
            raise TypeError(f"lengths must hold integers, got {lengths!r}")
        bad = next((v for v in lengths if not 1 <= v <= T), None)
        if bad is not None and not -2**63 <= bad < 2**63:    # past int64: say so, by value
            raise ValueError(f"lengths must lie in [1, T] = [1, {T}], got a length of {bad}")
        arr = np.asarray(lengths, dtype=np.int64).reshape(-1) if lengths else np.zeros(0, np.int64)
    else:
        check_not_masked("lengths", lengths)
        arr = asnumpy(lengths)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"lengths must be an integer array, got dtype {arr.dtype.name}")
    if arr.shape != (B,):
        raise ValueError(f"lengths must have shape (B,) = ({B},), got {shape_str(arr.shape)}")
    if B and (arr.min() < 1 or arr.max() > T):
        bad = int(arr[(arr < 1) | (arr > T)][0])
        raise ValueError(f"lengths must lie in [1, T] = [1, {T}], got a length of {bad}")
    return arr.astype(np.int64, copy=False)


def check_upstream(name: str, d, expected: tuple, letters: str, dtype, xp, hint: str = ""):
    """An upstream gradient: zeros of shape ``expected`` for None, else dtype- and shape-checked."""
    if d is None:
        return xp.zeros(expected, dtype=dtype)
    check_arrays({name: d}, dtype=dtype)
    check_shape(name, d, expected, letters, hint)
    return d


def check_indices(name: str, a, size: int, xp) -> None:
    """Integer class/token indices: an integer array on ``xp``'s backend with values in
    [0, size); ``TypeError`` for the kind or device, ``ValueError`` for a value out of range."""
    if not is_array(a):
        raise TypeError(f"{name} must be an integer NumPy or CuPy array, got "
                        f"{describe_value(a)}")
    check_not_masked(name, a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {dtype_name(a.dtype)}")
    get_array_module(a, xp.empty(0), names=[name, "the weights"])
    if a.size and (int(a.min()) < 0 or int(a.max()) >= size):
        bad = int(a[(a < 0) | (a >= size)].reshape(-1)[0])
        raise ValueError(f"{name} must lie in [0, {size}), got {bad}")


def add_batch_axis(unbatched: bool, axis: int, *arrays):
    """Unbatched inputs in batched form: each array with a batch axis of size 1 inserted at
    ``axis`` when ``unbatched`` (torch accepts (I,) for (B, I), (T, I) for (T, B, I)), else
    unchanged; None stays None.  One array in, one out; several, a tuple."""
    out = tuple(a if a is None or not unbatched else a[(slice(None),) * axis + (None,)]
                for a in arrays)
    return out if len(out) > 1 else out[0]


def drop_batch_axis(unbatched: bool, axis: int, *arrays):
    """The results of a call whose inputs were unbatched: each array without its batch axis
    ``axis`` (of size 1) when ``unbatched``, as torch returns them, else unchanged; None stays
    None.  One array in, one out; several, a tuple."""
    out = tuple(a if a is None or not unbatched else a[(slice(None),) * axis + (0,)]
                for a in arrays)
    return out if len(out) > 1 else out[0]


# ---- scalars: the one vocabulary every layer validates numbers, flags and choices with ----

def check_real(name, value, *, minimum=None, maximum=None, strict=False, allow_none=False):
    """A finite real number within [minimum, maximum] (``strict``: > minimum); as a float.

    bool, str, None (unless ``allow_none``) and other non-numbers are ``TypeError``s; NaN,
    ±inf and values out of range are ``ValueError``s.
    """
    if value is None and allow_none:
        return None
    wanted = "a finite real number" + _range(minimum, maximum, strict)
    if allow_none:
        wanted += " (or None)"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise TypeError(f"{name} must be {wanted}, got {describe_value(value, array_wanted=False)}")
    try:
        number = float(value)
    except OverflowError:                   # an int beyond float64's range
        number = math.inf
    below = minimum is not None and (number <= minimum if strict else number < minimum)
    above = maximum is not None and number > maximum
    if not math.isfinite(number) or below or above:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return number


def _range(minimum, maximum, strict) -> str:
    low, high = _number(minimum), _number(maximum)
    if minimum is not None and maximum is not None:
        return f" in {'(' if strict else '['}{low}, {high}]"
    if minimum is not None:
        return f" {'>' if strict else '>='} {low}"
    return f" <= {high}" if maximum is not None else ""


def _number(x) -> str:
    """A bound as a reader writes it: 31536000, not 3.1536e+07; 0.5; 1e-10."""
    return str(int(x)) if x is not None and float(x).is_integer() and abs(x) < 1e16 \
        else f"{x:g}" if x is not None else ""


def check_int(name, value, *, minimum=None, maximum=None):
    """An int (Python or NumPy; bool refused) in [``minimum``, ``maximum``]; as a Python int.

    ``TypeError`` for a non-int (a float 3.0 too), ``ValueError`` out of range.  A count that
    costs work per unit (trials, repeats) should get a ``maximum``: 2**70 of them is a hang.
    """
    wanted = "a positive int" if minimum == 1 else "an int" + (
        f" >= {minimum}" if minimum is not None else "")
    wanted += f" <= {maximum}" if maximum is not None else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {wanted}, got {describe_value(value, array_wanted=False)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


def check_bool(name, value) -> bool:
    """True or False (NumPy's bool too); numbers and strings are refused (``TypeError``): a
    string such as "False" is truthy and would silently mean True."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {describe_value(value, array_wanted=False)}")
    return bool(value)


def check_choice(name, value, choices):
    """One of ``choices`` (strings): ``TypeError`` for a non-str, ``ValueError`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {tuple(choices)}, got {describe_value(value, array_wanted=False)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {quoted_name(value)}")
    return value


def check_path(name, value):
    """A str or os.PathLike (``TypeError`` naming ``name`` otherwise); returned as given."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(value).__name__}")
    return value


def check_flags(**flags) -> None:
    """``check_bool`` for each keyword: ``batch_first="False"`` would read (T, B) as (B, T)."""
    for name, value in flags.items():
        check_bool(name, value)


def format_table(rows, markdown: bool = False) -> list[str]:
    """Rows of cells (the first is the header) as aligned lines: plain text with a rule of
    dashes under the header, or a Markdown table (``markdown=True``)."""
    cells = [[str(v) for v in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(cells[0]))]
    if markdown:
        lines = ["| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |"
                 for row in cells]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    else:
        lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def check_cache(cache, kind, forward: str) -> None:
    """``TypeError`` unless ``cache`` is a ``kind``: the NamedTuple the forward ``forward``
    returns, and the only thing its backward can undo."""
    if not isinstance(cache, kind):
        raise TypeError(f"cache must be the {kind.__name__} returned by {forward}, "
                        f"got {type(cache).__name__}")


def check_record(record) -> None:
    """``TypeError`` unless ``record`` (where a backward puts its per-step norms) is a dict
    or None."""
    if record is not None and not isinstance(record, dict):
        raise TypeError(f"record must be a dict or None, got {type(record).__name__}")
