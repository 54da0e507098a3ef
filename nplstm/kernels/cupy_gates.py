"""The elementwise math of one LSTM step on CuPy: one fused ElementwiseKernel per function.

Line for line the equations of ``numpy_gates.py`` (same arguments, same buffers, same
in-place conventions), so the sequence driver calls either without knowing which.  Each
kernel thread owns one (b, j) element of the (B, H) state and reads/writes the four gate
columns j, H + j, 2H + j, 3H + j of row b of the contiguous (B, 4H) ``gates`` buffer.
The kernels are compiled lazily on first use; importing this module needs no cupy.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

__all__ = ["gates_forward", "gates_backward", "backward_factors", "backward_step",
           "quiet_exp"]

_FORWARD_SOURCE = r"""
    const ptrdiff_t row = (ptrdiff_t)(i / H) * 4 * H;
    const ptrdiff_t j = i % H;
    const T one = (T)1;
    // p = s z with s = [-1 -1 -2 -1] (activation_prescale): ps = 1 when the driver already
    // applied it (prescaled), else -1 on i, f, o and -2 on g (ps_g)
    const T ig = one / (one + exp(gates[row + j] * ps));           // i = sigma(z) = 1/(1 + e^-z)
    const T fg = one / (one + exp(gates[row + H + j] * ps));
    const T gg = tanh(gates[row + 2 * H + j] * ps_g * (T)-0.5);     // g = tanh(z), z = -p/2
    const T og = one / (one + exp(gates[row + 3 * H + j] * ps));
    gates[row + j] = ig;
    gates[row + H + j] = fg;
    gates[row + 2 * H + j] = gg;
    gates[row + 3 * H + j] = og;
    const T c_new = fg * c_prev + ig * gg;      // c' = f * c_prev + i * g
    const T tc = tanh(c_new);
    c = c_new;
    tanh_c = tc;
    h = og * tc;                                // h' = o * tanh(c')
"""

# Element i of a (rows, H) step: the row's offset in the (rows, 4H) gates, the unit j, the
# four gate activations of that unit and tanh(c'), shared by the backward kernels below.
_LOAD_GATES = r"""
    const ptrdiff_t row = (ptrdiff_t)(i / H) * 4 * H;
    const ptrdiff_t j = i % H;
    const T ig = gates[row + j], fg = gates[row + H + j];
    const T gg = gates[row + 2 * H + j], og = gates[row + 3 * H + j];
    const T tc = tanh_c;
"""

_BACKWARD_SOURCE = _LOAD_GATES + r"""
    const T dh_ = dh;
    // h' = o * tanh(c')  =>  dc += dh * o * (1 - tanh^2 c')
    const T dc_total = dc + dh_ * og * ((T)1 - tc * tc);
    // through the gate outputs and their activations (derivatives from the outputs)
    dgates[row + j] = dc_total * gg * ig * ((T)1 - ig);              // di * sigma'
    dgates[row + H + j] = dc_total * c_prev * fg * ((T)1 - fg);      // df * sigma'
    dgates[row + 2 * H + j] = dc_total * ig * ((T)1 - gg * gg);      // dg * tanh'
    dgates[row + 3 * H + j] = dh_ * tc * og * ((T)1 - og);           // do * sigma'
    dc_prev = dc_total * fg;                                         // c' = f * c_prev + ...
"""

_FACTORS_SOURCE = _LOAD_GATES + r"""
    factors[row + j] = gg * ig * ((T)1 - ig);                        // g * sigma'(i)
    factors[row + H + j] = c_prev * fg * ((T)1 - fg);                // c_prev * sigma'(f)
    factors[row + 2 * H + j] = ig * ((T)1 - gg * gg);                // i * tanh'(g)
    factors[row + 3 * H + j] = tc * og * ((T)1 - og);                // tanh(c') * sigma'(o)
    dc_gain = og * ((T)1 - tc * tc);                                 // o * (1 - tanh^2 c')
"""

_STEP_SOURCE = r"""
    const ptrdiff_t row = (ptrdiff_t)(i / H) * 4 * H;
    const ptrdiff_t j = i % H;
    const T dh_ = dh;
    const T fi = factors[row + j], ff = factors[row + H + j];
    const T fg = factors[row + 2 * H + j], fo = factors[row + 3 * H + j];
    const T dct = dc + dh_ * dc_gain;        // total dL/dc' = dc + dh * o * (1 - tanh^2 c')
    dgates[row + j] = dct * fi;
    dgates[row + H + j] = dct * ff;
    dgates[row + 2 * H + j] = dct * fg;
    dgates[row + 3 * H + j] = dh_ * fo;
    dc_total = dct;
    dc_prev = dct * f;                       // c' = f * c_prev + ...
"""


@lru_cache(maxsize=None)
def _kernels():
    import cupy  # noqa: PLC0415

    forward = cupy.ElementwiseKernel(
        "T c_prev, int32 H, T ps, T ps_g", "raw T gates, T c, T tanh_c, T h",
        _FORWARD_SOURCE, "nplstm_gates_forward")
    backward = cupy.ElementwiseKernel(
        "raw T gates, T dh, T dc, T c_prev, T tanh_c, int32 H", "raw T dgates, T dc_prev",
        _BACKWARD_SOURCE, "nplstm_gates_backward")
    factors = cupy.ElementwiseKernel(
        "raw T gates, T c_prev, T tanh_c, int32 H", "raw T factors, T dc_gain",
        _FACTORS_SOURCE, "nplstm_backward_factors")
    step = cupy.ElementwiseKernel(
        "T dh, T dc, raw T factors, T dc_gain, T f, int32 H",
        "raw T dgates, T dc_total, T dc_prev", _STEP_SOURCE, "nplstm_backward_step")
    return forward, backward, factors, step


def quiet_exp():
    """See ``numpy_gates.quiet_exp``: CUDA's exp overflows to inf without a warning."""
    return contextlib.nullcontext()


def gates_forward(gates, c_prev, c, tanh_c, h, prescaled=False):
    """See ``numpy_gates.gates_forward``; ``gates`` must be C-contiguous (B, 4H).

    Same activations, from the same prescaled row p; g is computed as tanh(−p/2) (exact
    halving) rather than 2/(1 + e^p) − 1, as torch's CUDA kernel takes tanh of z_g."""
    forward = _kernels()[0]
    scalar = gates.dtype.type
    ps, ps_g = (scalar(1.0), scalar(1.0)) if prescaled else (scalar(-1.0), scalar(-2.0))
    forward(c_prev, c.shape[-1], ps, ps_g, gates, c, tanh_c, h)


def gates_backward(dh, dc, gates, c_prev, tanh_c, dgates, dc_prev, scratch):
    """See ``numpy_gates.gates_backward``; ``scratch`` is unused (the kernel is fused).

    Unlike the NumPy version, ``dc`` is not overwritten with the total gradient; callers use
    only ``dc_prev`` (which may alias ``dc``) and ``dgates``.
    """
    backward = _kernels()[1]
    backward(gates, dh, dc, c_prev, tanh_c, dc.shape[-1], dgates, dc_prev)


def backward_factors(gates, c_prev, tanh_c, factors, dc_gain):
    """See ``numpy_gates.backward_factors``; ``gates`` and ``factors`` C-contiguous (..., 4H)."""
    _kernels()[2](gates, c_prev, tanh_c, c_prev.shape[-1], factors, dc_gain)


def backward_step(dh, dc, factors, dc_gain, f, dgates, dc_total, dc_prev):
    """See ``numpy_gates.backward_step``; ``factors`` and ``dgates`` C-contiguous (B, 4H)
    (they may be the same buffer: each thread reads its four factors before writing)."""
    _kernels()[3](dh, dc, factors, dc_gain, f, dh.shape[-1], dgates, dc_total, dc_prev)
