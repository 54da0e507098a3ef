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

from .file_errors import UnsupportedModelError, WeightFileError
from ..checks import printable_name, quoted_name

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
    settings: list = field(default_factory=list)    # per cell (units, use_bias) from the
    #                                                 config; empty for a bare weights file

    def arrays(self, direction):
        """(kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,) or None) of one direction."""
        cell = self.cells[direction]
        if len(cell) not in (2, 3) or any(str(k) not in cell for k in range(len(cell))):
            raise WeightFileError(f"Keras layer {quoted_name(self.name)}: its cell holds "
                                  f"{printable_name(list(cell))}, not an LSTM's kernel, "
                                  "recurrent_kernel[, bias]")
        datasets = [cell[str(k)] for k in range(len(cell))]
        if not all(hasattr(d, "dtype") and d.dtype.kind == "f" and d.ndim <= 2
                   for d in datasets):
            raise WeightFileError(f"Keras layer {quoted_name(self.name)}: its cell's variables are "
                                  "not float arrays of at most 2 dimensions")
        kernel, recurrent, *bias = (np.asarray(d[()]) for d in datasets)
        bias = bias[0] if bias else None
        H = recurrent.shape[0] if recurrent.ndim == 2 else -1
        if kernel.ndim != 2 or kernel.shape[1] != 4 * H or recurrent.shape != (H, 4 * H) \
                or (bias is not None and bias.shape != (4 * H,)) \
                or recurrent.dtype != kernel.dtype \
                or (bias is not None and bias.dtype != kernel.dtype):
            raise WeightFileError(
                f"Keras layer {quoted_name(self.name)}: kernel {kernel.dtype.name} {kernel.shape}, "
                f"recurrent_kernel {recurrent.dtype.name} {recurrent.shape}"
                + ("" if bias is None else f", bias {bias.dtype.name} {bias.shape}")
                + " are not an LSTM's (I, 4H), (H, 4H), (4H,) of one float dtype")
        if self.settings:
            _check_against_config(self.name, self.settings[direction], H, bias is not None)
        return kernel, recurrent, bias


def _check_against_config(name, settings, H: int, has_bias: bool) -> None:
    """The config's units and use_bias must be what the weights are."""
    units, use_bias = settings
    if units != H:
        raise WeightFileError(f"Keras layer {quoted_name(name)}: the config says units="
                              f"{printable_name(units)} but its weights have {H} units")
    if use_bias != has_bias:
        raise WeightFileError(
            f"Keras layer {quoted_name(name)}: the config says use_bias={use_bias} but its "
            f"weights {'have no' if use_bias else 'have a'} bias (cell/vars/2)")


def _settings(name, cfg) -> tuple:
    """(units, use_bias) of an LSTM layer's config; use_bias defaults to True as in Keras."""
    units, use_bias = cfg.get("units"), cfg.get("use_bias", True)
    if isinstance(units, bool) or not isinstance(units, int) or not isinstance(use_bias, bool):
        raise WeightFileError(f"Keras layer {quoted_name(name)}: its config has units="
                              f"{printable_name(units)} and use_bias="
                              f"{printable_name(use_bias)}, not an int and a bool")
    return units, use_bias


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
            settings = [_settings(name, layer["config"])]
            sequences = layer["config"]["return_sequences"]
        elif cls == "Bidirectional" and layer["config"]["layer"]["class_name"] == "LSTM":
            wrapper = layer["config"]
            if wrapper.get("merge_mode", "concat") != "concat":
                raise UnsupportedModelError(
                    f"Keras layer {quoted_name(name)} merges its directions by "
                    f"{quoted_name(wrapper['merge_mode'])}; torch's bidirectional LSTM "
                    "concatenates them")
            _check_lstm_config(name, wrapper["layer"]["config"], inside_bidirectional=False)
            backward = wrapper.get("backward_layer") or wrapper["layer"]
            if wrapper.get("backward_layer"):
                _check_lstm_config(name, backward["config"], inside_bidirectional=True)
            cells = [_group(f, f"{where}/{side}_layer/cell/vars", name)
                     for side in ("forward", "backward")]
            settings = [_settings(name, wrapper["layer"]["config"]),
                        _settings(name, backward["config"])]
            sequences = wrapper["layer"]["config"]["return_sequences"]
        else:
            continue
        found.append(KerasLayer(name, cells, sequences, inbound[name], is_output=name in outputs,
                                settings=settings))
    for layer in found:       # who feeds whom, among every layer of this model
        layer.consumers = [n for n in names if layer.name in inbound[n]]
    masking = _masking_layer(config) if found and not group_path else None
    if masking:
        raise UnsupportedModelError(
            f"Keras layer {quoted_name(masking)} masks time steps, and Keras's LSTM layers after a "
            "mask keep their state through the masked steps, which torch's LSTM does not do; "
            "remove the mask (and pass lengths= to nplstm's LSTM for padded batches)")
    return found


def _masking_layer(config):
    """The name of the first layer of ``config`` (nested models included) that makes a mask:
    a Masking layer, or a layer with mask_zero=True (an Embedding); None if there is none."""
    for layer in config["config"]["layers"]:
        cfg = layer.get("config", {})
        if layer["class_name"] == "Masking" or (isinstance(cfg, dict) and cfg.get("mask_zero")):
            return cfg.get("name", layer["class_name"])
        if layer["class_name"] in _MODELS:
            found = _masking_layer(layer)
            if found:
                return found
    return None


def _group(f, path: str, name: str):
    if path not in f:
        raise WeightFileError(f"the config has the LSTM layer {quoted_name(name)} but the weights "
                              f"have no {printable_name(path)}")
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
                f"Keras layer {quoted_name(name)} uses {key}={quoted_name(given)}; torch's LSTM "
                f"computes with {allowed} there")
    if cfg.get("go_backwards", False) and not inside_bidirectional:
        raise UnsupportedModelError(
            f"Keras layer {quoted_name(name)} has go_backwards=True: it returns its outputs in "
            "reversed time order, which no torch LSTM does (a Bidirectional wrapper maps to "
            "_reverse)")


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
