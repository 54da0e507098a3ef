"""Modules: Parameters (value + grad), a tape of recorded forwards, torch's names and init.

A module's ``forward`` (also ``module(...)``) computes with ``nplstm.functional`` and, unless
inside ``nplstm.no_grad()``, pushes the cache on the module's tape; ``backward`` pops the
most recent one (last in, first out), returns the input gradients and *adds* the parameter
gradients into each ``Parameter.grad`` (``zero_grad()`` clears them), as torch accumulates.

A refused call changes nothing: ``backward`` validates and computes everything before it
pops its entry and adds into ``.grad``; ``load_state_dict`` checks every value before it
copies one.  A tape that keeps growing (forwards that no backward consumes) is announced
once per module with a ``TapeWarning``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np

from . import functional as F
from . import workspace
from .backend import (check_device, check_float_array, device_of, dtype_name,
                      get_array_module, is_array, resolve_dtype, to_device)
from .checks import check_arrays, check_not_empty, check_rank, check_shape, shape_str
from .functional.linear import check_padding_idx
from .grad_mode import is_grad_enabled

__all__ = ["Parameter", "Module", "LSTMCell", "LSTM", "Linear", "Embedding", "TapeWarning",
           "StateDictKeyError"]


class TapeWarning(UserWarning):
    """A module holds more recorded forwards than any backward pass plausibly needs
    (``Module.tape_warning_limit``): forwards outside ``nplstm.no_grad()`` that no backward
    consumes keep their caches, and memory grows without bound.  (A ``UserWarning``, not a
    ``ResourceWarning``: Python shows those only in development mode.)"""


class StateDictKeyError(KeyError):
    """``load_state_dict`` found missing or unexpected keys.  A ``KeyError`` (as before) whose
    message prints as written: ``str(KeyError(...))`` would show its repr, newlines escaped."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class Parameter:
    """A trainable array: ``.data`` (the value) and ``.grad`` (same shape, accumulated).

    data  a float32 or float64 NumPy or CuPy array (anything else is a ``TypeError``)
    """

    __slots__ = ("data", "grad")

    def __init__(self, data):
        check_float_array("data", data)
        self.data = data
        self.grad = get_array_module(data).zeros_like(data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def __repr__(self):
        return f"Parameter(shape={shape_str(self.data.shape)}, dtype={self.data.dtype.name}, " \
               f"device={device_of(self.data)!r})"


class Module:
    """Base class: registers Parameters and sub-Modules assigned as attributes, in order.

    dtype   "float32" (the default; ``None`` means it too, as torch's ``dtype=None``) or
            "float64"; any other dtype is a ``TypeError`` naming ``dtype``
    device  "cpu", "cuda" or a registered backend's name
    """

    # More unconsumed recorded forwards than this and the module warns once (TapeWarning):
    # each forward of an LSTM, Linear or Embedding is undone by one backward, so a training
    # step holds one entry, or a few when a module is applied several times before the
    # backward; 32 is beyond any such use, and an LSTM entry holds a whole sequence's cache
    # (T·B·(7H + I) numbers per layer and direction).  LSTMCell records one entry per time
    # step and sets 1000.  Raise it on an instance for a longer legitimate tape.
    tape_warning_limit = 32

    def __init__(self, *, dtype="float32", device="cpu"):
        check_device(device)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        self._tape = []
        self._tape_warned = False
        self.training = True
        self.dtype = resolve_dtype(dtype)
        self.device = device

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # -- parameters -----------------------------------------------------------------------
    def named_parameters(self, prefix=""):
        """Yield (name, Parameter) in registration order; sub-module names are dotted."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def zero_grad(self):
        """Set every parameter's ``.grad`` to zeros (in place)."""
        for p in self.parameters():
            p.grad.fill(0)

    def state_dict(self) -> dict:
        """``{name: array}`` copies of the parameter values (torch's names, on this device)."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict) -> None:
        """Copy values from ``state_dict`` (torch's state dict as arrays loads unchanged).

        state_dict  a mapping ``{name: array}`` (a dict, torch's OrderedDict); anything else
                    is a ``TypeError``
        Keys must match exactly: missing and unexpected keys are a ``StateDictKeyError`` (a
        ``KeyError``) listing them as torch does, with the fix when a prefix explains them
        (``nplstm.interop.select(state_dict, "encoder.rnn.")`` for a bigger model's dict).
        Shapes must match (the key is named), and values must convert to this module's dtype
        without loss: float32 into a float64 module is fine, float64 into float32 or integers
        are a ``TypeError``.  Arrays may be NumPy, CuPy, torch tensors or anything
        ``numpy.asarray`` accepts.  A refused load changes nothing.
        """
        if not isinstance(state_dict, Mapping):
            hint = " (a list of (name, array) pairs converts with dict(pairs))" \
                if isinstance(state_dict, (list, tuple)) else ""
            raise TypeError(f"load_state_dict: state_dict must be a mapping {{name: array}} "
                            f"such as module.state_dict(), got {type(state_dict).__name__}"
                            f"{hint}")
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if missing or unexpected:
            raise StateDictKeyError(_key_mismatch_message(type(self).__name__, list(own),
                                                          list(state_dict), missing,
                                                          unexpected))
        values = {}
        for name, p in own.items():        # everything checked and converted before a copy
            values[name] = self._state_value(name, state_dict[name], p)
        for name, p in own.items():
            p.data[...] = values[name]

    def _state_value(self, name, value, p):
        """``value`` as an array of ``p``'s shape, dtype and device, or a clear error."""
        try:
            array = _as_array(value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"load_state_dict: {name} must be an array of shape "
                            f"{shape_str(p.shape)}, got {type(value).__name__} ({err})") from None
        if array.dtype.kind != "f":
            what = "None" if value is None else dtype_name(array.dtype)
            raise TypeError(f"load_state_dict: {name} must be a float array (this module's "
                            f"{p.dtype.name} or narrower), got {what}")
        if tuple(array.shape) != tuple(p.shape):
            raise ValueError(f"load_state_dict: {name} must have shape "
                             f"{shape_str(p.shape)}, got {shape_str(array.shape)}")
        if not np.can_cast(array.dtype, p.dtype, "safe"):
            raise TypeError(f"load_state_dict: {name} has dtype {dtype_name(array.dtype)}, "
                            f"which does not convert to this module's {p.dtype.name} "
                            "without loss")
        return to_device(array, self.device).astype(p.dtype)

    # -- modes and devices ----------------------------------------------------------------
    def train(self, mode: bool = True):
        """Training mode (dropout on) for this module and its sub-modules; returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train: mode must be a bool, got {mode!r} ({type(mode).__name__})")
        mode = bool(mode)
        self.training = mode
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, device: str):
        """Move parameters (values and grads) to "cpu" or "cuda"; clears the recorded tape."""
        check_device(device)
        for p in self.parameters():
            p.data = to_device(p.data, device)
            p.grad = to_device(p.grad, device)
        for m in self.modules():
            m.device = device
            m._tape.clear()
        return self

    def modules(self):
        """Yield this module and every sub-module (depth first, in registration order)."""
        yield self
        for m in self._modules.values():
            yield from m.modules()

    # -- the tape -------------------------------------------------------------------------
    def _record(self, entry):
        """Push a forward's cache (outside ``no_grad``); warn once when the tape grows past
        ``tape_warning_limit`` (forwards that no backward consumes)."""
        if not is_grad_enabled():
            return
        self._tape.append(entry)
        if len(self._tape) > self.tape_warning_limit and not self._tape_warned:
            self._tape_warned = True
            name = type(self).__name__
            warnings.warn(TapeWarning(
                f"{name} holds {len(self._tape)} recorded forwards that no backward has "
                f"consumed (more than its tape_warning_limit = {self.tape_warning_limit}); "
                "each keeps its cache in memory until a backward undoes it. Run forwards "
                "that will not be backpropagated (evaluation, sampling) inside "
                f"`with nplstm.no_grad():`, or call {name}.clear_tape() to drop them. "
                "(Warned once per module; raise module.tape_warning_limit for a longer "
                "legitimate tape.)"), stacklevel=3)

    def _peek(self):
        """The most recent recorded forward, left on the tape: a backward pops it (``_consume``)
        only once it has succeeded, so a refused backward changes nothing."""
        if not self._tape:
            raise RuntimeError(
                f"{type(self).__name__}.backward: no recorded forward to undo (call the module "
                "outside nplstm.no_grad() first; each forward is undone by one backward)")
        return self._tape[-1]

    def _consume(self, param_grads: dict):
        """A backward succeeded: pop its forward and add ``{name: gradient}`` into ``.grad``
        (shapes and dtypes are those of the parameters: nothing here can fail half-way)."""
        self._tape.pop()
        for name, g in param_grads.items():
            self._parameters[name].grad += g

    def clear_tape(self):
        """Forget recorded forwards that will not be backpropagated (frees their caches)."""
        self._tape.clear()

    def _check_input(self, name, a):
        """Inputs must be arrays of this module's dtype and device: never a silent cast."""
        check_arrays({name: a}, dtype=self.dtype, required=(name,))
        if device_of(a) != self.device:
            raise TypeError(f"{name} is on {device_of(a)} but {type(self).__name__} is on "
                            f"{self.device}; move one of them (module.to or backend.to_device)")

    def _init_uniform(self, shapes: dict, bound: float, seed):
        """torch's init: every parameter U(−bound, bound), drawn in float64 on the host from
        ``numpy.random.default_rng(seed)`` in registration order, then cast and moved, so a
        seed gives the same weights on every device."""
        rng = _generator(seed)
        for name, shape in shapes.items():
            value = rng.uniform(-bound, bound, size=shape).astype(self.dtype)
            setattr(self, name, Parameter(to_device(value, self.device)))


def _generator(seed) -> np.random.Generator:
    """``numpy.random.default_rng(seed)`` for a module's ``seed=``, which may be None (fresh
    entropy), an int ≥ 0 (NumPy integers too) or a ``numpy.random.SeedSequence`` (tasks.py
    passes the children of ``SeedSequence(seed).spawn(...)``); anything else is refused
    naming ``seed`` (NumPy's own errors do not)."""
    if isinstance(seed, (bool, np.bool_)) or not (
            seed is None or isinstance(seed, (int, np.integer, np.random.SeedSequence))):
        raise TypeError("seed must be None, a non-negative int or a numpy.random.SeedSequence, "
                        f"got {seed!r} ({type(seed).__name__})")
    if isinstance(seed, (int, np.integer)) and seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return np.random.default_rng(seed)


_KEYS_SHOWN = 12      # a key-mismatch message lists at most this many keys of each kind


def _key_list(keys) -> str:
    shown = ", ".join(f'"{k}"' for k in keys[:_KEYS_SHOWN])
    more = len(keys) - _KEYS_SHOWN
    return shown + (f", … ({more} more)" if more > 0 else "")


def _key_mismatch_message(module_name, own, given, missing, unexpected) -> str:
    """torch's wording for missing/unexpected keys, plus the fix when a prefix explains them."""
    lines = [f"Error(s) in loading state_dict for {module_name}:"]
    if missing:
        lines.append(f"\tMissing key(s) in state_dict: {_key_list(missing)}.")
    if unexpected:
        lines.append(f"\tUnexpected key(s) in state_dict: {_key_list(unexpected)}.")
    given = [k for k in given if isinstance(k, str)]
    # the dict's keys are prefix + this module's names: a bigger model's (or wrapper's) dict
    extra = _prefixes(outer=given, inner=own)
    if extra:
        calls = " or ".join(f'nplstm.interop.select(state_dict, "{p}")' for p in extra)
        lines.append(f'\tThe state dict\'s keys carry the prefix "{extra[0]}" that this '
                     f"module's names lack: load {calls} instead.")
    # this module's names are prefix + the dict's keys: the dict is one sub-module's
    inner = _prefixes(outer=own, inner=given)
    if inner:
        p = inner[0]
        lines.append(f'\tThis module\'s names carry the prefix "{p}" that the state dict\'s '
                     f"keys lack (it holds the sub-module {p[:-1]}): load it with "
                     f"module.{p[:-1]}.load_state_dict(state_dict), or add the prefix: "
                     f'{{"{p}" + k: v for k, v in state_dict.items()}}.')
    return "\n".join(lines)


def _prefixes(outer, inner, most=3) -> list:
    """Prefixes p ending in "." with p + k in ``outer`` for every key k of ``inner``."""
    outer_set = set(outer)
    found = {o[:-len(k)] for o in outer for k in inner
             if len(o) > len(k) and o.endswith(k) and o[-len(k) - 1] == "."}
    return sorted(p for p in found if inner and all(p + k in outer_set for k in inner))[:most]


def _as_array(value):
    """A NumPy/CuPy array from a state-dict value (a torch tensor converts through numpy)."""
    if is_array(value):
        return value
    if hasattr(value, "detach"):      # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


class LSTMCell(Module):
    """torch.nn.LSTMCell on arrays: ``h, c = cell(x, state)``; ``cell.backward(dh, dc)``.

    Parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,), initialised
    U(−1/√H, 1/√H) like torch.  x is (B, I) or unbatched (I,); state (h, c) or None (zeros).
    dtype "float32" (also for None) or "float64"; seed None, an int ≥ 0 or a
    ``numpy.random.SeedSequence``.
    """

    tape_warning_limit = 1000     # one entry per time step: BPTT loops of up to 1000 steps

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 dtype="float32", device="cpu", seed=None):
        super().__init__(dtype=dtype, device=device)
        _check_sizes(input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        H, I = hidden_size, input_size
        shapes = {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H)}
        if bias:
            shapes.update(bias_ih=(4 * H,), bias_hh=(4 * H,))
        self._init_uniform(shapes, 1.0 / math.sqrt(H), seed)

    def forward(self, x, state=None):
        """One step; records it for ``backward``. Returns (h, c), each (B, H) or (H,)."""
        self._check_input("x", x)
        bias = (self.bias_ih.data, self.bias_hh.data) if self.bias else (None, None)
        (h, c), cache = F.lstm_cell_forward(x, state, self.weight_ih.data, self.weight_hh.data,
                                            *bias)
        self._record(cache)
        return h, c

    def backward(self, dh, dc=None):
        """Undo the most recent recorded step: returns ``dx, (dh_prev, dc_prev)``.

        dh, dc: ∂L/∂h and ∂L/∂c of that step's outputs (None = zeros).  Adds the parameter
        gradients into ``.grad``.
        """
        grads = F.lstm_cell_backward(dh, dc, self._peek())     # validates dh, dc first
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        self._consume({name: getattr(grads, name) for name in names})
        return grads.x, (grads.h_prev, grads.c_prev)

    def __repr__(self):
        return (f"LSTMCell({self.input_size}, {self.hidden_size}, bias={self.bias}, "
                f"dtype={self.dtype.name}, device={self.device!r})")


class LSTM(Module):
    """torch.nn.LSTM on arrays: ``output, (h_n, c_n) = lstm(x, state, lengths)``.

    Same arguments, defaults, parameter names (``weight_ih_l{k}[_reverse]``, …) and shapes
    as torch.  x is (T, B, I), (B, T, I) with ``batch_first``, or unbatched (T, I); state
    (h0, c0) of shapes (L·D, B, P or H), (L·D, B, H) or None; output (T, B, D·P).
    T, B ≥ 1: empty axes are refused.  dtype "float32" (also for None) or "float64"; seed
    None, an int ≥ 0 or a ``numpy.random.SeedSequence``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *, dtype="float32",
                 device="cpu", seed=None):
        super().__init__(dtype=dtype, device=device)
        _check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(f"proj_size must be a non-negative int, got {proj_size!r}")
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size = {hidden_size}, "
                             f"got {proj_size}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.num_directions = 2 if bidirectional else 1
        H = hidden_size
        P = proj_size or H
        shapes = {}
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else P * self.num_directions
            for suffix in self._suffixes(layer):
                shapes[f"weight_ih{suffix}"] = (4 * H, layer_input)
                shapes[f"weight_hh{suffix}"] = (4 * H, P)
                if bias:
                    shapes[f"bias_ih{suffix}"] = (4 * H,)
                    shapes[f"bias_hh{suffix}"] = (4 * H,)
                if proj_size:
                    shapes[f"weight_hr{suffix}"] = (P, H)
        self._init_uniform(shapes, 1.0 / math.sqrt(H), seed)
        # dropout masks are drawn from this generator (on the host, then moved): reassign it
        # (e.g. numpy.random.default_rng(0)) to make the masks of the next forwards repeat
        self.dropout_generator = _generator(seed)

    def _suffixes(self, layer):
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def _layer_weights(self, suffix):
        """(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr) arrays of one layer/direction."""
        get = lambda name: getattr(self, name + suffix).data  # noqa: E731
        bias = (get("bias_ih"), get("bias_hh")) if self.bias else (None, None)
        return (get("weight_ih"), get("weight_hh"), *bias,
                get("weight_hr") if self.proj_size else None)

    def forward(self, x, state=None, lengths=None):
        """Run all layers and directions; records the pass for ``backward``.

        x        (T, B, I), (B, T, I) if batch_first, or unbatched (T, I)
        state    (h0, c0): (L·D, B, P), (L·D, B, H) (unbatched: no B axis), or None
        lengths  (B,) valid lengths in [1, T], or None (see ``functional.lstm_forward``)
        returns  output (T, B, D·P) (batch_first: (B, T, D·P)), (h_n, c_n) shaped like state
        """
        self._check_input("x", x)
        check_rank("x", x, (2, 3), "(B, T, I) or (T, I)" if self.batch_first
                   else "(T, B, I) or (T, I)")
        unbatched = x.ndim == 2
        check_not_empty("x", x, ("T", "I") if unbatched else
                        ("B", "T", "I") if self.batch_first else ("T", "B", "I"))
        xp = get_array_module(x)
        x_tbi = x[:, None] if unbatched else (x.transpose(1, 0, 2) if self.batch_first else x)
        T, B, I = x_tbi.shape
        if I != self.input_size:
            layout = "(T, I)" if unbatched else ("(B, T, I)" if self.batch_first else "(T, B, I)")
            # the feature size sits on another axis: most likely a layout mix-up
            hint = " (are the axes in the wrong order? check batch_first)" \
                if self.input_size in x.shape[:-1] else ""
            raise ValueError(f"x must have shape {layout} with I = input_size = "
                             f"{self.input_size}, got {shape_str(x.shape)}{hint}")
        h0, c0 = self._check_state(state, B, unbatched, xp)
        if unbatched and lengths is not None:
            lengths = [lengths] if isinstance(lengths, (int, np.integer)) else lengths
        record = is_grad_enabled()
        dropout = self.dropout if self.training and self.num_layers > 1 else 0.0
        P = self.proj_size or self.hidden_size
        D = self.num_directions
        h_n = xp.empty((self.num_layers * D, B, P), dtype=self.dtype)
        c_n = xp.empty((self.num_layers * D, B, self.hidden_size), dtype=self.dtype)
        layer_input, caches, masks = x_tbi, [], []
        for layer in range(self.num_layers):
            mask = None
            if layer and dropout:
                # inverted dropout on the layer's input: y = x ⊙ m / (1 − p), m ~ Bernoulli(1 − p)
                keep = self.dropout_generator.random(layer_input.shape) >= dropout
                mask = to_device((keep / (1.0 - dropout)).astype(self.dtype), self.device)
                layer_input = layer_input * mask
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + direction
                (out, (h_n[k], c_n[k])), cache = F.lstm_forward(
                    layer_input, (h0[k], c0[k]), *self._layer_weights(suffix),
                    lengths=lengths, reverse=direction == 1, keep_cache=record)
                outputs.append(out)
                caches.append(cache)
            masks.append(mask)
            layer_input = outputs[0] if D == 1 else xp.concatenate(
                outputs, axis=-1, out=workspace.empty((T, B, D * P), self.dtype, xp))
        output = layer_input                                              # (T, B, D·P)
        self._record((caches, masks, unbatched, T, B))
        if unbatched:
            return output[:, 0], (h_n[:, 0], c_n[:, 0])
        if self.batch_first:
            output = xp.ascontiguousarray(output.transpose(1, 0, 2))
        return output, (h_n, c_n)

    def backward(self, doutput, dstate=None, *, record=None):
        """Undo the most recent recorded forward: returns ``dx, (dh0, dc0)``.

        doutput  shaped like that forward's output (None = zeros); padded steps are ignored
        dstate   (dh_n, dc_n) shaped like (h_n, c_n), either may be None, or None
        record   None, or a dict that receives the per-step gradient norms of every layer
                 and direction: record[(layer, direction)] = {"dh": (T,), "dc": (T,)}
                 (direction 0 forward, 1 reverse; see ``functional.lstm_backward``)
        Adds every parameter's gradient into its ``.grad``; dx is 0 at padded steps.  All
        gradients are computed before the forward is popped and ``.grad`` changes, so a
        refused call (a wrong shape, say) leaves the module as it was.
        """
        if record is not None and not isinstance(record, dict):
            raise TypeError(f"record must be a dict or None, got {type(record).__name__}")
        caches, masks, unbatched, T, B = self._peek()
        xp = get_array_module(caches[0].x)
        D, L = self.num_directions, self.num_layers
        P = self.proj_size or self.hidden_size
        H = self.hidden_size
        dh_n, dc_n = _upstream_state(dstate)
        doutput = self._batched("doutput", doutput, (T, B, D * P), unbatched, batch_axis=1,
                                letters="(T, B, D·P)")
        dh_n = self._batched("dh_n", dh_n, (L * D, B, P), unbatched, batch_axis=1,
                             letters="(L·D, B, P)" if self.proj_size else "(L·D, B, H)")
        dc_n = self._batched("dc_n", dc_n, (L * D, B, H), unbatched, batch_axis=1,
                             letters="(L·D, B, H)")
        dh0 = xp.empty((L * D, B, P), dtype=self.dtype)
        dc0 = xp.empty((L * D, B, H), dtype=self.dtype)
        param_grads = {}            # added into .grad once every layer's backward succeeded
        d_layer_output = doutput
        for layer in reversed(range(L)):
            d_layer_input = None
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + direction
                d_out = None if d_layer_output is None else \
                    d_layer_output[..., direction * P:(direction + 1) * P]
                norms = None
                if record is not None:
                    norms = record[(layer, direction)] = {}
                grads = F.lstm_backward(d_out, None if dh_n is None else dh_n[k],
                                        None if dc_n is None else dc_n[k], caches[k],
                                        record=norms)
                dh0[k], dc0[k] = grads.h0, grads.c0
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
                    g = getattr(grads, name)
                    if g is not None:
                        param_grads[name + suffix] = g
                if d_layer_input is None:
                    d_layer_input = grads.x              # ours: the backward made it
                else:
                    d_layer_input += grads.x
            if masks[layer] is not None:
                d_layer_input *= masks[layer]      # y = x ⊙ mask ⇒ dx = dy ⊙ mask
            d_layer_output = d_layer_input
        dx = d_layer_output
        self._consume(param_grads)
        if unbatched:
            return dx[:, 0], (dh0[:, 0], dc0[:, 0])
        if self.batch_first:
            dx = xp.ascontiguousarray(dx.transpose(1, 0, 2))
        return dx, (dh0, dc0)

    def _check_state(self, state, B, unbatched, xp):
        """(h0, c0) in batched (L·D, B, ·) form, zeros when None; shapes checked as torch's."""
        D, L = self.num_directions, self.num_layers
        P = self.proj_size or self.hidden_size
        if state is None:
            return (xp.zeros((L * D, B, P), dtype=self.dtype),
                    xp.zeros((L * D, B, self.hidden_size), dtype=self.dtype))
        h0, c0 = F.cell.unpack_state(state, names=("h0", "c0"))
        p_letter = "P" if self.proj_size else "H"
        return (self._batched("h0", h0, (L * D, B, P), unbatched, 1, f"(L·D, B, {p_letter})"),
                self._batched("c0", c0, (L * D, B, self.hidden_size), unbatched, 1,
                              "(L·D, B, H)"))

    def _batched(self, name, a, shape, unbatched, batch_axis, letters):
        """Check ``a`` against ``shape`` (without the batch axis when unbatched, and with the
        batch_first layout for doutput); return it in (.., B, ..) time-major form or None."""
        if a is None:
            return None
        self._check_input(name, a)
        if unbatched:
            short = shape[:batch_axis] + shape[batch_axis + 1:]
            check_shape(name, a, short, letters.replace("B, ", ""), "the forward was unbatched")
            return a[(slice(None),) * batch_axis + (None,)]
        if name == "doutput" and self.batch_first:
            check_shape(name, a, (shape[1], shape[0], shape[2]), "(B, T, D·P)",
                        "batch_first: like the forward's output")
            return a.transpose(1, 0, 2)
        check_shape(name, a, shape, letters, f"L = {self.num_layers}, D = {self.num_directions}")
        return a

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in (
            ("num_layers", self.num_layers), ("bias", self.bias),
            ("batch_first", self.batch_first), ("dropout", self.dropout),
            ("bidirectional", self.bidirectional), ("proj_size", self.proj_size))
            if v != {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                     "bidirectional": False, "proj_size": 0}[k])
        return f"LSTM({self.input_size}, {self.hidden_size}{extra}, dtype={self.dtype.name})"


def _upstream_state(dstate):
    """(dh_n, dc_n) from ``dstate``: None, or a pair whose entries may each be None."""
    if dstate is None:
        return None, None
    if not isinstance(dstate, (tuple, list)) or len(dstate) != 2:
        raise ValueError("dstate must be a pair (dh_n, dc_n), either of which may be None, "
                         f"or None; got {type(dstate).__name__}")
    return tuple(dstate)


def _check_sizes(**sizes):
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


class Linear(Module):
    """torch.nn.Linear on arrays: ``y = linear(x)`` with y = x Wᵀ + b; ``linear.backward(dy)``.

    weight (O, I) and bias (O,) initialised U(−1/√I, 1/√I) as torch's default init.
    x is (..., I) with any leading axes (none of them empty); y is (..., O).  dtype
    "float32" (also for None) or "float64"; seed None, an int ≥ 0 or a SeedSequence.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype="float32", device="cpu", seed=None):
        super().__init__(dtype=dtype, device=device)
        _check_sizes(in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        shapes = {"weight": (out_features, in_features)}
        if bias:
            shapes["bias"] = (out_features,)
        else:
            self.bias = None      # as torch: the attribute exists and is None
        self._init_uniform(shapes, 1.0 / math.sqrt(in_features), seed)

    def forward(self, x):
        """y = x Wᵀ + b: x (..., I) → y (..., O); records the call for ``backward``."""
        self._check_input("x", x)
        y, cache = F.linear_forward(x, self.weight.data,
                                    None if self.bias is None else self.bias.data)
        self._record(cache)
        return y

    def backward(self, dy):
        """Undo the most recent recorded forward: returns dx; adds into weight/bias ``.grad``."""
        grads = F.linear_backward(dy, self._peek())           # validates dy first
        self._consume({"weight": grads.weight} if self.bias is None else
                      {"weight": grads.weight, "bias": grads.bias})
        return grads.x

    def __repr__(self):
        return (f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None}, "
                f"dtype={self.dtype.name})")


class Embedding(Module):
    """torch.nn.Embedding on arrays: ``y = emb(indices)``, y[...] = weight[indices[...]].

    weight (V, E) initialised N(0, 1) as torch (the ``padding_idx`` row zeroed, and it never
    gets a gradient).  indices: an integer array (...) on the module's device; y (..., E).
    ``backward(dy)`` adds into weight.grad and returns None (indices have no gradient).
    padding_idx: None or an int (not a bool) in [−V, V).  dtype "float32" (also for None) or
    "float64"; seed None, an int ≥ 0 or a ``numpy.random.SeedSequence``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, *,
                 dtype="float32", device="cpu", seed=None):
        super().__init__(dtype=dtype, device=device)
        _check_sizes(num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        padding_idx = check_padding_idx(padding_idx, num_embeddings)      # now in [0, V)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        value = _generator(seed).standard_normal((num_embeddings, embedding_dim))
        if padding_idx is not None:
            value[padding_idx] = 0.0
        self.weight = Parameter(to_device(value.astype(self.dtype), self.device))

    def forward(self, indices):
        """y[...] = weight[indices[...]]: indices (...) → y (..., E); records the call."""
        y, cache = F.embedding_forward(indices, self.weight.data, self.padding_idx)
        self._record(cache)
        return y

    def backward(self, dy):
        """Undo the most recent recorded forward: adds into weight.grad; returns None."""
        grads = F.embedding_backward(dy, self._peek())        # validates dy first
        self._consume({"weight": grads.weight})
        return None

    def __repr__(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return (f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad}, "
                f"dtype={self.dtype.name})")
