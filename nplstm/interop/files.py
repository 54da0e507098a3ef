"""``load_weights`` / ``save_weights``: state dicts in and out of weight files, by type.

    load_weights(path, key=None, max_ratio=100) -> {name: numpy array}
        torch .pt/.pth (zip format, TorchScript too)   read without torch (torch_zip)
        .safetensors                                   safetensors.numpy (extra: safetensors)
        .npz (an nplstm checkpoint, or plain arrays)   numpy, allow_pickle=False
        .keras, .weights.h5                            nplstm.interop.keras (extra: keras)
    save_weights(state_dict, path)                     .pt, .safetensors or .npz, atomically

The type comes from the content (a zip holding data.pkl, a safetensors header, a zip of
.npy files, the HDF5 signature), not the name, so a torch file called ``model.bin`` loads.
Refusals are WeightFileError (damaged, foreign) or UnsafeFileError (a pickle naming
a global a state dict never needs); things worth knowing about a file that loads (float16
converted, NaN values, a state dict picked from a checkpoint dict) are WeightFileWarning.

Memory and time per file: about the arrays it really holds, linear in its size
(docs/interop.md, "Memory and time per file size").
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import asnumpy, check_not_masked, is_array
from ..checks import check_path, printable_text, quoted_name, quoted_names
from ..io import CheckpointError, atomic_write, atomic_write_bytes, load_checkpoint
from ..io.checkpoint import NPY_HEADER_READERS, write_npz
from ..io.zip_limits import DEFAULT_MAX_RATIO, checked_max_ratio, open_zip, read_into
from ..nn import Parameter
from .file_errors import WeightFileError, require
from .groups import named_entries
from .notes import converted_note, note
from .torch_pickle import WRITABLE_DTYPES, bfloat16_bits_to_float32
from .torch_zip import is_torch_zip, read_torch_state_dict, write_torch_zip, zip_errors

__all__ = ["load_weights", "save_weights", "detect_format", "FORMATS"]

FORMATS = {"torch": ".pt/.pth", "safetensors": ".safetensors", "npz": ".npz",
           "keras": ".keras/.weights.h5"}
_SAVE_SUFFIXES = {".pt": "torch", ".pth": "torch", ".safetensors": "safetensors",
                  ".npz": "npz"}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
# torch.save(..., _use_new_zipfile_serialization=False): a pickle (protocol 2) of this number
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def load_weights(path: str | os.PathLike[str], *, key: str | None = None,
                 max_ratio: float | None = DEFAULT_MAX_RATIO) -> dict[str, Any]:
    """The state dict in the weight file ``path``: ``{name: numpy array}``.

    key   for a torch checkpoint dict (``{"model": state_dict, "epoch": 3, …}``), the entry
          holding the state dict.  Without it, a checkpoint dict with exactly one dict of
          tensors gives that one (with a WeightFileWarning naming the key); with several,
          it is refused with their keys listed.
    max_ratio  a compressed zip record (an .npz from numpy.savez_compressed, a .keras
          file) may unpack to at most this many times its compressed size (+ 1 MiB), so a
          small file cannot make the reader allocate gigabytes; ``None`` lifts the limit
          for a file you trust.  A number >= 1 or None.

    Arrays come back in native byte order with their own memory; float16 and bfloat16
    become float32 (exactly) with a WeightFileWarning, as does a tensor holding NaN or inf
    (loaded as it is).  Raises WeightFileError naming the file and what is wrong, or
    UnsafeFileError for a pickle that names a global a state dict does not need (nothing
    from it is executed).
    """
    path = Path(check_path("path", path))
    source = str(path)
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be a str or None, got {type(key).__name__}")
    max_ratio = checked_max_ratio(max_ratio)
    try:
        is_file = path.is_file()
    except OSError as err:                   # a name too long for the file system, …
        raise WeightFileError(f"{quoted_name(source)}: {err.strerror}") from None
    if not is_file:
        raise WeightFileError(f"{source}: " + ("a directory, not a weight file"
                                               if path.is_dir() else "no such file"))
    kind = detect_format(path)
    if kind != "torch" and key is not None:
        raise WeightFileError(f"{source}: key={key!r} picks an entry of a torch checkpoint "
                              f"dict, but this is a {kind} file of flat names (use "
                              "nplstm.interop.select(state_dict, prefix) to pick a part)")
    notes = []
    state_dict = _READERS[kind](path, source=source, key=key, notes=notes,
                                max_ratio=max_ratio)
    state_dict = _checked_loaded(state_dict, source=source, notes=notes)
    for message in notes:
        note(message, stacklevel=2)
    return state_dict


def save_weights(state_dict: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``state_dict`` (``{name: array}``) to ``path``; its suffix picks the format:
    ``.pt``/``.pth`` (torch's zip format, which ``torch.load(path, weights_only=True)``
    reads), ``.safetensors`` or ``.npz``.  Written atomically: on any error the old file
    is untouched.

    Values may be NumPy arrays or scalars, CuPy arrays, nplstm Parameters or torch tensors,
    of dtype float16/32/64, (u)int8, int16/32/64 or bool.  A wrong type is a TypeError
    naming the entry; an unknown suffix a ValueError.
    """
    path = Path(check_path("path", path))
    kind = _SAVE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"path must end in {', '.join(_SAVE_SUFFIXES)} (the format to write), "
                         f"got {str(path)!r}; ONNX is written by `nplstm convert` or "
                         "nplstm.interop.onnx_export.export_onnx")
    arrays = _checked_for_saving(state_dict)
    if kind == "safetensors":
        atomic_write_bytes(path, require("safetensors.numpy", "safetensors",
                                         f"writing {path}").save(arrays))
    elif kind == "npz":
        _check_npz_names(arrays)
        atomic_write(path, lambda f: write_npz(f, arrays))
    else:
        atomic_write(path, lambda f: write_torch_zip(f, arrays))


# -- what a file is ---------------------------------------------------------------------------

def detect_format(path) -> str:
    """The kind of weight file ``path`` holds, from its content: "torch", "safetensors",
    "npz" or "keras".  Anything else (torch's legacy format, a plain pickle, …) is a
    WeightFileError."""
    path = Path(path)
    source = str(path)
    with open(path, "rb") as f:
        head = f.read(16)
    size = path.stat().st_size
    if head.startswith(_ZIP_SIGNATURES):
        with zip_errors(source), zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if is_torch_zip(names):
            return "torch"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        if "model.weights.h5" in names or "config.json" in names:
            return "keras"
        raise WeightFileError(f"{source}: a zip archive that is not a torch file, an .npz or "
                              f"a .keras file (it holds {quoted_names(sorted(names))})")
    if head.startswith(_HDF5_SIGNATURE):
        return "keras"
    if head.startswith(_LEGACY_TORCH_MAGIC):
        raise WeightFileError(
            f"{source}: torch's legacy (pre-1.6, non-zip) format, which nplstm does not read; "
            "resave it with a current torch: torch.save(torch.load(path, weights_only=True), "
            "new_path)")
    if len(head) > 1 and head[0] == pickle.PROTO[0] and 2 <= head[1] <= pickle.HIGHEST_PROTOCOL:
        raise WeightFileError(f"{source}: a plain pickle, which nplstm never reads (a pickle "
                              "can run code); save a state dict with torch.save, "
                              "safetensors or numpy.savez")
    if len(head) >= 9 and head[8:9] == b"{":
        header_length = struct.unpack("<Q", head[:8])[0]
        if 8 + header_length > size:
            raise WeightFileError(f"{source}: a truncated safetensors file (its header says "
                                  f"{header_length} bytes, the file has {size - 8} after "
                                  "the length)")
        return "safetensors"
    expected = _expected_from_suffix(path)
    raise WeightFileError(f"{source}: not a weight file nplstm reads{expected} (empty, "
                          "truncated or of another kind); nplstm reads " +
                          ", ".join(FORMATS.values()))


def _expected_from_suffix(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".onnx"):
        return (" (an ONNX graph: read its LSTMs and GRUs with "
                "nplstm.interop.onnx_import.import_onnx, or `nplstm convert` it)")
    for kind, suffixes in FORMATS.items():
        if any(name.endswith(s) for s in suffixes.split("/")):
            return f" (named like a {kind} file, but its content is not one)"
    return ""


# -- readers: (path, source, key, notes, max_ratio) -> {name: array} --------------------------

# safetensors dtype names NumPy reads exactly (BF16 is converted here); others are refused
_SAFETENSORS_DTYPES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32",
                       "U16", "U8", "BOOL", "C64"}


def _read_safetensors(path, *, source, key, notes, max_ratio) -> dict:
    """Through the safetensors package (which checks the header and every offset); bfloat16
    tensors, which NumPy lacks, are read from their checked offsets and converted to
    float32 exactly, as in a .pt file."""
    require("safetensors.numpy", "safetensors", f"reading {source}")   # safe_open's framework
    from safetensors import safe_open  # noqa: PLC0415  (an optional extra)

    try:
        with safe_open(str(path), framework="numpy") as f:
            dtypes = {name: f.get_slice(name).get_dtype() for name in f.keys()}
            for name, dtype in dtypes.items():
                if dtype not in _SAFETENSORS_DTYPES:
                    raise WeightFileError(f"{source}: {quoted_name(name)} has dtype {dtype}: "
                                          "unsupported dtype (nplstm loads float, integer "
                                          "and bool tensors)")
            arrays = {name: (None if dtype == "BF16" else f.get_tensor(name))
                      for name, dtype in dtypes.items()}
    except WeightFileError:
        raise
    except Exception as err:   # the safetensors parser's errors, whatever their type
        raise WeightFileError(f"{source}: a damaged or unsupported safetensors file "
                              f"({type(err).__name__}: {printable_text(str(err), 200)})") \
            from None
    bfloat16 = [name for name, dtype in dtypes.items() if dtype == "BF16"]
    if bfloat16:
        arrays.update(_read_safetensors_bfloat16(path, bfloat16))
        notes.append(converted_note(source, bfloat16, "bfloat16"))
    return arrays


def _read_safetensors_bfloat16(path, names) -> dict:
    """``{name: float32 array}`` of bfloat16 tensors in a safetensors file safe_open has
    checked (header length, JSON, offsets within the file, sizes matching the shapes)."""
    with open(path, "rb") as f:
        header_length = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_length))
        start = 8 + header_length
        arrays = {}
        for name in names:
            begin, end = header[name]["data_offsets"]
            shape = tuple(header[name]["shape"])
            f.seek(start + begin)
            bits = np.fromfile(f, dtype="<u2", count=(end - begin) // 2)
            arrays[name] = bfloat16_bits_to_float32(bits.reshape(shape))
    return arrays


def _read_npz(path, *, source, key, notes, max_ratio) -> dict:
    with zip_errors(source), open_zip(path, source=source, max_ratio=max_ratio,
                                      error=WeightFileError) as archive:
        infos = archive.infolist()
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise WeightFileError(f"{source}: member {quoted_name(info.filename)} is not "
                                      "a .npy array (an .npz holds NAME.npy members, once "
                                      "each)")
        names = [info.filename[:-len(".npy")] for info in infos]
        if not ("meta" in names and any(name.startswith("model/") for name in names)):
            return {name: _read_npy_member(archive, info, source)
                    for name, info in zip(names, infos)}
    try:                                   # an nplstm checkpoint: its reader checks it all
        return load_checkpoint(path)["model"]
    except CheckpointError as err:
        raise WeightFileError(str(err)) from None


def _read_npy_member(archive, info, source) -> np.ndarray:
    """One .npy member, read by its exact name (``NpzFile`` would find ``a.npy`` for the key
    ``a.npy`` even where the member is ``a.npy.npy``), never unpickled, and refused when its
    header declares another number of bytes than the member holds (before allocating
    anything).  The bytes are read straight into the array (no second copy)."""
    member = quoted_name(info.filename)
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        read_header = NPY_HEADER_READERS.get(version)
        if read_header is None:
            raise WeightFileError(f"{source}: {member} is an .npy of format {version}")
        shape, fortran_order, dtype = read_header(f)
        if dtype.hasobject:
            raise WeightFileError(f"{source}: {member} holds Python objects (a pickle), "
                                  "which nplstm never loads")
        size = dtype.itemsize * int(np.prod(shape, dtype=object))
        if info.file_size != f.tell() + size:
            raise WeightFileError(f"{source}: {member} declares shape {shape} of {dtype} "
                                  f"({size} bytes) but holds {info.file_size - f.tell()} "
                                  "bytes")
        array = np.empty(shape, dtype=dtype, order="F" if fortran_order else "C")
        done = read_into(f, array)
        if done != size:
            raise WeightFileError(f"{source}: {member} ends after {done} of its {size} bytes")
    return array


def _read_keras(path, *, source, key, notes, max_ratio) -> dict:
    from .keras import read_keras_weights  # noqa: PLC0415  (its own extra: h5py)

    return read_keras_weights(path, max_ratio=max_ratio)


_READERS = {"torch": read_torch_state_dict, "safetensors": _read_safetensors, "npz": _read_npz,
            "keras": _read_keras}


# -- checks -----------------------------------------------------------------------------------

def _checked_loaded(state_dict: dict, *, source: str, notes: list) -> dict:
    """Numbers only, native byte order, float16 as float32; NaN/inf noted."""
    checked, half, not_finite = {}, [], []
    for name, array in state_dict.items():
        array = np.asarray(array)
        if array.dtype.kind not in "fiub" or array.dtype.itemsize > 8:
            raise WeightFileError(f"{source}: {quoted_name(name)} has dtype {array.dtype}: "
                                  "unsupported dtype (nplstm loads floats, integers, bool)")
        if array.dtype == np.float16:
            half.append(name)
            array = array.astype(np.float32)
        array = array.astype(array.dtype.newbyteorder("="), copy=False)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            not_finite.append(name)
        checked[name] = array
    if half:
        notes.append(converted_note(source, half, "float16"))
    if not_finite:
        notes.append(f"{source}: {quoted_names(not_finite, 6)} hold NaN or inf values (loaded as "
                     "they are)")
    return checked


def _checked_for_saving(state_dict) -> dict:
    """``{name: C-contiguous numpy array}`` from the user's dict, or a TypeError."""
    arrays = {}
    for name, value in named_entries(state_dict):
        check_not_masked(f"state_dict[{name!r}]", value)       # its mask would be dropped
        array = _host_array(value)
        if array is None:
            raise TypeError(f"state_dict[{name!r}] must be an array (NumPy, CuPy, a "
                            f"Parameter or a torch tensor), got {type(value).__name__}")
        if array.dtype.newbyteorder("<") not in WRITABLE_DTYPES:
            raise TypeError(f"state_dict[{name!r}] has dtype {array.dtype}; weight files hold "
                            "float16/32/64, int8/16/32/64, uint8 or bool")
        arrays[name] = np.require(array, requirements="C")   # (ascontiguousarray: 0-d → 1-d)
    return arrays


def _host_array(value):
    if isinstance(value, Parameter):
        value = value.data
    if isinstance(value, (np.ndarray, np.generic)):     # an array, or a NumPy scalar
        return np.asarray(value)
    if is_array(value):                                 # CuPy
        return asnumpy(value)
    if hasattr(value, "detach") and hasattr(value, "numpy"):   # a torch tensor
        return value.detach().cpu().numpy()
    return None


_ZIP_NAME_BYTES = 0xFFFF      # a zip record name's length field is 16 bits


def _check_npz_names(arrays: dict) -> None:
    """A ValueError naming the first key that cannot be an .npz record name (``NAME.npy``,
    UTF-8, at most 65535 bytes), before anything is written."""
    for name in arrays:
        try:
            size = len(f"{name}.npy".encode("utf-8"))
        except UnicodeEncodeError:
            raise ValueError(f"state_dict key {quoted_name(name)} cannot be written to .npz "
                             "(it is not valid Unicode: a zip record name is UTF-8)") from None
        if size > _ZIP_NAME_BYTES:
            raise ValueError(f"state_dict key {quoted_name(name)} is {size} bytes as an .npz "
                             f"record name, beyond the zip format's {_ZIP_NAME_BYTES}; write "
                             ".safetensors or .pt instead")


