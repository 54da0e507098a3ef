"""Byte mutations of valid weight files, for the property-based fuzzer.

A mutation is a tuple applied to ``data`` (bytes) with a donor (another valid file's bytes):

    ("flip", at, mask)            data[at] ^= mask (mask 1..255)
    ("cut", at)                   data[:at]                              (truncation)
    ("zero", at, length)          data[at:at+length] = 0
    ("splice", at, start, length) donor[start:start+length] replaces as many bytes at ``at``
    ("insert", at, start, length) donor[start:start+length] inserted at ``at``
    ("repeat", at, length)        data[at:at+length] written twice

Positions are drawn as fractions of the length, or near the start or the end (where zip
directories, headers and HDF5 superblocks are), so one strategy serves every size.
"""

from __future__ import annotations

from hypothesis import strategies as st

_EDGE = 256


@st.composite
def positions(draw, size: int):
    """A byte position in ``range(size)``: anywhere, in the first or in the last 256."""
    if size <= 1:
        return 0
    where = draw(st.sampled_from(["any", "head", "tail"]))
    if where == "head":
        return draw(st.integers(0, min(_EDGE, size) - 1))
    if where == "tail":
        return draw(st.integers(max(0, size - _EDGE), size - 1))
    return draw(st.integers(0, size - 1))


@st.composite
def mutations(draw, size: int, donor_size: int):
    """1 to 4 mutations of a file of ``size`` bytes, with a donor of ``donor_size``."""
    ops = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "flip", "cut", "zero", "splice",
                                     "insert", "repeat"]))
        at = draw(positions(size))
        length = draw(st.integers(1, 64))
        start = draw(st.integers(0, max(donor_size - 1, 0)))
        if kind == "flip":
            ops.append(("flip", at, draw(st.integers(1, 255))))
        elif kind == "cut":
            ops.append(("cut", at))
        elif kind in ("zero", "repeat"):
            ops.append((kind, at, length))
        else:
            ops.append((kind, at, start, length))
    return ops


def apply(data: bytes, ops, donor: bytes) -> bytes:
    """``data`` with the mutations ``ops`` applied in order (positions clipped to fit)."""
    out = bytearray(data)
    for op in ops:
        kind, at = op[0], min(op[1], max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= op[2]
        elif kind == "cut":
            del out[at:]
        elif kind == "zero":
            out[at:at + op[2]] = bytes(len(out[at:at + op[2]]))
        elif kind == "repeat":
            out[at:at] = out[at:at + op[2]]
        elif kind in ("splice", "insert"):
            piece = donor[op[2]:op[2] + op[3]]
            if kind == "splice":
                out[at:at + len(piece)] = piece
            else:
                out[at:at] = piece
    return bytes(out)
