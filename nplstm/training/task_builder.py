"""From settings to a task: the training text and the task object of a resolved config."""

from __future__ import annotations

from pathlib import Path

from .data import CharCorpus, DataError, default_corpus_text
from .tasks import AddingTask, CharLMTask
from .config import TrainConfig
from .errors import TrainingError

__all__ = ["load_text", "build_task"]


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
