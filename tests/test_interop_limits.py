"""Hostile torch / zip / .npz / safetensors files: a reader reads only its file, in bounded
time and memory, with bounded nesting, and gives torch's answer or one line of its own.

Every hostile file is made here by hand (zipfile, raw pickle opcodes).  Time and memory are
checked in a child process (a timeout; ``RLIMIT_AS`` a little above what the child uses after
importing nplstm), never by a timing assertion.
"""

import io
import json
import math
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm.interop import UnsafeFileError, WeightFileError, WeightFileWarning
from nplstm.interop.opcode_walk import MAX_NESTING, check_opcodes
from nplstm.interop.torch_zip import MAX_MODULE_DEPTH, write_torch_zip
from nplstm.io import CheckpointError, load_checkpoint, save_checkpoint
from nplstm.io.zip_limits import DEFAULT_MAX_RATIO, RATIO_SLACK

from .helpers import ROOT, load_quietly

FIXTURES = Path(__file__).parent / "fixtures" / "interop" / "torch"


# -- making files by hand -------------------------------------------------------------------------

def op_str(text: str) -> bytes:
    data = text.encode("utf-8")
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def op_int(value: int) -> bytes:
    return pickle.BININT + struct.pack("<i", value)


def op_global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def op_tuple(*parts: bytes) -> bytes:
    return pickle.MARK + b"".join(parts) + pickle.TUPLE


def op_tensor_v2(key: str, numel: int, shape, storage="FloatStorage") -> bytes:
    """_rebuild_tensor_v2(storage data/<key>, 0, shape, C strides, False, OrderedDict())."""
    strides = [math.prod(shape[k + 1:]) for k in range(len(shape))]
    pid = op_tuple(op_str("storage"), op_global("torch", storage), op_str(key), op_str("cpu"),
                   op_int(numel)) + pickle.BINPERSID
    return (op_global("torch._utils", "_rebuild_tensor_v2") + pickle.MARK + pid + op_int(0)
            + op_tuple(*map(op_int, shape)) + op_tuple(*map(op_int, strides))
            + pickle.NEWFALSE + op_global("collections", "OrderedDict") + pickle.EMPTY_TUPLE
            + pickle.REDUCE + pickle.TUPLE + pickle.REDUCE)


def op_tensor_v3(key: str, nbytes: int, shape, dtype: str) -> bytes:
    """_rebuild_tensor_v3 over an untyped storage, naming the dtype global torch.<dtype>."""
    strides = [math.prod(shape[k + 1:]) for k in range(len(shape))]
    pid = op_tuple(op_str("storage"), op_global("torch.storage", "UntypedStorage"),
                   op_str(key), op_str("cpu"), op_int(nbytes)) + pickle.BINPERSID
    return (op_global("torch._utils", "_rebuild_tensor_v3") + pickle.MARK + pid + op_int(0)
            + op_tuple(*map(op_int, shape)) + op_tuple(*map(op_int, strides))
            + pickle.NEWFALSE + op_global("collections", "OrderedDict") + pickle.EMPTY_TUPLE
            + pickle.REDUCE + op_global("torch", dtype) + pickle.TUPLE + pickle.REDUCE)


def state_dict_pickle(entries: dict) -> bytes:
    """{name: tensor opcodes} as a plain dict, protocol 2."""
    body = b"".join(op_str(name) + tensor for name, tensor in entries.items())
    return b"\x80\x02" + pickle.EMPTY_DICT + pickle.MARK + body + pickle.SETITEMS + pickle.STOP


def write_zip(path, records, compression=zipfile.ZIP_STORED):
    """A zip of ``records`` [(name, bytes)] in order; a name may repeat (zipfile warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # "Duplicate name"
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in records:
                archive.writestr(name, data)
    return path


def one_tensor_archive(path, pkl_records=1, data_records=1, values=(1.0, 2.0)):
    """A torch archive with one float32 tensor ``w`` on data/0, its records repeated."""
    pkl = state_dict_pickle({"w": op_tensor_v2("0", 2, (2,))})
    records = [("archive/data.pkl", pkl)] * pkl_records
    records += [("archive/data/0", np.array(values, "<f4").tobytes() if k == 0 else
                 np.array([-v for v in values], "<f4").tobytes()) for k in range(data_records)]
    return write_zip(path, records + [("archive/version", b"3\n")])


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def one_line_error(call, error=WeightFileError) -> str:
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 500, message
    return message


CHILD_PRELUDE = textwrap.dedent("""\
    import resource, sys, warnings
    import numpy as np
    import nplstm
    from nplstm.interop import WeightFileError
    warnings.simplefilter("ignore")
    def vm_bytes():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    def limit_memory(extra_mb):
        limit = vm_bytes() + extra_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    """)


def run_child(code: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` (after CHILD_PRELUDE) in a fresh interpreter; one BLAS thread."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def child_outcome(path, extra_mb: int, *, timeout: float = 120, **kwargs) -> str:
    """Load ``path`` in a child under a memory limit of ``extra_mb`` MiB beyond what it uses
    after importing nplstm: "ok <names>" or "refused <one line>"; anything else fails."""
    done = run_child(f"""
        limit_memory({extra_mb})
        try:
            arrays = nplstm.load_weights({str(path)!r}, **{kwargs!r})
        except WeightFileError as err:
            print("refused", err)
        else:
            print("ok", sorted(arrays), sum(a.nbytes for a in arrays.values()))
        """, timeout=timeout)
    assert done.returncode == 0 and done.stderr == "", (done.returncode, done.stderr[-2000:])
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout[-2000:]
    return lines[0]


# -- item 3: a record named twice -----------------------------------------------------------------

@pytest.mark.parametrize("pkl_records, data_records", [(1, 2), (2, 1)])
def test_a_torch_archive_naming_a_record_twice_is_refused_by_name(tmp_path, pkl_records,
                                                                   data_records):
    path = one_tensor_archive(tmp_path / "twice.pt", pkl_records, data_records)
    message = one_line_error(lambda: nplstm.load_weights(path))
    twice = "archive/data.pkl" if pkl_records == 2 else "archive/data/0"
    assert f"names a record more than once ('{twice}')" in message and str(path) in message


def test_the_same_archive_with_each_record_once_loads(tmp_path):
    got = nplstm.load_weights(one_tensor_archive(tmp_path / "once.pt"))
    np.testing.assert_array_equal(got["w"], np.array([1.0, 2.0], np.float32))


def test_an_npz_naming_an_array_twice_is_refused_by_name(tmp_path):
    path = write_zip(tmp_path / "twice.npz", [("w.npy", npy_bytes(np.ones(3))),
                                              ("w.npy", npy_bytes(np.zeros(3)))])
    assert "names a record more than once ('w.npy')" in one_line_error(
        lambda: nplstm.load_weights(path))


def test_a_checkpoint_naming_a_member_twice_is_refused_by_name(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_checkpoint(path, step=1, model={"w": np.ones(2, np.float32)})
    with zipfile.ZipFile(path) as archive:
        records = [(info.filename, archive.read(info)) for info in archive.infolist()]
    records.append(("model/w.npy", npy_bytes(np.zeros(2, np.float32))))
    write_zip(path, records)
    with pytest.raises(CheckpointError, match=r"names a record more than once \('model/w.npy'\)"):
        load_checkpoint(path)
    assert "names a record more than once" in one_line_error(lambda: nplstm.load_weights(path))


def test_a_keras_archive_naming_its_config_twice_is_refused_by_name(tmp_path):
    pytest.importorskip("h5py")
    path = write_zip(tmp_path / "twice.keras", [("config.json", b"{}"), ("config.json", b"[]"),
                                                ("model.weights.h5", b"")])
    assert "names a record more than once ('config.json')" in one_line_error(
        lambda: nplstm.load_weights(path))


def test_names_from_the_file_are_escaped_and_cut_in_messages(tmp_path):
    name = "\x1b[2J" + "x" * 60_000 + "\nfits: yes.npy"
    path = write_zip(tmp_path / "evil.npz", [(name, npy_bytes(np.ones(1)))] * 2)
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert "\\x1b[2J" in message and "names a record more than once" in message


@pytest.mark.torch
def test_live_torch_reads_one_of_two_records_where_nplstm_refuses(tmp_path):
    torch = pytest.importorskip("torch")
    path = one_tensor_archive(tmp_path / "twice.pt", 1, 2)
    read = torch.load(path, weights_only=True)["w"].tolist()
    assert read in ([1.0, 2.0], [-1.0, -2.0])       # which one depends on the reader
    with pytest.raises(WeightFileError, match="more than once"):
        nplstm.load_weights(path)


# -- item 5: TorchScript modules sharing children -------------------------------------------------

def script_archive(path, module_opcodes: bytes):
    """A TorchScript-style archive (it has code/) whose data.pkl is ``module_opcodes``."""
    return write_zip(path, [("archive/data.pkl", b"\x80\x02" + module_opcodes + pickle.STOP),
                            ("archive/data/0", np.array([7.0], "<f4").tobytes()),
                            ("archive/code/__torch__.py", b"")])


def op_module(cls: str, attributes: bytes) -> bytes:
    """__torch__.<cls>() with BUILD({...attributes}) (``attributes``: key/value opcodes)."""
    return (op_global("__torch__", cls) + pickle.EMPTY_TUPLE + pickle.NEWOBJ + pickle.EMPTY_DICT
            + pickle.MARK + attributes + pickle.SETITEMS + pickle.BUILD)


def shared_children_pickle(depth: int) -> bytes:
    """Module k has children ``a`` and ``b``, both module k-1 (one object, by memo); module 0
    holds the tensor ``w``.  As a tree it has 2**depth leaves; as a graph, depth + 1 nodes."""
    out = op_module("Leaf", op_str("w") + op_tensor_v2("0", 1, (1,)))
    out += pickle.LONG_BINPUT + struct.pack("<I", 0)
    for k in range(1, depth + 1):
        get = pickle.LONG_BINGET + struct.pack("<I", k - 1)
        out += pickle.POP + op_module(f"Node{k}", op_str("a") + get + op_str("b") + get)
        out += pickle.LONG_BINPUT + struct.pack("<I", k)
    return out


def test_shared_torchscript_children_are_visited_once_so_depth_24_loads_at_once(tmp_path):
    path = script_archive(tmp_path / "shared.pt", shared_children_pickle(24))
    done = run_child(f"""
        arrays = nplstm.load_weights({str(path)!r})
        print(sorted(arrays), [a.tolist() for a in arrays.values()])
        """, timeout=60)      # walking the 2**24 paths took over a minute
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"{['a.' * 24 + 'w']} [[7.0]]"


def chain_pickle(depth: int) -> bytes:
    """Modules nested ``depth`` deep through the attribute ``m``; the innermost holds ``w``."""
    module = op_module("Leaf", op_str("w") + op_tensor_v2("0", 1, (1,)))
    for k in range(depth):
        module = op_module(f"Node{k}", op_str("m") + module)
    return module


def test_torchscript_modules_nest_at_most_max_module_depth(tmp_path):
    path = script_archive(tmp_path / "deep.pt", chain_pickle(MAX_MODULE_DEPTH))
    assert list(nplstm.load_weights(path)) == ["m." * MAX_MODULE_DEPTH + "w"]
    path = script_archive(tmp_path / "deeper.pt", chain_pickle(MAX_MODULE_DEPTH + 1))
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert f"TorchScript modules nest over {MAX_MODULE_DEPTH} deep" in message


def test_a_torchscript_module_holding_itself_is_refused_in_one_line(tmp_path):
    # a module is built (BUILD) after going into its own attributes: no pickler of a
    # state dict or of TorchScript writes that, and it would make a cycle
    module = (op_global("__torch__", "Loop") + pickle.EMPTY_TUPLE + pickle.NEWOBJ
              + pickle.BINPUT + b"\x00" + pickle.EMPTY_DICT + pickle.MARK + op_str("self")
              + pickle.BINGET + b"\x00" + op_str("w") + op_tensor_v2("0", 1, (1,))
              + pickle.SETITEMS + pickle.BUILD)
    path = script_archive(tmp_path / "loop.pt", module)
    assert "changes an object with BUILD after putting it inside another" in one_line_error(
        lambda: nplstm.load_weights(path))


# -- item 7: deep nesting -------------------------------------------------------------------------

def nested_key_pickle(depth: int, how: str) -> bytes:
    """{key: None} whose key nests ``depth`` deep (tuples by TUPLE1, or lists by APPEND)."""
    if how == "tuple":
        key = pickle.EMPTY_TUPLE + pickle.TUPLE1 * depth
    else:
        key = pickle.EMPTY_LIST * (depth + 1) + pickle.APPEND * depth
    return b"\x80\x02" + pickle.EMPTY_DICT + key + pickle.NONE + pickle.SETITEM + pickle.STOP


@pytest.mark.parametrize("how", ["tuple", "list"])
def test_a_key_nested_20000_deep_is_one_weight_file_error(tmp_path, how):
    path = write_zip(tmp_path / "deep.pt", [("archive/data.pkl",
                                             nested_key_pickle(20_000, how))])
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert f"nests containers over {MAX_NESTING} deep" in message


def test_nesting_up_to_the_bound_is_left_to_the_unpickler(tmp_path):
    path = write_zip(tmp_path / "ok.pt", [("archive/data.pkl",
                                           nested_key_pickle(MAX_NESTING - 2, "tuple"))])
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert "not a state dict" in message         # read, then found not to be weights


def test_a_tuple_nested_200000_deep_does_not_crash_the_process(tmp_path):
    path = write_zip(tmp_path / "deeper.pt", [("archive/data.pkl",
                                               nested_key_pickle(200_000, "tuple"))])
    assert child_outcome(path, 300).startswith(f"refused {path}: data.pkl nests containers "
                                               f"over {MAX_NESTING} deep")


def test_nesting_cannot_be_hidden_by_filling_a_container_already_inside_another(tmp_path):
    # lists L0..Ln, each memoized; then L0.append(L1), L1.append(L2), …: each APPEND alone
    # looks 2 deep, but L0 ends up n deep, so filling L1 after it went into L0 is refused
    n = 2 * MAX_NESTING
    out = [b"\x80\x02"]
    for k in range(n):
        out.append(pickle.EMPTY_LIST + pickle.LONG_BINPUT + struct.pack("<I", k) + pickle.POP)
    for k in range(n - 1):
        out.append(pickle.LONG_BINGET + struct.pack("<I", k) + pickle.LONG_BINGET
                   + struct.pack("<I", k + 1) + pickle.APPEND + pickle.POP)
    path = write_zip(tmp_path / "hidden.pt", [("archive/data.pkl", b"".join(out) + pickle.NONE
                                               + pickle.STOP)])
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert "changes an object with APPEND after putting it inside another" in message


def test_a_self_referencing_dict_is_not_taken_for_deep_nesting(tmp_path):
    pkl = (b"\x80\x02" + pickle.EMPTY_DICT + pickle.BINPUT + b"\x00" + pickle.MARK
           + op_str("self") + pickle.BINGET + b"\x00" + op_str("w") + op_tensor_v2("0", 1, (1,))
           + pickle.SETITEMS + pickle.STOP)
    path = write_zip(tmp_path / "self.pt", [("archive/data.pkl", pkl),
                                            ("archive/data/0", np.ones(1, "<f4").tobytes())])
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert "not a state dict" in message and "nests" not in message


# -- item 6: bombs and memory ---------------------------------------------------------------------

def pickle_bomb(pairs: int) -> bytes:
    """NONE POP repeated: a valid pickle of ``None`` with 2 * pairs opcodes."""
    return b"\x80\x02" + (pickle.NONE + pickle.POP) * pairs + pickle.NONE + pickle.STOP


def test_a_deflated_data_pkl_bomb_is_refused_by_its_ratio(tmp_path):
    path = write_zip(tmp_path / "bomb.pt", [("archive/data.pkl", pickle_bomb(5_000_000))],
                     zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 20_000
    assert child_outcome(path, 300).startswith(
        f"refused {path}: record 'archive/data.pkl' unpacks to 10000004 bytes from ")
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert f"beyond max_ratio={DEFAULT_MAX_RATIO}" in message and "max_ratio=None" in message


def test_with_max_ratio_none_a_deflated_pickle_is_read_as_a_stream(tmp_path):
    path = write_zip(tmp_path / "bomb.pt", [("archive/data.pkl", pickle_bomb(500_000))],
                     zipfile.ZIP_DEFLATED)
    outcome = child_outcome(path, 100, max_ratio=None)
    assert outcome == f"refused {path}: holds a NoneType, not a state dict (a dict of " \
                      "tensors); save model.state_dict()"


def test_a_long_stored_pickle_is_walked_in_memory_independent_of_its_opcode_count(tmp_path):
    # 2 million opcodes: listing them (about 110 bytes each) would take over 200 MB
    path = write_zip(tmp_path / "long.pt", [("archive/data.pkl", pickle_bomb(1_000_000))])
    assert child_outcome(path, 100, timeout=240).startswith(f"refused {path}: holds a NoneType")


def lzma_asking_for_4_gib(path, name: str):
    """A zip whose one LZMA record's properties ask the decoder for a 4 GiB dictionary."""
    write_zip(path, [(name, b"x" * 1000)], zipfile.ZIP_LZMA)
    data = bytearray(path.read_bytes())
    name_length, extra_length = struct.unpack_from("<HH", data, 26)
    props = 30 + name_length + extra_length + 4       # version (2), props size (2), props
    struct.pack_into("<I", data, props + 1, 0xFFFF_FFFF)   # lc/lp/pb byte, dictionary size
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("suffix, name", [(".pt", "archive/data.pkl"), (".npz", "w.npy"),
                                          (".keras", "config.json")])
def test_a_record_of_another_zip_method_is_refused_before_its_decoder_allocates(tmp_path,
                                                                                 suffix, name):
    # found by the thorough fuzzer (a flipped method byte): zipfile's LZMA decoder takes its
    # dictionary size from the record, and under a memory limit gave a MemoryError
    path = lzma_asking_for_4_gib(tmp_path / f"lzma{suffix}", name)
    assert child_outcome(path, 200).startswith(f"refused {path}: record '{name}' is "
                                               "compressed with zip method 14;")
    with zipfile.ZipFile(path) as archive:                  # the file is what it says
        assert archive.getinfo(name).compress_type == zipfile.ZIP_LZMA


def test_compressed_records_within_the_ratio_load(tmp_path):
    zeros = np.zeros(RATIO_SLACK // 8, np.float64)          # 1 MiB of zeros: any ratio
    ones = np.random.default_rng(0).standard_normal(1000)
    path = tmp_path / "small.npz"
    np.savez_compressed(path, zeros=zeros, ones=ones)
    got = nplstm.load_weights(path)
    np.testing.assert_array_equal(got["zeros"], zeros)
    np.testing.assert_array_equal(got["ones"], ones)


def test_a_compressed_npz_beyond_the_ratio_is_refused_unless_max_ratio_is_none(tmp_path):
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, big=np.zeros(10_000_000))                    # 80 MB of zeros
    assert path.stat().st_size < 200_000
    assert child_outcome(path, 60).startswith(f"refused {path}: record 'big.npy' unpacks to "
                                              "80000128 bytes from ")
    # with the limit lifted, the array is made once: 80 MB (reading the bytes, then copying
    # them into an array, needs 160 MB)
    assert child_outcome(path, 130, max_ratio=None) == "ok ['big'] 80000000"


def test_an_npz_declaring_more_values_than_it_holds_is_refused_before_allocating(tmp_path):
    declared = io.BytesIO()
    np.lib.format.write_array_header_1_0(declared, {"descr": "<f8", "fortran_order": False,
                                                    "shape": (200_000_000,)})
    path = write_zip(tmp_path / "liar.npz", [("w.npy", declared.getvalue() + bytes(800))])
    assert child_outcome(path, 60).startswith(
        f"refused {path}: 'w.npy' declares shape (200000000,) of float64 (1600000000 bytes) "
        "but holds 800 bytes")


def test_a_big_endian_torch_tensor_is_copied_once(tmp_path):
    values = np.arange(20_000_000, dtype=">f4")                       # 80 MB
    pkl = state_dict_pickle({"w": op_tensor_v2("0", values.size, values.shape)})
    path = write_zip(tmp_path / "big.pt", [("archive/data.pkl", pkl),
                                           ("archive/byteorder", b"big"),
                                           ("archive/data/0", values.tobytes())])
    del values
    # the record's bytes (80 MB) and the one native copy (80 MB); a second copy would not fit
    assert child_outcome(path, 200) == "ok ['w'] 80000000"
    got = nplstm.load_weights(path)["w"]
    assert got.dtype == np.float32 and got[-1] == np.float32(19_999_999) and \
        got.flags.c_contiguous           # (20000000 in float32: compared as float32 on any NumPy)


@pytest.mark.parametrize("bad, error", [("100", TypeError), (True, TypeError),
                                        (0.5, ValueError), (float("nan"), ValueError),
                                        (float("inf"), ValueError), (-3, ValueError)])
def test_max_ratio_is_validated_naming_the_argument(tmp_path, bad, error):
    path = one_tensor_archive(tmp_path / "a.pt")
    with pytest.raises(error, match="max_ratio must be"):
        nplstm.load_weights(path, max_ratio=bad)
    assert list(nplstm.load_weights(path, max_ratio=1)) == ["w"]
    assert list(nplstm.load_weights(path, max_ratio=None)) == ["w"]


def test_a_stored_record_declaring_more_bytes_than_it_stores_is_refused(tmp_path):
    path = one_tensor_archive(tmp_path / "a.pt")
    raw = bytearray(path.read_bytes())
    central = raw.rindex(b"archive/data/0") - 46          # its central directory entry
    assert raw[central:central + 4] == b"PK\x01\x02"
    struct.pack_into("<I", raw, central + 24, 1008)          # its uncompressed size (was 8)
    path.write_bytes(bytes(raw))
    assert "stored record 'archive/data/0' declares 1008 bytes but stores 8" in \
        one_line_error(lambda: nplstm.load_weights(path))


# -- item 11: torch.jit.script of a model holding nn.LSTM -----------------------------------------

def test_script_list_tags_are_refused_outside_a_torchscript_archive(tmp_path):
    pkl = (b"\x80\x02" + op_global("torch.jit._pickle", "restore_type_tag") + pickle.EMPTY_LIST
           + op_str("List[str]") + pickle.TUPLE2 + pickle.REDUCE + pickle.STOP)
    path = write_zip(tmp_path / "tag.pt", [("archive/data.pkl", pkl)])
    assert "refused the global torch.jit._pickle.restore_type_tag" in one_line_error(
        lambda: nplstm.load_weights(path), UnsafeFileError)


@pytest.mark.parametrize("call, words", [
    (op_global("torch.jit._pickle", "build_tensorlist") + pickle.MARK + pickle.EMPTY_LIST
     + pickle.MARK + op_int(3) + pickle.APPENDS + pickle.TUPLE + pickle.REDUCE,
     "build_tensorlist is given a list that is not a list of its items"),
    (op_global("torch.jit._pickle", "build_intlist") + op_str("x") + pickle.TUPLE1
     + pickle.REDUCE, "build_intlist is given a str"),
    (op_global("torch.jit._pickle", "restore_type_tag") + op_int(1) + op_str("int")
     + pickle.TUPLE2 + pickle.REDUCE, "restore_type_tag is given int and str"),
    (op_global("torch.jit._pickle", "build_tensor_from_id") + op_int(1) + pickle.TUPLE1
     + pickle.REDUCE, "refused the global torch.jit._pickle.build_tensor_from_id"),
])
def test_script_list_tags_check_what_they_are_given(tmp_path, call, words):
    path = script_archive(tmp_path / "tag.pt", op_module("M", op_str("x") + call))
    assert words in one_line_error(lambda: nplstm.load_weights(path))


def test_script_list_tags_give_the_data_they_tag(tmp_path):
    tagged = (op_global("torch.jit._pickle", "restore_type_tag") + pickle.EMPTY_LIST
              + pickle.MARK + op_str("w") + pickle.APPENDS + op_str("List[str]")
              + pickle.TUPLE2 + pickle.REDUCE)
    floats = (op_global("torch.jit._pickle", "build_doublelist") + pickle.EMPTY_LIST
              + pickle.BINFLOAT + struct.pack(">d", 0.5) + pickle.APPEND + pickle.TUPLE1
              + pickle.REDUCE)
    module = op_module("M", op_str("names") + tagged + op_str("lr") + floats + op_str("w")
                       + op_tensor_v2("0", 1, (1,)))
    path = script_archive(tmp_path / "tags.pt", module)
    got = nplstm.load_weights(path)
    assert list(got) == ["w"] and got["w"].tolist() == [7.0]


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
def test_live_scripted_lstm_models_load_to_torchs_tensors(tmp_path, layers, bidirectional):
    torch = pytest.importorskip("torch")
    torch.manual_seed(layers)
    model = torch.nn.Sequential(torch.nn.LSTM(3, 5, num_layers=layers,
                                              bidirectional=bidirectional))
    torch.jit.script(model).save(str(tmp_path / "s.pt"))
    got = nplstm.load_weights(tmp_path / "s.pt")
    want = {k: v.numpy() for k, v in torch.jit.load(str(tmp_path / "s.pt")).state_dict().items()}
    assert list(got) == list(want)
    for name in want:
        assert got[name].tobytes() == want[name].tobytes(), name


# -- item 13: dtypes ------------------------------------------------------------------------------

def test_a_complex_tensor_is_an_unsupported_dtype_naming_it(tmp_path):
    pkl = state_dict_pickle({"z": op_tensor_v2("0", 2, (2,), "ComplexFloatStorage")})
    path = write_zip(tmp_path / "c.pt", [("archive/data.pkl", pkl),
                                         ("archive/data/0", np.ones(2, "<c8").tobytes())])
    with pytest.raises(WeightFileError) as info:
        nplstm.load_weights(path)
    assert not isinstance(info.value, UnsafeFileError)
    assert "'z' has dtype complex64: unsupported dtype" in str(info.value)


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2", "complex32", "qint8"])
def test_dtypes_numpy_lacks_are_unsupported_not_unsafe(tmp_path, dtype):
    pkl = state_dict_pickle({"x": op_tensor_v3("0", 2, (2,), dtype)})
    path = write_zip(tmp_path / "f8.pt", [("archive/data.pkl", pkl),
                                          ("archive/data/0", bytes(8))])
    with pytest.raises(WeightFileError) as info:
        nplstm.load_weights(path)
    assert not isinstance(info.value, UnsafeFileError)
    assert f"a tensor of dtype torch.{dtype}: unsupported dtype" in str(info.value)


def test_quantized_storages_are_unsupported_not_unsafe(tmp_path):
    pkl = state_dict_pickle({"q": op_tensor_v2("0", 2, (2,), "QInt8Storage")})
    path = write_zip(tmp_path / "q.pt", [("archive/data.pkl", pkl), ("archive/data/0", bytes(2))])
    with pytest.raises(WeightFileError) as info:
        nplstm.load_weights(path)
    assert not isinstance(info.value, UnsafeFileError)
    assert "is a torch.QInt8Storage: unsupported dtype" in str(info.value)


@pytest.mark.parametrize("alias, numpy_dtype", [("float", np.float32), ("int", np.int32),
                                                ("double", np.float64), ("long", np.int64),
                                                ("half", np.float32), ("short", np.int16)])
def test_dtype_aliases_name_torchs_dtypes(tmp_path, alias, numpy_dtype):
    # torch.float is float32 and torch.int is int32 (not Python's float64 and int64)
    stored = {"float": "<f4", "int": "<i4", "double": "<f8", "long": "<i8", "half": "<f2",
              "short": "<i2"}[alias]
    values = np.array([1.5, -2.0, 3.0]).astype(stored)
    pkl = state_dict_pickle({"x": op_tensor_v3("0", values.nbytes, (3,), alias)})
    path = write_zip(tmp_path / "alias.pt", [("archive/data.pkl", pkl),
                                             ("archive/data/0", values.tobytes())])
    got = load_quietly(path)["x"]
    assert got.dtype == numpy_dtype and got.tolist() == values.astype(numpy_dtype).tolist()


def test_the_v3_fixture_reads_unsigned_tensors_as_torch_does():
    got = nplstm.load_weights(FIXTURES / "unsigned.pt")
    with np.load(FIXTURES / "unsigned.expected.npz") as expected:
        assert list(got) == expected.files == ["u16", "u32", "u64", "f32"]
        for name in expected.files:
            assert got[name].dtype == expected[name].dtype, name
            assert got[name].tobytes() == expected[name].tobytes(), name


def safetensors_file(path, tensors: dict):
    """A safetensors file by hand: {name: (dtype name, shape, raw bytes)}."""
    header, offset, data = {}, 0, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


# float32 values whose low 16 bits are zero: bfloat16 holds them exactly
_BF16_VALUES = np.array([[1.5, -2.25, 3.0], [0.0, -0.0, 65280.0]], np.float32)
_BF16_BITS = (_BF16_VALUES.view(np.uint32) >> 16).astype("<u2")


def test_bfloat16_in_safetensors_becomes_float32_with_the_same_note_as_in_pt(tmp_path):
    pytest.importorskip("safetensors")
    path = safetensors_file(tmp_path / "bf.safetensors",
                            {"b": ("BF16", (2, 3), _BF16_BITS.tobytes()),
                             "f": ("F32", (1,), np.float32(4).tobytes())})
    with pytest.warns(WeightFileWarning) as caught:
        got = nplstm.load_weights(path)
    assert list(got) == ["b", "f"]
    assert got["b"].dtype == np.float32 and got["b"].tobytes() == _BF16_VALUES.tobytes()
    note = [str(w.message) for w in caught]
    assert note == [f"{path}: 'b' converted from bfloat16 to float32 (exactly; nplstm computes "
                    "in float32 or float64)"]
    pkl = state_dict_pickle({"b": op_tensor_v2("0", 6, (2, 3), "BFloat16Storage")})
    pt = write_zip(tmp_path / "bf.pt", [("archive/data.pkl", pkl),
                                        ("archive/data/0", _BF16_BITS.tobytes())])
    with pytest.warns(WeightFileWarning) as caught_pt:
        assert nplstm.load_weights(pt)["b"].tobytes() == _BF16_VALUES.tobytes()
    assert [str(w.message).replace(str(pt), str(path)) for w in caught_pt] == note


@pytest.mark.parametrize("dtype", ["F8_E4M3", "F8_E5M2"])
def test_safetensors_dtypes_numpy_lacks_are_unsupported_by_name(tmp_path, dtype):
    pytest.importorskip("safetensors")
    path = safetensors_file(tmp_path / "f8.safetensors", {"x\x1b": (dtype, (2,), bytes(2))})
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert f"'x\\x1b' has dtype {dtype}: unsupported dtype" in message


@pytest.mark.torch
def test_live_bfloat16_safetensors_load_as_torch_converts_them(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(3)
    tensors = {"b": torch.randn(4, 5).bfloat16(), "c": torch.randn(3).bfloat16()}
    safetensors_torch.save_file(tensors, str(tmp_path / "t.safetensors"))
    got = load_quietly(tmp_path / "t.safetensors")
    for name, tensor in tensors.items():
        assert got[name].tobytes() == tensor.float().numpy().tobytes(), name


@pytest.mark.torch
def test_live_complex_and_float8_tensors_torch_saves_are_unsupported(tmp_path):
    torch = pytest.importorskip("torch")
    for dtype, words in [(torch.complex64, "has dtype complex64: unsupported dtype"),
                         (torch.float8_e4m3fn, "torch.float8_e4m3fn: unsupported dtype")]:
        torch.save({"x": torch.zeros(3, dtype=dtype)}, tmp_path / "t.pt")
        with pytest.raises(WeightFileError) as info:
            nplstm.load_weights(tmp_path / "t.pt")
        assert not isinstance(info.value, UnsafeFileError) and words in str(info.value)


# -- write_torch_zip writes torch's records -------------------------------------------------------

def test_write_torch_zip_writes_the_records_torch_writes_in_its_order(tmp_path):
    with zipfile.ZipFile(FIXTURES / "float16.pt") as archive:           # written by torch
        torch_names = [n.split("/", 1)[1] for n in archive.namelist()]
        torch_small = {n.split("/", 1)[1]: archive.read(n) for n in archive.namelist()
                       if n.split("/", 1)[1] in (".format_version", ".storage_alignment",
                                                 "byteorder", "version")}
    keys = len([n for n in torch_names if n.startswith("data/")])
    arrays = {f"t{k}": np.ones(2, np.float32) for k in range(keys)}
    with open(tmp_path / "ours.pt", "wb") as f:
        write_torch_zip(f, arrays)
    with zipfile.ZipFile(tmp_path / "ours.pt") as archive:
        ours = [n.split("/", 1)[1] for n in archive.namelist()]
        ours_small = {n: archive.read(f"archive/{n}") for n in torch_small}
    assert ours == torch_names
    assert ours_small == torch_small
    assert {".format_version", "version", ".data/serialization_id"} <= set(ours)


# -- the opcode walk's depth against the objects' own depth -------------------------------------

def real_depth(obj, known=None) -> int:
    """How deep ``obj`` nests: 0 for a number or string, 1 + its deepest item for a container
    (a dict's keys and values both count); each shared object measured once."""
    known = {} if known is None else known
    if id(obj) not in known:
        if isinstance(obj, dict):
            items = [x for kv in obj.items() for x in kv]
        elif isinstance(obj, (list, tuple)):
            items = list(obj)
        else:
            return 0
        known[id(obj)] = 1 + max((real_depth(x, known) for x in items), default=0)
    return known[id(obj)]


_LEAVES = st.one_of(st.none(), st.integers(-3, 300), st.text(max_size=2), st.booleans())
_TREES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=2), inner, max_size=3),
                            inner.map(lambda x: [x, x, (x,)])),      # shared: memo GETs
    max_leaves=20)


@given(tree=_TREES)
def test_what_pythons_pickler_writes_passes_the_walk(tree):
    check_opcodes(pickle.dumps(tree, protocol=2), "t")
    check_opcodes(pickle.dumps(tree, protocol=4), "t")


@given(kinds=st.lists(st.sampled_from(["list", "tuple", "dict", "shared"]),
                      min_size=MAX_NESTING - 3, max_size=MAX_NESTING + 3))
def test_the_walk_refuses_exactly_the_objects_nested_over_max_nesting(kinds):
    obj = 1
    for kind in kinds:
        obj = {"list": lambda x: [x], "tuple": lambda x: (x, 0), "dict": lambda x: {"k": x},
               "shared": lambda x: [x, x]}[kind](obj)
    data = pickle.dumps(obj, protocol=2)
    if real_depth(obj) <= MAX_NESTING:
        check_opcodes(data, "t")
    else:
        with pytest.raises(WeightFileError, match=f"nests containers over {MAX_NESTING} deep"):
            check_opcodes(data, "t")


def test_names_listed_in_a_refusal_are_escaped_cut_and_few(tmp_path):
    names = [f"\x1b[31m{k}" + "y" * 5000 for k in range(50)]
    path = write_zip(tmp_path / "other.zip", [(name, b"") for name in names])
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert "a zip archive that is not a torch file" in message and "and 47 more" in message
    folders = [(f"f{k}\x1b/data.pkl", b"") for k in range(9)]
    path = write_zip(tmp_path / "two.pt", folders)
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert "not a torch archive" in message and "'f0\\x1b'" in message


def test_a_keras_archive_whose_weights_unpack_beyond_the_ratio_is_refused(tmp_path):
    pytest.importorskip("h5py")
    path = write_zip(tmp_path / "bomb.keras", [("config.json", b"{}"),
                                               ("model.weights.h5", bytes(50_000_000))],
                     zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 100_000
    assert child_outcome(path, 300).startswith(
        f"refused {path}: record 'model.weights.h5' unpacks to 50000000 bytes from ")



@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_live_a_scripted_module_under_two_names_gives_torchs_state_dict(tmp_path):
    torch = pytest.importorskip("torch")

    class TwiceTheSameLinear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            shared = torch.nn.Linear(2, 3)
            self.a = shared
            self.b = shared

        def forward(self, x):
            return self.b(self.a(x)[..., :2])

    torch.manual_seed(0)
    torch.jit.script(TwiceTheSameLinear()).save(str(tmp_path / "s.pt"))
    want = torch.jit.load(str(tmp_path / "s.pt")).state_dict()   # both names, as torch pickles
    got = nplstm.load_weights(tmp_path / "s.pt")
    assert list(got) == list(want) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    for name, tensor in want.items():
        assert got[name].tobytes() == tensor.numpy().tobytes(), name


# -- a torch archive's records all lie in its folder, as torch requires ---------------------------

@pytest.mark.parametrize("extra", ["other/note.txt", "x/y/data.pkl", "note.txt"])
def test_a_record_outside_the_archives_folder_is_refused_naming_it(tmp_path, extra):
    path = tmp_path / "w.pt"
    nplstm.save_weights({"w": np.arange(3.0, dtype=np.float32)}, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(extra, b"hello")
    message = one_line_error(lambda: nplstm.load_weights(path))
    assert message == f"{path}: a torch archive keeps every record in its folder 'archive'; " \
                      f"records outside it: '{extra}'"
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="not in a subdirectory"):    # torch refuses it too
        torch.load(path, weights_only=True)
