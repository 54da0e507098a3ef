"""Hypothesis profiles, and the array backends tests run on.

Hypothesis: ``ci`` (quick, the default) and ``thorough`` (many more examples); select with the
environment variable NPLSTM_HYPOTHESIS_PROFILE=thorough.

Backends: the ``backend`` fixture runs a test on NumPy, on the strict CPU backend
(tests/strict_backend.py: NumPy that refuses implicit NumPy calls, to keep the one code path
honest without a GPU) and on CuPy; ``device_backend`` on the non-NumPy ones only.  Tests
marked ``gpu`` (the CuPy cases among them) skip with a reason when CuPy or a CUDA device is
missing.

Runs: ``train_tiny_run`` makes a finished tiny char-LM run (``helpers.TINY``) for a module's
tests to read or copy; ``text_file`` is a training text for ``nplstm train --text``.

Workspace: every test runs with ``nplstm.workspace`` reusing arrays of any size (not only
≥ MIN_BYTES) and every block it hands out filled with 0xFF bytes (NaN in float32 and
float64), so a driver that reads a buffer before writing it gives NaN, not the zeros of
fresh memory.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from nplstm import cli, workspace
from nplstm.backend import cupy_available

from . import strict_backend
from .helpers import TINY, TRAIN_TEXT, BackendCase

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("NPLSTM_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def poisoned_workspace(monkeypatch):
    """Reuse arrays of every size; each block handed out is NaN-filled (0xFF bytes)."""
    take = workspace._Pool.take

    def poisoned_take(pool, nbytes):
        block = take(pool, nbytes)
        block.fill(0xFF)
        return block

    monkeypatch.setattr(workspace, "MIN_BYTES", 0)
    monkeypatch.setattr(workspace._Pool, "take", poisoned_take)


GPU_SKIP_REASON = "needs CuPy and a CUDA device"


def pytest_collection_modifyitems(config, items):
    """Skip every test marked ``gpu`` when there is no CuPy with a device."""
    if cupy_available():
        return
    skip = pytest.mark.skip(reason=GPU_SKIP_REASON)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def use_backend(name: str, request) -> BackendCase:
    """The ``BackendCase`` named ``name``; the strict backend is registered for the test."""
    if name == "strict":
        strict_backend.register()
        request.addfinalizer(strict_backend.unregister)
    device = {"numpy": "cpu", "strict": strict_backend.DEVICE, "cupy": "cuda"}[name]
    return BackendCase(name, device, exact=name != "cupy")


_CUPY = pytest.param("cupy", marks=pytest.mark.gpu)


@pytest.fixture(params=["numpy", "strict", _CUPY])
def backend(request) -> BackendCase:
    """Every array backend: NumPy, strict, CuPy (skipped without CuPy and a device)."""
    return use_backend(request.param, request)


@pytest.fixture(params=["strict", _CUPY])
def device_backend(request) -> BackendCase:
    """The backends other than NumPy: strict, CuPy (skipped without CuPy and a device)."""
    return use_backend(request.param, request)


@pytest.fixture
def text_file(tmp_path):
    """A UTF-8 file holding ``helpers.TRAIN_TEXT``, for ``nplstm train --text``."""
    path = tmp_path / "text.txt"
    path.write_text(TRAIN_TEXT, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def train_tiny_run(tmp_path_factory):
    """``train_tiny_run(*flags, text=TRAIN_TEXT) -> (run, text_path)``: ``nplstm train`` of a
    tiny char-LM run (``helpers.TINY``, then ``flags``: a later flag wins) on ``text``, in a
    fresh folder.  A module's fixture calls it once and its tests share the run, so a test
    that changes the run works on a copy."""
    def train(*flags, text=TRAIN_TEXT):
        root = tmp_path_factory.mktemp("tiny_run")
        text_path = root / "text.txt"
        text_path.write_text(text, encoding="utf-8")
        run = root / "run"
        assert cli.main(["train", "--text", str(text_path), "--out", str(run), *TINY,
                         *flags]) == 0
        return run, text_path

    return train
