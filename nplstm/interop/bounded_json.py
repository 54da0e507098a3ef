"""``json.loads`` with bounds on size and nesting, for JSON that comes from a file.

Python's parser recurses once per ``[`` or ``{``: 200,000 of them are a ``RecursionError``
(or worse), and whatever walks the result recurses as deep.  So the depth is measured first,
on the bytes, with the strings taken out (a bracket inside a string does not nest), in time
and memory linear in the size.
"""

from __future__ import annotations

import json
import re

import numpy as np

__all__ = ["loads_bounded", "nesting_depth"]

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in the JSON text ``data``, outside strings (an
    upper bound for text that is not valid JSON)."""
    text = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    step = np.isin(text, (ord("["), ord("{"))).astype(np.int64) \
        - np.isin(text, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def loads_bounded(data: bytes, *, max_bytes: int, max_depth: int):
    """``json.loads(data)``, or ValueError (one line) when ``data`` is longer than
    ``max_bytes``, nests deeper than ``max_depth``, or is not JSON."""
    if len(data) > max_bytes:
        raise ValueError(f"it is {len(data)} bytes, more than the {max_bytes} allowed")
    depth = nesting_depth(data)
    if depth > max_depth:
        raise ValueError(f"it nests {depth} levels deep, more than the {max_depth} allowed")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"it is not valid JSON ({err})") from None
