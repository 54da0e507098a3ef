"""Read the external data of an ONNX model: tensors whose bytes lie in files beside it.

torch.onnx.export (torch ≥ 2.9's default exporter) keeps the weights of even a small model in
``NAME.onnx.data`` beside ``NAME.onnx``; each such tensor names its file in
``external_data``: ``location`` (a path relative to the model's folder), ``offset`` and
``length`` in bytes (and an optional ``checksum``, not checked).  ``inline_external_data``
reads those bytes into the tensors, so that nothing later (the checker, ``to_array``) looks
for files, and never relative to the working directory.  The rule:

    location      relative, inside the model's folder after every symlink is resolved
                  (an absolute path, ``..``, or a link leading out: UnsafeFileError);
                  a regular file
    offset        a whole number; offset + length within the file's real size
    length        the tensor's size (dims × item size); absent: the same size is read
    all of them   the tensors read from one file total at most that file's size, so
                  overlapping references cannot make the reader allocate more than the
                  files hold

Anything else (a missing file, an unknown key, a string tensor) is a WeightFileError naming
the tensor.  Tensors are looked for in every graph of the model (subgraphs of If, Loop,
Scan too), as the checker looks at them all.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from .errors import UnsafeFileError, WeightFileError
from ..checks import printable_name, quoted_name

__all__ = ["inline_external_data"]

_KEYS = {"location", "offset", "length", "checksum"}


def inline_external_data(onnx, model, folder: Path, where: str) -> None:
    """Read every external tensor of ``model`` from its file in ``folder`` (see the module
    docstring), in place; ``where`` names the model in messages."""
    external = [t for t in _tensors(model.graph)
                if t.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        return
    root = os.path.realpath(folder)
    planned, used = [], {}
    for tensor in external:
        name = f"{where}: tensor {quoted_name(tensor.name)}"
        target, offset, length = _reference(onnx, tensor, root, name)
        size = os.stat(target).st_size
        if offset + length > size:
            raise WeightFileError(f"{name}: its bytes {offset}..{offset + length} lie past the "
                                  f"end of its data file ({size} bytes)")
        used[target] = used.get(target, 0) + length
        if used[target] > size:
            raise WeightFileError(f"{name}: the tensors read from "
                                  f"{quoted_name(os.path.relpath(target, root))} total more than "
                                  f"its {size} bytes (overlapping references)")
        planned.append((tensor, target, offset, length))
    for tensor, target, offset, length in planned:
        with open(target, "rb") as handle:
            handle.seek(offset)
            data = handle.read(length)
        if len(data) != length:
            raise WeightFileError(f"{where}: tensor {quoted_name(tensor.name)}: its data file "
                                  "changed while it was read")
        tensor.raw_data = data
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def _reference(onnx, tensor, root: str, name: str):
    """(the real path of the tensor's data file, offset, length), checked."""
    keys = {}
    for entry in tensor.external_data:
        if not isinstance(entry.key, str) or not isinstance(entry.value, str):   # not UTF-8
            raise WeightFileError(f"{name}: its external data entry {quoted_name(entry.key)} is "
                                  "not text")
        if entry.key not in _KEYS or entry.key in keys:
            raise WeightFileError(f"{name}: its external data has an unknown or repeated key "
                                  f"{quoted_name(entry.key)}")
        keys[entry.key] = entry.value
    location = keys.get("location", "")
    parts = Path(location).parts
    if not location or os.path.isabs(location) or ".." in parts or "\0" in location:
        raise UnsafeFileError(f"{name}: its data file {quoted_name(location)} is not a path "
                              "inside the model's folder; nplstm reads external data only "
                              "from the model's own folder, and read nothing")
    target = os.path.realpath(os.path.join(root, location))
    if os.path.commonpath([root, target]) != root:
        raise UnsafeFileError(f"{name}: its data file {quoted_name(location)} leads outside the "
                              "model's folder (a symbolic link); nplstm reads external data "
                              "only from the model's own folder, and read nothing")
    try:
        mode = os.stat(target).st_mode
    except OSError:
        raise WeightFileError(f"{name}: its data file {quoted_name(location)} is missing beside "
                              "the model") from None
    if not stat.S_ISREG(mode):
        raise WeightFileError(f"{name}: its data file {quoted_name(location)} is not a file")
    offset = _whole_number(keys.get("offset", "0"), "offset", name)
    expected = _nbytes(onnx, tensor, name)
    length = _whole_number(keys["length"], "length", name) if "length" in keys else expected
    if length != expected:
        raise WeightFileError(f"{name}: its external data is {length} bytes, but its dims "
                              f"{list(tensor.dims)} and type need {expected}")
    return target, offset, length


def _whole_number(text: str, key: str, name: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise WeightFileError(f"{name}: its external data {key} {quoted_name(text)} is not a whole "
                              "number of at most 20 digits")
    return int(text)


def _nbytes(onnx, tensor, name: str) -> int:
    """The bytes of the tensor's values, from its dims and type (fixed-size types only)."""
    kind = tensor.data_type
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(kind))
        kind_name = onnx.helper.tensor_dtype_to_string(kind)
    except (KeyError, TypeError, ValueError):
        dtype, kind_name = None, str(kind)
    packed = {getattr(onnx.TensorProto, n, None)
              for n in ("INT4", "UINT4", "FLOAT4E2M1", "INT2", "UINT2")}
    if dtype is None or dtype.kind in "OSU" or kind in packed:
        raise WeightFileError(f"{name}: external data of type {printable_name(kind_name)} is "
                              "not read")
    if any(d < 0 for d in tensor.dims):
        raise WeightFileError(f"{name}: negative dims {list(tensor.dims)}")
    count = 1
    for d in tensor.dims:
        count *= d
    return count * dtype.itemsize


def _tensors(graph):
    """Every TensorProto of ``graph`` and its subgraphs: initializers, sparse initializers,
    and node attributes."""
    graphs = [graph]
    while graphs:
        g = graphs.pop()
        yield from g.initializer
        for sparse in g.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in g.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors
                for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
                    yield sparse.values
                    yield sparse.indices
                if attribute.HasField("g"):
                    graphs.append(attribute.g)
                graphs.extend(attribute.graphs)
