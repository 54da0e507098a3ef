"""The two training tasks, a character-level language model and the adding problem, on an LSTM,
GRU or RNN, and how a config builds one (``build_task``, ``load_text``, ``charlm_from_checkpoint``).

A task owns its model and its data and does one thing per call: ``train_step(step)`` runs
the forward and the hand-written backward of one batch (parameter ``.grad``s filled) and
returns the loss; ``evaluate()`` returns the eval loss.  Every random draw is a function of
(seed, step), and the only state carried from one step to the next is in ``carried()``, so a
run restored from a checkpoint continues exactly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .. import functional as F
from ..backend import asnumpy, get_array_module, to_device
from ..checks import check_real, one_line
from ..nn.module import no_grad
from ..io import load_checkpoint
from ..nn import GRU, LSTM, RNN, Embedding, Linear, Module
from .config import TrainConfig, TrainingError
from .data import CharCorpus, DataError, StreamBatches, adding_problem, default_corpus_text

__all__ = ["CharLM", "CharLMTask", "AddingModel", "AddingTask", "load_text", "build_task",
           "charlm_from_checkpoint", "recurrent_layer", "STATE_NAMES"]


class CharLM(Module):
    """Embedding (V, E) → ``cell`` (E → H, L layers) → Linear (H → V): ``forward(tokens (T, B),
    state)`` returns next-character logits (T, B, V) and the layer's final state; ``backward(dlogits)``
    fills every ``.grad``.  The layer is ``model.lstm``, ``.gru`` or ``.rnn``: ``model.recurrent``."""

    def __init__(self, vocab_size, embedding_dim, hidden_size, num_layers=1, dropout=0.0, *,
                 cell="lstm", dtype="float32", device="cpu", seed=None):
        super().__init__(dtype=dtype, device=device)
        seeds = np.random.SeedSequence(seed).spawn(3)
        kw = dict(dtype=dtype, device=device)
        self.embedding = Embedding(vocab_size, embedding_dim, seed=seeds[0], **kw)
        self.cell = cell
        setattr(self, cell, recurrent_layer(cell, embedding_dim, hidden_size, num_layers,
                                            dropout, seed=seeds[1], **kw))
        self.head = Linear(hidden_size, vocab_size, seed=seeds[2], **kw)
    recurrent = property(lambda self: getattr(self, self.cell), doc="the LSTM, GRU or RNN")

    def forward(self, tokens, state=None):
        x = self.embedding(tokens)                          # (T, B, E)
        output, state = self.recurrent(x, state)            # (T, B, H)
        return self.head(output), state                     # (T, B, V)

    def backward(self, dlogits, record=None):
        """record: None, or a dict for the per-step gradient norms (LSTM.backward's)."""
        doutput = self.head.backward(dlogits)               # (T, B, H)
        dx, _ = self.recurrent.backward(doutput, record=record)     # (T, B, E)
        self.embedding.backward(dx)


class CharLMTask:
    """Next-character prediction with truncated BPTT over B parallel streams of the text."""

    def __init__(self, corpus: CharCorpus, *, batch_size, seq_len, embedding_dim, hidden_size,
                 num_layers, dropout, seed, cell="lstm", dtype="float32", device="cpu"):
        self.corpus = corpus
        self.train_batches = StreamBatches(corpus.train, batch_size, seq_len, "train")
        if len(corpus.eval) <= seq_len:
            raise DataError(f"the eval split (the text's last 10%) holds {len(corpus.eval)} "
                            f"characters, fewer than seq_len {seq_len} + 1; use a longer "
                            "text or a smaller seq_len")
        # eval: up to 16 streams of the eval split (one stream would be a slow B = 1 loop)
        eval_streams = max(1, min(16, (len(corpus.eval) - 1) // seq_len))
        self.eval_batches = StreamBatches(corpus.eval, eval_streams, seq_len, "eval")
        self.seed, self.device = seed, device
        self.model = CharLM(corpus.vocab_size, embedding_dim, hidden_size, num_layers, dropout,
                            cell=cell, dtype=dtype, device=device, seed=seed)
        self.state = None                   # the final state, carried between batches
        self.carried_shape = (num_layers, batch_size, hidden_size)      # (L, B, H)

    @property
    def trivial_loss(self) -> float:
        """ln V: the cross-entropy of the uniform guess, where an untrained model starts."""
        return float(np.log(self.corpus.vocab_size))

    def train_step(self, step: int, record=None):
        """Forward and backward of batch ``step``; returns (loss, tokens in the batch); ``record``:
        None, or a dict that receives the per-step gradient norms."""
        model = self.model
        model.train()
        inputs, targets = (to_device(a, self.device) for a in self.train_batches.batch(step))
        if step % len(self.train_batches) == 0:
            self.state = None                               # the streams start over
        model.recurrent.dropout_generator = np.random.default_rng([self.seed, step])
        logits, state = model(inputs, self.state)           # (T, B, V)
        V = logits.shape[-1]
        loss, cache = F.cross_entropy_forward(logits.reshape(-1, V), targets.reshape(-1))
        dlogits = F.cross_entropy_backward(1.0, cache).logits
        model.backward(dlogits.reshape(logits.shape), record)
        self.state = state                                  # carried, not backpropagated into
        return float(loss), inputs.size

    def evaluate(self) -> float:
        """Mean cross-entropy (nats per character) over the eval split, read as up to 16
        streams with the hidden state carried (a remainder shorter than seq_len per stream
        is left out)."""
        model = self.model.eval()
        total, count, state = 0.0, 0, None
        with no_grad():
            for k in range(len(self.eval_batches)):
                inputs, targets = (to_device(a, self.device) for a in self.eval_batches.batch(k))
                logits, state = model(inputs, state)
                loss, _ = F.cross_entropy_forward(logits.reshape(-1, logits.shape[-1]),
                                                  targets.reshape(-1))
                total += float(loss) * targets.size
                count += targets.size
        return total / count

    def carried(self) -> dict:
        """Arrays carried from one step to the next (for checkpoints)."""
        if self.state is None:
            return {}
        states = self.state if self.model.cell == "lstm" else (self.state,)
        return {name: asnumpy(a) for name, a in zip(STATE_NAMES[self.model.cell], states)}

    def restore(self, arrays: dict) -> None:
        """Set the carried state from ``carried()``'s arrays: none, or those of
        ``STATE_NAMES[cell]`` ("h" and "c" for the LSTM, "h" else), each of shape (L, B, H)
        and the model's dtype (``ValueError`` / ``TypeError`` naming the array otherwise;
        nothing is changed then)."""
        names = STATE_NAMES[self.model.cell]
        check_carried(arrays, dict.fromkeys(names, self.carried_shape) if arrays else {},
                      self.model.dtype)
        states = tuple(to_device(arrays[name], self.device) for name in names)
        self.state = None if not arrays else states if len(states) > 1 else states[0]

    def sample(self, prime: str, length: int, temperature: float, seed: int) -> str:
        """``prime`` followed by ``length`` characters drawn from the model."""
        temperature = check_real("temperature", temperature, minimum=0, strict=True)
        rng = np.random.default_rng(seed)
        model = self.model.eval()
        tokens = self.corpus.encode(prime) if prime else np.array([0], dtype=np.int64)
        out = []
        with no_grad():
            logits, state = model(to_device(tokens[:, None], self.device))   # (T, 1, V)
            for _ in range(length):
                k = int(rng.choice(self.corpus.vocab_size,
                                   p=_next_char_probabilities(logits[-1, 0], temperature)))
                out.append(k)
                logits, state = model(to_device(np.array([[k]]), self.device), state)
        return prime + self.corpus.decode(out)


def _next_char_probabilities(logits, temperature: float):
    """softmax(logits / temperature) in float64, (V,); ``ValueError`` when the logits are not
    finite (a model whose weights are NaN or inf) or the temperature makes them overflow."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = asnumpy(logits).astype(np.float64) / temperature               # (V,)
        p = np.exp(z - z.max())                                            # (V,)
        p /= p.sum()
    if not np.isfinite(p).all():
        what = ("the model's output is not finite (its weights hold NaN or inf)"
                if not np.isfinite(asnumpy(logits)).all() else
                f"temperature {temperature!r} is too small for the model's logits")
        raise ValueError(f"cannot sample: {what}")
    return p


def check_carried(arrays: dict, shapes: dict, dtype) -> None:
    """``arrays`` must hold exactly the names of ``shapes``, each a NumPy array of that shape
    and ``dtype`` (a checkpoint's state/<name> arrays, before a task takes them)."""
    if set(arrays) != set(shapes):
        raise ValueError(f"carried state must hold {sorted(shapes) or 'nothing'}, "
                         f"got {sorted(arrays)}")
    for name, shape in shapes.items():
        a = arrays[name]
        if not isinstance(a, np.ndarray) or a.dtype != np.dtype(dtype):
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"carried state/{name} must be a {np.dtype(dtype).name} array, "
                            f"got {got}")
        if a.shape != tuple(shape):
            raise ValueError(f"carried state/{name} must have shape {tuple(shape)}, "
                             f"got {a.shape}")


class AddingModel(Module):
    """``cell`` (2 → H, L layers) → Linear (H → 1) on the last step: the predicted sum (B, 1).
    The recurrent layer is the attribute named by ``cell``, as in ``CharLM``."""

    def __init__(self, hidden_size, num_layers=1, dropout=0.0, *, cell="lstm",
                 dtype="float32", device="cpu", seed=None):
        super().__init__(dtype=dtype, device=device)
        seeds = np.random.SeedSequence(seed).spawn(2)
        kw = dict(dtype=dtype, device=device)
        self.cell = cell
        setattr(self, cell, recurrent_layer(cell, 2, hidden_size, num_layers, dropout,
                                            seed=seeds[0], **kw))
        self.head = Linear(hidden_size, 1, seed=seeds[1], **kw)

    recurrent = CharLM.recurrent

    def forward(self, x):
        _, state = self.recurrent(x)
        h_n = state[0] if self.cell == "lstm" else state    # (L, B, H)
        return self.head(h_n[-1])                           # (B, 1)

    def backward(self, dpred, record=None):
        dh_last = self.head.backward(dpred)                 # (B, H)
        xp = get_array_module(dh_last)
        L = self.recurrent.num_layers
        dh_n = xp.zeros((L,) + dh_last.shape, dtype=dh_last.dtype)   # (L, B, H)
        dh_n[-1] = dh_last                                  # only the top layer's h_T is read
        self.recurrent.backward(None, (dh_n, None) if self.cell == "lstm" else dh_n,
                                record=record)


class AddingTask:
    """The adding problem: batch ``step`` is drawn from default_rng([seed, step])."""

    EVAL_SIZE = 1000
    state = None                                            # nothing is carried between steps

    def __init__(self, *, batch_size, seq_len, hidden_size, num_layers, dropout, seed,
                 cell="lstm", dtype="float32", device="cpu"):
        self.batch_size, self.seq_len, self.seed = batch_size, seq_len, seed
        self.dtype, self.device = dtype, device
        self.model = AddingModel(hidden_size, num_layers, dropout, cell=cell, dtype=dtype,
                                 device=device, seed=seed)
        # a fixed eval set, from its own stream of the seed
        self.eval_set = adding_problem(np.random.default_rng([seed, 2**32 - 1]),
                                       self.EVAL_SIZE, seq_len, dtype)

    def train_step(self, step: int, record=None):
        x, y = adding_problem(np.random.default_rng([self.seed, step]), self.batch_size,
                              self.seq_len, self.dtype)
        model = self.model
        model.train()
        model.recurrent.dropout_generator = np.random.default_rng([self.seed, step, 1])
        pred = model(to_device(x, self.device))             # (B, 1)
        loss, cache = F.mse_forward(pred, to_device(y, self.device))
        model.backward(F.mse_backward(1.0, cache).pred, record)
        return float(loss), x.shape[0] * x.shape[1]

    @property
    def trivial_loss(self) -> float:
        """1/6: the MSE of always predicting 1, the mean of the sum (Var(U1 + U2) = 2/12)."""
        return 1.0 / 6.0

    def evaluate(self) -> float:
        """Mean squared error on the fixed eval set (always predicting 1 scores ≈ 0.167)."""
        x, y = (to_device(a, self.device) for a in self.eval_set)
        with no_grad():
            loss, _ = F.mse_forward(self.model.eval()(x), y)
        return float(loss)

    def carried(self) -> dict:
        return {}

    def restore(self, arrays: dict) -> None:
        check_carried(arrays, {}, self.model.dtype)


# -- from settings to a task ------------------------------------------------------------

_LAYERS = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
# the arrays of a layer's state, as a checkpoint's state/<name> holds them
STATE_NAMES = {"lstm": ("h", "c"), "gru": ("h",), "rnn": ("h",)}


def recurrent_layer(cell: str, input_size, hidden_size, num_layers, dropout, **kw):
    """``nn.LSTM``, ``nn.GRU`` or ``nn.RNN`` (tanh), named by ``cell`` (config.CELLS):
    (T, B, I) → (T, B, H); ``kw``: dtype, device, seed."""
    return _LAYERS[cell](input_size, hidden_size, num_layers=num_layers, dropout=dropout, **kw)


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
                  seed=config.seed, cell=config.cell, dtype=config.dtype,
                  device=config.device)
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
    try:
        task.model.load_state_dict(checkpoint["model"])
    except (KeyError, ValueError, TypeError) as err:
        raise TrainingError(f"{path}: its weights do not fit the model its settings build "
                            f"({one_line(err, 1000)})") from None
    task.model.eval()
    return task, checkpoint
