"""SGD, clipping and schedules (SGD's parity with torch.optim.SGD is in test_layers.py)."""

import math

import numpy as np
import pytest

import nplstm
from nplstm.optim import SGD, CosineLR, clip_grad_norm, grad_norm, make_schedule

from .snapshots import assert_unchanged, snapshot


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


def test_cosine_schedule_without_warm_up_starts_at_base_lr():
    """The default warmup_steps=0: lr(s) = min + ½ (base − min)(1 + cos(π · min(1, s / D))),
    evaluated here independently (NumPy, all steps at once) and at hand-computed points."""
    base, low, D = 0.8, 0.05, 40
    steps = np.arange(2 * D)
    expected = low + 0.5 * (base - low) * (1 + np.cos(np.pi * np.minimum(1.0, steps / D)))
    for schedule in (CosineLR(base, decay_steps=D, min_lr=low),
                     make_schedule("cosine", base, decay_steps=D, min_lr=low)):
        assert schedule.warmup_steps == 0
        assert [schedule(int(s)) for s in steps] == pytest.approx(expected, rel=1e-12, abs=0)
        assert schedule(0) == base                              # no ramp: the peak at once
        assert schedule(D // 2) == pytest.approx(0.425, rel=1e-12)   # (0.8 + 0.05) / 2
        assert schedule(D) == pytest.approx(low, rel=1e-12) and schedule(10 * D) == schedule(D)


@pytest.mark.parametrize("call, message", [
    (lambda: SGD(_params(), 0.0), "lr must be a finite real number > 0, got 0.0"),
    (lambda: SGD(_params(), 0.1, momentum=-1),
     "momentum must be a finite real number >= 0, got -1"),
    (lambda: SGD(_params(), 0.1, nesterov=True), "nesterov momentum needs momentum > 0"),
    (lambda: SGD([], 0.1), "params must be a non-empty list of nplstm Parameters"),
    (lambda: clip_grad_norm(_params(), float("nan")),
     "max_norm must be a finite real number > 0, got nan"),
    (lambda: make_schedule("cosine", 0.1), "the cosine schedule needs decay_steps"),
])
def test_bad_settings_are_named(call, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert message in str(info.value)


def _stepped(momentum=0.9):
    params = _params(2)
    opt = SGD(params, 0.1, momentum=momentum)
    opt.step()
    return params, opt


def test_sgd_of_a_module_says_to_pass_its_parameters():
    model = nplstm.Linear(2, 3, seed=0)
    with pytest.raises(TypeError, match=r"not the Linear itself: pass model\.parameters\(\)"):
        SGD(model, 0.1)
    with pytest.raises(TypeError, match="pass model.parameters()"):
        clip_grad_norm(model, 1.0)
    for bad in (None, 3, model.weight.data, [model.weight, model.weight.data]):
        with pytest.raises(TypeError, match="params must"):
            SGD(bad, 0.1)


def test_sgd_takes_a_generator_of_parameters():
    a, b = _params(4), _params(4)
    SGD((p for p in a), 0.1, momentum=0.5).step()
    SGD(b, 0.1, momentum=0.5).step()
    assert all(np.array_equal(p.data, q.data) for p, q in zip(a, b))


@pytest.mark.parametrize("state, error, words", [
    (None, TypeError, "state must be a mapping"),
    ([("lr", 0.1)], TypeError, "state must be a mapping"),
    ({"buffers": [None, None]}, KeyError, "missing key(s) ['lr']"),
    ({"lr": 0.1, "buffers": [None, None], "extra": 1}, KeyError, "unexpected key(s) ['extra']"),
    ({"lr": 0.1, "buffers": [[[0.0] * 2] * 3, None]}, TypeError, "buffers[0] must be an array"),
    ({"lr": 0.1, "buffers": None}, TypeError, "buffers must be a list"),
    ({"lr": 0.1, "buffers": [None]}, ValueError, "1 buffers, this optimizer has 2"),
    ({"lr": 0.1, "buffers": [np.zeros((2, 3)), None]}, ValueError, "buffer 0 has shape (2, 3)"),
    ({"lr": 0.1, "buffers": [np.zeros((3, 2), ">f8"), None]}, ValueError, "big-endian float64"),
    ({"lr": 0.1, "buffers": [np.full((3, 2), np.nan), None]}, ValueError, "non-finite"),
    ({"lr": float("nan"), "buffers": [None, None]}, ValueError,
     "lr must be a finite real number > 0, got nan"),
    ({"lr": -1.0, "buffers": [None, None]}, ValueError, "lr must be a finite real number > 0"),
    ({"lr": "0.1", "buffers": [None, None]}, TypeError, "lr must be a finite real number > 0"),
])
def test_sgd_load_state_dict_refuses_bad_state_and_changes_nothing(state, error, words):
    # issue 14: the buffers were replaced before a missing lr failed; a NaN lr was accepted
    params, opt = _stepped()
    before = snapshot(opt)
    with pytest.raises(error) as info:
        opt.load_state_dict(state)
    assert words in str(info.value)
    assert_unchanged(before, snapshot(opt))


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -1.0, 0.0, "0.1", None])
def test_a_bad_lr_is_refused_wherever_it_is_set(lr):
    with pytest.raises((ValueError, TypeError), match="lr must be a finite real number > 0"):
        SGD(_params(), lr)
    params, opt = _stepped()
    weights = [p.data.copy() for p in params]
    with pytest.raises((ValueError, TypeError), match="lr must be a finite real number > 0"):
        opt.lr = lr
    assert opt.lr == 0.1
    opt.step()                                    # still lr 0.1: finite weights
    assert all(np.isfinite(p.data).all() for p in params)
    assert not any(np.array_equal(p.data, w) for p, w in zip(params, weights))


@pytest.mark.parametrize("setting", ["momentum", "weight_decay"])
def test_a_bad_setting_assigned_later_is_refused_before_the_step_changes_anything(setting):
    params, opt = _stepped()
    setattr(opt, setting, float("nan"))
    before = snapshot(opt)
    weights = [p.data.copy() for p in params]
    with pytest.raises(ValueError, match=f"{setting} must be a finite real number >= 0, got nan"):
        opt.step()
    assert_unchanged(before, snapshot(opt))
    assert all(np.array_equal(p.data, w) for p, w in zip(params, weights))


def test_clip_grad_norm_refuses_bad_max_norm_and_params():
    params = _params()
    grads = [p.grad.copy() for p in params]
    for bad, error in ((float("nan"), ValueError), (-1.0, ValueError), ("1", TypeError),
                       (None, TypeError), (float("inf"), ValueError)):
        with pytest.raises(error, match="max_norm must be a finite real number > 0"):
            clip_grad_norm(params, bad)
    with pytest.raises(TypeError, match="element 1 is ndarray of shape"):
        clip_grad_norm([params[0], params[1].grad], 1.0)
    assert all(np.array_equal(p.grad, g) for p, g in zip(params, grads))
