"""Writers of raw weight files, byte by byte, so that a test can make them wrong on purpose.

None needs torch or Keras: torch's ``data.pkl`` is assembled opcode by opcode (``Pickle``),
its zip written record by record (``write_zip``: duplicate names, deflated records and
forged sizes allowed); safetensors is 8 bytes of header length, a JSON header and the data;
``.npy`` is numpy's magic, a header dict and the data.  HDF5 and ONNX files are made with
h5py and onnx from valid ones (the Keras fixtures, ``nplstm.interop.export_onnx``).
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import warnings
import zipfile
import zlib

import numpy as np

STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
_EPOCH = (1980, 1, 1, 0, 0, 0)


# -- torch's data.pkl -------------------------------------------------------------------------

class Pickle:
    """A protocol-2 pickle assembled opcode by opcode (``bytes(p)`` ends it with STOP)."""

    def __init__(self):
        self.out = bytearray(pickle.PROTO + b"\x02")

    def op(self, *opcodes: bytes) -> "Pickle":
        for code in opcodes:
            self.out += code
        return self

    def glob(self, module: str, name: str) -> "Pickle":
        return self.op(pickle.GLOBAL + f"{module}\n{name}\n".encode("utf-8"))

    def str(self, text: str) -> "Pickle":
        data = text.encode("utf-8", "surrogatepass")
        return self.op(pickle.BINUNICODE + struct.pack("<I", len(data)) + data)

    def int(self, value: int) -> "Pickle":
        if 0 <= value < 1 << 31:
            return self.op(pickle.BININT + struct.pack("<i", value))
        data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        return self.op(pickle.LONG1 + bytes([len(data)]) + data)

    def ints(self, values) -> "Pickle":
        self.op(pickle.MARK)
        for v in values:
            self.int(v)
        return self.op(pickle.TUPLE)

    def ordered_dict(self) -> "Pickle":
        return self.glob("collections", "OrderedDict").op(pickle.EMPTY_TUPLE, pickle.REDUCE)

    def tensor(self, key: str, storage: str, numel: int, offset: int, size, stride,
               dtype: str | None = None) -> "Pickle":
        """``_rebuild_tensor_v2(PERSID('storage', torch.<storage>, key, 'cpu', numel),
        offset, size, stride, False, OrderedDict())`` as torch.save writes it; with
        ``dtype``, ``_rebuild_tensor_v3`` on an ``UntypedStorage`` naming ``torch.<dtype>``."""
        self.glob("torch._utils", "_rebuild_tensor_v3" if dtype else "_rebuild_tensor_v2")
        self.op(pickle.MARK, pickle.MARK).str("storage")
        self.glob("torch.storage", "UntypedStorage") if dtype else self.glob("torch", storage)
        self.str(key).str("cpu").int(numel).op(pickle.TUPLE, pickle.BINPERSID)
        self.int(offset).ints(size).ints(stride).op(pickle.NEWFALSE).ordered_dict()
        if dtype:
            self.glob("torch", dtype)
        return self.op(pickle.TUPLE, pickle.REDUCE)

    def __bytes__(self) -> bytes:
        return bytes(self.out) + pickle.STOP


STORAGE_OF = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
              np.dtype("int64"): "LongStorage", np.dtype("float16"): "HalfStorage",
              np.dtype("uint8"): "ByteStorage", np.dtype("bool"): "BoolStorage"}


def contiguous_strides(shape) -> tuple:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(int(n), 1)
    return tuple(reversed(strides))


def state_dict_pickle(arrays: dict, *, before: bytes = b"") -> tuple:
    """(data.pkl, [storage bytes]) of ``{name: array}``, each on storage ``str(i)``, as
    torch.save writes a state dict; ``before`` is raw opcodes put right after PROTO."""
    p = Pickle().op(before).ordered_dict().op(pickle.MARK)
    storages = []
    for key, (name, array) in enumerate(arrays.items()):
        p.str(name).tensor(str(key), STORAGE_OF[array.dtype], array.size, 0, array.shape,
                           contiguous_strides(array.shape))
        storages.append(np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes())
    p.op(pickle.SETITEMS)
    return bytes(p), storages


def torch_records(pkl: bytes, storages, *, folder: str = "archive") -> list:
    """torch.save's records: [(name, bytes, compression)] in its order."""
    return ([(f"{folder}/data.pkl", pkl, STORED), (f"{folder}/.format_version", b"1", STORED),
             (f"{folder}/byteorder", b"little", STORED)]
            + [(f"{folder}/data/{k}", data, STORED) for k, data in enumerate(storages)]
            + [(f"{folder}/version", b"3\n", STORED)])


# -- zip ----------------------------------------------------------------------------------------

def zip_bytes(records) -> bytes:
    """A zip of ``[(name, bytes, STORED or DEFLATED)]``, in order, duplicates allowed."""
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore")          # "Duplicate name": the point of some cases
        for name, data, compression in records:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = compression
            archive.writestr(info, data)
    return out.getvalue()


def deflated_zeros_record(name: str, header: bytes, zeros: int) -> tuple:
    """The local header, data and central-directory entry of a deflated zip record holding
    ``header`` and then ``zeros`` zero bytes, made without compressing all of them: after a
    full flush a deflate stream restarts, so one compressed MiB of zeros is repeated."""
    mib = 1 << 20
    head = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = [head.compress(header) + head.flush(zlib.Z_FULL_FLUSH)]
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = block.compress(bytes(mib)) + block.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    zero_mib = bytes(mib)
    for _ in range(zeros // mib):
        stream.append(chunk)
        crc = zlib.crc32(zero_mib, crc)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    rest = bytes(zeros % mib)
    stream.append(tail.compress(rest) + tail.flush())
    crc = zlib.crc32(rest, crc)
    return name, b"".join(stream), crc, len(header) + zeros


def raw_zip(members) -> bytes:
    """A zip (zip64 sizes) of ``[(name, data, crc, size[, method])]``: records whose data is
    already compressed (method 8, deflate: see deflated_zeros_record) or stored (0)."""
    out, central = bytearray(), bytearray()
    for name, data, crc, size, *method in members:
        method = method[0] if method else 8
        encoded = name.encode()
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, size, len(data))
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, method, 0, 0x21, crc,
                           0xFFFFFFFF, 0xFFFFFFFF, len(encoded), len(extra)) + encoded + extra
        out += data
        cextra = struct.pack("<HHQQQ", 1, 24, size, len(data), offset)
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0, method, 0, 0x21,
                               crc, 0xFFFFFFFF, 0xFFFFFFFF, len(encoded), len(cextra), 0, 0,
                               0, 0, 0xFFFFFFFF) + encoded + cextra
    start = len(out)
    out += central
    n = len(members)
    end64 = len(out)
    out += struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n, len(central),
                       start)
    out += struct.pack("<4sIQI", b"PK\x06\x07", 0, end64, 1)
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, len(central),
                       0xFFFFFFFF, 0)
    return bytes(out)


def forge_declared_size(data: bytes, member: str, size: int) -> bytes:
    """A zip whose central-directory entry for ``member`` declares ``size`` uncompressed
    bytes (a 32-bit size field), the data itself unchanged."""
    out = bytearray(data)
    at = out.rfind(b"PK\x01\x02" + b"", 0)
    while at >= 0:
        name_length = struct.unpack_from("<H", out, at + 28)[0]
        if out[at + 46: at + 46 + name_length].decode() == member:
            struct.pack_into("<I", out, at + 24, size)
            return bytes(out)
        at = out.rfind(b"PK\x01\x02", 0, at)
    raise KeyError(member)


# -- safetensors and numpy ----------------------------------------------------------------------

ST_DTYPES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64",
             np.dtype("int64"): "I64", np.dtype("float16"): "F16"}


def safetensors_bytes(header, data: bytes) -> bytes:
    """8 bytes of little-endian header length, the header (a dict, or raw bytes), data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


def safetensors_of(arrays: dict) -> tuple:
    """(header dict, data) of ``{name: array}`` laid out one after another."""
    header, data = {}, bytearray()
    for name, array in arrays.items():
        raw = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": ST_DTYPES[array.dtype], "shape": list(array.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return header, bytes(data)


def npy_bytes(header: str, data: bytes) -> bytes:
    """An .npy (format 1.0): magic, a header dict literal padded to 64 bytes, data."""
    raw = header.encode("latin1")
    raw += b" " * (-(10 + len(raw) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw + data


def npy_header(descr: str, shape) -> str:
    return f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"


def npy_of(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array)
    return npy_bytes(npy_header(array.dtype.str, array.shape), array.tobytes())
