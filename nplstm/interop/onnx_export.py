"""Write an ``nplstm.LSTM``, ``GRU`` or ``GRUCell`` as a standard ONNX graph of LSTM or GRU
nodes (one per layer).  The graph's inputs and outputs (``input``, optional ``h0``/``c0``;
``output``, ``h_n``/``c_n``, as ``lstm(x, state)``) are the table of docs/interop.md
("Export"); a GRUCell's is one GRU node of one step between Unsqueeze and Squeeze.

Per layer l (T time, B batch, H hidden size, L layers, D directions): one LSTM or GRU node
(direction "forward" or "bidirectional"; a GRU's ``linear_before_reset = 1``, torch's GRU),
its initial state rows l·D .. l·D+D−1 of h0/c0, and its Y (T, D, B, H) turned into the next
layer's input (T, B, D·H) by Transpose(0, 2, 1, 3) and Reshape(0, 0, −1) (one direction:
Squeeze(1), which copies nothing); h_n, c_n concatenate the layers' (one layer: the node's
own outputs).  batch_first is done with Transposes around the graph (onnxruntime does not
implement ``layout=1``).  The model is in the module's dtype and exports inference (no
dropout).

``build_model(..., runner=True)`` is the variant ``compile_onnxruntime`` runs in memory, for
``LSTM``, ``GRU`` and ``RNN`` (ONNX's RNN node: no gates to reorder): x is time-major and the
states (L·D, B, H) are required inputs, so a call is one plain run with nothing optional to
decide; with one direction its output is the last node's Y (T, 1, B, H) as it is; with
``lengths=True`` a ``lengths`` (B,) int32 input feeds every node's ``sequence_lens`` (a
separate graph: onnxruntime's LSTM is ~15% slower when given sequence_lens).

Gate order.  torch stacks the LSTM's gates along 4H as  i, f, g, o;  ONNX's LSTM as  i, o, f, c
(c is torch's g).  ``reorder_gates`` (import_onnx uses it too) moves whole blocks of H rows:

    onnx_block[k] = torch_block[TORCH_TO_ONNX[k]]        torch_block[k] = onnx_block[ONNX_TO_TORCH[k]]

torch stacks the GRU's three along 3H as  r, z, n;  ONNX's GRU as  z, r, h  (h is torch's n):
``GRU_ORDER`` = (1, 0, 2) swaps the first two blocks, and is its own inverse.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np

from ..backend import asnumpy
from ..checks import check_bool, check_int, check_path
from ..io import atomic_write_bytes
from ..nn import GRU, LSTM, RNN, GRUCell
from .file_errors import UnsupportedModelError, require

__all__ = ["export_onnx", "build_model", "require_onnx", "reorder_gates", "DEFAULT_OPSET",
           "MIN_OPSET", "TORCH_TO_ONNX", "ONNX_TO_TORCH", "GRU_ORDER"]

DEFAULT_OPSET = 17
MIN_OPSET = 15       # the optional type (Optional*, If-13), LSTM-14, Reshape-14, Split-13
#            ONNX i  o  f  c(=g)   read from torch's blocks i=0 f=1 g=2 o=3
TORCH_TO_ONNX = (0, 3, 1, 2)
#            torch i  f  g  o      read from ONNX's blocks i=0 o=1 f=2 c=3
ONNX_TO_TORCH = (0, 2, 3, 1)
#        ONNX z  r  h(=n)  from torch's r=0 z=1 n=2; torch r z n from ONNX's z=0 r=1 h=2
GRU_ORDER = (1, 0, 2)
_EXPORTABLE = (LSTM, GRU, GRUCell)


def require_onnx() -> Any:
    """The ``onnx`` package (with ``onnx.numpy_helper``, which ``onnx`` does not import)."""
    require("onnx.numpy_helper", "onnx", "ONNX export/import")
    return require("onnx", "onnx", "ONNX export/import")


def reorder_gates(a: np.ndarray[Any, Any], order: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """``a`` (G·H, ...) with its G = len(order) H-row gate blocks taken in ``order`` (a
    copy)."""
    G = len(order)
    blocks = a.reshape(G, a.shape[0] // G, *a.shape[1:])   # (G, H, ...)
    return np.ascontiguousarray(blocks[list(order)].reshape(a.shape))


def export_onnx(lstm: Any, path: str | os.PathLike[str], *, batch_first: bool | None = None,
                opset: int = DEFAULT_OPSET) -> None:
    """Write ``lstm`` to ``path`` as an ONNX model (see the module docstring for the graph).

    lstm         an ``nplstm.LSTM`` without a projection (``proj_size > 0`` has no ONNX
                 LSTM equivalent: ``UnsupportedModelError``), an ``nplstm.GRU`` or an
                 ``nplstm.GRUCell``
    batch_first  the layout of the graph's input and output; None takes ``lstm.batch_first``
                 (a GRUCell has no time axis: None or False)
    opset        the ONNX opset, from 15 to the installed onnx's newest
    The file is written atomically and checked with ``onnx.checker`` before it is written.
    """
    onnx = require_onnx()
    if not isinstance(lstm, _EXPORTABLE):
        raise TypeError(f"lstm must be an nplstm.LSTM, GRU or GRUCell, got "
                        f"{type(lstm).__name__}")
    if type(lstm) not in _EXPORTABLE:     # a subclass (e.g. ReverseLSTM) computes something else
        raise UnsupportedModelError(f"export_onnx writes nplstm.LSTM, GRU or GRUCell, not the "
                                    f"subclass {type(lstm).__name__}")
    cell = isinstance(lstm, GRUCell)
    batch_first = (False if cell else lstm.batch_first) if batch_first is None else \
        check_bool("batch_first", batch_first)
    if cell and batch_first:
        raise ValueError("batch_first must be None or False for a GRUCell (its input (B, I) "
                         "has no time axis), got True")
    opset = check_int("opset", opset, minimum=MIN_OPSET, maximum=onnx.defs.onnx_opset_version())
    check_path("path", path)
    model = build_model(lstm, batch_first=batch_first, opset=opset)
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())


def check_exportable(module: Any, what: str, advice: str = "") -> None:
    """Refuse what ONNX's LSTM/GRU/RNN nodes cannot express exactly (``what`` names the
    caller, ``advice`` ends the message)."""
    if type(module) not in (LSTM, RNN, GRU, GRUCell):   # a subclass (e.g. ReverseLSTM)
        raise UnsupportedModelError(f"{what} takes nplstm.LSTM, GRU or RNN, not the subclass "
                                    f"{type(module).__name__}{advice}")
    if getattr(module, "proj_size", 0):
        raise UnsupportedModelError(
            f"the LSTM has proj_size = {module.proj_size}: ONNX's LSTM node has no projection "
            f"(weight_hr), so {what} cannot express it exactly{advice}")


def build_model(module: LSTM | GRU | RNN | GRUCell, *, batch_first: bool = False,
                opset: int = DEFAULT_OPSET, runner: bool = False, lengths: bool = False) -> Any:
    """The ModelProto of ``module`` (an LSTM, GRU, RNN or GRUCell; all arrays copied to the
    host).

    runner False: the file's graph (optional states, ``batch_first`` layout); True: the
    in-memory graph of ``compile_onnxruntime`` (time-major, required states, and with
    ``lengths`` a required ``lengths`` input; not for a GRUCell).
    """
    check_exportable(module, "ONNX export")
    onnx = require_onnx()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    if isinstance(module, GRUCell):
        return _cell_model(onnx, module, opset)
    elem = helper.np_dtype_to_tensor_dtype(module.dtype)
    L, D, H = module.num_layers, module.num_directions, module.hidden_size
    state_names = ("h0", "c0") if isinstance(module, LSTM) else ("h0",)
    final_names = tuple(f"{name[0]}_n" for name in state_names)      # h_n (, c_n)
    nodes: list[Any] = []                  # NodeProtos
    inits: list[Any] = []                  # TensorProtos

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> Any:
        # its one output's name, or the list of them
        nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    batch_first = batch_first and not runner
    x_dims = ["batch", "seq_len", module.input_size] if batch_first else \
             ["seq_len", "batch", module.input_size]
    y_dims = ["batch", "seq_len", D * H] if batch_first else ["seq_len", "batch", D * H]
    state_dims = [L * D, "batch", H]
    state_type = helper.make_tensor_type_proto(elem, state_dims)
    inputs = [helper.make_tensor_value_info("input", elem, x_dims)]
    if runner:      # required: the caller always feeds them (zeros for no state)
        inputs += [helper.make_tensor_value_info(name, elem, state_dims) for name in state_names]
        if lengths:
            inputs.append(helper.make_tensor_value_info("lengths", onnx.TensorProto.INT32,
                                                        ["batch"]))
    else:           # optional: left out, the graph starts from zeros
        inputs += [helper.make_value_info(name, helper.make_optional_type_proto(state_type))
                   for name in state_names]
    if runner and D == 1:          # the last node's Y as it is: (T, 1, B, H)
        y_dims = ["seq_len", 1, "batch", H]
    outputs = [helper.make_tensor_value_info("output", elem, y_dims)] + \
              [helper.make_tensor_value_info(name, elem, state_dims) for name in final_names]

    x = node("Transpose", ["input"], ["input_tbi"], perm=[1, 0, 2]) if batch_first else "input"
    if runner:
        initial = list(state_names)
    else:
        batch = node("Gather", [node("Shape", [x], ["input_shape"]),
                                const("axis_1", np.array([1]))], ["batch_size"])  # (1,) int64
        state_shape = node("Concat", [const("state_rows", np.array([L * D])), batch,
                                      const("state_width", np.array([H]))], ["state_shape"],
                           axis=0)
        zeros = const("zero", np.zeros((1, 1, 1), dtype=module.dtype))
        initial = [_given_or_zeros(helper, node, name, zeros, state_shape, elem, state_dims)
                   for name in state_names]
    if L > 1:   # rows l·D .. l·D+D−1 belong to layer l
        rows = const("rows_per_layer", np.full(L, D, dtype=np.int64))
        per_layer = [node("Split", [s, rows], [f"{name}_l{k}" for k in range(L)], axis=0)
                     for s, name in zip(initial, state_names)]
    else:
        per_layer = [[s] for s in initial]
    if D == 2:
        to_rows = const("merge_directions", np.array([0, 0, -1]))
    else:
        direction_axis = const("direction_axis", np.array([1]))
    finals: list[list[str]] = [[] for _ in state_names]
    op = type(module).__name__                  # LSTM, GRU or RNN: the node of that name
    attrs: dict[str, Any] = {"hidden_size": H,
                             "direction": "bidirectional" if D == 2 else "forward"}
    if op == "RNN":
        attrs["activations"] = [module.nonlinearity.capitalize()] * D    # Tanh or Relu
    if op == "GRU":
        attrs["linear_before_reset"] = 1                               # torch's GRU
    for layer in range(L):
        W, R, B = _onnx_weights(module, layer)
        node_inputs = [x, const(f"W_l{layer}", W), const(f"R_l{layer}", R),
                       const(f"B_l{layer}", B) if B is not None else "",
                       "lengths" if runner and lengths else ""] + [s[layer] for s in per_layer]
        last = layer == L - 1 and not batch_first
        # the runner takes the last layer's Y (T, 1, B, H) as it is (a view to (T, B, H) in
        # NumPy: onnxruntime copies a graph output even through a Squeeze); one layer: the
        # node's final states are the graph's (no Concat to copy them)
        raw = runner and last and D == 1
        y, *node_finals = node(op, node_inputs, ["output" if raw else f"Y_l{layer}"] + (
            list(final_names) if L == 1 else [f"Y_{n[0]}_l{layer}" for n in state_names]),
            **attrs)
        name = "output" if last else f"output_l{layer}"
        if raw:
            x = y
        elif D == 2:
            # Y (T, D, B, H) → (T, B, D, H) → (T, B, D·H): torch's [forward | reverse] features
            y = node("Transpose", [y], [f"Y_tbdh_l{layer}"], perm=[0, 2, 1, 3])
            x = node("Reshape", [y, to_rows], [name])
        else:   # Y (T, 1, B, H) → (T, B, H): a Squeeze, where a Transpose would copy Y
            x = node("Squeeze", [y, direction_axis], [name])
        for final, value in zip(finals, node_finals):
            final.append(value)
    if batch_first:
        node("Transpose", [x], ["output"], perm=[1, 0, 2])
    for name, values in zip(final_names, finals):    # (L·D, B, H), layer-major as torch
        if L > 1:
            node("Concat", values, [name], axis=0)

    graph = helper.make_graph(nodes, f"nplstm_{op.lower()}", inputs, outputs, initializer=inits)
    return _model(helper, graph, opset, module)


def _model(helper: Any, graph: Any, opset: int, module: Any) -> Any:
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="nplstm",
                              ir_version=helper.find_min_ir_version_for(opsets))
    model.doc_string = repr(module)
    return model


def _cell_model(onnx: Any, cell: GRUCell, opset: int) -> Any:
    """A GRUCell's graph: input (B, I), optional hx (B, H) → output (B, H), one GRU node of
    one step (T = 1, D = 1) between Unsqueeze and Squeeze of axis 0."""
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    elem = helper.np_dtype_to_tensor_dtype(cell.dtype)
    H = cell.hidden_size
    state_type = helper.make_tensor_type_proto(elem, ["batch", H])
    inputs = [helper.make_tensor_value_info("input", elem, ["batch", cell.input_size]),
              helper.make_value_info("hx", helper.make_optional_type_proto(state_type))]
    outputs = [helper.make_tensor_value_info("output", elem, ["batch", H])]
    W, R, B = _onnx_weights(cell, 0)
    inits = [numpy_helper.from_array(a, name) for a, name in
             ((np.array([0]), "axis_0"),
              (np.array([H]), "state_width"), (np.zeros((1, 1), dtype=cell.dtype), "zero"),
              (W, "W"), (R, "R")) + (((B, "B"),) if B is not None else ())]
    nodes: list[Any] = []

    def node(op: str, node_inputs: list[str], node_outputs: list[str], **attrs: Any) -> str:
        nodes.append(helper.make_node(op, node_inputs, node_outputs, name=node_outputs[-1],
                                      **attrs))
        return node_outputs[-1]

    batch = node("Gather", [node("Shape", ["input"], ["input_shape"]), "axis_0"], ["batch_size"])
    state_shape = node("Concat", [batch, "state_width"], ["state_shape"], axis=0)   # [B, H]
    hx = _given_or_zeros(helper, node, "hx", "zero", state_shape, elem, ["batch", H])
    x = node("Unsqueeze", ["input", "axis_0"], ["input_tbi"])                # (1, B, I)
    h0 = node("Unsqueeze", [hx, "axis_0"], ["h0"])                          # (1, B, H)
    h1 = node("GRU", [x, "W", "R", "B" if B is not None else "", "", h0], ["", "h_1"],
              hidden_size=H, linear_before_reset=1)                         # Y_h (1, B, H)
    node("Squeeze", [h1, "axis_0"], ["output"])
    graph = helper.make_graph(nodes, "nplstm_grucell", inputs, outputs, initializer=inits)
    return _model(helper, graph, opset, cell)


def _given_or_zeros(helper: Any, node: Callable[..., Any], name: str, zeros: str,
                    state_shape: str, elem: int, state_dims: list[Any]) -> str:
    """``name``'s value if the optional input holds one, else zeros (L·D, B, H)."""
    value_info = helper.make_tensor_value_info
    given = helper.make_graph([helper.make_node("OptionalGetElement", [name], [f"{name}_given"])],
                              f"{name}_given", [], [value_info(f"{name}_given", elem, state_dims)])
    zero = helper.make_graph([helper.make_node("Expand", [zeros, state_shape], [f"{name}_zeros"])],
                             f"{name}_zeros", [], [value_info(f"{name}_zeros", elem, state_dims)])
    has = node("OptionalHasElement", [name], [f"{name}_is_given"])
    return node("If", [has], [f"{name}_state"], then_branch=given, else_branch=zero)


def _onnx_weights(module: LSTM | GRU | RNN | GRUCell, layer: int
                  ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any],
                             np.ndarray[Any, Any] | None]:
    """W (D, G·H, I), R (D, G·H, H), B (D, 2G·H) or None of one layer, in ONNX's gate order
    (G = 4 for the LSTM, 3 for the GRU, both reordered from torch's; 1 for the RNN)."""
    gate_order = {LSTM: TORCH_TO_ONNX, GRU: GRU_ORDER, GRUCell: GRU_ORDER}.get(type(module))
    order: Callable[[Any], Any] = ((lambda a: reorder_gates(a, gate_order)) if gate_order
                                   else np.ascontiguousarray)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    per_direction = ([[getattr(module, n).data if n in module._parameters else None
                       for n in names]] if isinstance(module, GRUCell) else
                     [module._weights_of(suffix, names) for suffix in module._suffixes(layer)])
    W, R, B = [], [], []
    for arrays in per_direction:
        weight_ih, weight_hh, bias_ih, bias_hh = (None if a is None else asnumpy(a)
                                                  for a in arrays)
        W.append(order(weight_ih))                                       # (G·H, I)
        R.append(order(weight_hh))                                       # (G·H, H)
        if module.bias:   # ONNX B = [Wb, Rb]: the input and the recurrent bias, each (G·H,)
            B.append(np.concatenate([order(bias_ih), order(bias_hh)]))
    return np.stack(W), np.stack(R), (np.stack(B) if B else None)
