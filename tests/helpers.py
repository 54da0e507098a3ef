"""Small helpers for the tests: the relative error used everywhere, backend cases, the tiny
training run's flags and a trainer in its own process, the loaders of scripts and (quietly)
of weight files."""

import importlib.util
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

import nplstm
from nplstm.backend import asnumpy, device_of, to_device
from nplstm.interop import WeightFileWarning


# the source tree (docs/, examples/, setup.py); the library may be an installed wheel elsewhere
ROOT = Path(__file__).resolve().parents[1]


def rel_error(a, b) -> float:
    """max |a − b| / max |b| (0 when both are all zero): a norm-wise relative error."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = np.abs(b).max(initial=0.0)
    diff = np.abs(a - b).max(initial=0.0)
    return diff / scale if scale else diff


# a small training text: 34 distinct characters, long enough for a few tiny batches
TRAIN_TEXT = "the quick brown fox jumps over the lazy dog; a lazy dog sleeps. " * 60

# ``nplstm train`` flags of a tiny char-LM run (a later flag of the same name wins)
TINY = ["--hidden", "16", "--seq-len", "8", "--batch-size", "4", "--embedding-dim", "8",
        "--eval-every", "5", "--checkpoint-every", "5", "--sample-length", "0"]


def train_process(args, **kwargs) -> subprocess.Popen:
    """``python -m nplstm train *args`` in its own process, stdout and stderr piped (text)."""
    return subprocess.Popen([sys.executable, "-m", "nplstm", "train", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(path, process, timeout=60):
    """Wait until ``path`` exists, failing if ``process`` ends or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


class BackendCase(NamedTuple):
    """One array backend a test runs on (the ``backend`` fixtures of conftest.py)."""

    name: str     # "numpy", "strict" or "cupy"
    device: str   # "cpu", "strict" or "cuda": modules' ``device=`` and ``to_device``'s
    exact: bool   # results equal NumPy's bit for bit (CuPy's fused kernels: to round-off)

    def put(self, a):
        """A host array on this backend."""
        return to_device(a, self.device)

    def assert_close(self, got, want):
        """Host ``got`` equals NumPy's ``want``: bit for bit if ``exact``, else to round-off
        (relative 1e-12 in float64, 1e-5 in float32)."""
        got, want = np.asarray(got), np.asarray(want)
        assert got.dtype == want.dtype and got.shape == want.shape, \
            (got.dtype, got.shape, want.dtype, want.shape)
        if self.exact:
            np.testing.assert_array_equal(got, want)
            assert got.tobytes() == want.tobytes()          # -0.0 and 0.0 too
        elif want.dtype.kind == "f":
            tol = 1e-12 if want.dtype == np.float64 else 1e-5
            assert rel_error(got, want) <= tol
        else:
            np.testing.assert_array_equal(got, want)

    def assert_same(self, got, want, device=None):
        """Nested results (tuples, NamedTuples, lists, dicts of arrays, numbers, strings, None)
        agree with NumPy's ``want``; their arrays live on ``device`` (this backend's)."""
        device = device or self.device
        if isinstance(want, dict):
            assert list(got) == list(want)
            for key in want:
                self.assert_same(got[key], want[key], device)
        elif isinstance(want, (tuple, list)):
            assert type(got) is type(want) and len(got) == len(want)
            for g, w in zip(got, want):
                self.assert_same(g, w, device)
        elif isinstance(want, np.ndarray):
            assert device_of(got) == device, f"a result is on {device_of(got)}, not {device}"
            self.assert_close(asnumpy(got), want)
        elif isinstance(want, float):
            assert isinstance(got, float)
            self.assert_close(got, want)
        else:
            assert got == want


class Counted:
    """A function that counts its calls (how often a checker ran forward or backward)."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, *args):
        self.calls += 1
        return self.f(*args)


def load_quietly(path, **kwargs):
    """``nplstm.load_weights(path, **kwargs)`` without its WeightFileWarning notes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeightFileWarning)
        return nplstm.load_weights(path, **kwargs)


def load_script(name: str, path):
    """The module of a script that is not in a package (docs/make_diagrams.py, an example,
    setup.py), loaded from ``path`` under ``name`` without running its ``__main__`` part."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def directional_difference(jvp, inputs, tangents, eps=1e-6):
    """(out(x + ε v) − out(x − ε v)) / 2ε, output by output (flattened), from the primal
    outputs of ``jvp(inputs, tangents) -> (outputs, tangent outputs)``: the independent
    reference a hand-written JVP is checked against."""
    def outputs(sign):
        moved = [a if t is None else a + sign * eps * t for a, t in zip(inputs, tangents)]
        out, _ = jvp(moved, [None] * len(inputs))
        return flatten(out)
    return [(p - m) / (2 * eps) for p, m in zip(outputs(1), outputs(-1))]


def flatten(nested):
    """A nested tuple/list of arrays as one flat list (outputs compared one by one)."""
    if isinstance(nested, (tuple, list)):
        return [a for part in nested for a in flatten(part)]
    return [nested]
