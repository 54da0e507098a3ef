"""The run log, OUT/metrics.jsonl: one JSON object per line.

    {"step", "split": "train", "loss", "grad_norm", "lr", "tokens_per_s"}   each step
    {"step", "split": "eval", "loss"}                                        each evaluation
    {"step", "split": "through_time", "l0d0": {"dh": [...], "dc": [...]}, ...}
                     ‖∂L/∂h_t‖, ‖∂L/∂c_t‖ through time of the batch before each evaluation

The log is derived data (the checkpoint is the run's state): a damaged line — torn by a
crash, not UTF-8, not JSON, a key or a value of the wrong kind — is skipped and reported
in one line, never fatal.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..io import atomic_write_bytes

__all__ = ["MetricsLog", "read_log", "keep_up_to", "damage_note"]

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
            if not _LAYER_KEY.fullmatch(key) or not (isinstance(norms, dict) and all(
                    isinstance(norms.get(n), list) and all(map(_is_number, norms[n]))
                    for n in ("dh", "dc"))):
                return f"no 'dh' and 'dc' lists of numbers under '{key}'"
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
