"""Training data: the adding problem, and character corpora for truncated BPTT.

Both are deterministic functions of a seed or a position, so a resumed run sees exactly the
batches an uninterrupted run would.  Everything here is NumPy on the host; the trainer moves
batches to the model's device.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["adding_problem", "CharCorpus", "default_corpus_text", "bigram_baseline",
           "DataError"]


class DataError(ValueError):
    """Data that cannot be trained on (empty text, a text shorter than one batch, …)."""


# -- the adding problem ------------------------------------------------------------------------

def adding_problem(rng: np.random.Generator, batch_size: int, seq_len: int, dtype="float32"):
    """One batch of the adding problem (Hochreiter & Schmidhuber 1997).

    x[t, b] = (value, marker): values U(0, 1); the marker is 1 at two steps, one drawn in
    each half of the sequence, 0 elsewhere.  The target is the sum of the two marked values.
    Always predicting 1 (the target's mean) gives MSE = Var(U + U') = 1/6 ≈ 0.167.

    returns x (T, B, 2), y (B, 1)
    """
    if seq_len < 2:
        raise DataError(f"the adding problem needs seq_len >= 2, got {seq_len}")
    T, B = seq_len, batch_size
    values = rng.random((T, B))                                       # (T, B)
    first = rng.integers(0, T // 2, size=B)                           # (B,) in the first half
    second = rng.integers(T // 2, T, size=B)                          # (B,) in the second half
    markers = np.zeros((T, B))
    markers[first, np.arange(B)] = 1.0
    markers[second, np.arange(B)] = 1.0
    x = np.stack([values, markers], axis=-1).astype(dtype)            # (T, B, 2)
    y = (values[first, np.arange(B)] + values[second, np.arange(B)])[:, None].astype(dtype)
    return x, y                                                       # (B, 1)


# -- character corpora -------------------------------------------------------------------------

# The default corpus: the docstrings of these standard-library modules (and of their public
# classes, functions and methods), in this order.  Every Python installation has them, so
# nothing is downloaded and no book is committed; the text's SHA-256 goes into config.json.
DEFAULT_CORPUS_MODULES = (
    "argparse", "asyncio", "collections", "contextlib", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "email", "enum", "fractions", "functools", "heapq", "http.client",
    "inspect", "io", "ipaddress", "itertools", "json", "logging", "os", "pathlib", "pickle",
    "random", "re", "shutil", "socket", "statistics", "string", "subprocess", "tarfile",
    "textwrap", "threading", "typing", "unittest", "urllib.parse", "uuid", "zipfile",
)


def default_corpus_text() -> str:
    """The standard library's docstrings (``DEFAULT_CORPUS_MODULES``), ASCII only, joined."""
    parts = []
    with warnings.catch_warnings():   # touching deprecated members (typing.io) warns
        warnings.simplefilter("ignore")
        for name in DEFAULT_CORPUS_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:       # a trimmed-down Python: skip what is missing
                continue
            parts.extend(_docstrings(module))
    text = "\n\n".join(parts)
    return text.encode("ascii", "ignore").decode("ascii")


def _docstrings(module):
    """The module's docstring, then those of its public members in name order (methods too)."""
    seen, docs = set(), []

    def add(obj):
        doc = inspect.getdoc(obj) if id(obj) not in seen else None
        seen.add(id(obj))
        if doc and len(doc) > 40:
            docs.append(doc)

    add(module)
    for name in sorted(vars(module)):
        obj = vars(module)[name]
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        add(obj)
        if inspect.isclass(obj):
            for attr in sorted(vars(obj)):
                if not attr.startswith("_"):
                    add(vars(obj)[attr])
    return docs


@dataclass(frozen=True)
class CharCorpus:
    """A text as integer tokens: vocabulary, train split and eval split (its last 10%).

    ``chars`` is the sorted vocabulary; token k is ``chars[k]``.
    """

    chars: str
    train: np.ndarray   # (N_train,) int64
    eval: np.ndarray    # (N_eval,)  int64
    sha256: str         # of the whole text, to tell corpora apart in checkpoints

    @classmethod
    def from_text(cls, text: str, eval_fraction: float = 0.1) -> "CharCorpus":
        if len(text) < 2:
            raise DataError(f"the text must hold at least 2 characters, got {len(text)}")
        chars = "".join(sorted(set(text)))
        if len(chars) < 2:
            raise DataError(f"the text must hold at least 2 distinct characters, got "
                            f"only {chars!r}")
        lookup = {ch: k for k, ch in enumerate(chars)}
        tokens = np.fromiter((lookup[ch] for ch in text), dtype=np.int64, count=len(text))
        split = len(text) - max(1, int(round(len(text) * eval_fraction)))
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return cls(chars, tokens[:split], tokens[split:], digest)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Tokens of ``text``; characters outside the vocabulary are a ``DataError``."""
        lookup = {ch: k for k, ch in enumerate(self.chars)}
        missing = sorted(set(text) - set(lookup))
        if missing:
            raise DataError(f"characters not in the training text: {''.join(missing)!r}")
        return np.array([lookup[ch] for ch in text], dtype=np.int64)

    def decode(self, tokens) -> str:
        return "".join(self.chars[int(t)] for t in tokens)


class StreamBatches:
    """Truncated-BPTT batches: the split cut into B contiguous streams read T steps at a time.

    Stream b is tokens[b·S : (b+1)·S] with S = (N − 1) // B; batch k holds, for every stream,
    inputs at offsets [kT, kT + T) and targets one step ahead.  Consecutive batches continue
    the same streams, so the hidden state is carried from one batch to the next; after the
    last full batch the streams start over (``batch(k)`` with k ≥ ``len(self)`` wraps).

    batch(k) returns inputs (T, B) and targets (T, B), int64.
    """

    def __init__(self, tokens: np.ndarray, batch_size: int, seq_len: int, split: str):
        stream_len = (len(tokens) - 1) // batch_size
        if stream_len < seq_len:
            need = batch_size * seq_len + 1
            raise DataError(f"the {split} split holds {len(tokens)} characters, fewer than one "
                            f"batch needs ({need} = batch_size {batch_size} × seq_len "
                            f"{seq_len} + 1); use a longer text or smaller sizes")
        n = batch_size * stream_len
        self.inputs = tokens[:n].reshape(batch_size, stream_len).T             # (S, B)
        self.targets = tokens[1:n + 1].reshape(batch_size, stream_len).T       # (S, B)
        self.seq_len = seq_len
        self.num_batches = stream_len // seq_len

    def __len__(self) -> int:
        return self.num_batches

    def batch(self, k: int):
        start = (k % self.num_batches) * self.seq_len
        stop = start + self.seq_len
        return self.inputs[start:stop], self.targets[start:stop]              # (T, B) each


def bigram_baseline(corpus: CharCorpus, k: float = 0.5) -> float:
    """Mean cross-entropy (nats/char) on the eval split of an add-k bigram model fitted on the
    train split: p(b | a) = (n(a, b) + k) / (n(a) + k V).  The number the LSTM must beat."""
    V = corpus.vocab_size
    counts = np.zeros((V, V))
    np.add.at(counts, (corpus.train[:-1], corpus.train[1:]), 1.0)
    probs = (counts + k) / (counts.sum(axis=1, keepdims=True) + k * V)
    # the first eval character follows the last train character
    previous = np.concatenate([corpus.train[-1:], corpus.eval[:-1]])
    return float(-np.log(probs[previous, corpus.eval]).mean())
