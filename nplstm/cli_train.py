"""``nplstm train`` and ``nplstm sample``: the command-line face of nplstm.train."""

from __future__ import annotations

import argparse
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
    arg("--task", choices=["charlm", "adding"], default="charlm")
    arg("--text", default=None, help="a UTF-8 text file (charlm; default: the docstrings of "
        "the Python standard library)")
    arg("--out", default=None, help="output directory (default: runs/TASK)")
    arg("--resume", action="store_true", help="continue OUT's checkpoint up to --steps in total")
    arg("--overwrite", action="store_true", help="start afresh even if OUT holds a checkpoint")
    arg("--steps", type=int, help="total number of training steps")
    arg("--seed", type=int, default=0)
    arg("--checkpoint-every", type=int, help="steps between checkpoints")
    arg("--eval-every", type=int, help="steps between evaluations")
    arg("--seq-len", type=int, help="time steps per batch (truncated BPTT length)")
    arg("--hidden", type=int, help="LSTM hidden size")
    arg("--layers", type=int, help="LSTM layers")
    arg("--batch-size", type=int)
    arg("--embedding-dim", type=int, help="character embedding size (charlm)")
    arg("--dropout", type=float, default=0.0, help="dropout between LSTM layers")
    arg("--lr", type=float, help="learning rate (the schedule's peak)")
    arg("--momentum", type=float)
    arg("--nesterov", action="store_true")
    arg("--weight-decay", type=float, default=0.0)
    arg("--clip", type=float, help="clip the global gradient norm to this (0: no clipping)")
    arg("--schedule", choices=["constant", "cosine"], default="constant")
    arg("--warmup-steps", type=int, default=0)
    arg("--lr-decay-steps", type=int, default=None,
        help="the cosine schedule's own horizon (never derived from --steps)")
    arg("--min-lr", type=float, default=0.0)
    arg("--dtype", choices=["float32", "float64"], default="float32")
    arg("--device", choices=["cpu", "cuda"], default="cpu")
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

    out = args.out or f"runs/{args.task}"
    if args.sample_length < 0:
        error(f"--sample-length must be >= 0, got {args.sample_length}")
    if args.resume and args.overwrite:
        error("--resume and --overwrite exclude each other")
    checkpoint = Path(out) / "checkpoint.npz"
    if checkpoint.exists() and not (args.resume or args.overwrite):
        error(f"{out} already holds a checkpoint: pass --resume to continue it, --overwrite "
              "to start afresh, or choose another --out")
    config = TrainConfig(
        task=args.task, text=args.text, out=out, seed=args.seed, steps=args.steps,
        seq_len=args.seq_len, hidden=args.hidden, layers=args.layers,
        batch_size=args.batch_size, embedding_dim=args.embedding_dim, lr=args.lr,
        momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay,
        clip=args.clip, schedule=args.schedule, warmup_steps=args.warmup_steps,
        lr_decay_steps=args.lr_decay_steps, min_lr=args.min_lr, dropout=args.dropout,
        eval_every=args.eval_every, checkpoint_every=args.checkpoint_every, dtype=args.dtype,
        device=args.device)
    try:
        trainer = Trainer(config, resume=args.resume)
    except (TrainingError, RuntimeError) as err:
        error(str(err))
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
