"""Linear, Embedding, cross-entropy, MSE and SGD: finite differences, torch parity, bad input."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F

from . import layers_reference as lref
from . import torch_reference as ref
from .snapshots import assert_unchanged, snapshot
from .strategies import seed as seeds
from .strategies import size

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TOL = 1e-12          # max|a − b| / max|b| against torch, float64


def _golden_cases():
    with np.load(FIXTURES / "layers.npz", allow_pickle=False) as z:
        names = sorted({k.split("/")[0] for k in z.files})
        return {n: (ref.config_from_array(z[f"{n}/config"]),
                    {k[len(n) + 1:]: z[k] for k in z.files
                     if k.startswith(n + "/") and k != f"{n}/config"}) for n in names}


GOLDEN = _golden_cases()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_against_torch(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)       # the golden check never uses torch
    config, data = GOLDEN[name]
    inputs = {k: v for k, v in data.items() if k.startswith(("in/", "param/"))}
    got = lref.run_nplstm(config, inputs)
    errors = ref.compare(got, data)
    assert max(errors.values()) <= TOL, errors


@pytest.mark.torch
@settings(max_examples=max(20, settings.default.max_examples), deadline=None, database=None)
@given(name=st.sampled_from(sorted(lref.CASES)), seed=seeds)
def test_live_against_torch(name, seed):
    pytest.importorskip("torch")
    config = dict(lref.CASES[name], seed=seed)
    data = lref.make_inputs(config)
    errors = ref.compare(lref.run_nplstm(config, data), lref.run_torch(config, data))
    assert max(errors.values()) <= TOL, errors


# -- finite differences (float64, random shapes with size-1 edges) ------------------------------

FD = settings(deadline=None)


@FD
@given(lead=st.lists(size, min_size=0, max_size=2), I=size, O=size, bias=st.booleans(),
       seed=seeds)
def test_linear_backward_matches_finite_differences(lead, I, O, bias, seed):
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((*lead, I)), rng.uniform(-1, 1, (O, I))]
    if bias:
        inputs.append(rng.uniform(-1, 1, O))
    nplstm.gradcheck(F.linear_forward, lambda dy, cache: tuple(F.linear_backward(dy, cache))
                     [:len(inputs)], inputs, seed=seed)


@FD
@given(lead=st.lists(size, min_size=1, max_size=2), V=size, E=size, pad=st.booleans(),
       seed=seeds)
def test_embedding_backward_matches_finite_differences(lead, V, E, pad, seed):
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, V, lead)
    padding_idx = int(indices.reshape(-1)[0]) if pad else None
    weight = rng.standard_normal((V, E))

    def forward(w):
        # torch's padding row gets no gradient by definition: it is a constant of the model,
        # so the function checked takes it from outside the differentiated input
        if padding_idx is not None:
            w = w.copy()
            w[padding_idx] = weight[padding_idx]
        return F.embedding_forward(indices, w, padding_idx)

    report = nplstm.gradcheck(forward,
                              lambda dy, cache: (F.embedding_backward(dy, cache).weight,),
                              [weight], seed=seed)
    assert report.passed


@FD
@given(N=size, C=size, seed=seeds, n_ignored=st.integers(0, 3), scale=st.sampled_from([1, 8]))
def test_cross_entropy_backward_matches_finite_differences(N, C, seed, n_ignored, scale):
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, C, N)
    targets[:min(n_ignored, N - 1)] = -100                    # at least one target counts
    logits = scale * rng.standard_normal((N, C))    # scale 8: saturated rows, |L| still ~10
    nplstm.gradcheck(lambda z: F.cross_entropy_forward(z, targets),
                     lambda d, cache: (F.cross_entropy_backward(d, cache).logits,),
                     [logits], seed=seed)


@FD
@given(shape=st.lists(size, min_size=0, max_size=3), seed=seeds)
def test_mse_backward_matches_finite_differences(shape, seed):
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal(shape), rng.standard_normal(shape)]
    nplstm.gradcheck(F.mse_forward, lambda d, cache: tuple(F.mse_backward(d, cache)),
                     inputs, seed=seed)


def test_cross_entropy_is_stable_for_huge_logits_and_nan_when_all_ignored():
    logits = np.array([[1000.0, -1000.0, 0.0], [-5e3, 5e3, 1.0]])
    loss, cache = F.cross_entropy_forward(logits, np.array([1, 1]))
    assert np.isfinite(loss) and abs(float(loss) - 1000.0) < 1e-9     # (2000 + 0) / 2
    assert np.isfinite(F.cross_entropy_backward(1.0, cache).logits).all()
    loss, cache = F.cross_entropy_forward(logits, np.array([-100, -100]))
    assert np.isnan(loss)                                             # as torch: 0 / 0
    assert not F.cross_entropy_backward(1.0, cache).logits.any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtypes_are_kept(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(dtype)
    lin = nplstm.Linear(3, 4, dtype=dtype, seed=0)
    assert lin(x).dtype == dtype and lin.backward(np.ones((2, 4), dtype)).dtype == dtype
    loss, cache = F.cross_entropy_forward(x, np.array([0, 2]))
    assert loss.dtype == dtype and F.cross_entropy_backward(1.0, cache).logits.dtype == dtype
    loss, cache = F.mse_forward(x, x[::-1].copy())
    assert loss.dtype == dtype and F.mse_backward(1.0, cache).pred.dtype == dtype
    emb = nplstm.Embedding(5, 3, dtype=dtype, seed=0)
    assert emb(np.array([[1, 4]])).dtype == dtype


def test_modules_accumulate_grads_like_the_functions():
    rng = np.random.default_rng(1)
    lin = nplstm.Linear(3, 2, dtype="float64", seed=4)
    x, dy = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    lin(x), lin(x)
    dx = lin.backward(dy)
    lin.backward(dy)
    _, cache = F.linear_forward(x, lin.weight.data, lin.bias.data)
    g = F.linear_backward(dy, cache)
    assert np.array_equal(dx, g.x)
    assert np.allclose(lin.weight.grad, 2 * g.weight, rtol=1e-15, atol=0)
    assert np.allclose(lin.bias.grad, 2 * g.bias, rtol=1e-15, atol=0)
    emb = nplstm.Embedding(4, 2, padding_idx=3, dtype="float64", seed=0)
    assert not emb.weight.data[3].any()
    emb(np.array([3, 1, 1]))
    assert emb.backward(np.ones((3, 2))) is None
    assert np.array_equal(emb.weight.grad, [[0, 0], [2, 2], [0, 0], [0, 0]])


def test_torch_init_bounds_and_seeds():
    lin = nplstm.Linear(16, 3, seed=0)
    assert np.abs(lin.weight.data).max() <= 0.25 and np.abs(lin.bias.data).max() <= 0.25
    assert np.array_equal(lin.weight.data, nplstm.Linear(16, 3, seed=0).weight.data)
    assert list(lin.state_dict()) == ["weight", "bias"]
    assert list(nplstm.Linear(2, 2, bias=False).state_dict()) == ["weight"]
    assert list(nplstm.Embedding(3, 2).state_dict()) == ["weight"]


@pytest.mark.parametrize("call, error, message", [
    (lambda: F.linear_forward(np.ones((2, 3)), np.ones((4, 5))), ValueError,
     "x must have shape (..., I) with I = 5 (weight's second dimension), got (2, 3)"),
    (lambda: F.linear_forward(np.ones((2, 3)), np.ones((4, 3)), np.ones(3)), ValueError,
     "bias must have shape (O,) = (4,), got (3,); O is weight's first dimension"),
    (lambda: F.linear_forward(np.ones((2, 3), np.float32), np.ones((4, 3))), TypeError,
     "x has dtype float32 but weight is float64"),
    (lambda: F.embedding_forward(np.array([0.0, 1.0]), np.ones((3, 2))), TypeError,
     "indices must have an integer dtype, got float64"),
    (lambda: F.embedding_forward(np.array([0, 3]), np.ones((3, 2))), ValueError,
     "indices must lie in [0, 3), got 3"),
    (lambda: F.cross_entropy_forward(np.ones((2, 3)), np.array([0, 5])), ValueError,
     "targets must lie in [0, 3), got 5"),
    (lambda: F.cross_entropy_forward(np.ones((2, 3)), np.array([0, 1, 2])), ValueError,
     "targets must have shape (N,) = (2,), got (3,)"),
    (lambda: F.cross_entropy_forward(np.ones((2, 3, 4)), np.array([0, 1])), ValueError,
     "logits must have shape (N, C) (reshape (B, T, C) to (B·T, C)), got (2, 3, 4)"),
    (lambda: F.cross_entropy_forward(np.ones((2, 3)), np.array([0.0, 1.0])), TypeError,
     "targets must be an integer array of class indices, got float64"),
    (lambda: F.mse_forward(np.ones((2, 3)), np.ones((3, 2))), ValueError,
     "target must have shape like pred = (2, 3), got (3, 2)"),
    (lambda: F.mse_backward(np.ones(2), F.mse_forward(np.ones(2), np.zeros(2))[1]), ValueError,
     "dloss must be a scalar (shape ()), got shape (2,)"),
    (lambda: nplstm.Linear(3, 2)(np.ones((1, 3))), TypeError,
     "x has dtype float64 but float32 is expected"),
    (lambda: nplstm.Embedding(3, 2, padding_idx=3), ValueError,
     "padding_idx must lie in [-3, 3), got 3"),
    (lambda: nplstm.Linear(0, 2), ValueError, "in_features must be a positive int, got 0"),
])
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize("padding_idx, error", [(2.5, TypeError), ("1", TypeError),
                                                (True, TypeError), (np.bool_(False), TypeError),
                                                (3, ValueError),
                                                (-4, ValueError)])
def test_padding_idx_must_be_an_int_in_range(padding_idx, error):
    # issue 14: 2.5 gave an IndexError, "1" a bare TypeError, True silently row 1
    with pytest.raises(error, match=r"padding_idx must (be an int|lie) in \[-3, 3\)"):
        nplstm.Embedding(3, 2, padding_idx=padding_idx)
    with pytest.raises(error, match="padding_idx"):
        F.embedding_forward(np.array([0, 1]), np.ones((3, 2)), padding_idx)
    assert nplstm.Embedding(3, 2, padding_idx=np.int64(-1)).padding_idx == 2


def test_functional_negative_padding_idx_counts_from_the_end():
    # a negative padding_idx was compared with the raw indices: no row was masked
    rng = np.random.default_rng(3)
    weight, dy = rng.standard_normal((4, 2)), rng.standard_normal((5, 2))
    indices = np.array([3, 0, 3, 1, 2])
    _, cache = F.embedding_forward(indices, weight, padding_idx=-1)
    got = F.embedding_backward(dy, cache).weight
    want = np.zeros((4, 2))
    for n, v in enumerate(indices):            # dW[v] = Σ dy[n] over idx[n] = v, v ≠ 3
        if v != 3:
            want[v] += dy[n]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape, axis", [((0, 0), "row (N ≥ 1)"), ((0, 3), "row (N ≥ 1)"),
                                         ((3, 0), "class (C ≥ 1)")])
def test_cross_entropy_refuses_empty_logits(shape, axis):
    with pytest.raises(ValueError, match=r"logits must have at least one " + re.escape(axis)):
        F.cross_entropy_forward(np.zeros(shape), np.zeros(shape[0], np.int64))


@pytest.mark.parametrize("dloss", [None, [1.0], "1", True, np.ones(1)])
def test_loss_backwards_refuse_a_dloss_that_is_not_a_scalar(dloss):
    _, ce_cache = F.cross_entropy_forward(np.ones((2, 3)), np.array([0, 2]))
    _, mse_cache = F.mse_forward(np.ones(2), np.zeros(2))
    for backward, cache in ((F.cross_entropy_backward, ce_cache), (F.mse_backward, mse_cache)):
        with pytest.raises((TypeError, ValueError), match="dloss"):
            backward(dloss, cache)


def test_linear_and_embedding_refused_backwards_change_nothing():
    rng = np.random.default_rng(4)
    lin, emb = nplstm.Linear(3, 2, dtype="float64", seed=0), nplstm.Embedding(5, 3, seed=0)
    x1, x2 = rng.standard_normal((2, 4, 3))
    lin(x1)
    lin(x2)
    emb(np.array([1, 2]))
    emb(np.array([4, 4, 0]))
    dy, de = rng.standard_normal((4, 2)), rng.standard_normal((3, 3)).astype(np.float32)
    before = snapshot(lin, emb)
    for call in (lambda: lin.backward(dy[:, :1]), lambda: lin.backward([1.0]),
                 lambda: emb.backward(de[:2]), lambda: emb.backward(de.astype(np.float64))):
        with pytest.raises((ValueError, TypeError), match="dy"):
            call()
        assert_unchanged(before, snapshot(lin, emb))
    np.testing.assert_array_equal(lin.backward(dy), dy @ lin.weight.data)     # x2's step
    np.testing.assert_array_equal(lin.weight.grad, dy.T @ x2)
    emb.backward(de)
    np.testing.assert_array_equal(emb.weight.grad[4], de[0] + de[1])


def test_nan_stays_out_of_what_torch_leaves_out():
    # an ignored row's NaN logits reached the loss (NaN · 0) and a NaN upstream gradient at
    # padding_idx reached the padding row; torch leaves both out
    logits = np.array([[0.5, -1.0, 2.0], [np.nan, 0.0, 1.0], [1.0, 1.5, -0.5]])
    targets = np.array([2, -100, 0])
    loss, _ = F.cross_entropy_forward(logits, targets)
    clean, _ = F.cross_entropy_forward(logits[[0, 2]], targets[[0, 2]])
    np.testing.assert_array_equal(loss, clean)
    assert np.isfinite(loss)
    dy = np.array([[np.nan, 1.0], [2.0, 3.0], [4.0, 5.0]])
    _, cache = F.embedding_forward(np.array([1, 0, 1]), np.ones((3, 2)), padding_idx=1)
    np.testing.assert_array_equal(F.embedding_backward(dy, cache).weight,
                                  [[2.0, 3.0], [0.0, 0.0], [0.0, 0.0]])


# -- pinned by the mutation run: refusals that nothing else reaches -------------------------

@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_mse_refuses_empty_input_instead_of_a_nan_mean(shape):
    with pytest.raises(ValueError, match=r"^pred must have at least one entry .*got shape "
                                         r".*nplstm refuses empty arrays"):
        F.mse_forward(np.zeros(shape), np.zeros(shape))


@pytest.mark.parametrize("backward, cache", [
    (F.mse_backward, lambda: F.mse_forward(np.ones(2), np.zeros(2))[1]),
    (F.cross_entropy_backward,
     lambda: F.cross_entropy_forward(np.ones((2, 3)), np.array([0, 2]))[1]),
])
def test_a_0d_dloss_of_another_dtype_is_refused_not_cast(backward, cache):
    with pytest.raises(TypeError, match="^dloss has dtype float32 but the loss is float64; "
                                        "nplstm never casts silently"):
        backward(np.array(1.0, np.float32), cache())
    got = backward(np.array(0.5), cache())[0]                  # the loss's dtype: accepted
    assert got.dtype == np.float64 and got.any()
