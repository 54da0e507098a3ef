"""The elementwise math of one LSTM step on NumPy: the single source of the gate equations.

Both the cell (``functional/cell.py``) and the sequence driver (``functional/sequence.py``)
call these two functions; they differ only in where the matrix products happen.  Every
operation writes into a buffer the caller owns (``out=``), so a time loop allocates nothing.

Notation (shapes): B batch, H hidden size; ``gates`` is (B, 4H) stacked as [i | f | g | o].
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .layout import split_gates

__all__ = ["gates_forward", "gates_backward"]


@lru_cache(maxsize=64)
def _row_constants(H: int, dtype: np.dtype):
    """Per-column constants of a (4H,) gate row, blocks [i | f | g | o].

    scale = [½ ½ 1 ½], shift = [½ ½ 0 ½]:  a = scale·tanh(scale·z) + shift is σ(z) on the
        i, f, o blocks (σ(z) = ½·tanh(z/2) + ½) and tanh(z) on the g block.
    k1 = [1 1 0 1], k0 = [0 0 1 0]:  (k1 − a)·a + k0 is the derivative da/dz expressed
        through the output a: σ' = a(1 − a) on i, f, o and tanh' = 1 − a² on g.
    """
    def row(sig, tan):
        r = np.full(4 * H, sig, dtype=dtype)
        r[2 * H:3 * H] = tan
        r.setflags(write=False)
        return r

    return row(0.5, 1.0), row(0.5, 0.0), row(1.0, 0.0), row(0.0, 1.0)


def gates_forward(gates, c_prev, c, tanh_c, h):
    """Activate the gates in place and advance the cell state: one step's elementwise math.

    gates  (B, 4H)  in: pre-activations z;  out: activations [i | f | g | o]
    c_prev (B, H)   in: previous cell state (may be the same buffer as ``c``)
    c      (B, H)   out: c' = f ⊙ c_prev + i ⊙ g
    tanh_c (B, H)   out: tanh(c')
    h      (B, H)   out: h' = o ⊙ tanh(c')   (before any projection)
    """
    scale, shift, _, _ = _row_constants(gates.shape[-1] // 4, gates.dtype)
    # i, f, o = σ(z) = ½·tanh(½z) + ½ and g = tanh(z): one tanh over the whole row, which
    # never overflows (σ(±1e4) is exactly 0 or 1, as torch gives) and keeps the dtype.
    np.multiply(gates, scale, out=gates)                    # (B, 4H)
    np.tanh(gates, out=gates)                               # (B, 4H)
    np.multiply(gates, scale, out=gates)                    # (B, 4H)
    np.add(gates, shift, out=gates)                         # (B, 4H)  [i | f | g | o]
    i, f, g, o = split_gates(gates)
    np.multiply(f, c_prev, out=c)                           # c' = f ⊙ c_prev         (B, H)
    np.multiply(i, g, out=tanh_c)                           #      i ⊙ g (tanh_c as scratch)
    np.add(c, tanh_c, out=c)                                # c' = f ⊙ c_prev + i ⊙ g  (B, H)
    np.tanh(c, out=tanh_c)                                  # tanh(c')                (B, H)
    np.multiply(o, tanh_c, out=h)                           # h' = o ⊙ tanh(c')        (B, H)


def gates_backward(dh, dc, gates, c_prev, tanh_c, dgates, dc_prev, scratch):
    """Backward of ``gates_forward``: from ∂L/∂h', ∂L/∂c' to ∂L/∂z and ∂L/∂c_prev.

    dh      (B, H)   in: ∂L/∂h' (all of it: from the output and from the next step)
    dc      (B, H)   in: ∂L/∂c' from outside this step (the next step, or dc_n); used as
                     workspace (holds the total ∂L/∂c' after the NumPy version; callers
                     must not rely on that and read only dc_prev, which may alias dc)
    gates   (B, 4H)  in: the activations [i | f | g | o] saved by the forward
    c_prev  (B, H)   in: the previous cell state
    tanh_c  (B, H)   in: tanh(c') saved by the forward
    dgates  (B, 4H)  out: ∂L/∂z, the gradient of the pre-activations
    dc_prev (B, H)   out: ∂L/∂c_prev = dc ⊙ f (written last: may be the same buffer as dc)
    scratch (B, 4H)  workspace
    """
    _, _, k1, k0 = _row_constants(gates.shape[-1] // 4, gates.dtype)
    i, f, g, o = split_gates(gates)
    di, df, dg, do = split_gates(dgates)
    tmp = scratch[:, :dc.shape[-1]]                         # (B, H) workspace
    # h' = o ⊙ tanh(c')  ⇒  dc += dh ⊙ o ⊙ (1 − tanh²(c'))
    np.multiply(tanh_c, tanh_c, out=tmp)                    # tanh²(c')               (B, H)
    np.subtract(1, tmp, out=tmp)                            # 1 − tanh²(c')           (B, H)
    np.multiply(tmp, o, out=tmp)                            # o ⊙ (1 − tanh²(c'))
    np.multiply(tmp, dh, out=tmp)                           # dh ⊙ o ⊙ (1 − tanh²(c'))
    np.add(dc, tmp, out=dc)                                 # total ∂L/∂c'            (B, H)
    # gradients w.r.t. the gate outputs a = [i | f | g | o]
    np.multiply(dh, tanh_c, out=do)                         # h' = o ⊙ tanh c'  ⇒ do = dh ⊙ tanh c'
    np.multiply(dc, g, out=di)                              # c' = f ⊙ c_prev + i ⊙ g ⇒ di = dc ⊙ g
    np.multiply(dc, c_prev, out=df)                         #                      df = dc ⊙ c_prev
    np.multiply(dc, i, out=dg)                              #                      dg = dc ⊙ i
    # through the activations, da/dz from the outputs: σ' = a(1 − a), tanh' = 1 − a²,
    # as one row (k1 − a) ⊙ a + k0 (see _row_constants)
    np.subtract(k1, gates, out=scratch)                     # (B, 4H)
    np.multiply(scratch, gates, out=scratch)                # (B, 4H)
    np.add(scratch, k0, out=scratch)                        # da/dz                   (B, 4H)
    np.multiply(dgates, scratch, out=dgates)                # dz = da ⊙ da/dz         (B, 4H)
    np.multiply(dc, f, out=dc_prev)                         # c' = f ⊙ c_prev ⇒ dc_prev = dc ⊙ f
