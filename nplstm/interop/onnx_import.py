"""Read the LSTM nodes of an ONNX model into ``nplstm.LSTM`` modules.

Each LSTM node of the main graph (in graph order) becomes one module with num_layers = 1:

    direction "forward"        nplstm.LSTM
              "bidirectional"  nplstm.LSTM(bidirectional=True)
              "reverse"        nplstm.interop.ReverseLSTM (an nplstm.LSTM that walks each
                               sequence from its end; see reverse_lstm.py)
    W (D, 4H, I), R (D, 4H, H)  →  weight_ih, weight_hh: ONNX's gates i, o, f, c reordered to
                                    torch's i, f, g, o;  direction 1, and the one direction
                                    of a "reverse" node, get the ``_reverse`` names
    B (D, 8H) = [Wb, Rb]        →  bias_ih = Wb, bias_hh = Rb (reordered);  no B: bias=False
    layout = 1                  →  batch_first=True
    dtype                       →  the initializers' (float32 or float64)

What the node takes at run time is the module's call: X is ``x``, ``sequence_lens`` is
``lengths=``, ``initial_h``/``initial_c`` are ``state=(h0, c0)`` in torch's (D, B, H) layout
(ONNX's layout = 1 has them as (B, D, H): transpose them).  Refused with
``UnsupportedModelError`` rather than approximated: peepholes (a nonzero P; an all-zero P is
no peephole), ``clip``, ``input_forget = 1``, activations other than Sigmoid, Tanh, Tanh,
and weights W, R, B, P that are not stored in the file (computed by other nodes or fed as
inputs).  A missing, truncated or corrupt file, or one keeping its weights in external data
files, is a ``WeightFileError`` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import LSTM
from .errors import UnsupportedModelError, WeightFileError
from .onnx_common import ONNX_TO_TORCH, reorder_gates, require_onnx
from .reverse_lstm import ReverseLSTM

__all__ = ["import_onnx"]

_DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
_ACTIVATIONS = ["sigmoid", "tanh", "tanh"]      # f, g, h of the ONNX spec: torch's LSTM


def import_onnx(path: str | os.PathLike[str]) -> list[Any]:
    """One ``nplstm.LSTM`` per LSTM node of the ONNX model at ``path``, in graph order."""
    onnx = require_onnx()
    path = Path(path)
    model = _load_model(onnx, path)
    stored = _stored_tensors(onnx, model.graph)
    lstm_nodes = [n for n in model.graph.node if n.op_type == "LSTM" and n.domain in ("", "ai.onnx")]
    if not lstm_nodes:
        ops = sorted({n.op_type for n in model.graph.node})
        raise WeightFileError(f"{path} holds no LSTM node (its operators: {ops})")
    return [_lstm_from_node(onnx, node, stored, f"{path}: LSTM node {node.name or k!r}")
            for k, node in enumerate(lstm_nodes)]


def _load_model(onnx: Any, path: Path) -> Any:
    """The checked ModelProto, or WeightFileError naming the file."""
    from google.protobuf.message import DecodeError

    if not path.is_file():
        raise WeightFileError(f"no ONNX file at {path}")
    try:
        model = onnx.load_model_from_string(path.read_bytes())
        onnx.checker.check_model(model)
    except (DecodeError, onnx.checker.ValidationError, ValueError, RuntimeError) as err:
        reason = (str(err).strip() or type(err).__name__).splitlines()[0]
        raise WeightFileError(f"{path} is not a readable ONNX model (damaged, truncated or "
                              f"invalid: {reason})") from None
    if not model.graph.node:
        raise WeightFileError(f"{path} is not a readable ONNX model (an empty graph: "
                              "truncated, or not an ONNX file)")
    return model


def _stored_tensors(onnx: Any, graph: Any) -> dict[str, Any]:
    """``{name: array}`` of the tensors stored in the file: initializers, Constant nodes."""
    tensors = list(graph.initializer)
    tensors += [a.t for n in graph.node if n.op_type == "Constant" for a in n.attribute
                if a.name == "value"]
    names = [t.name for t in graph.initializer] + \
            [n.output[0] for n in graph.node if n.op_type == "Constant"
             and any(a.name == "value" for a in n.attribute)]
    stored = {}
    for name, tensor in zip(names, tensors):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise WeightFileError(f"tensor {name!r} is kept in an external data file; "
                                  "nplstm reads only self-contained .onnx files")
        stored[name] = onnx.numpy_helper.to_array(tensor)
    return stored


def _lstm_from_node(onnx: Any, node: Any, stored: dict[str, Any], where: str) -> Any:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    direction = _text(attrs.get("direction", b"forward"))
    if direction not in _DIRECTIONS:
        raise WeightFileError(f"{where}: unknown direction {direction!r}")
    D = _DIRECTIONS[direction]
    if "clip" in attrs:
        raise UnsupportedModelError(f"{where} clips its cell input at ±{attrs['clip']}; "
                                    "torch's LSTM has no clip")
    if attrs.get("input_forget", 0):
        raise UnsupportedModelError(f"{where} couples its input and forget gates "
                                    "(input_forget = 1); torch's LSTM has no such coupling")
    activations = [_text(a).lower() for a in attrs.get("activations", [])]
    if activations and activations != _ACTIVATIONS * D:
        raise UnsupportedModelError(
            f"{where} uses the activations {[_text(a) for a in attrs['activations']]}; "
            f"torch's LSTM is {['Sigmoid', 'Tanh', 'Tanh'] * D}")

    inputs = list(node.input) + [""] * (8 - len(node.input))   # X W R B lens h0 c0 P
    W, R = _stored(inputs[1], "W", stored, where), _stored(inputs[2], "R", stored, where)
    B = _stored(inputs[3], "B", stored, where) if inputs[3] else None
    P = _stored(inputs[7], "P", stored, where) if inputs[7] else None
    if P is not None and np.any(P != 0):
        raise UnsupportedModelError(f"{where} has peephole weights P; torch's LSTM has "
                                    "no peepholes")
    if W.dtype not in (np.float32, np.float64):
        raise UnsupportedModelError(f"{where} stores {W.dtype.name} weights; nplstm "
                                    "computes in float32 or float64")
    H = R.shape[-1] if R.ndim == 3 else -1
    expected = {"W": (D, 4 * H, W.shape[-1] if W.ndim == 3 else -1), "R": (D, 4 * H, H),
                "B": (D, 8 * H)}
    for name, a in (("W", W), ("R", R), ("B", B)):
        if a is not None and (a.shape != expected[name] or a.dtype != W.dtype):
            raise WeightFileError(f"{where}: {name} must be {W.dtype.name} of shape "
                                  f"{expected[name]} for direction {direction!r}, got "
                                  f"{a.dtype.name} {a.shape}")
    if attrs.get("hidden_size", H) != H:
        raise WeightFileError(f"{where}: hidden_size = {attrs['hidden_size']} but R has H = {H}")

    cls = ReverseLSTM if direction == "reverse" else LSTM
    kwargs = dict(bias=B is not None, batch_first=attrs.get("layout", 0) == 1,
                  dtype=W.dtype, seed=0)
    if cls is LSTM:
        kwargs["bidirectional"] = D == 2
    module = cls(W.shape[-1], H, **kwargs)
    state = {}
    for d, suffix in enumerate(module._suffixes(0)):
        state[f"weight_ih{suffix}"] = reorder_gates(W[d], ONNX_TO_TORCH)    # (4H, I)
        state[f"weight_hh{suffix}"] = reorder_gates(R[d], ONNX_TO_TORCH)    # (4H, H)
        if B is not None:
            state[f"bias_ih{suffix}"] = reorder_gates(B[d, :4 * H], ONNX_TO_TORCH)
            state[f"bias_hh{suffix}"] = reorder_gates(B[d, 4 * H:], ONNX_TO_TORCH)
    module.load_state_dict(state)
    return module


def _stored(name: str, role: str, stored: dict[str, Any], where: str) -> np.ndarray[Any, Any]:
    if not name:
        raise WeightFileError(f"{where} has no {role} input")
    if name not in stored:
        raise UnsupportedModelError(
            f"{where}: its {role} ({name!r}) is not stored in the file (computed by other "
            "nodes or fed as a graph input); only stored weights can be imported")
    return stored[name]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
