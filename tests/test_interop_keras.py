"""Keras 3 weights (nplstm.interop.keras): real Keras files in, torch's names out.

The fixtures in tests/fixtures/interop/keras/ were made by real Keras 3 (torch backend) with
tests/fixtures/interop/make_keras_fixtures.py, which stored each model's output on a fixed
input beside it: that output is the oracle.  Refusals of settings the fixtures do not have
(go_backwards, other activations, merge modes) edit a fixture's config.json, and layouts
Keras would need to be installed for are written with h5py in Keras's documented layout.
"""

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nplstm
from nplstm.interop import describe
from nplstm.interop.file_errors import UnsupportedModelError, WeightFileError
from nplstm.interop.keras import read_keras_weights

from .helpers import rel_error

h5py = pytest.importorskip("h5py", reason="Keras files need h5py (pip install 'nplstm[keras]')")

FIXTURES = Path(__file__).parent / "fixtures" / "interop" / "keras"
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
FILE_KINDS = [".keras", ".weights.h5"]


def _reference(name):
    with np.load(FIXTURES / f"{name}.npz") as z:
        return z["x"], z["y"]


def _run(state, x, **kwargs):
    """nplstm.LSTM built around ``state`` (torch's names) on batch-major x (B, T, I)."""
    H = state["weight_hh_l0"].shape[1]
    layers = 1 + max(int(k.split("_l")[1].split("_")[0]) for k in state)
    lstm = nplstm.LSTM(x.shape[-1], H, layers, batch_first=True, dtype=x.dtype,
                       bias="bias_ih_l0" in state, **kwargs)
    lstm.load_state_dict(state)
    with nplstm.no_grad():
        return lstm(x)[0]


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_one_lstm_layer_equals_keras(kind):
    x, y = _reference("single")
    state = read_keras_weights(FIXTURES / f"single{kind}")
    assert sorted(state) == ["bias_hh_l0", "bias_ih_l0", "weight_hh_l0", "weight_ih_l0"]
    assert not state["bias_hh_l0"].any() and state["bias_ih_l0"].any()
    assert all(v.dtype == np.float32 for v in state.values())
    assert rel_error(_run(state, x), y) <= TOLERANCE[y.dtype]


def test_stacked_bidirectional_layers_are_one_lstm_in_float64():
    x, y = _reference("stacked_bidir")
    state = read_keras_weights(FIXTURES / "stacked_bidir.keras")
    assert "weight_ih_l1_reverse" in state and state["weight_ih_l1"].shape == (16, 8)
    assert y.dtype == np.float64 and state["weight_ih_l0"].dtype == np.float64
    assert rel_error(_run(state, x, bidirectional=True), y) <= TOLERANCE[y.dtype]


def test_stacked_functional_layers_are_one_lstm():
    x, y = _reference("stacked_plain")
    state = read_keras_weights(FIXTURES / "stacked_plain.keras")
    assert sorted(state) == sorted(f"{kind}_l{k}" for k in (0, 1) for kind in
                                   ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    assert rel_error(_run(state, x), y) <= TOLERANCE[y.dtype]


def test_a_bare_weights_file_has_one_prefix_per_layer():
    """Without the config the chain is unknown: each Bidirectional is its own LSTM."""
    x, y = _reference("stacked_bidir")
    state = read_keras_weights(FIXTURES / "stacked_bidir.weights.h5")
    first = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("bidirectional.")}
    second = {k.split(".", 1)[1]: v for k, v in state.items()
              if k.startswith("bidirectional_1.")}
    assert len(first) + len(second) == len(state) == 16
    hidden = _run(first, x, bidirectional=True)
    assert rel_error(_run(second, hidden, bidirectional=True), y) <= TOLERANCE[y.dtype]


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_layers_that_do_not_stack_get_their_keras_names(kind):
    x, y = _reference("two_chains")
    state = read_keras_weights(FIXTURES / f"two_chains{kind}")
    encoder = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    decoder = {k[len("decoder."):]: v for k, v in state.items() if k.startswith("decoder.")}
    assert len(encoder) + len(decoder) == len(state)
    assert "bias_ih_l0" not in encoder            # use_bias=False → bias=False
    assert rel_error(_run(decoder, _run(encoder, x)), y) <= TOLERANCE[y.dtype]


def test_relu_activation_from_keras_is_refused():
    with pytest.raises(UnsupportedModelError, match="activation='relu'.*tanh") as info:
        read_keras_weights(FIXTURES / "relu.keras")
    assert str(info.value).startswith(f"{FIXTURES / 'relu.keras'}: Keras layer 'lstm_3'")


# -- settings, by editing a real file's config --------------------------------------------------

def _edited(tmp_path, name, edit):
    """A copy of fixture NAME.keras whose config.json went through ``edit(config)``."""
    target = tmp_path / f"{name}_edited.keras"
    with zipfile.ZipFile(FIXTURES / f"{name}.keras") as src, \
            zipfile.ZipFile(target, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    return target


def _lstm_config(config, k=0):
    layers = [la for la in config["config"]["layers"] if la["class_name"] != "InputLayer"]
    return layers[k]["config"]


@pytest.mark.parametrize("name, key, value, match", [
    ("single", "recurrent_activation", "hard_sigmoid", "recurrent_activation='hard_sigmoid'"),
    ("single", "activation", {"module": "keras.activations", "class_name": "function",
                              "config": "softsign"}, "activation='softsign'"),
    ("single", "go_backwards", True, "go_backwards=True"),
    ("stacked_bidir", "merge_mode", "sum", "merges its directions by 'sum'"),
])
def test_settings_torch_cannot_compute_are_refused(tmp_path, name, key, value, match):
    path = _edited(tmp_path, name, lambda c: _lstm_config(c).__setitem__(key, value))
    with pytest.raises(UnsupportedModelError, match=match) as info:
        read_keras_weights(path)
    assert str(info.value).startswith(f"{path}: Keras layer '")    # names the file first


def test_settings_that_keep_the_math_are_accepted(tmp_path):
    def edit(config):
        _lstm_config(config).update(unit_forget_bias=False, stateful=True, dropout=0.25,
                                    recurrent_dropout=0.5, unroll=True)
    got = read_keras_weights(_edited(tmp_path, "single", edit))
    want = read_keras_weights(FIXTURES / "single.keras")
    assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want)


# -- layouts written with h5py --------------------------------------------------------------------

def _write_lstm(group, rng, I, H, bias=True):
    cell = group.create_group("cell/vars")
    cell["0"] = rng.uniform(-1, 1, (I, 4 * H))
    cell["1"] = rng.uniform(-1, 1, (H, 4 * H))
    if bias:
        cell["2"] = rng.uniform(-1, 1, 4 * H)
    return cell


def _functional_lstm(name, inbound, units=4, use_bias=True):
    history = [{"class_name": "__keras_tensor__", "config": {"keras_history": [n, 0, 0]}}
               for n in inbound]
    return {"class_name": "LSTM", "config": {"name": name, "units": units, "use_bias": use_bias,
                                             "return_sequences": True},
            "inbound_nodes": [{"args": history, "kwargs": {}}]}


def test_one_output_feeding_two_lstms_is_not_one_chain(tmp_path):
    """a → b and a → c: neither b nor c stacks on a."""
    rng = np.random.default_rng(0)
    h5_path = tmp_path / "model.weights.h5"
    with h5py.File(h5_path, "w") as f:
        a = _write_lstm(f.create_group("layers/lstm"), rng, 3, 4)
        _write_lstm(f.create_group("layers/lstm_1"), rng, 4, 4)
        _write_lstm(f.create_group("layers/lstm_2"), rng, 4, 4, bias=False)
        kernel = a["0"][()]
    config = {"class_name": "Functional", "config": {
        "layers": [{"class_name": "InputLayer", "config": {"name": "x"}},
                   _functional_lstm("a", ["x"]), _functional_lstm("b", ["a"]),
                   _functional_lstm("c", ["a"], use_bias=False)],
        "output_layers": [["b", 0, 0], ["c", 0, 0]]}}
    path = tmp_path / "branch.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.write(h5_path, "model.weights.h5")
    state = read_keras_weights(path)
    assert sorted({k.split(".")[0] for k in state}) == ["a", "b", "c"]
    assert "c.bias_ih_l0" not in state and "b.bias_ih_l0" in state
    np.testing.assert_array_equal(state["a.weight_ih_l0"], kernel.T)


def test_missing_layer_weights_and_no_lstm_are_refused(tmp_path):
    config = {"class_name": "Sequential", "config": {"layers": [
        {"class_name": "LSTM", "config": {"name": "lstm", "return_sequences": True}}]}}
    for h5_content in ({}, {"layers/dense/vars/0": np.ones((2, 2))}):
        path = tmp_path / "m.keras"
        h5_path = tmp_path / "model.weights.h5"
        with h5py.File(h5_path, "w") as f:
            for key, value in h5_content.items():
                f[key] = value
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("config.json", json.dumps(config))
            z.write(h5_path, "model.weights.h5")
        with pytest.raises(WeightFileError, match="LSTM layer 'lstm' .* no layers/lstm/cell"):
            read_keras_weights(path)
        with pytest.raises(WeightFileError, match="holds no Keras LSTM layer"):
            read_keras_weights(h5_path)


def test_a_keras2_file_is_refused_with_advice(tmp_path):
    path = tmp_path / "old.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [b"lstm"]
        f.create_group("lstm")
    with pytest.raises(WeightFileError, match="Keras 2 .*save it as .keras"):
        read_keras_weights(path)


def test_a_missing_h5py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)          # import h5py → ImportError
    with pytest.raises(ImportError, match="pip install 'nplstm\\[keras\\]'"):
        read_keras_weights(FIXTURES / "single.keras")


# -- damaged files -------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["single.keras", "stacked_bidir.weights.h5"])
def test_damaged_files_are_refused_naming_the_file(tmp_path, source):
    data = (FIXTURES / source).read_bytes()
    bad = tmp_path / ("bad" + source[source.index("."):])
    cuts = sorted(set(range(0, len(data), max(1, len(data) // 23))) | {len(data) - 1})
    contents = [data[:cut] for cut in cuts] + [np.random.default_rng(0).bytes(2000)]
    for content in contents:
        bad.write_bytes(content)
        with pytest.raises(WeightFileError, match=bad.name):
            read_keras_weights(bad)
    with pytest.raises(WeightFileError, match="no Keras file at"):
        read_keras_weights(tmp_path / "missing.keras")


def test_a_zip_that_is_not_a_keras_file_is_refused(tmp_path):
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(WeightFileError, match="not a .keras file"):
        read_keras_weights(path)



# -- the config against the weights -------------------------------------------------------------

@pytest.mark.parametrize("key, value, match", [
    ("units", 6, "config says units=6 but its weights have 5 units"),
    ("use_bias", False, "config says use_bias=False but its weights have a bias"),
    ("units", "5", "not an int and a bool"),
])
def test_a_config_that_disagrees_with_the_weights_is_refused(tmp_path, key, value, match):
    path = _edited(tmp_path, "single", lambda c: _lstm_config(c).__setitem__(key, value))
    with pytest.raises(WeightFileError, match=match) as info:
        read_keras_weights(path)
    assert "'lstm'" in str(info.value) and path.name in str(info.value)


def test_a_bidirectional_backward_layer_is_checked_too(tmp_path):
    def edit(config):
        wrapper = _lstm_config(config)
        backward = json.loads(json.dumps(wrapper["layer"]))
        backward["config"].update(units=wrapper["layer"]["config"]["units"] + 1,
                                  go_backwards=True)
        wrapper["backward_layer"] = backward
    with pytest.raises(WeightFileError,
                       match="'bidirectional': the config says units=5 but its weights have 4"):
        read_keras_weights(_edited(tmp_path, "stacked_bidir", edit))


def _keras_file(tmp_path, layers, write_weights, class_name="Sequential"):
    h5_path = tmp_path / "model.weights.h5"
    with h5py.File(h5_path, "w") as f:
        write_weights(f)
    path = tmp_path / "model.keras"
    config = {"class_name": class_name, "config": {"name": "m", "layers": layers}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.write(h5_path, "model.weights.h5")
    return path


def test_a_missing_bias_is_refused_when_the_config_has_use_bias(tmp_path):
    """On main it loaded as bias=False: an LSTM without Keras's bias computes something else."""
    lstm = {"class_name": "LSTM", "config": {"name": "lstm", "units": 4,
                                             "return_sequences": True}}
    rng = np.random.default_rng(0)
    path = _keras_file(tmp_path, [lstm],
                       lambda f: _write_lstm(f.create_group("layers/lstm"), rng, 3, 4, bias=False))
    with pytest.raises(WeightFileError, match="use_bias=True but its weights have no bias"):
        read_keras_weights(path)
    lstm["config"]["use_bias"] = False
    path = _keras_file(tmp_path, [lstm],
                       lambda f: _write_lstm(f.create_group("layers/lstm"), rng, 3, 4, bias=False))
    assert sorted(read_keras_weights(path)) == ["weight_hh_l0", "weight_ih_l0"]


@pytest.mark.parametrize("mask_layer", [
    {"class_name": "Masking", "config": {"name": "pad_mask", "mask_value": 0.0}},
    {"class_name": "Embedding", "config": {"name": "pad_mask", "input_dim": 9, "output_dim": 3,
                                           "mask_zero": True}},
])
def test_a_mask_before_the_lstm_is_refused_by_name(tmp_path, mask_layer):
    """Keras's LSTM keeps its state through masked steps; torch's has no mask."""
    lstm = {"class_name": "LSTM", "config": {"name": "lstm", "units": 4,
                                             "return_sequences": True}}
    rng = np.random.default_rng(0)
    path = _keras_file(tmp_path, [mask_layer, lstm],
                       lambda f: _write_lstm(f.create_group("layers/lstm"), rng, 3, 4))
    with pytest.raises(UnsupportedModelError, match="'pad_mask' masks time steps"):
        read_keras_weights(path)
    nested = {"class_name": "Sequential", "config": {"name": "inner", "layers": [mask_layer]}}
    path = _keras_file(tmp_path, [nested, lstm],
                       lambda f: _write_lstm(f.create_group("layers/lstm"), rng, 3, 4))
    with pytest.raises(UnsupportedModelError, match="'pad_mask' masks time steps"):
        read_keras_weights(path)
    mask_layer["config"]["mask_zero"] = False     # an Embedding without a mask is fine
    if mask_layer["class_name"] == "Embedding":
        assert "weight_ih_l0" in read_keras_weights(_keras_file(
            tmp_path, [mask_layer, lstm],
            lambda f: _write_lstm(f.create_group("layers/lstm"), rng, 3, 4)))


# -- what a mutation of keras_layers changes ------------------------------------------------------

def _write_gru(group, rng, I, H):
    """A Keras GRU's cell (reset_after=True): kernel (I, 3H), recurrent (H, 3H), bias (2, 3H)."""
    cell = group.create_group("cell/vars")
    cell["0"] = rng.uniform(-1, 1, (I, 3 * H))
    cell["1"] = rng.uniform(-1, 1, (H, 3 * H))
    cell["2"] = rng.uniform(-1, 1, (2, 3 * H))
    return cell


def test_a_gru_in_a_bare_weights_file_is_read_as_a_gru_not_an_lstm(tmp_path):
    """Told apart by the shapes: (H, 3H) is a GRU's recurrent kernel, (H, 4H) an LSTM's;
    Keras's z, r, h blocks become torch's r, z, n (tests/test_interop_gru.py checks the
    outputs against Keras's own)."""
    rng = np.random.default_rng(0)
    path = tmp_path / "gru.weights.h5"
    with h5py.File(path, "w") as f:
        gru = _write_gru(f.create_group("layers/gru"), rng, 3, 4)["0"][()]
    state = read_keras_weights(path)
    assert [str(fit) for fit in describe(state)] == [
        "(top level): nplstm.GRU(input_size=3, hidden_size=4)"]
    np.testing.assert_array_equal(state["weight_ih_l0"][4:8], gru[:, :4].T)   # z
    np.testing.assert_array_equal(state["weight_ih_l0"][:4], gru[:, 4:8].T)   # r
    with h5py.File(path, "a") as f:
        kernel = _write_lstm(f.create_group("layers/lstm"), rng, 4, 2)["0"][()]
    state = read_keras_weights(path)       # two layers: prefixed with their names
    assert [str(fit) for fit in describe(state)] == [
        "gru.: nplstm.GRU(input_size=3, hidden_size=4)",
        "lstm.: nplstm.LSTM(input_size=4, hidden_size=2)"]
    np.testing.assert_array_equal(state["lstm.weight_ih_l0"], kernel.T)


@pytest.mark.parametrize("outputs, chains", [
    ([["a", 0, 0], ["b", 0, 0]], ["a", "b"]),     # a is also an output: b cannot stack on it
    ([["b", 0, 0]], None),                        # a feeds only b: one LSTM of two layers
])
def test_output_layers_entries_decide_whether_layers_stack(tmp_path, outputs, chains):
    rng = np.random.default_rng(1)

    def write(f):
        _write_lstm(f.create_group("layers/lstm"), rng, 3, 4)
        _write_lstm(f.create_group("layers/lstm_1"), rng, 4, 4)
    layers = [{"class_name": "InputLayer", "config": {"name": "x"}},
              _functional_lstm("a", ["x"]), _functional_lstm("b", ["a"])]
    path = _keras_file(tmp_path, layers, write, class_name="Functional")
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.weights.h5")
    config["config"]["output_layers"] = outputs
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights)
    state = read_keras_weights(path)
    if chains:
        assert sorted({k.split(".")[0] for k in state}) == chains
    else:
        assert "weight_ih_l1" in state and len(state) == 8
