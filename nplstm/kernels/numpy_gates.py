"""The elementwise math of one LSTM step on NumPy: the fast layer's gate equations, once.

The cell (``functional/cell.py``), the sequence driver (``functional/sequence.py``) and the
JVPs (``functional/jvp.py``) call these functions; they differ only in where the matrix
products happen.  Every function writes into buffers the caller owns (``out``), so a time
loop allocates nothing.  The same equations, written for people, are
``functional/reference.py`` (lines named below); the CuPy kernels (``cupy_gates.py``) are
these lines in CUDA.

    activate_gates    reference.py:52–55  i, f, o = σ(z_i), σ(z_f), σ(z_o);  g = tanh(z_g)
    gates_forward     reference.py:51–58  that, and c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c')
    gate_derivatives  reference.py:79–82  da/dz from the outputs a: σ' = a(1 − a), 1 − a²
    backward_factors  reference.py:72–82  the parts of the backward that need no dh, dc
    backward_step     reference.py:72–83  dc' = dc + dh ⊙ o ⊙ (1 − tanh² c'); dz; dc' ⊙ f

Shapes: B batch, H hidden size; ``gates`` (B, 4H) stacked [i | f | g | o] as torch stores
them.  σ is computed as σ(z) = ½ tanh(z/2) + ½: exact algebra, no overflow for any z (so no
floating-point warnings to silence), and the dtype is kept.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .layout import split_gates

__all__ = ["sigmoid_derivative", "tanh_derivative", "activate_gates", "gate_derivatives",
           "gates_forward", "backward_factors", "backward_step"]


_ROW_BLOCK = 64       # rows of the stacked constants; larger batches go in blocks of 64 rows


@lru_cache(maxsize=64)
def _activation_rows(H: int, dtype: np.dtype):
    """The rows s = [½ ½ 1 ½] and b = [½ ½ 0 ½] (blocks i, f, g, o), each repeated
    ``_ROW_BLOCK`` times as a (64, 4H) array, read-only (at most 4 MiB at H = 1024, float64):
    NumPy multiplies two arrays of one shape in place 2–2.6× faster than it broadcasts a row
    (docs/fast_path.md §2).
    """
    def rows(sigmoid_value, tanh_value):
        r = np.full((_ROW_BLOCK, 4 * H), sigmoid_value, dtype=dtype)
        r[:, 2 * H:3 * H] = tanh_value
        r.setflags(write=False)
        return r

    return rows(0.5, 1.0), rows(0.5, 0.0)


def activate_gates(gates) -> None:
    """i, f, o = σ(z), g = tanh(z), in place on the pre-activations ``gates`` (B, 4H).

    With s = [½ ½ 1 ½] and b = [½ ½ 0 ½] (blocks i, f, g, o), the row s ⊙ tanh(s ⊙ z) + b
    is ½ tanh(z/2) + ½ = σ(z) on i, f, o and tanh(z) on g: one tanh over the whole row
    (four NumPy calls for the four gates: at B = 1 each call costs as much as its math).
    """
    n = gates.shape[0]
    if n > _ROW_BLOCK:                                      # in blocks of 64 rows
        for start in range(0, n, _ROW_BLOCK):
            activate_gates(gates[start:start + _ROW_BLOCK])
        return
    s_rows, b_rows = _activation_rows(gates.shape[-1] // 4, gates.dtype)  # (64, 4H) each
    s, b = s_rows[:n], b_rows[:n]                           # (B, 4H) each
    np.multiply(gates, s, out=gates)                        # [z/2 z/2 z z/2]
    np.tanh(gates, out=gates)
    np.multiply(gates, s, out=gates)                        # [t/2 t/2 t t/2]
    np.add(gates, b, out=gates)                             # [σ σ tanh σ]: σ = ½ tanh(z/2) + ½


def sigmoid_derivative(s, out) -> None:
    """σ'(z) = s(1 − s) from the output s = σ(z)."""
    np.subtract(s.dtype.type(1), s, out=out)                # 1 − s
    np.multiply(out, s, out=out)                            # s(1 − s)


def tanh_derivative(t, out) -> None:
    """tanh'(z) = 1 − t² from the output t = tanh(z)."""
    np.multiply(t, t, out=out)                              # t²
    np.subtract(t.dtype.type(1), out, out=out)              # 1 − t²


def gate_derivatives(gates, out) -> None:
    """da/dz of each activation a = [i | f | g | o] (..., 4H), from the activations:
    σ' = a(1 − a) on i, f, o and tanh' = 1 − g² on g, into ``out`` (..., 4H)."""
    H = gates.shape[-1] // 4
    sigmoid_derivative(gates, out)                          # on the whole row: i, f, o right
    tanh_derivative(gates[..., 2 * H:3 * H], out[..., 2 * H:3 * H])   # g's block replaced


def gates_forward(gates, c_prev, c, tanh_c, h) -> None:
    """Activate the gates in place and advance the cell state: one step's elementwise math.

    gates  (B, 4H)  in: pre-activations z; out: activations [i | f | g | o]
    c_prev (B, H)   in: previous cell state (may be the same buffer as ``c``)
    c      (B, H)   out: c' = f ⊙ c_prev + i ⊙ g
    tanh_c (B, H)   out: tanh(c')
    h      (B, H)   out: h' = o ⊙ tanh(c')   (before any projection)
    """
    activate_gates(gates)                                   # [i | f | g | o]      (B, 4H)
    i, f, g, o = split_gates(gates)
    np.multiply(f, c_prev, out=c)                           # c' = f ⊙ c_prev         (B, H)
    np.multiply(i, g, out=tanh_c)                           #      i ⊙ g (tanh_c as scratch)
    np.add(c, tanh_c, out=c)                                # c' = f ⊙ c_prev + i ⊙ g  (B, H)
    np.tanh(c, out=tanh_c)                                  # tanh(c')                (B, H)
    np.multiply(o, tanh_c, out=h)                           # h' = o ⊙ tanh(c')        (B, H)


def backward_factors(gates, c_prev, tanh_c, factors, dc_gain) -> None:
    """The parts of the step backward that do not depend on the incoming gradients.

    Any number of leading axes: the sequence driver computes them for a chunk of time steps
    at once, (S, B, ·), so that its serial loop keeps only the products with dh and dc
    (``backward_step``); the cell, for its one step.

    gates   (..., 4H)  in: the activations [i | f | g | o] saved by the forward
    c_prev  (..., H)   in: the previous cell states
    tanh_c  (..., H)   in: tanh(c') saved by the forward
    factors (..., 4H)  out: [g σ'(i) | c_prev σ'(f) | i tanh'(g) | tanh(c') σ'(o)], so that
                       dz = [dc' dc' dc' dh] ⊙ factors  (dc' the total ∂L/∂c')
    dc_gain (..., H)   out: o ⊙ (1 − tanh²(c')), so that dc' = dc + dh ⊙ dc_gain
    """
    i, f, g, o = split_gates(gates)
    fi, ff, fg, fo = split_gates(factors)
    gate_derivatives(gates, factors)                        # da/dz              (..., 4H)
    np.multiply(fi, g, out=fi)                # c' = f ⊙ c_prev + i ⊙ g ⇒ ∂c'/∂z_i = g σ'(i)
    np.multiply(ff, c_prev, out=ff)           #                         ∂c'/∂z_f = c_prev σ'(f)
    np.multiply(fg, i, out=fg)                #                         ∂c'/∂z_g = i tanh'(g)
    np.multiply(fo, tanh_c, out=fo)           # h' = o ⊙ tanh c' ⇒     ∂h'/∂z_o = tanh c' σ'(o)
    tanh_derivative(tanh_c, dc_gain)                        # 1 − tanh²(c')       (..., H)
    np.multiply(dc_gain, o, out=dc_gain)      # h' = o ⊙ tanh c' ⇒ ∂h'/∂c' = o (1 − tanh² c')


def backward_step(dh, dc, factors, dc_gain, f, dgates, dc_total, dc_prev) -> None:
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
