"""The trainer's exceptions.  Each names the settings it mentions (``err.settings``), by the
names of ``TrainConfig``'s fields (``lr``, ``seq_len``), so that the command line can show
them as its flags (``--lr``, ``--seq-len``) and Python callers see the names they passed."""

from __future__ import annotations

__all__ = ["TrainingError", "RunLocked", "Diverged", "Interrupted", "StorageError"]


class _NamesSettings:
    """A message plus the settings it names: ``Error(message, settings=("lr", "clip"))``."""

    def __init__(self, message: str, settings=()):
        super().__init__(message)
        self.settings = tuple(settings)


class TrainingError(_NamesSettings, ValueError):
    """A run that cannot start: bad settings, unusable data or OUT, no or an incompatible
    checkpoint.  Raised before anything in OUT is written."""


class RunLocked(TrainingError):
    """OUT is held by another live training run (its PID is in the message)."""


class Diverged(_NamesSettings, RuntimeError):
    """The loss or the gradient norm stopped being finite, or the loss exploded; the last
    good checkpoint is kept."""


class Interrupted(_NamesSettings, Exception):
    """Ctrl-C or SIGTERM: a checkpoint of the last completed step was written.  ``signal``:
    the one that asked (None when not known)."""

    signal = None


class StorageError(_NamesSettings, RuntimeError):
    """A file in OUT could not be written (disk full, I/O error); the files written before
    (the last checkpoint among them) are left as they were."""
