"""torch files without torch: fixtures made by torch, refusals of unsafe and damaged files,
and (when torch is installed) the same live, plus torch reading the .pt files nplstm writes."""

import os
import pickle
import re
import sys
import types
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm.interop import UnsafeFileError, WeightFileError, WeightFileWarning, select

from .helpers import load_quietly

FIXTURES = Path(__file__).parent / "fixtures" / "interop" / "torch"
LOADABLE = ["lstm", "prefixed", "float16", "views", "checkpoint", "scripted",
            "scripted_lstm", "unsigned"]   # torch.jit.script of an LSTM; _rebuild_tensor_v3


def assert_same_arrays(got: dict, expected: dict):
    """Same names in the same order, same dtypes and shapes, equal bit for bit."""
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype, name
        assert got[name].shape == value.shape, name
        assert got[name].tobytes() == value.tobytes(), name


# -- fixtures made by torch 2.13, read without torch ---------------------------------------------

@pytest.mark.parametrize("name", LOADABLE)
def test_fixture_loads_to_the_arrays_torch_reads(name):
    got = load_quietly(FIXTURES / f"{name}.pt")
    with np.load(FIXTURES / f"{name}.expected.npz") as expected:
        assert_same_arrays(got, {k: expected[k] for k in expected.files})


def test_lstm_loaded_from_a_torch_file_computes_torch_outputs():
    weights = nplstm.load_weights(FIXTURES / "lstm.pt")
    lstm = nplstm.LSTM(**nplstm.interop.infer_lstm_config(weights), dtype="float64")
    lstm.load_state_dict(weights)
    with np.load(FIXTURES / "lstm.output.npz") as ref:
        output, (h_n, c_n) = lstm(ref["x"], (ref["h0"], ref["c0"]))
        for got, name in ((output, "output"), (h_n, "h_n"), (c_n, "c_n")):
            error = np.abs(got - ref[name]).max() / np.abs(ref[name]).max()
            assert error <= 1e-12, (name, error)


def test_float16_and_bfloat16_become_float32_with_a_note():
    with pytest.warns(WeightFileWarning) as notes:
        weights = nplstm.load_weights(FIXTURES / "float16.pt")
    messages = [str(n.message) for n in notes]
    assert any("'weight_ih_l0'" in m and "from float16 to float32" in m for m in messages)
    assert any("'extra.bfloat16' converted from bfloat16 to float32" in m for m in messages)
    assert {a.dtype for a in weights.values()} == {np.dtype(np.float32)}


def test_views_sharing_one_storage_come_out_as_independent_copies():
    weights = nplstm.load_weights(FIXTURES / "views.pt")
    np.testing.assert_array_equal(weights["transposed"], weights["base"].T)
    np.testing.assert_array_equal(weights["slice"], weights["base"][1:3, ::2])
    weights["base"][0, 0] += 1.0
    assert weights["transposed"][0, 0] != weights["base"][0, 0]


def test_a_checkpoint_dict_gives_its_one_state_dict_with_a_note_naming_the_key():
    with pytest.warns(WeightFileWarning, match="key='model'"):
        found = nplstm.load_weights(FIXTURES / "checkpoint.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # an explicit key: no note
        picked = nplstm.load_weights(FIXTURES / "checkpoint.pt", key="model")
    assert_same_arrays(found, picked)


def test_several_state_dicts_are_refused_and_listed_and_key_picks_one():
    with pytest.raises(WeightFileError, match="several state dicts.*'model', 'ema'"):
        nplstm.load_weights(FIXTURES / "two_models.pt")
    got = nplstm.load_weights(FIXTURES / "two_models.pt", key="ema")
    with np.load(FIXTURES / "two_models.expected.npz") as expected:
        assert_same_arrays(got, {k: expected[k] for k in expected.files})
    with pytest.raises(WeightFileError, match="no entry 'nope'.*'model', 'ema', 'step'"):
        nplstm.load_weights(FIXTURES / "two_models.pt", key="nope")
    with pytest.raises(WeightFileError, match="entry 'step' holds a int, not a state dict"):
        nplstm.load_weights(FIXTURES / "two_models.pt", key="step")


def test_a_whole_pickled_model_is_refused_saying_to_save_its_state_dict():
    with pytest.raises(UnsafeFileError, match=r"__main__\.Net.*model\.state_dict\(\)"):
        nplstm.load_weights(FIXTURES / "whole_model.pt")


def test_the_legacy_format_is_refused_saying_to_resave():
    with pytest.raises(WeightFileError, match="legacy.*resave it with a current torch"):
        nplstm.load_weights(FIXTURES / "legacy.pt")


def test_a_prefixed_model_loads_into_nplstm_modules_by_select():
    weights = nplstm.load_weights(FIXTURES / "prefixed.pt")
    lstm = nplstm.LSTM(3, 4)
    lstm.load_state_dict(select(weights, "encoder.rnn."))
    np.testing.assert_array_equal(lstm.weight_hh_l0.data, weights["encoder.rnn.weight_hh_l0"])
    with pytest.raises(ValueError, match=r"weight_ih_l0 must have shape \(20, 3\), got \(16, 3\)"):
        nplstm.LSTM(3, 5).load_state_dict(select(weights, "encoder.rnn."))


# -- hand-made pickles: unsafe, damaged, inconsistent ----------------------------------------------

class _Storage:
    """A storage record to refer to by persistent id (``torch.<kind>`` of ``numel``)."""

    def __init__(self, key, numel, kind="FloatStorage"):
        self.key, self.numel, self.kind = key, numel, kind


class _Tensor:
    """Pickles as torch does: _rebuild_tensor_v2(storage, offset, size, stride, False, {})."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, OrderedDict())

    def __reduce__(self):
        return _FAKE_UTILS._rebuild_tensor_v2, self.args


def _never_called(*args):
    raise AssertionError("only pickled")


_FAKE_TORCH = types.ModuleType("torch")
_FAKE_UTILS = types.ModuleType("torch._utils")
_FAKE_UTILS._rebuild_tensor_v2 = _never_called
_never_called.__module__, _never_called.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
for _kind in ("FloatStorage", "DoubleStorage", "HalfStorage"):
    setattr(_FAKE_TORCH, _kind, type(_kind, (), {"__module__": "torch"}))


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", getattr(_FAKE_TORCH, obj.kind), obj.key, "cpu", obj.numel)
        return None


def torch_pickle(obj) -> bytes:
    """``obj`` pickled as torch.save pickles, without torch (stand-in modules, briefly)."""
    buffer = __import__("io").BytesIO()
    with mock.patch.dict(sys.modules, {"torch": _FAKE_TORCH, "torch._utils": _FAKE_UTILS}):
        _TorchPickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def write_archive(path, pkl: bytes, records=None, extra=None):
    """A torch-style zip: archive/data.pkl, archive/data/<key> for ``records``, others."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pkl)
        for key, data in (records or {}).items():
            archive.writestr(f"archive/data/{key}", data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


class _RunsCode:
    """A pickle whose load would call ``function(*args)``."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


@pytest.mark.parametrize("payload,global_name", [
    (lambda target: _RunsCode(os.system, f"touch {target}"), "posix.system"),
    (lambda target: _RunsCode(open, str(target), "w"), "io.open"),
    (lambda target: _RunsCode(eval, f"open({str(target)!r}, 'w')"), "builtins.eval"),
])
def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path, payload,
                                                                  global_name):
    target = tmp_path / "created_by_the_pickle"
    pkl = pickle.dumps({"w": payload(target)}, protocol=2)
    path = write_archive(tmp_path / "evil.pt", pkl)
    with pytest.raises(UnsafeFileError, match=rf"{global_name}.*nothing was executed"):
        nplstm.load_weights(path)
    assert not target.exists()


def test_a_torchscript_class_name_outside_a_torchscript_archive_is_refused(tmp_path):
    pkl = b"\x80\x02c__torch__\nM\n)\x81."            # NEWOBJ of __torch__.M, no code/ folder
    with pytest.raises(UnsafeFileError, match="__torch__.M"):
        nplstm.load_weights(write_archive(tmp_path / "a.pt", pkl))


@pytest.mark.parametrize("pid", ["a string", ("storage", "FloatStorage", "0", "cpu", 4),
                                 ("module", 1, 2, 3, 4), ("storage",)])
def test_a_persistent_id_nplstm_does_not_understand_is_refused(tmp_path, pid):
    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return pid if isinstance(obj, _Storage) else None

    buffer = __import__("io").BytesIO()
    Pickler(buffer, protocol=2).dump({"w": _Storage("0", 4)})
    path = write_archive(tmp_path / "a.pt", buffer.getvalue(), {"0": bytes(16)})
    with pytest.raises(UnsafeFileError, match="persistent id"):
        nplstm.load_weights(path)


def test_hand_made_pickle_of_a_view_reads_like_numpy_strides(tmp_path):
    storage = _Storage("0", 12)
    data = np.arange(12, dtype=np.float32)
    pkl = torch_pickle(OrderedDict(w=_Tensor(storage, 1, (2, 3), (4, 2))))
    got = nplstm.load_weights(write_archive(tmp_path / "a.pt", pkl, {"0": data.tobytes()}))
    # element [i, j] = storage[1 + 4 i + 2 j]
    np.testing.assert_array_equal(got["w"], [[1, 3, 5], [5, 7, 9]])


@pytest.mark.parametrize("offset,size,stride,numel,nbytes,message", [
    (0, (4, 4), (4, 1), 16, 32, "holds 32 bytes but its header says 16 elements"),
    (1, (4, 4), (4, 1), 16, 64, "reaches element 17 of storage data/0, which holds 16"),
    (0, (5, 4), (4, 1), 16, 64, "storage is too short"),
    (0, (2, 3), (1, 7), 15, 60, "reaches element 16 of storage data/0, which holds 15"),
    (0, (4,), (-1,), 16, 64, "non-negative"),
])
def test_a_tensor_reaching_past_its_storage_is_refused(tmp_path, offset, size, stride, numel,
                                                        nbytes, message):
    pkl = torch_pickle({"w": _Tensor(_Storage("0", numel), offset, size, stride)})
    path = write_archive(tmp_path / "a.pt", pkl, {"0": bytes(nbytes)})
    with pytest.raises(WeightFileError, match=message):
        nplstm.load_weights(path)


def test_a_big_endian_file_is_read_in_native_order(tmp_path):
    values = np.array([1.5, -2.0, 3.25], dtype=">f8")
    pkl = torch_pickle({"w": _Tensor(_Storage("0", 3, "DoubleStorage"), 0, (3,), (1,))})
    path = write_archive(tmp_path / "a.pt", pkl, {"0": values.tobytes()},
                         {"archive/byteorder": b"big"})
    got = nplstm.load_weights(path)["w"]
    assert got.dtype == np.dtype("=f8")
    np.testing.assert_array_equal(got, values)


@pytest.mark.parametrize("pkl,message", [
    (b"\x80\x02ccollections\nOrderedDict\n)RK\x01b.",
     "an OrderedDict is given a state of type int"),
    (b"\x80\x02ctorch._utils\n_rebuild_parameter\nK\x01\x89N\x87R.",
     "a Parameter is rebuilt from int, not a tensor"),
    (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00)))\x89NtR.",
     "a tensor is rebuilt from int, not a storage record"),
])
def test_stand_ins_called_with_the_wrong_things_refuse_naming_the_file(tmp_path, pkl,
                                                                       message):
    with pytest.raises(WeightFileError, match=f"a.pt: {message}"):
        nplstm.load_weights(write_archive(tmp_path / "a.pt", pkl))


def test_a_missing_storage_record_is_refused(tmp_path):
    pkl = torch_pickle({"w": _Tensor(_Storage("7", 4), 0, (4,), (1,))})
    with pytest.raises(WeightFileError, match="storage data/7, which the archive lacks"):
        nplstm.load_weights(write_archive(tmp_path / "a.pt", pkl))


def test_a_zero_stride_view_cannot_make_the_reader_allocate_gigabytes(tmp_path):
    pkl = torch_pickle({"w": _Tensor(_Storage("0", 1), 0, (1 << 28,), (0,))})
    with pytest.raises(WeightFileError, match="refused"):
        nplstm.load_weights(write_archive(tmp_path / "a.pt", pkl, {"0": bytes(4)}))


def test_a_wrong_crc_is_refused(tmp_path):
    pkl = torch_pickle({"w": _Tensor(_Storage("0", 4), 0, (4,), (1,))})
    path = write_archive(tmp_path / "a.pt", pkl, {"0": np.arange(4, dtype="f4").tobytes()})
    raw = bytearray(path.read_bytes())
    raw[raw.index(np.float32(3).tobytes())] ^= 1    # a byte of the storage, CRC unchanged
    path.write_bytes(bytes(raw))
    with pytest.raises(WeightFileError, match="CRC"):
        nplstm.load_weights(path)


_ALLOWED = {("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor"),
            ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor_v3"),
            ("torch._utils", "_rebuild_parameter"),
            ("torch._utils", "_rebuild_parameter_with_state")}
_IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


@given(module=st.one_of(st.sampled_from(["os", "posix", "builtins", "subprocess", "torch",
                                         "torch._utils", "nplstm.io", "shutil", "sys"]),
                        st.lists(_IDENTIFIER, min_size=1, max_size=3).map(".".join)),
       name=st.one_of(st.sampled_from(["system", "eval", "exec", "open", "rmtree", "Popen",
                                       "atomic_write_bytes", "getattr", "__import__"]),
                      _IDENTIFIER),
       opcode=st.sampled_from([b")R", b")\x81", b"(tR", b"}b"]))
def test_any_global_beyond_a_state_dicts_is_refused_by_name(tmp_path_factory, module, name,
                                                             opcode):
    torch_names = {*nplstm.interop.torch_pickle.STORAGE_TYPES,
                   *nplstm.interop.torch_pickle.TORCH_DTYPES}
    if (module, name) in _ALLOWED or (module == "torch" and name in torch_names):
        return
    pkl = b"\x80\x02c" + f"{module}\n{name}\n".encode() + opcode + b"."
    path = write_archive(tmp_path_factory.mktemp("g") / "a.pt", pkl)
    with pytest.raises(UnsafeFileError, match=f"refused the global {re.escape(module)}."
                                              f"{re.escape(name)}:"):
        nplstm.load_weights(path)


@given(body=st.binary(max_size=60))
def test_random_pickle_streams_are_refused_as_weight_file_errors(tmp_path_factory, body):
    path = write_archive(tmp_path_factory.mktemp("p") / "a.pt", b"\x80\x02" + body)
    try:
        got = nplstm.load_weights(path)
    except WeightFileError:
        return
    assert isinstance(got, dict) and all(isinstance(v, np.ndarray) for v in got.values())


_STATE_DICT_PICKLE = zipfile.ZipFile(FIXTURES / "prefixed.pt").read("prefixed/data.pkl")


@given(edits=st.lists(st.tuples(st.integers(0, len(_STATE_DICT_PICKLE) - 1),
                                st.binary(max_size=6), st.integers(0, 6)),
                      min_size=1, max_size=4))
def test_mutated_state_dict_pickles_are_weight_file_errors_or_arrays(tmp_path_factory, edits):
    """A real data.pkl with bytes replaced, inserted, deleted: refused, never another error."""
    pkl = bytearray(_STATE_DICT_PICKLE)
    for position, inserted, deleted in edits:
        pkl[position:position + deleted] = inserted
    path = write_archive(tmp_path_factory.mktemp("m") / "a.pt", bytes(pkl),
                         {str(k): bytes(256) for k in range(7)})
    try:
        got = load_quietly(path)
    except WeightFileError:
        return
    assert all(isinstance(v, np.ndarray) for v in got.values())


@pytest.mark.parametrize("pkl,error,message", [
    (b"\x80\x02r\xff\xff\xff\xff.", WeightFileError, "memo index 4294967295"),   # LONG_BINPUT
    (b"\x80\x02j\xff\xff\xff\x7f.", WeightFileError, "memo index"),               # LONG_BINGET
    (b"\x80\x02\x82\x01.", UnsafeFileError, "opcode EXT1"),
    (b"(ios\nsystem\nS'touch x'\n.", UnsafeFileError, "opcode INST"),
    (b"\x80\x05\x96\x03\x00\x00\x00\x00\x00\x00\x00abc.", UnsafeFileError, "opcode BYTEARRAY8"),
])
def test_opcodes_and_memo_indices_no_state_dict_uses_are_refused_before_unpickling(
        tmp_path, pkl, error, message):
    with pytest.raises(error, match=message):
        nplstm.load_weights(write_archive(tmp_path / "a.pt", pkl))


# -- damaged files: truncation, byte flips ---------------------------------------------------------

def test_every_truncation_of_a_torch_file_is_a_weight_file_error(tmp_path):
    raw = (FIXTURES / "prefixed.pt").read_bytes()
    path = tmp_path / "cut.pt"
    for length in range(0, len(raw), 41):
        path.write_bytes(raw[:length])
        with pytest.raises(WeightFileError, match="cut.pt"):
            nplstm.load_weights(path)


@given(position=st.integers(0, (FIXTURES / "prefixed.pt").stat().st_size - 1),
       flip=st.integers(1, 255))
def test_a_flipped_byte_is_refused_or_changes_nothing(tmp_path_factory, position, flip):
    raw = bytearray((FIXTURES / "prefixed.pt").read_bytes())
    raw[position] ^= flip
    path = tmp_path_factory.mktemp("f") / "flipped.pt"
    path.write_bytes(bytes(raw))
    try:
        got = load_quietly(path)
    except WeightFileError:
        return
    assert_same_arrays(got, load_quietly(FIXTURES / "prefixed.pt"))


# -- .pt written by nplstm -------------------------------------------------------------------------

def test_written_pt_records_are_64_byte_aligned_and_deterministic(tmp_path):
    weights = {"a": np.arange(3, dtype=np.float32), "b": np.ones((2, 5), np.float64),
               "c": np.array(True)}
    nplstm.save_weights(weights, tmp_path / "a.pt")
    nplstm.save_weights(weights, tmp_path / "b.pt")
    raw = (tmp_path / "a.pt").read_bytes()
    assert raw == (tmp_path / "b.pt").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.pt") as archive:
        for info in archive.infolist():
            header = raw[info.header_offset:info.header_offset + 30]
            name_length, extra_length = int.from_bytes(header[26:28], "little"), \
                int.from_bytes(header[28:30], "little")
            assert (info.header_offset + 30 + name_length + extra_length) % 64 == 0
        assert archive.read("archive/byteorder") == b"little"


# -- live against torch ----------------------------------------------------------------------------

@pytest.mark.torch
@pytest.mark.parametrize("layers,bidirectional,proj,bias,dtype,seed", [
    (1, False, 0, True, "float64", 0), (2, True, 3, True, "float64", 1),
    (3, True, 0, False, "float64", 2), (2, False, 2, True, "float32", 3),
    (1, True, 1, False, "float16", 4)])
def test_live_torch_lstm_weights_load_and_compute_the_same(tmp_path, layers, bidirectional,
                                                           proj, bias, dtype, seed):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    model = torch.nn.LSTM(4, 5, num_layers=layers, bidirectional=bidirectional,
                          proj_size=proj, bias=bias).to(getattr(torch, dtype))
    path = tmp_path / "lstm.pt"
    torch.save(model.state_dict(), path)
    weights = load_quietly(path)
    assert_same_arrays(weights, {k: v.float().numpy() if dtype == "float16" else v.numpy()
                                 for k, v in model.state_dict().items()})
    if dtype != "float64":
        return
    lstm = nplstm.LSTM(**nplstm.interop.infer_lstm_config(weights), dtype="float64")
    lstm.load_state_dict(weights)
    x = np.random.default_rng(seed).standard_normal((6, 2, 4))
    with torch.no_grad():
        expected = model(torch.from_numpy(x))[0].numpy()
    error = np.abs(lstm(x)[0] - expected).max() / np.abs(expected).max()
    assert error <= 1e-12


@pytest.mark.torch
def test_live_torch_reads_nplstm_written_pt_bit_for_bit(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    weights = {"f32": rng.standard_normal((3, 4)).astype(np.float32),
               "f64": rng.standard_normal(5), "f16": rng.standard_normal(2).astype(np.float16),
               "i64": rng.integers(-9, 9, (2, 2)), "i32": rng.integers(0, 9, 3).astype("i4"),
               "i16": np.arange(3, dtype="i2"), "i8": np.arange(-2, 2, dtype="i1"),
               "u8": np.arange(4, dtype="u1"), "bool": np.array([True, False]),
               "scalar": np.array(2.5), "empty": np.zeros((0, 3), np.float32),
               "strided": rng.standard_normal((4, 6))[::2, 1::2],
               "big.endian": np.arange(3, dtype=">f8")}
    nplstm.save_weights(weights, tmp_path / "w.pt")
    loaded = torch.load(tmp_path / "w.pt", weights_only=True)
    assert list(loaded) == list(weights)
    for name, value in weights.items():
        back = loaded[name].numpy()
        assert back.dtype == value.dtype.newbyteorder("="), name
        assert back.shape == value.shape, name
        assert back.tobytes() == value.astype(back.dtype).tobytes(), name


@pytest.mark.torch
def test_live_tensors_of_every_kind_torch_saves(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(11)
    base = torch.randn(5, 6, dtype=torch.float64)
    kinds = {"param": torch.nn.Parameter(torch.randn(3)), "base": base, "t": base.t(),
             "slice": base[1:4, ::3], "bf16": torch.randn(4).bfloat16(),
             "f16": torch.randn(2, 2).half(), "i64": torch.arange(6).view(2, 3),
             "u8": torch.arange(4, dtype=torch.uint8), "bool": torch.rand(5) > 0.5,
             "scalar": torch.tensor(2.0), "empty": torch.zeros(0, 3)}
    torch.save({"model": kinds, "step": 4, "lr": 0.1}, tmp_path / "c.pt")
    assert_same_arrays(load_quietly(tmp_path / "c.pt", key="model"),
                       {k: (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v)
                        .detach().numpy() for k, v in kinds.items()})


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_live_torchscript_and_whole_models(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    torch.jit.save(torch.jit.script(model), tmp_path / "s.pt")
    assert_same_arrays(nplstm.load_weights(tmp_path / "s.pt"),
                       {k: v.numpy() for k, v in model.state_dict().items()})
    target = tmp_path / "touched"
    torch.save(model, tmp_path / "whole.pt")
    with pytest.raises(UnsafeFileError, match="torch.nn.modules.container.Sequential"):
        nplstm.load_weights(tmp_path / "whole.pt")
    assert not target.exists()
