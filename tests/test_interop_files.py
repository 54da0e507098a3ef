"""load_weights / save_weights by file type, select, describe, and the docs' examples."""

import hashlib
import io
import sys
import types
import zipfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm.interop import (WeightFileError, WeightFileWarning, describe, infer_lstm_config,
                            select)
from nplstm.io import save_checkpoint

from .helpers import ROOT, load_quietly

DOCS = ROOT / "docs" / "interop.md"
WRITABLE = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool"]
_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z0-9_]{1,6}){0,2}", fullmatch=True)


@st.composite
def state_dicts(draw):
    names = draw(st.lists(_NAME, min_size=1, max_size=5, unique=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    result = {}
    for name in names:
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
        dtype = np.dtype(draw(st.sampled_from(WRITABLE)))
        raw = rng.integers(0, 256, size=int(np.prod(shape)) * dtype.itemsize, dtype=np.uint8)
        value = raw.view(dtype).reshape(shape) if dtype.kind != "b" else \
            (raw.reshape(shape) & 1).astype(bool)
        if dtype.kind == "f":          # finite values only: the NaN note is tested apart
            value = np.nan_to_num(value, nan=0.5, posinf=1.0, neginf=-1.0)
        result[name] = value
    return result


def assert_bit_exact(got: dict, written: dict):
    """float16 comes back as float32 (the same values); everything else as written."""
    assert set(got) == set(written)
    for name, value in written.items():
        expected = value.astype(np.float32) if value.dtype == np.float16 else value
        assert got[name].dtype == expected.dtype and got[name].shape == expected.shape, name
        assert got[name].tobytes() == expected.tobytes(), name


# -- round trips ---------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".pt", ".npz", ".safetensors"])
@given(weights=state_dicts())
def test_save_then_load_is_bit_exact(tmp_path_factory, suffix, weights):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors", reason="needs the safetensors extra")
    path = tmp_path_factory.mktemp("rt") / f"w{suffix}"
    nplstm.save_weights(weights, path)
    got = load_quietly(path)
    assert_bit_exact(got, weights)
    if suffix != ".safetensors":      # safetensors keeps its own order
        assert list(got) == list(weights)


def test_save_weights_takes_parameters_and_module_state(tmp_path):
    lstm = nplstm.LSTM(3, 4, num_layers=2, seed=1)
    nplstm.save_weights(dict(lstm.named_parameters()), tmp_path / "p.pt")
    assert_bit_exact(nplstm.load_weights(tmp_path / "p.pt"), lstm.state_dict())


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_save_weights_takes_arrays_of_every_backend(tmp_path, device_backend, suffix):
    lstm = nplstm.LSTM(3, 4, bidirectional=True, seed=2, device=device_backend.device)
    nplstm.save_weights(lstm.state_dict(), tmp_path / f"w{suffix}")
    assert_bit_exact(nplstm.load_weights(tmp_path / f"w{suffix}"),
                     nplstm.LSTM(3, 4, bidirectional=True, seed=2).state_dict())


def test_an_nplstm_checkpoint_gives_its_model(tmp_path):
    model = nplstm.LSTM(2, 3, seed=0).state_dict()
    save_checkpoint(tmp_path / "c.npz", step=7, model=model, state={"h": np.ones(3)})
    assert_bit_exact(nplstm.load_weights(tmp_path / "c.npz"), model)


def test_a_torch_file_is_found_by_its_content_not_its_name(tmp_path):
    weights = {"w": np.arange(4.0)}
    nplstm.save_weights(weights, tmp_path / "w.pt")
    (tmp_path / "w.pt").rename(tmp_path / "pytorch_model.bin")
    assert_bit_exact(nplstm.load_weights(tmp_path / "pytorch_model.bin"), weights)


@pytest.mark.parametrize("suffix", [".pt", ".npz", ".safetensors"])
def test_nan_weights_load_with_a_note_naming_them(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors", reason="needs the safetensors extra")
    weights = {"good": np.ones(3), "poisoned": np.array([1.0, np.nan, 2.0])}
    nplstm.save_weights(weights, tmp_path / f"w{suffix}")
    with pytest.warns(WeightFileWarning, match="'poisoned' hold NaN or inf"):
        got = nplstm.load_weights(tmp_path / f"w{suffix}")
    assert np.isnan(got["poisoned"][1]) and got["poisoned"][2] == 2.0


# -- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    (b"", "not a weight file nplstm reads"),
    (b"hello, these are not weights\n" * 3, "not a weight file nplstm reads"),
    (b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94.", "a plain pickle, which nplstm "
     "never reads"),
])
def test_foreign_files_are_refused_naming_the_file(tmp_path, content, message):
    path = tmp_path / "weights.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightFileError, match=f"weights.pt.*{message}"):
        nplstm.load_weights(path)


def test_an_onnx_file_is_refused_saying_how_to_read_it(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"\x08\x07\x12\x04onnx")
    with pytest.raises(WeightFileError, match="m.onnx: .*import_onnx, or `nplstm convert`"):
        nplstm.load_weights(tmp_path / "m.onnx")


def test_a_zip_of_something_else_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.writestr("readme.txt", "hi")
    with pytest.raises(WeightFileError, match="a.zip: a zip archive that is not"):
        nplstm.load_weights(tmp_path / "a.zip")


def test_npz_with_pickled_or_text_arrays_is_refused(tmp_path):
    np.savez(tmp_path / "o.npz", w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(WeightFileError, match="o.npz"):
        nplstm.load_weights(tmp_path / "o.npz")
    np.savez(tmp_path / "s.npz", w=np.array(["text"]))
    with pytest.raises(WeightFileError, match="s.npz: 'w' has dtype <U4: unsupported dtype"):
        nplstm.load_weights(tmp_path / "s.npz")


def test_key_applies_to_torch_checkpoints_only(tmp_path):
    nplstm.save_weights({"w": np.ones(2)}, tmp_path / "w.npz")
    with pytest.raises(WeightFileError, match="key='model' picks an entry of a torch"):
        nplstm.load_weights(tmp_path / "w.npz", key="model")
    with pytest.raises(TypeError, match="key must be a str or None, got int"):
        nplstm.load_weights(tmp_path / "w.npz", key=3)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_every_truncation_is_a_weight_file_error(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors", reason="needs the safetensors extra")
    nplstm.save_weights({"a": np.arange(20.0), "b": np.ones((3, 4), np.float32)},
                        tmp_path / f"w{suffix}")
    raw = (tmp_path / f"w{suffix}").read_bytes()
    cut = tmp_path / f"cut{suffix}"
    for length in range(0, len(raw), 23):
        cut.write_bytes(raw[:length])
        with pytest.raises(WeightFileError, match=f"cut{suffix}"):
            nplstm.load_weights(cut)


@given(position=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_a_flipped_byte_in_an_npz_is_refused_or_changes_nothing(tmp_path_factory, position,
                                                                flip):
    weights = {"a": np.arange(20.0), "b": np.ones((3, 4), np.float32)}
    folder = tmp_path_factory.mktemp("flip")
    nplstm.save_weights(weights, folder / "w.npz")
    raw = bytearray((folder / "w.npz").read_bytes())
    raw[position % len(raw)] ^= flip
    (folder / "w.npz").write_bytes(bytes(raw))
    try:
        got = load_quietly(folder / "w.npz")
    except WeightFileError:
        return
    assert_bit_exact(got, weights)


@given(position=st.integers(0, 10_000), flip=st.integers(1, 255))
def test_a_flipped_byte_in_safetensors_is_refused_or_reads_as_arrays(tmp_path_factory,
                                                                     position, flip):
    """safetensors has no checksum: a flip may give other values, but never another error."""
    pytest.importorskip("safetensors", reason="needs the safetensors extra")
    folder = tmp_path_factory.mktemp("flip")
    nplstm.save_weights({"a": np.arange(20.0), "b": np.ones((3, 4), np.float32)},
                        folder / "w.safetensors")
    raw = bytearray((folder / "w.safetensors").read_bytes())
    raw[position % len(raw)] ^= flip
    (folder / "w.safetensors").write_bytes(bytes(raw))
    try:
        got = load_quietly(folder / "w.safetensors")
    except WeightFileError:
        return
    assert all(isinstance(v, np.ndarray) for v in got.values())


def test_a_directory_is_not_a_weight_file(tmp_path):
    with pytest.raises(WeightFileError, match="a directory, not a weight file"):
        nplstm.load_weights(tmp_path)


@pytest.mark.parametrize("state_dict,path,error,message", [
    ([np.ones(2)], "w.pt", TypeError, "state_dict must be a mapping.*got list"),
    ({1: np.ones(2)}, "w.pt", TypeError, "names must be str, got int 1"),
    ({"w": [1.0, 2.0]}, "w.pt", TypeError, r"state_dict\['w'\] must be an array.*got list"),
    ({"w": np.ones(2, complex)}, "w.npz", TypeError, r"state_dict\['w'\] has dtype complex128"),
    ({"w": np.ones(2)}, "w.onnx", ValueError, "path must end in .pt.*got.*w.onnx.*convert"),
    ({"w": np.ones(2)}, "w.txt", ValueError, "path must end in"),
    # a zip record name's length is 16 bits: zipfile raised struct.error (issue 21's suite)
    ({"x" * 65_532: np.ones(2)}, "w.npz", ValueError,
     r"state_dict key 'xxx.*\(65532 characters\)' is 65536 bytes as an \.npz record name, "
     "beyond the zip format's 65535; write .safetensors or .pt instead"),
    ({"\ud800": np.ones(2)}, "w.npz", ValueError, r"key '\\ud800' cannot be written to \.npz"),
])
def test_save_weights_refuses_bad_input_and_leaves_the_file_alone(tmp_path, state_dict, path,
                                                                   error, message):
    target = tmp_path / path
    target.write_bytes(b"the old file")
    with pytest.raises(error, match=message):
        nplstm.save_weights(state_dict, target)
    assert target.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path]


def test_a_write_failing_midway_leaves_the_old_file(tmp_path, monkeypatch):
    nplstm.save_weights({"w": np.ones(3)}, tmp_path / "w.pt")
    before = hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest()

    def fail_midway(file, arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(nplstm.interop.files, "write_torch_zip", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        nplstm.save_weights({"w": np.zeros(3)}, tmp_path / "w.pt")
    assert hashlib.sha256((tmp_path / "w.pt").read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]


def test_a_missing_safetensors_package_says_what_to_install(tmp_path, monkeypatch):
    pytest.importorskip("safetensors", reason="needs the safetensors extra")
    nplstm.save_weights({"w": np.ones(2)}, tmp_path / "w.safetensors")
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)     # import fails
    for call in (lambda: nplstm.load_weights(tmp_path / "w.safetensors"),
                 lambda: nplstm.save_weights({"w": np.ones(2)}, tmp_path / "v.safetensors")):
        with pytest.raises(ImportError, match=r"pip install 'nplstm\[safetensors\]'"):
            call()


def test_keras_files_go_to_the_keras_reader(tmp_path, monkeypatch):
    path = tmp_path / "model.weights.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    seen = []
    fake = types.ModuleType("nplstm.interop.keras")
    fake.read_keras_weights = (lambda p, *, max_ratio: seen.append((p, max_ratio))
                               or {"weight_ih_l0": np.ones((8, 2))})
    monkeypatch.setitem(sys.modules, "nplstm.interop.keras", fake)
    assert list(nplstm.load_weights(path)) == ["weight_ih_l0"] and seen == [(path, 100)]
    nplstm.load_weights(path, max_ratio=None)
    assert seen[-1] == (path, None)


# -- select --------------------------------------------------------------------------------------

def test_select_strips_the_prefix_and_keeps_the_order():
    sd = {"encoder.rnn.weight_ih_l0": 1, "encoder.rnn.bias_ih_l0": 2, "decoder.weight": 3}
    assert select(sd, "encoder.rnn.") == {"weight_ih_l0": 1, "bias_ih_l0": 2}
    assert list(select(sd, "encoder.rnn")) == ["weight_ih_l0", "bias_ih_l0"]
    assert select(sd, "") == sd


def test_select_without_a_match_lists_the_prefixes():
    sd = {"encoder.rnn.weight_ih_l0": 1, "decoder.weight": 3}
    with pytest.raises(ValueError, match=r"'encoder.lstm.'; its prefixes are \['decoder.', "
                                         r"'encoder.', 'encoder.rnn.'\]"):
        select(sd, "encoder.lstm.")
    with pytest.raises(ValueError, match="'decoder.weight' is a whole name"):
        select(sd, "decoder.weight")
    with pytest.raises(TypeError, match="prefix must be a str"):
        select(sd, 3)


# -- describe ------------------------------------------------------------------------------------

def test_describe_names_the_module_each_group_fits():
    model = {}
    for prefix, module in [("encoder.rnn.", nplstm.LSTM(10, 20, num_layers=2,
                                                        bidirectional=True, proj_size=5)),
                           ("decoder.", nplstm.Linear(20, 7)),
                           ("emb.", nplstm.Embedding(100, 32)),
                           ("cell.", nplstm.LSTMCell(3, 4, bias=False)),
                           ("head.", nplstm.Linear(4, 2, bias=False)),
                           ("back.", nplstm.interop.ReverseLSTM(3, 2, bias=False))]:
        model.update({prefix + k: v for k, v in module.state_dict().items()})
    model["scale"] = np.ones(3)
    assert [str(fit) for fit in describe(model)] == [
        "encoder.rnn.: nplstm.LSTM(input_size=10, hidden_size=20, num_layers=2, "
        "bidirectional=True, proj_size=5)",
        "decoder.: nplstm.Linear(20, 7)",
        "emb.: nplstm.Embedding(100, 32)",
        "cell.: nplstm.LSTMCell(3, 4, bias=False)",
        "head.: nplstm.Linear(4, 2, bias=False)",
        "back.: nplstm.interop.ReverseLSTM(3, 2, bias=False)",
        "(top level): no nplstm module fits (scale)"]


@given(input_size=st.integers(1, 5), hidden_size=st.integers(2, 5),
       num_layers=st.integers(1, 3), bias=st.booleans(), bidirectional=st.booleans(),
       proj=st.integers(0, 4))
def test_infer_lstm_config_rebuilds_the_lstm(input_size, hidden_size, num_layers, bias,
                                             bidirectional, proj):
    proj_size = proj % hidden_size
    lstm = nplstm.LSTM(input_size, hidden_size, num_layers, bias=bias,
                       bidirectional=bidirectional, proj_size=proj_size, seed=0)
    sd = {f"rnn.{k}": v for k, v in lstm.state_dict().items()}
    config = infer_lstm_config(sd, "rnn.")
    rebuilt = nplstm.LSTM(**config)
    assert (rebuilt.input_size, rebuilt.hidden_size, rebuilt.num_layers, rebuilt.bias,
            rebuilt.bidirectional, rebuilt.proj_size) == (input_size, hidden_size, num_layers,
                                                          bias, bidirectional, proj_size)
    rebuilt.load_state_dict(select(sd, "rnn."))


def test_infer_lstm_config_refuses_what_is_not_one_lstm():
    sd = nplstm.LSTM(3, 4, num_layers=2).state_dict()
    del sd["weight_hh_l1"]
    with pytest.raises(ValueError, match="not one nplstm.LSTM's"):
        infer_lstm_config(sd)


def test_npz_members_are_read_by_their_exact_names(tmp_path):
    """numpy's NpzFile finds member a.npy for the key "a.npy" even where that key's member
    is a.npy.npy: a silent wrong array.  load_weights reads every member by its own name."""
    path = tmp_path / "ab.npz"
    nplstm.save_weights({"a": np.zeros(2, np.float32), "a.npy": np.ones(2, np.float32)}, path)
    loaded = nplstm.load_weights(path)
    np.testing.assert_array_equal(loaded["a"], np.zeros(2, np.float32))
    np.testing.assert_array_equal(loaded["a.npy"], np.ones(2, np.float32))


def test_an_npz_member_declaring_more_bytes_than_it_holds_is_refused(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (10**12,)})
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.npy", header.getvalue() + b"\0" * 16)
    with pytest.raises(WeightFileError, match="declares shape"):
        nplstm.load_weights(path)
