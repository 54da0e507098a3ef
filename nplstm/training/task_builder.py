"""From settings to a task: the training text and the task object of a resolved config."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..io import load_checkpoint
from .data import CharCorpus, DataError, default_corpus_text
from .tasks import AddingTask, CharLMTask
from .config import TrainConfig
from .errors import TrainingError

__all__ = ["load_text", "build_task", "charlm_from_checkpoint"]


def load_text(path) -> str:
    """The training text: the UTF-8 file ``path``, or the default corpus for None."""
    if path is None:
        return default_corpus_text()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrainingError(f"text {path}: no such file", ("text",)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise TrainingError(f"text {path}: cannot be read as UTF-8 text ({err})",
                            ("text",)) from None


def build_task(config: TrainConfig, text: str | None = None):
    """The task object of a resolved config (charlm needs the text)."""
    common = dict(batch_size=config.batch_size, seq_len=config.seq_len,
                  hidden_size=config.hidden, num_layers=config.layers, dropout=config.dropout,
                  seed=config.seed, dtype=config.dtype, device=config.device)
    sizes = ("seq_len", "batch_size")
    try:
        if config.task == "adding":
            try:
                return AddingTask(**common)
            except DataError as err:
                raise TrainingError(str(err), sizes) from None
        try:
            corpus = CharCorpus.from_text(text)
            return CharLMTask(corpus, embedding_dim=config.embedding_dim, **common)
        except DataError as err:
            source = config.text or "the default corpus"
            raise TrainingError(f"text {source}: {err}", ("text",) + sizes) from None
    except RuntimeError as err:                # the device's library is missing
        raise TrainingError(f"device {config.device}: {err}", ("device",)) from None
    except MemoryError:
        raise TrainingError(f"the model does not fit in memory (hidden {config.hidden}, "
                            f"layers {config.layers}, embedding_dim {config.embedding_dim})",
                            ("hidden", "layers", "embedding_dim")) from None


def charlm_from_checkpoint(path):
    """The char-LM task of a checkpoint written by ``nplstm train``, rebuilt from the settings
    stored in it and with its weights loaded (eval mode): ``(task, checkpoint)``.

    ``CheckpointError`` for a damaged file; ``TrainingError`` naming the file when it holds no
    training settings, another task's run, or its training text is missing or changed."""
    checkpoint = load_checkpoint(path)
    stored = checkpoint.get("config")
    if not isinstance(stored, dict):
        raise TrainingError(f"{path} holds no training settings (not written by nplstm train)")
    config = TrainConfig(**{f.name: stored[f.name] for f in dataclasses.fields(TrainConfig)
                            if f.name in stored})
    config.validate()
    if config.task != "charlm":
        raise TrainingError(f"{path} holds a run of task {config.task!r}; only charlm runs (character "
                            "language models) produce text")
    task = build_task(config, load_text(config.text))
    if config.text_sha256 not in (None, task.corpus.sha256):
        raise TrainingError(f"{path}: the text {config.text or '(the default corpus)'} is not "
                            "the one the run was trained on (its SHA-256 differs)")
    task.model.load_state_dict(checkpoint["model"])
    task.model.eval()
    return task, checkpoint
