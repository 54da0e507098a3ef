"""Finding the LSTM layers of a Keras 3 weights file, with or without its model config.

Keras stores a layer's weights at the path of the object that holds it: for a model's layers
``layers/<snake_case class name>`` and ``_1``, ``_2``, … for the next of the same class,
recursively for nested models; an LSTM's kernel, recurrent_kernel and bias are
``<layer>/cell/vars/0, 1, 2``; a Bidirectional's two LSTMs are ``<layer>/forward_layer`` and
``<layer>/backward_layer``.  With the config (a ``.keras`` file) each LSTM of the config is
looked up at its path and its settings are checked; without (a bare ``.weights.h5``) every
group holding an LSTM cell is taken, named by the ``name`` attribute Keras writes beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .errors import UnsupportedModelError, WeightFileError

__all__ = ["KerasLayer", "layers_from_config", "layers_from_h5"]

_MODELS = ("Sequential", "Functional", "Model")


@dataclass
class KerasLayer:
    """One Keras LSTM or Bidirectional(LSTM) layer: its weights' h5 groups and its links."""

    name: str
    cells: list                        # the h5 ``cell/vars`` groups: [forward] or [fwd, bwd]
    return_sequences: bool = True
    inbound: list = field(default_factory=list)     # names of the layers feeding it
    consumers: list = field(default_factory=list)   # names of the layers it feeds
    is_output: bool = False

    def arrays(self, direction):
        """(kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or None) of one direction."""
        cell = self.cells[direction]
        if len(cell) not in (2, 3) or any(str(k) not in cell for k in range(len(cell))):
            raise WeightFileError(f"Keras layer {self.name!r}: its cell holds {list(cell)}, "
                                  "not an LSTM's kernel, recurrent_kernel[, bias]")
        kernel, recurrent, *bias = (np.asarray(cell[str(k)][()]) for k in range(len(cell)))
        bias = bias[0] if bias else None
        H = recurrent.shape[0] if recurrent.ndim == 2 else -1
        if kernel.ndim != 2 or kernel.shape[1] != 4 * H or recurrent.shape != (H, 4 * H) \
                or (bias is not None and bias.shape != (4 * H,)) \
                or kernel.dtype.kind != "f" or recurrent.dtype != kernel.dtype \
                or (bias is not None and bias.dtype != kernel.dtype):
            raise WeightFileError(
                f"Keras layer {self.name!r}: kernel {kernel.dtype.name} {kernel.shape}, "
                f"recurrent_kernel {recurrent.dtype.name} {recurrent.shape}"
                + ("" if bias is None else f", bias {bias.dtype.name} {bias.shape}")
                + " are not an LSTM's (I, 4H), (H, 4H), (4H,) of one float dtype")
        return kernel, recurrent, bias


def layers_from_config(config, f, group_path="") -> list:
    """The LSTM layers of a model config (nested models included), in the config's order."""
    cfg = config["config"]
    layers = [layer for layer in cfg["layers"] if config["class_name"] != "Sequential"
              or layer["class_name"] != "InputLayer"]
    sequential = config["class_name"] == "Sequential"
    names = [layer["config"]["name"] for layer in layers]
    inbound = {name: ([names[k - 1]] if k else []) if sequential else _inbound(layer)
               for k, (name, layer) in enumerate(zip(names, layers))}
    outputs = {names[-1]} if sequential else set(_history_names(cfg.get("output_layers", [])))
    counters, found = {}, []
    for name, layer in zip(names, layers):
        cls = layer["class_name"]
        snake = _snake_case(cls)
        key = snake if snake not in counters else f"{snake}_{counters[snake] + 1}"
        counters[snake] = counters.get(snake, -1) + 1
        where = f"{group_path}layers/{key}"
        if cls in _MODELS:
            found += layers_from_config(layer, f, where + "/")
            continue
        if cls == "LSTM":
            _check_lstm_config(name, layer["config"], inside_bidirectional=False)
            cells = [_group(f, f"{where}/cell/vars", name)]
            sequences = layer["config"]["return_sequences"]
        elif cls == "Bidirectional" and layer["config"]["layer"]["class_name"] == "LSTM":
            wrapper = layer["config"]
            if wrapper.get("merge_mode", "concat") != "concat":
                raise UnsupportedModelError(
                    f"Keras layer {name!r} merges its directions by {wrapper['merge_mode']!r}; "
                    "torch's bidirectional LSTM concatenates them")
            _check_lstm_config(name, wrapper["layer"]["config"], inside_bidirectional=False)
            if wrapper.get("backward_layer"):
                _check_lstm_config(name, wrapper["backward_layer"]["config"],
                                   inside_bidirectional=True)
            cells = [_group(f, f"{where}/{side}_layer/cell/vars", name)
                     for side in ("forward", "backward")]
            sequences = wrapper["layer"]["config"]["return_sequences"]
        else:
            continue
        found.append(KerasLayer(name, cells, sequences, inbound[name], is_output=name in outputs))
    for layer in found:       # who feeds whom, among every layer of this model
        layer.consumers = [n for n in names if layer.name in inbound[n]]
    return found


def _group(f, path: str, name: str):
    if path not in f:
        raise WeightFileError(f"the config has the LSTM layer {name!r} but the weights have "
                              f"no {path}")
    return f[path]


def layers_from_h5(f) -> list:
    """The LSTM layers of a bare .weights.h5: every group holding an LSTM cell, by path."""
    found = []

    def visit(group, path):
        if "forward_layer" in group and "backward_layer" in group:
            cells = [group[f"{side}/cell/vars"] for side in ("forward_layer", "backward_layer")
                     if f"{side}/cell/vars" in group]
            if len(cells) == 2 and all(_looks_like_lstm(c) for c in cells):
                found.append(KerasLayer(_h5_name(group, path), cells))
            return
        if "cell/vars" in group and _looks_like_lstm(group["cell/vars"]):
            found.append(KerasLayer(_h5_name(group, path), [group["cell/vars"]]))
            return
        for key, child in group.items():
            if hasattr(child, "items"):
                visit(child, f"{path}/{key}")

    visit(f, "")
    return found


def _looks_like_lstm(cell) -> bool:
    """kernel (I, 4H) and recurrent_kernel (H, 4H): a GRU's (H, 3H) or a SimpleRNN's is not."""
    if "0" not in cell or "1" not in cell:
        return False
    kernel, recurrent = cell["0"].shape, cell["1"].shape
    return len(kernel) == 2 and len(recurrent) == 2 and recurrent[1] == 4 * recurrent[0] \
        and kernel[1] == recurrent[1]


def _h5_name(group, path) -> str:
    name = group["vars"].attrs.get("name") if "vars" in group else None
    return name.decode() if isinstance(name, bytes) else (name or path.rsplit("/", 1)[-1])


def _check_lstm_config(name, cfg, inside_bidirectional: bool):
    for key, allowed in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        given = _activation_name(cfg.get(key, allowed))
        if given != allowed:
            raise UnsupportedModelError(
                f"Keras layer {name!r} uses {key}={given!r}; torch's LSTM computes with "
                f"{allowed} there")
    if cfg.get("go_backwards", False) and not inside_bidirectional:
        raise UnsupportedModelError(
            f"Keras layer {name!r} has go_backwards=True: it returns its outputs in reversed "
            "time order, which no torch LSTM does (a Bidirectional wrapper maps to _reverse)")


def _activation_name(value) -> str:
    """"tanh", or a serialized activation {"class_name": …, "config": "tanh"}."""
    if isinstance(value, dict):
        value = value.get("config") if isinstance(value.get("config"), str) else \
            value.get("class_name")
    return str(value).lower()


def _inbound(layer_config) -> list:
    """Names of the layers whose outputs a functional model's layer takes."""
    return _history_names(layer_config.get("inbound_nodes", []))


def _history_names(node) -> list:
    """Every ``keras_history`` layer name inside a functional config fragment, in order."""
    if isinstance(node, dict):
        if "keras_history" in node:
            return [node["keras_history"][0]]
        return [n for value in node.values() for n in _history_names(value)]
    if isinstance(node, list):
        if len(node) == 3 and isinstance(node[0], str) and isinstance(node[1], int):
            return [node[0]]                             # an output_layers entry [name, 0, 0]
        return [n for value in node for n in _history_names(value)]
    return []


def _snake_case(name: str) -> str:
    """Keras's path name of a class (keras.src.utils.naming.to_snake_case)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
