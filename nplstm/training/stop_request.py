"""Ctrl-C and SIGTERM as a flag the training loop reads between steps."""

from __future__ import annotations

import signal

__all__ = ["StopRequest"]


class StopRequest:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a flag the loop checks between steps, so a
    checkpoint is never taken in the middle of an update."""

    requested = False
    signal = None                 # the signal that asked: signal.SIGINT or signal.SIGTERM

    def __enter__(self):
        self.previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:            # not the main thread: leave the handlers alone
                pass
        return self

    def _handle(self, signum, frame):
        if self.requested:            # a second Ctrl-C: stop now, without a checkpoint
            raise KeyboardInterrupt
        self.requested = True
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
