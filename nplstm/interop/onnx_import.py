"""Read the LSTM and GRU nodes of an ONNX model into ``nplstm.LSTM`` and ``nplstm.GRU``
modules: one per node of the main graph, in graph order, with num_layers = 1 (direction
"reverse": ``ReverseLSTM``, ``ReverseGRU``).  What each input and attribute of LSTM-7…22 and
GRU-7…22 becomes or why it is refused is the table of docs/interop.md ("Import", and "GRUs");
``_OPS`` holds what differs between the two nodes.

    W (D, G·H, I), R (D, G·H, H)  →  weight_ih, weight_hh, ONNX's gate blocks reordered to
                                      torch's (``_Op.order``); direction 1, and the one
                                      direction of a "reverse" node, get the ``_reverse`` names
    B (D, 2G·H) = [Wb, Rb]        →  bias_ih = Wb, bias_hh = Rb (reordered); no B: bias=False

X, sequence_lens and the initial states are the module's call arguments: one the file fixes
would be dropped, so it is refused (``_check_run_time_inputs``), except an all-zero stored
initial state (what torch.onnx.export stores), the module's own zero start.

External data (``inline_external_data``; docs/interop.md, "Files that name other files"): each
external tensor's bytes are read in, in every graph of the model (subgraphs too, as the
checker looks at them all), so that nothing later looks for files:

    location      relative, inside the model's folder after every symlink is resolved
                  (else UnsafeFileError); a regular file
    offset        a whole number; offset + length within the file's real size
    length        the tensor's size (dims × item size); absent: the same size is read
    all of them   the tensors read from one file total at most that file's size
    anything else a WeightFileError naming the tensor (a missing file, an unknown key, …)
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from ..checks import check_path, printable_name, printable_text, quoted_name
from ..nn import GRU, LSTM
from .file_errors import UnsafeFileError, UnsupportedModelError, WeightFileError
from .onnx_export import GRU_ORDER, ONNX_TO_TORCH, reorder_gates, require_onnx
from .reverse_lstm import ReverseGRU, ReverseLSTM

__all__ = ["import_onnx", "inline_external_data"]

_DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
_COMMON = {"activation_alpha", "activation_beta", "activations", "clip", "direction",
           "hidden_size", "layout"}


class _Op(NamedTuple):
    """What differs between the LSTM and GRU nodes."""

    gates: int                  # G: W is (D, G·H, I)
    activations: list[str]      # torch's, in the spec's names (lower case)
    attributes: set[str]        # every attribute of the operator (versions 7 to 22)
    order: tuple[int, ...]      # ONNX's gate blocks → torch's
    forward: type               # the module of a forward or bidirectional node
    reverse: type               # of a "reverse" node
    states: tuple[str, ...]     # the inputs after sequence_lens: the call's state
    state_call: str             # how a call passes them


_OPS = {"LSTM": _Op(4, ["sigmoid", "tanh", "tanh"], _COMMON | {"input_forget"},
                    ONNX_TO_TORCH, LSTM, ReverseLSTM, ("initial_h", "initial_c"),
                    "state=(h0, c0)"),
        "GRU": _Op(3, ["sigmoid", "tanh"], _COMMON | {"linear_before_reset"}, GRU_ORDER,
                   GRU, ReverseGRU, ("initial_h",), "state=h0")}


def import_onnx(path: str | os.PathLike[str]) -> list[Any]:
    """One ``nplstm.LSTM`` per LSTM node and one ``nplstm.GRU`` per GRU node of the ONNX
    model at ``path``, in graph order."""
    onnx = require_onnx()
    path = Path(check_path("path", path))
    model = _load_model(onnx, path)
    stored = _stored_tensors(model.graph)
    producers = {out: n for n in model.graph.node for out in n.output if out}
    fed = {i.name for i in model.graph.input}      # graph inputs (with a default or not)
    nodes = [n for n in model.graph.node if n.op_type in _OPS and n.domain in ("", "ai.onnx")]
    if not nodes:
        ops = sorted({n.op_type for n in model.graph.node})
        raise WeightFileError(f"{path} holds no LSTM node nor GRU node (its operators: "
                              f"{printable_name(ops, 300)})")
    return [_module_from_node(onnx, node, _Graph(stored, producers, fed),
                              f"{path}: {node.op_type} node {quoted_name(node.name or k)}")
            for k, node in enumerate(nodes)]


def _load_model(onnx: Any, path: Path) -> Any:
    """The checked ModelProto with its external data read in, or WeightFileError naming the
    file."""
    from google.protobuf.message import DecodeError

    if not path.is_file():
        raise WeightFileError(f"no ONNX file at {path}")
    try:
        model = onnx.load_model_from_string(path.read_bytes())
        inline_external_data(onnx, model, path.parent, str(path))
        onnx.checker.check_model(model)
    except WeightFileError:
        raise
    except (DecodeError, onnx.checker.ValidationError, ValueError, RuntimeError,
            OSError) as err:
        reason = (str(err).strip() or type(err).__name__).splitlines()[0]
        raise WeightFileError(f"{path} is not a readable ONNX model (damaged, truncated "
                              f"or invalid: {printable_text(str(reason), 300)})") from None
    if not model.graph.node:
        raise WeightFileError(f"{path} is not a readable ONNX model (an empty graph: "
                              "truncated, or not an ONNX file)")
    return model


def _stored_tensors(graph: Any) -> dict[str, Any]:
    """``{name: TensorProto}`` of the tensors stored in the file: initializers (including
    those that are also graph inputs, whose stored value is the default), Constant nodes'
    ``value``.  Converted to arrays only when a node uses them."""
    stored = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attribute in node.attribute:
                if attribute.name == "value":
                    stored[node.output[0]] = attribute.t
    return stored


class _Graph(NamedTuple):
    stored: dict[str, Any]      # {name: TensorProto} of initializers and Constant nodes
    producers: dict[str, Any]   # {tensor name: the node (NodeProto) that outputs it}
    fed: set[str]               # the names of the graph's inputs


def _module_from_node(onnx: Any, node: Any, graph: _Graph, where: str) -> Any:
    stored, kind = graph.stored, node.op_type
    op = _OPS[kind]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    unknown = sorted(set(attrs) - op.attributes)
    if unknown:
        raise UnsupportedModelError(f"{where} has the attribute(s) {printable_name(unknown)}, "
                                    f"which are not {kind}-14's; nplstm reads only {kind}-7 to "
                                    f"{kind}-22")
    direction = _text(attrs.get("direction", b"forward"))
    if direction not in _DIRECTIONS:
        raise WeightFileError(f"{where}: unknown direction {quoted_name(direction)}")
    D = _DIRECTIONS[direction]
    layout = attrs.get("layout", 0)
    if layout not in (0, 1) or isinstance(layout, bool):
        raise WeightFileError(f"{where}: layout = {printable_name(layout)}, not 0 or 1")
    if "clip" in attrs:
        raise UnsupportedModelError(f"{where} clips its cell input at ±{attrs['clip']}; "
                                    f"torch's {kind} has no clip")
    if attrs.get("input_forget", 0):
        raise UnsupportedModelError(f"{where} couples its input and forget gates "
                                    f"(input_forget = {printable_name(attrs['input_forget'])}); "
                                    "torch's LSTM has no such coupling")
    if kind == "GRU" and attrs.get("linear_before_reset", 0) != 1:
        raise UnsupportedModelError(
            f"{where} has linear_before_reset = "
            f"{printable_name(attrs.get('linear_before_reset', 0))}"
            f"{'' if 'linear_before_reset' in attrs else ' (absent: ONNX default)'}: its reset "
            "gate multiplies h before R_h (Keras's reset_after=False); torch's GRU is "
            "linear_before_reset = 1 (r multiplies R_h h + Rb_h)")
    activations = [_text(a).lower() for a in attrs.get("activations", [])]
    if activations and activations != op.activations * D:
        raise UnsupportedModelError(
            f"{where} uses the activations "
            f"{printable_name([_text(a) for a in attrs['activations']])}; "
            f"torch's {kind} is {[a.capitalize() for a in op.activations] * D}")
    # activation_alpha / activation_beta parameterize only other activations (LeakyRelu,
    # HardSigmoid, …): with Sigmoid and Tanh ONNX and onnxruntime leave them unused

    inputs = list(node.input) + [""] * (8 - len(node.input))   # X W R B lens h0 c0 P
    _check_run_time_inputs(inputs, graph, where, op)
    W, R = _stored(inputs[1], "W", stored, where), _stored(inputs[2], "R", stored, where)
    B = _stored(inputs[3], "B", stored, where) if inputs[3] else None
    P = _stored(inputs[7], "P", stored, where) if inputs[7] and kind == "LSTM" else None
    if P is not None and np.any(P != 0):
        raise UnsupportedModelError(f"{where} has peephole weights P; torch's LSTM has "
                                    "no peepholes")
    if W.dtype not in (np.float32, np.float64):
        raise UnsupportedModelError(f"{where} stores {W.dtype.name} weights; nplstm "
                                    "computes in float32 or float64")
    H, G = (R.shape[-1] if R.ndim == 3 else -1), op.gates
    expected = {"W": (D, G * H, W.shape[-1] if W.ndim == 3 else -1), "R": (D, G * H, H),
                "B": (D, 2 * G * H), "P": (D, 3 * H)}
    for name, a in (("W", W), ("R", R), ("B", B), ("P", P)):
        if a is not None and (a.shape != expected[name] or a.dtype != W.dtype):
            raise WeightFileError(f"{where}: {name} must be {W.dtype.name} of shape "
                                  f"{expected[name]} for direction {direction!r}, got "
                                  f"{a.dtype.name} {a.shape}")
    if H < 1 or W.shape[-1] < 1:
        raise WeightFileError(f"{where}: W {W.shape} and R {R.shape} have no units")
    if attrs.get("hidden_size", H) != H:
        raise WeightFileError(f"{where}: hidden_size = {printable_name(attrs['hidden_size'])} "
                              f"but R has H = {H}")

    cls = op.reverse if direction == "reverse" else op.forward
    kwargs = dict(bias=B is not None, batch_first=layout == 1, dtype=W.dtype, seed=0)
    if cls is op.forward:
        kwargs["bidirectional"] = D == 2
    module = cls(W.shape[-1], H, **kwargs)
    state = {}
    for d, suffix in enumerate(module._suffixes(0)):
        state[f"weight_ih{suffix}"] = reorder_gates(W[d], op.order)    # (G·H, I)
        state[f"weight_hh{suffix}"] = reorder_gates(R[d], op.order)    # (G·H, H)
        if B is not None:
            state[f"bias_ih{suffix}"] = reorder_gates(B[d, :G * H], op.order)
            state[f"bias_hh{suffix}"] = reorder_gates(B[d, G * H:], op.order)
    module.load_state_dict(state)
    return module


def _check_run_time_inputs(inputs: list[str], graph: _Graph, where: str, op: _Op) -> None:
    """X, sequence_lens, initial_h and initial_c are the module's call arguments (x,
    lengths=, state=): a value the file fixes would be dropped, so it is refused: one stored
    in the file (except an all-zero initial state, which is where the module starts anyway),
    one computed from stored tensors alone, and an initial state computed from a graph input
    whose stored default is nonzero.  One computed from graph inputs is the caller's to
    compute, as the graph does."""
    roles = ((0, "X", "x"), (4, "sequence_lens", "lengths="),
             *((5 + k, name, "state=") for k, name in enumerate(op.states)))
    for k, role, argument in roles:
        name = inputs[k]
        if not name:
            continue
        is_state = role.startswith("initial")
        if name in graph.stored:
            if is_state and not np.any(_stored(name, role, graph.stored, where) != 0):
                continue
            raise UnsupportedModelError(
                f"{where}: its {role} ({quoted_name(name)}) is stored in the file"
                + (" with nonzero values, but nplstm's module starts from zeros when called "
                   "without a state" if is_state else
                   f", but nplstm's module takes it at each call ({argument})")
                + "; make it a graph input without an initializer and pass its values as "
                + (f"the call's {op.state_call}, (D, B, H)" if is_state else argument))
        if name in graph.fed:
            continue
        sources = [tensor for tensor in _behind(name, graph) if tensor in graph.fed]
        if not sources:
            raise UnsupportedModelError(
                f"{where}: its {role} ({quoted_name(name)}) is computed from tensors stored in the "
                "file alone, a fixed value nplstm's module would drop; make it a graph input "
                f"and pass its values as {argument}")
        for source in sorted(sources) if is_state else ():
            if source in graph.stored and np.any(_stored(source, role, graph.stored,
                                                         where) != 0):
                raise UnsupportedModelError(
                    f"{where}: its {role} is computed from the graph input {quoted_name(source)}, "
                    "whose stored default is nonzero, but nplstm's module starts from zeros "
                    f"when called without a state; pass the state as {op.state_call}")
        constant = next((tensor for tensor in _behind(name, graph, values_only=True)
                         if is_state and _is_nonzero_float_constant(tensor, graph, role, where)),
                        None)
        if constant is not None:
            raise UnsupportedModelError(
                f"{where}: its {role} is computed with the nonzero constant "
                f"{quoted_name(constant)} stored in the file (say, ConstantOfShape over the "
                "input's shape), a value nplstm's module, which starts from zeros when called "
                f"without a state, would drop; pass the state as {op.state_call}")


def _behind(name: str, graph: _Graph, values_only: bool = False) -> Iterator[str]:
    """The tensors ``name`` is computed from, itself included, each once (depth first), not
    looking behind graph inputs.  ``values_only``: nor behind a Shape or Size node, whose
    output is the shape of its input, not its values (torch's dynamo=False export sizes a
    layer's zero state by the Shape of the layer before, whose weights are no state value)."""
    seen, stack = {name}, [name]
    while stack:
        tensor = stack.pop()
        yield tensor
        node = None if tensor in graph.fed else graph.producers.get(tensor)
        if values_only and node is not None and node.op_type in ("Shape", "Size"):
            continue
        for source in node.input if node is not None else ():
            if source and source not in seen:
                seen.add(source)
                stack.append(source)


def _is_nonzero_float_constant(tensor: str, graph: _Graph, role: str, where: str) -> bool:
    """Whether ``tensor`` is a nonzero floating-point constant of the file (a stored tensor,
    a Constant node's, a ConstantOfShape's value; absent, that value is a float32 zero).
    Integer constants are shapes and indices (the batch size of an Expand): no state value."""
    node = graph.producers.get(tensor)
    if tensor in graph.fed:
        return False
    if tensor in graph.stored:
        value = _stored(tensor, role, graph.stored, where)
    elif node is not None and node.op_type == "ConstantOfShape":
        given = [a.t for a in node.attribute if a.name == "value"]
        if not given:
            return False
        value = require_onnx().numpy_helper.to_array(given[0])
    else:
        return False
    return value.dtype.kind == "f" and bool(np.any(value != 0))


def _stored(name: str, role: str, stored: dict[str, Any], where: str) -> np.ndarray[Any, Any]:
    if not name:
        raise WeightFileError(f"{where} has no {role} input")
    if name not in stored:
        raise UnsupportedModelError(
            f"{where}: its {role} ({quoted_name(name)}) is not stored in the file (computed by "
            "other nodes or fed as a graph input); only stored weights can be imported")
    onnx = require_onnx()
    try:
        return onnx.numpy_helper.to_array(stored[name])
    except (ValueError, TypeError, KeyError) as err:
        raise WeightFileError(f"{where}: its {role} ({quoted_name(name)}) cannot be read "
                              f"({printable_text(str(err), 200)})") from None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- external data ------------------------------------------------------------------------------

_KEYS = {"location", "offset", "length", "checksum"}


def inline_external_data(onnx: Any, model: Any, folder: Path, where: str) -> None:
    """Read every external tensor of ``model`` from its file in ``folder`` (see the module
    docstring), in place; ``where`` names the model in messages."""
    external = [t for t in _tensors(model.graph)
                if t.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        return
    root = os.path.realpath(folder)
    planned: list[tuple[Any, str, int, int]] = []
    used: dict[str, int] = {}
    for tensor in external:
        name = f"{where}: tensor {quoted_name(tensor.name)}"
        target, offset, length = _reference(onnx, tensor, root, name)
        size = os.stat(target).st_size
        if offset + length > size:
            raise WeightFileError(f"{name}: its bytes {offset}..{offset + length} lie past the "
                                  f"end of its data file ({size} bytes)")
        used[target] = used.get(target, 0) + length
        if used[target] > size:
            raise WeightFileError(f"{name}: the tensors read from "
                                  f"{quoted_name(os.path.relpath(target, root))} total more than "
                                  f"its {size} bytes (overlapping references)")
        planned.append((tensor, target, offset, length))
    for tensor, target, offset, length in planned:
        with open(target, "rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        if len(data) != length:
            raise WeightFileError(f"{where}: tensor {quoted_name(tensor.name)}: its data file "
                                  "changed while it was read")
        tensor.raw_data = data
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def _reference(onnx: Any, tensor: Any, root: str, name: str) -> tuple[str, int, int]:
    """(the real path of the tensor's data file, offset, length), checked."""
    keys: dict[str, str] = {}
    for entry in tensor.external_data:
        if not isinstance(entry.key, str) or not isinstance(entry.value, str):   # not UTF-8
            raise WeightFileError(f"{name}: its external data entry {quoted_name(entry.key)} is "
                                  "not text")
        if entry.key not in _KEYS or entry.key in keys:
            raise WeightFileError(f"{name}: its external data has an unknown or repeated key "
                                  f"{quoted_name(entry.key)}")
        keys[entry.key] = entry.value
    location = keys.get("location", "")
    parts = Path(location).parts
    if not location or os.path.isabs(location) or ".." in parts or "\0" in location:
        raise UnsafeFileError(f"{name}: its data file {quoted_name(location)} is not a path "
                              "inside the model's folder; nplstm reads external data only "
                              "from the model's own folder, and read nothing")
    target = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, target]) != root:
        raise UnsafeFileError(f"{name}: its data file {quoted_name(location)} leads outside the "
                              "model's folder (a symbolic link); nplstm reads external data "
                              "only from the model's own folder, and read nothing")
    try:
        mode = os.stat(target).st_mode
    except OSError:
        raise WeightFileError(f"{name}: its data file {quoted_name(location)} is missing beside "
                              "the model") from None
    if not stat.S_ISREG(mode):
        raise WeightFileError(f"{name}: its data file {quoted_name(location)} is not a file")
    offset = _whole_number(keys.get("offset", "0"), "offset", name)
    expected = _nbytes(onnx, tensor, name)
    length = _whole_number(keys["length"], "length", name) if "length" in keys else expected
    if length != expected:
        raise WeightFileError(f"{name}: its external data is {length} bytes, but its dims "
                              f"{list(tensor.dims)} and type need {expected}")
    return target, offset, length


def _whole_number(text: str, key: str, name: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise WeightFileError(f"{name}: its external data {key} {quoted_name(text)} is not a whole "
                              "number of at most 20 digits")
    return int(text)


def _nbytes(onnx: Any, tensor: Any, name: str) -> int:
    """The bytes of the tensor's values, from its dims and type (fixed-size types only)."""
    kind = tensor.data_type
    try:
        dtype: Any = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(kind))
        kind_name = onnx.helper.tensor_dtype_to_string(kind)
    except (KeyError, TypeError, ValueError):
        dtype, kind_name = None, str(kind)
    packed = {getattr(onnx.TensorProto, n, None)
              for n in ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2")}
    if dtype is None or dtype.kind in "OSU" or kind in packed:
        raise WeightFileError(f"{name}: external data of type {printable_name(kind_name)} is "
                              "not read")
    if any(d < 0 for d in tensor.dims):
        raise WeightFileError(f"{name}: negative dims {list(tensor.dims)}")
    return math.prod(tensor.dims) * dtype.itemsize


def _tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto of ``graph`` and its subgraphs: initializers, sparse initializers,
    and node attributes."""
    graphs = [graph]
    while graphs:
        g = graphs.pop()
        yield from g.initializer
        for sparse in g.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in g.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
                    yield sparse.values
                    yield sparse.indices
                if attribute.HasField("g"):
                    graphs.append(attribute.g)
                graphs.extend(attribute.graphs)
