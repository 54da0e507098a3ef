"""ONNX external data (nplstm.interop.onnx_import.inline_external_data): the files torch writes by default.

The fixture tests/fixtures/interop/onnx/torch_lstm.onnx (+ .onnx.data) is torch 2.13's
default ``torch.onnx.export`` of nn.LSTM(8, 16) (tests/fixtures/interop/make_onnx_fixtures.py),
beside torch's own outputs on a fixed input: the oracle.  Hostile variants edit its
``external_data`` entries; each must be refused with nplstm's one-line error, and nothing
outside the model's folder may be read.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import nplstm
from nplstm.interop.file_errors import UnsafeFileError, WeightFileError
from nplstm.interop.onnx_import import import_onnx

from .helpers import rel_error

onnx = pytest.importorskip("onnx", reason="ONNX interop needs the onnx package")

FIXTURES = Path(__file__).parent / "fixtures" / "interop" / "onnx"
F32 = 1e-5


def _torch_output():
    with np.load(FIXTURES / "torch_lstm.output.npz") as z:
        return {k: z[k] for k in z.files}


def _check_against_torch(lstm):
    want = _torch_output()
    with nplstm.no_grad():
        output, (h_n, c_n) = lstm(want["x"])
    assert rel_error(output, want["output"]) <= F32
    assert rel_error(h_n, want["h_n"]) <= F32 and rel_error(c_n, want["c_n"]) <= F32


def _copy(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("torch_lstm.onnx", "torch_lstm.onnx.data"):
        shutil.copy(FIXTURES / name, folder / name)
    return folder / "torch_lstm.onnx"


def test_torchs_default_export_imports_and_computes_what_torch_does(tmp_path, monkeypatch):
    """On main: "damaged, truncated or invalid", or a message without the file's name,
    depending on the working directory."""
    monkeypatch.chdir(tmp_path)                 # another folder than the model's
    [lstm] = import_onnx(FIXTURES / "torch_lstm.onnx")
    assert (lstm.input_size, lstm.hidden_size, lstm.dtype) == (8, 16, np.float32)
    _check_against_torch(lstm)


def test_a_relative_model_path_is_resolved_from_the_cwd_and_its_data_from_its_folder(
        tmp_path, monkeypatch):
    _copy(tmp_path / "models")
    decoy = tmp_path / "torch_lstm.onnx.data"            # where a cwd-relative reader looks
    decoy.write_bytes(b"\0" * (FIXTURES / "torch_lstm.onnx.data").stat().st_size)
    monkeypatch.chdir(tmp_path)
    [lstm] = import_onnx(Path("models") / "torch_lstm.onnx")
    _check_against_torch(lstm)


def test_the_export_matches_onnxruntime_run_on_the_same_file(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path = _copy(tmp_path / "m")
    want = _torch_output()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    output, h_n, c_n = session.run(None, {session.get_inputs()[0].name: want["x"]})
    [lstm] = import_onnx(path)
    with nplstm.no_grad():
        got, (got_h, got_c) = lstm(want["x"])
    assert rel_error(got, output) <= F32 and rel_error(got_h, h_n) <= F32
    assert rel_error(got_c, c_n) <= F32


def _edited(tmp_path, edit, name="m"):
    """A copy of the fixture (in tmp_path/name/) whose first external tensor's entries went
    through ``edit(entries: dict) -> dict``."""
    path = _copy(tmp_path / name)
    model = onnx.load_model(str(path), load_external_data=False)
    tensor = next(t for t in model.graph.initializer
                  if t.data_location == onnx.TensorProto.EXTERNAL)
    entries = edit({e.key: e.value for e in tensor.external_data})
    del tensor.external_data[:]
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    path.write_bytes(model.SerializeToString())
    return path


def _refused(path, error, match):
    with pytest.raises(error, match=match) as info:
        import_onnx(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


@pytest.fixture
def outside(tmp_path):
    """A data file outside the model's folder, with the right bytes for the first tensor."""
    target = tmp_path / "outside.data"
    shutil.copy(FIXTURES / "torch_lstm.onnx.data", target)
    return target


def test_an_absolute_location_is_refused(tmp_path, outside):
    path = _edited(tmp_path, lambda e: {**e, "location": str(outside)})
    _refused(path, UnsafeFileError, "is not a path inside the model's folder")


def test_a_location_with_dot_dot_is_refused(tmp_path, outside):
    path = _edited(tmp_path, lambda e: {**e, "location": "../outside.data"})
    _refused(path, UnsafeFileError, "'../outside.data' is not a path inside the model's folder")


def test_a_symlink_leading_out_of_the_folder_is_refused(tmp_path, outside):
    path = _edited(tmp_path, lambda e: {**e, "location": "link.data"})
    os.symlink(outside, path.parent / "link.data")
    _refused(path, UnsafeFileError, "'link.data' leads outside the model's folder")


def test_a_symlink_inside_the_folder_and_a_subfolder_are_read(tmp_path):
    path = _edited(tmp_path, lambda e: {**e, "location": "link.data"})
    os.symlink(path.parent / "torch_lstm.onnx.data", path.parent / "link.data")
    _check_against_torch(import_onnx(path)[0])
    path = _edited(tmp_path, lambda e: {**e, "location": "weights/torch_lstm.onnx.data"}, "s")
    (path.parent / "weights").mkdir()
    shutil.copy(FIXTURES / "torch_lstm.onnx.data", path.parent / "weights")
    _check_against_torch(import_onnx(path)[0])


@pytest.mark.parametrize("edit, error, match", [
    (lambda e: {**e, "location": "missing.data"}, WeightFileError,
     "'missing.data' is missing beside the model"),
    (lambda e: {**e, "location": ""}, UnsafeFileError, "is not a path inside"),
    (lambda e: {**e, "location": "."}, WeightFileError, "is not a file"),
    (lambda e: {**e, "offset": "6000"}, WeightFileError, "past the end of its data file"),
    (lambda e: {**e, "offset": str(2**60)}, WeightFileError, "past the end"),
    (lambda e: {**e, "offset": "9" * 5000}, WeightFileError, "is not a whole number"),
    (lambda e: {**e, "offset": "-8"}, WeightFileError, "offset '-8' is not a whole number"),
    (lambda e: {**e, "length": "16"}, WeightFileError, "is 16 bytes, but its dims"),
    (lambda e: {**e, "length": "x"}, WeightFileError, "length 'x' is not a whole number"),
    (lambda e: {**e, "owner": "me"}, WeightFileError, "unknown or repeated key 'owner'"),
    (lambda e: {k: v for k, v in e.items() if k != "length"}, None, None),   # read: dims
])
def test_damaged_external_references_are_refused(tmp_path, edit, error, match):
    path = _edited(tmp_path, edit)
    if error is None:
        _check_against_torch(import_onnx(path)[0])
    else:
        _refused(path, error, match)


def test_references_overlapping_past_the_files_size_are_refused(tmp_path):
    """Every tensor pointing at the same bytes could make a small data file read many times."""
    path = _copy(tmp_path / "m")
    model = onnx.load_model(str(path), load_external_data=False)
    first = next(t for t in model.graph.initializer
                 if t.data_location == onnx.TensorProto.EXTERNAL)
    for k in range(4):
        copy = model.graph.initializer.add()
        copy.CopyFrom(first)
        copy.name = f"copy{k}"
    path.write_bytes(model.SerializeToString())
    _refused(path, WeightFileError, "total more than its 6656 bytes")


def test_a_tensor_name_is_escaped_in_messages(tmp_path):
    path = _copy(tmp_path / "m")
    model = onnx.load_model(str(path), load_external_data=False)
    tensor = next(t for t in model.graph.initializer
                  if t.data_location == onnx.TensorProto.EXTERNAL)
    for entry in tensor.external_data:
        if entry.key == "location":
            entry.value = "/etc/\x1b[2J\npasswd"
    path.write_bytes(model.SerializeToString())
    message = _refused(path, UnsafeFileError, "not a path inside")
    assert "\x1b" not in message and "\\x1b[2J\\npasswd" in message


def test_an_external_data_entry_that_is_not_utf8_is_refused(tmp_path):
    """protobuf hands a string field that is not UTF-8 back as bytes (found by flipping bytes)."""
    path = _copy(tmp_path / "m")
    raw = path.read_bytes()
    at = raw.index(b"torch_lstm.onnx.data")
    path.write_bytes(raw[:at] + b"\xff" + raw[at + 1:])
    _refused(path, WeightFileError, "is not text")


def test_convert_reads_torchs_export_from_another_cwd(tmp_path, monkeypatch, capsys):
    from nplstm.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["convert", str(FIXTURES / "torch_lstm.onnx"), "lstm.npz"]) in (0, None)
    capsys.readouterr()
    lstm = nplstm.LSTM(8, 16)
    lstm.load_state_dict(nplstm.load_weights("lstm.npz"))
    _check_against_torch(lstm)
