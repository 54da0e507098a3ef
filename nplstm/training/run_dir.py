"""OUT, the directory of a training run: its files, the check that it can be written, the
lock that keeps a second run out, the clean-up of temporary files left by killed runs, the run
log (metrics.jsonl) and the run record (what a run knows about itself, kept in each checkpoint).

    config.json      the run's settings                   (written atomically)
    metrics.jsonl    the run log (below)                  (rewritten atomically on resume)
    checkpoint.npz   the last checkpoint                  (written atomically)
    best.npz         the model with the best eval loss    (written atomically)
    *.png            plots of the log (training/plots.py)  (written atomically)
    .lock            the PID of the run that holds OUT    (flock'ed while it trains;
                                                            removed when it ends cleanly)

The lock is ``fcntl.flock`` on ``.lock``: the kernel releases it when the process ends, also
on SIGKILL, so a lock never outlives its run and there is nothing stale to clean up.  A run
that ends cleanly deletes ``.lock`` while still holding the flock; a run that took the flock
of a file deleted meanwhile (opened before the deletion) sees that ``.lock`` is no longer its
file and takes the lock again on the new one, so two runs never hold OUT at once.

The run log, metrics.jsonl, holds one JSON object per line:

    {"step", "split": "train", "loss", "grad_norm", "lr", "tokens_per_s"}   each step
    {"step", "split": "eval", "loss"}                                        each evaluation
    {"step", "split": "through_time", "l0d0": {"dh": [...], "dc": [...]}, ...}
                     ‖∂L/∂h_t‖, ‖∂L/∂c_t‖ through time of the batch before each evaluation

The log is derived data (the checkpoint is the run's state): a damaged line — torn by a
crash, not UTF-8, not JSON, a key or a value of the wrong kind — is skipped and reported
in one line, never fatal.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import re
from pathlib import Path

from ..checks import check_int, check_real
from ..io import atomic_write_bytes
from ..io.atomic import remove_stale_temporaries
from .config import RunLocked, TrainingError

try:
    import fcntl
except ImportError:           # not POSIX: no lock (documented in docs/training.md)
    fcntl = None

__all__ = ["RunDir", "ATOMIC_FILES", "MetricsLog", "read_log", "keep_up_to", "damage_note",
           "RunRecord", "OVERFIT_EVALS", "OVERFIT_MARGIN"]

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
        except OSError as err:
            raise TrainingError(f"out {self.path} cannot be written: {err.strerror}",
                                ("out",)) from None
        fd = self._lock_current_file()
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as err:
            os.close(fd)
            raise TrainingError(f"out {self.path}: cannot write {self.lock_file}: "
                                f"{err.strerror}", ("out",)) from None
        self._lock_fd = fd

    def _lock_current_file(self) -> int:
        """A descriptor of .lock holding its flock, where .lock is still that file once
        locked (a run ending cleanly deletes it: the flock of a deleted file keeps no one
        out, so lock the new one)."""
        while True:
            try:
                fd = os.open(self.lock_file,        # never through a planted symlink
                             os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except OSError as err:
                raise TrainingError(f"out {self.path} cannot be written: {err.strerror}",
                                    ("out",)) from None
            if fcntl is None:
                return fd
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
            if _same_file(fd, self.lock_file):
                return fd
            os.close(fd)                       # deleted by the run that just ended: again

    def release(self) -> None:
        """Delete .lock and let go of its flock (deleting first, while still holding it: a run
        waiting on the old file then sees that it is gone, see ``_lock_current_file``)."""
        if self._lock_fd is not None:
            if _same_file(self._lock_fd, self.lock_file):
                self.lock_file.unlink(missing_ok=True)
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


def _same_file(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is the file now at ``path``."""
    try:
        on_disk = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


# -- the run log ---------------------------------------------------------------------------

_LAYER_KEY = re.compile(r"l\d+d\d+")
_NUMBER_FIELDS = {"train": ("loss", "grad_norm", "lr", "tokens_per_s"), "eval": ("loss",)}


def read_log(path):
    """``(lines, damaged)``: ``lines`` the valid records as ``(record, raw line bytes)`` in
    file order, ``damaged`` a list of ``(line number, what is wrong)``.  A missing file is
    an empty log."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], []
    lines, damaged = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        problem = None
        try:
            record = json.loads(raw.decode("utf-8"))
            problem = _schema_problem(record)
        except UnicodeDecodeError:
            problem = "not UTF-8"
        except ValueError:
            problem = "not JSON (torn by a crash?)"
        if problem is None:
            lines.append((record, raw))
        else:
            damaged.append((number, problem))
    return lines, damaged


def _schema_problem(record):
    """None if ``record`` is a well-formed log record, else what is wrong with it."""
    if not isinstance(record, dict):
        return "not a JSON object"
    step, split = record.get("step"), record.get("split")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return "no valid 'step'"
    if split in _NUMBER_FIELDS:
        for key in _NUMBER_FIELDS[split]:
            if not _is_number(record.get(key)):
                return f"no number '{key}' in a {split} record"
        return None
    if split == "through_time":
        if not any(key.endswith("d0") for key in record if _LAYER_KEY.fullmatch(key)):
            return "no 'l<layer>d0' entry in a through_time record"
        for key, norms in record.items():
            if key in ("step", "split"):
                continue
            # "dh" always, "dc" for an LSTM: lists of numbers, nothing else
            if not _LAYER_KEY.fullmatch(key) or not (
                    isinstance(norms, dict) and "dh" in norms and set(norms) <= {"dh", "dc"}
                    and all(isinstance(v, list) and all(map(_is_number, v))
                            for v in norms.values())):
                return f"no 'dh' (and for an LSTM 'dc') lists of numbers under '{key}'"
        return None
    return f"unknown split {split!r}"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def damage_note(path, damaged) -> str:
    """The one warning line for ``damaged`` (from ``read_log``)."""
    shown = "; ".join(f"line {n}: {what}" for n, what in damaged[:3])
    more = f"; and {len(damaged) - 3} more" if len(damaged) > 3 else ""
    s = "s" if len(damaged) > 1 else ""
    return f"warning: {path}: skipped {len(damaged)} damaged line{s} ({shown}{more})"


def keep_up_to(path, step: int) -> list:
    """Rewrite the log (atomically) with only its valid lines of steps <= ``step``: on
    resume, what the interrupted run wrote after its last checkpoint goes, so each step is
    logged once.  Returns the damaged lines that were dropped (see ``read_log``)."""
    lines, damaged = read_log(path) if step > 0 else ([], [])    # a fresh run: empty
    kept = b"".join(raw + b"\n" for record, raw in lines if record["step"] <= step)
    atomic_write_bytes(path, kept)
    return damaged


class MetricsLog:
    """Appends one line per record to the log, flushed at once (a crash loses at most the
    line being written); the file is opened at the first ``write`` and closed by
    ``close()``."""

    def __init__(self, path):
        self.path = Path(path)
        self.file = None

    def write(self, record: dict) -> None:
        if self.file is None:
            self.file = open(self.path, "a", encoding="utf-8")
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            file, self.file = self.file, None
            try:
                file.close()
            except OSError:          # every line was flushed; nothing is left to lose
                pass


# -- the run record ------------------------------------------------------------------------

# The summary warns when the best eval loss is this many evaluations old and the last one
# lies more than this fraction above it.  In the README's continued run (1000 → 3000 steps)
# the best is 19 evaluations old and the last 12% above it; a healthy run improves within a
# few evaluations (the adding problem's plateau before it is solved does trip it: its best
# eval loss then is an early one, and best.npz keeps it, which is what the note says).
OVERFIT_EVALS = 3
OVERFIT_MARGIN = 0.02


@dataclasses.dataclass
class RunRecord:
    """What a run knows about itself beyond the model (stored in each checkpoint's meta as
    ``run``): its first loss (the divergence guard's reference), the seconds trained so far
    (across resumes), its best and its last evaluation ``[step, eval loss]``, and how many
    evaluations came after the best."""

    first_loss: float | None = None
    seconds: float = 0.0
    best: list | None = None
    last: list | None = None
    since_best: int = 0

    @classmethod
    def from_meta(cls, meta, step: int) -> "RunRecord":
        """The record of a checkpoint at ``step`` (a checkpoint without one: a fresh record);
        ``ValueError`` or ``TypeError`` naming the field that is not valid."""
        if meta is None:
            return cls()
        if not isinstance(meta, dict):
            raise ValueError(f"its run record must be a JSON object, got {meta!r}")
        record = cls(**{f.name: meta[f.name] for f in dataclasses.fields(cls)
                        if f.name in meta})
        record.first_loss = check_real("run.first_loss", record.first_loss, minimum=0,
                                       allow_none=True)
        record.seconds = check_real("run.seconds", record.seconds, minimum=0)
        for name in ("best", "last"):
            value = getattr(record, name)
            if value is not None and not (
                    isinstance(value, list) and len(value) == 2
                    and isinstance(value[0], int) and not isinstance(value[0], bool)
                    and 0 < value[0] <= step and _is_number(value[1])
                    and math.isfinite(value[1]) and value[1] >= 0):
                raise ValueError(f"run.{name} must be [step, eval loss] with a step up to "
                                 f"the checkpoint's {step}, got {value!r}")
        record.since_best = check_int("run.since_best", record.since_best, minimum=0)
        return record

    def add_eval(self, step: int, loss: float) -> bool:
        """Record an evaluation; True if it is the best so far (strictly lower)."""
        self.last = [step, loss]
        if self.best is None or loss < self.best[1]:
            self.best, self.since_best = [step, loss], 0
            return True
        self.since_best += 1
        return False

    def overfitting(self) -> int:
        """The evaluations since the best, when there are at least OVERFIT_EVALS of them and
        the last eval loss is more than OVERFIT_MARGIN above the best; else 0."""
        if self.since_best >= OVERFIT_EVALS and \
                self.last[1] > self.best[1] * (1 + OVERFIT_MARGIN):
            return self.since_best
        return 0

