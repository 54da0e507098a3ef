"""Run an ``nplstm.LSTM``, ``GRU`` or ``RNN`` through onnxruntime: inference at torch's speed
(docs/interop.md, "Run it at torch's speed").

    fast = nplstm.interop.compile_onnxruntime(lstm, threads=1)
    output, (h_n, c_n) = fast(x, state=None, lengths=None)      # = lstm(x, state, lengths=...)
    output, h_n = compile_onnxruntime(gru)(x, state=None, lengths=None)  # = gru(x, state, ...)
    output, h_n = compile_onnxruntime(rnn)(x, state=None, lengths=None)  # = rnn(x, state, ...)

    x        (T, B, I), (B, T, I) if batch_first, or unbatched (T, I); float32
    states   (L·D, B, H) each (unbatched: (L·D, H)), or None for zeros
    lengths  (B,) valid lengths in [1, T], or None (as the module's forward)
    returns  output (T, B, D·H) (batch_first: (B, T, D·H)), the final states shaped like state

``compile_onnxruntime`` builds the module's ONNX graph in memory (``onnx_export.build_model``
with ``runner=True``) and opens one onnxruntime session on it.  The weights and the
configuration are a **snapshot** of the module when it is compiled.  A call validates x, the
state and lengths with the module's own checks (the same errors), feeds zeros for a missing
state, and returns new float32 arrays in the caller's layout; there is no backward.  Two
graphs: without lengths, and with a ``lengths`` input for ONNX's ``sequence_lens`` (opened by
the first call with a length shorter than T: onnxruntime's LSTM is ~15% slower when it is
given sequence_lens).  NaN or inf in x or the state is refused (``_check_finite``), as is what
onnxruntime cannot run exactly (``_check_compilable``).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence, Union, overload

import numpy as np

from ..checks import check_int, check_lengths
from ..functional.inputs import single_state, unpack_state
from ..nn import GRU, LSTM, RNN
from ..nn.recurrent import NOT_GIVEN, renamed_argument
from .file_errors import require
from .onnx_export import build_model, check_exportable

__all__ = ["compile_onnxruntime", "OnnxruntimeLSTM", "OnnxruntimeGRU", "OnnxruntimeRNN"]

Lengths = Union[Sequence[int], np.ndarray, int]
# onnxruntime starts every intra-op thread when the session opens: far more threads than
# any machine's cores only exhaust it (and its option is a C int: 2**31 is a foreign error)
MAX_THREADS = 1024
LOG_ERRORS_ONLY = 3          # onnxruntime's severities: 0 verbose, 1 info, 2 warning, 3 error


class _Compiled:
    """What the LSTM, GRU and RNN runners share: the session and one call's plumbing."""

    _state_names: tuple[str, ...] = ()      # the graph's state inputs (outputs: h_n, c_n)
    _argument_names: tuple[str, ...] = ()   # their names in the module's checks; (): the same

    def __init__(self, module: LSTM | GRU | RNN, threads: int | None) -> None:
        self._ort = ort = require("onnxruntime", "onnx", "compile_onnxruntime")
        # the module's configuration, frozen: its checks (_time_major, _initial_states,
        # _caller_layout) run on this copy, so a call validates as module(x, ...) does
        self._module: Any = copy.copy(module)       # its private checks are untyped
        self.threads = threads
        options = ort.SessionOptions()
        options.log_severity_level = LOG_ERRORS_ONLY
        options.intra_op_num_threads = threads or 0         # 0: onnxruntime's default
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._options = options
        # the graphs (weights copied to the host now: the snapshot); the session with a
        # lengths input is opened by the first call that has lengths shorter than T
        self._models = {False: build_model(module, runner=True),
                        True: build_model(module, runner=True, lengths=True)}
        self._sessions: dict[bool, Any] = {}
        self._session(False)
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = LOG_ERRORS_ONLY
        self._outputs = ["output", *(f"{name[0]}_n" for name in self._state_names)]

    def _run(self, x: np.ndarray, given: Sequence[np.ndarray | None],
             lengths: Lengths | None) -> tuple[np.ndarray, ...]:
        """output and the final states in the caller's layout (checks as the module's)."""
        m = self._module
        plain = self._plain_inputs(x, given)
        names = self._argument_names or self._state_names
        if plain is None:                    # the module's own checks: its errors, its forms
            x_tbi, unbatched, xp = m._time_major(x)              # (T, B, I)
            initial = m._initial_states(given, names, x_tbi.shape[1], unbatched, xp)
        else:
            x_tbi, initial = plain
            unbatched = False
        for name, a in (("x", x_tbi), *zip(names, initial)):
            _check_finite(name, a, type(m).__name__)
        T, B = x_tbi.shape[:2]
        feeds = {name: np.ascontiguousarray(a) for name, a in
                 zip(("input", *self._state_names), (x_tbi, *initial))}
        if lengths is not None:
            if unbatched and isinstance(lengths, (int, np.integer)):
                lengths = [lengths]
            lens = check_lengths(lengths, T, B)
            if lens.min() < T:               # all T: the faster graph without lengths
                feeds["lengths"] = lens.astype(np.int32)
        session = self._session("lengths" in feeds)
        output, *finals = session.run(self._outputs, feeds, self._run_options)
        if output.ndim == 4:                 # one direction: Y (T, 1, B, H), viewed
            output = output.reshape(T, B, m.hidden_size)
        return tuple(m._caller_layout(unbatched, output, *finals))

    def _session(self, lengths: bool) -> Any:
        """The onnxruntime session on the graph with or without the lengths input."""
        if lengths not in self._sessions:
            model = self._models.pop(lengths)
            self._sessions[lengths] = self._ort.InferenceSession(
                model.SerializeToString(), self._options, providers=["CPUExecutionProvider"])
        return self._sessions[lengths]

    def _plain_inputs(self, x: np.ndarray, given: Sequence[np.ndarray | None]
                      ) -> tuple[np.ndarray, list[np.ndarray]] | None:
        """x (T, B, I) and the states (L·D, B, H) when x is batched and x and the states are
        plain float32 NumPy arrays of exactly the shapes the module's checks accept, so
        those checks could only pass (a streaming loop's common case: they cost more than
        onnxruntime's step at small sizes); else None, and the caller runs the checks."""
        m = self._module
        if type(x) is not np.ndarray or x.dtype != np.float32 or x.ndim != 3 \
                or x.shape[2] != m.input_size or 0 in x.shape:
            return None
        x_tbi = x.transpose(1, 0, 2) if m.batch_first else x
        shape = (m.num_layers * m.num_directions, x_tbi.shape[1], m.hidden_size)
        states = []
        for s in given:
            if s is None:
                states.append(np.zeros(shape, dtype=np.float32))
            elif type(s) is not np.ndarray or s.dtype != np.float32 or s.shape != shape:
                return None
            else:
                states.append(s)
        return x_tbi, states

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._module!r}, threads={self.threads})"


class OnnxruntimeLSTM(_Compiled):
    """``compile_onnxruntime(lstm)``: ``output, (h_n, c_n) = fast(x, state=(h0, c0),
    lengths)`` (shapes: the module docstring)."""

    _state_names = ("h0", "c0")

    def __call__(self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None,
                 lengths: Lengths | None = None
                 ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        given = (None, None) if state is None else unpack_state(state, names=("h0", "c0"))
        output, h_n, c_n = self._run(x, given, lengths)
        return output, (h_n, c_n)


class OnnxruntimeGRU(_Compiled):
    """``compile_onnxruntime(gru)``: ``output, h_n = fast(x, state=h0, lengths)``."""

    _state_names, _argument_names = ("h0",), ("state",)

    def __call__(self, x: np.ndarray, state: np.ndarray | None = None,
                 lengths: Lengths | None = None) -> tuple[np.ndarray, np.ndarray]:
        output, h_n = self._run(x, (single_state(state, "h0"),), lengths)
        return output, h_n


class OnnxruntimeRNN(_Compiled):
    """``compile_onnxruntime(rnn)``: ``output, h_n = fast(x, state=h0, lengths)`` (``h0=``:
    the deprecated old name, as ``RNN.forward``'s)."""

    _state_names, _argument_names = ("h0",), ("state",)

    def __call__(self, x: np.ndarray, state: np.ndarray | None = None,
                 lengths: Lengths | None = None, *, h0: Any = NOT_GIVEN
                 ) -> tuple[np.ndarray, np.ndarray]:
        state = renamed_argument("compile_onnxruntime(rnn)", "state", state, "h0", h0)
        output, h_n = self._run(x, (single_state(state, "h0"),), lengths)
        return output, h_n


@overload
def compile_onnxruntime(module: LSTM, *, threads: int | None = None) -> OnnxruntimeLSTM: ...
@overload
def compile_onnxruntime(module: GRU, *, threads: int | None = None) -> OnnxruntimeGRU: ...
@overload
def compile_onnxruntime(module: RNN, *, threads: int | None = None) -> OnnxruntimeRNN: ...


def compile_onnxruntime(module: LSTM | GRU | RNN, *, threads: int | None = None
                        ) -> OnnxruntimeLSTM | OnnxruntimeGRU | OnnxruntimeRNN:
    """``module`` (an ``nplstm.LSTM``, ``GRU`` or ``RNN``) as a callable run by onnxruntime.

    threads  onnxruntime's intra-op threads (an int in [1, 1024]), or None for its default (one per
             physical core)
    returns  ``fast`` with ``fast(x, state, lengths)`` = ``module(x, state, lengths=...)``
             to float32 round-off (a GRU's and an RNN's return ``output, h_n``), computed
             with the weights the module has now (a snapshot: compile again after changing
             them)
    Raises TypeError (not an LSTM/GRU/RNN, float64, a GPU module, bad threads),
    UnsupportedModelError (proj_size > 0, a subclass), ValueError (dropout in training
    mode), ImportError (onnxruntime is not installed: pip install 'nplstm[onnx]').
    """
    _check_compilable(module)
    if threads is not None:
        threads = check_int("threads", threads, minimum=1, maximum=MAX_THREADS)
    if isinstance(module, LSTM):
        return OnnxruntimeLSTM(module, threads)
    if isinstance(module, GRU):
        return OnnxruntimeGRU(module, threads)
    return OnnxruntimeRNN(module, threads)


def _check_finite(name: str, a: np.ndarray, kind: str) -> None:
    """ValueError if ``a`` holds NaN or inf (onnxruntime's kernels clamp before their sigmoid
    and tanh: a NaN comes out finite).  One sum finds them (O(n), no copy); a sum that
    overflows on finite values is told apart by the full test."""
    if not np.isfinite(a.sum()) and not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or inf, which onnxruntime's {kind} does not carry "
                         "through (it returns finite numbers where the module gives NaN); "
                         "call the module itself for non-finite inputs")


def _check_compilable(module: object) -> None:
    """Refuse, naming what to do instead, a module onnxruntime cannot run exactly."""
    if not isinstance(module, (LSTM, GRU, RNN)):
        raise TypeError(f"module must be an nplstm.LSTM, GRU or RNN, got "
                        f"{type(module).__name__}")
    check_exportable(module, "compile_onnxruntime", "; call the module itself")
    if module.dtype != np.float32:
        raise TypeError(
            f"module has dtype {module.dtype.name}, but onnxruntime's LSTM, GRU and RNN run "
            "float32 only; call the module itself, or compile a float32 copy: a module built "
            "with dtype='float32' and load_state_dict({k: v.astype('float32') for k, v in "
            "module.state_dict().items()})")
    if module.device != "cpu":
        raise TypeError(f"module is on {module.device}, but onnxruntime runs it on the CPU: "
                        "compile module.to('cpu')")
    if module.training and module.dropout and module.num_layers > 1:
        raise ValueError(
            f"module is in training mode with dropout = {module.dropout} between its layers, "
            "which an inference graph does not draw; call module.eval() first (or call the "
            "module itself to train)")
