"""The trainer: the loop, checkpoints, the best model, exact resume, the divergence guard.

One step is: lr ← schedule(step); zero the grads; forward and backward of batch ``step``;
stop if the loss or the gradient norm is not finite or the loss exploded (the guard, below);
clip; SGD update.  Every random draw and every batch is a function of (seed, step) and the
state carried between steps (model, momentum buffers, the hidden state of the text streams)
is in the checkpoint, so ``resume`` ends bit-for-bit where an uninterrupted run ends, also
after a SIGKILL at any moment.

Everything a run could refuse (settings, data, OUT, the checkpoint's contents) is checked
when the ``Trainer`` is made, before anything in OUT is written; ``run()`` then takes OUT's
lock and writes its files (both in run_dir.py).

The divergence guard: when to stop a run whose loss has left the realm of learning.
A step is refused (before its update) when

    the loss or the gradient norm is not finite, or
    loss > K · max(first loss of the run, trivial loss),        K = 10

``first loss``: the loss of the run's first step (stored in the checkpoint, so a resumed run
keeps the original run's, and the rule does not depend on where it resumed); ``trivial
loss``: what a model that learned nothing scores — ln V for the char-LM (the uniform guess),
1/6 for the adding problem (always predicting 1).  A healthy run starts near the trivial
loss and goes down (no step of the default runs has a loss above their first: 4.544 for
charlm, ln V = 4.564; 1.075 for adding, 1/6 trivial; limits 45.6 and 10.7); a learning rate
that blows the weights up sends the loss far past it at once, often still finite: resumed
with lr 1e30 and no clipping, a tiny char-LM's next loss is 3.7e29 with OpenBLAS's SkylakeX
kernel and NaN with its Haswell kernel (how far before inf depends on the BLAS rounding).
K = 10 lies far from both: no healthy curve comes near it, an explosion leaves it behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import time
import warnings
from contextlib import contextmanager

import numpy as np

from ..io import CheckpointError, atomic_write_bytes, load_checkpoint, save_checkpoint
from ..optim import SGD, clip_grad_norm, grad_norm, make_schedule
from .config import Diverged, Interrupted, StorageError, TrainConfig, TrainingError, \
    check_out, merge_resumed
from .data import bigram_baseline
from .run_dir import MetricsLog, RunDir, RunRecord, damage_note, keep_up_to
from ..checks import one_line
from .tasks import build_task, load_text

__all__ = ["Trainer", "DivergenceGuard", "EXPLOSION_FACTOR", "StopRequest"]

EXPLOSION_FACTOR = 10.0


class DivergenceGuard:
    """``guard.problem(loss, grad_norm)``: None for a healthy step, else what went wrong.

    The first finite loss it sees becomes ``first_loss`` unless one is given (resume)."""

    def __init__(self, trivial_loss: float, first_loss: float | None = None,
                 factor: float = EXPLOSION_FACTOR):
        self.trivial_loss, self.first_loss, self.factor = trivial_loss, first_loss, factor

    def limit(self) -> float:
        """K · max(first loss, trivial loss): the largest loss still taken for learning."""
        first = self.trivial_loss if self.first_loss is None else self.first_loss
        return self.factor * max(first, self.trivial_loss)

    def problem(self, loss: float, grad_norm: float = 0.0) -> str | None:
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            return f"loss {loss}, gradient norm {grad_norm} (not finite)"
        if self.first_loss is None:
            self.first_loss = float(loss)
        if loss > self.limit():
            return (f"loss {loss:.4g} exploded (above {self.factor:g} × max(first loss "
                    f"{self.first_loss:.4g}, trivial loss {self.trivial_loss:.4g}) = "
                    f"{self.limit():.4g})")
        return None


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


class Trainer:
    """Runs a task's steps with SGD, logging, checkpoints and the guards described above.

    ``Trainer(config).run()`` trains from scratch, or from OUT's checkpoint with
    ``resume=True``; returns a summary dict (steps, final and best eval loss, time, …).

    overwrite   for a fresh run: replace the run OUT holds (its checkpoint and best.npz go
                when the run starts); False refuses an OUT that holds a checkpoint (the
                command line passes False unless given --overwrite).  Ignored with resume.

    progress    None or False: quiet; else a factory ``progress(start, total)`` of an object
                with ``update(record)``, ``eval(step, loss)`` and ``close()``, told of every
                step and evaluation (the command line passes ``nplstm.cli.train.Progress``:
                a tqdm bar on a terminal)
    explicit    the names of the settings the user gave (the CLI's flags); on resume only
                these override the checkpoint's.  None: those that differ from TrainConfig().
    on_warning  called with one line for things worth saying that stop nothing (a damaged
                line in the log); default: ``warnings.warn``.
    """

    def __init__(self, config: TrainConfig, *, resume: bool = False, overwrite: bool = True,
                 progress=None, explicit=None, on_warning=None):
        check_out(config.out)
        self.run_dir = RunDir(config.out)
        self.out, self.checkpoint_path, self.best_path = \
            self.run_dir.path, self.run_dir.checkpoint, self.run_dir.best
        if progress is not None and progress is not False and not callable(progress):
            raise TypeError(f"progress must be None, False or a factory progress(start, total), "
                            f"got {progress!r}")
        self.progress_factory = progress or _QuietProgress
        self.overwrite = overwrite and not resume
        self.warn = on_warning or (lambda line: warnings.warn(line, RuntimeWarning,
                                                              stacklevel=3))
        self.run_dir.check_writable()
        checkpoint = None
        self.changed_on_resume = {}
        # the checkpoint this run starts from (or its absence), checked again under the lock
        self._checkpoint_seen = self.run_dir.identity(self.checkpoint_path)
        if resume:
            checkpoint = self._read_checkpoint()
            if not isinstance(checkpoint.get("config"), dict):
                raise TrainingError(f"resume: {self.checkpoint_path} holds no training "
                                    "settings (not written by nplstm train)", ("resume",))
            config, self.changed_on_resume = merge_resumed(config, checkpoint["config"],
                                                           explicit)
        elif not overwrite and (self._checkpoint_seen is not None or self.best_path.exists()):
            held = "a checkpoint" if self._checkpoint_seen is not None else "a best.npz"
            raise TrainingError(f"out {self.out} already holds {held}: pass resume to "
                                "continue it, overwrite to start afresh, or choose another "
                                "out", ("out", "resume", "overwrite"))
        self.config = config = config.resolved()
        text = load_text(config.text) if config.task == "charlm" else None
        self.task = build_task(config, text)
        if text is not None:
            self.baseline = bigram_baseline(self.task.corpus)
            digest = self.task.corpus.sha256
            if config.text_sha256 not in (None, digest):
                raise TrainingError(
                    f"resume: the text differs from the checkpoint's (SHA-256 "
                    f"{digest[:12]}… instead of {config.text_sha256[:12]}…)", ("resume",))
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
        self.record = RunRecord()
        if checkpoint is not None:
            self._restore(checkpoint)
        self.guard = DivergenceGuard(self.task.trivial_loss, self.record.first_loss)
        self._locked = False
        self._started = time.perf_counter()

    # -- checkpoints --------------------------------------------------------------------
    def _read_checkpoint(self):
        if self._checkpoint_seen is None:
            raise TrainingError(f"resume: no checkpoint in {self.out} "
                                f"({self.checkpoint_path} does not exist)", ("resume",))
        try:
            return load_checkpoint(self.checkpoint_path)
        except CheckpointError as err:
            raise TrainingError(f"resume: {err}", ("resume",)) from None

    def _restore(self, checkpoint):
        """Load the model, the optimizer, the carried state and the run record, each
        checked against this run's model and settings (``TrainingError`` otherwise)."""
        step = checkpoint["step"]
        try:                                # (load_checkpoint checked that step >= 0)
            self.model.load_state_dict(checkpoint["model"])
            self.optimizer.load_state_dict(checkpoint["optimizer"])
            self.task.restore(checkpoint["state"])
            self.record = RunRecord.from_meta(checkpoint.get("run"), step)
        except (KeyError, ValueError, TypeError) as err:
            raise TrainingError(f"resume: the checkpoint {self.checkpoint_path} does not fit "
                                f"this model ({one_line(err, 1000)})", ("resume",)) from None
        if step >= self.config.steps:
            raise TrainingError(f"resume: the checkpoint is at step {step} already; "
                                f"pass steps above {step} to train further",
                                ("resume", "steps"))
        self.step = self.last_checkpoint_step = step

    def save(self):
        """Write the checkpoint of the current step (atomically)."""
        with self._storage(self.checkpoint_path):
            save_checkpoint(self.checkpoint_path, step=self.step,
                            model=self.model.state_dict(),
                            optimizer=self.optimizer.state_dict(), state=self.task.carried(),
                            config=dataclasses.asdict(self.config),
                            run=dataclasses.asdict(self._record_now()))
        self.last_checkpoint_step = self.step

    def _save_best(self, eval_loss: float):
        """Write best.npz (atomically): the model, its step and eval loss, the settings."""
        with self._storage(self.best_path):
            save_checkpoint(self.best_path, step=self.step, model=self.model.state_dict(),
                            config=dataclasses.asdict(self.config), eval_loss=eval_loss)

    def _record_now(self) -> RunRecord:
        return dataclasses.replace(self.record, first_loss=self.guard.first_loss,
                                   seconds=self.record.seconds + time.perf_counter()
                                   - self._started)

    def _kept(self) -> str:
        if self.last_checkpoint_step is None:
            return "no checkpoint was written yet"
        return (f"the last good checkpoint (step {self.last_checkpoint_step}) is kept in "
                f"{self.checkpoint_path}")

    @contextmanager
    def _storage(self, path):
        """Turn a failed write of ``path`` (disk full, I/O error) into a StorageError."""
        try:
            yield
        except OSError as err:
            raise StorageError(f"cannot write {path}: {err.strerror or err}; {self._kept()}; "
                               "make room and continue with resume", ("resume",)) from None

    # -- the loop -------------------------------------------------------------------------
    def start(self) -> None:
        """Take OUT's lock (``RunLocked`` names the PID of the run that holds it) and check
        that the checkpoint is still the one this trainer read.  ``run()`` calls it if the
        caller did not."""
        if self._locked:
            return
        self.run_dir.acquire()
        try:
            if not self.overwrite and \
                    self.run_dir.identity(self.checkpoint_path) != self._checkpoint_seen:
                raise TrainingError(f"out {self.out}: its checkpoint changed while this run "
                                    "started (another run wrote it); start again", ("out",))
        except BaseException:
            self.run_dir.release()
            raise
        self._locked = True

    def run(self) -> dict:
        self.start()
        self._started = time.perf_counter()
        try:
            return self._run_locked()
        finally:
            self.run_dir.release()
            self._locked = False

    def _run_locked(self) -> dict:
        config = self.config
        if self.overwrite:
            with self._storage(self.checkpoint_path):
                self.checkpoint_path.unlink(missing_ok=True)   # asked for: the old run goes
                self.best_path.unlink(missing_ok=True)
        self.run_dir.remove_stale_temporaries()
        with self._storage(self.run_dir.config):
            atomic_write_bytes(self.run_dir.config,
                               (json.dumps(dataclasses.asdict(config), indent=2) + "\n")
                               .encode())
        with self._storage(self.run_dir.metrics):
            damaged = keep_up_to(self.run_dir.metrics, self.step)
        if damaged:
            self.warn(damage_note(self.run_dir.metrics, damaged))
        metrics = MetricsLog(self.run_dir.metrics)
        stop = StopRequest()
        progress = self.progress_factory(self.step, config.steps)
        last_train = last_eval = None
        try:
            with stop:
                while self.step < config.steps:
                    if stop.requested:
                        self.save()
                        interrupted = Interrupted(
                            f"interrupted at step {self.step}: checkpoint saved in "
                            f"{self.checkpoint_path}; continue with resume", ("resume",))
                        interrupted.signal = stop.signal
                        raise interrupted
                    evaluating = (self.step + 1) % config.eval_every == 0
                    through_time = {} if evaluating else None
                    record = self._train_step(through_time)
                    last_train = record["loss"]
                    self._log(metrics, record)
                    progress.update(record)
                    if evaluating:
                        self._log(metrics, _through_time_record(self.step, through_time))
                        last_eval = self._evaluate(metrics, progress)
                    if self.step % config.checkpoint_every == 0:
                        self.save()
                if self.step % config.eval_every:      # the end, if no eval fell on it
                    last_eval = self._evaluate(metrics, progress)
                if self.last_checkpoint_step != self.step:
                    self.save()
        finally:
            progress.close()
            metrics.close()
        best = self.record.best
        return {"steps": self.step, "train_loss": last_train, "eval_loss": last_eval,
                "best_eval_loss": best[1] if best else None,
                "best_step": best[0] if best else None,
                "overfitting": self.record.overfitting(),
                "seconds": self._record_now().seconds, "bigram_baseline": self.baseline,
                "checkpoint": str(self.checkpoint_path), "best": str(self.best_path)}

    def _log(self, metrics, record: dict):
        with self._storage(self.run_dir.metrics):
            metrics.write(record)

    def _evaluate(self, metrics, progress) -> float:
        """The eval loss at this step: logged, checked by the guard, best.npz on a new best."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            loss = self.task.evaluate()
        problem = self.guard.problem(loss)
        if problem is not None:
            self._diverged(f"eval {problem}")
        self._log(metrics, {"step": self.step, "split": "eval", "loss": loss})
        progress.eval(self.step, loss)
        if self.record.add_eval(self.step, loss):
            self._save_best(loss)
        return loss

    def _diverged(self, problem: str):
        raise Diverged(f"training diverged at step {self.step}: {problem}; {self._kept()}. "
                       f"Lower lr (now {self.optimizer.lr:g}) or the gradient-norm limit "
                       f"clip (now {self.config.clip:g}; 0 = off)", ("lr", "clip"))

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
        problem = self.guard.problem(loss, norm)
        if problem is not None:
            self.task.state = carried           # as before this step: nothing of it is kept
            self._diverged(problem)
        self.optimizer.step()
        self.step = step + 1
        seconds = time.perf_counter() - t0
        return {"step": self.step, "split": "train", "loss": loss, "grad_norm": norm, "lr": lr,
                "tokens_per_s": tokens / seconds}


def _through_time_record(step: int, record: dict) -> dict:
    """The per-step gradient norms of one batch as a metrics line: {"l0d0": {"dh": [...], …}}
    ("dh" and, for an LSTM, "dc")."""
    line = {"step": step, "split": "through_time"}
    for (layer, direction), norms in sorted(record.items()):
        line[f"l{layer}d{direction}"] = {k: [float(v) for v in values]
                                         for k, values in norms.items()}
    return line


class _QuietProgress:
    """The progress reporter of a quiet run: told everything, says nothing."""

    def __init__(self, start: int, total: int):
        pass

    def update(self, *args) -> None:
        """``update(record)``, ``eval(step, loss)``, ``close()``: nothing to say."""

    eval = close = update
