"""The wire between the grader and the process that runs a learner's file: JSON and raw
numeric arrays, never pickle, read with bounds.

    message = JSON header + arrays, each described in the header by dtype and shape
    encode(header, arrays) -> bytes;  decode(data) -> (header, arrays)
    frame   = 8-byte big-endian length + message: write_frame / read_frame (blocking, the
              child) and FrameReader (the parent: a deadline, a size limit)

The parent reads what the child sends as untrusted bytes: ``decode`` accepts only plain
numeric dtypes (bool, int, uint, float, complex), shapes whose byte count is what the message
holds, and bounded sizes, and builds fresh base-class ``ndarray``s; anything else is a
``ChannelError``.

Values, child → parent (what a learner's function returned: a tuple or list of them, or one):
    an ndarray of a plain numeric dtype (of any subclass)  → a fresh base-class ndarray copy
    a NumPy scalar → the same scalar;  a float → a float;  None → None
    anything else (a cache, a list of arrays, an object array, an int) → an ``Opaque``: its
                                       type name, and a handle the child keeps it under
Parent → child, the arguments: arrays, None, ``Opaque`` handles (a cache passed back), ints
and floats, and lists of arrays.  So the grader compares only plain arrays and floats it
built itself: nothing read from the child can run code in the parent.
"""

from __future__ import annotations

import json
import os
import re
import select
import time
from dataclasses import dataclass

import numpy as np

__all__ = ["ChannelError", "ChildGone", "GradingTimeout", "MAX_FRAME_BYTES", "encode",
           "decode", "write_frame", "read_frame", "FrameReader", "Opaque", "type_name",
           "describe", "rebuild", "describe_argument", "rebuild_argument"]

MAX_FRAME_BYTES = 64 * 2**20     # one reply; the exercises' outputs are a few kB
MAX_HEADER_BYTES = 2**20
MAX_ARRAYS = 256
MAX_NDIM = 32
_LENGTH_BYTES = 8
_DTYPE = re.compile(r"[<>|=]?[biufc][0-9]{1,2}")


class ChannelError(Exception):
    """What came over the wire is not a message of this protocol (``str()``: why)."""


class ChildGone(Exception):
    """The other end closed the wire (the child process ended)."""


class GradingTimeout(Exception):
    """The deadline passed while waiting for the child."""


def encode(header: dict, arrays=()) -> bytes:
    """``header`` (JSON-able) and plain numeric ``arrays`` as one message."""
    arrays = [np.asarray(a, order="C") for a in arrays]         # 0-d stays 0-d
    described = dict(header, arrays=[[a.dtype.str, list(a.shape)] for a in arrays])
    head = json.dumps(described, allow_nan=False).encode("utf-8")
    return b"".join([len(head).to_bytes(4, "big"), head] + [a.tobytes() for a in arrays])


def decode(data: bytes) -> tuple:
    """(header dict, [fresh ndarrays]) from ``encode``'s bytes; ``ChannelError`` for anything
    else: bad JSON, too deep, a dtype that is not plain numeric, sizes that do not add up."""
    try:
        return _decode(memoryview(data))
    except ChannelError:
        raise
    except (ValueError, TypeError, RecursionError, OverflowError) as err:
        raise ChannelError(f"unreadable message ({type(err).__name__})") from None


def _decode(view: memoryview) -> tuple:
    if len(view) < 4:
        raise ChannelError("a message shorter than its header's length")
    head_length = int.from_bytes(view[:4], "big")
    if head_length > min(MAX_HEADER_BYTES, len(view) - 4):
        raise ChannelError(f"a header of {head_length} bytes in a message of {len(view)}")
    header = json.loads(bytes(view[4:4 + head_length]).decode("utf-8"))
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise ChannelError("a header that is not an object with a list of arrays")
    described = header.pop("arrays")
    if len(described) > MAX_ARRAYS:
        raise ChannelError(f"{len(described)} arrays in one message (at most {MAX_ARRAYS})")
    offset, arrays = 4 + head_length, []
    for item in described:
        dtype, shape = _dtype_and_shape(item)
        size = dtype.itemsize
        for n in shape:
            size *= n
        if size > len(view) - offset:
            raise ChannelError(f"an array of {size} bytes where {len(view) - offset} are left")
        flat = np.frombuffer(view[offset:offset + size], dtype=dtype)
        arrays.append(np.array(flat.reshape(shape), copy=True))     # owns its memory
        offset += size
    if offset != len(view):
        raise ChannelError(f"{len(view) - offset} bytes after the last array")
    return header, arrays


def _dtype_and_shape(item) -> tuple:
    if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
            and isinstance(item[1], list)):
        raise ChannelError("an array described by something else than [dtype, shape]")
    text, shape = item
    if not _DTYPE.fullmatch(text):
        raise ChannelError(f"dtype {text[:40]!r} is not a plain numeric dtype")
    dtype = np.dtype(text)
    if len(shape) > MAX_NDIM or not all(type(n) is int and 0 <= n <= MAX_FRAME_BYTES
                                        for n in shape):
        raise ChannelError("an array shape that is not a short list of sizes")
    return dtype, tuple(shape)


# --- frames ---------------------------------------------------------------------------------

def write_frame(stream, message: bytes) -> None:
    """One frame to a blocking binary stream (the child's side)."""
    stream.write(len(message).to_bytes(_LENGTH_BYTES, "big") + message)
    stream.flush()


def read_frame(stream) -> bytes | None:
    """One frame from a blocking binary stream (the child's side, reading the trusted
    parent); None at the end of the stream."""
    length = stream.read(_LENGTH_BYTES)
    if len(length) < _LENGTH_BYTES:
        return None
    message = stream.read(int.from_bytes(length, "big"))
    return message if len(message) == int.from_bytes(length, "big") else None


class FrameReader:
    """The parent's end of the pipes to a child: ``request(message) -> reply`` with a
    deadline (``time.monotonic()``) for the whole exchange and at most ``MAX_FRAME_BYTES``
    read per reply.  ``ChildGone`` when the child closes its end, ``GradingTimeout`` at the
    deadline, ``ChannelError`` for a frame too large."""

    def __init__(self, to_child: int, from_child: int, deadline: float):
        self.to_child, self.from_child, self.deadline = to_child, from_child, deadline
        os.set_blocking(to_child, False)
        os.set_blocking(from_child, False)

    def request(self, message: bytes) -> bytes:
        self.send(message)
        return self.receive()

    def send(self, message: bytes) -> None:
        data = memoryview(len(message).to_bytes(_LENGTH_BYTES, "big") + message)
        while data:
            self._wait(self.to_child, writing=True)
            try:
                written = os.write(self.to_child, data)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise ChildGone from None
            data = data[written:]

    def receive(self) -> bytes:
        length = int.from_bytes(self._read(_LENGTH_BYTES), "big")
        if length > MAX_FRAME_BYTES:
            raise ChannelError(f"a reply of {length} bytes (at most {MAX_FRAME_BYTES})")
        return self._read(length)

    def _read(self, count: int) -> bytes:
        chunks, left = [], count
        while left:
            self._wait(self.from_child, writing=False)
            try:
                chunk = os.read(self.from_child, min(left, 2**20))
            except BlockingIOError:
                continue
            if not chunk:
                raise ChildGone
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _wait(self, fd: int, writing: bool) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise GradingTimeout
        ready = select.select([] if writing else [fd], [fd] if writing else [], [], left)
        if not any(ready):
            raise GradingTimeout


# --- values ---------------------------------------------------------------------------------

_NUMERIC_KINDS = "biufc"
_NAME_LENGTH = 80


@dataclass(frozen=True)
class Opaque:
    """A value that stays in the learner's process: its type's name, the handle it is kept
    under there, and, for an array of a dtype that cannot be compared (object, str), that
    dtype."""

    type_name: str
    handle: int
    dtype: str = ""


def type_name(value) -> str:
    """The name a sentence uses for ``value``'s type (an ``Opaque`` keeps the child's)."""
    return value.type_name if isinstance(value, Opaque) else type(value).__name__


def describe(value, keep, arrays: list, top: bool = True) -> dict:
    """The JSON description of a returned ``value`` (the child's side), appending the arrays
    it carries to ``arrays``; ``keep(value) -> handle`` stores what stays in the child.
    A tuple or list is described item by item at the top level only."""
    if top and isinstance(value, (tuple, list)):
        return {"kind": "list" if isinstance(value, list) else "tuple",
                "items": [describe(v, keep, arrays, top=False) for v in value]}
    if value is None:
        return {"kind": "none"}
    if isinstance(value, np.ndarray):
        plain = np.array(value, copy=True, subok=False)       # the data, as a base ndarray
        if plain.dtype.kind in _NUMERIC_KINDS and plain.dtype.fields is None:
            arrays.append(plain)
            return {"kind": "array", "index": len(arrays) - 1}
        return {"kind": "object", "type": "ndarray", "dtype": str(plain.dtype)[:_NAME_LENGTH],
                "handle": keep(value)}
    if isinstance(value, np.generic) and np.dtype(type(value)).kind in _NUMERIC_KINDS:
        arrays.append(np.array(value, copy=True, subok=False).reshape(()))
        return {"kind": "scalar", "index": len(arrays) - 1}
    if isinstance(value, float):
        arrays.append(np.array(float(value), dtype=np.float64))
        return {"kind": "float", "index": len(arrays) - 1}
    return {"kind": "object", "type": type(value).__name__[:_NAME_LENGTH],
            "handle": keep(value)}


def rebuild(description, arrays: list, top: bool = True):
    """The value ``describe`` described (the parent's side): plain arrays, NumPy scalars,
    floats, None, tuples or lists of them, ``Opaque``.  ValueError for anything malformed."""
    if not isinstance(description, dict):
        raise ValueError("a value described by something else than an object")
    kind = description.get("kind")
    if top and kind in ("tuple", "list"):
        items = description.get("items")
        if not isinstance(items, list):
            raise ValueError("a sequence without its items")
        values = [rebuild(item, arrays, top=False) for item in items]
        return values if kind == "list" else tuple(values)
    if kind == "none":
        return None
    if kind in ("array", "scalar", "float"):
        index = description.get("index")
        if type(index) is not int or not 0 <= index < len(arrays):
            raise ValueError("a value pointing at no array")
        array = arrays[index]
        if kind == "array":
            return array
        if array.shape != ():
            raise ValueError("a scalar that is not 0-d")
        if kind == "scalar":
            return array[()]
        if array.dtype != np.float64:
            raise ValueError("a float that is not float64")
        return float(array)
    if kind == "object":
        name, handle = description.get("type"), description.get("handle")
        dtype = description.get("dtype", "")
        if not (isinstance(name, str) and type(handle) is int and isinstance(dtype, str)):
            raise ValueError("an object without its type name and handle")
        return Opaque(name[:_NAME_LENGTH], handle, dtype[:_NAME_LENGTH])
    raise ValueError(f"a value of unknown kind {str(kind)[:40]!r}")


def describe_argument(value, arrays: list) -> dict:
    """An argument the grader passes: an array, None, an ``Opaque`` the child returned, an
    int or float (a size, a learning rate), or a list of arrays."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, Opaque):
        return {"kind": "handle", "handle": value.handle}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"kind": "number", "value": value}
    if isinstance(value, list):
        return {"kind": "list", "items": [describe_argument(v, arrays) for v in value]}
    arrays.append(np.asarray(value))
    return {"kind": "array", "index": len(arrays) - 1}


def rebuild_argument(description: dict, arrays: list, kept: dict):
    """The child's side of ``describe_argument``: fresh arrays (the learner may change them
    in place), None, or the object kept under a handle."""
    kind = description["kind"]
    if kind == "none":
        return None
    if kind == "handle":
        return kept[description["handle"]]
    if kind == "number":
        return description["value"]
    if kind == "list":
        return [rebuild_argument(item, arrays, kept) for item in description["items"]]
    return arrays[description["index"]]
