"""``nplstm train`` and ``nplstm sample``: the command-line face of nplstm.training.

The trainer names settings (``lr``, ``seq_len``); this module shows them as flags (``--lr``,
``--seq-len``): ``flag()`` maps one, ``flag_message()`` a whole error message.  Every refusal
is one line on stderr and exit status 2, before anything in OUT is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import signal
import sys
from pathlib import Path

from ..checks import check_int, check_real
from ..training import (CELLS, TASK_DEFAULTS, Diverged, Interrupted, StorageError, TrainConfig, Trainer,
                        TrainingError)
from ..training.tasks import charlm_from_checkpoint

__all__ = ["add_parsers", "run_train", "run_sample", "flag", "flag_message", "OneLineParser"]

SAMPLE_TEMPERATURE = 0.8
LOSS_LABELS = {"charlm": "cross-entropy (nats/char)", "adding": "mean squared error"}


def flag(setting: str) -> str:
    """The command-line flag of a ``TrainConfig`` setting: "seq_len" → "--seq-len"."""
    return "--" + setting.replace("_", "-")


def flag_message(err) -> str:
    """``str(err)`` with each setting it names (``err.settings``) written as its flag."""
    message = str(err)
    for setting in getattr(err, "settings", ()):
        # the setting as a word of its own (not inside another, not a keyword "device=")
        message = re.sub(rf"(?<![\w-]){re.escape(setting)}\b(?!=)", flag(setting), message)
    return message


def _defaults(setting: str) -> str:
    """"default: 1000 (charlm), 4000 (adding)": the tasks' defaults of ``setting``."""
    values = {task: d[setting] for task, d in TASK_DEFAULTS.items()
              if not (setting == "embedding_dim" and task == "adding")}
    if len(set(values.values())) == 1 and len(values) == len(TASK_DEFAULTS):
        return f"default: {next(iter(values.values()))}"
    return "default: " + ", ".join(f"{v} ({task})" for task, v in values.items())


def add_parsers(sub) -> None:
    train = sub.add_parser(
        "train", help="train a character-level language model (or the adding problem) on an "
        "LSTM, a GRU or an RNN",
        description="Train with SGD and truncated BPTT; writes OUT/metrics.jsonl, "
        "OUT/config.json, OUT/checkpoint.npz, OUT/best.npz and PNG plots (with "
        "nplstm[plot]). Settings not given take the task's defaults; with --resume, the "
        "checkpoint's.")
    arg = train.add_argument
    # defaults are None: a setting not given is the task's default, or with --resume the
    # checkpoint's (TrainConfig fills them in); only settings given may differ from it
    arg("--task", choices=list(TASK_DEFAULTS), help="what to learn (default: charlm)")
    arg("--cell", choices=list(CELLS), help="the recurrent layer: nplstm.LSTM, GRU or RNN "
        "(tanh) (default: lstm)")
    arg("--text", default=None, help="a UTF-8 text file (charlm; default: the docstrings of "
        "the Python standard library)")
    arg("--out", default=None, help="output directory (default: runs/TASK)")
    arg("--resume", action="store_true", help="continue OUT's checkpoint up to --steps in total")
    arg("--overwrite", action="store_true", help="start afresh even if OUT holds a checkpoint")
    arg("--steps", type=int, help="total number of training steps (" + _defaults("steps") + ")")
    arg("--seed", type=int, help="seed of the weights, batches and dropout (default: 0)")
    arg("--checkpoint-every", type=int,
        help="steps between checkpoints (" + _defaults("checkpoint_every") + ")")
    arg("--eval-every", type=int,
        help="steps between evaluations (" + _defaults("eval_every") + ")")
    arg("--seq-len", type=int,
        help="time steps per batch (truncated BPTT length; " + _defaults("seq_len") + ")")
    arg("--hidden", type=int, help="hidden size (" + _defaults("hidden") + ")")
    arg("--layers", type=int, help="recurrent layers (" + _defaults("layers") + ")")
    arg("--batch-size", type=int,
        help="sequences per batch (" + _defaults("batch_size") + ")")
    arg("--embedding-dim", type=int,
        help="character embedding size (charlm; " + _defaults("embedding_dim") + ")")
    arg("--dropout", type=float, help="dropout between recurrent layers (default: 0)")
    arg("--lr", type=float,
        help="learning rate (the schedule's peak; " + _defaults("lr") + ")")
    arg("--momentum", type=float, help="SGD momentum (" + _defaults("momentum") + ")")
    arg("--nesterov", action="store_true", default=None,
        help="Nesterov momentum (needs --momentum > 0; default: off)")
    arg("--weight-decay", type=float, help="L2 weight decay (default: 0)")
    arg("--clip", type=float, help="clip the global gradient norm to this (0: no clipping; "
        + _defaults("clip") + ")")
    arg("--schedule", choices=["constant", "cosine"],
        help="learning-rate schedule (default: constant)")
    arg("--warmup-steps", type=int, help="linear warm-up steps of the schedule (default: 0)")
    arg("--lr-decay-steps", type=int,
        help="the cosine schedule's own horizon (never derived from --steps; needed by "
        "--schedule cosine)")
    arg("--min-lr", type=float, help="the cosine schedule's final learning rate (default: 0)")
    arg("--dtype", choices=["float32", "float64"], help="parameter dtype (default: float32)")
    arg("--device", choices=["cpu", "cuda"], help="where to train (default: cpu)")
    arg("--sample-length", type=int, default=300,
        help="characters of text printed at the end (charlm; 0: none; default: 300)")

    sample = sub.add_parser(
        "sample", help="print text from a char-LM run's model",
        description="Print text drawn character by character from the model of a "
        "`nplstm train` run (OUT/best.npz, else OUT/checkpoint.npz), continuing --prime. "
        "Nothing is written.")
    sample.add_argument("--out", default="runs/charlm",
                        help="the training run's directory (default: runs/charlm)")
    sample.add_argument("--checkpoint", choices=["best", "last"], default="best",
                        help="best.npz (the lowest eval loss; checkpoint.npz if the run has "
                        "none) or the last checkpoint (default: best)")
    sample.add_argument("--prime", default="", help="text to start from (default: none)")
    sample.add_argument("--temperature", type=float, default=SAMPLE_TEMPERATURE,
                        help="divides the logits: lower is more conservative "
                        f"(default: {SAMPLE_TEMPERATURE})")
    sample.add_argument("--length", type=int, default=500,
                        help="characters to draw (default: 500)")
    sample.add_argument("--seed", type=int, default=0,
                        help="seed of the draws (default: 0)")


def run_train(args, error) -> int:
    """Run ``nplstm train``; ``error(message)`` exits with status 2 (bad input)."""
    from ..training.plots import PLOT_EXTRA_NOTE, plot_run  # noqa: PLC0415

    out = args.out or f"runs/{args.task or 'charlm'}"
    _check_flags(error, check_int, {"--sample-length": args.sample_length}, minimum=0)
    if args.resume and args.overwrite:
        error("--resume and --overwrite exclude each other")
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if getattr(args, f.name, None) is not None}
    given["out"] = out
    try:
        trainer = Trainer(TrainConfig(**given), resume=args.resume, overwrite=args.overwrite,
                          progress=Progress, explicit=set(given), on_warning=_say)
        trainer.start()                  # OUT's lock: a second run on OUT is refused here
    except TrainingError as err:
        error(flag_message(err))
    config = trainer.config
    baseline = trainer.baseline
    for key, (old, new) in trainer.changed_on_resume.items():
        _say(f"note: {flag(key)} changed on resume from {old} to {new}: the run leaves the "
             "path an uninterrupted run would have taken")
    _say(f"training {config.task} on {config.cell.upper()} for {config.steps} steps (from step {trainer.step}) into "
         f"{config.out}" + (f"; bigram baseline {baseline:.3f} nats/char" if baseline else ""))
    try:
        summary = trainer.run()
    except (Diverged, StorageError) as err:
        _say(f"nplstm train: {flag_message(err)}")
        return 1
    except Interrupted as err:
        _say(f"nplstm train: {flag_message(err)}")
        return 143 if err.signal == signal.SIGTERM else 130     # 128 + the signal, as a shell
    print(_summary_line(summary, config.task))
    status = 0
    if config.task == "charlm" and args.sample_length:
        try:
            print("sample:\n" + trainer.task.sample("", args.sample_length,
                                                    SAMPLE_TEMPERATURE, config.seed))
        except ValueError as err:
            _say(f"nplstm train: {err}")
            status = 1
    try:
        plots = plot_run(config.out, title=f"nplstm train --task {config.task}",
                         baseline=baseline, on_damaged=_say,
                         loss_label=LOSS_LABELS.get(config.task, "loss"))
    except OSError as err:
        _say(f"nplstm train: cannot write the plots in {config.out}: {err.strerror or err}; "
             f"the checkpoints are complete")
        return 1
    print("plots: " + ", ".join(str(p) for p in plots) if plots else PLOT_EXTRA_NOTE)
    hint = (f"  (nplstm sample --out {config.out}" + (f"; nplstm visualize --out {config.out}"
            if config.cell == "lstm" else "") + ")" if config.task == "charlm" else "")
    print(f"checkpoint: {summary['checkpoint']}, best: {summary['best']}{hint}")
    return status


def _summary_line(summary: dict, task: str) -> str:
    """done: steps, time (the whole run, across resumes), final and best eval loss, the
    bigram baseline, and a note when the best eval loss is several evaluations old
    (training/run_dir.py's RunRecord: overfitting)."""
    unit = "nats/char" if task == "charlm" else "MSE"   # LOSS_LABELS, short
    final, best = summary["eval_loss"], summary["best_eval_loss"]
    line = (f"done: {summary['steps']} steps in {summary['seconds']:.1f} s; eval loss "
            f"{final:.4f} {unit} (best {best:.4f} at step {summary['best_step']})")
    baseline = summary["bigram_baseline"]
    if baseline is not None:
        gap = baseline - final
        line += (f"; add-k bigram baseline {baseline:.4f} (eval loss {abs(gap):.3f} {unit} "
                 + ("lower: better)" if gap >= 0 else "higher: worse)"))
    if summary["overfitting"]:
        line += (f"; eval loss has not improved for the last {summary['overfitting']} "
                 f"evaluations and is {100 * (final / best - 1):.0f}% above its best "
                 f"({best:.4f} at step {summary['best_step']}): the model overfits (or "
                 f"the learning rate is too high); best.npz keeps the best")
    return line


def run_sample(args, error) -> int:
    """Run ``nplstm sample``: text from OUT's best (or last) model; nothing is written."""
    from ..io import CheckpointError  # noqa: PLC0415

    _check_flags(error, check_real, {"--temperature": args.temperature}, minimum=0, strict=True)
    _check_flags(error, check_int, {"--length": args.length, "--seed": args.seed}, minimum=0)
    path = Path(args.out) / "best.npz"
    if args.checkpoint == "last" or not path.exists():
        path = Path(args.out) / "checkpoint.npz"
    try:
        task, _ = charlm_from_checkpoint(path)
        text = task.sample(args.prime, args.length, args.temperature, args.seed)
    except TrainingError as err:              # the stored settings: named as stored
        error(str(err) if str(err).startswith(str(path)) else f"{path}: {err}")
    except (CheckpointError, ValueError, TypeError, KeyError) as err:
        error(str(err))
    print(text)
    return 0


def _check_flags(error, check, flags: dict, **limits) -> None:
    """``check(flag, value, **limits)`` (nplstm.checks) for each flag; ``error`` on a refusal."""
    for name, value in flags.items():
        try:
            check(name, value, **limits)
        except (TypeError, ValueError) as err:
            error(str(err))


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``nplstm train: error: …``) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


class Progress:
    """The training run's progress: a tqdm bar on a terminal; plain lines at each eval
    otherwise."""

    def __init__(self, start: int, total: int, enabled: bool = True):
        """start, total: the steps done and to do (``Trainer(progress=Progress)`` calls it)."""
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
