"""The catalogue of hostile files: every case, its format, family and expected outcome.

A ``Case`` builds its file(s) in its own folder (``build(folder, sandbox) -> (path,
expected arrays or None)``) and says what a correct reader does with it:

    expect "arrays"    load, and give ``expected`` when the case has it (written by the case,
                       or by torch/Keras for the fixtures)
           "refused"   nplstm's own one-line error; ``error`` the class it must be (or
                       derive from), ``not_error`` one it must not be, ``mentions`` words
                       its message must contain
           "either"    arrays or a refusal: the case is about time, memory or a crash

Whatever it expects, a case fails when the reader raises a foreign exception, crashes, hangs,
runs out of its memory limit, returns the outside secrets or changes a file outside its own
output (runner.verdict).  ``reproduces`` names the issue-21 defect it reproduced on main
(b10917c), where it failed; every one is fixed, so no case is expected to fail.

Families: valid, bomb, nesting, links, duplicate, offsets, dtype, names.
Formats: pt (torch zip), legacy (torch's pre-zip format), torchscript, safetensors, npz,
onnx, h5 (.weights.h5), keras (.keras).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import builders as b
from .sandbox import KERAS_VARS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "interop"
KERAS_FIXTURES = FIXTURES / "keras"
TORCH_FIXTURES = FIXTURES / "torch"


@dataclass
class Case:
    id: str
    format: str
    family: str
    build: Callable
    expect: str                      # "arrays", "refused" or "either"
    why: str
    error: str | None = None         # the refusal's class must be (or derive from) this
    not_error: str | None = None     # … and must not be this
    mentions: tuple = ()
    call: str = "load"               # "load" (load_weights) or "onnx" (import_onnx)
    cli: bool = False                # also run `nplstm inspect` and `nplstm convert` on it
    reproduces: str | None = None    # "issue 21 item N: …": the defect it showed on main
    cli_expect: dict = field(default_factory=dict)   # {"inspect"/"convert": expect} where a
                                     # CLI run's outcome differs from ``expect``
    memory_mib: int = 256            # what reading it may allocate (runner.MEMORY_MIB)
    seconds: float = 5.0             # how long it may take (runner.CASE_SECONDS)
    path: str | None = field(default=None, init=False)
    size: int = field(default=0, init=False)
    expected: dict | None = field(default=None, init=False)


# -- valid contents -----------------------------------------------------------------------------

def lstm_arrays(dtype="float32", prefix="") -> dict:
    """The weights of LSTM(2, 2) (4H = 8): four arrays of fixed values."""
    rng = np.random.default_rng(21)
    shapes = {"weight_ih_l0": (8, 2), "weight_hh_l0": (8, 2), "bias_ih_l0": (8,),
              "bias_hh_l0": (8,)}
    return {prefix + name: rng.standard_normal(shape).astype(dtype)
            for name, shape in shapes.items()}


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def torch_file(folder, arrays, *, name="model.pt", before=b"", records=None):
    pkl, storages = b.state_dict_pickle(arrays, before=before)
    return write(folder, name, b.zip_bytes(records or b.torch_records(pkl, storages)))


# -- .pt ------------------------------------------------------------------------------------------

def pt_valid(folder, sandbox):
    arrays = lstm_arrays()
    return torch_file(folder, arrays), arrays


def pt_fixture(name):
    def build(folder, sandbox):
        path = shutil.copy(TORCH_FIXTURES / f"{name}.pt", folder / f"{name}.pt")
        expected = TORCH_FIXTURES / f"{name}.expected.npz"
        return Path(path), dict(np.load(expected)) if expected.exists() else None
    return build


def pt_padded_pickle(pairs: int, compression):
    """A state dict whose data.pkl starts with ``pairs`` × (NONE, POP): ``pairs`` × 2
    opcodes a reader must walk in constant memory."""
    def build(folder, sandbox):
        arrays = lstm_arrays()
        pkl, storages = b.state_dict_pickle(arrays, before=b"N0" * pairs)
        records = b.torch_records(pkl, storages)
        records[0] = (records[0][0], pkl, compression)
        return write(folder, "model.pt", b.zip_bytes(records)), arrays
    return build


def pt_deflated_storage(folder, sandbox):
    pkl, _ = b.state_dict_pickle({"w": np.zeros(1 << 22, np.float32)})
    records = b.torch_records(pkl, [bytes(1 << 24)])
    records[3] = (records[3][0], records[3][1], b.DEFLATED)
    return write(folder, "model.pt", b.zip_bytes(records)), None


def pt_forged_size(member):
    def build(folder, sandbox):
        pkl, storages = b.state_dict_pickle(lstm_arrays())
        data = b.zip_bytes(b.torch_records(pkl, storages))
        return write(folder, "model.pt", b.forge_declared_size(data, member, 0x7FFFFFF0)), None
    return build


def pt_tensor(size, stride, *, offset=0, numel=4, record=16, storage="FloatStorage",
              dtype=None, record_data=None):
    """One tensor "w" on storage data/0 with the given geometry."""
    def build(folder, sandbox):
        p = b.Pickle().ordered_dict().op(pickle.MARK).str("w")
        p.tensor("0", storage, numel, offset, size, stride, dtype=dtype).op(pickle.SETITEMS)
        data = record_data if record_data is not None else bytes(record)
        return write(folder, "model.pt", b.zip_bytes(b.torch_records(bytes(p), [data]))), None
    return build


def pt_bfloat16(folder, sandbox):
    values = np.array([1.5, -2.25, 3.0, 0.15625], np.float32)   # exact in bfloat16
    bits = (values.view(np.uint32) >> 16).astype("<u2")
    p = b.Pickle().ordered_dict().op(pickle.MARK).str("w")
    p.tensor("0", "BFloat16Storage", 4, 0, (4,), (1,)).op(pickle.SETITEMS)
    return write(folder, "model.pt", b.zip_bytes(b.torch_records(bytes(p), [bits.tobytes()]))), \
        {"w": values}


def pt_nested_key(depth):
    """A checkpoint dict whose one key is a tuple nested ``depth`` deep: ((((),),),)…"""
    def build(folder, sandbox):
        p = b.Pickle().op(pickle.EMPTY_DICT, pickle.EMPTY_TUPLE)
        p.op(pickle.TUPLE1 * depth).op(pickle.NONE, pickle.SETITEM)
        return write(folder, "model.pt", b.zip_bytes(b.torch_records(bytes(p), []))), None
    return build


def pt_nested_list(depth):
    """A state dict entry whose value is a list nested ``depth`` deep: [[[…]]]."""
    def build(folder, sandbox):
        p = b.Pickle().op(pickle.EMPTY_DICT).str("w")
        p.op(pickle.EMPTY_LIST * (depth + 1), pickle.APPEND * depth, pickle.SETITEM)
        return write(folder, "model.pt", b.zip_bytes(b.torch_records(bytes(p), []))), None
    return build


def pt_duplicate(member):
    """Two records of one name: torch reads the first; the second holds other values."""
    def build(folder, sandbox):
        arrays = lstm_arrays()
        pkl, storages = b.state_dict_pickle(arrays)
        records = b.torch_records(pkl, storages)
        if member == "data/0":
            records.append(("archive/data/0", bytes(len(storages[0])), b.STORED))
        else:
            other, _ = b.state_dict_pickle({name: a for name, a in list(arrays.items())[:1]})
            records.append(("archive/data.pkl", other, b.STORED))
        return write(folder, "model.pt", b.zip_bytes(records)), None
    return build


def pt_names(names, *, shared_storage=False):
    def build(folder, sandbox):
        arrays = {name: np.full((2,), k, np.float32) for k, name in enumerate(names)}
        if not shared_storage:
            return torch_file(folder, arrays), arrays
        # every tensor a 1-element view of one storage: a small file with many names
        p = b.Pickle().ordered_dict().op(pickle.MARK)
        for k, name in enumerate(names):
            p.str(name).tensor("0", "FloatStorage", len(names), k, (1,), (1,))
        p.op(pickle.SETITEMS)
        values = np.arange(len(names), dtype="<f4")
        return write(folder, "model.pt", b.zip_bytes(b.torch_records(
            bytes(p), [values.tobytes()]))), None
    return build


def pt_huge_key(folder, sandbox):
    p = b.Pickle().op(pickle.EMPTY_DICT).str("k" * (2 << 20)).op(pickle.NONE, pickle.SETITEM)
    return write(folder, "model.pt", b.zip_bytes(b.torch_records(bytes(p), []))), None


def pt_long_global(folder, sandbox):
    p = b.Pickle().glob("os" + "x" * (1 << 20), "system")
    return write(folder, "model.pt", b.zip_bytes(b.torch_records(bytes(p), []))), None


def legacy_plain_pickle(folder, sandbox):
    return write(folder, "model.pt", pickle.dumps({"w": [1.0, 2.0]}, protocol=2)), None


# -- TorchScript ---------------------------------------------------------------------------------

def script_records(pkl, storages):
    records = b.torch_records(pkl, storages)
    return records + [("archive/code/__torch__.py", b"class Net(Module):\n  pass\n", b.STORED),
                      ("archive/constants.pkl", b"\x80\x02).", b.STORED)]


def ts_valid(folder, sandbox):
    arrays = lstm_arrays()
    p = b.Pickle().glob("__torch__", "Net").op(pickle.EMPTY_TUPLE, pickle.NEWOBJ,
                                               pickle.EMPTY_DICT, pickle.MARK)
    p.str("training").op(pickle.NEWTRUE).str("rnn")
    p.glob("__torch__.torch.nn.modules.rnn", "LSTM").op(pickle.EMPTY_TUPLE, pickle.NEWOBJ,
                                                        pickle.EMPTY_DICT, pickle.MARK)
    storages = []
    for key, (name, a) in enumerate(arrays.items()):
        p.str(name).tensor(str(key), "FloatStorage", a.size, 0, a.shape,
                           b.contiguous_strides(a.shape))
        storages.append(a.astype("<f4").tobytes())
    p.op(pickle.SETITEMS, pickle.BUILD, pickle.SETITEMS, pickle.BUILD)
    return write(folder, "model.pt", b.zip_bytes(script_records(bytes(p), storages))), \
        {f"rnn.{name}": a for name, a in arrays.items()}


def _ts_named(folder, name):
    """A TorchScript module whose one tensor attribute is called ``name``."""
    p = b.Pickle().glob("__torch__", "M").op(pickle.EMPTY_TUPLE, pickle.NEWOBJ,
                                             pickle.EMPTY_DICT).str(name)
    p.tensor("0", "FloatStorage", 2, 0, (2,), (1,)).op(pickle.SETITEM, pickle.BUILD)
    values = np.array([0.5, -1.0], "<f4")
    return write(folder, "model.pt", b.zip_bytes(script_records(bytes(p), [values.tobytes()]))), \
        {name: values}


def ts_shared_children(depth):
    """Module k has the attributes a and b, both module k−1 (one object, memoized): a
    tree walk visits 2**depth leaves; the file has ``depth`` + 1 objects."""
    def build(folder, sandbox):
        p = b.Pickle().glob("__torch__", "Leaf").op(pickle.EMPTY_TUPLE, pickle.NEWOBJ,
                                                    pickle.EMPTY_DICT).str("w")
        p.tensor("0", "FloatStorage", 1, 0, (1,), (1,)).op(pickle.SETITEM, pickle.BUILD)
        p.op(pickle.BINPUT + b"\x00")
        for k in range(1, depth + 1):
            p.glob("__torch__", f"M{k}").op(pickle.EMPTY_TUPLE, pickle.NEWOBJ,
                                              pickle.EMPTY_DICT, pickle.MARK)
            p.str("a").op(pickle.BINGET + bytes([k - 1])).str("b")
            p.op(pickle.BINGET + bytes([k - 1]), pickle.SETITEMS, pickle.BUILD)
            p.op(pickle.BINPUT + bytes([k]))
        return write(folder, "model.pt", b.zip_bytes(script_records(
            bytes(p), [np.ones(1, "<f4").tobytes()]))), None
    return build


def ts_module_chain(depth):
    """Modules nested ``depth`` deep, written top-down on the pickle stack (no recursion in
    the unpickler; a recursive walk of the result is another matter)."""
    def build(folder, sandbox):
        q = b.Pickle()     # M(), {}, "c", M(), {}, "c", …, Leaf: then SETITEM BUILD each
        for _ in range(depth):
            q.glob("__torch__", "M").op(pickle.EMPTY_TUPLE, pickle.NEWOBJ, pickle.EMPTY_DICT)
            q.str("c")
        q.glob("__torch__", "Leaf").op(pickle.EMPTY_TUPLE, pickle.NEWOBJ, pickle.EMPTY_DICT)
        q.str("w").tensor("0", "FloatStorage", 1, 0, (1,), (1,)).op(pickle.SETITEM,
                                                                     pickle.BUILD)
        q.op((pickle.SETITEM + pickle.BUILD) * depth)
        return write(folder, "model.pt", b.zip_bytes(script_records(
            bytes(q), [np.ones(1, "<f4").tobytes()]))), None
    return build


def ts_broken(edit):
    """The built TorchScript archive with its records changed by ``edit(records)``."""
    def build(folder, sandbox):
        path, _ = ts_valid(folder, sandbox)
        with zipfile.ZipFile(path) as archive:
            records = [(i.filename, archive.read(i.filename), b.STORED)
                       for i in archive.infolist()]
        return write(folder, "model.pt", b.zip_bytes(edit(records))), None
    return build


def ts_code_bomb(folder, sandbox):
    """The built archive plus a code/ record of 400 MB of zeros deflated to 400 KB (the
    reader has no reason to unpack it; the zip rule refuses it all the same)."""
    path, expected = ts_valid(folder, sandbox)
    with zipfile.ZipFile(path) as archive:
        stored = [(i.filename, archive.read(i.filename), 0, i.file_size)
                  for i in archive.infolist()]
    bomb = b.deflated_zeros_record("archive/code/__torch__/bomb.py", b"#", 400 << 20)
    return write(folder, "model.pt", _raw_zip_mixed(stored, [bomb])), expected


def _twin_record(name, data=None):
    def edit(records):
        first = next(r for r in records if r[0] == name)
        return records + [(name, bytes(len(first[1])) if data is None else data, b.STORED)]
    return edit


def _short_record(name, keep):
    def edit(records):
        return [(n, d[:keep] if n == name else d, c) for n, d, c in records]
    return edit


# -- safetensors ---------------------------------------------------------------------------------

def st_valid(folder, sandbox, arrays=None):
    arrays = arrays or lstm_arrays()
    header, data = b.safetensors_of(arrays)
    return write(folder, "model.safetensors", b.safetensors_bytes(header, data)), arrays


def st_edit(edit, data_bytes=None):
    """The valid file with its header dict changed by ``edit(header)``."""
    def build(folder, sandbox):
        header, data = b.safetensors_of(lstm_arrays())
        edit(header)
        return write(folder, "model.safetensors", b.safetensors_bytes(
            header, data if data_bytes is None else data_bytes)), None
    return build


def st_raw(raw_header: bytes, data: bytes = bytes(64)):
    def build(folder, sandbox):
        return write(folder, "model.safetensors", b.safetensors_bytes(raw_header, data)), None
    return build


def st_dtype(dtype, raw: bytes, expected=None):
    def build(folder, sandbox):
        header = {"w": {"dtype": dtype, "shape": [len(raw) // {"BF16": 2, "F8_E4M3": 1,
                                                               "C64": 8}[dtype]],
                        "data_offsets": [0, len(raw)]}}
        return write(folder, "model.safetensors", b.safetensors_bytes(header, raw)), expected
    return build


def st_bfloat16(folder, sandbox):
    values = np.array([1.5, -2.25, 3.0, 0.15625], np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")
    return st_dtype("BF16", bits.tobytes(), {"w": values})(folder, sandbox)


def st_names(names):
    def build(folder, sandbox):
        arrays = {name: np.full((2,), k, np.float32) for k, name in enumerate(names)}
        return st_valid(folder, sandbox, arrays)
    return build


# -- .npz ------------------------------------------------------------------------------------------

def npz_of(members, compression=b.STORED) -> bytes:
    return b.zip_bytes([(name, data, compression) for name, data in members])


def npz_valid(folder, sandbox, arrays=None):
    arrays = arrays or lstm_arrays()
    return write(folder, "model.npz", npz_of(
        [(f"{name}.npy", b.npy_of(a)) for name, a in arrays.items()])), arrays


def npz_member(npy: bytes, expected=None, name="w.npy"):
    def build(folder, sandbox):
        return write(folder, "model.npz", npz_of([(name, npy)])), expected
    return build


def npz_bomb(count):
    """A deflated member declaring ``count`` float64 and holding them (zeros): about
    1000 times smaller than it unpacks to."""
    def build(folder, sandbox):
        header = b.npy_bytes(b.npy_header("<f8", (count,)), b"")
        return write(folder, "model.npz", b.raw_zip(
            [b.deflated_zeros_record("w.npy", header, 8 * count)])), None
    return build


def npz_forged_size(folder, sandbox):
    data = npz_of([("w.npy", b.npy_of(np.ones(4, np.float32)))])
    return write(folder, "model.npz", b.forge_declared_size(data, "w.npy", 0x7FFFFFF0)), None


def npz_duplicate(folder, sandbox):
    return write(folder, "model.npz", npz_of([("w.npy", b.npy_of(np.ones(2, np.float32))),
                                              ("w.npy", b.npy_of(np.zeros(2, np.float32)))])), \
        None


def npz_names(names):
    def build(folder, sandbox):
        return npz_valid(folder, sandbox,
                         {name: np.full((2,), k, np.float32) for k, name in enumerate(names)})
    return build


# -- ONNX -----------------------------------------------------------------------------------------

def onnx_model(kind="LSTM"):
    """(ModelProto, expected state dict "0.<name>") of an exported nplstm LSTM(2, 3) (or
    ``kind`` "GRU": GRU(2, 3), one GRU node)."""
    import tempfile

    import onnx

    import nplstm
    from nplstm.interop import export_onnx

    lstm = getattr(nplstm, kind)(2, 3, seed=5)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "lstm.onnx"
        export_onnx(lstm, path)
        model = onnx.load(str(path))
    return model, {f"0.{name}": np.asarray(v) for name, v in lstm.state_dict().items()}


def onnx_build(edit=None, *, expect_arrays=False, kind="LSTM"):
    """The exported model (an LSTM's, or ``kind``'s), changed by ``edit(model, folder,
    sandbox)``."""
    def build(folder, sandbox):
        model, expected = onnx_model(kind)
        if edit is not None:
            edit(model, folder, sandbox)
        return write(folder, "model.onnx", model.SerializeToString()), \
            expected if expect_arrays else None
    return build


def _weight(model, role="W"):
    node = next(n for n in model.graph.node if n.op_type == "LSTM")
    name = node.input[{"W": 1, "R": 2, "B": 3}[role]]
    return next(t for t in model.graph.initializer if t.name == name)


def external(location, *, offset=0, length=None, write_data=True, link_to=None):
    """W kept in external data at ``location`` (its bytes written there, in the model's
    folder, when ``write_data``; or that name a symlink to ``link_to``)."""
    def edit(model, folder, sandbox):
        import onnx

        tensor = _weight(model)
        raw = onnx.numpy_helper.to_array(tensor).tobytes()
        del tensor.float_data[:]
        tensor.ClearField("raw_data")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        where = location(sandbox) if callable(location) else location
        entries = {"location": str(where), "offset": str(offset),
                   "length": str(length if length is not None else len(raw))}
        for key, value in entries.items():
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
        if link_to is not None:
            os.symlink(link_to(sandbox), folder / where)
        elif write_data:
            (folder / where).write_bytes(bytes(offset) + raw)
    return edit


def onnx_duplicate_initializer(model, folder, sandbox):
    w = _weight(model)
    twin = model.graph.initializer.add()
    twin.CopyFrom(w)
    twin.raw_data = bytes(len(w.raw_data)) if w.raw_data else b""


def onnx_short_raw_data(model, folder, sandbox):
    w = _weight(model)
    import onnx
    data = onnx.numpy_helper.to_array(w)
    del w.float_data[:]
    w.raw_data = data.tobytes()[:8]


def onnx_huge_dims(model, folder, sandbox):
    w = _weight(model)
    del w.dims[:]
    w.dims.extend([1, 1 << 31, 1 << 31])


def onnx_dtype(data_type, itemsize=None):
    """W of another TensorProto data type (14 complex64, 16 bfloat16, 8 string), with
    ``itemsize`` bytes of raw data per element (default: the type's own)."""
    def edit(model, folder, sandbox):
        w = _weight(model)
        shape = list(w.dims)
        del w.float_data[:]
        w.data_type = data_type
        count = int(np.prod(shape))
        w.raw_data = bytes(count * (itemsize or {14: 8, 16: 2, 8: 0}[data_type]))
        if data_type == 8:          # STRING
            w.ClearField("raw_data")
            w.string_data.extend([b"x"] * count)
    return edit


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field: tag, varint length, payload."""
    def varint(n):
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def onnx_deep_subgraphs(depth):
    """One more node, an If whose then-branch graph holds an If … ``depth`` deep, written
    as raw protobuf (onnx itself refuses to serialize it) and merged into the main graph."""
    def build(folder, sandbox):
        model, _ = onnx_model()
        graph = b""
        for _ in range(depth):
            attribute = _field(1, b"then_branch") + b"\xa0\x01\x05" + _field(6, graph)
            node = _field(1, b"cond") + _field(4, b"If") + _field(5, attribute)
            graph = _field(1, node)       # GraphProto.node
        data = model.SerializeToString() + _field(7, graph)   # ModelProto.graph, merged
        return write(folder, "model.onnx", data), None
    return build


def onnx_node_name(name):
    """The LSTM node renamed ``name`` and given a clip (so that it is refused, naming it)."""
    def edit(model, folder, sandbox):
        from onnx import helper

        node = next(n for n in model.graph.node if n.op_type == "LSTM")
        node.name = name
        node.attribute.append(helper.make_attribute("clip", 1.0))
    return edit


def onnx_gru_attribute(name, value):
    """The GRU node's attribute ``name`` set to ``value`` (replaced, or added)."""
    def edit(model, folder, sandbox):
        from onnx import helper

        node = next(n for n in model.graph.node if n.op_type == "GRU")
        kept = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(kept + [helper.make_attribute(name, value)])
    return edit


def onnx_gru_short_bias(model, folder, sandbox):
    """B (1, 6H) cut to (1, 6H − 1), dims and data together."""
    import onnx

    node = next(n for n in model.graph.node if n.op_type == "GRU")
    tensor = next(t for t in model.graph.initializer if t.name == node.input[3])
    tensor.CopyFrom(onnx.numpy_helper.from_array(
        onnx.numpy_helper.to_array(tensor)[:, :-1].copy(), tensor.name))


# -- HDF5 (.weights.h5) and .keras -----------------------------------------------------------------

def h5_from_fixture(edit=None, fixture="single"):
    """The single-LSTM Keras fixture's weights (or ``fixture``'s), changed by ``edit(h5 file,
    folder, sandbox)`` (returns the path of the .weights.h5)."""
    def build(folder, sandbox):
        import h5py

        path = Path(shutil.copy(KERAS_FIXTURES / f"{fixture}.weights.h5",
                                folder / "model.weights.h5"))
        if edit is not None:
            with h5py.File(path, "r+") as f:
                edit(f, folder, sandbox)
        return path, None
    return build


def keras_from_fixture(edit=None, *, config=None, members=None, fixture="single"):
    """single.keras (or ``fixture``.keras) with its model.weights.h5 changed by ``edit`` (as
    h5_from_fixture), its config.json replaced by ``config`` (bytes), or its records by
    ``members(records)``."""
    def build(folder, sandbox):
        with zipfile.ZipFile(KERAS_FIXTURES / f"{fixture}.keras") as archive:
            records = [(i.filename, archive.read(i.filename), b.STORED)
                       for i in archive.infolist()]
        if edit is not None:
            weights, _ = h5_from_fixture(edit, fixture)(folder, sandbox)
            records = [(n, weights.read_bytes() if n == "model.weights.h5" else d, c)
                       for n, d, c in records]
            weights.unlink()
        if config is not None:
            records = [(n, config() if n == "config.json" else d, c) for n, d, c in records]
        if members is not None:
            records = members(records)
        if isinstance(records, bytes):
            return write(folder, "model.keras", records), None
        return write(folder, "model.keras", b.zip_bytes(records)), None
    return build


def h5_external_link(target):
    def edit(f, folder, sandbox):
        import h5py

        del f[KERAS_VARS]
        f[KERAS_VARS] = h5py.ExternalLink(target(sandbox), "/" + KERAS_VARS)
    return edit


def h5_soft_link(f, folder, sandbox):
    import h5py

    f["hidden/kernel"] = np.asarray(f[f"{KERAS_VARS}/0"][()])
    del f[f"{KERAS_VARS}/0"]
    f[f"{KERAS_VARS}/0"] = h5py.SoftLink("/hidden/kernel")


def h5_virtual(f, folder, sandbox):
    import h5py

    layout = h5py.VirtualLayout(shape=(3, 20), dtype="f4")
    layout[:] = h5py.VirtualSource(str(sandbox.outside / "secret.h5"), f"/{KERAS_VARS}/0",
                                   shape=(3, 20))
    del f[f"{KERAS_VARS}/0"]
    f[KERAS_VARS].create_virtual_dataset("0", layout)


def h5_external_storage(target):
    def edit(f, folder, sandbox):
        del f[f"{KERAS_VARS}/0"]
        f[KERAS_VARS].create_dataset("0", shape=(3, 20), dtype="<f4",
                                     external=[(target(sandbox), 0, 240)])
    return edit


def h5_unwritten(f, folder, sandbox):
    """Kernel and recurrent kernel of LSTM(8192) on 3 inputs, chunked, never written: a
    few KB of file that reads as 1 GB of fill value."""
    vars_ = f[KERAS_VARS]
    for name in ("0", "1", "2"):
        del vars_[name]
    H = 8192
    vars_.create_dataset("0", shape=(3, 4 * H), dtype="f4", chunks=(1, 1024))
    vars_.create_dataset("1", shape=(H, 4 * H), dtype="f4", chunks=(64, 1024))
    vars_.create_dataset("2", shape=(4 * H,), dtype="f4", chunks=(1024,))


def h5_deep_groups(depth):
    def edit(f, folder, sandbox):
        group = f
        for _ in range(depth):
            group = group.create_group("g")
    return edit


def h5_dtype(dtype):
    def edit(f, folder, sandbox):
        kernel = f[f"{KERAS_VARS}/0"][()]
        del f[f"{KERAS_VARS}/0"]
        if dtype == "S8":
            f[f"{KERAS_VARS}/0"] = np.full(kernel.shape, b"kernel", "S8")
        else:
            f[f"{KERAS_VARS}/0"] = kernel.astype(dtype)
    return edit


def h5_wrong_shape(f, folder, sandbox):
    del f[f"{KERAS_VARS}/1"]
    f[f"{KERAS_VARS}/1"] = np.zeros((5, 21), "f4")


def config_with_layer_name(name):
    """single.keras's config.json with the LSTM named ``name`` and a relu activation (so
    that it is refused, naming the layer)."""
    def config():
        with zipfile.ZipFile(KERAS_FIXTURES / "single.keras") as archive:
            cfg = json.loads(archive.read("config.json"))
        lstm = next(layer for layer in cfg["config"]["layers"] if layer["class_name"] == "LSTM")
        lstm["config"].update(name=name, activation="relu")
        return json.dumps(cfg).encode()
    return config


def gru_config(**settings):
    """gru_single.keras's config.json with its GRU layer's config updated by ``settings``."""
    def config():
        with zipfile.ZipFile(KERAS_FIXTURES / "gru_single.keras") as archive:
            cfg = json.loads(archive.read("config.json"))
        gru = next(layer for layer in cfg["config"]["layers"] if layer["class_name"] == "GRU")
        gru["config"].update(settings)
        return json.dumps(cfg).encode()
    return config


def h5_gru_reset_before_bias(f, folder, sandbox):
    """The GRU's bias (2, 3H) replaced by a reset_after=False bias (3H,)."""
    del f["layers/gru/cell/vars/2"]
    f["layers/gru/cell/vars/2"] = np.zeros(15, "f4")


def nested_json(depth) -> bytes:
    return b'{"class_name": "Sequential", "config": {"layers": ' + b"[" * depth + \
        b"]" * depth + b"}}"


def deflated_json_bomb(records):
    """config.json replaced by {} and 300 MB of zero bytes: about 300 KB deflated."""
    others = [(n, d, c) for n, d, c in records if n != "config.json"]
    header = b"{}"
    name, data, crc, size = b.deflated_zeros_record("config.json", header, 300 << 20)
    # zeros are not JSON whitespace, but a reader must refuse long before it parses
    stored = [(n, d, 0, len(d)) for n, d, _ in others]
    return _raw_zip_mixed(stored, [(name, data, crc, size)])


def deflated_weights_bomb(records):
    others = [(n, d) for n, d, _ in records if n != "model.weights.h5"]
    name, data, crc, size = b.deflated_zeros_record("model.weights.h5",
                                                    b"\x89HDF\r\n\x1a\n", 400 << 20)
    return _raw_zip_mixed([(n, d, 0, len(d)) for n, d in others], [(name, data, crc, size)])


def _raw_zip_mixed(stored, deflated) -> bytes:
    """A zip of stored records ``[(name, data, _, size)]`` then already deflated ones."""
    import zlib

    members = [(name, data, zlib.crc32(data), size, 0) for name, data, _, size in stored]
    return b.raw_zip(members + list(deflated))


def keras_duplicate(member):
    def members(records):
        first = next(r for r in records if r[0] == member)
        if member == "config.json":
            twin = json.loads(first[1])
            twin["config"]["layers"] = []
            return records + [(member, json.dumps(twin).encode(), b.STORED)]
        return records + [(member, first[1][:len(first[1]) // 2], b.STORED)]
    return members


# -- the catalogue ---------------------------------------------------------------------------------

ANSI_NAMES = ["weight_ih_l0\x1b[2J\x1b[H", "fits:\n  LSTM(2, 2) forged", "bell\x07\r",
              "\u202eright-to-left"]
ITEM1 = "issue 21 item 1: the Keras reader follows HDF5 links and external storage"
ITEM3 = "issue 21 item 3: a duplicate zip record gives the last one"
ITEM5 = "issue 21 item 5: shared TorchScript sub-modules are walked as a tree"
ITEM6 = "issue 21 item 6: no bound on what a member unpacks to"
ITEM7 = "issue 21 item 7: nesting depth is not bounded"
ITEM8 = "issue 21 item 8: names and messages reach the terminal raw and unbounded"
ITEM12 = "issue 21 item 12: ONNX external data in the model's folder is refused"
ITEM13 = "issue 21 item 13: dtypes refused as unsafe, or bfloat16 refused"
NEW = "issue 21 (found by the hostile suite): "


def _outside_h5(sandbox):
    return str(sandbox.outside / "secret.h5")


def _outside_bin(sandbox):
    return str(sandbox.outside / "secret.bin")


def _cases() -> list:
    C = Case
    h5_link_cases = [
        ("external_link", h5_external_link(_outside_h5), "an ExternalLink to another file"),
        ("external_link_relative", h5_external_link(lambda s: "secret.h5"),
         "an ExternalLink resolved against the cwd"),
        ("soft_link", h5_soft_link, "a SoftLink (only hard links are read)"),
        ("virtual_dataset", h5_virtual, "a virtual dataset over another file"),
        ("external_storage", h5_external_storage(_outside_bin),
         "a dataset whose bytes are in another file"),
        ("external_storage_relative", h5_external_storage(lambda s: "secret.bin"),
         "external storage resolved against the cwd"),
    ]
    cases = [
        # .pt ------------------------------------------------------------------------------
        C("valid-state_dict", "pt", "valid", pt_valid, "arrays", "a state dict", cli=True),
        C("valid-torch_lstm", "pt", "valid", pt_fixture("lstm"), "arrays",
          "torch.save of an LSTM (fixture)"),
        C("valid-torch_views", "pt", "valid", pt_fixture("views"), "arrays",
          "tensors sharing a storage (fixture)"),
        C("valid-torch_gru", "pt", "valid", pt_fixture("gru"), "arrays",
          "torch.save of a GRU's state dict (fixture)", cli=True),
        C("valid-whole_gru", "pt", "valid", pt_fixture("whole_gru"), "refused",
          "torch.save of a whole nn.GRU: its class is never imported",
          error="UnsafeFileError", mentions=("torch.nn.modules.rnn.GRU",), cli=True),
        C("bomb-deflated_pickle", "pt", "bomb", pt_padded_pickle(2 << 20, b.DEFLATED),
          "either", "a 4 MB data.pkl deflated to 4 KB", reproduces=ITEM6, memory_mib=64),
        C("bomb-stored_pickle", "pt", "bomb", pt_padded_pickle(1 << 19, b.STORED), "arrays",
          "1 M opcodes (1 MB) before a state dict, walked as a stream", reproduces=ITEM6,
          memory_mib=64, seconds=20),
        C("bomb-deflated_storage", "pt", "bomb", pt_deflated_storage, "refused",
          "a deflated storage record"),
        C("bomb-declared_size_pickle", "pt", "bomb", pt_forged_size("archive/data.pkl"),
          "either", "data.pkl declares 2 GB"),
        C("bomb-declared_size_storage", "pt", "bomb", pt_forged_size("archive/data/0"),
          "either", "a storage declares 2 GB"),
        C("bomb-broadcast_view", "pt", "bomb", pt_tensor((1 << 30,), (0,), numel=1),
          "refused", "a zero-stride view of 2**30 elements over one"),
        C("nesting-tuple_key_20k", "pt", "nesting", pt_nested_key(20_000), "refused",
          "a key nested 20,000 deep", error="WeightFileError", reproduces=ITEM7),
        C("nesting-tuple_key_200k", "pt", "nesting", pt_nested_key(200_000), "refused",
          "a key nested 200,000 deep", error="WeightFileError", reproduces=ITEM7),
        C("nesting-list_value_100k", "pt", "nesting", pt_nested_list(100_000), "refused",
          "a value nested 100,000 deep", error="WeightFileError"),
        C("duplicate-data_record", "pt", "duplicate", pt_duplicate("data/0"), "refused",
          "two data/0 records", mentions=("data/0",), reproduces=ITEM3, cli=True),
        C("duplicate-data_pkl", "pt", "duplicate", pt_duplicate("data.pkl"), "refused",
          "two data.pkl records", mentions=("data.pkl",), reproduces=ITEM3),
        C("offsets-offset_beyond", "pt", "offsets", pt_tensor((4,), (1,), offset=1),
          "refused", "offset + size beyond the storage"),
        C("offsets-size_beyond", "pt", "offsets", pt_tensor((5,), (1,)), "refused",
          "size beyond the storage"),
        C("offsets-negative_stride", "pt", "offsets", pt_tensor((4,), (-1,), offset=3),
          "refused", "a negative stride"),
        C("offsets-negative_offset", "pt", "offsets", pt_tensor((1,), (1,), offset=-1),
          "refused", "a negative offset"),
        C("offsets-numel_beyond_record", "pt", "offsets", pt_tensor((4,), (1,), record=8),
          "refused", "numel beyond the record's bytes"),
        C("offsets-huge_numel", "pt", "offsets", pt_tensor((4,), (1,), numel=1 << 62),
          "refused", "numel 2**62"),
        C("offsets-huge_stride", "pt", "offsets", pt_tensor((2,), (1 << 62,)), "refused",
          "stride 2**62"),
        C("offsets-missing_record", "pt", "offsets",
          lambda f, s: (write(f, "model.pt", b.zip_bytes(b.torch_records(
              bytes(b.Pickle().ordered_dict().op(pickle.MARK).str("w").tensor(
                  "7", "FloatStorage", 1, 0, (1,), (1,)).op(pickle.SETITEMS)), []))), None),
          "refused", "a storage record the archive lacks"),
        C("dtype-complex", "pt", "dtype", pt_tensor((2,), (1,), numel=2,
                                                     storage="ComplexFloatStorage"),
          "refused", "complex64", not_error="UnsafeFileError", mentions=("dtype",),
          reproduces=ITEM13),
        C("dtype-float8", "pt", "dtype", pt_tensor((4,), (1,), numel=4,
                                                   dtype="float8_e4m3fn"),
          "refused", "float8", not_error="UnsafeFileError", mentions=("dtype",),
          reproduces=ITEM13),
        C("dtype-bfloat16", "pt", "dtype", pt_bfloat16, "arrays", "bfloat16 → float32"),
        C("dtype-uint16", "pt", "dtype", pt_tensor((4,), (1,), numel=8, dtype="uint16"),
          "either", "uint16"),
        C("names-ansi", "pt", "names", pt_names(ANSI_NAMES), "arrays",
          "names with escapes load as they are", cli=True),
        C("names-width_bomb", "pt", "names", pt_names(["x" * 100_000] + [f"t{k}" for k in
                                                                           range(3000)],
                                                       shared_storage=True),
          "arrays", "one 100 KB name among 3000", cli=True,
          reproduces=NEW + "`convert` to .npz of a name over 64 KB raised struct.error (a "
          "zip name's length field); it is refused in one line",
          cli_expect={"convert": "refused"}),
        C("names-huge_key", "pt", "names", pt_huge_key, "refused",
          "a 2 MB key in a dict that is not a state dict", reproduces=ITEM8),
        C("names-long_global", "pt", "names", pt_long_global, "refused",
          "a refused global of 1 MB", error="UnsafeFileError", reproduces=ITEM8),
        # torch's legacy format ------------------------------------------------------------
        C("valid-legacy_fixture", "legacy", "valid", pt_fixture("legacy"), "refused",
          "torch's legacy format is refused", error="WeightFileError"),
        C("valid-plain_pickle", "legacy", "valid", legacy_plain_pickle, "refused",
          "a plain pickle is never read", error="WeightFileError"),
        # TorchScript ----------------------------------------------------------------------
        C("valid-traced_fixture", "torchscript", "valid", pt_fixture("scripted"), "arrays",
          "torch.jit.trace (fixture)"),
        C("valid-scripted_gru", "torchscript", "valid", pt_fixture("scripted_gru"), "arrays",
          "torch.jit.script of a GRU, a Linear and a GRUCell (fixture)", cli=True),
        C("valid-built", "torchscript", "valid", ts_valid, "arrays", "a module holding an LSTM",
          cli=True),
        C("nesting-shared_children_24", "torchscript", "nesting", ts_shared_children(24),
          "either", "2**24 paths to one leaf", reproduces=ITEM5),
        C("nesting-module_chain_10k", "torchscript", "nesting", ts_module_chain(10_000),
          "either", "modules nested 10,000 deep"),
        C("dtype-complex", "torchscript", "dtype", lambda f, s: (write(f, "model.pt", b.zip_bytes(
            script_records(bytes(b.Pickle().glob("__torch__", "M").op(
                pickle.EMPTY_TUPLE, pickle.NEWOBJ, pickle.EMPTY_DICT).str("w").tensor(
                "0", "ComplexDoubleStorage", 1, 0, (1,), (1,)).op(pickle.SETITEM,
                                                                   pickle.BUILD)),
                [bytes(16)]))), None),
          "refused", "complex128", not_error="UnsafeFileError", mentions=("dtype",),
          reproduces=ITEM13),
        C("bomb-deflated_code", "torchscript", "bomb", ts_code_bomb, "refused",
          "a 400 MB code/ record deflated to 400 KB: the zip rule refuses it by name (the "
          "reader would never unpack it, but a file's ratio is judged as a whole)",
          mentions=("archive/code/__torch__/bomb.py", "max_ratio")),
        C("duplicate-data_record", "torchscript", "duplicate",
          ts_broken(_twin_record("archive/data/0")), "refused", "two data/0 records",
          mentions=("data/0",), reproduces=ITEM3),
        C("offsets-short_record", "torchscript", "offsets",
          ts_broken(_short_record("archive/data/1", 8)), "refused",
          "a storage record shorter than its tensor"),
        C("names-ansi_attribute", "torchscript", "names",
          lambda f, s: _ts_named(f, ANSI_NAMES[0]), "arrays",
          "an attribute name with escapes", cli=True),
        # safetensors ----------------------------------------------------------------------
        C("valid-state_dict", "safetensors", "valid", st_valid, "arrays", "a state dict",
          cli=True),
        C("offsets-beyond_buffer", "safetensors", "offsets",
          st_edit(lambda h: h["bias_hh_l0"].update(data_offsets=[160, 4000])), "refused",
          "data_offsets past the buffer"),
        C("offsets-overlapping", "safetensors", "offsets",
          st_edit(lambda h: h["bias_hh_l0"].update(data_offsets=h["bias_ih_l0"]
                                                   ["data_offsets"])),
          "refused", "two tensors on the same bytes"),
        C("offsets-reversed", "safetensors", "offsets",
          st_edit(lambda h: h["bias_hh_l0"].update(data_offsets=h["bias_hh_l0"]
                                                   ["data_offsets"][::-1])),
          "refused", "begin after end"),
        C("offsets-shape_mismatch", "safetensors", "offsets",
          st_edit(lambda h: h["bias_hh_l0"].update(shape=[1000])), "refused",
          "a shape larger than its bytes"),
        C("bomb-huge_shape", "safetensors", "bomb",
          st_edit(lambda h: h["bias_hh_l0"].update(shape=[1 << 31, 1 << 31])), "refused",
          "a shape of 2**62 elements"),
        C("bomb-header_length", "safetensors", "bomb",
          lambda f, s: (write(f, "model.safetensors", struct.pack("<Q", 1 << 62) + b"{}"),
                        None), "refused", "a header length of 2**62"),
        C("nesting-metadata_200k", "safetensors", "nesting",
          st_raw(b'{"__metadata__": {"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"),
          "refused", "JSON nested 200,000 deep"),
        C("duplicate-names", "safetensors", "duplicate",
          st_raw(b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, '
                 b'"w": {"dtype": "F32", "shape": [4], "data_offsets": [16, 32]}}', bytes(32)),
          "refused", "one name twice in the header"),
        C("dtype-bfloat16", "safetensors", "dtype", st_bfloat16, "arrays",
          "bfloat16 → float32, as in .pt", reproduces=ITEM13),
        C("dtype-float8", "safetensors", "dtype", st_dtype("F8_E4M3", bytes(4)), "refused",
          "float8", not_error="UnsafeFileError", mentions=("dtype",)),
        C("dtype-complex", "safetensors", "dtype", st_dtype("C64", bytes(16)), "refused",
          "complex64", not_error="UnsafeFileError", mentions=("dtype",)),
        C("names-ansi", "safetensors", "names", st_names(ANSI_NAMES), "arrays",
          "names with escapes load as they are", cli=True),
        # .npz -----------------------------------------------------------------------------
        C("valid-state_dict", "npz", "valid", npz_valid, "arrays", "a state dict", cli=True),
        C("bomb-deflated_400mb", "npz", "bomb", npz_bomb(50 << 20), "either",
          "400 MB of float64 deflated to 400 KB", reproduces=ITEM6),
        C("bomb-declared_size", "npz", "bomb", npz_forged_size, "refused",
          "a member declaring 2 GB"),
        C("offsets-shape_larger", "npz", "offsets",
          npz_member(b.npy_bytes(b.npy_header("<f4", (1000,)), bytes(16))), "refused",
          "a header shape larger than the data"),
        C("offsets-negative_shape", "npz", "offsets",
          npz_member(b.npy_bytes(b.npy_header("<f4", (-4,)), bytes(16))), "refused",
          "a negative shape"),
        C("offsets-overflowing_shape", "npz", "offsets",
          npz_member(b.npy_bytes(b.npy_header("<f8", (1 << 62, 4)), bytes(0))), "refused",
          "a shape whose byte count overflows int64"),
        C("duplicate-members", "npz", "duplicate", npz_duplicate, "refused",
          "two w.npy members", mentions=("w.npy",)),
        C("dtype-object", "npz", "dtype",
          npz_member(b.npy_bytes(b.npy_header("|O", (1,)), pickle.dumps([1], protocol=2))),
          "refused", "a pickled object array"),
        C("dtype-complex", "npz", "dtype", npz_member(b.npy_of(np.ones(2, np.complex64))),
          "refused", "complex64", mentions=("dtype",)),
        C("dtype-string", "npz", "dtype", npz_member(b.npy_of(np.array(["ab", "cd"]))),
          "refused", "strings", mentions=("dtype",)),
        C("dtype-void", "npz", "dtype", npz_member(b.npy_of(np.zeros(2, "V8"))), "refused",
          "raw bytes", mentions=("dtype",)),
        C("dtype-datetime", "npz", "dtype",
          npz_member(b.npy_of(np.zeros(2, "datetime64[s]"))), "refused", "datetime64",
          mentions=("dtype",)),
        C("dtype-float16", "npz", "dtype",
          npz_member(b.npy_of(np.array([1.5, -2.0], np.float16)),
                     {"w": np.array([1.5, -2.0], np.float32)}),
          "arrays", "float16 → float32"),
        C("dtype-big_endian", "npz", "dtype",
          npz_member(b.npy_of(np.array([1.5, -2.0], ">f4")),
                     {"w": np.array([1.5, -2.0], np.float32)}),
          "arrays", "big-endian float32 → native"),
        C("dtype-format_3", "npz", "dtype",
          npz_member(b"\x93NUMPY\x03\x00" + struct.pack("<I", 54) + b" " * 53 + b"\n"),
          "refused", "an .npy of format 3.0"),
        C("names-ansi", "npz", "names", npz_names(ANSI_NAMES), "arrays",
          "names with escapes load as they are", cli=True),
        # ONNX -----------------------------------------------------------------------------
        C("valid-exported", "onnx", "valid", onnx_build(expect_arrays=True), "arrays",
          "an exported LSTM", call="onnx", cli=True),
        C("links-external_in_folder", "onnx", "links",
          onnx_build(external("weights.bin"), expect_arrays=True), "arrays",
          "external data beside the model", call="onnx", reproduces=ITEM12),
        C("links-external_absolute", "onnx", "links", onnx_build(external(_outside_bin)),
          "refused", "external data at an absolute path outside", call="onnx", cli=True),
        C("links-external_dotdot", "onnx", "links",
          onnx_build(external("../../outside/secret.bin", write_data=False)), "refused",
          "external data at ../", call="onnx"),
        C("links-external_symlink", "onnx", "links",
          onnx_build(external("weights.bin", link_to=_outside_bin)), "refused",
          "external data through a symlink out of the folder", call="onnx"),
        C("links-external_cwd_relative", "onnx", "links",
          onnx_build(external("secret.bin", write_data=False)), "refused",
          "external data only the cwd has", call="onnx"),
        C("offsets-external_beyond", "onnx", "offsets",
          onnx_build(external("weights.bin", offset=0, length=1 << 20)), "refused",
          "external data length past the file's end", call="onnx"),
        C("offsets-raw_data_short", "onnx", "offsets", onnx_build(onnx_short_raw_data),
          "refused", "W's raw_data shorter than its dims", call="onnx"),
        C("offsets-raw_data_long", "onnx", "offsets", onnx_build(onnx_dtype(16, 4)),
          "refused", "bfloat16 W with twice the raw_data its dims need", call="onnx",
          reproduces=NEW + "numpy's reshape ValueError escapes import_onnx"),
        C("bomb-huge_dims", "onnx", "bomb", onnx_build(onnx_huge_dims), "refused",
          "W declaring 2**62 elements", call="onnx"),
        C("duplicate-initializers", "onnx", "duplicate",
          onnx_build(onnx_duplicate_initializer), "refused", "two initializers named W",
          call="onnx"),
        C("dtype-double_as_complex", "onnx", "dtype", onnx_build(onnx_dtype(14)), "refused",
          "complex64 weights", call="onnx"),
        C("dtype-bfloat16", "onnx", "dtype", onnx_build(onnx_dtype(16)), "refused",
          "bfloat16 weights", call="onnx"),
        C("dtype-string", "onnx", "dtype", onnx_build(onnx_dtype(8)), "refused",
          "string weights", call="onnx"),
        C("nesting-subgraphs_1000", "onnx", "nesting", onnx_deep_subgraphs(1000),
          "refused", "If subgraphs nested 1000 deep", call="onnx"),
        C("names-node_name_escapes", "onnx", "names",
          onnx_build(onnx_node_name("lstm\n\x1b[2Jfits: forged")), "refused",
          "a refused node whose name holds a newline and escapes", call="onnx", cli=True),
        C("names-node_name_2mb", "onnx", "names", onnx_build(onnx_node_name("n" * (2 << 20))),
          "refused", "a refused node whose name is 2 MB", call="onnx", reproduces=ITEM8),
        C("valid-exported_gru", "onnx", "valid", onnx_build(expect_arrays=True, kind="GRU"),
          "arrays", "an exported GRU", call="onnx", cli=True),
        C("valid-gru_reset_before", "onnx", "valid",
          onnx_build(onnx_gru_attribute("linear_before_reset", 0), kind="GRU"), "refused",
          "a GRU with linear_before_reset = 0", call="onnx", error="UnsupportedModelError",
          mentions=("linear_before_reset",), cli=True),
        C("names-gru_direction_escapes", "onnx", "names",
          onnx_build(onnx_gru_attribute("direction", "back\n\x1b[2J" * 50_000), kind="GRU"),
          "refused", "a GRU whose direction is 450 KB of newlines and escapes", call="onnx",
          cli=True),
        C("dtype-gru_reset_as_float", "onnx", "dtype",
          onnx_build(onnx_gru_attribute("linear_before_reset", 1.0), kind="GRU"), "refused",
          "a GRU's linear_before_reset given as a float", call="onnx"),
        C("offsets-gru_bias_short", "onnx", "offsets",
          onnx_build(onnx_gru_short_bias, kind="GRU"), "refused",
          "a GRU's B one value short", call="onnx"),
        # .weights.h5 ------------------------------------------------------------------------
        C("valid-fixture", "h5", "valid", h5_from_fixture(), "arrays", "Keras's own file",
          cli=True),
        *[C(f"links-{name}", "h5", "links", h5_from_fixture(edit), "refused", why,
            error="UnsafeFileError", reproduces=ITEM1, cli=name == "external_link")
          for name, edit, why in h5_link_cases],
        C("bomb-unwritten_chunks", "h5", "bomb", h5_from_fixture(h5_unwritten), "either",
          "1 GB of datasets never written (a few KB of file)", reproduces=ITEM6),
        C("nesting-groups_3000", "h5", "nesting", h5_from_fixture(h5_deep_groups(3000)),
          "either", "groups nested 3000 deep", reproduces=ITEM7),
        C("offsets-wrong_shape", "h5", "offsets", h5_from_fixture(h5_wrong_shape), "refused",
          "a recurrent kernel of the wrong shape"),
        C("dtype-complex", "h5", "dtype", h5_from_fixture(h5_dtype("c8")), "refused",
          "a complex kernel"),
        C("dtype-string", "h5", "dtype", h5_from_fixture(h5_dtype("S8")), "refused",
          "a kernel of strings"),
        C("dtype-float16", "h5", "dtype", h5_from_fixture(h5_dtype("f2")), "refused",
          "a float16 kernel beside float32 ones"),
        C("valid-gru_fixture", "h5", "valid", h5_from_fixture(fixture="gru_stacked_bidir"),
          "arrays", "Keras's own file of two Bidirectional GRUs", cli=True),
        C("offsets-gru_reset_before_bias", "h5", "offsets",
          h5_from_fixture(h5_gru_reset_before_bias, "gru_single"), "refused",
          "a GRU bias (3H,): reset_after=False", error="UnsupportedModelError",
          mentions=("reset_after",)),
        # .keras -----------------------------------------------------------------------------
        C("valid-fixture", "keras", "valid", keras_from_fixture(), "arrays", "Keras's own file",
          cli=True),
        *[C(f"links-{name}", "keras", "links", keras_from_fixture(edit), "refused", why,
            error="UnsafeFileError", reproduces=ITEM1, cli=name == "external_link_relative")
          for name, edit, why in h5_link_cases],
        C("bomb-deflated_weights", "keras", "bomb",
          keras_from_fixture(members=deflated_weights_bomb), "either",
          "a 400 MB model.weights.h5 deflated to 400 KB", reproduces=ITEM6),
        C("bomb-deflated_config", "keras", "bomb",
          keras_from_fixture(members=deflated_json_bomb), "either",
          "a 300 MB config.json deflated to 300 KB", reproduces=ITEM6),
        C("nesting-config_200k", "keras", "nesting",
          keras_from_fixture(config=lambda: nested_json(200_000)), "refused",
          "config.json nested 200,000 deep", error="WeightFileError", reproduces=ITEM7),
        C("names-layer_name_2mb", "keras", "names",
          keras_from_fixture(config=config_with_layer_name("L" * (2 << 20))), "refused",
          "a refused layer whose name is 2 MB", reproduces=ITEM8),
        C("names-layer_name_escapes", "keras", "names",
          keras_from_fixture(config=config_with_layer_name("lstm\n\x1b[2J")), "refused",
          "a refused layer whose name holds a newline and escapes", cli=True),
        C("dtype-complex", "keras", "dtype", keras_from_fixture(h5_dtype("c8")), "refused",
          "a complex kernel"),
        C("offsets-wrong_shape", "keras", "offsets", keras_from_fixture(h5_wrong_shape),
          "refused", "a recurrent kernel of the wrong shape"),
        C("duplicate-config", "keras", "duplicate",
          keras_from_fixture(members=keras_duplicate("config.json")), "refused",
          "two config.json records", mentions=("config.json",), reproduces=ITEM3),
        C("duplicate-weights", "keras", "duplicate",
          keras_from_fixture(members=keras_duplicate("model.weights.h5")), "refused",
          "two model.weights.h5 records", mentions=("model.weights.h5",), reproduces=ITEM3),
        C("valid-gru_fixture", "keras", "valid", keras_from_fixture(fixture="gru_single"),
          "arrays", "Keras's own GRU file", cli=True),
        C("valid-gru_reset_before", "keras", "valid",
          keras_from_fixture(config=gru_config(reset_after=False), fixture="gru_single"),
          "refused", "a GRU config with reset_after=False", error="UnsupportedModelError",
          mentions=("reset_after=False",), cli=True),
        C("names-gru_bad_config", "keras", "names",
          keras_from_fixture(config=gru_config(reset_after="\x1b[2J\n" * 100_000,
                                               units=[1] * 1000), fixture="gru_single"),
          "refused", "a GRU config whose reset_after is 600 KB of escapes", cli=True),
        C("offsets-gru_wrong_shape", "keras", "offsets",
          keras_from_fixture(h5_gru_reset_before_bias, fixture="gru_single"), "refused",
          "a GRU bias (3H,) under a reset_after=True config", error="UnsupportedModelError"),
    ]
    for case in cases:
        case.id = f"{case.format}-{case.id}"
    return cases


CASES = _cases()
