"""The Gauss-Newton-vector product of an LSTM with a linear readout, G v = Jᵀ H_ℓ J v.

The model: one LSTM layer (zero initial state), then a linear readout, then a loss:

    loss="cross_entropy"  the char-LM: logits z = output W_outᵀ + b_out at every step,
                          (T·B, V), softmax cross-entropy against integer targets (T, B)
    loss="mse"            the adding problem: a prediction z = h_T W_outᵀ + b_out from the
                          last hidden state, (B, O), mean squared error against targets (B, O)

with parameters θ = ``READOUT_NAMES`` = (weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H,),
bias_hh (4H,), weight_out (O, H), bias_out (O,)).  z(θ) is the network's output, J = ∂z/∂θ
its Jacobian, ℓ(z) the loss and H_ℓ = ∇²_z ℓ, the loss's Hessian in z.  The Gauss-Newton
matrix G = Jᵀ H_ℓ J is the Hessian of ℓ with the network linearised at θ; it is positive
semi-definite (H_ℓ is) and the curvature matrix of Martens' Hessian-free optimisation
(Martens & Sutskever 2011).  G v costs about three passes, built from the existing pieces:

    J v        the LSTM's forward-mode derivative (``lstm_jvp``), then the readout's by the
               product rule: z_dot = feats_dot W_outᵀ + feats W_out_dotᵀ + b_out_dot
    H_ℓ (J v)  ``cross_entropy_hessian_product``: per row n, (diag(p_n) − p_n p_nᵀ) z_dot_n / M
               = p_n ⊙ (z_dot_n − ⟨p_n, z_dot_n⟩) / M (p = softmax(z), M valid rows);
               ``mse_hessian_product``: 2 z_dot / K (K = z.size)
    Jᵀ (…)     the existing backward: ``linear_backward``, then ``lstm_backward``

Its check, ``hvpcheck`` against a definition that uses neither the JVP nor the loss-Hessian
product: docs/gradcheck.md §3d (tests/test_gauss_newton.py).

    loss, grads = readout_loss_and_grad(x, params, targets, loss="cross_entropy")
    products = gauss_newton_product(x, params, targets, vectors, loss="cross_entropy")

x (T, B, I) float; vectors one array per parameter, shaped like it; every result a tuple in
``READOUT_NAMES`` order, in the parameters' dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..backend import check_float_array, check_not_masked, get_array_module, is_array
from ..checks import check_arrays, check_cache, check_not_empty, check_rank, check_shape
from .inputs import check_weights
from .jvp import SequenceTangents, lstm_jvp
from .linear import LinearCache, linear_backward, linear_forward
from .losses import (CrossEntropyCache, MSECache, cross_entropy_backward, cross_entropy_forward,
                     mse_backward, mse_forward)
from .sequence import SequenceCache, lstm_backward, lstm_forward

__all__ = ["READOUT_NAMES", "READOUT_LOSSES", "ReadoutCache", "readout_forward",
           "readout_backward", "readout_loss_and_grad", "gauss_newton_product",
           "cross_entropy_hessian_product", "mse_hessian_product"]

READOUT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_out", "bias_out")
READOUT_LOSSES = ("cross_entropy", "mse")


class ReadoutCache(NamedTuple):
    """What ``readout_backward`` and ``gauss_newton_product`` need from the forward."""

    loss: str                  # "cross_entropy" or "mse"
    sequence: SequenceCache    # the LSTM layer's
    linear: LinearCache        # the readout's
    loss_cache: Any            # CrossEntropyCache or MSECache
    feats: Any                 # the readout's input: output (T·B, H) or h_T (B, H)
    z: Any                     # the network's output: logits (T·B, V) or prediction (B, O)
    shape: tuple[int, int, int]   # (T, B, H)


def _check_loss(loss: str) -> str:
    if not isinstance(loss, str) or loss not in READOUT_LOSSES:
        raise ValueError(f"loss must be one of {READOUT_LOSSES}, got {loss!r}")
    return loss


def _check_params(params: Sequence[Any], what: str = "params",
                  like: Sequence[Any] | None = None) -> tuple[Any, ...]:
    """``params`` (or ``vectors``, shaped and typed ``like`` the params): a tuple of float
    arrays of one dtype, each named ``params[weight_out]`` in errors; the readout's shapes
    weight_out (O, H), bias_out (O,) (the LSTM's are checked by ``lstm_forward``)."""
    if not isinstance(params, (tuple, list)) or len(params) != len(READOUT_NAMES):
        raise TypeError(f"{what} must be a tuple of {len(READOUT_NAMES)} arrays "
                        f"{READOUT_NAMES}, got {type(params).__name__}"
                        + (f" of {len(params)}" if isinstance(params, (tuple, list)) else ""))
    names = [f"{what}[{name}]" for name in READOUT_NAMES]
    check_arrays(dict(zip(names, params)), dtype=None if like is None else like[0].dtype,
                 required=names)
    if like is not None:
        for name, v, p in zip(names, params, like):
            check_shape(name, v, p.shape, "(the parameter's)")
        return tuple(params)
    _, _, H, _ = check_weights(*params[:4])          # the LSTM's, by their names
    w_out, b_out = params[4], params[5]
    check_rank(names[4], w_out, (2,), "(O, H)")
    check_not_empty(names[4], w_out, ("O", "H"))
    check_shape(names[4], w_out, (w_out.shape[0], H), "(O, H)")
    check_shape(names[5], b_out, (w_out.shape[0],), "(O,)")
    return tuple(params)


def _check_x(x: Any) -> None:
    check_float_array("x", x)
    check_rank("x", x, (3,), "(T, B, I) (the readout model takes a batch)")
    check_not_empty("x", x, ("T", "B", "I"))


def _check_targets(targets: Any, loss: str, T: int, B: int, O: int, dtype: Any) -> None:
    """Class indices (T, B) for cross_entropy (their values: ``cross_entropy_forward``);
    (B, O) floats for mse (their dtype: ``mse_forward``)."""
    what = "an integer array (T, B) of class indices" if loss == "cross_entropy" else \
        "a float array (B, O)"
    if not is_array(targets):
        raise TypeError(f"targets must be {what}, got {type(targets).__name__}")
    check_not_masked("targets", targets)
    if loss == "cross_entropy":
        check_shape("targets", targets, (T, B), "(T, B)")
    else:
        check_float_array("targets", targets, dtype)
        check_shape("targets", targets, (B, O), "(B, O)")


def readout_forward(x: Any, params: Sequence[Any], targets: Any, *,
                    loss: str = "cross_entropy") -> tuple[Any, ReadoutCache]:
    """``value, cache``: the loss of the LSTM + readout model (module docstring), a 0-d
    array, and a ``ReadoutCache``."""
    loss = _check_loss(loss)
    _check_x(x)
    w_ih, w_hh, b_ih, b_hh, w_out, b_out = _check_params(params)
    (output, (h_n, _)), sequence = lstm_forward(x, None, w_ih, w_hh, b_ih, b_hh)  # checks x
    assert sequence is not None          # keep_cache=True (the default) always gives one
    _check_targets(targets, loss, x.shape[0], x.shape[1], w_out.shape[0], x.dtype)
    T, B, H = output.shape
    feats = output.reshape(T * B, H) if loss == "cross_entropy" else h_n   # (T·B | B, H)
    z, linear = linear_forward(feats, w_out, b_out)                         # (N, O)
    loss_cache: CrossEntropyCache | MSECache
    if loss == "cross_entropy":
        value, loss_cache = cross_entropy_forward(z, targets.reshape(-1))
    else:
        value, loss_cache = mse_forward(z, targets)
    return value, ReadoutCache(loss, sequence, linear, loss_cache, feats, z, (T, B, H))


def readout_backward(dz: Any, cache: ReadoutCache) -> tuple[Any, ...]:
    """Jᵀ dz: the parameters' gradients from ∂/∂z (shaped like z), in ``READOUT_NAMES``
    order, through the existing backwards."""
    check_cache(cache, ReadoutCache, "readout_forward")
    T, B, H = cache.shape
    linear_grads: Any = linear_backward(dz, cache.linear)
    dfeats, dw_out, db_out = linear_grads
    if cache.loss == "cross_entropy":
        grads = lstm_backward(dfeats.reshape(T, B, H), None, None, cache.sequence)
    else:
        grads = lstm_backward(None, dfeats, None, cache.sequence)
    return (grads.weight_ih, grads.weight_hh, grads.bias_ih, grads.bias_hh, dw_out, db_out)


def readout_loss_and_grad(x: Any, params: Sequence[Any], targets: Any, *,
                          loss: str = "cross_entropy") -> tuple[Any, tuple[Any, ...]]:
    """``(value, grads)``: the loss (0-d array) and its gradient, a tuple in
    ``READOUT_NAMES`` order."""
    value, cache = readout_forward(x, params, targets, loss=loss)
    if cache.loss == "cross_entropy":
        dz = cross_entropy_backward(1.0, cache.loss_cache).logits
    else:
        dz = mse_backward(1.0, cache.loss_cache).pred
    return value, readout_backward(dz, cache)


def cross_entropy_hessian_product(cache: CrossEntropyCache, logits_dot: Any) -> Any:
    """H_ℓ z_dot for the mean softmax cross-entropy: per row p ⊙ (z_dot − ⟨p, z_dot⟩) / M,
    0 on ignored rows.  logits_dot (N, C) -> (N, C)."""
    check_cache(cache, CrossEntropyCache, "cross_entropy_forward")
    check_arrays({"logits_dot": logits_dot}, dtype=cache.probs.dtype, required=["logits_dot"])
    check_shape("logits_dot", logits_dot, cache.probs.shape, "(N, C)")
    probs, _, valid, count = cache
    inner = (probs * logits_dot).sum(axis=1, keepdims=True)                 # (N, 1)
    return probs * (logits_dot - inner) * valid / max(count, 1)


def mse_hessian_product(cache: MSECache, pred_dot: Any) -> Any:
    """H_ℓ p_dot for the mean squared error: 2 p_dot / K.  Shaped like the prediction."""
    check_cache(cache, MSECache, "mse_forward")
    diff: Any = cache.diff
    check_arrays({"pred_dot": pred_dot}, dtype=diff.dtype, required=["pred_dot"])
    check_shape("pred_dot", pred_dot, diff.shape, "(the prediction's)")
    return pred_dot * (2.0 / diff.size)


def gauss_newton_product(x: Any, params: Sequence[Any], targets: Any, vectors: Sequence[Any],
                         *, loss: str = "cross_entropy") -> tuple[Any, ...]:
    """G v = Jᵀ H_ℓ J v at ``params`` (module docstring); ``vectors`` one per parameter,
    shaped like it.  Returns a tuple in ``READOUT_NAMES`` order."""
    loss = _check_loss(loss)
    _check_x(x)
    params = _check_params(params)
    vectors = _check_params(vectors, "vectors", like=params)
    w_ih, w_hh, b_ih, b_hh, w_out, b_out = params
    _, cache = readout_forward(x, params, targets, loss=loss)
    tangents = SequenceTangents(weight_ih=vectors[0], weight_hh=vectors[1],
                                bias_ih=vectors[2], bias_hh=vectors[3])
    _, (output_dot, (h_n_dot, _)) = lstm_jvp(x, None, w_ih, w_hh, b_ih, b_hh,
                                             tangents=tangents)                  # J v, LSTM
    T, B, H = cache.shape
    feats_dot = output_dot.reshape(T * B, H) if loss == "cross_entropy" else h_n_dot
    z_dot = feats_dot @ w_out.T + cache.feats @ vectors[4].T + vectors[5]        # (N, O)
    if loss == "cross_entropy":
        hz = cross_entropy_hessian_product(cache.loss_cache, z_dot)
    else:
        hz = mse_hessian_product(cache.loss_cache, z_dot)
    xp = get_array_module(hz)
    return readout_backward(xp.asarray(hz, dtype=w_out.dtype), cache)           # Jᵀ H J v
