"""Write an ``nplstm.LSTM`` as a standard ONNX graph of LSTM nodes (one per layer).

The graph (letters: T time, B batch, I input size, H hidden size, L layers, D directions):

    inputs   input  (T, B, I), or (B, T, I) with batch_first; T and B are symbolic
                    (dim_params "seq_len" and "batch"), so one file serves every T and B
             h0, c0 (L·D, B, H): optional.  Each is a graph input that is also an initializer
                    of zeros (L·D, 1, H): ONNX's rule for a default value.  Feed it to start
                    from a state, leave it out to start from zeros (onnxruntime lists such
                    inputs under ``get_overridable_initializers()``)
    outputs  output (T, B, D·H) (batch_first: (B, T, D·H)),  h_n, c_n (L·D, B, H)
             the same names, shapes and meaning as ``output, (h_n, c_n) = lstm(x, state)``

Per layer l: one LSTM node (direction "forward" or "bidirectional"; torch's gate order
i, f, g, o reordered to ONNX's i, o, f, c; B = [bias_ih, bias_hh] per direction), its
initial state rows l·D .. l·D+D−1 of h0/c0, and its Y (T, D, B, H) turned into the next
layer's input (T, B, D·H) by Transpose(0, 2, 1, 3) and Reshape(0, 0, −1).  batch_first is
done with Transposes around the graph (onnxruntime does not implement the LSTM ``layout=1``
attribute).  The model is in the LSTM's dtype (float32 or float64; onnxruntime's CPU LSTM
runs float32) and exports inference: dropout between layers is not part of it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..backend import asnumpy
from ..io import atomic_write
from ..nn import LSTM
from .errors import UnsupportedModelError
from .onnx_common import TORCH_TO_ONNX, reorder_gates, require_onnx

__all__ = ["export_onnx", "DEFAULT_OPSET", "MIN_OPSET"]

DEFAULT_OPSET = 17
MIN_OPSET = 14       # LSTM-14 (layout), Reshape-14; Split takes its sizes as an input (≥ 13)


def export_onnx(lstm: Any, path: str | os.PathLike[str], *, batch_first: bool | None = None,
                opset: int = DEFAULT_OPSET) -> None:
    """Write ``lstm`` to ``path`` as an ONNX model (see the module docstring for the graph).

    lstm         an ``nplstm.LSTM`` without a projection (``proj_size > 0`` has no ONNX
                 LSTM equivalent: ``UnsupportedModelError``)
    batch_first  the layout of the graph's input and output; None takes ``lstm.batch_first``
    opset        the ONNX opset, from 14 to the installed onnx's newest
    The file is written atomically and checked with ``onnx.checker`` before it is written.
    """
    onnx = require_onnx()
    if not isinstance(lstm, LSTM):
        raise TypeError(f"lstm must be an nplstm.LSTM, got {type(lstm).__name__}")
    if type(lstm) is not LSTM:     # a subclass (e.g. ReverseLSTM) computes something else
        raise UnsupportedModelError(f"export_onnx writes nplstm.LSTM, not the subclass "
                                    f"{type(lstm).__name__}")
    if lstm.proj_size:
        raise UnsupportedModelError(
            f"lstm has proj_size = {lstm.proj_size}: ONNX's LSTM node has no projection "
            "(weight_hr), so this LSTM cannot be exported exactly")
    if batch_first is None:
        batch_first = lstm.batch_first
    if not isinstance(batch_first, bool):
        raise TypeError(f"batch_first must be a bool or None, got {batch_first!r}")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an int in [{MIN_OPSET}, {newest}], got {opset!r}")

    model = _build_model(onnx, lstm, batch_first, opset)
    onnx.checker.check_model(model)
    atomic_write(path, lambda f: f.write(model.SerializeToString()))


def _build_model(onnx, lstm, batch_first: bool, opset: int):
    """The ModelProto of ``lstm`` (all arrays copied to the host)."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    elem = helper.np_dtype_to_tensor_dtype(lstm.dtype)
    L, D, H = lstm.num_layers, lstm.num_directions, lstm.hidden_size
    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op, inputs, outputs, **attrs):
        nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    x_dims = ["batch", "seq_len", lstm.input_size] if batch_first else \
             ["seq_len", "batch", lstm.input_size]
    y_dims = ["batch", "seq_len", D * H] if batch_first else ["seq_len", "batch", D * H]
    state_dims = [L * D, "batch", H]
    inputs = [helper.make_tensor_value_info("input", elem, x_dims),
              helper.make_tensor_value_info("h0", elem, state_dims),
              helper.make_tensor_value_info("c0", elem, state_dims)]
    outputs = [helper.make_tensor_value_info("output", elem, y_dims),
               helper.make_tensor_value_info("h_n", elem, state_dims),
               helper.make_tensor_value_info("c_n", elem, state_dims)]
    # h0, c0 default to zeros (L·D, 1, H), broadcast to (L·D, B, H) by Expand
    zeros = np.zeros((L * D, 1, H), dtype=lstm.dtype)
    const("h0", zeros)
    const("c0", zeros)

    x = node("Transpose", ["input"], ["input_tbi"], perm=[1, 0, 2]) if batch_first else "input"
    batch = node("Gather", [node("Shape", [x], ["input_shape"]), const("axis_1", np.array([1]))],
                 ["batch_size"])                                                # (1,) int64
    state_shape = node("Concat", [const("state_rows", np.array([L * D])), batch,
                                  const("state_width", np.array([H]))], ["state_shape"], axis=0)
    h0 = node("Expand", ["h0", state_shape], ["h0_expanded"])                     # (L·D, B, H)
    c0 = node("Expand", ["c0", state_shape], ["c0_expanded"])
    if L > 1:   # rows l·D .. l·D+D−1 belong to layer l
        rows = const("rows_per_layer", np.full(L, D, dtype=np.int64))
        h0s = node("Split", [h0, rows], [f"h0_l{k}" for k in range(L)], axis=0)
        c0s = node("Split", [c0, rows], [f"c0_l{k}" for k in range(L)], axis=0)
    else:
        h0s, c0s = [h0], [c0]
    to_rows = const("merge_directions", np.array([0, 0, -1]))
    h_n, c_n = [], []
    for layer in range(L):
        W, R, B = _onnx_weights(lstm, layer)
        lstm_inputs = [x, const(f"W_l{layer}", W), const(f"R_l{layer}", R),
                       const(f"B_l{layer}", B) if B is not None else "", "",
                       h0s[layer], c0s[layer]]
        y, y_h, y_c = node("LSTM", lstm_inputs, [f"Y_l{layer}", f"Y_h_l{layer}", f"Y_c_l{layer}"],
                           hidden_size=H,
                           direction="bidirectional" if D == 2 else "forward")
        # Y (T, D, B, H) → (T, B, D, H) → (T, B, D·H): torch's [forward | reverse] features
        y = node("Transpose", [y], [f"Y_tbdh_l{layer}"], perm=[0, 2, 1, 3])
        last = layer == L - 1 and not batch_first
        x = node("Reshape", [y, to_rows], ["output" if last else f"output_l{layer}"])
        h_n.append(y_h)
        c_n.append(y_c)
    if batch_first:
        node("Transpose", [x], ["output"], perm=[1, 0, 2])
    node("Concat", h_n, ["h_n"], axis=0)             # (L·D, B, H), layer-major as torch
    node("Concat", c_n, ["c_n"], axis=0)

    graph = helper.make_graph(nodes, "nplstm_lstm", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="nplstm",
                              ir_version=helper.find_min_ir_version_for(opsets))
    model.doc_string = repr(lstm)
    return model


def _onnx_weights(lstm, layer: int):
    """W (D, 4H, I), R (D, 4H, H), B (D, 8H) or None of one layer, in ONNX's gate order."""
    W, R, B = [], [], []
    for suffix in lstm._suffixes(layer):
        weight_ih, weight_hh, bias_ih, bias_hh, _ = (
            None if a is None else asnumpy(a) for a in lstm._layer_weights(suffix))
        W.append(reorder_gates(weight_ih, TORCH_TO_ONNX))                 # (4H, I)
        R.append(reorder_gates(weight_hh, TORCH_TO_ONNX))                 # (4H, H)
        if lstm.bias:   # ONNX B = [Wb, Rb]: the input and the recurrent bias, each (4H,)
            B.append(np.concatenate([reorder_gates(bias_ih, TORCH_TO_ONNX),
                                     reorder_gates(bias_hh, TORCH_TO_ONNX)]))
    return np.stack(W), np.stack(R), (np.stack(B) if B else None)
