"""The elementwise math of one LSTM step on CuPy: ``numpy_gates.py``'s lines, fused in CUDA
(reference.py:51–58 forward, 72–83 backward: the table in ``numpy_gates.py``).

Same functions, arguments, buffers and in-place conventions as ``numpy_gates.py``, so the
cell, the sequence driver and the JVPs call either without knowing which.  σ, tanh and their
derivatives through the outputs are defined once, as device functions (``_ACTIVATIONS``),
with the NumPy version's formulas: σ(z) = ½ tanh(z/2) + ½, σ' = s(1 − s), tanh' = 1 − t².

Each thread of the fused kernels owns one (b, j) element of the (B, H) state and reads or
writes the four gate columns j, H + j, 2H + j, 3H + j of row b of the C-contiguous
(…, 4H) gate buffers.  The kernels compile lazily on first use; importing this module
needs no cupy.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["sigmoid_derivative", "tanh_derivative", "activate_gates", "gate_derivatives",
           "gates_forward", "backward_factors", "backward_step"]

_ACTIVATIONS = r"""
template <typename T> __device__ T sigmoid(T z) {           // sigma(z) = 1/2 tanh(z/2) + 1/2
    return (T)0.5 * tanh((T)0.5 * z) + (T)0.5;
}
template <typename T> __device__ T sigmoid_derivative(T s) { return s * ((T)1 - s); }
template <typename T> __device__ T tanh_derivative(T t) { return (T)1 - t * t; }
"""

# element i of a (rows, H) step: the offset of its row in the (rows, 4H) gate buffers
_ROW = r"""
    const ptrdiff_t row = (ptrdiff_t)(i / H) * 4 * H;
    const ptrdiff_t j = i % H;
"""

_ACTIVATE_SOURCE = _ROW + r"""
    const T ig = sigmoid(gates[row + j]);                    // i = sigma(z_i)
    const T fg = sigmoid(gates[row + H + j]);                // f = sigma(z_f)
    const T gg = tanh(gates[row + 2 * H + j]);               // g = tanh(z_g)
    const T og = sigmoid(gates[row + 3 * H + j]);            // o = sigma(z_o)
    gates[row + j] = ig;
    gates[row + H + j] = fg;
    gates[row + 2 * H + j] = gg;
    gates[row + 3 * H + j] = og;
"""

_FORWARD_SOURCE = _ACTIVATE_SOURCE + r"""    const T c_new = fg * c_prev + ig * gg;                   // c' = f * c_prev + i * g
    const T tc = tanh(c_new);
    c = c_new;
    tanh_c = tc;
    h = og * tc;                                             // h' = o * tanh(c')
"""

_DERIVATIVES_SOURCE = _ROW + r"""
    out[row + j] = sigmoid_derivative(gates[row + j]);
    out[row + H + j] = sigmoid_derivative(gates[row + H + j]);
    out[row + 2 * H + j] = tanh_derivative(gates[row + 2 * H + j]);
    out[row + 3 * H + j] = sigmoid_derivative(gates[row + 3 * H + j]);
"""

_FACTORS_SOURCE = _ROW + r"""
    const T ig = gates[row + j], fg = gates[row + H + j];
    const T gg = gates[row + 2 * H + j], og = gates[row + 3 * H + j];
    factors[row + j] = gg * sigmoid_derivative(ig);                 // dc'/dz_i = g sigma'(i)
    factors[row + H + j] = c_prev * sigmoid_derivative(fg);         // dc'/dz_f = c_prev sigma'(f)
    factors[row + 2 * H + j] = ig * tanh_derivative(gg);            // dc'/dz_g = i tanh'(g)
    factors[row + 3 * H + j] = tanh_c * sigmoid_derivative(og);     // dh'/dz_o = tanh c' sigma'(o)
    dc_gain = og * tanh_derivative(tanh_c);                         // dh'/dc' = o (1 - tanh^2 c')
"""

_STEP_SOURCE = _ROW + r"""
    const T dh_ = dh;
    const T fi = factors[row + j], ff = factors[row + H + j];
    const T fg = factors[row + 2 * H + j], fo = factors[row + 3 * H + j];
    const T dct = dc + dh_ * dc_gain;               // total dL/dc' = dc + dh o (1 - tanh^2 c')
    dgates[row + j] = dct * fi;
    dgates[row + H + j] = dct * ff;
    dgates[row + 2 * H + j] = dct * fg;
    dgates[row + 3 * H + j] = dh_ * fo;
    dc_total = dct;
    dc_prev = dct * f;                              // c' = f * c_prev + ... => dc_prev = dc' * f
"""


@lru_cache(maxsize=None)
def _kernels():
    import cupy  # noqa: PLC0415

    def kernel(inputs, outputs, body, name):
        return cupy.ElementwiseKernel(inputs, outputs, body, name, preamble=_ACTIVATIONS)

    return {
        "activate": kernel("int32 H", "raw T gates", _ACTIVATE_SOURCE, "nplstm_activate_gates"),
        "forward": kernel("T c_prev, int32 H", "raw T gates, T c, T tanh_c, T h",
                          _FORWARD_SOURCE, "nplstm_gates_forward"),
        "derivatives": kernel("raw T gates, int32 H", "raw T out", _DERIVATIVES_SOURCE,
                              "nplstm_gate_derivatives"),
        "factors": kernel("raw T gates, T c_prev, T tanh_c, int32 H", "raw T factors, T dc_gain",
                          _FACTORS_SOURCE, "nplstm_backward_factors"),
        "step": kernel("T dh, T dc, raw T factors, T dc_gain, T f, int32 H",
                       "raw T dgates, T dc_total, T dc_prev", _STEP_SOURCE,
                       "nplstm_backward_step"),
        "dsigmoid": kernel("T s", "T out", "out = sigmoid_derivative(s);",
                           "nplstm_sigmoid_derivative"),
        "dtanh": kernel("T t", "T out", "out = tanh_derivative(t);", "nplstm_tanh_derivative"),
    }


def _quarter(gates):
    """One thread per (row, unit): the (…, H) view whose size is the number of threads."""
    return gates[..., : gates.shape[-1] // 4]


def sigmoid_derivative(s, out) -> None:
    """σ'(z) = s(1 − s) from the output s = σ(z)."""
    _kernels()["dsigmoid"](s, out)


def tanh_derivative(t, out) -> None:
    """tanh'(z) = 1 − t² from the output t = tanh(z)."""
    _kernels()["dtanh"](t, out)


def activate_gates(gates) -> None:
    """See ``numpy_gates.activate_gates``; ``gates`` C-contiguous (…, 4H)."""
    _kernels()["activate"](gates.shape[-1] // 4, gates, size=_quarter(gates).size)


def gate_derivatives(gates, out) -> None:
    """See ``numpy_gates.gate_derivatives``; both C-contiguous (…, 4H)."""
    _kernels()["derivatives"](gates, gates.shape[-1] // 4, out, size=_quarter(gates).size)


def gates_forward(gates, c_prev, c, tanh_c, h) -> None:
    """See ``numpy_gates.gates_forward``; ``gates`` C-contiguous (B, 4H)."""
    _kernels()["forward"](c_prev, c.shape[-1], gates, c, tanh_c, h)


def backward_factors(gates, c_prev, tanh_c, factors, dc_gain) -> None:
    """See ``numpy_gates.backward_factors``; ``gates`` and ``factors`` C-contiguous (…, 4H)."""
    _kernels()["factors"](gates, c_prev, tanh_c, c_prev.shape[-1], factors, dc_gain)


def backward_step(dh, dc, factors, dc_gain, f, dgates, dc_total, dc_prev) -> None:
    """See ``numpy_gates.backward_step``; ``factors`` and ``dgates`` C-contiguous (B, 4H)
    (they may be the same buffer: each thread reads its four factors before writing)."""
    _kernels()["step"](dh, dc, factors, dc_gain, f, dh.shape[-1], dgates, dc_total, dc_prev)
