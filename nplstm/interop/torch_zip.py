"""torch's zip format (``torch.save`` since torch 1.6, ``torch.jit.save``), without torch.

An archive is a zip of uncompressed records under one folder (``<name>/``):

    <name>/data.pkl                the pickled object (see torch_pickle), protocol 2
    <name>/data/<key>              the bytes of storage <key>, each aligned to 64 bytes
    <name>/byteorder               "little" or "big" (absent in old files: little)
    <name>/version, .format_version, .storage_alignment, .data/serialization_id
    <name>/code/…, constants.pkl   TorchScript archives only: the module's code (never run)

``read_torch_state_dict`` returns the state dict in the unpickled object (itself, or an
entry of a checkpoint dict; for TorchScript, the module's attributes as a flat
``{dotted.name: array}``, each sub-module visited once).  Reading follows
nplstm.io.zip_limits (no record named twice, compressed records within ``max_ratio`` of
their size) and reads only the records data.pkl refers to, each once.

``write_torch_zip`` writes a state dict the way ``torch.save`` does, so ``torch.load(path,
weights_only=True)`` reads it back; its data.pkl (``pickle_state_dict``) is written by hand
with torch.save's protocol-2 opcodes, since ``pickle.Pickler`` would have to import torch to
write torch's globals.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import zipfile
import zlib
from contextlib import contextmanager

import numpy as np

from ..checks import printable_name, printable_text, quoted_name, quoted_names
from ..io.zip_limits import DEFAULT_MAX_RATIO, open_zip
from .file_errors import WeightFileError
from .notes import converted_note
from .torch_pickle import WRITABLE_DTYPES, ScriptObject, unpickle

__all__ = ["read_torch_state_dict", "write_torch_zip", "pickle_state_dict", "is_torch_zip",
           "zip_errors"]

ALIGNMENT = 64                      # storage records start at multiples of this offset
_EPOCH = (1980, 1, 1, 0, 0, 0)      # a fixed date: the same weights give the same bytes
_PADDING_ID = b"FB"                 # the extra field torch pads local headers with


@contextmanager
def zip_errors(source: str):
    """Any failure of the zip layer (bad CRC, a truncated record, an encrypted-flag bit
    flipped in a header, …) is a WeightFileError naming the file."""
    try:
        yield
    except WeightFileError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError, KeyError, struct.error, UnicodeError,
            OverflowError, MemoryError) as err:
        raise WeightFileError(f"{source}: a damaged zip archive ({type(err).__name__}: "
                              f"{printable_text(str(err), 200)})") from None


def _archive_folder(names, source: str) -> str:
    """The one top folder holding ``data.pkl`` (torch names it after the file), which holds
    every record: torch refuses an archive with a record elsewhere ("file in archive is not
    in a subdirectory"), so nplstm does too, rather than read the arrays beside it."""
    folders = {n.split("/", 1)[0] for n in names if n.count("/") == 1
               and n.endswith("/data.pkl")}
    if len(folders) != 1:
        raise WeightFileError(f"{source}: not a torch archive (a zip whose folder holds "
                              f"data.pkl; found {quoted_names(sorted(folders)) or 'none'})")
    folder = folders.pop()
    outside = sorted(n for n in names if not n.startswith(folder + "/"))
    if outside:
        raise WeightFileError(f"{source}: a torch archive keeps every record in its folder "
                              f"{quoted_name(folder)}; records outside it: "
                              f"{quoted_names(outside)}")
    return folder


def is_torch_zip(names) -> bool:
    """Whether a zip's record names look like a torch archive."""
    return any(n.count("/") == 1 and n.endswith("/data.pkl") for n in names)


def read_torch_state_dict(path, *, source: str, key=None, notes=None,
                          max_ratio=DEFAULT_MAX_RATIO) -> dict:
    """The state dict in the torch archive ``path`` (``key``: the entry of a checkpoint dict
    that holds it); notes for load_weights are appended to ``notes``.  Raises
    WeightFileError (damaged or foreign; nplstm.io.zip_limits), UnsafeFileError (a refused
    global)."""
    notes = [] if notes is None else notes
    with zip_errors(source), open_zip(path, source=source, max_ratio=max_ratio,
                                      error=WeightFileError) as archive:
        names = set(archive.namelist())
        folder = _archive_folder(names, source)
        scripted = any(n.startswith(f"{folder}/code/") for n in names)
        byteorder = "little"
        if f"{folder}/byteorder" in names:
            byteorder = archive.read(f"{folder}/byteorder").decode("ascii", "replace")
            if byteorder not in ("little", "big"):
                raise WeightFileError(f"{source}: byteorder record says "
                                      f"{quoted_name(byteorder, 40)}, not 'little' or 'big'")

        def read_record(key: str) -> bytes:
            name = f"{folder}/data/{key}"
            if name not in names:
                raise WeightFileError(f"{source}: data.pkl refers to storage "
                                      f"{printable_name('data/' + key)}, "
                                      "which the archive lacks")
            info = archive.getinfo(name)
            if info.compress_type != zipfile.ZIP_STORED:   # torch stores records as they are
                raise WeightFileError(f"{source}: storage {printable_name('data/' + key)} is "
                                      "compressed "
                                      f"({info.file_size} bytes declared); torch stores "
                                      "tensors uncompressed, so this is not a torch file")
            return archive.read(name)

        obj, converted = unpickle(archive.read(f"{folder}/data.pkl"), read_record,
                                  source=source, scripted=scripted, byteorder=byteorder)
    if scripted:
        if not isinstance(obj, ScriptObject):
            raise WeightFileError(f"{source}: a TorchScript archive whose data.pkl holds "
                                  f"{type(obj).__name__}, not a module")
        if key is not None:
            raise WeightFileError(f"{source}: a TorchScript archive holds one module, not a "
                                  f"checkpoint dict: key={key!r} does not apply (use "
                                  "nplstm.interop.select(state_dict, prefix) for a part)")
        state_dict = script_attributes(obj, source=source)
    else:
        state_dict = _state_dict_of(obj, key=key, source=source, notes=notes)
    names_by_dtype: dict = {}
    for name, array in state_dict.items():
        if id(array) in converted:
            names_by_dtype.setdefault(converted[id(array)], []).append(name)
    notes.extend(converted_note(source, names, dtype) for dtype, names in names_by_dtype.items())
    return state_dict


MAX_MODULE_DEPTH = 100     # sub-modules in sub-modules … a TorchScript archive may nest


def script_attributes(module: ScriptObject, *, source: str) -> dict:
    """``{dotted.name: array}`` of a TorchScript module's tensor attributes, sub-modules
    included (their parameters and buffers: what ``state_dict()`` holds).

    Each module is visited once, under the first name that reaches it (as torch's
    ``named_parameters`` does): sub-modules that share children are a graph, not a tree,
    and walking every path would take time exponential in its depth.  Sub-modules nest at
    most MAX_MODULE_DEPTH deep."""
    found, visited = {}, {id(module)}

    def walk(module, prefix: str, depth: int) -> None:
        if depth > MAX_MODULE_DEPTH:
            raise WeightFileError(f"{source}: TorchScript modules nest over "
                                  f"{MAX_MODULE_DEPTH} deep (at {quoted_name(prefix)})")
        for name, value in getattr(module, "attributes", {}).items():
            if not isinstance(name, str):
                continue
            if isinstance(value, np.ndarray):
                found[prefix + name] = value
            elif isinstance(value, ScriptObject) and id(value) not in visited:
                visited.add(id(value))
                walk(value, f"{prefix}{name}.", depth + 1)

    walk(module, "", 0)
    return found


def _state_dict_of(obj, *, key, source, notes) -> dict:
    """The state dict in an unpickled torch object: itself, or an entry of a checkpoint."""
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            keys = list(obj) if isinstance(obj, dict) else []
            raise WeightFileError(f"{source}: has no entry {key!r} (its top-level keys: "
                                  f"{quoted_names(keys, 6) if keys else 'none, not a dict'})")
        if not _is_state_dict(obj[key]):
            raise WeightFileError(f"{source}: entry {key!r} holds {_kind(obj[key])}, not a "
                                  "state dict (a dict of tensors)")
        return dict(obj[key])
    if _is_state_dict(obj) or (isinstance(obj, dict) and not obj):
        return dict(obj)
    if not isinstance(obj, dict):
        raise WeightFileError(f"{source}: holds {_kind(obj)}, not a state dict (a dict of "
                              "tensors); save model.state_dict()")
    nested = [k for k, v in obj.items() if _is_state_dict(v)]
    if len(nested) == 1:
        notes.append(f"{source}: a checkpoint dict (keys {quoted_names(list(obj), 6)}); returned "
                     f"its state dict {quoted_name(nested[0])}: say load_weights(path, "
                     f"key={quoted_name(nested[0])}) to pick it explicitly")
        return dict(obj[nested[0]])
    if nested:
        raise WeightFileError(f"{source}: a checkpoint dict holding several state dicts "
                              f"({quoted_names(nested, 6)}); pick one with load_weights(path, "
                              f"key={quoted_name(nested[0])})")
    raise WeightFileError(f"{source}: a dict that is not a state dict and holds none (its "
                          f"keys {quoted_names(list(obj), 6)} are not all tensors, and no entry is "
                          "a dict of tensors)")


def _is_state_dict(obj) -> bool:
    return (isinstance(obj, dict) and bool(obj)
            and all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()))


def _kind(obj) -> str:
    return "a tensor" if isinstance(obj, np.ndarray) else f"a {type(obj).__name__}"


def write_torch_zip(file, arrays: dict) -> None:
    """Write ``{name: numpy array}`` to the open binary ``file`` as torch.save would.

    Records, in torch's order: data.pkl, .format_version, .storage_alignment, byteorder,
    data/0 … data/N-1 (one per array, C-contiguous little-endian bytes), version,
    .data/serialization_id.  Every record's bytes start at a multiple of 64 in the file
    (padding in its local header's extra field, as torch does).
    """
    arrays = {name: np.require(a, a.dtype.newbyteorder("<"), "C") for name, a in arrays.items()}
    pkl = pickle_state_dict([(name, a.shape, a.dtype) for name, a in arrays.items()])
    storages = [a.tobytes() for a in arrays.values()]
    digest = hashlib.sha256(pkl + b"".join(storages)).digest()
    serialization_id = str(int.from_bytes(digest, "big"))[:40].zfill(40).encode("ascii")
    records = [("data.pkl", pkl), (".format_version", b"1"), (".storage_alignment", b"64"),
               ("byteorder", b"little"),
               *((f"data/{key}", data) for key, data in enumerate(storages)),
               ("version", b"3\n"), (".data/serialization_id", serialization_id)]
    start = file.tell()
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
        for name, data in records:
            info = zipfile.ZipInfo(f"archive/{name}", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.extra = _alignment_padding(file.tell() - start, info.filename)
            archive.writestr(info, data)


def _alignment_padding(header_offset: int, filename: str) -> bytes:
    """The extra field that makes the record's data start at a multiple of ALIGNMENT:
    data start = header offset + 30 (fixed header) + len(filename) + len(extra)."""
    unpadded = header_offset + 30 + len(filename.encode("utf-8")) + 4
    padding = -unpadded % ALIGNMENT
    return _PADDING_ID + struct.pack("<H", padding) + b"Z" * padding


def pickle_state_dict(names_and_shapes) -> bytes:
    """``data.pkl`` for an OrderedDict of tensors, each on its own storage ``data/<i>``.

    names_and_shapes   [(name, shape, numpy dtype)] in order; tensor i is contiguous on
                       storage key str(i), offset 0, with C-order strides in elements

    The opcodes are torch.save's (protocol 2):
        OrderedDict()  then for each tensor  name -> _rebuild_tensor_v2(
            PERSID ('storage', torch.<Type>Storage, key, 'cpu', numel),
            0, shape, stride, False, OrderedDict())
    """
    out = io.BytesIO()
    emit = out.write
    emit(pickle.PROTO + b"\x02")
    _emit_global(emit, "collections", "OrderedDict")
    emit(pickle.EMPTY_TUPLE + pickle.REDUCE + pickle.MARK)
    for key, (name, shape, dtype) in enumerate(names_and_shapes):
        numel = int(np.prod(shape, dtype=np.int64))
        stride = _contiguous_strides(shape)
        _emit_str(emit, name)
        _emit_global(emit, "torch._utils", "_rebuild_tensor_v2")
        emit(pickle.MARK)                       # the arguments of _rebuild_tensor_v2
        emit(pickle.MARK)                       # the persistent id
        _emit_str(emit, "storage")
        _emit_global(emit, "torch", WRITABLE_DTYPES[np.dtype(dtype)])
        _emit_str(emit, str(key))
        _emit_str(emit, "cpu")
        _emit_int(emit, numel)
        emit(pickle.TUPLE + pickle.BINPERSID)
        _emit_int(emit, 0)                      # storage offset
        _emit_int_tuple(emit, shape)
        _emit_int_tuple(emit, stride)
        emit(pickle.NEWFALSE)                   # requires_grad
        _emit_global(emit, "collections", "OrderedDict")
        emit(pickle.EMPTY_TUPLE + pickle.REDUCE)  # backward_hooks: OrderedDict()
        emit(pickle.TUPLE + pickle.REDUCE)
    emit(pickle.SETITEMS + pickle.STOP)
    return out.getvalue()


def _contiguous_strides(shape) -> tuple:
    """C-order strides in elements: stride_k = Π_{j>k} shape_j."""
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(int(n), 1)
    return tuple(reversed(strides))


def _emit_global(emit, module: str, name: str) -> None:
    emit(pickle.GLOBAL + f"{module}\n{name}\n".encode("ascii"))


def _emit_str(emit, text: str) -> None:
    data = text.encode("utf-8")
    emit(pickle.BINUNICODE + struct.pack("<I", len(data)) + data)


def _emit_int(emit, value: int) -> None:
    value = int(value)
    if 0 <= value < 1 << 31:
        emit(pickle.BININT + struct.pack("<i", value))
    else:                                       # LONG1: little-endian two's complement
        data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
        emit(pickle.LONG1 + bytes([len(data)]) + data)


def _emit_int_tuple(emit, values) -> None:
    emit(pickle.MARK)
    for v in values:
        _emit_int(emit, v)
    emit(pickle.TUPLE)
