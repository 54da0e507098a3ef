"""Hypothesis profiles, and the array backends tests run on.

Hypothesis: ``ci`` (quick, the default) and ``thorough`` (many more examples); select with the
environment variable NPLSTM_HYPOTHESIS_PROFILE=thorough.

Backends: the ``backend`` fixture runs a test on NumPy, on the strict CPU backend
(tests/strict_backend.py: NumPy that refuses implicit NumPy calls, to keep the one code path
honest without a GPU) and on CuPy; ``device_backend`` on the non-NumPy ones only.  Tests
marked ``gpu`` (the CuPy cases among them) skip with a reason when CuPy or a CUDA device is
missing.

Workspace: every test runs with ``nplstm.workspace`` reusing arrays of any size (not only
≥ MIN_BYTES) and every block it hands out filled with 0xFF bytes (NaN in float32 and
float64), so a driver that reads a buffer before writing it gives NaN, not the zeros of
fresh memory.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from nplstm import workspace
from nplstm.backend import cupy_available

from . import strict_backend
from .helpers import TRAIN_TEXT, BackendCase

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
