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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_without_overflow_like_torch(dtype):
    z = np.array([[1e4, -1e4, 1e4, 1e4, -1e4, 1e4, -1e4, -1e4]], dtype=dtype)   # H = 2
    # e^{−z} = inf is expected (and silenced by quiet_exp); nothing else may go wrong:
    # no inf/inf, no 0·inf, no NaN
    with np.errstate(all="raise"), numpy_gates.quiet_exp():
        gates, c, _, h = _run_forward(numpy_gates, np, z.copy(), np.ones((1, 2), dtype))
    # torch.sigmoid(±1e4) is exactly 1 / 0, torch.tanh(±1e4) exactly ±1
    np.testing.assert_array_equal(gates, [[1, 0, 1, 1, -1, 1, 0, 0]])   # [i | f | g | o]
    assert gates.dtype == dtype
    np.testing.assert_array_equal(c, [[1 * 1 + 1 * -1, 1 * 1 + 0 * 1]])  # f·c_prev + i·g
    np.testing.assert_array_equal(h, [[0, 0]])
    assert np.isfinite(h).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_forwards_saturate_under_raising_float_errors(dtype):
    """The drivers enter quiet_exp themselves: huge weights saturate every gate, and a
    user's np.seterr(all="raise") sees nothing (the sequence path folds −1/−2 into the
    weights, the cell path scales z: both must give σ = 0/1 and tanh = ±1 exactly)."""
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
    dgates, dc_prev, scratch = np.empty((B, 4 * H)), np.empty((B, H)), np.empty((B, 4 * H))
    numpy_gates.gates_backward(dh, dc.copy(), gates, c_prev, tanh_c, dgates, dc_prev, scratch)
    dc_total = dc + dh * o * (1 - np.tanh(c) ** 2)
    want = np.concatenate([dc_total * g * i * (1 - i), dc_total * c_prev * f * (1 - f),
                           dc_total * i * (1 - g * g), dh * np.tanh(c) * o * (1 - o)], 1)
    assert rel_error(dgates, want) < 1e-14
    assert rel_error(dc_prev, dc_total * f) < 1e-14


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_kernels_compile_and_match_numpy(dtype):
    import cupy as cp

    rng = np.random.default_rng(1)
    B, H = 5, 7
    z = (rng.standard_normal((B, 4 * H)) * 3).astype(dtype)
    c_prev = rng.standard_normal((B, H)).astype(dtype)
    want = _run_forward(numpy_gates, np, z.copy(), c_prev)
    got = _run_forward(cupy_gates, cp, cp.asarray(z), cp.asarray(c_prev))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for a, b in zip(got, want):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=tol, atol=tol)
    dh, dc = (rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    outs_np = [np.empty((B, 4 * H), dtype), np.empty((B, H), dtype)]
    numpy_gates.gates_backward(dh, dc.copy(), want[0], c_prev, want[2], outs_np[0],
                               outs_np[1], np.empty((B, 4 * H), dtype))
    outs_cp = [cp.empty((B, 4 * H), dtype), cp.empty((B, H), dtype)]
    cupy_gates.gates_backward(cp.asarray(dh), cp.asarray(dc), got[0], cp.asarray(c_prev),
                              got[2], outs_cp[0], outs_cp[1], None)
    for a, b in zip(outs_cp, outs_np):
        np.testing.assert_allclose(cp.asnumpy(a), b, rtol=tol, atol=tol)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_backward_factors_and_step_match_numpy(dtype):
    import cupy as cp

    rng = np.random.default_rng(2)
    S, B, H = 3, 4, 5
    gates = rng.uniform(-1, 1, (S, B, 4 * H)).astype(dtype)
    c_prev, tanh_c, dh, dc = (rng.standard_normal((S, B, H)).astype(dtype) for _ in range(4))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    outs = []
    for module, xp in ((numpy_gates, np), (cupy_gates, cp)):
        a = [xp.asarray(v) for v in (gates, c_prev, tanh_c, dh, dc)]
        factors, gain = xp.empty((S, B, 4 * H), dtype), xp.empty((S, B, H), dtype)
        module.backward_factors(a[0], a[1], a[2], factors, gain)
        dgates, dc_total, dc_prev = xp.empty((B, 4 * H), dtype), *(xp.empty((B, H), dtype)
                                                                     for _ in range(2))
        module.backward_step(a[3][1], a[4][1], factors[1], gain[1], a[0][1, :, H:2 * H],
                             dgates, dc_total, dc_prev)
        outs.append([backend.asnumpy(v) for v in (factors, gain, dgates, dc_total, dc_prev)])
    for got, want in zip(outs[1], outs[0]):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_large_steps_split_across_threads_give_the_same_numbers(monkeypatch):
    rng = np.random.default_rng(3)
    S, B, H = 2, 5, 3
    z = rng.standard_normal((B, 4 * H)) * 3
    c_prev, dh, dc = (rng.standard_normal((B, H)) for _ in range(3))
    tanh_c = np.tanh(rng.standard_normal((S, B, H)))
    gates_s = rng.uniform(0, 1, (S, B, 4 * H))

    def run():
        outs = list(_run_forward(numpy_gates, np, z.copy(), c_prev))
        factors, gain = np.empty((S, B, 4 * H)), np.empty((S, B, H))
        numpy_gates.backward_factors(gates_s, np.stack([c_prev] * S), tanh_c, factors, gain)
        return outs + [factors, gain]

    whole = run()
    monkeypatch.setattr(numpy_gates, "SPLIT_MIN_ELEMENTS", 1)
    monkeypatch.setattr(numpy_gates, "_threads", lambda: 2)
    for a, b in zip(run(), whole):
        np.testing.assert_array_equal(a, b)
