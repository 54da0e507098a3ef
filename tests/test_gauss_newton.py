"""The Gauss-Newton-vector product of an LSTM with a readout (``F.gauss_newton_product``),
checked with ``nplstm.hvpcheck`` against finite differences of its definition
(tests/gauss_newton_reference.py explains the reference), and against an all-finite-
difference J^T (H (J v)); planted bugs in the loss Hessian and in the JVP are caught."""

import numpy as np
import pytest

import nplstm
from nplstm import functional as F
from nplstm.functional import gauss_newton

from .gauss_newton_reference import (adding_case, charlm_case, dense_loss_hessian,
                                     gauss_newton_hvp, model_gradient)

CASES = {"cross_entropy": charlm_case, "mse": adding_case}


def _check(loss, mode, dtype=np.float64, raise_exception=True, seed=0):
    x, params, targets = CASES[loss](np.random.default_rng(seed), dtype=dtype)
    return nplstm.hvpcheck(model_gradient(x, params, targets, loss),
                           gauss_newton_hvp(x, targets, loss), list(params),
                           names=list(F.READOUT_NAMES), mode=mode,
                           raise_exception=raise_exception)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("mode", ["full", "directional", "sampled"])
def test_the_gauss_newton_product_passes_hvpcheck(loss, mode):
    assert _check(loss, mode).passed


def test_the_gauss_newton_product_in_float32_passes_at_float32_tolerances():
    report = _check("cross_entropy", "directional", np.float32)
    assert report.passed and report["weight_hh"].precision == "float32"


def _diagonal_only(cache, logits_dot):           # drops the −p pᵀ part of softmax's Hessian
    probs, _, valid, count = cache
    return probs * logits_dot * valid / max(count, 1)


def _jvp_missing_a_tangent(*args, tangents=None, **kwargs):   # forgets weight_hh's tangent
    return F.lstm_jvp(*args, tangents=tangents._replace(weight_hh=None), **kwargs)


@pytest.mark.parametrize("mode", ["full", "directional"])
@pytest.mark.parametrize("bug, name, failed", [
    ("loss Hessian without -p p^T", "cross_entropy_hessian_product", None),
    ("JVP misses weight_hh's tangent", "lstm_jvp", None)])
def test_planted_bugs_in_the_gauss_newton_product_are_caught(monkeypatch, mode, bug, name,
                                                             failed):
    planted = _diagonal_only if name == "cross_entropy_hessian_product" else \
        _jvp_missing_a_tangent
    monkeypatch.setattr(gauss_newton, name, planted)
    report = _check("cross_entropy", mode, raise_exception=False)
    assert not report.passed
    if name == "lstm_jvp" and mode == "full":
        # G's weight_hh column is lost: (G v)_k for every k misses G_{k,hh} v_hh
        assert set(report.failed) == set(F.READOUT_NAMES)


def test_the_product_matches_jt_h_j_built_from_finite_differences_of_the_forward_only():
    """A second reference, no backward, no JVP: J v by central differences of z along v,
    H₀ dense, Jᵀ w by central differences of ⟨w, z(θ)⟩ element by element."""
    loss = "cross_entropy"
    x, params, targets = charlm_case(np.random.default_rng(6))
    _, cache = F.readout_forward(x, params, targets, loss=loss)
    H0 = dense_loss_hessian(cache)
    rng = np.random.default_rng(7)
    v = [rng.standard_normal(p.shape) for p in params]

    def z_at(ps):
        return F.readout_forward(x, ps, targets, loss=loss)[1].z

    eps = 1e-5
    plus = z_at([p + eps * d for p, d in zip(params, v)])
    minus = z_at([p - eps * d for p, d in zip(params, v)])
    w = np.einsum("ncd,nd->nc", H0, (plus - minus) / (2 * eps))            # H₀ J v
    expected = []
    for k, p in enumerate(params):
        g = np.zeros(p.shape)
        for j in range(p.size):
            e = np.zeros(p.size)
            e[j] = eps
            up, down = list(params), list(params)
            up[k], down[k] = p + e.reshape(p.shape), p - e.reshape(p.shape)
            g.flat[j] = np.sum(w * (z_at(up) - z_at(down))) / (2 * eps)   # (Jᵀ w)_j
        expected.append(g)
    got = F.gauss_newton_product(x, params, targets, v, loss=loss)
    for name, e, g in zip(F.READOUT_NAMES, expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-9, err_msg=name)


def test_the_gauss_newton_matrix_is_positive_semi_definite_along_random_directions():
    x, params, targets = charlm_case(np.random.default_rng(8))
    rng = np.random.default_rng(9)
    for _ in range(5):
        v = [rng.standard_normal(p.shape) for p in params]
        gv = F.gauss_newton_product(x, params, targets, v)
        assert sum(float(np.sum(a * b)) for a, b in zip(v, gv)) >= 0


def test_bad_arguments_are_refused_naming_them():
    x, params, targets = charlm_case(np.random.default_rng(0))
    with pytest.raises(ValueError, match="loss must be one of"):
        F.gauss_newton_product(x, params, targets, params, loss="hinge")
    with pytest.raises(TypeError, match="vectors must be a tuple of 6 arrays"):
        F.gauss_newton_product(x, params, targets, params[:5])
    with pytest.raises(ValueError, match=r"vectors\[bias_out\] must have shape"):
        F.gauss_newton_product(x, params, targets, params[:5] + (np.ones(2),))
