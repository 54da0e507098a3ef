"""SGD, clipping and schedules (SGD's parity with torch.optim.SGD is in test_layers.py)."""

import math

import numpy as np
import pytest

import nplstm
from nplstm.optim import SGD, CosineLR, clip_grad_norm, grad_norm, make_schedule


def _params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = [nplstm.Parameter(rng.standard_normal(s).astype(dtype)) for s in ((3, 2), (4,))]
    for p in params:
        p.grad[...] = rng.standard_normal(p.shape)
    return params


def test_plain_sgd_is_p_minus_lr_g():
    params = _params()
    before = [p.data.copy() for p in params]
    SGD(params, 0.1).step()
    for p, b in zip(params, before):
        assert np.array_equal(p.data, b - 0.1 * p.grad)


def test_clip_scales_to_max_norm_and_returns_the_norm_before():
    params = _params()
    norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
    assert clip_grad_norm(params, 0.5) == pytest.approx(norm, rel=1e-15)
    assert grad_norm(params) == pytest.approx(0.5 * norm / (norm + 1e-6), rel=1e-12)
    grads = [p.grad.copy() for p in params]
    clip_grad_norm(params, 1e6)                  # under the limit: untouched, bit for bit
    assert all(np.array_equal(p.grad, g) for p, g in zip(params, grads))


def test_clip_leaves_non_finite_gradients_for_the_trainer_to_see():
    params = _params()
    params[0].grad[0, 0] = np.inf
    assert clip_grad_norm(params, 1.0) == np.inf
    assert params[0].grad[0, 0] == np.inf


def test_state_dict_round_trip_continues_exactly():
    a, b = _params(1), _params(1)
    opt_a = SGD(a, 0.05, momentum=0.9, nesterov=True, weight_decay=0.1)
    opt_a.step()
    opt_b = SGD(b, 0.05, momentum=0.9, nesterov=True, weight_decay=0.1)
    for p, q in zip(a, b):
        q.data[...] = p.data
    opt_b.load_state_dict(opt_a.state_dict())
    opt_a.step()
    opt_b.step()
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a, b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_updates_keep_the_parameter_dtype(dtype):
    params = _params(dtype=dtype)
    SGD(params, 0.1, momentum=0.5, weight_decay=0.01).step()
    assert all(p.data.dtype == dtype for p in params)


def test_cosine_schedule_warms_up_then_decays_on_its_own_horizon():
    s = CosineLR(1.0, decay_steps=100, warmup_steps=10, min_lr=0.1)
    assert [s(k) for k in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.55)                 # half way: (1 + 0.1) / 2
    assert s(110) == pytest.approx(0.1) and s(10_000) == pytest.approx(0.1)
    assert make_schedule("constant", 0.3)(12345) == 0.3


@pytest.mark.parametrize("call, message", [
    (lambda: SGD(_params(), 0.0), "lr must be a positive finite number, got 0.0"),
    (lambda: SGD(_params(), 0.1, momentum=-1), "momentum must be a non-negative finite number"),
    (lambda: SGD(_params(), 0.1, nesterov=True), "nesterov momentum needs momentum > 0"),
    (lambda: SGD([], 0.1), "params must be a non-empty list of nplstm Parameters"),
    (lambda: clip_grad_norm(_params(), float("nan")), "max_norm must be a positive finite"),
    (lambda: make_schedule("cosine", 0.1), "the cosine schedule needs decay_steps"),
])
def test_bad_settings_are_named(call, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert message in str(info.value)
