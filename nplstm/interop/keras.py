"""Read the LSTM and GRU layers of a Keras 3 ``.keras`` or ``.weights.h5`` file as torch's
state dict (docs/interop.md, "Keras" and "GRUs", says what is read, assumed and refused).

Keras's LSTM (keras/src/layers/rnn/lstm.py, ``_compute_carry_and_output_fused``) computes
z = x·kernel + h·recurrent_kernel + bias and splits z along 4H into the gates i, f, c, o,
which is torch's i, f, g, o.  So

    weight_ih = kernelᵀ (4H, I)    weight_hh = recurrent_kernelᵀ (4H, H)
    bias_ih = bias                 bias_hh = 0            (use_bias=False: no bias keys)

Keras's GRU (keras/src/layers/rnn/gru.py, ``GRUCell.call``) stacks its gates along 3H as
z, r, h and, with reset_after=True (Keras 3's default; bias (2, 3H) = [input bias, recurrent
bias]), computes torch's GRU with its r, z, n blocks taken from Keras's blocks 1, 0, 2
(``GRU_ORDER``, ONNX's too): weight_ih = kernelᵀ, weight_hh = recurrent_kernelᵀ,
bias_ih = bias[0], bias_hh = bias[1], each reordered.  reset_after=False (r ⊙ h before U_h,
bias (3H,)) is another function: refused by name.  A bare ``.weights.h5``'s GRU without a
bias is assumed reset_after=True, as its activations are assumed Keras's defaults.

Layers are found through the model's config.json (nothing in it is executed) or, without
one, by their shapes (keras_layers).  LSTM (or GRU) layers that chain directly (one's
return_sequences output is the next one's only input, same kind, units, use_bias, both plain
or both Bidirectional) become the layers ``_l0, _l1, …`` of one module; a Bidirectional's
backward layer is the ``_reverse`` direction.  One chain: torch's names; several: each
prefixed with the Keras name of its first layer and a dot (``encoder.weight_ih_l0``).

Nothing but the file's own bytes is read: before anything else, ``check_self_contained``
walks every link of the HDF5 file once (hard links only) and refuses, naming the link,
external, soft and user-defined links, virtual datasets and external storage
(``UnsafeFileError``); a group or dataset reached by two links, groups nested over
``MAX_DEPTH``, filtered datasets, and datasets declaring more bytes than the file stores
(``WeightFileError``).  config.json is parsed by ``loads_bounded``: Python's parser recurses
once per ``[`` or ``{``, so the nesting is measured first, on the bytes with the strings
taken out, in time linear in the size.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..checks import printable_name, printable_text, quoted_name
from ..io.zip_limits import DEFAULT_MAX_RATIO, open_zip
from .file_errors import UnsafeFileError, WeightFileError, require
from .keras_layers import KerasLayer, layers_from_config, layers_from_h5
from .onnx_export import GRU_ORDER, reorder_gates

__all__ = ["read_keras_weights", "check_self_contained", "loads_bounded", "nesting_depth",
           "MAX_CONFIG_BYTES", "MAX_CONFIG_DEPTH", "MAX_DEPTH"]

MAX_CONFIG_BYTES = 64 << 20    # config.json: Keras's are kilobytes, a large model's a few MB
MAX_CONFIG_DEPTH = 200         # its nesting: Keras's is about 10 per nested model
MAX_DEPTH = 64                 # HDF5 groups: Keras's deepest paths (nested models) are about 12
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def read_keras_weights(path, *, max_ratio=DEFAULT_MAX_RATIO) -> dict:
    """``{name: array}`` of the LSTM and GRU layers in ``path`` (``.keras`` or ``.weights.h5``), in
    torch's names, shapes and gate order (see the module docstring); arrays keep the file's
    dtype.  A missing, damaged or foreign file is a ``WeightFileError`` naming it, and so is a
    ``.keras`` zip naming a record twice or unpacking to over ``max_ratio`` times its size
    (nplstm.io.zip_limits; ``None``: no limit)."""
    h5py = require("h5py", "keras", "reading Keras files")
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"no Keras file at {path}")
    try:
        if zipfile.is_zipfile(path):
            with open_zip(path, source=str(path), max_ratio=max_ratio,
                          error=WeightFileError) as archive:   # nplstm.io.zip_limits
                names = archive.namelist()
                if "config.json" not in names or "model.weights.h5" not in names:
                    raise WeightFileError(f"{path} is a zip but not a .keras file (it "
                                          f"has {printable_name(names[:5])}, not config.json and "
                                          "model.weights.h5)")
                try:
                    config = loads_bounded(archive.read("config.json"),
                                           max_bytes=MAX_CONFIG_BYTES, max_depth=MAX_CONFIG_DEPTH)
                except ValueError as err:
                    raise WeightFileError(f"{path}: its config.json is refused: {err}") from None
                weights = archive.read("model.weights.h5")
        else:
            config, weights = None, None
        with contextlib.ExitStack() as stack:
            # h5py reads the bytes through a Python file object (its "fileobj" driver): the
            # .h5 inside a .keras from memory, a .weights.h5 through one open handle
            source = io.BytesIO(weights) if weights is not None else \
                stack.enter_context(path.open("rb"))
            size = len(weights) if weights is not None else os.fstat(source.fileno()).st_size
            f = stack.enter_context(h5py.File(source, "r"))
            check_self_contained(h5py, f, str(path), size)   # before anything else is read
            if "model_weights" in f or "layer_names" in f.attrs:
                raise WeightFileError(f"{path} is a Keras 2 (legacy HDF5) file; load "
                                      "it in Keras 3 and save it as .keras")
            # a subclassed model's config lists no layers: read it as a bare weights file
            listed = isinstance(config, dict) and "layers" in config.get("config", {})
            try:
                layers = layers_from_config(config, f) if listed else layers_from_h5(f)
                if not layers:
                    raise WeightFileError("it holds no Keras LSTM layer nor GRU layer")
                return _state_dict(_chains(layers))
            except WeightFileError as err:        # a layer's refusal: name the file
                raise type(err)(f"{path}: {err}") from None
    except WeightFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, AttributeError, IndexError, RuntimeError,
            NotImplementedError, EOFError, OverflowError, struct.error, zlib.error,
            zipfile.BadZipFile) as err:   # h5py: RuntimeError, OSError (a damaged HDF5
        # file); zipfile: NotImplementedError (encryption), EOFError, zlib.error (a cut or
        # damaged deflated record)
        raise WeightFileError(f"{path} is not a readable Keras file (damaged, truncated "
                              f"or not a Keras 3 model: {type(err).__name__}: "
                              f"{printable_text(str(err), 300)})") from None


# -- the file's own bytes, bounded ----------------------------------------------------------

def nesting_depth(data: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in the JSON text ``data``, outside strings (an
    upper bound for text that is not valid JSON)."""
    text = np.frombuffer(_STRING.sub(b'""', data), dtype=np.uint8)
    step = np.isin(text, (ord("["), ord("{"))).astype(np.int64) \
        - np.isin(text, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def loads_bounded(data: bytes, *, max_bytes: int, max_depth: int):
    """``json.loads(data)``, or ValueError (one line) when ``data`` is longer than
    ``max_bytes``, nests deeper than ``max_depth``, or is not JSON."""
    if len(data) > max_bytes:
        raise ValueError(f"it is {len(data)} bytes, more than the {max_bytes} allowed")
    depth = nesting_depth(data)
    if depth > max_depth:
        raise ValueError(f"it nests {depth} levels deep, more than the {max_depth} allowed")
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"it is not valid JSON ({err})") from None


def check_self_contained(h5py, f, where: str, file_size: int) -> None:
    """Refuse (see the module docstring) any link, group or dataset of the open h5py file
    ``f`` (``file_size`` bytes) that is not data of the file itself; ``where`` names it.
    Time in proportion to the number of links (bounded by the file's size); nothing is read
    from a dataset."""
    seen, declared = {f.id}, 0
    stack = [("", f, 0)]
    while stack:
        path, group, depth = stack.pop()
        for name in group:
            link_path = f"{path}/{name}"
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                kind = {h5py.SoftLink: "a soft link", h5py.ExternalLink: "an external link"}
                kind = kind.get(type(link), "a user-defined link")
                target = (f" to {printable_name(link.filename)}:{printable_name(link.path)}"
                          if isinstance(link, h5py.ExternalLink) else
                          f" to {printable_name(link.path)}" if isinstance(link, h5py.SoftLink)
                          else "")
                raise UnsafeFileError(
                    f"{where}: {quoted_name(link_path)} is {kind}"
                    f"{target}; nplstm reads only the file's own groups and datasets (hard "
                    "links), and followed nothing")
            item = group[name]
            if isinstance(item, (h5py.Group, h5py.Dataset)) and item.id in seen:
                raise WeightFileError(f"{where}: {quoted_name(link_path)} is reached by a second "
                                      "link (a cycle, or a group or dataset shared, which Keras "
                                      "never writes)")
            if isinstance(item, h5py.Group):
                if depth + 1 > MAX_DEPTH:
                    raise WeightFileError(f"{where}: groups are nested deeper than {MAX_DEPTH}")
                seen.add(item.id)
                stack.append((link_path, item, depth + 1))
            elif isinstance(item, h5py.Dataset):
                _check_dataset(item, f"{where}: the dataset {quoted_name(link_path)}", file_size)
                seen.add(item.id)
                declared += item.nbytes
                if declared > file_size:
                    raise WeightFileError(f"{where}: its datasets declare more bytes than the "
                                          f"file's {file_size} (datasets sharing storage)")


def _check_dataset(dataset, where: str, file_size: int) -> None:
    if dataset.is_virtual:
        raise UnsafeFileError(f"{where} is a virtual dataset (a view of other files' "
                              "datasets); nplstm reads only data stored in the file itself")
    plist = dataset.id.get_create_plist()
    if plist.get_external_count():
        raise UnsafeFileError(f"{where} keeps its bytes in an external file "
                              f"({printable_name(plist.get_external(0)[0])}); nplstm reads "
                              "only data stored in the file itself")
    if plist.get_nfilters():
        raise WeightFileError(f"{where} is filtered (compressed); Keras writes plain "
                              "datasets, and a compressed one's size is not bounded by the file")
    stored = dataset.id.get_storage_size()
    if dataset.nbytes > min(stored, file_size):
        raise WeightFileError(f"{where} declares {dataset.nbytes} bytes but the file stores "
                              f"{stored} of them (never written, or past the file's end)")


# -- chains and names ---------------------------------------------------------------------------

def _chains(layers: list) -> list:
    """Group the layers into chains: each layer joins the previous one's chain when it is
    that layer's only consumer and its only input, and the two stack like torch's layers."""
    by_name = {layer.name: layer for layer in layers}
    chains, chain_of = [], {}
    for layer in layers:
        before = by_name.get(layer.inbound[0]) if len(layer.inbound) == 1 else None
        if before is not None and before.name in chain_of and _stackable(before, layer):
            chain_of[layer.name] = chain_of[before.name]
            chains[chain_of[layer.name]].append(layer)
        else:
            chain_of[layer.name] = len(chains)
            chains.append([layer])
    return chains


def _stackable(before: KerasLayer, after: KerasLayer) -> bool:
    if not before.return_sequences or before.consumers != [after.name] or before.is_output \
            or len(before.cells) != len(after.cells) or before.kind != after.kind:
        return False
    (k0, r0, b0), (k1, r1, b1) = before.arrays(0), after.arrays(0)
    return r0.shape == r1.shape and (b0 is None) == (b1 is None) and k0.dtype == k1.dtype


def _state_dict(chains: list) -> dict:
    state = {}
    for chain in chains:
        prefix = f"{chain[0].name}." if len(chains) > 1 else ""
        for k, layer in enumerate(chain):
            for direction in range(len(layer.cells)):
                kernel, recurrent, bias = layer.arrays(direction)
                suffix = f"_l{k}" + ("_reverse" if direction else "")
                gru = layer.kind == "GRU"
                arrays = [kernel.T, recurrent.T]          # (G·H, I), (G·H, H)
                if bias is not None:   # the GRU's (2, G·H) is [Wb, Rb]; the LSTM's one (G·H,)
                    arrays += list(bias) if gru else [bias, np.zeros_like(bias)]
                order = GRU_ORDER if gru else (0, 1, 2, 3)  # Keras's z, r, h → torch's r, z, n
                state.update((f"{prefix}{name}{suffix}", reorder_gates(a, order))
                             for name, a in zip(_NAMES, arrays))
    return state


_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
