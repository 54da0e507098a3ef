"""The grader's handle on the learner's functions: ``learner.call(name, *args)`` sends the
arguments to the process that runs the learner's file and rebuilds what came back as plain
arrays, floats and ``Opaque`` handles (``values``).

    Learner(request)   request(message) -> reply: a ``channel.FrameReader``'s, or a
                       ``child.Server``'s ``reply`` for grading in this process

A reply that is not a message of the protocol is a ``channel.ChannelError``; a sentence from
the learner's side (a crash, a stub) is a ``LearnerError``.  Either way the output fails:
the only way to pass is to send back the right arrays.
"""

from __future__ import annotations

from . import channel
from .learner import LearnerError
from .values import describe_argument, rebuild

__all__ = ["Learner", "opened"]


class Learner:
    """The learner's functions, called across the wire."""

    def __init__(self, request):
        self.request = request

    def call(self, name: str, *args):
        """``name(*args)`` in the learner's process: its return value, rebuilt."""
        arrays: list = []
        described = [describe_argument(a, arrays) for a in args]
        header, returned = channel.decode(self.request(channel.encode(
            {"call": name, "args": described}, arrays)))
        if "error" in header:
            raise LearnerError(_sentence(header["error"]))
        if "value" not in header:
            raise channel.ChannelError("a reply with neither a value nor a sentence")
        try:
            return rebuild(header["value"], returned)
        except ValueError as err:
            raise channel.ChannelError(str(err)) from None


def opened(message: bytes) -> None:
    """Check the first message of a child: loaded, or the ``LearnerError`` it sent."""
    header, _ = channel.decode(message)
    if "error" in header:
        raise LearnerError(_sentence(header["error"]))
    if header != {"loaded": True}:
        raise channel.ChannelError("a first message that is not the file's loading")


def _sentence(value) -> str:
    if not isinstance(value, str):
        raise channel.ChannelError("a sentence that is not a string")
    return value
