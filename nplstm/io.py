"""Checkpoints: written atomically, read without unpickling.

A checkpoint is one ``.npz`` file (NumPy's zip of arrays) holding

    meta             a JSON document in a 0-d unicode array: step, config, format, …
    model/<name>     the model's state dict (torch's parameter names)
    optim/<k>        the optimizer's momentum buffers (absent ones are listed in meta)
    state/<name>     other arrays the run carries, e.g. the hidden state between batches

It is written to a temporary file in the same directory, flushed and fsync'ed, then renamed
over the old one (``os.replace`` is atomic), and the directory is fsync'ed: a crash at any
moment leaves either the old checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from .backend import asnumpy

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "atomic_write_bytes"]

FORMAT = "nplstm-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, corrupt or not an nplstm checkpoint."""


def save_checkpoint(path, *, step: int, model: dict, optimizer: dict | None = None,
                    state: dict | None = None, **meta) -> None:
    """Write a checkpoint atomically (see the module docstring).

    model      ``{name: array}``, e.g. ``module.state_dict()``
    optimizer  ``{"lr": float, "buffers": [array or None]}`` (``SGD.state_dict()``) or None
    state      ``{name: array}`` of carried arrays, or None
    meta       JSON-able extras (config, metrics, …) stored in the ``meta`` document
    """
    arrays = {f"model/{k}": asnumpy(v) for k, v in model.items()}
    document = dict(meta, format=FORMAT, step=int(step))
    if optimizer is not None:
        buffers = optimizer["buffers"]
        document["optimizer"] = {"lr": optimizer["lr"],
                                 "buffers_present": [b is not None for b in buffers]}
        arrays.update({f"optim/{k}": asnumpy(b) for k, b in enumerate(buffers) if b is not None})
    arrays.update({f"state/{k}": asnumpy(v) for k, v in (state or {}).items()})
    arrays["meta"] = np.array(json.dumps(document, sort_keys=True))

    def write(f):
        np.savez(f, **arrays)

    atomic_write(path, write)


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it over
    ``path`` and fsync the directory.  On any error the temporary file is removed and the
    old ``path`` is untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_write_bytes(path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:          # some platforms cannot open directories; the rename still holds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path) -> dict:
    """Read a checkpoint: ``{"model": state_dict, "step": int, "optimizer": {...} or None,
    "state": {...}, "config": {...}, ...}`` (the meta document's keys at the top level).

    Never unpickles (``allow_pickle=False``).  A missing, truncated or foreign file is a
    ``CheckpointError`` that names the path and what is wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):      # a bare .npy array
            raise ValueError("a single array, not an archive of arrays")
        with loaded as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated: "
                              f"{err})") from None
    try:
        document = json.loads(str(arrays.pop("meta")[()]))
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"its meta document is not an {FORMAT!r} header")
        result = dict(document)
        result["step"] = int(document["step"])
        result["model"] = _section(arrays, "model/")
        result["state"] = _section(arrays, "state/")
        result["optimizer"] = None
        if "optimizer" in document:
            present = document["optimizer"]["buffers_present"]
            buffers = [arrays[f"optim/{k}"] if ok else None for k, ok in enumerate(present)]
            result["optimizer"] = {"lr": document["optimizer"]["lr"], "buffers": buffers}
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path} is not an nplstm checkpoint ({err})") from None
    return result


def _section(arrays: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
