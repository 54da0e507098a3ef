"""ONNX export and import (nplstm.interop.onnx_export / onnx_import, ReverseLSTM).

Oracles, each independent of nplstm's code: onnxruntime runs the exported files; ONNX's
reference evaluator (``onnx.reference.ReferenceEvaluator``, the spec's LSTM in NumPy, float64)
runs models built with ``onnx.helper``.  The evaluator ignores ``sequence_lens``, so lengths
are checked against it sequence by sequence (each run alone on its valid steps) and against
onnxruntime, which implements them.
"""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm.interop.file_errors import UnsupportedModelError, WeightFileError
from nplstm.interop.onnx_export import export_onnx
from nplstm.interop.onnx_import import import_onnx
from nplstm.interop.reverse_lstm import ReverseLSTM

from .helpers import rel_error
from .strategies import seed, small_size

onnx = pytest.importorskip("onnx", reason="ONNX interop needs the onnx package "
                                          "(pip install 'nplstm[onnx]')")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

F32 = 1e-5          # float32 relative tolerance (onnxruntime sums in another order)
F64 = 1e-12         # float64: the same math to round-off


def _ort_session(path):
    ort = pytest.importorskip("onnxruntime", reason="running exported models needs "
                                                    "onnxruntime")
    options = ort.SessionOptions()
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


# -- export, run by onnxruntime ---------------------------------------------------------------

@given(layers=st.integers(1, 2), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), hidden=small_size, inputs=small_size, seed=seed)
def test_export_matches_onnxruntime_for_two_shapes_of_one_file(
        tmp_path_factory, layers, bidirectional, batch_first, bias, hidden, inputs, seed):
    lstm = nplstm.LSTM(inputs, hidden, layers, bias=bias, batch_first=batch_first,
                       bidirectional=bidirectional, seed=seed)
    path = tmp_path_factory.mktemp("export") / "lstm.onnx"
    export_onnx(lstm, path)
    session = _ort_session(path)
    # the state is optional (ONNX's optional type), not an initializer onnxruntime warns about
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("input", "tensor(float)"), ("h0", "optional(tensor(float))"),
        ("c0", "optional(tensor(float))")]
    assert session.get_overridable_initializers() == []
    rng = np.random.default_rng(seed)
    rows = layers * lstm.num_directions
    for T, B in ((5, 2), (3, 4)):       # one file, dynamic T and B
        x = rng.standard_normal((B, T, inputs) if batch_first else (T, B, inputs),
                                dtype=np.float32)
        h0 = rng.standard_normal((rows, B, hidden), dtype=np.float32)
        c0 = rng.standard_normal((rows, B, hidden), dtype=np.float32)
        with nplstm.no_grad():
            want_zero_state = lstm(x)
            want_state = lstm(x, (h0, c0))
        for feeds, (output, (h_n, c_n)) in (({"input": x}, want_zero_state),
                                           ({"input": x, "h0": h0, "c0": c0}, want_state)):
            got = session.run(["output", "h_n", "c_n"], feeds)
            for g, w in zip(got, (output, h_n, c_n)):
                assert g.shape == w.shape and g.dtype == np.float32
                assert rel_error(g, w) <= F32


@given(layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), with_state=st.booleans(), T=small_size, B=small_size, seed=seed)
def test_export_in_float64_matches_the_reference_evaluator(
        tmp_path_factory, layers, bidirectional, batch_first, bias, with_state, T, B, seed):
    """The whole exported graph (state defaults, Split, Transposes, Reshapes) run by ONNX's
    reference evaluator; onnxruntime's LSTM runs float32 only."""
    lstm = nplstm.LSTM(2, 3, layers, bias=bias, batch_first=batch_first,
                       bidirectional=bidirectional, dtype="float64", seed=seed)
    path = tmp_path_factory.mktemp("export") / "lstm.onnx"
    export_onnx(lstm, path)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, 2) if batch_first else (T, B, 2))
    state = rng.standard_normal((2, layers * lstm.num_directions, B, 3)) if with_state else None
    # the evaluator wants every input named: None is the optional state left empty
    feeds = {"input": x, "h0": None, "c0": None} if state is None else \
        {"input": x, "h0": state[0], "c0": state[1]}
    got = ReferenceEvaluator(str(path)).run(["output", "h_n", "c_n"], feeds)
    output, (h_n, c_n) = lstm(x, None if state is None else (state[0], state[1]))
    for g, w in zip(got, (output, h_n, c_n)):
        assert g.dtype == np.float64 and rel_error(g, w) <= F64


def test_export_then_import_gives_back_every_layer_exactly(tmp_path):
    lstm = nplstm.LSTM(3, 5, num_layers=3, bidirectional=True, batch_first=True,
                       dtype="float64", seed=7)
    export_onnx(lstm, tmp_path / "m.onnx")
    modules = import_onnx(tmp_path / "m.onnx")
    assert len(modules) == 3
    state = lstm.state_dict()
    for layer, module in enumerate(modules):
        assert type(module) is nplstm.LSTM and module.bidirectional
        assert module.dtype == np.float64 and not module.batch_first   # layout 0 inside
        for name, value in module.state_dict().items():
            np.testing.assert_array_equal(value, state[name.replace("_l0", f"_l{layer}")])


def test_export_refuses_projection_and_writes_nothing(tmp_path):
    lstm = nplstm.LSTM(3, 5, proj_size=2, seed=0)
    with pytest.raises(UnsupportedModelError, match="proj_size = 2"):
        export_onnx(lstm, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, error, match", [
    ({"opset": 14}, ValueError, "^opset must be an int >= 15 <= \\d+, got 14$"),
    ({"opset": "17"}, TypeError, "^opset must be an int >= 15"),
    ({"batch_first": 1}, TypeError, "^batch_first must be True or False, got int 1$"),
])
def test_export_refuses_bad_arguments(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        export_onnx(nplstm.LSTM(2, 3, seed=0), tmp_path / "m.onnx", **kwargs)
    with pytest.raises(TypeError, match="lstm must be an nplstm.LSTM, GRU or GRUCell, got LSTMCell"):
        export_onnx(nplstm.LSTMCell(2, 3, seed=0), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


# -- import, against the reference evaluator ---------------------------------------------------

def _lstm_model(direction="forward", *, I=3, H=4, bias=True, layout=0, dtype=np.float64,
                seed=0, P=None, sequence_lens=False, inputs_as_graph_inputs=(), **attrs):
    """A one-node ONNX model: LSTM(X, W, R, [B], [sequence_lens], initial_h, initial_c, [P])
    with random stored weights; returns (model, weights)."""
    D = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(seed)
    weights = {"W": rng.uniform(-1, 1, (D, 4 * H, I)), "R": rng.uniform(-1, 1, (D, 4 * H, H))}
    if bias:
        weights["B"] = rng.uniform(-1, 1, (D, 8 * H))
    if P is not None:
        weights["P"] = np.asarray(P, dtype=np.float64)
    weights = {k: v.astype(dtype) for k, v in weights.items()}
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    state_dims = ["batch", D, H] if layout else [D, "batch", H]
    x_dims = ["batch", "T", I] if layout else ["T", "batch", I]
    graph_inputs = [helper.make_tensor_value_info("X", elem, x_dims),
                    helper.make_tensor_value_info("initial_h", elem, state_dims),
                    helper.make_tensor_value_info("initial_c", elem, state_dims)]
    graph_inputs += [helper.make_tensor_value_info(name, elem, weights[name].shape)
                     for name in inputs_as_graph_inputs]
    if sequence_lens:
        graph_inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32,
                                                          ["batch"]))
    y_dims = ["batch", "T", D, H] if layout else ["T", D, "batch", H]
    outputs = [helper.make_tensor_value_info("Y", elem, y_dims),
               helper.make_tensor_value_info("Y_h", elem, state_dims),
               helper.make_tensor_value_info("Y_c", elem, state_dims)]
    node = helper.make_node(
        "LSTM", ["X", "W", "R", "B" if bias else "", "sequence_lens" if sequence_lens else "",
                 "initial_h", "initial_c",
                 "P" if P is not None else ""],
        ["Y", "Y_h", "Y_c"], name="the_lstm", hidden_size=H, direction=direction,
        layout=layout, **attrs)
    initializers = [numpy_helper.from_array(v, k) for k, v in weights.items()
                    if k not in inputs_as_graph_inputs]
    graph = helper.make_graph([node], "g", graph_inputs, outputs, initializer=initializers)
    opsets = [helper.make_opsetid("", 17)]
    # the IR version the opset needs, as the exporter sets it: make_model's default is the
    # installed onnx's newest, which an older onnxruntime refuses (1.23 reads up to IR 11)
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets))
    return model, weights


def _save(model, path):
    onnx.save_model(model, path)
    return path


def _as_torch_output(Y, layout):
    """ONNX's Y (T, D, B, H) — layout 1: (B, T, D, H) — as torch's (T, B, D·H) / (B, T, D·H)."""
    if layout:
        B, T, D, H = Y.shape
        return Y.reshape(B, T, D * H)
    T, D, B, H = Y.shape
    return Y.transpose(0, 2, 1, 3).reshape(T, B, D * H)


@given(direction=st.sampled_from(["forward", "reverse", "bidirectional"]),
       bias=st.booleans(), layout=st.sampled_from([0, 1]), with_state=st.booleans(),
       T=small_size, B=small_size, I=small_size, H=small_size, seed=seed)
def test_import_matches_the_reference_evaluator(tmp_path_factory, direction, bias, layout,
                                                with_state, T, B, I, H, seed):
    model, _ = _lstm_model(direction, I=I, H=H, bias=bias, layout=layout, seed=seed)
    [lstm] = import_onnx(_save(model, tmp_path_factory.mktemp("m") / "m.onnx"))
    D = 2 if direction == "bidirectional" else 1
    assert (type(lstm) is ReverseLSTM) == (direction == "reverse")
    assert lstm.bias == bias and lstm.batch_first == bool(layout) and lstm.dtype == np.float64
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I) if layout else (T, B, I))
    h0, c0 = rng.standard_normal((2, D, B, H)) if with_state else np.zeros((2, D, B, H))
    feeds = {"X": x, "initial_h": h0.transpose(1, 0, 2) if layout else h0,
             "initial_c": c0.transpose(1, 0, 2) if layout else c0}
    Y, Y_h, Y_c = ReferenceEvaluator(model).run(None, feeds)
    output, (h_n, c_n) = lstm(x, (h0, c0) if with_state else None)
    assert rel_error(output, _as_torch_output(Y, layout)) <= F64
    if layout:     # ONNX's layout 1 has the states batch-major
        Y_h, Y_c = Y_h.transpose(1, 0, 2), Y_c.transpose(1, 0, 2)
    assert rel_error(h_n, Y_h) <= F64 and rel_error(c_n, Y_c) <= F64


@given(direction=st.sampled_from(["forward", "reverse", "bidirectional"]),
       lengths=st.lists(st.integers(1, 5), min_size=1, max_size=4), seed=seed)
def test_sequence_lens_is_lengths(tmp_path_factory, direction, lengths, seed):
    """Each sequence alone through the evaluator (its valid steps only) is the oracle."""
    T, B, I, H = 5, len(lengths), 3, 2
    model, _ = _lstm_model(direction, I=I, H=H, seed=seed, sequence_lens=True)
    [lstm] = import_onnx(_save(model, tmp_path_factory.mktemp("m") / "m.onnx"))
    D = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I))
    h0, c0 = rng.standard_normal((2, D, B, H))
    output, (h_n, c_n) = lstm(x, (h0, c0), lengths=lengths)
    evaluator = ReferenceEvaluator(model)
    for b, n in enumerate(lengths):
        Y, Y_h, Y_c = evaluator.run(None, {"X": x[:n, b:b + 1], "initial_h": h0[:, b:b + 1],
                                           "initial_c": c0[:, b:b + 1],
                                           "sequence_lens": np.array([n], np.int32)})
        assert rel_error(output[:n, b:b + 1], _as_torch_output(Y, 0)) <= F64
        assert not output[n:, b].any()                  # padded outputs are 0, as ONNX's
        assert rel_error(h_n[:, b:b + 1], Y_h) <= F64 and rel_error(c_n[:, b:b + 1], Y_c) <= F64


def test_sequence_lens_matches_onnxruntime(tmp_path):
    model, _ = _lstm_model("bidirectional", dtype=np.float32, seed=3, sequence_lens=True)
    path = _save(model, tmp_path / "m.onnx")
    [lstm] = import_onnx(path)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 3, 3), dtype=np.float32)
    h0, c0 = rng.standard_normal((2, 2, 3, 4), dtype=np.float32)
    lengths = np.array([6, 2, 4], dtype=np.int32)
    Y, Y_h, Y_c = _ort_session(path).run(None, {"X": x, "sequence_lens": lengths,
                                                "initial_h": h0, "initial_c": c0})
    with nplstm.no_grad():
        output, (h_n, c_n) = lstm(x, (h0, c0), lengths=lengths)
    assert rel_error(output, _as_torch_output(Y, 0)) <= F32
    assert rel_error(h_n, Y_h) <= F32 and rel_error(c_n, Y_c) <= F32


def test_one_module_per_node_in_graph_order(tmp_path):
    first, w1 = _lstm_model("forward", I=3, H=4, seed=1)
    second, w2 = _lstm_model("reverse", I=4, H=2, bias=False, seed=2)
    node2 = second.graph.node[0]
    node2.input[0] = "Y_squeezed"
    node2.name, node2.output[:] = "second", ["Y2", "Y2_h", "Y2_c"]
    node2.input[1], node2.input[2] = "W2", "R2"
    squeeze = helper.make_node("Squeeze", ["Y", "axis1"], ["Y_squeezed"])
    first.graph.node.extend([squeeze, node2])
    first.graph.initializer.extend([numpy_helper.from_array(np.array([1]), "axis1")] +
                                   [numpy_helper.from_array(v, k + "2") for k, v in w2.items()])
    first.graph.output.append(helper.make_tensor_value_info("Y2", TensorProto.DOUBLE, ["T", 1, "batch", 2]))
    modules = import_onnx(_save(first, tmp_path / "m.onnx"))
    assert [type(m) for m in modules] == [nplstm.LSTM, ReverseLSTM]
    assert (modules[0].input_size, modules[0].hidden_size, modules[0].bias) == (3, 4, True)
    assert (modules[1].input_size, modules[1].hidden_size, modules[1].bias) == (4, 2, False)
    # ONNX's gates i, o, f, c are torch's blocks 0, 3, 1, 2
    H = 2
    np.testing.assert_array_equal(modules[1].weight_hh_l0_reverse.data[3 * H:],
                                  w2["R"][0, H:2 * H])
    assert sorted(modules[1].state_dict()) == ["weight_hh_l0_reverse", "weight_ih_l0_reverse"]


# -- refusals ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"P": np.full((1, 12), 0.5)}, "peephole"),
    ({"clip": 3.0}, "clips"),
    ({"input_forget": 1}, "input_forget = 1"),
    ({"activations": ["Sigmoid", "Relu", "Tanh"]}, "Relu"),
    ({"activations": ["HardSigmoid", "Tanh", "Tanh"]}, "HardSigmoid"),
    ({"inputs_as_graph_inputs": ("W",)}, "W \\('W'\\) is not stored"),
])
def test_import_refuses_what_torch_cannot_compute(tmp_path, kwargs, match):
    model, _ = _lstm_model(**kwargs)
    path = _save(model, tmp_path / "m.onnx")
    with pytest.raises(UnsupportedModelError, match=match) as info:
        import_onnx(path)
    assert str(path) in str(info.value) and "the_lstm" in str(info.value)


def test_import_accepts_an_all_zero_peephole(tmp_path):
    with_p, _ = _lstm_model(P=np.zeros((1, 12)), seed=4)
    without, _ = _lstm_model(seed=4)
    got = import_onnx(_save(with_p, tmp_path / "p.onnx"))[0].state_dict()
    want = import_onnx(_save(without, tmp_path / "n.onnx"))[0].state_dict()
    assert all(np.array_equal(got[k], want[k]) for k in want) and got.keys() == want.keys()


def test_import_refuses_weights_computed_by_the_graph(tmp_path):
    model, _ = _lstm_model()
    model.graph.initializer[1].name = "R_raw"       # R = Identity(R_raw): computed, not stored
    model.graph.node.insert(0, helper.make_node("Identity", ["R_raw"], ["R"]))
    with pytest.raises(UnsupportedModelError, match="R \\('R'\\) is not stored"):
        import_onnx(_save(model, tmp_path / "m.onnx"))


def test_import_refuses_a_model_without_lstm(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = _save(helper.make_model(graph), tmp_path / "relu.onnx")
    with pytest.raises(WeightFileError, match="holds no LSTM node .*Relu"):
        import_onnx(path)


def test_damaged_files_are_refused_naming_the_file(tmp_path):
    export_onnx(nplstm.LSTM(3, 4, 2, bidirectional=True, seed=0), tmp_path / "good.onnx")
    data = (tmp_path / "good.onnx").read_bytes()
    bad = tmp_path / "bad.onnx"
    damaged = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 97))]
    damaged += [b"not an onnx file at all", np.random.default_rng(0).bytes(300)]
    for content in damaged:
        bad.write_bytes(content)
        with pytest.raises(WeightFileError, match="bad.onnx"):
            import_onnx(bad)
    with pytest.raises(WeightFileError, match="no ONNX file at .*missing.onnx"):
        import_onnx(tmp_path / "missing.onnx")


def test_a_missing_onnx_package_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)          # import onnx → ImportError
    with pytest.raises(ImportError, match="pip install 'nplstm\\[onnx\\]'"):
        export_onnx(nplstm.LSTM(2, 3, seed=0), tmp_path / "m.onnx")
    with pytest.raises(ImportError, match="pip install 'nplstm\\[onnx\\]'"):
        import_onnx(tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_export_from_any_backend_writes_the_same_file(backend, tmp_path):
    lstm = nplstm.LSTM(3, 4, 2, bidirectional=True, seed=9)
    export_onnx(lstm, tmp_path / "cpu.onnx")
    export_onnx(lstm.to(backend.device), tmp_path / "device.onnx")
    assert (tmp_path / "device.onnx").read_bytes() == (tmp_path / "cpu.onnx").read_bytes()
