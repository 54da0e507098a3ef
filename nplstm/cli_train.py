"""``nplstm train`` and ``nplstm sample``: the command-line face of nplstm.train."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

__all__ = ["add_parsers", "run_train", "run_sample"]


def add_parsers(sub) -> None:
    train = sub.add_parser(
        "train", help="train a character-level LSTM language model (or the adding problem)",
        description="Train with SGD and truncated BPTT; writes OUT/metrics.jsonl, "
        "OUT/config.json, OUT/checkpoint.npz and PNG plots (with nplstm[plot]). Settings "
        "not given take the task's defaults; with --resume, the checkpoint's.")
    arg = train.add_argument
    # defaults are None: a setting not given is the task's default, or with --resume the
    # checkpoint's (TrainConfig fills them in); only settings given may differ from it
    arg("--task", choices=["charlm", "adding"])
    arg("--text", default=None, help="a UTF-8 text file (charlm; default: the docstrings of "
        "the Python standard library)")
    arg("--out", default=None, help="output directory (default: runs/TASK)")
    arg("--resume", action="store_true", help="continue OUT's checkpoint up to --steps in total")
    arg("--overwrite", action="store_true", help="start afresh even if OUT holds a checkpoint")
    arg("--steps", type=int, help="total number of training steps")
    arg("--seed", type=int)
    arg("--checkpoint-every", type=int, help="steps between checkpoints")
    arg("--eval-every", type=int, help="steps between evaluations")
    arg("--seq-len", type=int, help="time steps per batch (truncated BPTT length)")
    arg("--hidden", type=int, help="LSTM hidden size")
    arg("--layers", type=int, help="LSTM layers")
    arg("--batch-size", type=int)
    arg("--embedding-dim", type=int, help="character embedding size (charlm)")
    arg("--dropout", type=float, help="dropout between LSTM layers")
    arg("--lr", type=float, help="learning rate (the schedule's peak)")
    arg("--momentum", type=float)
    arg("--nesterov", action="store_true", default=None)
    arg("--weight-decay", type=float)
    arg("--clip", type=float, help="clip the global gradient norm to this (0: no clipping)")
    arg("--schedule", choices=["constant", "cosine"])
    arg("--warmup-steps", type=int)
    arg("--lr-decay-steps", type=int,
        help="the cosine schedule's own horizon (never derived from --steps)")
    arg("--min-lr", type=float)
    arg("--dtype", choices=["float32", "float64"])
    arg("--device", choices=["cpu", "cuda"])
    arg("--sample-length", type=int, default=300,
        help="characters of text printed at the end (charlm; 0: none)")

    sample = sub.add_parser("sample", help="print text from a char-LM checkpoint")
    sample.add_argument("--out", required=True, help="the training run's directory")
    sample.add_argument("--prime", default="", help="text to start from")
    sample.add_argument("--temperature", type=float, default=0.8)
    sample.add_argument("--length", type=int, default=500)
    sample.add_argument("--seed", type=int, default=0)


def run_train(args, error) -> int:
    """Run ``nplstm train``; ``error(message)`` exits with status 2 (bad input)."""
    from .plots import PLOT_EXTRA_NOTE, plot_run  # noqa: PLC0415
    from .train import Diverged, Interrupted, TrainConfig, Trainer, TrainingError  # noqa

    out = args.out or f"runs/{args.task or 'charlm'}"
    if args.sample_length < 0:
        error(f"--sample-length must be >= 0, got {args.sample_length}")
    if args.resume and args.overwrite:
        error("--resume and --overwrite exclude each other")
    checkpoint = Path(out) / "checkpoint.npz"
    if checkpoint.exists() and not (args.resume or args.overwrite):
        error(f"{out} already holds a checkpoint: pass --resume to continue it, --overwrite "
              "to start afresh, or choose another --out")
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if getattr(args, f.name, None) is not None}
    given["out"] = out
    try:
        trainer = Trainer(TrainConfig(**given), resume=args.resume, explicit=set(given))
    except (TrainingError, RuntimeError) as err:
        error(str(err))
    if args.overwrite:
        checkpoint.unlink(missing_ok=True)      # asked for: the old run's checkpoint goes
    config = trainer.config
    baseline = trainer.baseline
    for key, (old, new) in trainer.changed_on_resume.items():
        _say(f"note: --{key.replace('_', '-')} changed on resume from {old} to {new}: the run "
             "leaves the path an uninterrupted run would have taken")
    _say(f"training {config.task} for {config.steps} steps (from step {trainer.step}) into "
         f"{config.out}" + (f"; bigram baseline {baseline:.3f} nats/char" if baseline else ""))
    try:
        summary = trainer.run()
    except Diverged as err:
        _say(f"nplstm train: {err}")
        return 1
    except Interrupted as err:
        _say(f"nplstm train: {err}")
        return 130
    unit = "nats/char" if config.task == "charlm" else "MSE"
    line = (f"done: {summary['steps']} steps in {summary['seconds']:.1f} s; eval loss "
            f"{summary['eval_loss']:.4f} {unit}")
    if baseline is not None:
        line += f" (add-k bigram baseline {baseline:.4f}, {baseline - summary['eval_loss']:+.3f})"
    print(line)
    if config.task == "charlm" and args.sample_length:
        print("sample:\n" + trainer.task.sample("", args.sample_length, 0.8, config.seed))
    plots = plot_run(config.out, title=f"nplstm train --task {config.task}", baseline=baseline)
    print("plots: " + ", ".join(str(p) for p in plots) if plots else PLOT_EXTRA_NOTE)
    print(f"checkpoint: {summary['checkpoint']}  (nplstm sample --out {config.out})")
    return 0


def run_sample(args, error) -> int:
    from .io import CheckpointError, load_checkpoint  # noqa: PLC0415
    from .train import TrainConfig, TrainingError, build_task, load_text  # noqa: PLC0415

    if args.temperature <= 0:
        error(f"--temperature must be positive, got {args.temperature}")
    if args.length < 0:
        error(f"--length must be >= 0, got {args.length}")
    try:
        checkpoint = load_checkpoint(Path(args.out) / "checkpoint.npz")
        config = TrainConfig(**checkpoint["config"])
        if config.task != "charlm":
            error(f"{args.out} holds a {config.task!r} run; only charlm runs produce text")
        task = build_task(config, load_text(config.text))
        if config.text_sha256 not in (None, task.corpus.sha256):
            error(f"the text {config.text or '(the default corpus)'} is not the one "
                  f"{args.out} was trained on (its SHA-256 differs)")
        task.model.load_state_dict(checkpoint["model"])
        print(task.sample(args.prime, args.length, args.temperature, args.seed))
    except (CheckpointError, TrainingError, ValueError, TypeError) as err:
        error(str(err))
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``nplstm train: error: …``) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")
