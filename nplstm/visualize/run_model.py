"""A char-LM run (a directory written by ``nplstm train``), its model rebuilt, and the text
to show it: read from a file, or the run's own eval split (the text it was not trained on)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import NamedTuple

from ..io import CheckpointError
from ..training import TrainingError
from ..training.tasks import charlm_from_checkpoint
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
        task, checkpoint = charlm_from_checkpoint(path)
    except (CheckpointError, TrainingError) as err:
        raise VisualizeError(str(err) if str(err).startswith(str(path))
                             else f"{path}: {err}") from None
    except (ValueError, TypeError, KeyError) as err:
        raise VisualizeError(f"{path}: {err}") from None
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
