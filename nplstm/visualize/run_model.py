"""A char-LM run (a directory written by ``nplstm train``), its model rebuilt, and the text
to show it: read from a file, or the run's own eval split (the text it was not trained on)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from ..io import CheckpointError, load_checkpoint
from ..training import TrainConfig, TrainingError, build_task, load_text
from .errors import VisualizeError

__all__ = ["LoadedRun", "load_charlm_run", "choose_text"]

_LINE_START_WITHIN = 200        # the eval split is shown from its first line within this


class LoadedRun(NamedTuple):
    """The rebuilt task (``training.tasks.CharLMTask``, weights loaded), the checkpoint file
    read and its step."""

    task: object
    checkpoint: Path
    step: int


def load_charlm_run(out) -> LoadedRun:
    """OUT's best.npz (else checkpoint.npz) loaded into the model ``training.build_task``
    builds from the settings stored in it.  ``VisualizeError`` naming the file when OUT is
    not a directory, holds no checkpoint, the checkpoint is damaged or not a char-LM's, or
    the training text is missing or changed."""
    out = Path(out)
    if not out.is_dir():
        raise VisualizeError(f"run {out}: not a directory (give the --out of nplstm train)")
    path = out / "best.npz"
    if not path.is_file():
        path = out / "checkpoint.npz"
    if not path.is_file():
        raise VisualizeError(f"run {out}: no best.npz or checkpoint.npz (not a run of "
                             "nplstm train, or one that has not saved yet)")
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as err:
        raise VisualizeError(str(err)) from None
    stored = checkpoint.get("config")
    if not isinstance(stored, dict):
        raise VisualizeError(f"{path} holds no training settings (not written by nplstm train)")
    try:
        config = TrainConfig(**{f.name: stored[f.name] for f in dataclasses.fields(TrainConfig)
                                if f.name in stored})
        config.validate()
        if config.task != "charlm":
            raise VisualizeError(f"{path}: a {config.task!r} run; visualize needs a charlm run "
                                 "(a character language model)")
        task = build_task(config, load_text(config.text))
        if config.text_sha256 not in (None, task.corpus.sha256):
            raise VisualizeError(f"{path}: the text {config.text or '(the default corpus)'} "
                                 "is not the one the run was trained on (its SHA-256 differs)")
        task.model.load_state_dict(checkpoint["model"])
    except TrainingError as err:
        raise VisualizeError(f"{path}: {err}") from None
    except (ValueError, TypeError, KeyError) as err:
        if isinstance(err, VisualizeError):
            raise
        raise VisualizeError(f"{path}: {err}") from None
    task.model.eval()
    return LoadedRun(task, path, int(checkpoint["step"]))


def choose_text(corpus, text_path=None, chars: int = 2000) -> tuple:
    """(text, skipped): the first ``chars`` characters of the file ``text_path`` that are in
    the run's vocabulary (others are skipped; ``skipped`` counts them per character), or of
    the run's eval split (``corpus.eval``, from its first line start within the first
    200 characters) without a file.  ``VisualizeError`` for a file
    that cannot be read as UTF-8 or leaves fewer than 2 characters."""
    if text_path is None:                      # from the split's first line start, if near
        head = corpus.decode(corpus.eval[:_LINE_START_WITHIN])
        start = head.find("\n") + 1 if "\n" in head[:-1] else 0
        return corpus.decode(corpus.eval[start:start + chars]), Counter()
    try:
        raw = Path(text_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VisualizeError(f"text {text_path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise VisualizeError(f"text {text_path}: cannot be read as UTF-8 text ({err})") \
            from None
    vocabulary = set(corpus.chars)
    kept, skipped = [], Counter()
    for ch in raw:
        if ch in vocabulary:
            kept.append(ch)
            if len(kept) == chars:
                break
        else:
            skipped[ch] += 1
    if len(kept) < 2:
        raise VisualizeError(f"text {text_path}: fewer than 2 of its characters are in the "
                             f"run's vocabulary of {len(vocabulary)}")
    return "".join(kept), skipped
