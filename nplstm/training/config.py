"""The settings of a training run (``TrainConfig``), the tasks' defaults, their validation,
how a resumed run's settings merge with its checkpoint's, and what a run raises.

Errors name settings by their field names (``err.settings``: ``lr``, ``seq_len``) so that the
command line can show them as flags (``--lr``, ``--seq-len``) and Python callers see the names
they passed.  Nothing here touches the file system.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..backend import check_device
from ..checks import check_bool, check_choice, check_int, check_real

__all__ = ["TrainConfig", "TASK_DEFAULTS", "CELLS", "RESUMABLE_CHANGES",
           "EXACT_RESUME_CHANGES", "merge_resumed", "check_out", "TrainingError", "RunLocked",
           "Diverged", "Interrupted", "StorageError"]


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


# Settings left as None take the task's default.
TASK_DEFAULTS = {
    "charlm": dict(steps=1000, seq_len=64, hidden=256, layers=1, batch_size=32,
                   embedding_dim=32, lr=1.0, momentum=0.9, clip=1.0, eval_every=100,
                   checkpoint_every=100),
    "adding": dict(steps=4000, seq_len=50, hidden=64, layers=1, batch_size=64,
                   embedding_dim=0, lr=0.5, momentum=0.9, clip=1.0, eval_every=250,
                   checkpoint_every=250),
}
SCHEDULES = ("constant", "cosine")
CELLS = ("lstm", "gru", "rnn")     # the recurrent layer of the model: nn.LSTM, nn.GRU, nn.RNN
DTYPES = ("float32", "float64")

# Settings a resumed run may change (the optimizer's and the schedule's, e.g. a lower lr after
# a divergence: the run then leaves the uninterrupted run's path, and says so); every other
# setting defines the model or its data and must match the checkpoint's.
RESUMABLE_CHANGES = ("steps", "out", "checkpoint_every", "eval_every", "device", "text",
                     "lr", "momentum", "nesterov", "weight_decay", "clip", "schedule",
                     "warmup_steps", "lr_decay_steps", "min_lr", "dropout")
EXACT_RESUME_CHANGES = ("steps", "out", "checkpoint_every", "eval_every", "text")
_POSITIVE_INTS = ("steps", "seq_len", "hidden", "layers", "batch_size", "eval_every",
                  "checkpoint_every")


@dataclass
class TrainConfig:
    task: str = "charlm"
    text: str | None = None          # a UTF-8 file for charlm; None = the stdlib's docstrings
    out: str = "runs/charlm"
    seed: int = 0
    steps: int | None = None
    seq_len: int | None = None
    hidden: int | None = None
    layers: int | None = None
    batch_size: int | None = None
    embedding_dim: int | None = None
    lr: float | None = None
    momentum: float | None = None
    nesterov: bool = False
    weight_decay: float = 0.0
    clip: float | None = None        # 0 = no clipping
    schedule: str = "constant"
    warmup_steps: int = 0
    lr_decay_steps: int | None = None
    min_lr: float = 0.0
    dropout: float = 0.0
    eval_every: int | None = None
    checkpoint_every: int | None = None
    dtype: str = "float32"
    device: str = "cpu"
    cell: str = "lstm"               # lstm, gru or rnn (last: positional callers keep working)
    text_sha256: str | None = field(default=None)   # filled in from the data

    def resolved(self) -> "TrainConfig":
        """A copy with the task's defaults in place of None, validated."""
        _setting(check_choice, "task", self.task, tuple(TASK_DEFAULTS))
        values = dataclasses.asdict(self)
        for key, default in TASK_DEFAULTS[self.task].items():
            if values[key] is None:
                values[key] = default
        config = TrainConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """``TrainingError`` naming the first setting that is not valid (every setting is
        checked, also those read back from a checkpoint's config).  Once all pass, numbers
        given as NumPy scalars are stored as Python ones (config.json holds them)."""
        _setting(check_choice, "task", self.task, tuple(TASK_DEFAULTS))
        _setting(check_choice, "cell", self.cell, CELLS)
        minimums = dict.fromkeys(_POSITIVE_INTS, 1)
        minimums.update(seed=0, warmup_steps=0,
                        embedding_dim=1 if self.task == "charlm" else 0)
        if self.lr_decay_steps is not None:
            minimums["lr_decay_steps"] = 1
        numbers = {name: _setting(check_int, name, getattr(self, name), minimum=minimum)
                   for name, minimum in minimums.items()}
        numbers["lr"] = _setting(check_real, "lr", self.lr, minimum=0, strict=True)
        for name in ("momentum", "weight_decay", "clip", "min_lr", "dropout"):
            numbers[name] = _setting(check_real, name, getattr(self, name), minimum=0)
        if numbers["dropout"] >= 1:
            raise TrainingError(f"dropout must be in [0, 1), got {self.dropout!r}",
                                ("dropout",))
        numbers["nesterov"] = _setting(check_bool, "nesterov", self.nesterov)
        if self.nesterov and numbers["momentum"] == 0:
            raise TrainingError("nesterov needs momentum > 0, got momentum 0",
                                ("nesterov", "momentum"))
        _setting(check_choice, "schedule", self.schedule, SCHEDULES)
        if self.schedule == "cosine" and self.lr_decay_steps is None:
            raise TrainingError("schedule cosine needs lr_decay_steps (its own horizon, "
                                "independent of steps so that resume stays exact)",
                                ("schedule", "lr_decay_steps", "steps", "resume"))
        _setting(check_choice, "dtype", self.dtype, DTYPES)
        try:
            check_device(self.device)
        except (ValueError, TypeError) as err:
            raise TrainingError(f"device: {err}", ("device",)) from None
        for name in ("text", "text_sha256"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and value):
                raise TrainingError(f"{name} must be a non-empty string or None, got "
                                    f"{value!r}", (name,))
        check_out(self.out)
        if self.task != "charlm" and self.text is not None:
            raise TrainingError("text is for task charlm only", ("text", "task"))
        vars(self).update(numbers)


def _setting(check, name, value, *args, **kwargs):
    """``check(name, value, …)`` (nplstm.checks) with its refusal as a ``TrainingError``."""
    try:
        return check(name, value, *args, **kwargs)
    except (TypeError, ValueError) as err:
        raise TrainingError(str(err), (name,)) from None


def check_out(out) -> None:
    """``TrainingError`` unless ``out`` is a directory name (a non-empty string)."""
    if not (isinstance(out, str) and out):
        raise TrainingError(f"out must be a directory name, got {out!r}", ("out",))


def merge_resumed(config: TrainConfig, saved: dict, explicit=None):
    """The checkpoint's settings with this run's explicit changes where they are allowed;
    returns (config, {setting: (old, new)} of the changes that leave the exact path).
    ``explicit``: the names the user set; None means those that differ from TrainConfig().
    Settings the checkpoint lacks take this run's value; unknown saved keys are ignored."""
    merged = dict(saved)
    changed = {}
    defaults = TrainConfig()
    for key, value in dataclasses.asdict(config).items():
        if key == "text_sha256" or key not in saved:
            continue
        given = key in explicit if explicit is not None else value != getattr(defaults, key)
        if key in RESUMABLE_CHANGES:
            if given or key == "out":
                merged[key] = value
                if key not in EXACT_RESUME_CHANGES and value != saved[key]:
                    changed[key] = (saved[key], value)
        elif given and value != saved[key]:
            raise TrainingError(
                f"resume: the checkpoint was trained with {key} {saved[key]}, this run asks "
                f"for {value}; the settings must match (only "
                f"{', '.join(RESUMABLE_CHANGES)} may change)",
                (key, "resume") + RESUMABLE_CHANGES)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = dataclasses.asdict(config)
    values.update({k: v for k, v in merged.items() if k in names})
    return TrainConfig(**values), changed
