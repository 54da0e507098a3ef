"""``Parameter`` and ``Module``: registration, the tape of recorded forwards, state dicts,
modes and devices, torch's init from a seed."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

from ..backend import (check_device, check_float_array, check_not_masked, device_of,
                       dtype_name, get_array_module, is_array, resolve_dtype, to_device)
from ..checks import check_arrays, shape_str
from ..grad_mode import is_grad_enabled
from .state_dict import StateDictKeyError, key_mismatch_message

__all__ = ["Parameter", "Module", "TapeWarning", "generator", "check_sizes"]


class TapeWarning(UserWarning):
    """A module holds more recorded forwards than any backward pass plausibly needs
    (``Module.tape_warning_limit``): forwards outside ``nplstm.no_grad()`` that no backward
    consumes keep their caches, and memory grows without bound.  (A ``UserWarning``, not a
    ``ResourceWarning``: Python shows those only in development mode.)"""


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
            raise StateDictKeyError(key_mismatch_message(type(self).__name__, list(own),
                                                          list(state_dict), missing,
                                                          unexpected))
        values = {}
        for name, p in own.items():        # everything checked and converted before a copy
            values[name] = self._state_value(name, state_dict[name], p)
        for name, p in own.items():
            p.data[...] = values[name]

    def _state_value(self, name, value, p):
        """``value`` as an array of ``p``'s shape, dtype and device, or a clear error."""
        check_not_masked(f"load_state_dict: {name}", value)
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
                "legitimate tape.)"), stacklevel=4)   # the caller of module(...)

    def _peek(self):
        """The most recent recorded forward, left on the tape: a backward pops it (``_consume``)
        only once it has succeeded, so a refused backward changes nothing."""
        if not self._tape:
            raise RuntimeError(
                f"{type(self).__name__}.backward: no recorded forward to undo (call the module "
                "outside nplstm.no_grad() first; each forward is undone by one backward)")
        return self._tape[-1]

    def _pop(self):
        """Pop and return the most recent recorded forward (``RuntimeError`` when there is
        none), for subclasses that wrap their entries; a backward pass uses ``_peek`` and
        ``_consume`` instead, so that a refused call leaves the tape as it was."""
        entry = self._peek()
        self._tape.pop()
        return entry

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
        """torch's init: every parameter U(−bound, bound), drawn in the module's dtype on the
        host from ``numpy.random.default_rng(seed)`` in registration order, then moved, so a
        seed gives the same weights on every device (``uniform_array``)."""
        rng = generator(seed)
        for name, shape in shapes.items():
            value = uniform_array(rng, bound, shape, self.dtype)
            setattr(self, name, Parameter(to_device(value, self.device)))


def uniform_array(rng: np.random.Generator, bound: float, shape: tuple, dtype) -> np.ndarray:
    """U(−bound, bound) of ``shape`` in ``dtype``, with no array of another dtype on the way
    (so a float32 layer never needs twice its size in float64 to be drawn).

    float64: ``rng.uniform(-bound, bound, shape)``.  float32: ``bound · (2r − 1)`` with
    ``r = rng.random(shape, dtype=float32)`` (24 random bits each), computed in place.
    """
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return rng.uniform(-bound, bound, size=shape)
    value = rng.random(shape, dtype=dtype)
    value *= 2
    value -= 1
    value *= dtype.type(bound)
    return value


def generator(seed) -> np.random.Generator:
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


def check_sizes(**sizes):
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def _as_array(value):
    """A NumPy/CuPy array from a state-dict value (a torch tensor converts through numpy)."""
    if is_array(value):
        return value
    if hasattr(value, "detach"):      # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)
