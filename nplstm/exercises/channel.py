"""The wire between the grader and the process that runs a learner's file: messages of JSON
and raw numeric arrays, never pickle, read with bounds.

    message = JSON header + arrays, each array described in the header by dtype and shape
    encode(header, arrays) -> bytes;  decode(data) -> (header, arrays)
    frame   = 8-byte big-endian length + message: write_frame / read_frame (blocking, the
              child) and FrameReader (the parent: a deadline, a size limit)

The parent reads what the child sends as untrusted bytes: ``decode`` accepts only plain
numeric dtypes (bool, int, uint, float, complex), shapes whose byte count is what the message
holds, and bounded sizes, and builds fresh base-class ``ndarray``s.  Anything else is a
``ChannelError``.  Nothing read from the child can run code in the parent.
"""

from __future__ import annotations

import json
import os
import re
import select
import time

import numpy as np

__all__ = ["ChannelError", "ChildGone", "GradingTimeout", "MAX_FRAME_BYTES", "encode",
           "decode", "write_frame", "read_frame", "FrameReader"]

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
        ready = select.select([], [fd], [], left) if writing else select.select([fd], [], [],
                                                                                 left)
        if not any(ready):
            raise GradingTimeout
