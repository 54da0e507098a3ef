"""One LSTM layer in one direction over a whole sequence: forward and backward through time.

The fast twin of ``lstm_forward`` (reference.py:135–172) and ``lstm_backward``
(reference.py:175–227), the loops of the reference step, with the same signatures and
results; tests/test_reference.py holds the two equal.  ``SequenceCache`` is ``LoopCache``'s
twin (the steps' ``StepCache`` fields stacked over time).  The same step as ``cell.py`` (and
the same gate kernels), arranged for speed:

    forward   Z = X W_ihᵀ + (b_ih + b_hh)            one GEMM for all T steps   (T·B, 4H)
              for t = 0 … T−1:
                  z_t += h_{t−1} W_hhᵀ                one recurrent GEMM          (B, 4H)
                  [i f g o], c_t, tanh c_t, r_t = gates_forward(z_t, c_{t−1})
                  h_t = r_t  (or h_t = r_t W_hrᵀ with a projection)
    backward  for t = T−1 … 0:
                  dh_t = doutput_t + dz_{t+1} W_hh    (from the output and from step t+1)
                  dz_t, dc_{t−1} = backward_step(dh_t (or dh_t W_hr), dc_t, factors_t)
              where factors_t (σ', tanh' and their products with the saved activations) do
              not depend on the recurrence: backward_factors computes them for a chunk of
              steps at once, so the serial loop is a few ufuncs and one GEMM per step
              dW_ih = dZᵀ X,  dX = dZ W_ih,  db = Σ dZ,  dW_hh = Σ_t dz_tᵀ h_{t−1}
                                                      one GEMM (or sum) each after the loop

Shapes: T time, B batch, I input size, H hidden size, P projection size (P = H without a
projection).  Unbatched input (T, I) is accepted, with state (P,), (H,).  Variable lengths
and the reverse direction are a re-indexing of the batch (``packing.py``): the loops below
always walk forward over a prefix of the rows, ``batch_sizes[t]`` of them at step t, and
allocate nothing: every buffer is made once per call, the large ones from the workspace
(memory reused between calls, ``nplstm/workspace.py``).  Derivation: docs/derivation.md.
"""

from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from .. import workspace
from ..backend import Array, asnumpy, get_array_module
from ..checks import (check_arrays, check_cache, check_flags, check_int, check_lengths,
                     check_record, drop_batch_axis)
from ..kernels import kernels_for
from .packing import SequencePlan, make_plan
from .grads import SequenceGrads
from .inputs import check_sequence_inputs, check_sequence_upstream, check_weights

__all__ = ["SequenceCache", "SequenceGrads", "lstm_forward", "lstm_backward", "join_directions",
           "cache_bytes_per_step"]

# Without a cache (inference), the input projection is computed in chunks of time steps of
# at most this many elements, so memory stays that of a few steps whatever T is, but of at
# least this many rows (T·B): a GEMM of 256 rows ran 20% slower than one of 1024 (N = 2).
_INFERENCE_CHUNK_ELEMENTS = 1 << 20
_INFERENCE_CHUNK_MIN_ROWS = 1024
# The backward computes the factors that do not depend on the recurrence (σ', tanh' and
# their products) for chunks of time steps of at most this many (B, 5H) elements.
_BACKWARD_CHUNK_ELEMENTS = 1 << 17
# The per-step GEMM h W_hhᵀ reads W_hhᵀ faster from a contiguous copy than through the
# transposed view (OpenBLAS packs it each step: 5–30% of the GEMM), but NumPy's transposed
# copy is slow (2–6 ns per element at H ≥ 512: power-of-two strides).  Measured break-even:
# 13–70 steps by size (docs/benchmarks.md), so sequences shorter than this use the view.
_TRANSPOSE_MIN_STEPS = 40


class SequenceCache(NamedTuple):
    """What ``lstm_backward`` reads, in work order (see ``packing.py``); nothing else is kept.

    Bytes per time step: B·(4H + 2H + P [+ H with a projection]) · itemsize, plus the input
    x (B·I · itemsize), which is the caller's own array unless lengths or reverse re-index it.
    """

    x: Array             # (T, B, I)   the input
    h0: Array            # (B, P)      initial hidden state
    c0: Array            # (B, H)      initial cell state
    gates: Array         # (T, B, 4H)  post-activation gates [i | f | g | o]
    c: Array             # (T, B, H)   cell states c_t
    tanh_c: Array        # (T, B, H)   tanh(c_t)
    hidden: Optional[Array]  # (T, B, H)   r_t = o ⊙ tanh c_t before the projection; None without
    output: Array        # (T, B, P)   h_t (zero at padded steps), the h_{t−1} of step t
    weight_ih: Array     # (4H, I)     references to the weights, not copies
    weight_hh: Array     # (4H, P)
    weight_hr: Optional[Array]  # (P, H) or None
    has_bias: bool
    plan: SequencePlan
    unbatched: bool


def cache_bytes_per_step(B: int, I: int, H: int, P: int, itemsize: int,
                         projection: bool) -> dict[str, int]:
    """Bytes the training cache holds per time step, by buffer (see ``SequenceCache``).

    B, I, H, P, itemsize: positive ints (``checks.check_int`` names the first that is not).
    """
    for name, n in (("B", B), ("I", I), ("H", H), ("P", P), ("itemsize", itemsize)):
        check_int(f"cache_bytes_per_step: {name}", n, minimum=1)
    sizes = {"gates": 4 * H, "c": H, "tanh_c": H, "output": P, "x": I}
    if projection:
        sizes["hidden"] = H
    return {name: B * n * itemsize for name, n in sizes.items()}


def lstm_forward(x: Array, state: Optional[tuple[Array, Array]], weight_ih: Array,
                 weight_hh: Array, bias_ih: Optional[Array] = None,
                 bias_hh: Optional[Array] = None, weight_hr: Optional[Array] = None, *,
                 lengths: Any = None, reverse: bool = False, keep_cache: bool = True
                 ) -> tuple[tuple[Array, tuple[Array, Array]], Optional[SequenceCache]]:
    """One layer, one direction: ``(output, (h_n, c_n)), cache = lstm_forward(x, state, ...)``.

    x           (T, B, I) or unbatched (T, I); T, B ≥ 1 (empty axes are refused)
    state       (h0, c0) of shapes (B, P), (B, H) (unbatched: (P,), (H,)), or None for zeros
    weight_ih   (4H, I);  weight_hh (4H, P);  bias_ih, bias_hh (4H,) or None
    weight_hr   (P, H) projection or None
    lengths     (B,) integers in [1, T], or None: sequence b is x[:lengths[b], b]; its outputs
                beyond are 0 and h_n, c_n are those of its own last step (torch's packing)
    reverse     walk each sequence from its own last step back to step 0
    keep_cache  False for inference: no cache is kept (returns None) and memory stays that
                of a few steps
    returns     output (T, B, P), h_n (B, P), c_n (B, H) (unbatched: no B axis) and the
                ``SequenceCache`` (or None).  Do not modify the returned arrays' inputs in
                place before the backward: the cache refers to them.
    """
    xp, I, H, P = check_weights(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)
    x, h0, c0, unbatched = check_sequence_inputs(x, state, weight_ih, I, H, P, xp)
    T, B = x.shape[:2]
    check_flags(reverse=reverse, keep_cache=keep_cache)
    lengths = None if lengths is None else check_lengths(lengths, T, B)
    plan = make_plan(T, B, lengths, reverse, xp)
    kernels = kernels_for(xp)

    dtype = x.dtype
    x_w = xp.ascontiguousarray(plan.to_work(x, zero_padding=True))   # (T, B, I)
    h0_w, c0_w = plan.batch_to_work(h0), plan.batch_to_work(c0)      # (B, P), (B, H)
    empty, zeros = workspace.empty, workspace.zeros
    weight_hh_t = _recurrent_weight(weight_hh, T, xp)                        # (P, 4H)
    weight_hr_t = None if weight_hr is None else xp.ascontiguousarray(weight_hr.T)  # (H, P)
    bias = None if bias_ih is None else bias_ih + bias_hh                    # (4H,)
    alloc = zeros if plan.padded else empty           # padded positions must read as zeros

    output = alloc((T, B, P), dtype, xp)
    if keep_cache:
        chunk = T
        gates = empty((T, B, 4 * H), dtype, xp)
        # zeros at padded positions too: the backward's factors are computed over whole
        # chunks of steps (finished rows included) and must stay finite there
        c_all = alloc((T, B, H), dtype, xp)
        tanh_all = alloc((T, B, H), dtype, xp)
        hidden = None if weight_hr is None else alloc((T, B, H), dtype, xp)
    else:
        chunk = max(1, min(T, max(_INFERENCE_CHUNK_ELEMENTS // max(1, B * 4 * H),
                                  -(-_INFERENCE_CHUNK_MIN_ROWS // max(1, B)))))
        gates = empty((chunk, B, 4 * H), dtype, xp)
        c_state = c0_w.copy()                         # (B, H) updated in place, step by step
        tanh_buf = xp.empty((B, H), dtype=dtype)
        hidden_buf = None if weight_hr is None else xp.empty((B, H), dtype=dtype)
    recurrent = xp.empty((B, 4 * H), dtype=dtype)     # h_{t−1} W_hhᵀ

    for t0 in range(0, T, chunk):
        t1 = min(T, t0 + chunk)
        z_chunk = gates[:t1 - t0]
        # Z = X W_ihᵀ + (b_ih + b_hh) for all the chunk's steps in one GEMM
        xp.matmul(x_w[t0:t1].reshape(-1, I), weight_ih.T,
                  out=z_chunk.reshape(-1, 4 * H))                         # (T·B, 4H)
        if bias is not None:
            xp.add(z_chunk, bias, out=z_chunk)                            # (T, B, 4H)
        for t in range(t0, t1):
            n = plan.batch_sizes[t]                                       # rows still running
            z = z_chunk[t - t0, :n]                                       # (n, 4H)
            h_prev = output[t - 1, :n] if t else h0_w[:n]                 # (n, P)
            xp.dot(h_prev, weight_hh_t, out=recurrent[:n])                # h_{t−1} W_hhᵀ
            xp.add(z, recurrent[:n], out=z)                               # z_t   (n, 4H)
            if keep_cache:
                c_prev = c_all[t - 1, :n] if t else c0_w[:n]              # (n, H)
                c_t, tanh_t = c_all[t, :n], tanh_all[t, :n]
                r_t = output[t, :n] if hidden is None else hidden[t, :n]
            else:
                c_prev = c_t = c_state[:n]
                tanh_t = tanh_buf[:n]
                r_t = output[t, :n] if hidden_buf is None else hidden_buf[:n]
            # r_t = o ⊙ tanh c_t: reference.py:51–58 (the step's activations, c, tanh c, h)
            kernels.gates_forward(z, c_prev, c_t, tanh_t, r_t)
            if weight_hr_t is not None:
                xp.matmul(r_t, weight_hr_t, out=output[t, :n])            # h_t = r_t W_hrᵀ

    rows = xp.arange(B)
    last = xp.asarray(plan.last_step)
    h_n = plan.batch_from_work(output[last, rows])                        # (B, P)
    c_n = plan.batch_from_work(c_all[last, rows] if keep_cache else c_state)  # (B, H)
    result = plan.from_work(output)
    if keep_cache and result is output:
        result = empty(output.shape, dtype, xp)   # the cache keeps its own h_{t−1}: callers
        result[...] = output                      # may edit theirs
    cache = SequenceCache(x_w, h0_w, c0_w, gates, c_all, tanh_all, hidden, output, weight_ih,
                          weight_hh, weight_hr, bias is not None, plan,
                          unbatched) if keep_cache else None
    result = drop_batch_axis(unbatched, 1, result)                        # (T, P)
    h_n, c_n = drop_batch_axis(unbatched, 0, h_n, c_n)                   # (P,), (H,)
    return (result, (h_n, c_n)), cache


def lstm_backward(doutput: Optional[Array], dh_n: Optional[Array], dc_n: Optional[Array],
                  cache: SequenceCache, *,
                  record: Optional[dict[str, Any]] = None) -> SequenceGrads:
    """Backpropagation through time: gradients of one layer and direction.

    doutput  (T, B, P) (unbatched (T, P)): ∂L/∂output, or None for zeros; values at padded
             steps are ignored
    dh_n     (B, P), dc_n (B, H) (unbatched (P,), (H,)): ∂L/∂h_n, ∂L/∂c_n, or None for zeros
    record   (the one definition of the ``record`` diagnostic: ``reference.lstm_backward``,
             ``rnn_backward`` and the modules' ``backward`` link here)
             None (the default: nothing recorded, nothing computed), or a dict that receives
             the per-step gradient norms, host float64 arrays of shape (T,) indexed by the
             input's time steps (also for ``reverse``):
               record["dh"][t] = ‖∂L/∂h_t‖ over the batch, the total gradient reaching h_t
                                 (from the output and from step t+1)
               record["dc"][t] = ‖∂L/∂c_t‖ likewise, after adding the path through h_t
             (Frobenius norms over the valid rows: padded steps of short sequences add 0)
    returns  ``SequenceGrads``, each shaped like the forward input it belongs to
    """
    check_cache(cache, SequenceCache, "lstm_forward (with keep_cache=True)")
    check_record(record)
    (x_w, h0_w, c0_w, gates, c_all, tanh_all, hidden, output, weight_ih, weight_hh, weight_hr,
     has_bias, plan, unbatched) = cache
    T, B, I = x_w.shape
    H, P = c0_w.shape[1], h0_w.shape[1]
    xp = check_arrays({"x (from the cache)": x_w, "doutput": doutput, "dh_n": dh_n,
                       "dc_n": dc_n})
    dtype = x_w.dtype
    doutput, dh_n, dc_n = check_sequence_upstream(doutput, dh_n, dc_n, T, B, H, P, unbatched, dtype,
                                          xp)
    kernels = kernels_for(xp)
    dout_w = plan.to_work(doutput)                                   # (T, B, P)
    dh_carry = plan.batch_to_work(dh_n).copy()   # ∂L/∂h of each row's latest unprocessed step
    dc_carry = plan.batch_to_work(dc_n).copy()   # ∂L/∂c likewise                      (B, H)
    alloc = workspace.zeros if plan.padded else workspace.empty    # padded rows stay zero
    dgates = alloc((T, B, 4 * H), dtype, xp)                         # ∂L/∂z_t
    projection = weight_hr is not None
    dh_all: Any = alloc((T, B, P), dtype, xp) if projection else None   # kept for dW_hr
    dh_buf: Any = None if projection else xp.empty((B, P), dtype=dtype)
    dr_buf: Any = xp.empty((B, H), dtype=dtype) if projection else None
    dc_total = xp.empty((B, H), dtype=dtype)                         # total ∂L/∂c_t
    chunk = _backward_chunk(T, B, H)
    factors = xp.empty((chunk, B, 4 * H), dtype=dtype)
    dc_gain = xp.empty((chunk, B, H), dtype=dtype)
    norms = None if record is None else StepNorms(T, B, xp)

    for t0 in reversed(range(0, T, chunk)):
        t1 = min(T, t0 + chunk)
        # what does not depend on the recurrence, for the chunk's steps at once
        _chunk_factors(kernels, gates, c_all, c0_w, tanh_all, t0, t1, factors, dc_gain)
        for t in reversed(range(t0, t1)):
            n = plan.batch_sizes[t]
            dh = dh_all[t, :n] if projection else dh_buf[:n]             # (n, P)
            xp.add(dout_w[t, :n], dh_carry[:n], out=dh)   # ∂L/∂h_t = from output + from t+1
            if projection:
                xp.matmul(dh, weight_hr, out=dr_buf[:n])  # h_t = r_t W_hrᵀ ⇒ ∂L/∂r_t = dh_t W_hr
                dr = dr_buf[:n]                                           # (n, H)
            else:
                dr = dh
            # reference.py:72–83 (dc_total, dc_prev, dz), with _chunk_factors' parts
            kernels.backward_step(dr, dc_carry[:n], factors[t - t0, :n], dc_gain[t - t0, :n],
                                  gates[t, :n, H:2 * H], dgates[t, :n], dc_total[:n],
                                  dc_carry[:n])                           # dc_carry ← dc_{t−1}
            if norms is not None:
                norms.add(t, dh, dc_total[:n])
            # z_t = … + h_{t−1} W_hhᵀ ⇒ ∂L/∂h_{t−1} (recurrent part) = dz_t W_hh
            xp.dot(dgates[t, :n], weight_hh, out=dh_carry[:n])            # (n, P)

    dz = dgates.reshape(T * B, 4 * H)
    dx_w = xp.matmul(dz, weight_ih, out=workspace.empty((T * B, I), dtype, xp)
                     ).reshape(T, B, I)                      # Z = X W_ihᵀ ⇒ dX = dZ W_ih
    dweight_ih = xp.matmul(dz.T, x_w.reshape(T * B, I),
                           out=workspace.empty((4 * H, I), dtype, xp))  # dW_ih = dZᵀ X
    # dW_hh = Σ_t dz_tᵀ h_{t−1}, with h_{−1} = h0 and h_{t−1} = output_{t−1}     (4H, P)
    dweight_hh = xp.matmul(dgates[0].T, h0_w, out=workspace.empty((4 * H, P), dtype, xp))
    if T > 1:
        dweight_hh += xp.matmul(dgates[1:].reshape(-1, 4 * H).T, output[:-1].reshape(-1, P),
                                out=workspace.empty((4 * H, P), dtype, xp))
    dbias = dz.sum(axis=0) if has_bias else None             # (4H,) = dbias_ih = dbias_hh
    dweight_hr = None
    if projection and hidden is not None:                    # dW_hr = Σ_t dh_tᵀ r_t  (P, H)
        dweight_hr = dh_all.reshape(-1, P).T @ hidden.reshape(-1, H)
    if norms is not None and record is not None:
        record.update(norms.result(plan))
    dx = plan.from_work(dx_w)
    dh0, dc0 = plan.batch_from_work(dh_carry), plan.batch_from_work(dc_carry)
    dx = drop_batch_axis(unbatched, 1, dx)                                # (T, I)
    dh0, dc0 = drop_batch_axis(unbatched, 0, dh0, dc0)                    # (P,), (H,)
    return SequenceGrads(dx, dh0, dc0, dweight_ih, dweight_hh, dbias,
                         None if dbias is None else dbias.copy(), dweight_hr)


def join_directions(outputs: Sequence[Array]) -> Array:
    """The outputs of a layer's directions side by side: D arrays (T, B, P) → (T, B, D·P),
    in workspace memory (``nplstm/workspace.py``), as the next layer's input."""
    xp = get_array_module(*outputs)
    T, B, P = outputs[0].shape
    out = workspace.empty((T, B, len(outputs) * P), outputs[0].dtype, xp)    # (T, B, D·P)
    return xp.concatenate(outputs, axis=-1, out=out)


def _recurrent_weight(weight_hh: Array, T: int, xp: Any) -> Array:
    """W_hhᵀ (P, 4H) for the step GEMM h_{t−1} W_hhᵀ: a contiguous copy for T ≥
    ``_TRANSPOSE_MIN_STEPS`` (OpenBLAS then reads it without packing it every step), else
    the transposed view (the copy costs more than it saves on short sequences)."""
    if T < _TRANSPOSE_MIN_STEPS:
        return weight_hh.T                                                   # (P, 4H) view
    copy = workspace.empty(weight_hh.shape[::-1], weight_hh.dtype, xp)       # (P, 4H)
    copy[...] = weight_hh.T
    return copy


def _backward_chunk(T: int, B: int, H: int) -> int:
    """Time steps whose backward factors are computed together: (S, B, 5H) fits in L2."""
    return max(1, min(T, _BACKWARD_CHUNK_ELEMENTS // max(1, B * 5 * H)))


def _chunk_factors(kernels: Any, gates: Array, c_all: Array, c0_w: Array, tanh_all: Array,
                   t0: int, t1: int, factors: Array, dc_gain: Array) -> None:
    """``backward_factors`` of steps t0 … t1−1 into factors[:t1−t0], dc_gain[:t1−t0].

    Step t reads c_{t−1}: c_all[t0−1 : t1−1], except that step 0 reads c0 (a second call).
    """
    s = 1 if t0 == 0 else 0
    if s:
        kernels.backward_factors(gates[0], c0_w, tanh_all[0], factors[0], dc_gain[0])
    if t0 + s < t1:
        kernels.backward_factors(gates[t0 + s:t1], c_all[t0 + s - 1:t1 - 1],
                                 tanh_all[t0 + s:t1], factors[s:t1 - t0], dc_gain[s:t1 - t0])


class StepNorms:
    """Squared norms of the named gradients (∂L/∂h_t, ∂L/∂c_t) per (work step, row), for
    ``record``; shared with the RNN (``rnn.py``), which records "dh" only."""

    def __init__(self, T: int, B: int, xp: Any, names: tuple[str, ...] = ("dh", "dc")) -> None:
        # rows past a sequence's end stay 0
        self.squares = {name: xp.zeros((T, B), dtype=xp.float64) for name in names}

    def add(self, t: int, *grads: Array) -> None:
        """The gradients of step t, in the order of ``names``, each (n, ·)."""
        for sq, g in zip(self.squares.values(), grads):
            sq[t, :g.shape[0]] = (g * g).sum(axis=-1)                            # (n,)

    def result(self, plan: SequencePlan) -> dict[str, Any]:
        """{name: (T,)} host float64 norms, indexed by the input's time steps."""
        # work (s, r) → caller (t, b) moves each row's squares to its own input time step
        return {name: asnumpy(plan.from_work(sq).sum(axis=1) ** 0.5)
                for name, sq in self.squares.items()}
