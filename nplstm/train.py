"""The trainer: the loop, metrics, progress, checkpoints, exact resume, divergence guard.

One step is: lr ← schedule(step); zero the grads; forward and backward of batch ``step``;
stop if the loss or the gradient norm is not finite; clip; SGD update.  Every random draw
and every batch is a function of (seed, step) and the state carried between steps (model,
momentum buffers, the hidden state of the text streams) is in the checkpoint, so ``--resume``
ends bit-for-bit where an uninterrupted run ends, also after a SIGKILL at any moment.

Files in OUT:
    config.json      the run's settings
    metrics.jsonl    one JSON object per line: {"step", "split": "train"|"eval", "loss", ...},
                     and before each eval the norms ‖∂L/∂h_t‖, ‖∂L/∂c_t‖ through time of that
                     step's batch: {"step", "split": "through_time", "l0d0": {"dh", "dc"}, ...}
    checkpoint.npz   written atomically every ``checkpoint_every`` steps, at the end and on
                     Ctrl-C / SIGTERM (see nplstm.io)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import CharCorpus, DataError, bigram_baseline, default_corpus_text
from .io import CheckpointError, atomic_write_bytes, load_checkpoint, save_checkpoint
from .optim import SGD, clip_grad_norm, grad_norm, make_schedule
from .tasks import AddingTask, CharLMTask

__all__ = ["TrainConfig", "Trainer", "TrainingError", "Diverged", "Interrupted", "build_task",
           "load_text", "TASK_DEFAULTS"]


class TrainingError(ValueError):
    """A run that cannot start: bad settings, unusable data, no or an incompatible checkpoint."""


class Diverged(RuntimeError):
    """The loss or the gradient norm stopped being finite; the last good checkpoint is kept."""


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: a checkpoint of the last completed step was written."""


# Settings left as None take the task's default (below).
TASK_DEFAULTS = {
    "charlm": dict(steps=1000, seq_len=64, hidden=256, layers=1, batch_size=32,
                   embedding_dim=32, lr=1.0, momentum=0.9, clip=1.0, eval_every=100,
                   checkpoint_every=100),
    "adding": dict(steps=4000, seq_len=50, hidden=64, layers=1, batch_size=64,
                   embedding_dim=0, lr=0.5, momentum=0.9, clip=1.0, eval_every=250,
                   checkpoint_every=250),
}

# Settings a resumed run may change (the optimizer's and the schedule's, e.g. a lower lr after
# a divergence: the run then leaves the uninterrupted run's path, and says so); every other
# setting defines the model or its data and must match the checkpoint's.
RESUMABLE_CHANGES = ("steps", "out", "checkpoint_every", "eval_every", "device", "text",
                     "lr", "momentum", "nesterov", "weight_decay", "clip", "schedule",
                     "warmup_steps", "lr_decay_steps", "min_lr", "dropout")
EXACT_RESUME_CHANGES = ("steps", "out", "checkpoint_every", "eval_every", "text")


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
    text_sha256: str | None = field(default=None)   # filled in from the data

    def resolved(self) -> "TrainConfig":
        """A copy with the task's defaults in place of None, validated."""
        if self.task not in TASK_DEFAULTS:
            raise TrainingError(f"--task must be one of {sorted(TASK_DEFAULTS)}, "
                                f"got {self.task!r}")
        values = dataclasses.asdict(self)
        for key, default in TASK_DEFAULTS[self.task].items():
            if values[key] is None:
                values[key] = default
        config = TrainConfig(**values)
        config.validate()
        return config

    def validate(self) -> None:
        for name in ("steps", "seq_len", "hidden", "layers", "batch_size", "eval_every",
                     "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TrainingError(f"--{name.replace('_', '-')} must be a positive integer, "
                                    f"got {value!r}")
        if self.task == "charlm" and self.embedding_dim < 1:
            raise TrainingError(f"--embedding-dim must be a positive integer, "
                                f"got {self.embedding_dim!r}")
        for name, positive in (("lr", True), ("momentum", False), ("weight_decay", False),
                               ("clip", False), ("min_lr", False), ("dropout", False)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                    or (positive and value == 0):
                kind = "positive" if positive else "non-negative"
                raise TrainingError(f"--{name.replace('_', '-')} must be a {kind} number, "
                                    f"got {value!r}")
        if self.dropout >= 1:
            raise TrainingError(f"--dropout must be in [0, 1), got {self.dropout!r}")
        if self.task != "charlm" and self.text is not None:
            raise TrainingError("--text is for --task charlm only")
        if self.schedule == "cosine" and not self.lr_decay_steps:
            raise TrainingError("--schedule cosine needs --lr-decay-steps (its own horizon, "
                                "independent of --steps so that --resume stays exact)")
        if self.lr_decay_steps is not None and self.lr_decay_steps < 1:
            raise TrainingError(f"--lr-decay-steps must be a positive integer, "
                                f"got {self.lr_decay_steps!r}")
        if self.warmup_steps < 0:
            raise TrainingError(f"--warmup-steps must be >= 0, got {self.warmup_steps!r}")


def load_text(path) -> str:
    """The training text: the UTF-8 file ``path``, or the default corpus for None."""
    if path is None:
        return default_corpus_text()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrainingError(f"--text {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TrainingError(f"--text {path}: cannot be read as UTF-8 text ({err})") from None


def build_task(config: TrainConfig, text: str | None = None):
    """The task object of a resolved config (charlm needs the text)."""
    common = dict(batch_size=config.batch_size, seq_len=config.seq_len,
                  hidden_size=config.hidden, num_layers=config.layers, dropout=config.dropout,
                  seed=config.seed, dtype=config.dtype, device=config.device)
    if config.task == "adding":
        try:
            return AddingTask(**common)
        except DataError as err:
            raise TrainingError(str(err)) from None
    try:
        corpus = CharCorpus.from_text(text)
        return CharLMTask(corpus, embedding_dim=config.embedding_dim, **common)
    except DataError as err:
        source = config.text or "the default corpus"
        raise TrainingError(f"--text {source}: {err}") from None


class Trainer:
    """Runs a task's steps with SGD, logging, checkpoints and the guards described above.

    ``Trainer(config).run()`` trains from scratch, or from OUT's checkpoint with
    ``resume=True``; returns a summary dict (steps, final train/eval loss, time, …).
    """

    def __init__(self, config: TrainConfig, *, resume: bool = False, progress: bool = True,
                 explicit=None):
        """explicit: the names of the settings the user gave (the CLI's flags); on resume
        only these override the checkpoint's.  None: those that differ from TrainConfig()."""
        self.out = Path(config.out)
        self.show_progress = progress
        checkpoint = None
        self.changed_on_resume = {}
        if resume:
            checkpoint = self._read_checkpoint()
            if not isinstance(checkpoint.get("config"), dict):
                raise TrainingError(f"--resume: {self.checkpoint_path} holds no training "
                                    "settings (not written by nplstm train)")
            config, self.changed_on_resume = _merge_resumed(config, checkpoint["config"],
                                                            explicit)
        self.config = config = config.resolved()
        text = load_text(config.text) if config.task == "charlm" else None
        self.task = build_task(config, text)
        if text is not None:
            self.baseline = bigram_baseline(self.task.corpus)
            digest = self.task.corpus.sha256
            if config.text_sha256 not in (None, digest):
                raise TrainingError(
                    f"--resume: the text differs from the checkpoint's (SHA-256 "
                    f"{digest[:12]}… instead of {config.text_sha256[:12]}…)")
            config.text_sha256 = digest
        else:
            self.baseline = None
        self.model = self.task.model
        self.params = self.model.parameters()
        self.optimizer = SGD(self.params, config.lr, momentum=config.momentum,
                             nesterov=config.nesterov, weight_decay=config.weight_decay)
        self.schedule = make_schedule(config.schedule, config.lr,
                                      decay_steps=config.lr_decay_steps,
                                      warmup_steps=config.warmup_steps, min_lr=config.min_lr)
        self.step = 0
        self.last_checkpoint_step = None
        if checkpoint is not None:
            self._restore(checkpoint)

    # -- checkpoints --------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.npz"

    def _read_checkpoint(self):
        if not self.checkpoint_path.exists():
            raise TrainingError(f"--resume: no checkpoint in {self.out} "
                                f"({self.checkpoint_path} does not exist)")
        try:
            return load_checkpoint(self.checkpoint_path)
        except CheckpointError as err:
            raise TrainingError(f"--resume: {err}") from None

    def _restore(self, checkpoint):
        try:
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.task.restore(checkpoint["state"])
        except (KeyError, ValueError, TypeError) as err:
            raise TrainingError(f"--resume: the checkpoint does not fit this model ({err})") \
                from None
        self.step = self.last_checkpoint_step = checkpoint["step"]
        if self.step >= self.config.steps:
            raise TrainingError(f"--resume: the checkpoint is at step {self.step} already; "
                                f"pass --steps above {self.step} to train further")

    def save(self):
        save_checkpoint(self.checkpoint_path, step=self.step, model=self.model.state_dict(),
                        optimizer=self.optimizer.state_dict(), state=self.task.carried(),
                        config=dataclasses.asdict(self.config))
        self.last_checkpoint_step = self.step

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> dict:
        config = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(self.out, self.checkpoint_path.name)
        atomic_write_bytes(self.out / "config.json",
                           (json.dumps(dataclasses.asdict(config), indent=2) + "\n").encode())
        metrics = _MetricsLog(self.out / "metrics.jsonl", keep_up_to=self.step)
        stop = _StopRequest()
        progress = _Progress(self.step, config.steps, self.show_progress)
        last_train = last_eval = None
        started = time.perf_counter()
        try:
            with stop, metrics:
                while self.step < config.steps:
                    if stop.requested:
                        self.save()
                        raise Interrupted(f"interrupted at step {self.step}: checkpoint saved "
                                          f"in {self.checkpoint_path}; continue with --resume")
                    evaluating = (self.step + 1) % config.eval_every == 0
                    through_time = {} if evaluating else None
                    record = self._train_step(through_time)
                    last_train = record["loss"]
                    metrics.write(record)
                    progress.update(record)
                    if evaluating:
                        metrics.write(_through_time_record(self.step, through_time))
                        last_eval = self.task.evaluate()
                        metrics.write({"step": self.step, "split": "eval", "loss": last_eval})
                        progress.eval(self.step, last_eval)
                    if self.step % config.checkpoint_every == 0:
                        self.save()
                if self.step % config.eval_every:      # the end, if no eval fell on it
                    last_eval = self.task.evaluate()
                    metrics.write({"step": self.step, "split": "eval", "loss": last_eval})
                    progress.eval(self.step, last_eval)
                if self.last_checkpoint_step != self.step:
                    self.save()
        finally:
            progress.close()
        return {"steps": self.step, "train_loss": last_train, "eval_loss": last_eval,
                "seconds": time.perf_counter() - started, "bigram_baseline": self.baseline,
                "checkpoint": str(self.checkpoint_path)}

    def _train_step(self, through_time=None) -> dict:
        """One step; ``through_time``: None, or a dict for the per-step gradient norms."""
        step = self.step
        lr = self.optimizer.lr = self.schedule(step)
        self.optimizer.zero_grad()
        t0 = time.perf_counter()
        carried = self.task.state              # replaced, never changed in place, by a step
        # overflow on the way to a divergence is reported by the guard below, not as warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss, tokens = self.task.train_step(step, through_time)
        clip = self.config.clip
        norm = clip_grad_norm(self.params, clip) if clip else grad_norm(self.params)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            kept = ("no checkpoint was written yet" if self.last_checkpoint_step is None else
                    f"the last good checkpoint (step {self.last_checkpoint_step}) is kept in "
                    f"{self.checkpoint_path}")
            self.task.state = carried           # as before this step: nothing of it is kept
            raise Diverged(f"training diverged at step {step}: loss {loss}, gradient norm "
                           f"{norm}; {kept}. Lower --lr (now {lr:g}) or clip harder (--clip)")
        self.optimizer.step()
        self.step = step + 1
        seconds = time.perf_counter() - t0
        return {"step": self.step, "split": "train", "loss": loss, "grad_norm": norm, "lr": lr,
                "tokens_per_s": tokens / seconds}


def _through_time_record(step: int, record: dict) -> dict:
    """The per-step gradient norms of one batch as a metrics line: {"l0d0": {"dh": [...], …}}."""
    line = {"step": step, "split": "through_time"}
    for (layer, direction), norms in sorted(record.items()):
        line[f"l{layer}d{direction}"] = {k: [float(v) for v in norms[k]] for k in ("dh", "dc")}
    return line


def _remove_stale_temporaries(out: Path, name: str) -> None:
    """Delete ``.NAME.tmpPID`` files left by processes killed while writing (never those of
    a process that is still alive)."""
    for path in out.glob(f".{name}.tmp*"):
        pid = path.name.rpartition(".tmp")[2]
        if pid.isdigit() and _alive(int(pid)):
            continue
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:             # exists, but not ours to signal
        return True
    return True


def _merge_resumed(config: TrainConfig, saved: dict, explicit=None):
    """The checkpoint's settings with this run's explicit changes where they are allowed;
    returns (config, {setting: (old, new)} of the changes that leave the exact path).
    ``explicit``: the names the user set; None means those that differ from TrainConfig()."""
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
                f"--resume: the checkpoint was trained with --{key.replace('_', '-')} "
                f"{saved[key]}, this run asks for {value}; the settings must match "
                f"(only {', '.join('--' + k.replace('_', '-') for k in RESUMABLE_CHANGES)} "
                f"may change)")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in merged.items() if k in names}), changed


class _MetricsLog:
    """metrics.jsonl, appended line by line; on resume, lines after the checkpoint's step
    (written by the interrupted run after its last checkpoint) are dropped first."""

    def __init__(self, path: Path, keep_up_to: int):
        self.path = path
        lines = []
        if keep_up_to and path.exists():
            for line in path.read_text().splitlines():
                try:
                    if json.loads(line)["step"] <= keep_up_to:
                        lines.append(line)
                except (ValueError, KeyError, TypeError):
                    continue          # a line torn by a crash
        atomic_write_bytes(path, "".join(line + "\n" for line in lines).encode())
        self.file = None

    def __enter__(self):
        self.file = open(self.path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc):
        self.file.close()

    def write(self, record: dict):
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()


class _StopRequest:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a flag the loop checks between steps, so a
    checkpoint is never taken in the middle of an update."""

    requested = False

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

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class _Progress:
    """A tqdm bar on a terminal; plain lines at each eval otherwise."""

    def __init__(self, start: int, total: int, enabled: bool = True):
        self.total, self.enabled = total, enabled
        self.bar = None
        self.last = {}
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm  # noqa: PLC0415

            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def update(self, record: dict):
        self.last = record
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.3g}",
                                 refresh=False)

    def eval(self, step: int, loss: float):
        train = self.last.get("loss", float("nan"))
        line = (f"step {step}/{self.total}  train {train:.4f}  eval {loss:.4f}  "
                f"grad-norm {self.last.get('grad_norm', float('nan')):.3g}  "
                f"{self.last.get('tokens_per_s', 0):,.0f} tok/s")
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        elif self.enabled:
            print(line, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
