"""The gate kernels: extreme pre-activations, agreement with the plain formulas, CuPy."""

import numpy as np
import pytest

from nplstm import backend
from nplstm.kernels import cupy_gates, numpy_gates

from .helpers import rel_error


def _run_forward(module, xp, gates, c_prev):
    B, H = c_prev.shape
    c, tanh_c, h = (xp.empty((B, H), dtype=gates.dtype) for _ in range(3))
    module.gates_forward(gates, c_prev, c, tanh_c, h)
    return gates, c, tanh_c, h


def _run_backward(module, xp, dh, dc, gates, c_prev, tanh_c):
    """factors, then the step: (dgates, dc_total, dc_prev, factors, dc_gain)."""
    B, H = dh.shape
    factors, dgates = (xp.empty((B, 4 * H), dtype=dh.dtype) for _ in range(2))
    dc_gain, dc_total, dc_prev = (xp.empty((B, H), dtype=dh.dtype) for _ in range(3))
    module.backward_factors(gates, c_prev, tanh_c, factors, dc_gain)
    module.backward_step(dh, dc, factors, dc_gain, gates[:, H:2 * H], dgates, dc_total,
                         dc_prev)
    return dgates, dc_total, dc_prev, factors, dc_gain


def test_every_backend_has_the_same_kernel_functions():
    assert cupy_gates.__all__ == numpy_gates.__all__
    for name in numpy_gates.__all__:
        assert callable(getattr(cupy_gates, name)), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_without_any_floating_point_error_like_torch(dtype):
    z = np.array([[1e4, -1e4, 1e4, 1e4, -1e4, 1e4, -1e4, -1e4]], dtype=dtype)   # H = 2
    # σ(z) = ½ tanh(z/2) + ½ never overflows: no warning, no inf/inf, no 0·inf, no NaN
    with np.errstate(all="raise"):
        gates, c, _, h = _run_forward(numpy_gates, np, z.copy(), np.ones((1, 2), dtype))
    # torch.sigmoid(±1e4) is exactly 1 / 0, torch.tanh(±1e4) exactly ±1
    np.testing.assert_array_equal(gates, [[1, 0, 1, 1, -1, 1, 0, 0]])   # [i | f | g | o]
    assert gates.dtype == dtype
    np.testing.assert_array_equal(c, [[1 * 1 + 1 * -1, 1 * 1 + 0 * 1]])  # f·c_prev + i·g
    np.testing.assert_array_equal(h, [[0, 0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_forwards_saturate_under_raising_float_errors(dtype):
    """Huge weights saturate every gate, and a user's np.seterr(all="raise") sees nothing:
    σ = 0/1 and tanh = ±1 exactly, in the cell and in the sequence."""
    from nplstm import functional as F

    H, I = 2, 1
    #                  i: 1, 0     f: 1, 1     g: −1, 1     o: 1, 0
    w_ih = np.array([[1e4], [-1e4], [1e4], [1e4], [-1e4], [1e4], [1e4], [-1e4]], dtype)
    w_hh = np.zeros((4 * H, H), dtype)
    x = np.ones((3, 1, I), dtype)
    with np.errstate(all="raise"):
        (out, (h_n, c_n)), _ = F.lstm_forward(x, None, w_ih, w_hh)
        (h1, c1), _ = F.lstm_cell_forward(x[0], None, w_ih, w_hh)
    i, f, g, o = np.array([1, 0]), np.array([1, 1]), np.array([-1, 1]), np.array([1, 0])
    c = np.zeros(H)
    for t in range(3):
        c = f * c + i * g                                   # [−1, 0], [−2, 0], [−3, 0]
        np.testing.assert_array_equal(out[t, 0], (o * np.tanh(c)).astype(dtype))
    assert out.dtype == h_n.dtype == c_n.dtype == dtype
    np.testing.assert_array_equal(c_n[0], c)
    np.testing.assert_array_equal(c1[0], i * g)
    np.testing.assert_array_equal(h1[0], (o * np.tanh(i * g)).astype(dtype))


def test_forward_and_backward_match_the_plain_formulas():
    rng = np.random.default_rng(0)
    B, H = 3, 4
    z = rng.standard_normal((B, 4 * H)) * 3
    c_prev = rng.standard_normal((B, H))
    gates, c, tanh_c, h = _run_forward(numpy_gates, np, z.copy(), c_prev)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(z[:, :H]), sig(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:])
    assert rel_error(gates, np.concatenate([i, f, g, o], 1)) < 1e-15
    assert rel_error(c, f * c_prev + i * g) < 1e-15
    assert rel_error(h, o * np.tanh(f * c_prev + i * g)) < 1e-14
    dh, dc = rng.standard_normal((B, H)), rng.standard_normal((B, H))
    dgates, dc_total, dc_prev, _, _ = _run_backward(numpy_gates, np, dh, dc, gates, c_prev,
                                                    tanh_c)
    want_total = dc + dh * o * (1 - np.tanh(c) ** 2)
    want = np.concatenate([want_total * g * i * (1 - i), want_total * c_prev * f * (1 - f),
                           want_total * i * (1 - g * g), dh * np.tanh(c) * o * (1 - o)], 1)
    assert rel_error(dgates, want) < 1e-14
    assert rel_error(dc_total, want_total) < 1e-14
    assert rel_error(dc_prev, want_total * f) < 1e-14


def test_derivatives_through_the_outputs():
    rng = np.random.default_rng(4)
    B, H = 2, 3
    gates = rng.uniform(-1, 1, (B, 4 * H))
    out = np.empty_like(gates)
    numpy_gates.gate_derivatives(gates, out)
    a = gates
    want = np.concatenate([a[:, :2 * H] * (1 - a[:, :2 * H]), 1 - a[:, 2 * H:3 * H] ** 2,
                           a[:, 3 * H:] * (1 - a[:, 3 * H:])], 1)
    np.testing.assert_array_equal(out, want)
    s, t = np.empty_like(gates), np.empty_like(gates)
    numpy_gates.sigmoid_derivative(gates, s)
    numpy_gates.tanh_derivative(gates, t)
    np.testing.assert_array_equal(s, a * (1 - a))
    np.testing.assert_array_equal(t, 1 - a * a)
    # activate_gates is gates_forward's first half: the same activations in place
    z = rng.standard_normal((B, 4 * H)) * 3
    activated = z.copy()
    numpy_gates.activate_gates(activated)
    np.testing.assert_array_equal(activated, _run_forward(numpy_gates, np, z.copy(),
                                                          np.zeros((B, H)))[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_factors_of_a_chunk_equal_those_of_each_step(dtype):
    """The sequence driver computes the factors of S steps in one call: the same numbers as
    S calls of one step each."""
    rng = np.random.default_rng(5)
    S, B, H = 3, 2, 4
    gates = rng.uniform(0, 1, (S, B, 4 * H)).astype(dtype)
    c_prev, tanh_c = (rng.standard_normal((S, B, H)).astype(dtype) for _ in range(2))
    factors, gain = np.empty((S, B, 4 * H), dtype), np.empty((S, B, H), dtype)
    numpy_gates.backward_factors(gates, c_prev, tanh_c, factors, gain)
    for s in range(S):
        one, one_gain = np.empty((B, 4 * H), dtype), np.empty((B, H), dtype)
        numpy_gates.backward_factors(gates[s], c_prev[s], tanh_c[s], one, one_gain)
        np.testing.assert_array_equal(factors[s], one)
        np.testing.assert_array_equal(gain[s], one_gain)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_kernels_compile_and_match_numpy(dtype):
    import cupy as cp

    rng = np.random.default_rng(1)
    B, H = 5, 7
    tol = 1e-12 if dtype == np.float64 else 1e-5
    z = (rng.standard_normal((B, 4 * H)) * 3).astype(dtype)
    c_prev = rng.standard_normal((B, H)).astype(dtype)
    want = _run_forward(numpy_gates, np, z.copy(), c_prev)
    got = _run_forward(cupy_gates, cp, cp.asarray(z), cp.asarray(c_prev))
    for a, b in zip(got, want):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=tol, atol=tol)
    dh, dc = (rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    want_b = _run_backward(numpy_gates, np, dh, dc, want[0], c_prev, want[2])
    got_b = _run_backward(cupy_gates, cp, cp.asarray(dh), cp.asarray(dc), got[0],
                          cp.asarray(c_prev), got[2])
    for a, b in zip(got_b, want_b):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=tol, atol=tol)
    for name in ("activate_gates",):
        a_np, a_cp = z.copy(), cp.asarray(z)
        getattr(numpy_gates, name)(a_np)
        getattr(cupy_gates, name)(a_cp)
        np.testing.assert_allclose(cp.asnumpy(a_cp), a_np, rtol=tol, atol=tol)
    for name in ("gate_derivatives", "sigmoid_derivative", "tanh_derivative"):
        o_np, o_cp = np.empty_like(want[0]), cp.empty_like(got[0])
        getattr(numpy_gates, name)(want[0], o_np)
        getattr(cupy_gates, name)(got[0], o_cp)
        np.testing.assert_allclose(cp.asnumpy(o_cp), o_np, rtol=tol, atol=tol)


def test_large_batches_are_activated_in_blocks_with_the_same_numbers():
    """activate_gates works in blocks of 64 rows: 150 rows give each row's own activations."""
    rng = np.random.default_rng(6)
    z = rng.standard_normal((150, 4 * 3)) * 3
    whole = z.copy()
    numpy_gates.activate_gates(whole)
    for r in (0, 63, 64, 127, 128, 149):
        one = z[r:r + 1].copy()
        numpy_gates.activate_gates(one)
        np.testing.assert_array_equal(whole[r], one[0])
    sig = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(whole[:, 6:9], np.tanh(z[:, 6:9]), rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(whole[:, :6], sig[:, :6], rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_cached_activation_rows_are_read_only(dtype):
    """activate_gates multiplies by rows cached per (H, dtype): were they writable, one stray
    in-place write would corrupt every later forward of that size."""
    gates = np.linspace(-3, 3, 2 * 12, dtype=dtype).reshape(2, 12)
    numpy_gates.activate_gates(gates)                      # fills the cache for H = 3
    for rows in numpy_gates._activation_rows(3, np.dtype(dtype)):
        assert not rows.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            rows[0, 0] = 7
