"""Read the LSTM layers of a Keras 3 ``.keras`` or ``.weights.h5`` file as torch's state dict.

Keras's LSTM (keras/src/layers/rnn/lstm.py, ``_compute_carry_and_output_fused``) computes

    z = x·kernel + h·recurrent_kernel + bias,    z split along 4H as  z0 z1 z2 z3
    i = σ(z0)  f = σ(z1)  c' = f⊙c + i⊙tanh(z2)  o = σ(z3)  h' = o⊙tanh(c')

with kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,): the gates are stacked as
i, f, c, o, which is torch's i, f, g, o.  So

    weight_ih = kernelᵀ (4H, I)    weight_hh = recurrent_kernelᵀ (4H, H)
    bias_ih = bias                 bias_hh = 0            (use_bias=False: no bias keys)

Layers are found through the model's config.json (a ``.keras`` file is a zip of config.json,
metadata.json and model.weights.h5; nothing in it is executed) and read from the weights at
the path Keras gives each layer (``layers/<snake_case class name>[_<n>]``).  LSTM layers that
chain directly (one's return_sequences output is the next one's only input, same units,
same use_bias, both plain or both Bidirectional) become the layers ``_l0, _l1, …`` of one
LSTM; a Bidirectional's backward layer is the ``_reverse`` direction.  One chain: the names
are exactly torch's (``weight_ih_l0``, …); several: each is prefixed with the Keras name
of its first layer and a dot (``encoder.weight_ih_l0``).

A bare ``.weights.h5`` has no config: every LSTM layer found in it is its own chain (named
after the layer when there are several), its activations are assumed to be Keras's
defaults (tanh, sigmoid) and go_backwards False; so is a ``.keras`` file of a subclassed
model, whose config lists no layers.  Save a Sequential or functional ``.keras`` file to
have those checked.

Refused (``UnsupportedModelError``, naming the layer): an activation other than tanh, a
recurrent activation other than sigmoid, go_backwards outside a Bidirectional, a
Bidirectional merge_mode other than "concat", a mask (a Masking layer, mask_zero=True).  The
config's units and use_bias must be the weights' (``WeightFileError`` otherwise).  Accepted
as they do not change the weights' meaning: unit_forget_bias (an initializer),
dropout/recurrent_dropout (training only), stateful (carry ``(h_n, c_n)`` into the next call
yourself).  Other layers are ignored.

Nothing but the file's own bytes is read: h5py reads through a file object, and
hdf5_checks.check_self_contained refuses links, virtual datasets and external storage before
anything else is looked at; config.json is parsed with bounds on its size and nesting.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from ..io.zip_limits import DEFAULT_MAX_RATIO, open_zip, quoted_names
from .bounded_json import loads_bounded
from .errors import WeightFileError
from .hdf5_checks import check_self_contained
from .keras_layers import KerasLayer, layers_from_config, layers_from_h5
from .shown import shown

__all__ = ["read_keras_weights", "MAX_CONFIG_BYTES", "MAX_CONFIG_DEPTH"]

MAX_CONFIG_BYTES = 64 << 20    # config.json: Keras's are kilobytes, a large model's a few MB
MAX_CONFIG_DEPTH = 200         # its nesting: Keras's is about 10 per nested model


def read_keras_weights(path, *, max_ratio=DEFAULT_MAX_RATIO) -> dict:
    """``{name: array}`` of the LSTM layers in ``path`` (``.keras`` or ``.weights.h5``), in
    torch's names, shapes and gate order (see the module docstring); arrays keep the file's
    dtype.  A missing, damaged or foreign file is a ``WeightFileError`` naming it, and so is a
    ``.keras`` zip naming a record twice or unpacking to over ``max_ratio`` times its size
    (nplstm.io.zip_limits; ``None``: no limit)."""
    h5py = _require_h5py()
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"no Keras file at {shown(path)}")
    try:
        if zipfile.is_zipfile(path):
            with open_zip(path, source=str(path), max_ratio=max_ratio,
                          error=WeightFileError) as archive:   # nplstm.io.zip_limits
                names = archive.namelist()
                if "config.json" not in names or "model.weights.h5" not in names:
                    raise WeightFileError(f"{shown(path)} is a zip but not a .keras file (it "
                                          f"has {quoted_names(names)}, not config.json and "
                                          "model.weights.h5)")
                config = _parse_config(archive.read("config.json"), path)
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
            check_self_contained(h5py, f, shown(path), size)   # before anything else is read
            if "model_weights" in f or "layer_names" in f.attrs:
                raise WeightFileError(f"{shown(path)} is a Keras 2 (legacy HDF5) file; load "
                                      "it in Keras 3 and save it as .keras")
            # a subclassed model's config lists no layers: read it as a bare weights file
            listed = isinstance(config, dict) and "layers" in config.get("config", {})
            try:
                layers = layers_from_config(config, f) if listed else layers_from_h5(f)
                if not layers:
                    raise WeightFileError("it holds no Keras LSTM layer")
                return _state_dict(_chains(layers))
            except WeightFileError as err:        # a layer's refusal: name the file
                raise type(err)(f"{shown(path)}: {err}") from None
    except WeightFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, AttributeError, IndexError, RuntimeError,
            NotImplementedError, zipfile.BadZipFile) as err:   # h5py: RuntimeError, OSError
        # (a damaged HDF5 file); zipfile: NotImplementedError (encryption, other methods)
        raise WeightFileError(f"{shown(path)} is not a readable Keras file (damaged, truncated "
                              f"or not a Keras 3 model: {type(err).__name__}: "
                              f"{shown(err, 300)})") from None


def _parse_config(data: bytes, path):
    """The .keras file's config.json, parsed with bounds on its size and nesting."""
    try:
        return loads_bounded(data, max_bytes=MAX_CONFIG_BYTES, max_depth=MAX_CONFIG_DEPTH)
    except ValueError as err:
        raise WeightFileError(f"{shown(path)}: its config.json is refused: {err}") from None


def _require_h5py():
    try:
        import h5py
    except ImportError as err:
        raise ImportError("reading Keras files needs the h5py package: "
                          "pip install 'nplstm[keras]'") from err
    return h5py


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
    if not before.return_sequences or before.consumers != [after.name] or before.is_output:
        return False
    if len(before.cells) != len(after.cells):
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
                state[f"{prefix}weight_ih{suffix}"] = np.ascontiguousarray(kernel.T)   # (4H, I)
                state[f"{prefix}weight_hh{suffix}"] = np.ascontiguousarray(recurrent.T)  # (4H, H)
                if bias is not None:      # Keras has one bias; torch adds two
                    state[f"{prefix}bias_ih{suffix}"] = bias                             # (4H,)
                    state[f"{prefix}bias_hh{suffix}"] = np.zeros_like(bias)              # (4H,)
    return state
