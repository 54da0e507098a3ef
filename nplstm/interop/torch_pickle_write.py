"""torch's ``data.pkl`` of a state dict, written without torch.

``pickle_state_dict`` emits the same opcodes ``torch.save`` does (protocol 2), by hand: the
standard ``pickle.Pickler`` would have to import torch to write its globals.  Its tensors
refer to the records ``data/0``, ``data/1``, … in order (torch_zip.write_torch_zip writes
them).
"""

from __future__ import annotations

import io
import pickle
import struct

import numpy as np

from .torch_pickle import WRITABLE_DTYPES

__all__ = ["pickle_state_dict"]


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
