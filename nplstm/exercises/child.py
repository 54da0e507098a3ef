"""The learner's side of grading: load the learner's file, then run its functions on the
arguments the grader sends, and send back what they return (``values``) — nothing else.

    Server(path).reply(request) -> reply     one call: request and reply are ``channel``
                                             messages
    serve()                                  the child process: argv[1] is the file; frames
                                             in on stdin, out on stdout (the learner's own
                                             prints go to /dev/null)

The grade is decided by the grader, in its own process, from the arrays it receives; this
side never sees the right answers, so nothing it does can forge a pass.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from . import channel
from .learner import LearnerError, call, load_learner
from .values import describe, rebuild_argument

__all__ = ["Server", "serve", "LOADED"]

LOADED = {"loaded": True}
_SENTENCE_LENGTH = 2000


class Server:
    """The learner's module and the objects its functions returned (kept by handle, so that a
    cache can be passed back to the backward)."""

    def __init__(self, path: Path):
        self.module = load_learner(Path(path))           # LearnerError: one sentence
        self.kept: dict = {}

    def keep(self, value) -> int:
        self.kept[len(self.kept)] = value
        return len(self.kept) - 1

    def reply(self, request: bytes) -> bytes:
        """Run the call ``request`` names; the reply holds its values, or a sentence."""
        header, arrays = channel.decode(request)
        args = [rebuild_argument(a, arrays, self.kept) for a in header["args"]]
        name = header["call"]
        try:
            result = call(self.module, name, *args)
            returned: list = []
            try:
                value = describe(result, self.keep, returned)
            except Exception as err:                     # noqa: BLE001 - the learner's object
                raise LearnerError(f"{name} returned something that cannot be read as "
                                   f"arrays ({type(err).__name__}: {err})") from None
        except LearnerError as err:
            return error_reply(str(err))
        return channel.encode({"value": value}, returned)


def error_reply(sentence: str) -> bytes:
    return channel.encode({"error": sentence[:_SENTENCE_LENGTH]})


def serve() -> None:
    """The child process: the wire is a private copy of stdin and stdout, which are then
    pointed at /dev/null, so a print or input() in the learner's file cannot touch it."""
    path = sys.argv[1]
    wire_in = io.open(os.dup(0), "rb")
    wire_out = io.open(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    try:
        server = Server(Path(path))
    except LearnerError as err:
        channel.write_frame(wire_out, error_reply(str(err)))
        return
    channel.write_frame(wire_out, channel.encode(LOADED))
    while (request := channel.read_frame(wire_in)) is not None:
        channel.write_frame(wire_out, server.reply(request))
