"""GRUs in weight files (issue 25): torch .pt and TorchScript, describe / infer_gru_config /
inspect, ONNX GRU nodes out and in, compile_onnxruntime, Keras GRU layers.

Oracles, each independent of nplstm's GRU code: torch's own outputs stored beside the
fixtures made by torch (tests/fixtures/interop/make_torch_fixtures.py, make_onnx_fixtures.py)
and torch live; Keras's own outputs stored beside the Keras fixtures (make_keras_fixtures.py,
Keras 3.15, torch backend); ONNX's reference evaluator (float64, its own GRU: gates z, r, h,
``linear_before_reset``); onnxruntime (float32, its own GRU kernel).

Every input and attribute of ONNX's GRU operator, imported: computed exactly or refused by
name, never dropped.

    X, sequence_lens, initial_h   as the LSTM's (test_interop_onnx_inputs.py): the call's x,
                   lengths=, state=; stored in the file (a state: nonzero) refused
    W, R, B        stored: torch's weights (gates z, r, h → r, z, n); B absent: bias=False;
                   not stored (a graph input): refused
    linear_before_reset   1 computed (torch's GRU); 0 or absent (ONNX's default) refused
    activations    Sigmoid, Tanh (any case, per direction) computed; others refused
    activation_alpha, activation_beta   unused by Sigmoid and Tanh: computed
    clip           refused      direction  forward, reverse, bidirectional; else refused
    hidden_size    R's H or absent computed; another refused     layout  0, 1; else refused
    any other attribute (an LSTM's input_forget): refused
"""

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm.cli import main
from nplstm.interop import (ReverseGRU, UnsafeFileError, UnsupportedModelError,
                            WeightFileError, compile_onnxruntime, describe, export_onnx,
                            import_onnx, infer_gru_config, infer_lstm_config, select)

from .helpers import load_quietly, rel_error
from .strategies import seed, small_size

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
F32 = 1e-5          # float32 relative tolerance (another implementation sums in another order)
F64 = 1e-12         # float64: the same math to round-off


def _run(module, x, state=None):
    with nplstm.no_grad():
        return module(x, state)


# -- describe, infer_gru_config --------------------------------------------------------------

def test_describe_names_grus_gru_cells_and_reverse_grus_with_torchs_arguments():
    model = {}
    for prefix, module in [("enc.", nplstm.GRU(3, 4, num_layers=2, bidirectional=True,
                                               bias=False)),
                           ("cell.", nplstm.GRUCell(2, 5)),
                           ("back.", ReverseGRU(3, 2)),
                           ("lstm.", nplstm.LSTM(3, 3)),
                           ("lcell.", nplstm.LSTMCell(3, 3))]:
        model.update({prefix + k: v for k, v in module.state_dict().items()})
    assert [str(fit) for fit in describe(model)] == [
        "enc.: nplstm.GRU(input_size=3, hidden_size=4, num_layers=2, bias=False, "
        "bidirectional=True)",
        "cell.: nplstm.GRUCell(2, 5)",
        "back.: nplstm.interop.ReverseGRU(3, 2)",
        "lstm.: nplstm.LSTM(input_size=3, hidden_size=3)",
        "lcell.: nplstm.LSTMCell(3, 3)"]
    for fit in describe(model):
        module = fit.build()
        module.load_state_dict(select(model, fit.prefix))
        assert type(module).__name__ == fit.kind


@pytest.mark.parametrize("infer", [describe, infer_gru_config, infer_lstm_config])
@pytest.mark.parametrize("spoil, message", [
    (lambda sd: list(sd.values()), "state_dict must be a mapping of names to arrays, got list"),
    (lambda sd: {**sd, "weight_ih_l0": [[0.0] * 3] * 12},
     "state_dict['weight_ih_l0'] must be an array, got list"),
    (lambda sd: {**sd, 7: sd["weight_ih_l0"]}, "state_dict's names must be str, got int 7"),
])
def test_describe_and_infer_refuse_what_is_not_a_state_dict_by_name(infer, spoil, message):
    # these were AttributeErrors ('list' object has no attribute 'shape' / 'items') and, for an
    # int name, re's "expected string or bytes-like object"
    state_dict = spoil(nplstm.GRU(3, 4, seed=0).state_dict())
    with pytest.raises(TypeError) as info:
        infer(state_dict)
    assert str(info.value) == message


def test_twelve_gate_rows_are_a_gru_of_4_or_an_lstm_of_3_by_the_recurrent_weight():
    """weight_ih (12, 3) alone is ambiguous (3·4 = 4·3); weight_hh's columns (H) decide."""
    rows = np.zeros((12, 3))
    gru = {"weight_ih_l0": rows, "weight_hh_l0": np.zeros((12, 4))}
    lstm = {"weight_ih_l0": rows, "weight_hh_l0": np.zeros((12, 3))}
    rnn = nplstm.RNN(3, 12).state_dict()        # (H, I): neither
    assert [(f.kind, f.kwargs) for f in describe(gru)] == [
        ("GRU", {"input_size": 3, "hidden_size": 4, "bias": False})]
    assert [(f.kind, f.kwargs) for f in describe(lstm)] == [
        ("LSTM", {"input_size": 3, "hidden_size": 3, "bias": False})]
    assert describe(rnn)[0].kind not in ("GRU", "LSTM")


@given(input_size=small_size, hidden_size=small_size, num_layers=st.integers(1, 3),
       bias=st.booleans(), bidirectional=st.booleans())
def test_infer_gru_config_rebuilds_the_gru(input_size, hidden_size, num_layers, bias,
                                           bidirectional):
    gru = nplstm.GRU(input_size, hidden_size, num_layers, bias=bias,
                     bidirectional=bidirectional, seed=0)
    sd = {f"rnn.{k}": v for k, v in gru.state_dict().items()}
    rebuilt = nplstm.GRU(**infer_gru_config(sd, "rnn."))
    assert repr(rebuilt) == repr(gru)
    rebuilt.load_state_dict(select(sd, "rnn."))


def test_infer_configs_say_which_module_the_weights_are():
    gru, lstm = nplstm.GRU(3, 4).state_dict(), nplstm.LSTM(3, 4).state_dict()
    with pytest.raises(ValueError, match=r"not one nplstm.LSTM's: they are one nplstm.GRU\("
                       r"input_size=3, hidden_size=4\)'s \(torch.nn.GRU: its 3H gate rows, "
                       r"not 4H\); use infer_gru_config"):
        infer_lstm_config(gru)
    with pytest.raises(ValueError, match=r"not one nplstm.GRU's: they are one nplstm.LSTM\("
                       r"input_size=3, hidden_size=4\)'s .*use infer_lstm_config"):
        infer_gru_config(lstm)
    del gru["weight_hh_l0"]
    with pytest.raises(ValueError, match=r"not one nplstm.GRU's: weight_ih_l0 \(12, 3\)"):
        infer_gru_config(gru)


def test_reverse_gru_is_the_reverse_half_of_a_bidirectional_gru():
    bi = nplstm.GRU(3, 4, bidirectional=True, dtype="float64", seed=3)
    rev = ReverseGRU(3, 4, dtype="float64")
    rev.load_state_dict({k: v for k, v in bi.state_dict().items() if k.endswith("_reverse")})
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    output, h_n = bi(x)
    got, got_h = rev(x)
    np.testing.assert_array_equal(got, output[..., 4:])
    np.testing.assert_array_equal(got_h, h_n[1:])
    assert repr(rev) == "ReverseGRU(3, 4, dtype=float64)"


# -- torch files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gru", "scripted_gru"])
def test_gru_fixtures_load_to_the_arrays_torch_reads(name):
    got = load_quietly(FIXTURES / "torch" / f"{name}.pt")
    with np.load(FIXTURES / "torch" / f"{name}.expected.npz") as expected:
        assert list(got) == list(expected.files)
        for key in expected.files:
            assert got[key].dtype == expected[key].dtype
            assert got[key].tobytes() == expected[key].tobytes(), key


def test_a_gru_from_a_torch_file_computes_torchs_outputs():
    weights = nplstm.load_weights(FIXTURES / "torch" / "gru.pt")
    assert [str(f) for f in describe(weights)] == [
        "(top level): nplstm.GRU(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)"]
    gru = nplstm.GRU(**infer_gru_config(weights), dtype="float64")
    gru.load_state_dict(weights)
    with np.load(FIXTURES / "torch" / "gru.output.npz") as ref:
        output, h_n = gru(ref["x"], ref["h0"])
        assert rel_error(output, ref["output"]) <= F64
        assert rel_error(h_n, ref["h_n"]) <= F64


def test_a_torchscript_gru_and_gru_cell_are_described_and_built():
    weights = nplstm.load_weights(FIXTURES / "torch" / "scripted_gru.pt")
    fits = describe(weights)
    assert [str(f) for f in fits] == [
        "rnn.: nplstm.GRU(input_size=3, hidden_size=4, num_layers=2)",
        "head.: nplstm.Linear(4, 2)", "cell.: nplstm.GRUCell(4, 2)"]
    for fit in fits:
        fit.build().load_state_dict(select(weights, fit.prefix))


def test_a_whole_pickled_gru_is_refused_saying_to_save_its_state_dict():
    with pytest.raises(UnsafeFileError, match=r"refused the global torch.nn.modules.rnn.GRU: "
                       r".*nothing was executed.*save model.state_dict\(\) instead"):
        nplstm.load_weights(FIXTURES / "torch" / "whole_gru.pt")


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
@pytest.mark.parametrize("layers, bidirectional, bias, batch_first", [
    (1, False, True, False), (2, True, True, True), (3, True, False, False)])
def test_live_torch_grus_saved_and_scripted_compute_torchs_outputs(
        tmp_path, layers, bidirectional, bias, batch_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(layers)
    model = torch.nn.GRU(4, 5, num_layers=layers, bidirectional=bidirectional, bias=bias,
                         batch_first=batch_first).double()
    torch.save(model.state_dict(), tmp_path / "gru.pt")
    torch.jit.save(torch.jit.script(model), tmp_path / "scripted.pt")
    x = np.random.default_rng(layers).standard_normal((2, 6, 4) if batch_first else (6, 2, 4))
    h0 = np.random.default_rng(9).standard_normal((layers * (1 + bidirectional), 2, 5))
    with torch.no_grad():
        want, want_h = (t.numpy() for t in model(torch.from_numpy(x), torch.from_numpy(h0)))
    for name in ("gru.pt", "scripted.pt"):
        weights = nplstm.load_weights(tmp_path / name)
        assert list(weights) == list(model.state_dict())
        [fit] = describe(weights)
        gru = fit.build(dtype="float64", batch_first=batch_first)
        gru.load_state_dict(weights)
        output, h_n = gru(x, h0)
        assert rel_error(output, want) <= F64 and rel_error(h_n, want_h) <= F64


@pytest.mark.torch
def test_live_torch_gru_cell_loads_and_computes_torchs_step(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    model = torch.nn.GRUCell(3, 4).double()
    torch.save(model.state_dict(), tmp_path / "cell.pt")
    weights = nplstm.load_weights(tmp_path / "cell.pt")
    [fit] = describe(weights)
    assert str(fit) == "(top level): nplstm.GRUCell(3, 4)"
    cell = fit.build(dtype="float64")
    cell.load_state_dict(weights)
    rng = np.random.default_rng(4)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    with torch.no_grad():
        want = model(torch.from_numpy(x), torch.from_numpy(h)).numpy()
    assert rel_error(cell(x, h), want) <= F64


# -- nplstm inspect / convert ------------------------------------------------------------------

def _cli(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_names_the_gru(capsys):
    code, out, err = _cli(["inspect", FIXTURES / "torch" / "scripted_gru.pt"], capsys)
    assert code == 0 and err == ""
    assert out.splitlines()[-3:] == [
        "  rnn.: nplstm.GRU(input_size=3, hidden_size=4, num_layers=2)",
        "  head.: nplstm.Linear(4, 2)", "  cell.: nplstm.GRUCell(4, 2)"]


def test_convert_writes_a_grus_onnx_that_imports_back(tmp_path, capsys):
    pytest.importorskip("onnx")
    target = tmp_path / "gru.onnx"
    code, _, err = _cli(["convert", FIXTURES / "torch" / "gru.pt", target], capsys)
    assert code == 0 and err == ""
    weights = nplstm.load_weights(FIXTURES / "torch" / "gru.pt")
    modules = import_onnx(target)
    assert [type(m) for m in modules] == [nplstm.GRU, nplstm.GRU]
    for layer, module in enumerate(modules):
        for name, value in module.state_dict().items():
            np.testing.assert_array_equal(value, weights[name.replace("_l0", f"_l{layer}")])


# -- ONNX export -------------------------------------------------------------------------------

onnx_needed = pytest.mark.skipif(not __import__("importlib").util.find_spec("onnx"),
                                 reason="ONNX interop needs the onnx package")


def _reference(path):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(str(path))


def _ort(path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@onnx_needed
@given(layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), with_state=st.booleans(), T=small_size, B=small_size, seed=seed)
def test_exported_gru_in_float64_matches_the_reference_evaluator(
        tmp_path_factory, layers, bidirectional, batch_first, bias, with_state, T, B, seed):
    gru = nplstm.GRU(2, 3, layers, bias=bias, batch_first=batch_first,
                     bidirectional=bidirectional, dtype="float64", seed=seed)
    path = tmp_path_factory.mktemp("export") / "gru.onnx"
    export_onnx(gru, path)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, 2) if batch_first else (T, B, 2))
    h0 = rng.standard_normal((layers * gru.num_directions, B, 3)) if with_state else None
    got = _reference(path).run(["output", "h_n"], {"input": x, "h0": h0})
    for g, w in zip(got, gru(x, h0)):
        assert g.dtype == np.float64 and rel_error(g, w) <= F64


@onnx_needed
@given(layers=st.integers(1, 2), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), hidden=small_size, inputs=small_size, seed=seed)
def test_exported_gru_matches_onnxruntime_for_two_shapes_of_one_file(
        tmp_path_factory, layers, bidirectional, batch_first, bias, hidden, inputs, seed):
    gru = nplstm.GRU(inputs, hidden, layers, bias=bias, batch_first=batch_first,
                     bidirectional=bidirectional, seed=seed)
    path = tmp_path_factory.mktemp("export") / "gru.onnx"
    export_onnx(gru, path)
    session = _ort(path)
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("input", "tensor(float)"), ("h0", "optional(tensor(float))")]
    rng = np.random.default_rng(seed)
    for T, B in ((5, 2), (3, 4)):
        x = rng.standard_normal((B, T, inputs) if batch_first else (T, B, inputs),
                                dtype=np.float32)
        h0 = rng.standard_normal((layers * gru.num_directions, B, hidden), dtype=np.float32)
        for feeds, want in (({"input": x}, _run(gru, x)),
                            ({"input": x, "h0": h0}, _run(gru, x, h0))):
            for g, w in zip(session.run(["output", "h_n"], feeds), want):
                assert g.shape == w.shape and g.dtype == np.float32
                assert rel_error(g, w) <= F32


@onnx_needed
@pytest.mark.parametrize("bias", [True, False])
def test_an_exported_gru_cell_is_one_step_in_the_reference_and_onnxruntime(tmp_path, bias):
    rng = np.random.default_rng(1)
    cell = nplstm.GRUCell(3, 4, bias=bias, dtype="float64", seed=2)
    export_onnx(cell, tmp_path / "cell.onnx")
    x, hx = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    reference = _reference(tmp_path / "cell.onnx")
    assert rel_error(reference.run(["output"], {"input": x, "hx": hx})[0], cell(x, hx)) <= F64
    assert rel_error(reference.run(["output"], {"input": x, "hx": None})[0], cell(x)) <= F64
    cell32 = nplstm.GRUCell(3, 4, bias=bias, seed=2)
    export_onnx(cell32, tmp_path / "cell32.onnx")
    session = _ort(tmp_path / "cell32.onnx")
    x, hx = x.astype(np.float32), hx.astype(np.float32)
    with nplstm.no_grad():
        assert rel_error(session.run(["output"], {"input": x, "hx": hx})[0], cell32(x, hx)) <= F32
        assert rel_error(session.run(["output"], {"input": x})[0], cell32(x)) <= F32
    [imported] = import_onnx(tmp_path / "cell.onnx")     # one GRU node of one step
    assert repr(imported) == f"GRU(3, 4{'' if bias else ', bias=False'}, dtype=float64)"
    for name, value in cell.state_dict().items():
        np.testing.assert_array_equal(imported.state_dict()[name + "_l0"], value)


@onnx_needed
def test_export_then_import_gives_back_every_gru_layer_exactly(tmp_path):
    gru = nplstm.GRU(3, 5, num_layers=3, bidirectional=True, batch_first=True,
                     dtype="float64", seed=7)
    export_onnx(gru, tmp_path / "m.onnx")
    modules = import_onnx(tmp_path / "m.onnx")
    state = gru.state_dict()
    assert len(modules) == 3
    for layer, module in enumerate(modules):
        assert type(module) is nplstm.GRU and module.bidirectional and not module.batch_first
        for name, value in module.state_dict().items():
            np.testing.assert_array_equal(value, state[name.replace("_l0", f"_l{layer}")])


@onnx_needed
def test_export_refuses_what_it_cannot_write_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="batch_first must be None or False for a GRUCell"):
        export_onnx(nplstm.GRUCell(2, 3), tmp_path / "m.onnx", batch_first=True)
    with pytest.raises(UnsupportedModelError, match="not the subclass ReverseGRU"):
        export_onnx(ReverseGRU(2, 3), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="lstm must be an nplstm.LSTM, GRU or GRUCell, got RNN"):
        export_onnx(nplstm.RNN(2, 3), tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


# -- ONNX import: torch's own exports ----------------------------------------------------------

@onnx_needed
@pytest.mark.parametrize("name", ["torch_gru.onnx", "torch_gru_legacy.onnx"])
def test_torchs_onnx_exports_of_a_gru_compute_torchs_outputs(name):
    """Both exporters of torch 2.13: the default (dynamo, weights in NAME.onnx.data) and
    dynamo=False (each layer's zero initial_h an Expand sized by the Shape of the layer's
    input, which is no stored state)."""
    modules = import_onnx(FIXTURES / "onnx" / name)
    assert [repr(m) for m in modules] == ["GRU(8, 16, bidirectional=True, dtype=float32)",
                                          "GRU(32, 16, bidirectional=True, dtype=float32)"]
    with np.load(FIXTURES / "onnx" / "torch_gru.output.npz") as ref:
        x, want, want_h = ref["x"], ref["output"], ref["h_n"]
    h = x.astype(np.float64)
    finals = []
    for module in modules:
        gru = nplstm.GRU(module.input_size, 16, bidirectional=True, dtype="float64")
        gru.load_state_dict({k: v.astype(np.float64) for k, v in module.state_dict().items()})
        h, h_n = gru(h)
        finals.append(h_n)
    assert rel_error(h, want) <= F32 and rel_error(np.concatenate(finals), want_h) <= F32


@onnx_needed
@pytest.mark.torch
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_live_torch_legacy_exports_of_stacked_lstms_and_grus_import(tmp_path, kind):
    """torch.onnx.export(dynamo=False) of 3 bidirectional layers sizes layer l's zero initial
    state by the Shape of layer l−1's output, computed from that layer's stored (nonzero)
    weights: a shape, not a stored state value, so it imports.  (The default exporter's
    files: the torch_gru.onnx fixture above, torch_lstm.onnx in test_interop_onnx_external.)"""
    torch = pytest.importorskip("torch")
    dynamo = False
    torch.manual_seed(6)
    model = getattr(torch.nn, kind)(3, 4, num_layers=3, bidirectional=True).eval()
    x = torch.randn(5, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(tmp_path / "m.onnx"), dynamo=dynamo)
        with torch.no_grad():
            want = model(x)[0].numpy()
    h = x.numpy()
    for module in import_onnx(tmp_path / "m.onnx"):
        assert type(module).__name__ == kind and module.bidirectional
        h = _run(module, h)[0]
    assert rel_error(h, want) <= F32


# -- ONNX import: every input and attribute of the GRU operator --------------------------------

def _gru_model(direction="forward", *, I=3, H=4, bias=True, layout=0, dtype=np.float64,
               seed=0, sequence_lens=False, stored=None, graph_inputs=(), **attrs):
    """A one-node ONNX model: GRU(X, W, R, [B], [sequence_lens], initial_h), weights stored;
    ``stored``: {input name: array} stored in the file instead of fed; returns (model,
    weights)."""
    from onnx import TensorProto, helper, numpy_helper

    D = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(seed)
    weights = {"W": rng.uniform(-1, 1, (D, 3 * H, I)), "R": rng.uniform(-1, 1, (D, 3 * H, H))}
    if bias:
        weights["B"] = rng.uniform(-1, 1, (D, 6 * H))
    weights = {k: v.astype(dtype) for k, v in weights.items()}
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    x_dims = ["B", "T", I] if layout else ["T", "B", I]
    h_dims = ["B", D, H] if layout else [D, "B", H]
    inputs = [helper.make_tensor_value_info("X", elem, x_dims),
              helper.make_tensor_value_info("initial_h", elem, h_dims)]
    if sequence_lens:
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
    inputs += [helper.make_tensor_value_info(n, elem, list(weights[n].shape))
               for n in graph_inputs]
    node_inputs = ["X", "W", "R", "B" if bias else "",
                   "sequence_lens" if sequence_lens else "", "initial_h"]
    attrs.setdefault("linear_before_reset", 1)
    if attrs["linear_before_reset"] is None:
        del attrs["linear_before_reset"]
    node = helper.make_node("GRU", node_inputs, ["Y", "Y_h"], name="gru", direction=direction,
                            hidden_size=H, layout=layout, **attrs)
    y_dims = ["B", "T", D, H] if layout else ["T", D, "B", H]
    outputs = [helper.make_tensor_value_info("Y", elem, y_dims),
               helper.make_tensor_value_info("Y_h", elem, h_dims)]
    inits = [numpy_helper.from_array(v, k) for k, v in weights.items() if k not in graph_inputs]
    for name, value in (stored or {}).items():
        inputs = [i for i in inputs if i.name != name]
        inits.append(numpy_helper.from_array(np.asarray(value), name))
    graph = helper.make_graph([node], "g", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", 17)]
    model = helper.make_model(graph, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets))
    return model, weights


def _save(model, path):
    import onnx

    onnx.save(model, str(path))
    return path


def _module_output(module, x, h0, layout, lengths=None):
    """The module's Y (ONNX's (T, D, B, H), layout 1: (B, T, D, H)) and Y_h."""
    state = None if h0 is None else (np.swapaxes(h0, 0, 1) if layout else h0)
    output, h_n = module(x, np.ascontiguousarray(state) if state is not None else None,
                         lengths=lengths)
    D = 2 if h_n.shape[0] == 2 else 1
    if layout:
        B, T = output.shape[:2]
        return output.reshape(B, T, D, -1), np.swapaxes(h_n, 0, 1)
    T, B = output.shape[:2]
    return output.reshape(T, B, D, -1).transpose(0, 2, 1, 3), h_n


@onnx_needed
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("bias, layout", [(True, 0), (False, 0), (True, 1)])
def test_imported_gru_nodes_match_the_reference_evaluator(tmp_path, direction, bias, layout):
    model, _ = _gru_model(direction, bias=bias, layout=layout,
                          activations=["sigmoid", "TANH"] * (1 + (direction == "bidirectional")),
                          activation_alpha=[0.5], activation_beta=[2.0])
    path = _save(model, tmp_path / "m.onnx")
    [module] = import_onnx(path)
    assert type(module) is (ReverseGRU if direction == "reverse" else nplstm.GRU)
    assert module.batch_first == bool(layout) and module.bias == bias
    D = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 3) if layout else (5, 2, 3))
    h0 = rng.standard_normal((2, D, 4) if layout else (D, 2, 4))
    want = _reference(path).run(["Y", "Y_h"], {"X": x, "initial_h": h0})
    for g, w in zip(_module_output(module, x, h0, layout), want):
        assert rel_error(g, w) <= F64


@onnx_needed
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_sequence_lens_is_lengths_as_onnxruntime_computes_it(tmp_path, direction):
    model, _ = _gru_model(direction, dtype=np.float32, sequence_lens=True)
    path = _save(model, tmp_path / "m.onnx")
    [module] = import_onnx(path)
    D = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5, 3, 3), dtype=np.float32)
    h0 = rng.standard_normal((D, 3, 4), dtype=np.float32)
    lengths = np.array([5, 2, 1], dtype=np.int32)
    Y, Y_h = _ort(path).run(["Y", "Y_h"], {"X": x, "initial_h": h0, "sequence_lens": lengths})
    got, got_h = _module_output(module, x, h0, 0, lengths=lengths)
    valid = np.arange(5)[:, None] < lengths                       # (T, B): ONNX pads with 0
    assert rel_error(got * valid[:, None, :, None], Y) <= F32
    assert rel_error(got_h, Y_h) <= F32


def _refused(tmp_path, model, error, match):
    path = _save(model, tmp_path / "m.onnx")
    with pytest.raises(error, match=match) as info:
        import_onnx(path)
    assert "\n" not in str(info.value) and f"{path}: GRU node 'gru'" in str(info.value)


@onnx_needed
@pytest.mark.parametrize("attrs, error, match", [
    ({"linear_before_reset": 0}, UnsupportedModelError,
     r"linear_before_reset = 0: its reset gate multiplies h before R_h .*torch's GRU is "
     r"linear_before_reset = 1"),
    ({"linear_before_reset": None}, UnsupportedModelError,
     r"linear_before_reset = 0 \(absent: ONNX default\)"),
    ({"clip": 3.0}, UnsupportedModelError, "clips its cell input at ±3.0; torch's GRU has no"),
    ({"activations": ["Sigmoid", "Relu"]}, UnsupportedModelError,
     r"activations \['Sigmoid', 'Relu'\]; torch's GRU is \['Sigmoid', 'Tanh'\]"),
    ({"activations": ["Sigmoid", "Tanh", "Tanh"]}, UnsupportedModelError, "activations"),
    ({"direction": "sideways"}, WeightFileError, "unknown direction 'sideways'"),
    ({"layout": 2}, WeightFileError, "layout = 2, not 0 or 1"),
    ({"hidden_size": 5}, WeightFileError, "hidden_size = 5 but R has H = 4"),
])
def test_gru_attributes_torch_cannot_compute_are_refused_by_name(tmp_path, attrs, error,
                                                                 match):
    direction = attrs.pop("direction", "forward")
    given = {"direction": direction, "layout": attrs.pop("layout", 0),
             "hidden_size": attrs.pop("hidden_size", 4)}
    model, _ = _gru_model(direction if direction != "sideways" else "forward", layout=0, **attrs)
    node = model.graph.node[0]
    from onnx import helper

    for name, value in given.items():
        [a] = [a for a in node.attribute if a.name == name]
        a.CopyFrom(helper.make_attribute(name, value))
    with pytest.MonkeyPatch.context() as patch:    # past the checker, which knows these too
        patch.setattr("onnx.checker.check_model", lambda model: None)
        _refused(tmp_path, model, error, match)


@onnx_needed
def test_a_missing_hidden_size_is_read_from_r_and_an_lstm_attribute_is_refused(tmp_path):
    model, _ = _gru_model()
    node = model.graph.node[0]
    kept = [a for a in node.attribute if a.name != "hidden_size"]
    del node.attribute[:]
    node.attribute.extend(kept)
    [module] = import_onnx(_save(model, tmp_path / "m.onnx"))
    assert module.hidden_size == 4
    from onnx import helper

    node.attribute.append(helper.make_attribute("input_forget", 0))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("onnx.checker.check_model", lambda model: None)
        _refused(tmp_path, model, UnsupportedModelError,
                 r"attribute\(s\) \['input_forget'\], which are not GRU-14's; nplstm reads "
                 "only GRU-7 to GRU-22")


@onnx_needed
def test_gru_inputs_stored_or_fed_are_computed_or_refused_by_name(tmp_path):
    H, D, B = 4, 1, 2
    zero_state, _ = _gru_model(stored={"initial_h": np.zeros((D, B, H))})
    [module] = import_onnx(_save(zero_state, tmp_path / "zero.onnx"))    # the zero start
    assert type(module) is nplstm.GRU
    for model, match in [
            (_gru_model(stored={"initial_h": np.ones((D, B, H))})[0],
             r"its initial_h \('initial_h'\) is stored in the file with nonzero values.*"
             r"the call's state=h0, \(D, B, H\)"),
            (_gru_model(stored={"X": np.ones((5, B, 3))})[0],
             r"its X \('X'\) is stored in the file.*takes it at each call \(x\)"),
            (_gru_model(sequence_lens=True,
                        stored={"sequence_lens": np.array([1, 2], np.int32)})[0],
             r"its sequence_lens .* is stored in the file.*lengths="),
            (_gru_model(graph_inputs=("W",))[0], r"its W \('W'\) is not stored in the file"),
            (_gru_model(graph_inputs=("B",))[0], r"its B \('B'\) is not stored in the file")]:
        _refused(tmp_path, model, UnsupportedModelError, match)
    wrong, weights = _gru_model()
    from onnx import numpy_helper

    [b] = [t for t in wrong.graph.initializer if t.name == "B"]
    b.CopyFrom(numpy_helper.from_array(weights["B"][:, :-1], "B"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("onnx.checker.check_model", lambda model: None)
        _refused(tmp_path, wrong, WeightFileError,
                 r"B must be float64 of shape \(1, 24\) for direction 'forward', got float64 "
                 r"\(1, 23\)")
    half, _ = _gru_model(dtype=np.float16)
    _refused(tmp_path, half, UnsupportedModelError, "stores float16 weights")


# -- compile_onnxruntime -------------------------------------------------------------------------

@onnx_needed
@given(layers=st.integers(1, 2), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), unbatched=st.booleans(), seed=seed)
def test_compiled_gru_matches_the_forward(layers, bidirectional, batch_first, bias, unbatched,
                                          seed):
    pytest.importorskip("onnxruntime")
    gru = nplstm.GRU(3, 4, layers, bias=bias, batch_first=batch_first,
                     bidirectional=bidirectional, seed=seed)
    fast = compile_onnxruntime(gru, threads=1)
    rng = np.random.default_rng(seed)
    rows = layers * gru.num_directions
    x = rng.standard_normal((5, 3) if unbatched else ((3, 5, 3) if batch_first else (5, 3, 3)),
                            dtype=np.float32)
    h0 = rng.standard_normal((rows, 4) if unbatched else (rows, 3, 4), dtype=np.float32)
    lengths = 4 if unbatched else [5, 2, 1]
    for args in ((x,), (x, h0)):
        for kwargs in ({}, {"lengths": lengths}):
            want = _run_lengths(gru, *args, **kwargs)
            got = fast(*args, **kwargs)
            for g, w in zip(got, want):
                assert g.shape == w.shape and rel_error(g, w) <= F32


def _run_lengths(module, x, state=None, lengths=None):
    with nplstm.no_grad():
        return module(x, state, lengths=lengths)


@onnx_needed
def test_compiled_gru_refuses_what_onnxruntime_cannot_run_and_bad_calls_as_the_forward():
    pytest.importorskip("onnxruntime")
    for module, error, match in [
            (nplstm.GRUCell(2, 3), TypeError, "module must be an nplstm.LSTM, GRU or RNN, got "
                                              "GRUCell"),
            (ReverseGRU(2, 3), UnsupportedModelError, "not the subclass ReverseGRU"),
            (nplstm.GRU(2, 3, dtype="float64"), TypeError, "LSTM, GRU and RNN run float32")]:
        with pytest.raises(error, match=match):
            compile_onnxruntime(module)
    gru = nplstm.GRU(3, 4, 2, seed=0)
    fast = compile_onnxruntime(gru)
    assert repr(fast) == "OnnxruntimeGRU(GRU(3, 4, num_layers=2, dtype=float32), threads=None)"
    x = np.zeros((5, 2, 3), np.float32)
    for args in ((x, np.zeros((1, 2, 4), np.float32)), (x, np.zeros((2, 2, 4))),
                 (np.zeros((5, 2, 4), np.float32),)):
        with pytest.raises((TypeError, ValueError)) as expected:
            gru(*args)
        with pytest.raises(type(expected.value)) as got:
            fast(*args)
        assert str(got.value) == str(expected.value)
    with pytest.raises(ValueError, match="x holds NaN or inf"):
        fast(np.full((5, 2, 3), np.nan, np.float32))


# -- Keras -----------------------------------------------------------------------------------

KERAS = FIXTURES / "keras"
keras_needed = pytest.mark.skipif(not __import__("importlib").util.find_spec("h5py"),
                                  reason="Keras files need h5py")


def _keras_reference(name):
    with np.load(KERAS / f"{name}.npz") as z:
        return z["x"], z["y"]


def _chain(state, x, fits):
    """Run the modules ``fits`` (in order) on batch-major x, each loaded from ``state``."""
    for fit in fits:
        module = fit.build(dtype=x.dtype, batch_first=True)
        module.load_state_dict(select(state, fit.prefix) if fit.prefix else state)
        x = _run(module, x)[0]
    return x


@keras_needed
@pytest.mark.parametrize("kind", [".keras", ".weights.h5"])
def test_a_keras_gru_computes_keras_outputs(kind):
    from nplstm.interop.keras import read_keras_weights

    x, y = _keras_reference("gru_single")
    state = read_keras_weights(KERAS / f"gru_single{kind}")
    fits = describe(state)
    assert [str(f) for f in fits] == ["(top level): nplstm.GRU(input_size=3, hidden_size=5)"]
    assert state["bias_hh_l0"].any() and state["weight_ih_l0"].dtype == np.float32
    assert rel_error(_chain(state, x, fits), y) <= F32


@keras_needed
def test_stacked_bidirectional_keras_grus_are_one_gru_in_float64():
    from nplstm.interop.keras import read_keras_weights

    x, y = _keras_reference("gru_stacked_bidir")
    state = read_keras_weights(KERAS / "gru_stacked_bidir.keras")
    fits = describe(state)
    assert [str(f) for f in fits] == ["(top level): nplstm.GRU(input_size=3, hidden_size=4, "
                                      "num_layers=2, bidirectional=True)"]
    assert y.dtype == np.float64 and rel_error(_chain(state, x, fits), y) <= F64
    bare = read_keras_weights(KERAS / "gru_stacked_bidir.weights.h5")   # one per layer
    assert rel_error(_chain(bare, x, describe(bare)), y) <= F64


@keras_needed
@pytest.mark.parametrize("kind", [".keras", ".weights.h5"])
def test_an_lstm_then_a_gru_are_two_prefixed_modules(kind):
    from nplstm.interop.keras import read_keras_weights

    x, y = _keras_reference("gru_mixed")
    state = read_keras_weights(KERAS / f"gru_mixed{kind}")
    fits = {f.prefix: f for f in describe(state)}
    assert str(fits["encoder."]) == "encoder.: nplstm.LSTM(input_size=3, hidden_size=4)"
    assert str(fits["decoder."]) == "decoder.: nplstm.GRU(input_size=4, hidden_size=3, " \
                                    "bias=False)"
    assert rel_error(_chain(state, x, [fits["encoder."], fits["decoder."]]), y) <= F64


@keras_needed
@pytest.mark.parametrize("kind", [".keras", ".weights.h5"])
def test_a_keras_gru_with_reset_after_false_is_refused_by_name(kind):
    from nplstm.interop.keras import read_keras_weights

    with pytest.raises(UnsupportedModelError, match=r"Keras layer 'gru\w*' is a GRU with "
                       r"reset_after=False: its reset gate multiplies h before the recurrent "
                       r"kernel") as info:
        read_keras_weights(KERAS / f"gru_reset_before{kind}")
    assert str(info.value).startswith(str(KERAS / f"gru_reset_before{kind}"))


def _edited(tmp_path, name, edit):
    """A copy of fixture NAME.keras whose config.json went through ``edit(layers)`` (the
    model's layers without the InputLayer)."""
    target = tmp_path / f"{name}_edited.keras"
    with zipfile.ZipFile(KERAS / f"{name}.keras") as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "config.json":
                config = json.loads(data)
                edit([la for la in config["config"]["layers"]
                      if la["class_name"] != "InputLayer"])
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    return target


@keras_needed
@pytest.mark.parametrize("name, edit, error, match", [
    ("gru_single", lambda layers: layers[0]["config"].update(activation="relu"),
     UnsupportedModelError, "activation='relu'; torch's GRU computes with tanh"),
    ("gru_single", lambda layers: layers[0]["config"].update(recurrent_activation="hard_sigmoid"),
     UnsupportedModelError, "recurrent_activation='hard_sigmoid'; torch's GRU"),
    ("gru_single", lambda layers: layers[0]["config"].update(go_backwards=True),
     UnsupportedModelError, "go_backwards=True.*no torch GRU does"),
    ("gru_single", lambda layers: layers[0]["config"].update(reset_after="yes"),
     WeightFileError, "reset_after='yes', not True or False"),
    ("gru_single", lambda layers: layers[0]["config"].update(units=7),
     WeightFileError, "the config says units=7 but its weights have 5 units"),
    ("gru_stacked_bidir", lambda layers: layers[0]["config"].update(merge_mode="sum"),
     UnsupportedModelError, "merges its directions by 'sum'; torch's bidirectional GRU"),
    ("gru_stacked_bidir", lambda layers: layers[0]["config"].update(
        backward_layer=dict(layers[0]["config"]["layer"], class_name="LSTM")),
     UnsupportedModelError, "pairs a forward GRU with a backward 'LSTM'"),
])
def test_keras_gru_settings_torch_cannot_compute_are_refused(tmp_path, name, edit, error,
                                                             match):
    from nplstm.interop.keras import read_keras_weights

    with pytest.raises(error, match=match):
        read_keras_weights(_edited(tmp_path, name, edit))


@keras_needed
def test_a_bare_keras_gru_with_a_bias_of_the_wrong_shape_is_refused(tmp_path):
    import h5py

    from nplstm.interop.keras import read_keras_weights

    path = tmp_path / "bad.weights.h5"
    with h5py.File(path, "w") as f:
        vars_ = f.create_group("layers/gru/cell/vars")
        vars_["0"] = np.zeros((3, 12), np.float32)
        vars_["1"] = np.zeros((4, 12), np.float32)
        vars_["2"] = np.zeros((3, 12), np.float32)
    with pytest.raises(WeightFileError, match=r"bias float32 \(3, 12\) are not a GRU's "
                       r"\(I, 3H\), \(H, 3H\), \(2, 3H\)"):
        read_keras_weights(path)
