"""What a checkpoint file holds: the layout checkpoint.py writes and reads.

A checkpoint is one ``.npz`` file (NumPy's zip of uncompressed ``.npy`` members, so
``numpy.load`` reads it too) holding

    meta.npy          a JSON document in a 0-d unicode array (below)
    model/<name>.npy  the model's state dict (torch's parameter names)
    optim/<k>.npy     the optimizer's momentum buffer of parameter k (absent ones are listed
                      as false in the meta document's ``buffers_present``)
    state/<name>.npy  other arrays the run carries, e.g. the hidden state between batches

The meta document of format 2 (``FORMAT``)::

    {"format": "nplstm-checkpoint-2",
     "step": 120,                                        a non-negative int
     "arrays": {"model/weight": {"shape": [3, 2], "dtype": "<f4"}, ...},
                                                         every member but meta, with its shape
                                                         and its dtype (byte order included)
     "optimizer": {"lr": 0.5, "buffers_present": [true, false]},      absent without one
     "config": {...}, ...}                               the caller's extras (JSON values)

Arrays are stored little-endian with one of ``STORED_DTYPES``.  Every member is read whole,
so zip's CRC-32 covers every byte of it, and then checked against the ``arrays`` manifest.

Format 1 (``FORMAT_1``, before the manifest) is still read: CRC-checked, parsed without
pickles, its members checked against ``buffers_present`` and its dtypes against
``STORED_DTYPES``, but its shapes cannot be checked as nothing records them.
"""

from __future__ import annotations

import numpy as np

FORMAT = "nplstm-checkpoint-2"
FORMAT_1 = "nplstm-checkpoint-1"

META = "meta"
SECTIONS = ("model/", "optim/", "state/")

# the dtypes save_checkpoint writes (little-endian float32/64, int32/64); nothing else is read
STORED_DTYPES = frozenset(np.dtype(t).newbyteorder("<").str for t in ("f4", "f8", "i4", "i8"))

# meta document keys that save_checkpoint writes itself; a caller's extra may not use them
RESERVED_KEYS = frozenset({"format", "step", "arrays", "optimizer"})


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, corrupt or not an nplstm checkpoint."""


def member_name(key: str) -> str:
    """The zip member that holds array ``key`` ("model/weight" → "model/weight.npy")."""
    return f"{key}.npy"


def optimizer_key(k: int) -> str:
    """The array key of parameter k's momentum buffer."""
    return f"optim/{k}"
