"""torch's ``data.pkl`` read without torch: a restricted unpickler (docs/interop.md, "No code
from a file is run").

A torch file's ``data.pkl`` names a few globals of torch (``torch._utils._rebuild_tensor_v2``,
storage types such as ``torch.FloatStorage``) and refers to the tensors' bytes, the records
``data/<key>`` of the zip, by *persistent ids* ``('storage', storage_type, key, location,
numel)``.  ``unpickle`` resolves exactly the globals torch's own ``weights_only=True`` loader
allows for plain tensors to stand-ins written here, which build NumPy arrays; every other
global is an ``UnsafeFileError`` naming it.  Since ``find_class`` is the only way a pickle can
reach a callable, REDUCE, NEWOBJ and BUILD can only ever call these stand-ins.  In a
TorchScript archive, ``torch.jit._pickle``'s ``restore_type_tag`` and
``build_{int,double,bool,tensor}list`` are allowed too, with torch's data-only meaning (a new,
checked copy of the list or dict given).  The opcodes are walked first (opcode_walk).

Dtypes: floats, integers and bool load; complex64/complex128 are read (and refused by the
caller, naming the tensor); dtypes NumPy has no exact equivalent for (float8, complex32,
quantized, sub-byte) are refused as "unsupported dtype".

Tensor rebuild: a tensor is ``storage[offset + Σ index_k · stride_k]`` over its ``size``
(in elements).  Its extent ``offset + 1 + Σ (size_k − 1) · stride_k`` must fit the storage's
element count, and the storage's record must hold ``numel · itemsize`` bytes: a file that
claims more is refused, never read past its end.  Views come out as independent contiguous
copies, each made once from the record's bytes (byte order and float32 conversion in the
same copy).  float16 and bfloat16 become float32 (exactly), noted in ``converted``
(``{id(array): original dtype}``) for the caller's note.  (Writing one:
torch_zip.pickle_state_dict.)
"""

from __future__ import annotations

import io
import pickle
from collections import OrderedDict

import numpy as np

from ..checks import printable_name, printable_text
from .file_errors import UnsafeFileError, WeightFileError
from .opcode_walk import check_opcodes

__all__ = ["unpickle", "ScriptObject", "STORAGE_TYPES", "WRITABLE_DTYPES",
           "bfloat16_bits_to_float32"]

# storage type (a global of module ``torch``) -> NumPy dtype name of its elements
STORAGE_TYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}
# dtype globals (``torch.float32`` …), which _rebuild_tensor_v3 names beside an untyped storage
TORCH_DTYPES = {
    "float64": "float64", "double": "float64", "float32": "float32", "float": "float32",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64",
    "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
    "int8": "int8", "uint8": "uint8", "bool": "bool", "uint16": "uint16", "uint32": "uint32",
    "uint64": "uint64", "complex64": "complex64", "cfloat": "complex64",
    "complex128": "complex128", "cdouble": "complex128",
}
# dtypes torch knows and NumPy has no exact equivalent for: their tensors are refused as
# "unsupported dtype" (never as an unsafe global: naming them runs nothing either)
UNSUPPORTED_TORCH_DTYPES = frozenset("""
    complex32 chalf float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu
    float4_e2m1fn_x2 qint8 quint8 qint32 quint4x2 quint2x4 bits1x8 bits2x4 bits4x2 bits8 bits16
    bit int1 int2 int3 int4 int5 int6 int7 uint1 uint2 uint3 uint4 uint5 uint6 uint7
""".split())
UNSUPPORTED_STORAGE_TYPES = frozenset("""
    QInt8Storage QUInt8Storage QInt32Storage QUInt4x2Storage QUInt2x4Storage
""".split())
WRITABLE_DTYPES = {np.dtype(v): k for k, v in STORAGE_TYPES.items()
                   if v != "bfloat16" and not v.startswith("complex")}

_PYTHON2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

# Rebuilt tensors may total at most this many times the bytes of the storages they view,
# plus the slack below: a few bytes of pickle cannot make the reader allocate gigabytes
# (a zero-stride view over one element, the same storage referenced a million times).
_BUILT_BYTES_FACTOR = 8
_BUILT_BYTES_SLACK = 1 << 26


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` & co (and the untyped storage: dtype None)."""

    def __init__(self, name: str, dtype: str | None, supported: bool = True):
        self.name, self.dtype, self.supported = name, dtype, supported


class _DType:
    """Stand-in for a dtype global such as ``torch.float32`` (dtype None: one NumPy has no
    exact equivalent for, such as ``torch.float8_e4m3fn``)."""

    def __init__(self, name: str, dtype: str | None):
        self.name, self.dtype = name, dtype


class _Storage:
    """One ``data/<key>`` record: its bytes as a flat array of ``dtype`` (``numel`` of them)."""

    def __init__(self, key: str, storage_type: _StorageType, numel: int, data: bytes):
        self.key, self.storage_type, self.numel, self.data = key, storage_type, numel, data


class _StateDictType(OrderedDict):
    """Stand-in for ``collections.OrderedDict``; takes torch's ``_metadata`` (a BUILD)."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise UnsafeFileError(f"an OrderedDict is given a state of type "
                                  f"{type(state).__name__}, not a dict of attributes")
        self.metadata = state      # torch's {"_metadata": {...}}: versions, unused here


class ScriptObject:
    """A TorchScript object (``__torch__.<class>``): its attributes, set by BUILD."""

    qualified_name = "__torch__"

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise WeightFileError(f"TorchScript object {printable_name(self.qualified_name)} has "
                                  f"a custom state ({type(state).__name__}); nplstm reads "
                                  "plain modules' attributes only")
        self.attributes = state


def _script_class(qualified_name: str) -> type:
    return type("ScriptObject", (ScriptObject,), {"qualified_name": qualified_name})


def unpickle(data: bytes, read_record, *, source: str, scripted: bool = False,
             byteorder: str = "little") -> tuple:
    """(the object pickled in ``data`` (a torch ``data.pkl``), tensors as NumPy arrays;
    ``{id(array): "float16" or "bfloat16"}`` of the arrays that are now float32).

    read_record(key) -> bytes   the bytes of record ``data/<key>`` (raises WeightFileError
                                when there is none)
    source                      how messages name the file
    scripted                    a TorchScript archive: ``__torch__.*`` classes are allowed and
                                come back as ``ScriptObject`` instances with ``attributes``
    byteorder                   "little" or "big": the byte order of the storages' elements
    """
    check_opcodes(data, source)
    unpickler = _RestrictedUnpickler(data, read_record, source=source, scripted=scripted,
                                     byteorder=byteorder)
    try:
        obj = unpickler.load()
    except WeightFileError as err:     # the stand-ins' refusals: each names the file
        if str(err).startswith(source):
            raise
        raise type(err)(f"{source}: {err}") from None
    except RecursionError:
        raise WeightFileError(f"{source}: data.pkl nests too deeply to be a state dict") \
            from None
    except Exception as err:   # the C unpickler's own errors on a damaged stream, of any type
        raise WeightFileError(f"{source}: data.pkl is not a readable pickle (corrupt or "
                              f"truncated: {type(err).__name__}: "
                              f"{printable_text(str(err), 200)})") from None
    return obj, unpickler.converted


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data, read_record, *, source, scripted, byteorder):
        super().__init__(io.BytesIO(data))
        self._order = "<" if byteorder == "little" else ">"
        self._read_record, self._source, self._scripted = read_record, source, scripted
        self._storages, self.converted = {}, {}
        self._built_bytes = self._storage_bytes = 0
        self._globals = {
            ("collections", "OrderedDict"): _StateDictType,
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor_v2,   # its first 4 args
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor_v2,
            ("torch._utils", "_rebuild_tensor_v3"): self._rebuild_tensor_v3,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
            ("torch.storage", "UntypedStorage"): _StorageType("UntypedStorage", None),
        }
        for name, dtype in STORAGE_TYPES.items():
            self._globals["torch", name] = _StorageType(name, dtype)
        for name, dtype in TORCH_DTYPES.items():
            self._globals["torch", name] = _DType(name, dtype)
        for name in UNSUPPORTED_TORCH_DTYPES:
            self._globals["torch", name] = _DType(name, None)
        for name in UNSUPPORTED_STORAGE_TYPES:
            self._globals["torch", name] = _StorageType(name, None, supported=False)
        if scripted:   # TorchScript's list tags: data in, the same data out (torch.jit._pickle)
            for name, check in _SCRIPT_LIST_BUILDERS.items():
                self._globals["torch.jit._pickle", name] = _script_list_builder(name, check)
            self._globals["torch.jit._pickle", "restore_type_tag"] = _restore_type_tag

    # -- the only ways a pickle reaches objects that are not plain data ----------------------
    def find_class(self, module, name):
        allowed = self._globals.get((module, name))
        if allowed is not None:
            return allowed
        if self._scripted and (module == "__torch__" or module.startswith("__torch__.")):
            return _script_class(f"{module}.{name}")
        module = _PYTHON2_MODULES.get(module, module)     # protocol 2 writes Python 2's names
        raise UnsafeFileError(
            f"{self._source}: refused the global {printable_name(f'{module}.{name}')}: nplstm "
            "reads state dicts (tensors in dicts) and allows only the globals they need; "
            "nothing was executed. "
            "If this is a whole model saved with torch.save(model), save "
            "model.state_dict() instead")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[3], str) and _is_int(pid[4]) and pid[4] >= 0):
            raise UnsafeFileError(f"{self._source}: refused the persistent id "
                                  f"{printable_name(pid, 200)}: "
                                  "nplstm understands only ('storage', <storage type>, key, "
                                  "location, numel)")
        _, storage_type, key, _location, numel = pid
        if not storage_type.supported:
            raise WeightFileError(f"{self._source}: storage {_record(key)} is a "
                                  f"torch.{storage_type.name}: unsupported dtype (nplstm "
                                  "loads float, integer and bool tensors)")
        if key in self._storages:
            return self._storages[key]
        data = self._read_record(key)
        itemsize = 1 if storage_type.dtype is None else _itemsize(storage_type.dtype)
        if len(data) < numel * itemsize:
            raise WeightFileError(f"{self._source}: storage {_record(key)} holds "
                                  f"{len(data)} bytes "
                                  f"but its header says {numel} elements of {itemsize} bytes")
        storage = _Storage(key, storage_type, numel, data)
        self._storages[key] = storage
        self._storage_bytes += numel * itemsize
        return storage

    # -- the rebuild functions ---------------------------------------------------------------
    def _rebuild_tensor_v2(self, storage, storage_offset, size, stride, requires_grad=False,
                           backward_hooks=None, metadata=None):
        return self._build(storage, storage_offset, size, stride, dtype=None)

    def _rebuild_tensor_v3(self, storage, storage_offset, size, stride, requires_grad,
                           backward_hooks, dtype, metadata=None):
        if not isinstance(dtype, _DType):
            raise WeightFileError(f"{self._source}: _rebuild_tensor_v3 names dtype "
                                  f"{type(dtype).__name__}, not a torch dtype")
        if dtype.dtype is None:
            raise WeightFileError(f"{self._source}: a tensor of dtype torch.{dtype.name}: "
                                  "unsupported dtype (nplstm loads float, integer and bool "
                                  "tensors)")
        return self._build(storage, storage_offset, size, stride, dtype=dtype.dtype)

    def _build(self, storage, offset, size, stride, *, dtype):
        """The array ``storage[offset + Σ i_k·stride_k]`` of shape ``size``, a copy."""
        if not isinstance(storage, _Storage):
            raise WeightFileError(f"{self._source}: a tensor is rebuilt from "
                                  f"{type(storage).__name__}, not a storage record")
        if not (_is_int(offset) and offset >= 0 and _is_int_tuple(size)
                and _is_int_tuple(stride) and len(size) == len(stride)):
            raise WeightFileError(f"{self._source}: tensor on {_record(storage.key)} has offset "
                                  f"{printable_name(offset, 40)}, size "
                                  f"{printable_name(size, 80)}, stride "
                                  f"{printable_name(stride, 80)}: "
                                  "expected a non-negative offset and as many non-negative "
                                  "sizes as strides")
        dtype = dtype or storage.storage_type.dtype
        if dtype is None:
            raise WeightFileError(f"{self._source}: a tensor on the untyped storage "
                                  f"{_record(storage.key)} names no dtype")
        itemsize = _itemsize(dtype)
        numel = storage.numel if storage.storage_type.dtype else storage.numel // itemsize
        count = int(np.prod(size, dtype=object))
        extent = 0 if count == 0 else 1 + sum((n - 1) * s for n, s in zip(size, stride))
        if offset + extent > numel:   # elements past the storage's end
            raise WeightFileError(
                f"{self._source}: a tensor of size {tuple(size)}, stride {tuple(stride)} at "
                f"offset {offset} reaches element {offset + extent} of storage "
                f"{_record(storage.key)}, which holds {numel}: the storage is too short")
        self._built_bytes += count * itemsize
        if self._built_bytes > _BUILT_BYTES_FACTOR * self._storage_bytes + _BUILT_BYTES_SLACK:
            raise WeightFileError(f"{self._source}: the pickle builds {self._built_bytes} "
                                  f"bytes of tensors from {self._storage_bytes} bytes of "
                                  "storage: refused (not a state dict)")
        raw_dtype = np.dtype("u2" if dtype == "bfloat16" else dtype).newbyteorder(self._order)
        flat = np.frombuffer(storage.data, dtype=raw_dtype, count=numel)
        if count == 0:
            view = np.empty(size, dtype=flat.dtype)
        else:   # a read-only view of the record's bytes: nothing is copied yet
            view = np.lib.stride_tricks.as_strided(
                flat[offset:], shape=tuple(size),
                strides=tuple(s * itemsize for s in stride), writeable=False)
        return self._native_copy(view, dtype)

    def _native_copy(self, view, dtype):
        """The one copy of ``view``: C order, native byte order; float16 and bfloat16 as
        float32 (exact), noted in ``converted``."""
        if dtype == "bfloat16":
            array = bfloat16_bits_to_float32(view)
        elif dtype == "float16":
            array = view.astype(np.float32, order="C")
        else:
            return view.astype(view.dtype.newbyteorder("="), order="C")
        self.converted[id(array)] = dtype
        return array


def bfloat16_bits_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 values (their bits as uint16, any byte order and strides) as float32, exactly:
    a bfloat16 is the top 16 bits of a float32, so shift them back into place.  One new
    C-ordered array, the same shape."""
    array = bits.astype(np.uint32, order="C")
    array <<= 16
    return array.view(np.float32)


def _restore_type_tag(value, type_str):
    """``torch.jit._pickle.restore_type_tag``: a list or dict with its TorchScript type
    string (``"List[str]"``); the value itself, as a new list or dict."""
    if not isinstance(type_str, str) or not isinstance(value, (list, dict)):
        raise WeightFileError(f"restore_type_tag is given {type(value).__name__} and "
                              f"{type(type_str).__name__}, not a list or dict and its type name")
    return type(value)(value)


def _script_list_builder(name: str, allowed):
    """``torch.jit._pickle.build_<kind>list``: a list of ``allowed`` items, returned as a new
    list (torch returns it as it is)."""
    def build(data):
        if not isinstance(data, list) or not all(allowed(item) for item in data):
            raise WeightFileError(f"{name} is given a {type(data).__name__} that is not a "
                                  "list of its items")
        return list(data)
    return build


_SCRIPT_LIST_BUILDERS = {     # name -> what each item must be
    "build_intlist": lambda item: _is_int(item),
    "build_doublelist": lambda item: isinstance(item, float),
    "build_boollist": lambda item: isinstance(item, bool),
    "build_tensorlist": lambda item: isinstance(item, np.ndarray),
}


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    """A Parameter is its data here (requires_grad and hooks mean nothing to arrays)."""
    if not isinstance(data, np.ndarray):
        raise WeightFileError(f"a Parameter is rebuilt from {type(data).__name__}, "
                              "not a tensor")
    return data


def _record(key) -> str:
    """``data/<key>``, as messages show it."""
    return printable_name(f"data/{key}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int_tuple(value) -> bool:
    return isinstance(value, tuple) and all(_is_int(v) and v >= 0 for v in value)


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
