"""The folders a hostile case runs in, and the secret files its links point to.

    ROOT/work/<case>/    the case's file(s): the only bytes its reader may read
    ROOT/out/<case>/     where `nplstm convert` writes
    ROOT/outside/        secret.h5, secret.bin: what links, external data and ".." point to
    ROOT/cwd/            the worker's working directory, holding the same secrets (decoys for
                         a reader that resolves a relative name against the cwd)

Every element of a secret array is made of the bytes ``worker.SECRET``, in any dtype and
layout, so an answer holding them has read outside its file.  ``watch(case)`` lists the
folders that must not change while the case is read.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .worker import SECRET

# the shapes of the single-layer Keras fixture (LSTM(5) on 3 inputs): kernel, recurrent, bias
KERAS_SHAPES = {"0": (3, 20), "1": (5, 20), "2": (20,)}
KERAS_VARS = "layers/lstm/cell/vars"


def secret_array(shape, dtype="float32") -> np.ndarray:
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(SECRET * (count * dtype.itemsize // len(SECRET)),
                         dtype=dtype).reshape(shape).copy()


class Sandbox:
    def __init__(self, root: Path):
        import h5py

        self.root = Path(root)
        self.work, self.out = self.root / "work", self.root / "out"
        self.outside, self.cwd = self.root / "outside", self.root / "cwd"
        for folder in (self.work, self.out, self.outside, self.cwd):
            folder.mkdir(parents=True, exist_ok=True)
        with h5py.File(self.outside / "secret.h5", "w") as f:
            for name, shape in KERAS_SHAPES.items():
                f[f"{KERAS_VARS}/{name}"] = secret_array(shape)
            f["secret"] = secret_array((64,))
        (self.outside / "secret.bin").write_bytes(SECRET * 4096)
        for name in ("secret.h5", "secret.bin"):
            shutil.copy(self.outside / name, self.cwd / name)

    def folder(self, case_id: str) -> Path:
        folder = self.work / case_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def out_path(self, case_id: str, name: str = "converted.npz") -> Path:
        folder = self.out / case_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    def watch(self, case_id: str) -> list:
        return [str(self.outside), str(self.cwd), str(self.work / case_id)]
