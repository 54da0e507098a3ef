"""What each input's axes mean, for the checker's report: the gate blocks of a 4H axis,
the time axis, and the layer and direction parsed from names like ``weight_ih_l1_reverse``."""

from __future__ import annotations

import re

from ..gradcheck import Layout, blocks
from ..kernels import GATE_NAMES
from ..nn import RNN

__all__ = ["cell_layouts", "sequence_layouts", "module_layouts", "parse_parameter_name"]

_PARAMETER = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


def _gate_layout(four_h, **tags) -> Layout:
    """A parameter whose axis 0 stacks the gates [i | f | g | o]."""
    return Layout(axes={0: {"gate": blocks(GATE_NAMES, four_h)}}, tags=tags)


def cell_layouts(H) -> dict:
    """Layouts of ``CELL_NAMES``: the gate blocks of the weights and biases."""
    return {name: _gate_layout(4 * H) for name in ("weight_ih", "weight_hh", "bias_ih",
                                                   "bias_hh")}


def sequence_layouts(T, H, time_axis=0) -> dict:
    """Layouts of ``SEQUENCE_NAMES``: gate blocks, and the time steps of x."""
    layouts = cell_layouts(H)
    layouts["x"] = Layout(axes={time_axis: {"time": list(range(T))}})
    return layouts


def parse_parameter_name(name):
    """(parameter, layer, direction) of a torch LSTM name: weight_ih_l1_reverse →
    ("weight_ih", 1, "reverse"); None for other names."""
    m = _PARAMETER.match(name)
    if m is None:
        return None
    return m.group(1), int(m.group(2)), "reverse" if m.group(3) else "forward"


def module_layouts(module, T) -> dict:
    """Layouts of ``module_pair``'s inputs: gates (an LSTM's), layer and direction of every
    parameter (parsed from its name), the time steps of x, the layer and direction of the
    h0 (and c0) rows.  module: an ``LSTM`` or an ``RNN``."""
    gates = not isinstance(module, RNN)
    layouts = {}
    for name, p in module.named_parameters():
        parsed = parse_parameter_name(name)
        if parsed is None:
            continue
        kind, layer, direction = parsed
        if kind == "weight_hr" or not gates:
            layouts[name] = Layout(tags={"layer": layer, "direction": direction})
        else:
            layouts[name] = _gate_layout(p.data.shape[0], layer=layer, direction=direction)
    D = module.num_directions
    rows = range(module.num_layers * D)
    by_row = {"layer": [k // D for k in rows],
              "direction": ["reverse" if k % D else "forward" for k in rows]}
    for state in ("h0", "c0") if gates else ("h0",):
        layouts[state] = Layout(axes={0: by_row})
    layouts["x"] = Layout(axes={1 if module.batch_first else 0: {"time": list(range(T))}})
    return layouts
