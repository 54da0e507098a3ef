"""Every input and attribute of ONNX's LSTM operator, imported (nplstm.interop.onnx_import):
each is computed exactly, or refused by name, never dropped.

    X              the call's x; stored in the file: refused
    X, sequence_lens, initial_h/_c computed by other nodes: from graph inputs, the call's;
                   a state made with a nonzero float constant (ConstantOfShape): refused;
                   from stored tensors alone, or a state from a nonzero default: refused
    W, R           stored: weight_ih, weight_hh; not stored (a graph input, computed): refused
    B              stored: bias_ih, bias_hh; absent: bias=False; not stored: refused
    sequence_lens  a graph input: the call's lengths=; stored in the file: refused
    initial_h/_c   a graph input: the call's state=; stored all-zero: the module's zero
                   start; stored nonzero (even as an overridable default): refused
    P              stored all-zero: no peephole; nonzero, not stored, wrong shape: refused
    activations    Sigmoid, Tanh, Tanh (any case, per direction): computed; others refused
    activation_alpha, activation_beta
                   unused by Sigmoid and Tanh, as in onnxruntime: computed
    clip           refused       input_forget  0 computed, 1 refused
    direction      forward, reverse, bidirectional computed; anything else refused
    hidden_size    R's H or absent: computed; another value refused
    layout         0, 1 computed; anything else refused
    any other attribute (LSTM-1's output_sequence, …): refused

Oracles: ONNX's reference evaluator in float64 (it ignores sequence_lens, activations, clip
and input_forget, so those are checked against onnxruntime), onnxruntime in float32 (which
does not implement layout = 1 nor run without hidden_size).
"""

import numpy as np
import pytest

import nplstm
from nplstm.interop.file_errors import UnsupportedModelError, WeightFileError
from nplstm.interop.onnx_import import import_onnx

from .helpers import rel_error
from .test_interop_onnx import F32, F64, _as_torch_output, _lstm_model, _ort_session, _save

onnx = pytest.importorskip("onnx", reason="ONNX interop needs the onnx package")
from onnx import helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402


def _store(model, name, array, *, keep_input=False):
    """Make ``name`` an initializer holding ``array``; keep_input leaves it a graph input too
    (an overridable default, as nplstm's exporter writes h0/c0)."""
    if not keep_input:
        kept = [i for i in model.graph.input if i.name != name]
        del model.graph.input[:]
        model.graph.input.extend(kept)
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
    return model


def _feeds(model, x, h0=None, c0=None):
    names = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
    feeds = {"X": x, "initial_h": h0, "initial_c": c0}
    return {k: v for k, v in feeds.items() if k in names}


def _refused(tmp_path, model, error, match):
    path = _save(model, tmp_path / "m.onnx")
    with pytest.raises(error, match=match) as info:
        import_onnx(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def _inputs(D=1, B=2, T=5, I=3, H=4, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0, c0 = rng.standard_normal((2, D, B, H)).astype(dtype)
    return x, h0, c0


# -- run-time inputs stored in the file -------------------------------------------------------

@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("keep_input", [False, True])
def test_an_all_zero_stored_initial_state_is_the_modules_zero_start(tmp_path, direction,
                                                                    keep_input):
    """torch.onnx.export stores initial_h = initial_c = zeros (D, B, H) as initializers."""
    D = 2 if direction == "bidirectional" else 1
    model, _ = _lstm_model(direction, seed=1)
    x, _, _ = _inputs(D)
    for name in ("initial_h", "initial_c"):
        _store(model, name, np.zeros((D, 2, 4)), keep_input=keep_input)
    [lstm] = import_onnx(_save(model, tmp_path / "m.onnx"))
    Y, Y_h, Y_c = ReferenceEvaluator(model).run(None, _feeds(model, x))
    output, (h_n, c_n) = lstm(x)
    assert rel_error(output, _as_torch_output(Y, 0)) <= F64
    assert rel_error(h_n, Y_h) <= F64 and rel_error(c_n, Y_c) <= F64


@pytest.mark.parametrize("name", ["initial_h", "initial_c"])
@pytest.mark.parametrize("keep_input", [False, True])
def test_a_nonzero_stored_initial_state_is_refused_by_name(tmp_path, name, keep_input):
    """On main it was dropped: the module started from zeros (0.92 off onnx.reference)."""
    model, _ = _lstm_model(seed=2)
    state = np.zeros((1, 2, 4))
    state[0, 1, 2] = 0.5
    _store(model, name, state, keep_input=keep_input)
    _refused(tmp_path, model, UnsupportedModelError,
             f"its {name} \\('{name}'\\) is stored in the file with nonzero values.*state=")


def _state_from_constant_of_shape(model, name, value):
    """``name`` computed in the graph as ConstantOfShape([1, B, 4], value) with B read from
    X's shape: no stored tensor holds the state, a node's attribute does (``value`` None:
    the attribute left out, which means a float32 zero)."""
    kept = [i for i in model.graph.input if i.name != name]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    for tensor, array in ((f"{name}_one", [1]), (f"{name}_width", [4])):
        model.graph.initializer.append(numpy_helper.from_array(np.array(array, np.int64),
                                                               tensor))
    attributes = {} if value is None else {
        "value": numpy_helper.from_array(np.array([value], np.float64))}
    nodes = [helper.make_node("Shape", ["X"], [f"{name}_batch"], start=1, end=2),
             helper.make_node("Concat", [f"{name}_one", f"{name}_batch", f"{name}_width"],
                              [f"{name}_shape"], axis=0),
             helper.make_node("ConstantOfShape", [f"{name}_shape"], [name], **attributes)]
    lstm = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(nodes + lstm)
    return model


@pytest.mark.parametrize("name", ["initial_h", "initial_c"])
def test_a_state_computed_from_a_nonzero_constant_is_refused_by_name(tmp_path, name):
    """A state made in the graph by ConstantOfShape(…, 0.5) over X's shape comes from a graph
    input (X) yet holds a fixed value the module, starting from zeros, would drop: refused,
    naming the constant (it was accepted and dropped before)."""
    model, _ = _lstm_model(seed=3)
    _state_from_constant_of_shape(model, name, 0.5)
    _refused(tmp_path, model, UnsupportedModelError,
             f"its {name} is computed with the nonzero constant '{name}'.*state=")


@pytest.mark.parametrize("value", [0.0, None])
def test_a_state_computed_as_zeros_is_the_modules_zero_start(tmp_path, value):
    def built(value):
        model, _ = _lstm_model(seed=4)
        for name in ("initial_h", "initial_c"):
            _state_from_constant_of_shape(model, name, value)
        return model

    x, _, _ = _inputs()
    [lstm] = import_onnx(_save(built(value), tmp_path / "m.onnx"))
    # the attribute left out means a float32 zero, which the float64 reference evaluator's
    # LSTM refuses to mix: its numbers come from the explicit float64 zero, the same state
    reference = built(0.0)
    Y, Y_h, Y_c = ReferenceEvaluator(reference).run(None, _feeds(reference, x))
    output, (h_n, c_n) = lstm(x)
    assert rel_error(output, _as_torch_output(Y, 0)) <= F64
    assert rel_error(h_n, Y_h) <= F64 and rel_error(c_n, Y_c) <= F64


def test_a_stored_sequence_lens_is_refused_by_name(tmp_path):
    model, _ = _lstm_model(sequence_lens=True)
    _store(model, "sequence_lens", np.array([5, 3], np.int32))
    _refused(tmp_path, model, UnsupportedModelError,
             "its sequence_lens \\('sequence_lens'\\) is stored in the file.*lengths=")


def test_a_stored_x_is_refused_by_name(tmp_path):
    model, _ = _lstm_model()
    _store(model, "X", np.zeros((5, 2, 3)))
    _refused(tmp_path, model, UnsupportedModelError, "its X \\('X'\\) is stored in the file")


@pytest.mark.parametrize("role", ["W", "R", "B", "P"])
def test_weights_fed_as_graph_inputs_are_refused_by_name(tmp_path, role):
    model, _ = _lstm_model(P=np.zeros((1, 12)), inputs_as_graph_inputs=(role,))
    _refused(tmp_path, model, UnsupportedModelError,
             f"its {role} \\('{role}'\\) is not stored in the file")


def test_a_peephole_of_the_wrong_shape_is_refused(tmp_path):
    model, _ = _lstm_model(P=np.zeros((1, 8)))
    _refused(tmp_path, model, WeightFileError, "P must be float64 of shape \\(1, 12\\)")


# -- attributes --------------------------------------------------------------------------------

COMPUTED = [   # (direction, attributes): each must equal the reference and onnxruntime
    ("forward", {"activations": ["Sigmoid", "Tanh", "Tanh"]}),
    ("reverse", {"activations": ["sigmoid", "tanh", "TANH"]}),
    ("bidirectional", {"activations": ["Sigmoid", "Tanh", "Tanh"] * 2}),
    ("forward", {"activation_alpha": [0.5, 2.0], "activation_beta": [0.25]}),
    ("bidirectional", {"activations": ["Sigmoid", "Tanh", "Tanh"] * 2,
                       "activation_alpha": [0.1] * 6, "activation_beta": [0.2] * 6}),
    ("forward", {"input_forget": 0}),
    ("reverse", {"input_forget": 0, "layout": 0}),
    ("forward", {"P": np.zeros((1, 12))}),               # an all-zero peephole: none
    ("bidirectional", {"P": np.zeros((2, 12))}),
]


@pytest.mark.parametrize("direction, attrs", COMPUTED)
def test_attributes_that_keep_torchs_math_match_the_reference(tmp_path, direction, attrs):
    D = 2 if direction == "bidirectional" else 1
    model, _ = _lstm_model(direction, seed=3, **attrs)
    [lstm] = import_onnx(_save(model, tmp_path / "m.onnx"))
    x, h0, c0 = _inputs(D, seed=3)
    Y, Y_h, Y_c = ReferenceEvaluator(model).run(None, _feeds(model, x, h0, c0))
    output, (h_n, c_n) = lstm(x, (h0, c0))
    assert rel_error(output, _as_torch_output(Y, 0)) <= F64
    assert rel_error(h_n, Y_h) <= F64 and rel_error(c_n, Y_c) <= F64


@pytest.mark.parametrize("direction, attrs", COMPUTED + [
    ("bidirectional", {}),                          # sequence_lens below, with onnxruntime
])
@pytest.mark.parametrize("stored_zero_state", [False, True])
def test_attributes_that_keep_torchs_math_match_onnxruntime(tmp_path, direction, attrs,
                                                            stored_zero_state):
    """onnxruntime implements activations, their alpha/beta, input_forget and sequence_lens
    (the reference evaluator ignores them), in float32."""
    D = 2 if direction == "bidirectional" else 1
    model, _ = _lstm_model(direction, dtype=np.float32, seed=4, sequence_lens=True, **attrs)
    x, h0, c0 = _inputs(D, B=3, dtype=np.float32, seed=4)
    if stored_zero_state:
        h0, c0 = np.zeros_like(h0), np.zeros_like(c0)
        for name in ("initial_h", "initial_c"):
            _store(model, name, h0)
    path = _save(model, tmp_path / "m.onnx")
    [lstm] = import_onnx(path)
    lengths = np.array([5, 2, 4], np.int32)
    feeds = {**_feeds(model, x, h0, c0), "sequence_lens": lengths}
    Y, Y_h, Y_c = _ort_session(path).run(None, feeds)
    with nplstm.no_grad():
        output, (h_n, c_n) = lstm(x, None if stored_zero_state else (h0, c0), lengths=lengths)
    assert rel_error(output, _as_torch_output(Y, 0)) <= F32
    assert rel_error(h_n, Y_h) <= F32 and rel_error(c_n, Y_c) <= F32


def test_a_missing_hidden_size_is_read_from_r(tmp_path):
    """onnxruntime requires hidden_size; the spec and the reference evaluator take R's."""
    model, _ = _lstm_model(seed=5)
    attributes = [a for a in model.graph.node[0].attribute if a.name != "hidden_size"]
    del model.graph.node[0].attribute[:]
    model.graph.node[0].attribute.extend(attributes)
    [lstm] = import_onnx(_save(model, tmp_path / "m.onnx"))
    assert lstm.hidden_size == 4
    x, h0, c0 = _inputs(seed=5)
    Y, _, _ = ReferenceEvaluator(model).run(None, _feeds(model, x, h0, c0))
    assert rel_error(lstm(x, (h0, c0))[0], _as_torch_output(Y, 0)) <= F64


@pytest.mark.parametrize("attrs, error, match", [
    ({"clip": 1e30}, UnsupportedModelError, "clips its cell input"),
    ({"input_forget": 1}, UnsupportedModelError, "input_forget = 1"),
    ({"activations": ["Sigmoid", "Tanh", "Tanh"], "direction": "bidirectional"},
     UnsupportedModelError, "uses the activations"),
    ({"activations": ["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Tanh", "Relu"],
      "direction": "bidirectional"}, UnsupportedModelError, "Relu"),
    ({"direction": "FORWARD"}, WeightFileError, "unknown direction 'FORWARD'"),
    ({"layout": 2}, WeightFileError, "layout = 2, not 0 or 1"),
    ({"hidden_size": 5}, WeightFileError, "hidden_size = 5 but R has H = 4"),
    ({"output_sequence": 1}, WeightFileError, "output_sequence"),
])
def test_attributes_torch_cannot_compute_are_refused_by_name(tmp_path, attrs, error, match):
    attrs = dict(attrs)
    direction, hidden_size = attrs.pop("direction", "forward"), attrs.pop("hidden_size", None)
    model, _ = _lstm_model(direction, **attrs)
    if hidden_size is not None:
        [attribute] = [a for a in model.graph.node[0].attribute if a.name == "hidden_size"]
        attribute.i = hidden_size
    _refused(tmp_path, model, error, match)


def test_an_unknown_attribute_is_refused_even_past_the_checker(tmp_path, monkeypatch):
    """The checker already refuses attributes LSTM's schema lacks; the importer does too."""
    monkeypatch.setattr(onnx.checker, "check_model", lambda model: None)
    model, _ = _lstm_model()
    model.graph.node[0].attribute.append(helper.make_attribute("output_sequence", 1))
    _refused(tmp_path, model, UnsupportedModelError,
             "has the attribute\\(s\\) \\['output_sequence'\\]")


# -- run-time inputs computed by other nodes -------------------------------------------------

def _computed(model, name, op, sources, **attrs):
    """Make the LSTM's input ``name`` the output of a new node ``op(sources)``."""
    kept = [i for i in model.graph.input if i.name != name]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    model.graph.node.insert(0, helper.make_node(op, sources, [name], **attrs))
    return model


def test_a_state_computed_from_a_graph_input_is_the_calls_state(tmp_path):
    """The module stands for the node: what other nodes compute, the caller computes."""
    model, _ = _lstm_model(seed=6)
    model.graph.input.append(helper.make_tensor_value_info("h", onnx.TensorProto.DOUBLE,
                                                           [1, "batch", 4]))
    _computed(model, "initial_h", "Identity", ["h"])
    [lstm] = import_onnx(_save(model, tmp_path / "m.onnx"))
    x, h0, c0 = _inputs(seed=6)
    Y, Y_h, Y_c = ReferenceEvaluator(model).run(None, {"X": x, "h": h0, "initial_c": c0})
    output, (h_n, c_n) = lstm(x, (h0, c0))
    assert rel_error(output, _as_torch_output(Y, 0)) <= F64
    assert rel_error(h_n, Y_h) <= F64 and rel_error(c_n, Y_c) <= F64


@pytest.mark.parametrize("name, argument", [
    ("initial_h", "state="), ("initial_c", "state="), ("X", "x"),
    ("sequence_lens", "lengths="),
])
def test_an_input_computed_from_stored_tensors_alone_is_refused(tmp_path, name, argument):
    model, _ = _lstm_model(sequence_lens=True)
    value = {"X": np.ones((5, 2, 3)), "sequence_lens": np.array([5, 3], np.int32)}.get(
        name, np.full((1, 2, 4), 0.5))
    model.graph.initializer.append(numpy_helper.from_array(value, "fixed"))
    _computed(model, name, "Identity", ["fixed"])
    _refused(tmp_path, model, UnsupportedModelError,
             f"its {name} \\('{name}'\\) is computed from tensors stored in the file alone"
             f".*{argument}")


def test_a_state_computed_from_a_nonzero_default_is_refused(tmp_path):
    """As nplstm's exporter writes it (h0 an input with a stored default, Expanded), but with
    a default that is not zero."""
    model, _ = _lstm_model()
    model.graph.input.append(helper.make_tensor_value_info("h0", onnx.TensorProto.DOUBLE,
                                                           [1, 1, 4]))
    model.graph.initializer.extend([numpy_helper.from_array(np.full((1, 1, 4), 0.5), "h0"),
                                    numpy_helper.from_array(np.array([1, 2, 4]), "shape")])
    _computed(model, "initial_h", "Expand", ["h0", "shape"])
    _refused(tmp_path, model, UnsupportedModelError,
             "initial_h is computed from the graph input 'h0', whose stored default is nonzero")
    model.graph.initializer[-2].CopyFrom(numpy_helper.from_array(np.zeros((1, 1, 4)), "h0"))
    [lstm] = import_onnx(_save(model, tmp_path / "zero.onnx"))    # a zero default: accepted
    x, _, c0 = _inputs(seed=7)
    Y, _, _ = ReferenceEvaluator(model).run(None, {"X": x, "initial_c": c0})
    assert rel_error(lstm(x, (np.zeros((1, 2, 4)), c0))[0], _as_torch_output(Y, 0)) <= F64
