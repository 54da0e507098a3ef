"""OUT, the directory of a training run: its files, the check that it can be written, the
lock that keeps a second run out, and the clean-up of temporary files left by killed runs.

    config.json      the run's settings                   (written atomically)
    metrics.jsonl    the run log (nplstm.runlog)          (rewritten atomically on resume)
    checkpoint.npz   the last checkpoint                  (written atomically)
    best.npz         the model with the best eval loss    (written atomically)
    *.png            plots of the log (nplstm.plots)       (written atomically)
    .lock            the PID of the run that holds OUT    (flock'ed while it trains)

The lock is ``fcntl.flock`` on ``.lock``: the kernel releases it when the process ends, also
on SIGKILL, so a lock never outlives its run and there is nothing stale to clean up.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..io.atomic import remove_stale_temporaries
from .errors import RunLocked, TrainingError

try:
    import fcntl
except ImportError:           # not POSIX: no lock (documented in docs/training.md)
    fcntl = None

__all__ = ["RunDir", "ATOMIC_FILES"]

ATOMIC_FILES = ("checkpoint.npz", "best.npz", "config.json", "metrics.jsonl", "loss.png",
                "grad_norm.png", "grad_through_time.png")


class RunDir:
    """The files of OUT (``run_dir.checkpoint``, ``.best``, ``.config``, ``.metrics``)."""

    def __init__(self, out):
        self.path = Path(out)
        self.checkpoint = self.path / "checkpoint.npz"
        self.best = self.path / "best.npz"
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.lock_file = self.path / ".lock"
        self._lock_fd = None

    def check_writable(self) -> None:
        """``TrainingError`` (setting ``out``) unless OUT is, or can be made, a writable
        directory: not a file, not under a file, not on a read-only file system or without
        write permission.  Reads only."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise TrainingError(f"out {path} is a file, not a directory", ("out",))
        existing = path
        while not existing.exists():           # the deepest part of OUT that exists
            parent = existing.parent
            if parent == existing:
                break
            existing = parent
        if not existing.is_dir():
            raise TrainingError(f"out {path} cannot be created: {existing} is a file",
                                ("out",))
        if not os.access(existing, os.W_OK | os.X_OK):
            raise TrainingError(f"out {path} cannot be written: {existing} is read-only "
                                f"(no write permission, or a read-only file system)",
                                ("out",))

    def acquire(self) -> None:
        """Create OUT if needed and take its lock, writing this process's PID into .lock;
        ``RunLocked`` naming the PID of the run that holds it, ``TrainingError`` when OUT
        cannot be created.  A refused call leaves OUT as it was."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file,            # never through a planted symlink
                         os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as err:
            raise TrainingError(f"out {self.path} cannot be written: {err.strerror}",
                                ("out",)) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                if err.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                    raise RunLocked(f"out {self.path} is in use by another training run "
                                    f"(PID {holder}); wait for it to end or choose another "
                                    f"out", ("out",)) from None
                raise TrainingError(f"out {self.path}: cannot lock {self.lock_file}: "
                                    f"{err.strerror}", ("out",)) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as err:
            os.close(fd)
            raise TrainingError(f"out {self.path}: cannot write {self.lock_file}: "
                                f"{err.strerror}", ("out",)) from None
        self._lock_fd = fd

    def release(self) -> None:
        """Let go of the lock (the .lock file stays: removing it would race a new run)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)            # closing the last descriptor drops the flock
            self._lock_fd = None

    def identity(self, path: Path):
        """What tells a version of ``path`` apart (inode, size, mtime), or None if absent."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def remove_stale_temporaries(self) -> None:
        """Delete the temporaries of the files above (nplstm.io.atomic_write's) left by
        processes killed while writing; never those of a live process, and never a file
        whose name the writer does not make (``nplstm.io.atomic.remove_stale_temporaries``)."""
        for name in ATOMIC_FILES:
            remove_stale_temporaries(self.path / name)
