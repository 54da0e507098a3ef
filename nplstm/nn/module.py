"""``Parameter`` and ``Module``: registration, the tape of recorded forwards, state dicts
(torch's wording for missing/unexpected keys, with the prefix that fixes them), modes and
devices, torch's init from a seed; ``no_grad``, whether modules record at all.

**A refused call leaves the module as it was** (the guarantee every module gives, said here
once): a ``backward`` validates and computes everything before it pops its forward
(``_peek``, then ``_consume``) and adds into ``.grad``, so the corrected retry undoes the
right forward; ``load_state_dict`` checks every value before it copies one.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar, Union

import numpy as np
import numpy.typing as npt

from ..backend import (Array, check_device, check_float_array, check_not_masked, device_of,
                       dtype_name, get_array_module, is_array, resolve_dtype, to_device)
from ..checks import check_arrays, check_bool, check_int, printable_name, shape_str

__all__ = ["no_grad", "is_grad_enabled", "Parameter", "Module", "TapeWarning", "StateDictKeyError", "TAPE_WARNING_LIMIT",
           "generator", "check_sizes"]

_grad_mode = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside a ``no_grad()`` block (of this thread)."""
    return getattr(_grad_mode, "enabled", True)


class no_grad:
    """``with nplstm.no_grad(): ...``: modules called inside record nothing for a backward
    (inference, in the memory of one step).  Nests, and is per-thread."""

    def __enter__(self) -> no_grad:
        self._previous = is_grad_enabled()
        _grad_mode.enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        _grad_mode.enabled = self._previous


_M = TypeVar("_M", bound="Module")       # train, eval and to return the module itself

# More unconsumed recorded forwards than this and any module warns once (TapeWarning): an
# LSTMCell records one entry per time step (a BPTT loop of up to 1000 steps is legitimate),
# the other modules one per forward.  Raise ``module.tape_warning_limit`` on an instance.
TAPE_WARNING_LIMIT = 1000


class TapeWarning(UserWarning):
    """A module holds more recorded forwards than any backward pass plausibly needs
    (``TAPE_WARNING_LIMIT``): forwards outside ``nplstm.no_grad()`` that no backward
    consumes keep their caches, and memory grows without bound.  (A ``UserWarning``, not a
    ``ResourceWarning``: Python shows those only in development mode.)"""


class StateDictKeyError(KeyError):
    """``load_state_dict`` found missing or unexpected keys.  A ``KeyError`` (as before) whose
    message prints as written: ``str(KeyError(...))`` would show its repr, newlines escaped."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Parameter:
    """A trainable array: ``.data`` (the value) and ``.grad`` (same shape, accumulated).

    data  a float32 or float64 NumPy or CuPy array (anything else is a ``TypeError``)
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: Array) -> None:
        check_float_array("data", data)
        self.data = data
        self.grad = get_array_module(data).zeros_like(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={shape_str(self.data.shape)}, dtype={self.data.dtype.name}, " \
               f"device={device_of(self.data)!r})"


class Module:
    """Base class: registers Parameters and sub-Modules assigned as attributes, in order.

    dtype   "float32" (the default; ``None`` means it too, as torch's ``dtype=None``) or
            "float64"; any other dtype is a ``TypeError`` naming ``dtype``
    device  "cpu", "cuda" or a registered backend's name
    """

    tape_warning_limit = TAPE_WARNING_LIMIT
    _parameters: dict[str, Parameter]
    _modules: dict[str, Module]
    forward: Callable[..., Any]              # each module's own, called by module(...)

    if TYPE_CHECKING:                        # Parameters are set by name (torch's names:
        def __getattr__(self, name: str) -> Any: ...   # weight_ih_l0, ...); for type checkers

    def __init__(self, *, dtype: npt.DTypeLike = "float32", device: str = "cpu") -> None:
        check_device(device)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        self._tape: list[Any] = []
        self._tape_warned = False
        self.training = True
        self.dtype = resolve_dtype(dtype)
        self.device = device

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def __repr__(self) -> str:
        """Every module's: ``Name(sizes, options that differ from torch's defaults, dtype=…)``,
        e.g. ``LSTM(3, 4, num_layers=2, dtype=float32)``.  No device, as torch: a repr is
        the model's description (ONNX export writes it), the same on every device; a
        ``Parameter``'s repr and ``module.device`` tell where it lives."""
        sizes, options = self._repr_fields()
        shown = [repr(size) for size in sizes] + [
            f"{name}={value!r}" for name, (value, default) in options.items() if value != default]
        return f"{type(self).__name__}({', '.join(shown + [f'dtype={self.dtype.name}'])})"

    def _repr_fields(self) -> tuple[tuple[Any, ...], dict[str, tuple[Any, Any]]]:
        """(sizes shown by position, {option: (value, torch's default)}) for ``__repr__``."""
        return (), {}

    # -- parameters -----------------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Yield (name, Parameter) in registration order; sub-module names are dotted."""
        for name, p in self._parameters.items():
            yield prefix + name, p
        for name, m in self._modules.items():
            yield from m.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zeros (in place)."""
        for p in self.parameters():
            p.grad.fill(0)

    def state_dict(self) -> dict[str, Array]:
        """``{name: array}`` copies of the parameter values (torch's names, on this device)."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Copy values from ``state_dict`` (torch's state dict as arrays loads unchanged).

        state_dict  a mapping ``{name: array}`` (a dict, torch's OrderedDict); anything else
                    is a ``TypeError``
        Keys must match exactly: missing and unexpected keys are a ``StateDictKeyError`` (a
        ``KeyError``) listing them as torch does, with the fix when a prefix explains them
        (``nplstm.interop.select(state_dict, "encoder.rnn.")`` for a bigger model's dict).
        Shapes must match (the key is named), and values must convert to this module's dtype
        without loss: float32 into a float64 module is fine, float64 into float32 or integers
        are a ``TypeError``.  Arrays may be NumPy, CuPy, torch tensors or anything
        ``numpy.asarray`` accepts.  A refused load changes nothing (module docstring).
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

    def _state_value(self, name: str, value: Any, p: Parameter) -> Array:
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
    def train(self: _M, mode: bool = True) -> _M:
        """Training mode (dropout on) for this module and its sub-modules; returns self."""
        mode = check_bool("train: mode", mode)
        self.training = mode
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self: _M) -> _M:
        return self.train(False)

    def to(self: _M, device: str) -> _M:
        """Move parameters (values and grads) to "cpu" or "cuda"; clears the recorded tape."""
        check_device(device)
        for p in self.parameters():
            p.data = to_device(p.data, device)
            p.grad = to_device(p.grad, device)
        for m in self.modules():
            m.device = device
            m._tape.clear()
        return self

    def modules(self) -> Iterator[Module]:
        """Yield this module and every sub-module (depth first, in registration order)."""
        yield self
        for m in self._modules.values():
            yield from m.modules()

    # -- the tape -------------------------------------------------------------------------
    def _record(self, entry: Any) -> None:
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

    def _peek(self) -> Any:
        """The most recent recorded forward, left on the tape: a backward pops it (``_consume``)
        only once it has succeeded (a refused call changes nothing: module docstring)."""
        if not self._tape:
            raise RuntimeError(
                f"{type(self).__name__}.backward: no recorded forward to undo (call the module "
                "outside nplstm.no_grad() first; each forward is undone by one backward)")
        return self._tape[-1]

    def _consume(self, param_grads: dict[str, Array]) -> None:
        """A backward succeeded: pop its forward and add ``{name: gradient}`` into ``.grad``
        (shapes and dtypes are those of the parameters: nothing here can fail half-way)."""
        self._tape.pop()
        for name, g in param_grads.items():
            self._parameters[name].grad += g

    def clear_tape(self) -> None:
        """Forget recorded forwards that will not be backpropagated (frees their caches)."""
        self._tape.clear()

    def _check_input(self, name: str, a: Any) -> None:
        """Inputs must be arrays of this module's dtype and device: never a silent cast."""
        check_arrays({name: a}, dtype=self.dtype, required=(name,))
        if device_of(a) != self.device:
            raise TypeError(f"{name} is on {device_of(a)} but {type(self).__name__} is on "
                            f"{self.device}; move one of them (module.to or backend.to_device)")

    def _init_uniform(self, shapes: dict[str, tuple[int, ...]], bound: float,
                      seed: Union[int, np.random.SeedSequence, None]) -> None:
        """torch's init: every parameter U(−bound, bound), drawn in the module's dtype on the
        host from ``numpy.random.default_rng(seed)`` in registration order, then moved, so a
        seed gives the same weights on every device (``uniform_array``)."""
        rng = generator(seed)
        for name, shape in shapes.items():
            value = uniform_array(rng, bound, shape, self.dtype)
            setattr(self, name, Parameter(to_device(value, self.device)))


def uniform_array(rng: np.random.Generator, bound: float, shape: tuple[int, ...],
                  dtype: Any) -> np.ndarray:
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


def generator(seed: Union[int, np.random.SeedSequence, None]) -> np.random.Generator:
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


def check_sizes(**sizes: int) -> None:
    """Each size a positive int (``checks.check_int``: ``TypeError`` for a non-int)."""
    for name, value in sizes.items():
        check_int(name, value, minimum=1)


def _as_array(value: Any) -> Any:
    """A NumPy/CuPy array from a state-dict value (a torch tensor converts through numpy)."""
    if is_array(value):
        return value
    if hasattr(value, "detach"):      # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


# -- load_state_dict's key mismatch ---------------------------------------------------------
_KEYS_SHOWN = 12      # a key-mismatch message lists at most this many keys of each kind
_KEY_LIMIT = 500      # and this much of one key (keys may come from a file: escaped, cut)


def _key_list(keys: Sequence[Any]) -> str:
    shown = ", ".join(f'"{printable_name(k, _KEY_LIMIT)}"' for k in keys[:_KEYS_SHOWN])
    more = len(keys) - _KEYS_SHOWN
    return shown + (f", … ({more} more)" if more > 0 else "")


def _key_mismatch_message(module_name: str, own: Sequence[str], given: Sequence[Any],
                          missing: Sequence[str], unexpected: Sequence[Any]) -> str:
    """torch's wording for missing/unexpected keys, plus the fix when a prefix explains them:
    ``nplstm.interop.select(state_dict, "encoder.rnn.")`` for a bigger model's dict,
    ``module.rnn.load_state_dict(state_dict)`` for one sub-module's."""
    lines = [f"Error(s) in loading state_dict for {module_name}:"]
    if missing:
        lines.append(f"\tMissing key(s) in state_dict: {_key_list(missing)}.")
    if unexpected:
        lines.append(f"\tUnexpected key(s) in state_dict: {_key_list(unexpected)}.")
    given = [k for k in given if isinstance(k, str)]
    # the dict's keys are prefix + this module's names: a bigger model's (or wrapper's) dict
    extra = _prefixes(outer=given, inner=own)
    if extra:
        extra = [printable_name(p, _KEY_LIMIT) for p in extra]
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


def _prefixes(outer: Sequence[str], inner: Sequence[str], most: int = 3) -> list[str]:
    """Prefixes p ending in "." with p + k in ``outer`` for every key k of ``inner``."""
    outer_set = set(outer)
    found = {o[:-len(k)] for o in outer for k in inner
             if len(o) > len(k) and o.endswith(k) and o[-len(k) - 1] == "."}
    return sorted(p for p in found if inner and all(p + k in outer_set for k in inner))[:most]
