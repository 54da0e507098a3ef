"""The backend layer: array modules, devices, dtype rules."""

import numpy as np
import pytest

from nplstm import backend


def test_numpy_arrays_give_numpy():
    assert backend.get_array_module(np.zeros(2), None, np.ones(1)) is np
    assert backend.device_of(np.zeros(1)) == "cpu"
    a = np.arange(3.0)
    assert backend.to_device(a, "cpu") is a
    assert backend.asnumpy(a) is a


def test_mixing_numpy_and_cupy_is_a_type_error_naming_both(monkeypatch):
    class FakeCupyArray:
        pass

    class FakeCupy:
        ndarray = FakeCupyArray
        __name__ = "cupy"

    monkeypatch.setattr(backend, "_get_cupy", lambda: FakeCupy)
    with pytest.raises(TypeError, match="x is a NumPy array .* but h is a CuPy array"):
        backend.get_array_module(np.zeros(1), FakeCupyArray(), names=["x", "h"])


@pytest.mark.parametrize("dtype", ["float16", "int32", "bool", np.complex64])
def test_unsupported_dtypes_are_refused(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        backend.resolve_dtype(dtype)
    with pytest.raises(TypeError, match="x must have dtype float32 or float64"):
        backend.check_float_array("x", np.zeros(2, dtype=dtype))


def test_supported_dtypes():
    assert backend.resolve_dtype("float32") == np.float32
    assert backend.resolve_dtype(np.float64) == np.float64
    with pytest.raises(TypeError, match="x has dtype float32 but float64 is expected"):
        backend.check_float_array("x", np.zeros(1, np.float32), np.float64)


def test_bad_device():
    with pytest.raises(ValueError, match="device must be one of"):
        backend.to_device(np.zeros(1), "gpu")


@pytest.mark.skipif(backend.cupy_available(), reason="CuPy with a device is installed")
def test_cuda_without_cupy_is_a_clear_error():
    if backend._get_cupy() is not None:
        pytest.skip("cupy imports (without a device)")
    with pytest.raises(RuntimeError, match="needs CuPy"):
        backend.to_device(np.zeros(1), "cuda")
