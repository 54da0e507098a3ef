"""What the recurrent modules share: the cells' parameters and step (``RecurrentCell``);
the stacks' layers × directions of one functional layer, inverted dropout between layers,
the input layouts (batch_first, unbatched) and the tape (``StackedRecurrent``); and ``RNN``.

A stack names its functional layer (``_layer_functions``, e.g. ``functional.gru_forward``
and ``gru_backward``; the two-state LSTM overrides ``_layer_forward`` / ``_layer_backward``)
and its states (``_state_shapes``); this base runs it over every layer and direction,
forward (``_run_layers``) and backward (``_backprop_layers``):

    layer 0 reads x;  layer k > 0 reads dropout(layer k−1's output)   (training only)
    each layer's output joins its directions side by side:   (T, B, D·P)
    state rows k = layer · D + direction, as torch orders them:  (L·D, B, ·)

Every recurrent module takes ``forward(x, state=None, lengths=None)`` and
``backward(doutput, dstate=None, *, record=None)`` (DESIGN.md's contract); ``record`` is
``functional.lstm_backward``'s, per (layer, direction).
"""

from __future__ import annotations

import math
import os
import sys
import types
import warnings
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt

from .. import functional as F
from ..backend import Array, get_array_module, to_device
from ..checks import (add_batch_axis, check_flags, check_not_empty, check_rank, check_real,
                     check_record, check_shape, drop_batch_axis, shape_str)
from ..functional.inputs import single_state
from ..functional.rnn import check_nonlinearity, rnn_backward, rnn_forward
from .module import Module, check_sizes, generator, is_grad_enabled

__all__ = ["RecurrentCell", "StackedRecurrent", "RNN"]


class RecurrentCell(Module):
    """Base of ``LSTMCell`` and ``GRUCell``: torch's arguments, the parameters weight_ih
    (G·H, I), weight_hh (G·H, H), bias_ih, bias_hh (G·H,) with G = ``_gate_rows``, the step
    recorded on the tape."""

    _gate_rows: int

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 dtype: npt.DTypeLike = "float32", device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(dtype=dtype, device=device)
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        check_flags(bias=bias)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        G, H = self._gate_rows * hidden_size, hidden_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (G, input_size), "weight_hh": (G, H)}
        if bias:
            shapes.update(bias_ih=(G,), bias_hh=(G,))
        self._init_uniform(shapes, 1.0 / math.sqrt(H), seed)

    def _step(self, cell_forward: Callable[..., Any], x: Array, state: Any) -> Any:
        """``cell_forward(x, state, weight_ih, weight_hh, bias_ih, bias_hh)``'s result,
        its cache recorded for ``backward``."""
        self._check_input("x", x)
        bias = (self.bias_ih.data, self.bias_hh.data) if self.bias else (None, None)
        out, cache = cell_forward(x, state, self.weight_ih.data, self.weight_hh.data, *bias)
        self._record(cache)
        return out

    def _undo(self, grads: Any) -> Any:
        """A step's backward succeeded (``grads``, from the recorded cache): pop the step and
        add the parameters' gradients into ``.grad``; returns ``grads``."""
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        self._consume({name: getattr(grads, name) for name in names})
        return grads

    def _repr_fields(self) -> tuple[tuple[Any, ...], dict[str, tuple[Any, Any]]]:
        return (self.input_size, self.hidden_size), {"bias": (self.bias, True)}


class StackedRecurrent(Module):
    """Base of ``LSTM``, ``GRU`` and ``RNN``: torch's common arguments, parameters named
    ``weight_ih_l{k}[_reverse]`` …, and the multi-layer, bidirectional, dropout loop.

    ``output_size`` (P: the LSTM's proj_size or H) is what each direction outputs; the
    subclass sets it before calling ``_init_layers``.  ``_WEIGHT_NAMES``: one layer's
    parameters, in the order its functional layer (``_layer_functions``) takes them.
    """

    _WEIGHT_NAMES: tuple[str, ...] = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    _layer_functions: tuple[Callable[..., Any], Callable[..., Any]]   # (forward, backward)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bias: bool,
                 batch_first: bool, dropout: float, bidirectional: bool, *,
                 dtype: npt.DTypeLike, device: str) -> None:
        super().__init__(dtype=dtype, device=device)
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        check_flags(bias=bias, batch_first=batch_first, bidirectional=bidirectional)
        dropout = check_real("dropout", dropout, minimum=0.0)    # TypeError for a non-number
        if dropout >= 1:                                           # 1 would drop every unit
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.output_size = hidden_size

    def _repr_fields(self) -> tuple[tuple[Any, ...], dict[str, tuple[Any, Any]]]:
        return (self.input_size, self.hidden_size), {
            "num_layers": (self.num_layers, 1), "bias": (self.bias, True),
            "batch_first": (self.batch_first, False), "dropout": (self.dropout, 0.0),
            "bidirectional": (self.bidirectional, False)}

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def _init_layers(self, gate_rows: int, seed: Any, projection: bool = False) -> None:
        """Register every layer's parameters in torch's order, U(−1/√H, 1/√H) from ``seed``:
        weight_ih (G·H, layer input), weight_hh (G·H, P), bias_ih, bias_hh (G·H,) and, with
        ``projection``, weight_hr (P, H); G = ``gate_rows`` (LSTM 4, GRU 3, RNN 1)."""
        H, P = self.hidden_size, self.output_size
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else P * self.num_directions
            for suffix in self._suffixes(layer):
                shapes[f"weight_ih{suffix}"] = (gate_rows * H, layer_input)
                shapes[f"weight_hh{suffix}"] = (gate_rows * H, P)
                if self.bias:
                    shapes[f"bias_ih{suffix}"] = (gate_rows * H,)
                    shapes[f"bias_hh{suffix}"] = (gate_rows * H,)
                if projection:
                    shapes[f"weight_hr{suffix}"] = (P, H)
        self._init_uniform(shapes, 1.0 / math.sqrt(H), seed)
        # dropout masks are drawn from this generator (on the host, then moved): reassign it
        # (e.g. numpy.random.default_rng(0)) to make the masks of the next forwards repeat
        self.dropout_generator = generator(seed)

    def _weights_of(self, suffix: str, names: Optional[Sequence[str]] = None) -> list[Any]:
        """The arrays of one layer/direction's parameters ``names`` (default
        ``_WEIGHT_NAMES``), None for absent ones."""
        return [getattr(self, name + suffix).data if name + suffix in self._parameters
                else None for name in (names or self._WEIGHT_NAMES)]

    # -- forward -------------------------------------------------------------------------
    def _time_major(self, x: Array) -> tuple[Array, bool, Any]:
        """Check x; return it as (T, B, I), whether it was unbatched, and its ``xp``."""
        self._check_input("x", x)
        check_rank("x", x, (2, 3), "(B, T, I) or (T, I)" if self.batch_first
                   else "(T, B, I) or (T, I)")
        unbatched = x.ndim == 2
        check_not_empty("x", x, ("T", "I") if unbatched else
                        ("B", "T", "I") if self.batch_first else ("T", "B", "I"))
        x_tbi = add_batch_axis(True, 1, x) if unbatched else \
            (x.transpose(1, 0, 2) if self.batch_first else x)                     # (T, B, I)
        if x_tbi.shape[2] != self.input_size:
            layout = "(T, I)" if unbatched else ("(B, T, I)" if self.batch_first else "(T, B, I)")
            # the feature size sits on another axis: most likely a layout mix-up
            hint = " (are the axes in the wrong order? check batch_first)" \
                if self.input_size in x.shape[:-1] else ""
            raise ValueError(f"x must have shape {layout} with I = input_size = "
                             f"{self.input_size}, got {shape_str(x.shape)}{hint}")
        return x_tbi, unbatched, get_array_module(x)

    def _run_layers(self, x: Array, given: Sequence[Optional[Array]], names: Sequence[str],
                    lengths: Any) -> Any:
        """Every layer and direction; records the pass for ``_backprop_layers``.

        x        as the module's ``forward`` takes it (checked by ``_time_major``)
        given    the initial states, each (L·D, B, ·) or None, named ``names`` in errors
        lengths  as ``forward``'s (an int for an unbatched x)
        returns  (output (T, B, D·P), *the final states) in the caller's layout, from
                 ``_layer_forward(layer_input (T, B, ·), states of row k, weights of row k,
                 lengths=, reverse=, keep_cache=)`` → (output (T, B, P), final states of
                 row k, cache)
        """
        x_tbi, unbatched, xp = self._time_major(x)
        initial = self._initial_states(given, names, x_tbi.shape[1], unbatched, xp)
        if unbatched and isinstance(lengths, (int, np.integer)):
            lengths = [lengths]
        T, B = x_tbi.shape[:2]
        keep_cache = is_grad_enabled()
        dropout = self.dropout if self.training and self.num_layers > 1 else 0.0
        D = self.num_directions
        finals = [xp.empty(s.shape, dtype=self.dtype) for s in initial]
        layer_input, caches, masks = x_tbi, [], []
        for layer in range(self.num_layers):
            mask = None
            if layer and dropout:
                # inverted dropout on the layer's input:
                # y = x ⊙ m / (1 − p),  m ~ Bernoulli(1 − p)
                keep = self.dropout_generator.random(layer_input.shape) >= dropout
                mask = to_device((keep / (1.0 - dropout)).astype(self.dtype), self.device)
                layer_input = layer_input * mask
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + direction
                out, row_finals, cache = self._layer_forward(
                    layer_input, [s[k] for s in initial], self._weights_of(suffix),
                    lengths=lengths, reverse=direction == 1, keep_cache=keep_cache)
                for final, value in zip(finals, row_finals):
                    final[k] = value
                outputs.append(out)
                caches.append(cache)
            masks.append(mask)
            layer_input = outputs[0] if D == 1 else F.join_directions(outputs)   # (T, B, D·P)
        self._record((caches, masks, unbatched, T, B))
        return self._caller_layout(unbatched, layer_input, *finals)

    def _layer_forward(self, x: Array, states: list[Array], weights: list[Any],
                       **options: Any) -> tuple[Array, tuple[Array, ...], Any]:
        """One layer and direction of a one-state module (the LSTM overrides it)."""
        (out, h_n), cache = self._layer_functions[0](x, states[0], *weights, **options)
        return out, (h_n,), cache

    def _layer_backward(self, d_out: Optional[Array], upstream: list[Optional[Array]],
                        cache: Any, norms: Optional[dict[str, Any]]) -> tuple[Any, Any, Any]:
        grads = self._layer_functions[1](d_out, upstream[0], cache, record=norms)
        return grads.x, (grads.h0,), grads

    def _caller_layout(self, unbatched: bool, sequence: Any, *states: Any) -> Any:
        """Results in the caller's layout: no batch axis when unbatched, (B, T, ·) for
        batch_first sequences; returns (sequence, *states)."""
        sequence, *states = drop_batch_axis(unbatched, 1, sequence, *states)
        if self.batch_first and not unbatched:
            sequence = get_array_module(sequence).ascontiguousarray(sequence.transpose(1, 0, 2))
        return (sequence, *states)

    # -- backward ------------------------------------------------------------------------
    def _backprop_layers(self, doutput: Optional[Array], doutput_letters: str,
                         upstream: Any, record: Optional[dict[Any, Any]]) -> Any:
        """Undo the most recent recorded forward, layer by layer, last first.

        doutput       ∂L/∂output as given (checked here against ``doutput_letters``), or None
        upstream      a function returning [(name, array or None)] for the final states
                      (dh_n, …) in the order of ``_state_shapes``, called once a recorded
                      forward is known to exist (its errors come after that one)
        record        None or a dict: record[(layer, direction)] receives the layer's norms
        Each row runs ``_layer_backward(d_out (T, B, P) or None, upstream of row k, cache,
        norms dict or None)`` → (dx (T, B, ·), initial-state gradients of row k, its grads).
        returns       dx and the initial states' gradients (L·D, B, ·) in the caller's
                      layout; the parameters' ``.grad`` updated (all computed first: a refused
                      call changes nothing, ``module.py``)
        """
        check_record(record)
        caches, masks, unbatched, T, B = self._peek()
        xp = get_array_module(caches[0].x)
        D, L, P = self.num_directions, self.num_layers, self.output_size
        d_layer_output = self._batched("doutput", doutput, (T, B, D * P), unbatched,
                                       doutput_letters)
        upstream = [self._batched(name, a, (L * D, B, size), unbatched, letters)
                    for (name, a), (size, letters) in zip(upstream(), self._state_shapes())]
        d_initial = [xp.empty((L * D, B, size), dtype=self.dtype)
                     for size, _ in self._state_shapes()]
        param_grads = {}            # added into .grad once every layer's backward succeeded
        for layer in reversed(range(L)):
            d_layer_input = None
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + direction
                d_out = None if d_layer_output is None else \
                    d_layer_output[..., direction * P:(direction + 1) * P]
                norms = None
                if record is not None:
                    norms = record[(layer, direction)] = {}
                dx, row_initial, grads = self._layer_backward(
                    d_out, [None if u is None else u[k] for u in upstream], caches[k], norms)
                for d, value in zip(d_initial, row_initial):
                    d[k] = value
                param_grads.update({name + suffix: getattr(grads, name)
                                    for name in self._WEIGHT_NAMES
                                    if getattr(grads, name) is not None})
                if d_layer_input is None:
                    d_layer_input = dx                   # ours: the backward made it
                else:
                    d_layer_input += dx
            if masks[layer] is not None:
                d_layer_input *= masks[layer]      # y = x ⊙ mask ⇒ dx = dy ⊙ mask
            d_layer_output = d_layer_input
        self._consume(param_grads)
        return self._caller_layout(unbatched, d_layer_output, *d_initial)

    def _state_shapes(self) -> list[tuple[int, str]]:
        """Each state's last-axis size and shape as messages spell it (the LSTM's: P, H)."""
        return [(self.hidden_size, "(L·D, B, H)")]

    def _batched(self, name: str, a: Optional[Array], shape: tuple[int, ...], unbatched: bool,
                 letters: str) -> Optional[Array]:
        """Check ``a`` against ``shape`` (without the batch axis when unbatched, and with the
        batch_first layout for doutput); return it in (.., B, ..) time-major form or None."""
        if a is None:
            return None
        self._check_input(name, a)
        if unbatched:
            short = shape[:1] + shape[2:]
            check_shape(name, a, short, letters.replace("B, ", ""), "the forward was unbatched")
            return add_batch_axis(True, 1, a)
        if name == "doutput" and self.batch_first:
            check_shape(name, a, (shape[1], shape[0], shape[2]), "(B, T, " + letters[7:],
                        "batch_first: like the forward's output")
            return a.transpose(1, 0, 2)
        check_shape(name, a, shape, letters, f"L = {self.num_layers}, D = {self.num_directions}")
        return a

    def _initial_states(self, given: Sequence[Optional[Array]], names: Sequence[str], B: int,
                        unbatched: bool, xp: Any) -> list[Any]:
        """The initial states in batched (L·D, B, ·) form: zeros where ``given`` (arrays or
        None, in the order of ``_state_shapes``) holds None, else shape-checked as torch's."""
        L, D = self.num_layers, self.num_directions
        return [xp.zeros((L * D, B, size), dtype=self.dtype) if a is None else
                self._batched(name, a, (L * D, B, size), unbatched, letters)
                for a, name, (size, letters) in zip(given, names, self._state_shapes())]


NOT_GIVEN: Any = object()      # a deprecated keyword's default: None is a value it may take
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # nplstm/


def _user_stacklevel() -> int:
    """The ``stacklevel`` that blames a warning raised by this module's caller chain on the
    first frame outside nplstm: the user's line (Python shows a DeprecationWarning only
    there, in ``__main__``), however many of nplstm's frames (``__call__``, …) lie between."""
    frame: Optional[types.FrameType] = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1
    return level


def renamed_argument(where: str, name: str, value: Any, old_name: str, old_value: Any) -> Any:
    """``value``, or ``old_value`` given under the argument's old name: that works for one
    release with a ``DeprecationWarning``; both names at once is a ``TypeError``."""
    if old_value is NOT_GIVEN:
        return value
    if value is not None:
        raise TypeError(f"{where}: got both {name}= and its deprecated old name {old_name}=; "
                        f"pass {name}= only")
    warnings.warn(f"{where}: {old_name}= is deprecated, use {name}= (the name every recurrent "
                  "module uses); the old name goes in the next release",
                  DeprecationWarning, stacklevel=_user_stacklevel())
    return old_value


class RNN(StackedRecurrent):
    """torch.nn.RNN on arrays: ``output, h_n = rnn(x, state, lengths)``; ``rnn.backward(...)``.

        h_t = act(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh),   act = tanh or relu

    Same arguments, defaults, parameter names (``weight_ih_l{k}`` (H, I or D·H),
    ``weight_hh_l{k}`` (H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (H,), ``_reverse`` for the
    second direction) and init U(−1/√H, 1/√H) as torch.  x is (T, B, I), (B, T, I) with
    ``batch_first``, or unbatched (T, I); state h0 (L·D, B, H) (unbatched (L·D, H)) or None;
    output (T, B, D·H).  T, B ≥ 1: empty axes are refused.  dtype and seed as ``LSTM``.
    """

    _layer_functions = (rnn_forward, rnn_backward)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, *,
                 dtype: npt.DTypeLike = "float32", device: str = "cpu",
                 seed: Union[int, np.random.SeedSequence, None] = None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, device=device)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        self._init_layers(1, seed)

    def forward(self, x: Array, state: Optional[Array] = None, lengths: Any = None, *,
                h0: Any = NOT_GIVEN) -> tuple[Array, Array]:
        """Run all layers and directions; records the pass for ``backward``.

        x        (T, B, I), (B, T, I) if batch_first, or unbatched (T, I)
        state    h0: (L·D, B, H) (unbatched: (L·D, H)), or None for zeros
        lengths  (B,) valid lengths in [1, T], or None (see ``LSTM.forward``)
        h0       the old name of ``state`` (deprecated: one release, then removed)
        returns  output (T, B, D·H) (batch_first: (B, T, D·H)), h_n shaped like h0
        """
        h0 = renamed_argument("RNN.forward", "state", state, "h0", h0)
        return self._run_layers(x, (single_state(h0, "h0"),), ("state",), lengths)

    def _layer_forward(self, x: Array, states: list[Array], weights: list[Any],
                       **options: Any) -> tuple[Array, tuple[Array, ...], Any]:
        return super()._layer_forward(x, states, weights, nonlinearity=self.nonlinearity,
                                      **options)

    def backward(self, doutput: Optional[Array], dstate: Optional[Array] = None, *,
                 record: Optional[dict[Any, Any]] = None, dh_n: Any = NOT_GIVEN
                 ) -> tuple[Array, Array]:
        """Undo the most recent recorded forward: returns ``dx, dh0``.

        doutput  shaped like that forward's output (None = zeros); padded steps are ignored
        dstate   dh_n, shaped like h_n, or None (zeros)
        record   None or a dict: record[(layer, direction)] = {"dh": (T,)} (see
                 ``functional.lstm_backward``, which defines it)
        dh_n     the old name of ``dstate`` (deprecated: one release, then removed)
        Adds every parameter's gradient into its ``.grad``; dx is 0 at padded steps.
        """
        dh_n = renamed_argument("RNN.backward", "dstate", dstate, "dh_n", dh_n)
        return self._backprop_layers(
            doutput, "(T, B, D·H)", lambda: [("dstate", single_state(dh_n, "dh_n", "dstate"))],
            record)

    def _repr_fields(self) -> tuple[tuple[Any, ...], dict[str, tuple[Any, Any]]]:
        sizes, options = super()._repr_fields()
        return sizes, {"num_layers": options.pop("num_layers"),
                       "nonlinearity": (self.nonlinearity, "tanh"), **options}
