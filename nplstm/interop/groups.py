"""A state dict's names in groups: the part under a prefix (``select``: ``encoder.rnn.weight_ih_l0``
→ ``weight_ih_l0``), the prefixes, and the nplstm module each group's weights fit
(``describe``, ``infer_lstm_config``, ``infer_gru_config``; docs/interop.md, "Which module fits").

``describe``'s groups are the names sharing everything up to their last dot.  A group's
configuration is read off the shapes (an LSTM's weight_hh_l0 is (4H, P or H), weight_ih_l0
(4H, I), weight_hr_l0 (P, H); a GRU's the same names without weight_hr, with 3H gate rows
for the LSTM's 4H; the layers are counted, ``_reverse`` means bidirectional), then checked
by building that module and comparing every name and shape: a group fits only if it matches
exactly.  The arguments are torch's constructor's (``nplstm.GRU(...)`` is ``torch.nn.GRU(...)``).
"""

# no `from __future__ import annotations`: ModuleFit's fields must be real types, not strings,
# for the API reference (pdoc evaluates a NamedTuple's __new__ annotations outside this module)
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from .. import nn
from ..checks import printable_name, quoted_name
from .reverse_lstm import ReverseGRU, ReverseLSTM

__all__ = ["select", "prefixes", "describe", "ModuleFit", "infer_lstm_config",
           "infer_gru_config"]

_STACK_NAME = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?")
_STACK_DEFAULTS = {"num_layers": 1, "bias": True, "bidirectional": False, "proj_size": 0}
_GATE_ROWS = {"LSTM": 4, "GRU": 3, "LSTMCell": 4, "GRUCell": 3, "ReverseLSTM": 4,
              "ReverseGRU": 3}                    # rows of weight_ih per hidden unit
_MODULES = {"LSTM": nn.LSTM, "GRU": nn.GRU, "LSTMCell": nn.LSTMCell, "GRUCell": nn.GRUCell,
            "Linear": nn.Linear, "Embedding": nn.Embedding, "ReverseLSTM": ReverseLSTM,
            "ReverseGRU": ReverseGRU}
_QUALIFIED = {k: f"nplstm.interop.{k}" for k in ("ReverseLSTM", "ReverseGRU")}  # else nplstm.<kind>
_LISTED = 8                  # names a message lists, at most


def select(state_dict: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{name[len(prefix):]: value}`` for every name of ``state_dict`` starting with
    ``prefix``, in the same order.  A prefix without its final dot gets one when that is
    what the names continue with (``"encoder.rnn"`` means ``"encoder.rnn."``).

    Raises ValueError, listing the prefixes that exist, when no name matches, and when
    ``prefix`` is a whole name (that leaves an empty name).
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got "
                        f"{type(state_dict).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str such as 'encoder.rnn.', got "
                        f"{type(prefix).__name__}")
    names = [name for name in state_dict if isinstance(name, str)]
    if prefix and not prefix.endswith(".") and any(n.startswith(prefix + ".") for n in names):
        prefix += "."
    if prefix in state_dict:
        raise ValueError(f"prefix {prefix!r} is a whole name of the state dict, not the "
                         "prefix of a module's names")
    selected = {name[len(prefix):]: value for name, value in state_dict.items()
                if isinstance(name, str) and name.startswith(prefix)}
    if not selected:
        existing = prefixes(names)
        raise ValueError(f"no name in the state dict starts with {prefix!r}; its prefixes "
                         f"are {existing if existing else 'none (every name is top-level)'}")
    return selected


def prefixes(names: Iterable[str]) -> list[str]:
    """Every dotted prefix of ``names``, sorted: ``["encoder.", "encoder.rnn.", …]``."""
    found: set[str] = set()
    for name in names:
        parts = name.split(".")[:-1]
        found.update(".".join(parts[:k]) + "." for k in range(1, len(parts) + 1))
    return sorted(found)


class ModuleFit(NamedTuple):
    """One group of a state dict and the nplstm module its weights fit (``kind``: "LSTM",
    "GRU", "LSTMCell", "GRUCell", "Linear", "Embedding", "ReverseLSTM" or "ReverseGRU" (an
    ONNX reverse-only node's names, ``*_l0_reverse`` alone); None when none fits)."""

    prefix: str          # "encoder.rnn." ("" for top-level names)
    kind: str | None
    args: tuple[Any, ...]  # the constructor's positional arguments
    kwargs: dict[str, Any]  # its keyword arguments (defaults left out)
    names: tuple[str, ...]  # the group's full names, in the state dict's order

    def build(self, **options: Any) -> nn.Module:
        """A fresh module of this configuration (``options``: dtype, device, seed, …);
        load the weights with ``module.load_state_dict(select(state_dict, fit.prefix))``."""
        if self.kind is None:
            raise ValueError("no nplstm module fits the weights "
                             f"[{', '.join(quoted_name(n) for n in self.names[:4])}]")
        return _MODULES[self.kind](*self.args, **self.kwargs, **options)

    def __str__(self) -> str:
        """One line, names escaped and cut (``printable_name``), at most 8 of them listed."""
        where = printable_name(self.prefix) if self.prefix else "(top level)"
        if self.kind is None:
            listed = ", ".join(printable_name(n) for n in self.names[:_LISTED])
            more = f", … {len(self.names) - _LISTED} more" if len(self.names) > _LISTED else ""
            return f"{where}: no nplstm module fits ({listed}{more})"
        return f"{where}: {_constructor(self.kind, self.args, self.kwargs)}"


def describe(state_dict: Mapping[str, Any]) -> list[ModuleFit]:
    """A ``ModuleFit`` per group of ``state_dict`` (``{name: array}``), in order of first
    appearance."""
    groups: dict[str, Any] = {}
    for name, shape in _shapes(state_dict).items():
        prefix, _, leaf = name.rpartition(".")
        groups.setdefault(prefix + "." if prefix else "", {})[leaf] = shape
    return [ModuleFit(prefix, *_fit(shapes, prefix), tuple(prefix + n for n in shapes))
            for prefix, shapes in groups.items()]


def infer_lstm_config(state_dict: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The keyword arguments of the ``nplstm.LSTM`` whose state dict is ``state_dict``
    (under ``prefix``, e.g. "encoder.rnn."): input_size, hidden_size and those of num_layers,
    bias, bidirectional, proj_size that differ from the defaults, so that
    ``nplstm.LSTM(**infer_lstm_config(sd))`` loads ``sd``.  Raises ValueError when the names
    and shapes are not exactly one LSTM's."""
    return _infer_config(state_dict, prefix, "LSTM")


def infer_gru_config(state_dict: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """As ``infer_lstm_config``, for the ``nplstm.GRU`` (torch.nn.GRU) whose state dict is
    ``state_dict``: input_size, hidden_size and those of num_layers, bias, bidirectional
    that differ from the defaults.  Raises ValueError when the names and shapes are not
    exactly one GRU's."""
    return _infer_config(state_dict, prefix, "GRU")


def _infer_config(state_dict: Mapping[str, Any], prefix: str, kind: str) -> dict[str, Any]:
    shapes = _shapes(select(state_dict, prefix) if prefix else state_dict)
    config = _stack_config(shapes, kind)
    if config is None:
        other = "GRU" if kind == "LSTM" else "LSTM"
        found = _stack_config(shapes, other)
        hint = "" if found is None else (
            f" they are one {_constructor(other, (), found)}'s (torch.nn.{other}: "
            f"its {_GATE_ROWS[other]}H gate rows, not {_GATE_ROWS[kind]}H); use "
            f"infer_{other.lower()}_config, or describe():")
        raise ValueError(f"the weights under {prefix or 'the top level'!r} are not one "
                         f"nplstm.{kind}'s:{hint} {_shape_list(shapes)}")
    return config


def named_entries(state_dict: Any) -> Iterable[tuple[str, Any]]:
    """(name, value) of a state dict, refusing (TypeError) anything but a mapping with str
    names: what every function given a user's state dict reads it through."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got "
                        f"{type(state_dict).__name__}")
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"state_dict's names must be str, got {type(name).__name__} "
                            f"{printable_name(repr(name))}")
        yield name, value


def _shapes(state_dict: Any) -> dict[str, tuple[int, ...]]:
    """{name: shape} of a state dict; anything but a mapping of str names to arrays is a
    TypeError naming the entry (a list or an int key reached an AttributeError)."""
    shapes = {}
    for name, value in named_entries(state_dict):
        if not isinstance(getattr(value, "shape", None), tuple):
            raise TypeError(f"state_dict[{quoted_name(name)}] must be an array, got "
                            f"{type(value).__name__}")
        shapes[name] = tuple(value.shape)
    return shapes


def _fit(shapes: dict[str, Any], prefix: str
         ) -> tuple[str | None, tuple[Any, ...], dict[str, Any]]:
    """(kind, args, kwargs) of the module whose parameters are exactly ``shapes``."""
    for kind in ("LSTM", "GRU"):
        config = _stack_config(shapes, kind)
        if config is not None:
            return kind, (), config
    for found in (*_cell_guess(shapes), *_linear_guess(shapes, prefix),
                  *_cell_guess(shapes, "_l0_reverse", ("ReverseLSTM", "ReverseGRU"))):
        if _matches(found, shapes):
            return found
    return None, (), {}


def _stack_config(shapes: dict[str, Any], kind: str) -> Any:
    """LSTM or GRU (``kind``) keyword arguments read off the shapes, if building them gives
    these shapes."""
    matches = [_STACK_NAME.fullmatch(name) for name in shapes]
    if not all(matches) or not {"weight_ih_l0", "weight_hh_l0"} <= set(shapes):
        return None
    gate_rows, input_size = _pair(shapes["weight_ih_l0"])
    layers = 1 + max(int(m.group(2)) for m in matches if m is not None)
    config = {"input_size": input_size, "hidden_size": gate_rows // _GATE_ROWS[kind],
              "num_layers": layers, "bias": "bias_ih_l0" in shapes,
              "bidirectional": any(name.endswith("_reverse") for name in shapes),
              "proj_size": _pair(shapes["weight_hr_l0"])[0] if "weight_hr_l0" in shapes else 0}
    config = {k: v for k, v in config.items() if _STACK_DEFAULTS.get(k, object()) != v}
    return config if _matches((kind, (), config), shapes) else None


def _cell_guess(shapes: dict[str, Any], suffix: str = "",
                kinds: tuple[str, ...] = ("LSTMCell", "GRUCell")) -> Any:
    """One direction's weights (and biases) alone: an LSTMCell or GRUCell; with ``suffix``
    "_l0_reverse", a ReverseLSTM or ReverseGRU (ONNX's reverse node).  One guess per kind."""
    names = [f"{name}{suffix}" for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    if set(shapes) not in (set(names[:2]), set(names)):
        return []
    gate_rows, input_size = _pair(shapes[names[0]])
    return [(kind, (input_size, gate_rows // _GATE_ROWS[kind]),
             {} if names[2] in shapes else {"bias": False}) for kind in kinds]


def _linear_guess(shapes: dict[str, Any], prefix: str) -> Any:
    """Linear (weight, optional bias); a lone weight under a name with "emb" an Embedding."""
    if set(shapes) not in ({"weight"}, {"weight", "bias"}):
        return []
    rows, columns = _pair(shapes["weight"])
    if "bias" not in shapes and "emb" in prefix.lower():
        return [("Embedding", (rows, columns), {})]
    return [("Linear", (columns, rows), {} if "bias" in shapes else {"bias": False})]


def _matches(found: Any, shapes: dict[str, Any]) -> bool:
    """Whether the module (kind, args, kwargs) has exactly these parameter names and shapes."""
    kind, args, kwargs = found
    try:
        module = _MODULES[kind](*args, **kwargs)
    except (ValueError, TypeError):       # sizes the module refuses (0, proj ≥ hidden, …)
        return False
    return {name: tuple(p.shape) for name, p in module.named_parameters()} == shapes


def _constructor(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``nplstm.GRU(input_size=3, hidden_size=4)``: the call that builds the module (torch's
    constructor's arguments)."""
    arguments = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{_QUALIFIED.get(kind, f'nplstm.{kind}')}({', '.join(arguments)})"


def _pair(shape: Any) -> tuple[Any, ...]:
    """The two sizes of a 2-D shape; (0, 0) for any other shape (which then fits nothing)."""
    return tuple(shape) if len(shape) == 2 else (0, 0)


def _shape_list(shapes: dict[str, Any]) -> str:
    return ", ".join(f"{printable_name(name)} {shape}"
                     for name, shape in list(shapes.items())[:_LISTED])
