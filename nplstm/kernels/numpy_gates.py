"""The elementwise math of one LSTM step on NumPy: the single source of the gate equations.

Both the cell (``functional/cell.py``) and the sequence driver (``functional/sequence.py``)
call these two functions; they differ only in where the matrix products happen.  Every
operation writes into a buffer the caller owns (``out=``), so a time loop allocates nothing.

Notation (shapes): B batch, H hidden size; ``gates`` is (B, 4H) stacked as [i | f | g | o].
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np

from .layout import activation_prescale, split_gates

__all__ = ["gates_forward", "gates_backward", "backward_factors", "backward_step",
           "quiet_exp"]

# Steps of at least this many (rows · H) elements may be split by rows across threads
# (NumPy's ufuncs release the GIL; rows are independent, so each block computes the same
# numbers as the whole).  Off by default (never reached): on the shared 2-core machine it
# was measured slower (a thread hand-off costs 20–50 µs and the second core was busy);
# 1 << 14 is the size from which it may pay on a quiet machine (docs/benchmarks.md).
SPLIT_MIN_ELEMENTS = 1 << 62
_MAX_THREADS = 2


@lru_cache(maxsize=64)
def _row_constants(H: int, dtype: np.dtype):
    """Per-column constants of a (4H,) gate row, blocks [i | f | g | o].

    scale = [−1 −1 −2 −1] and numer = [1 1 2 1]:  numer / (1 + exp(scale·z)) is σ(z) on the
        i, f, o blocks and 2σ(2z) = tanh(z) + 1 on the g block (``activation_prescale``).
    k1 = [1 1 0 1], k0 = [0 0 1 0]:  (k1 − a)·a + k0 is the derivative da/dz expressed
        through the output a: σ' = a(1 − a) on i, f, o and tanh' = 1 − a² on g.
    """
    def row(sig, tan):
        r = np.full(4 * H, sig, dtype=dtype)
        r[2 * H:3 * H] = tan
        r.setflags(write=False)
        return r

    return activation_prescale(H, dtype), row(1.0, 2.0), row(1.0, 0.0), row(0.0, 1.0)


@lru_cache(maxsize=8)
def _one(dtype: np.dtype):
    """1 as a 0-d array of ``dtype``: a Python scalar costs a conversion on every ufunc call."""
    return np.ones((), dtype=dtype)


@lru_cache(maxsize=1)
def _blas_controllers():
    try:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415
    except ImportError:
        return None
    return ThreadpoolController().select(user_api="blas").lib_controllers


def _threads() -> int:
    """Threads for large elementwise steps: as many as NumPy's BLAS may use now (at most
    2), so that limiting the BLAS (threadpoolctl) limits nplstm; all cores (at most 2)
    without threadpoolctl."""
    libs = _blas_controllers()
    n = min((lib.num_threads for lib in libs), default=1) if libs else os.cpu_count() or 1
    return max(1, min(_MAX_THREADS, n))


@lru_cache(maxsize=1)
def _pool():
    return ThreadPoolExecutor(_MAX_THREADS - 1, thread_name_prefix="nplstm")


def _by_rows(kernel, *arrays, **kwargs):
    """``kernel(*arrays)``, split along the row axis (−2) across threads when large."""
    rows = arrays[-1].shape[-2]
    size = arrays[-1].size                              # (…, rows, H): all leading axes
    threads = _threads() if size >= SPLIT_MIN_ELEMENTS and rows > 1 else 1
    if threads == 1:
        return kernel(*arrays, **kwargs)
    cut = rows // 2
    head = tuple(a[..., :cut, :] for a in arrays)
    tail = tuple(a[..., cut:, :] for a in arrays)
    job = _pool().submit(kernel, *tail, **kwargs)
    kernel(*head, **kwargs)
    job.result()


def gates_forward(gates, c_prev, c, tanh_c, h, prescaled=False):
    """``_gates_forward``, split by rows across threads for large steps (same numbers)."""
    if h.size < SPLIT_MIN_ELEMENTS:                     # small: no thread, no overhead
        return _gates_forward(gates, c_prev, c, tanh_c, h, prescaled)
    _by_rows(_gates_forward, gates, c_prev, c, tanh_c, h, prescaled=prescaled)


def quiet_exp():
    """Context for calls of ``gates_forward``: e^p overflows to inf for p ≫ 0 (p > 88 in
    float32) and underflows to 0 for p ≪ 0, both harmless (σ = 1/(1 + inf) = 0 and
    1/(1 + 0) = 1 exactly, as σ(∓∞)), so NumPy's warnings (or errors, under ``np.seterr``)
    for them are switched off.  A driver enters it once around its time loop: entering
    costs ~3 µs, a whole step's kernel at B = 1 about 10 µs."""
    return np.errstate(over="ignore", under="ignore")


def _gates_forward(gates, c_prev, c, tanh_c, h, prescaled=False):
    """Activate the gates in place and advance the cell state: one step's elementwise math.

    Call it inside ``quiet_exp()``.

    gates  (B, 4H)  in: pre-activations z (with ``prescaled``: p = [−z_i −z_f −2z_g −z_o],
                    the ``activation_prescale`` row already applied, e.g. folded into the
                    weights); out: activations [i | f | g | o]
    c_prev (B, H)   in: previous cell state (may be the same buffer as ``c``)
    c      (B, H)   out: c' = f ⊙ c_prev + i ⊙ g
    tanh_c (B, H)   out: tanh(c')
    h      (B, H)   out: h' = o ⊙ tanh(c')   (before any projection)
    """
    scale, numer, _, _ = _row_constants(gates.shape[-1] // 4, gates.dtype)
    one = _one(gates.dtype)
    # i, f, o = σ(z) = 1/(1 + e^{−z}) and g = tanh(z) = 2/(1 + e^{−2z}) − 1: one exp over
    # the whole row (NumPy's float32 exp costs half its tanh); e^{−z} = inf gives σ = 0 exactly
    if not prescaled:
        np.multiply(gates, scale, out=gates)                # p = [−z_i −z_f −2z_g −z_o]
    np.exp(gates, out=gates)                                # e^p                 (B, 4H)
    np.add(gates, one, out=gates)                           # 1 + e^p
    np.divide(numer, gates, out=gates)                      # [σ σ tanh+1 σ]
    i, f, g, o = split_gates(gates)
    np.subtract(g, one, out=g)                              # g = tanh(z_g)        (B, H)
    np.multiply(f, c_prev, out=c)                           # c' = f ⊙ c_prev         (B, H)
    np.multiply(i, g, out=tanh_c)                           #      i ⊙ g (tanh_c as scratch)
    np.add(c, tanh_c, out=c)                                # c' = f ⊙ c_prev + i ⊙ g  (B, H)
    np.tanh(c, out=tanh_c)                                  # tanh(c')                (B, H)
    np.multiply(o, tanh_c, out=h)                           # h' = o ⊙ tanh(c')        (B, H)


def backward_factors(gates, c_prev, tanh_c, factors, dc_gain):
    """``_backward_factors``, split by rows across threads for large chunks (same numbers)."""
    if dc_gain.size < SPLIT_MIN_ELEMENTS:
        return _backward_factors(gates, c_prev, tanh_c, factors, dc_gain)
    _by_rows(_backward_factors, gates, c_prev, tanh_c, factors, dc_gain)


def _backward_factors(gates, c_prev, tanh_c, factors, dc_gain):
    """The parts of the step backward that do not depend on the incoming gradients.

    Any number of leading axes (a chunk of time steps at once: (S, B, ·)), so that the serial
    backward loop keeps only the products with dh and dc (``backward_step``).

    gates   (..., 4H)  in: the activations [i | f | g | o] saved by the forward
    c_prev  (..., H)   in: the previous cell states
    tanh_c  (..., H)   in: tanh(c') saved by the forward
    factors (..., 4H)  out: [g σ'(i) | c_prev σ'(f) | i tanh'(g) | tanh(c') σ'(o)], so that
                       dz = [dc' dc' dc' dh] ⊙ factors  (dc' the total ∂L/∂c')
    dc_gain (..., H)   out: o ⊙ (1 − tanh²(c')), so that dc' = dc + dh ⊙ dc_gain
    """
    _, _, k1, k0 = _row_constants(gates.shape[-1] // 4, gates.dtype)
    one = _one(gates.dtype)
    i, f, g, o = split_gates(gates)
    fi, ff, fg, fo = split_gates(factors)
    # da/dz from the outputs: σ' = a(1 − a), tanh' = 1 − a², as one row (k1 − a) ⊙ a + k0
    np.subtract(k1, gates, out=factors)                     # (..., 4H)
    np.multiply(factors, gates, out=factors)                # (..., 4H)
    np.add(factors, k0, out=factors)                        # da/dz              (..., 4H)
    np.multiply(fi, g, out=fi)                # c' = f ⊙ c_prev + i ⊙ g ⇒ ∂c'/∂z_i = g σ'(i)
    np.multiply(ff, c_prev, out=ff)           #                         ∂c'/∂z_f = c_prev σ'(f)
    np.multiply(fg, i, out=fg)                #                         ∂c'/∂z_g = i tanh'(g)
    np.multiply(fo, tanh_c, out=fo)           # h' = o ⊙ tanh c' ⇒     ∂h'/∂z_o = tanh c' σ'(o)
    np.multiply(tanh_c, tanh_c, out=dc_gain)                # tanh²(c')           (..., H)
    np.subtract(one, dc_gain, out=dc_gain)                  # 1 − tanh²(c')
    np.multiply(dc_gain, o, out=dc_gain)      # h' = o ⊙ tanh c' ⇒ ∂h'/∂c' = o (1 − tanh² c')


def backward_step(dh, dc, factors, dc_gain, f, dgates, dc_total, dc_prev):
    """The serial part of one step's backward, from the factors of ``backward_factors``.

    dh       (B, H)   in: ∂L/∂h' (all of it: from the output and from the next step)
    dc       (B, H)   in: ∂L/∂c' from the next step (or dc_n)
    factors  (B, 4H)  in: this step's factors (may be the same buffer as ``dgates``)
    dc_gain  (B, H)   in: this step's o ⊙ (1 − tanh²(c'))
    f        (B, H)   in: the forget gate of this step
    dgates   (B, 4H)  out: ∂L/∂z
    dc_total (B, H)   out: the total ∂L/∂c' = dc + dh ⊙ o ⊙ (1 − tanh²(c'))
    dc_prev  (B, H)   out: ∂L/∂c_prev = dc_total ⊙ f (may be the same buffer as ``dc``)
    """
    B, H = dh.shape
    np.multiply(dh, dc_gain, out=dc_total)                  # dh ⊙ o ⊙ (1 − tanh²(c'))
    np.add(dc_total, dc, out=dc_total)                      # total ∂L/∂c'         (B, H)
    # [dz_i dz_f dz_g] = dc' ⊙ [g σ'(i), c_prev σ'(f), i tanh'(g)]: one broadcast product
    np.multiply(factors.reshape(B, 4, H)[:, :3], dc_total[:, None],
                out=dgates.reshape(B, 4, H)[:, :3])         # (B, 3, H)
    np.multiply(factors[:, 3 * H:], dh, out=dgates[:, 3 * H:])   # dz_o = dh ⊙ tanh c' σ'(o)
    np.multiply(dc_total, f, out=dc_prev)                   # c' = f ⊙ c_prev ⇒ dc_prev = dc' ⊙ f


def gates_backward(dh, dc, gates, c_prev, tanh_c, dgates, dc_prev, scratch):
    """Backward of ``gates_forward``: from ∂L/∂h', ∂L/∂c' to ∂L/∂z and ∂L/∂c_prev.

    dh      (B, H)   in: ∂L/∂h' (all of it: from the output and from the next step)
    dc      (B, H)   in: ∂L/∂c' from outside this step (the next step, or dc_n)
    gates   (B, 4H)  in: the activations [i | f | g | o] saved by the forward
    c_prev  (B, H)   in: the previous cell state
    tanh_c  (B, H)   in: tanh(c') saved by the forward
    dgates  (B, 4H)  out: ∂L/∂z, the gradient of the pre-activations
    dc_prev (B, H)   out: ∂L/∂c_prev = dc ⊙ f (written last: may be the same buffer as dc)
    scratch (B, 4H)  workspace
    """
    H = dh.shape[-1]
    dc_gain, dc_total = scratch[:, :H], scratch[:, H:2 * H]
    backward_factors(gates, c_prev, tanh_c, dgates, dc_gain)   # factors written into dgates
    backward_step(dh, dc, dgates, dc_gain, gates[:, H:2 * H], dgates, dc_total, dc_prev)
