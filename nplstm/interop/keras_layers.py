"""Finding the LSTM and GRU layers of a Keras 3 weights file, with or without its config.

Keras stores a layer's weights at the path of the object that holds it: for a model's layers
``layers/<snake_case class name>`` and ``_1``, ``_2``, … for the next of the same class,
recursively for nested models; an LSTM's or GRU's kernel, recurrent_kernel and bias are
``<layer>/cell/vars/0, 1, 2``; a Bidirectional's two layers are ``<layer>/forward_layer`` and
``<layer>/backward_layer``.  With the config (a ``.keras`` file) each LSTM or GRU of the
config is looked up at its path and its settings are checked; without (a bare
``.weights.h5``) every group holding an LSTM or GRU cell is taken (told apart by the shapes:
(I, 4H), (H, 4H) or (I, 3H), (H, 3H)), named by the ``name`` attribute Keras writes beside it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .file_errors import UnsupportedModelError, WeightFileError
from ..checks import printable_name, quoted_name

__all__ = ["KerasLayer", "layers_from_config", "layers_from_h5"]

_MODELS = ("Sequential", "Functional", "Model")
_GATES = {"LSTM": 4, "GRU": 3}          # the layers read, and their gate blocks


@dataclass
class KerasLayer:
    """One Keras LSTM, GRU or Bidirectional(LSTM or GRU) layer: its weights' h5 groups and
    its links."""

    name: str
    cells: list                        # the h5 ``cell/vars`` groups: [forward] or [fwd, bwd]
    kind: str = "LSTM"                 # or "GRU"
    return_sequences: bool = True
    inbound: list = field(default_factory=list)     # names of the layers feeding it
    consumers: list = field(default_factory=list)   # names of the layers it feeds
    is_output: bool = False
    settings: list = field(default_factory=list)    # per cell (units, use_bias) from the
    #                                                 config; empty for a bare weights file

    def arrays(self, direction):
        """(kernel (I, G·H), recurrent_kernel (H, G·H), bias or None) of one direction: an
        LSTM's (G = 4) bias is (4H,), a GRU's (G = 3) (2, 3H) (reset_after=True: input and
        recurrent bias; Keras's (3H,) of reset_after=False is refused by name)."""
        cell, kind = self.cells[direction], self.kind
        one = "an LSTM" if kind == "LSTM" else "a GRU"
        if len(cell) not in (2, 3) or any(str(k) not in cell for k in range(len(cell))):
            raise WeightFileError(f"Keras layer {quoted_name(self.name)}: its cell holds "
                                  f"{printable_name(list(cell))}, not {one}'s kernel, "
                                  "recurrent_kernel[, bias]")
        datasets = [cell[str(k)] for k in range(len(cell))]
        if not all(hasattr(d, "dtype") and d.dtype.kind == "f" and d.ndim <= 2
                   for d in datasets):
            raise WeightFileError(f"Keras layer {quoted_name(self.name)}: its cell's variables are "
                                  "not float arrays of at most 2 dimensions")
        kernel, recurrent, *bias = (np.asarray(d[()]) for d in datasets)
        bias = bias[0] if bias else None
        H = recurrent.shape[0] if recurrent.ndim == 2 else -1
        G = _GATES[kind]
        bias_shape = (4 * H,) if kind == "LSTM" else (2, 3 * H)
        if kind == "GRU" and bias is not None and bias.shape == (3 * H,):
            raise UnsupportedModelError(_RESET_BEFORE.format(quoted_name(self.name)))
        if kernel.ndim != 2 or kernel.shape[1] != G * H or recurrent.shape != (H, G * H) \
                or (bias is not None and bias.shape != bias_shape) \
                or recurrent.dtype != kernel.dtype \
                or (bias is not None and bias.dtype != kernel.dtype):
            raise WeightFileError(
                f"Keras layer {quoted_name(self.name)}: kernel {kernel.dtype.name} {kernel.shape}, "
                f"recurrent_kernel {recurrent.dtype.name} {recurrent.shape}"
                + ("" if bias is None else f", bias {bias.dtype.name} {bias.shape}")
                + f" are not {one}'s (I, {G}H), (H, {G}H), "
                + ("(4H,)" if kind == "LSTM" else "(2, 3H)") + " of one float dtype")
        if self.settings:
            _check_against_config(self.name, self.settings[direction], H, bias is not None)
        return kernel, recurrent, bias


_RESET_BEFORE = ("Keras layer {} is a GRU with reset_after=False: its reset gate multiplies h "
                 "before the recurrent kernel, where torch's GRU (Keras's default "
                 "reset_after=True) multiplies recurrent_kernel·h + recurrent bias; nplstm "
                 "reads reset_after=True GRUs only")


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
    """(units, use_bias) of an LSTM or GRU layer's config; use_bias defaults to True as in
    Keras."""
    units, use_bias = cfg.get("units"), cfg.get("use_bias", True)
    if isinstance(units, bool) or not isinstance(units, int) or not isinstance(use_bias, bool):
        raise WeightFileError(f"Keras layer {quoted_name(name)}: its config has units="
                              f"{printable_name(units)} and use_bias="
                              f"{printable_name(use_bias)}, not an int and a bool")
    return units, use_bias


def layers_from_config(config, f, group_path="") -> list:
    """The LSTM and GRU layers of a model config (nested models included), in the config's
    order."""
    cfg = config["config"]
    sequential = config["class_name"] == "Sequential"
    layers = [layer for layer in cfg["layers"]
              if not sequential or layer["class_name"] != "InputLayer"]
    names = [layer["config"]["name"] for layer in layers]
    inbound = {name: ([names[k - 1]] if k else []) if sequential else   # a functional layer's:
               _history_names(layer.get("inbound_nodes", []))          # its inbound_nodes
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
        if cls in _GATES:
            kind, sides = cls, [("", layer)]         # (the path under where, its config)
        elif cls == "Bidirectional" and layer["config"]["layer"]["class_name"] in _GATES:
            wrapper = layer["config"]
            kind = wrapper["layer"]["class_name"]
            if wrapper.get("merge_mode", "concat") != "concat":
                raise UnsupportedModelError(
                    f"Keras layer {quoted_name(name)} merges its directions by "
                    f"{quoted_name(wrapper['merge_mode'])}; torch's bidirectional {kind} "
                    "concatenates them")
            sides = [("/forward_layer", wrapper["layer"]),
                     ("/backward_layer", wrapper.get("backward_layer") or wrapper["layer"])]
        else:
            continue
        for k, (_, side) in enumerate(sides):
            if side.get("class_name") != kind:        # a Bidirectional's own backward_layer
                raise UnsupportedModelError(
                    f"Keras layer {quoted_name(name)} pairs a forward {kind} with a "
                    f"backward {quoted_name(str(side.get('class_name')))}; torch's "
                    f"bidirectional {kind} has one kind of layer")
            _check_lstm_config(name, side["config"], inside_bidirectional=k == 1, kind=kind)
        cells = [_group(f, f"{where}{path}/cell/vars", name, kind) for path, _ in sides]
        settings = [_settings(name, side["config"]) for _, side in sides]
        sequences = sides[0][1]["config"]["return_sequences"]
        found.append(KerasLayer(name, cells, kind, sequences, inbound[name],
                                is_output=name in outputs, settings=settings))
    for layer in found:       # who feeds whom, among every layer of this model
        layer.consumers = [n for n in names if layer.name in inbound[n]]
    masking = _masking_layer(config) if found and not group_path else None
    if masking:
        raise UnsupportedModelError(
            f"Keras layer {quoted_name(masking)} masks time steps, and Keras's LSTM and GRU layers "
            "after a mask keep their state through the masked steps, which torch's do not do; "
            "remove the mask (and pass lengths= to nplstm's module for padded batches)")
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


def _group(f, path: str, name: str, kind: str):
    if path not in f:
        raise WeightFileError(f"the config has the {kind} layer {quoted_name(name)} but the "
                              f"weights have no {printable_name(path)}")
    return f[path]


def layers_from_h5(f) -> list:
    """The LSTM and GRU layers of a bare .weights.h5: every group holding an LSTM or GRU cell,
    by path."""
    found = []

    def visit(group, path):
        if "forward_layer" in group and "backward_layer" in group:
            cells = [group[f"{side}/cell/vars"] for side in ("forward_layer", "backward_layer")
                     if f"{side}/cell/vars" in group]
            kinds = {_cell_kind(c) for c in cells}
            if len(cells) == 2 and len(kinds) == 1 and None not in kinds:
                found.append(KerasLayer(_h5_name(group, path), cells, kinds.pop()))
            return
        kind = _cell_kind(group["cell/vars"]) if "cell/vars" in group else None
        if kind is not None:
            found.append(KerasLayer(_h5_name(group, path), [group["cell/vars"]], kind))
            return
        for key, child in group.items():
            if hasattr(child, "items"):
                visit(child, f"{path}/{key}")

    visit(f, "")
    return found


def _cell_kind(cell):
    """"LSTM" for kernel (I, 4H) and recurrent_kernel (H, 4H), "GRU" for (I, 3H), (H, 3H);
    None for anything else (a SimpleRNN's (H, H), …)."""
    if not hasattr(cell, "items") or "0" not in cell or "1" not in cell:
        return None
    kernel, recurrent = getattr(cell["0"], "shape", ()), getattr(cell["1"], "shape", ())
    if len(kernel) != 2 or len(recurrent) != 2 or kernel[1] != recurrent[1]:
        return None
    return next((kind for kind, G in _GATES.items() if recurrent[1] == G * recurrent[0]), None)


def _h5_name(group, path) -> str:
    name = group["vars"].attrs.get("name") if "vars" in group else None
    return name.decode() if isinstance(name, bytes) else (name or path.rsplit("/", 1)[-1])


def _check_lstm_config(name, cfg, inside_bidirectional: bool, kind: str = "LSTM"):
    """Refuse the settings of an LSTM or GRU (``kind``) layer torch's module cannot compute."""
    for key, allowed in (("activation", "tanh"), ("recurrent_activation", "sigmoid")):
        given = _activation_name(cfg.get(key, allowed))
        if given != allowed:
            raise UnsupportedModelError(
                f"Keras layer {quoted_name(name)} uses {key}={quoted_name(given)}; torch's {kind} "
                f"computes with {allowed} there")
    if cfg.get("go_backwards", False) and not inside_bidirectional:
        raise UnsupportedModelError(
            f"Keras layer {quoted_name(name)} has go_backwards=True: it returns its outputs in "
            f"reversed time order, which no torch {kind} does (a Bidirectional wrapper maps to "
            "_reverse)")
    if kind == "GRU" and cfg.get("reset_after", True) is not True:
        if cfg.get("reset_after") is False:
            raise UnsupportedModelError(_RESET_BEFORE.format(quoted_name(name)))
        raise WeightFileError(f"Keras layer {quoted_name(name)}: its config has reset_after="
                              f"{printable_name(repr(cfg.get('reset_after')))}, not True or "
                              "False")


def _activation_name(value) -> str:
    """"tanh", or a serialized activation {"class_name": …, "config": "tanh"}."""
    if isinstance(value, dict):
        value = value.get("config") if isinstance(value.get("config"), str) else \
            value.get("class_name")
    return str(value).lower()


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
