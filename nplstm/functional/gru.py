"""torch's ``nn.GRUCell`` and one layer of ``nn.GRU`` in one direction: forward and backward.

    r  = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr)                (B, H)  gate blocks [r | z | n]
    z  = σ(x W_izᵀ + b_iz + h W_hzᵀ + b_hz)                        of the (3H, ·) weights
    n  = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))       r multiplies h W_hnᵀ + b_hn, not h
    h' = (1 − z) ⊙ n + z ⊙ h  =  n + z ⊙ (h − n)

The textbook twins, one equation per line, are in ``reference.py`` (the oracle these
functions are tested against; ``gru_step_backward`` there undoes the step line by line).
Collected, every upstream gradient of a step is dh ⊙ (a factor that does not depend on the
recurrence), with A = (1 − z) ⊙ (1 − n²):

    da_n = dh ⊙ A                      (a_n, a_z, a_r the pre-activations of n, z, r)
    da_z = dh ⊙ (h − n) ⊙ z(1 − z)
    da_r = dh ⊙ A ⊙ gh_n ⊙ r(1 − r)      gh_n = h W_hnᵀ + b_hn
    dgi  = [da_r | da_z | da_n]        ∂L/∂(x W_ihᵀ + b_ih)                  (B, 3H)
    dgh  = [da_r | da_z | da_n ⊙ r]    ∂L/∂(h W_hhᵀ + b_hh)                  (B, 3H)
    dh_prev = dh ⊙ z + dgh W_hh

so, as for the LSTM (``sequence.py``), the backward computes the factors for a chunk of
steps at once and the serial loop is three products, one GEMM and one sum per step.  The sequence
functions share the LSTM's machinery: one GEMM for the input projection of all steps (in
chunks of steps without a cache), the large buffers from the workspace, variable lengths
and the reverse direction as a re-indexing (``packing.py``), the per-step norms of
``record`` (``StepNorms``).  Shapes: T time, B batch, I input size, H hidden size;
unbatched inputs (I,) (the cell) and (T, I) (the layer) are accepted, with h (H,).
"""

from typing import Any, NamedTuple, Optional

from .. import workspace
from ..backend import Array
from ..checks import (check_arrays, check_cache, check_flags, check_lengths, check_record,
                      drop_batch_axis)
from ..kernels import kernels_for
from .grads import GRUCellGrads, GRUGrads
from .inputs import (check_gru_weights, check_hidden, check_sequence_upstream, check_sequence_x,
                     check_step_upstream, check_step_x)
from .packing import SequencePlan, make_plan
from .sequence import (_BACKWARD_CHUNK_ELEMENTS, _INFERENCE_CHUNK_ELEMENTS,
                       _INFERENCE_CHUNK_MIN_ROWS, StepNorms, _recurrent_weight)

__all__ = ["GRUCellCache", "GRUCellGrads", "GRUCache", "GRUGrads", "gru_cell_forward",
           "gru_cell_backward", "gru_forward", "gru_backward"]


class GRUCellCache(NamedTuple):
    """What ``gru_cell_backward`` needs, saved by ``gru_cell_forward`` (batched shapes)."""

    x: Array          # (B, I)   the input
    h_prev: Array     # (B, H)   the previous hidden state
    gates: Array      # (B, 3H)  post-activation gates [r | z | n]
    gh_n: Array       # (B, H)   h_prev W_hnᵀ + b_hn, the term r multiplies
    weight_ih: Array  # (3H, I)  a reference, not a copy
    weight_hh: Array  # (3H, H)  a reference, not a copy
    has_bias: bool
    unbatched: bool   # the forward was given (I,) and returned (H,)


class GRUCache(NamedTuple):
    """What ``gru_backward`` reads, in work order (see ``packing.py``).

    Bytes per time step: B·(3H + H + H + I) · itemsize (x is the caller's own array unless
    lengths or reverse re-index it).
    """

    x: Array             # (T, B, I)   the input
    h0: Array            # (B, H)      initial hidden state
    gates: Array         # (T, B, 3H)  post-activation gates [r | z | n]
    gh_n: Array          # (T, B, H)   h_{t−1} W_hnᵀ + b_hn
    output: Array        # (T, B, H)   h_t (zero at padded steps), the h_{t−1} of step t
    weight_ih: Array     # (3H, I)     references to the weights, not copies
    weight_hh: Array     # (3H, H)
    has_bias: bool
    plan: SequencePlan
    unbatched: bool


# -- the step, shared by the cell and the layer ----------------------------------------------

def _input_bias(bias_ih: Optional[Array], bias_hh: Optional[Array]) -> Optional[Array]:
    """b_ih + [b_hr | b_hz | 0] (3H,): every bias but b_hn, which r multiplies, joins the
    input projection; None without bias."""
    if bias_ih is None or bias_hh is None:      # both or neither (checked before)
        return None
    H = bias_ih.shape[0] // 3
    bias = bias_ih.copy()
    bias[:2 * H] += bias_hh[:2 * H]
    return bias


def _step_forward(xp: Any, gates: Array, recurrent: Array, b_hn: Optional[Array],
                  h_prev: Array, gh_n: Array, h: Array) -> None:
    """One step's elementwise math, in place.

    gates      (n, 3H)  in: x W_ihᵀ + b_ih + [b_hr | b_hz | 0];  out: [r | z | n]
    recurrent  (n, 3H)  in: h_prev W_hhᵀ (its n block is then used as scratch)
    gh_n       (n, H)   out: h_prev W_hnᵀ + b_hn;   h (n, H) out: h' (not h_prev's buffer)
    """
    H = gh_n.shape[-1]
    n, r, z = gates[:, 2 * H:], gates[:, :H], gates[:, H:2 * H]
    # σ over the whole contiguous row: the [r | z] block alone is strided (rows 3H apart),
    # where NumPy's ufuncs run 2–4× slower per element (30% of the step's elementwise time
    # at B ≥ 8, docs/benchmarks.md); x W_inᵀ + b_in is set aside in h first, and the n block
    # gets σ of a value nothing reads, overwritten below
    h[...] = n                                          # h = x W_inᵀ + b_in (scratch)
    xp.add(gates, recurrent, out=gates)
    # [r | z] = σ(·) = ½ tanh(·/2) + ½: tanh never overflows
    xp.multiply(gates, 0.5, out=gates)
    xp.tanh(gates, out=gates)
    xp.multiply(gates, 0.5, out=gates)
    xp.add(gates, 0.5, out=gates)
    if b_hn is None:
        gh_n[...] = recurrent[:, 2 * H:]                                # gh_n = h W_hnᵀ
    else:
        xp.add(recurrent[:, 2 * H:], b_hn, out=gh_n)                    # gh_n = h W_hnᵀ + b_hn
    scratch = recurrent[:, 2 * H:]
    xp.multiply(r, gh_n, out=scratch)
    xp.add(h, scratch, out=n)
    xp.tanh(n, out=n)                                   # n = tanh(x W_inᵀ + b_in + r ⊙ gh_n)
    xp.subtract(h_prev, n, out=h)
    xp.multiply(h, z, out=h)
    xp.add(h, n, out=h)                                 # h' = n + z ⊙ (h − n)


def _factors(kernels: Any, xp: Any, gates: Array, gh_n: Array, h_prev: Array,
             f_in: Array, f_rec: Array) -> None:
    """The factors of dgi and dgh (module docstring) for steps of any leading shape (…, ·).

    gates (…, 3H), gh_n and h_prev (…, H) in;  f_in, f_rec (…, 3H) out, such that
    dgi = dh ⊙ f_in and dgh = dh ⊙ f_rec (dh repeated over the three blocks).
    """
    H = gh_n.shape[-1]
    r, z, n = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:]
    f_r, f_z, f_n = f_in[..., :H], f_in[..., H:2 * H], f_in[..., 2 * H:]
    scratch = f_rec[..., 2 * H:]
    kernels.tanh_derivative(n, f_n)                     # 1 − n²
    xp.subtract(z.dtype.type(1), z, out=scratch)
    xp.multiply(f_n, scratch, out=f_n)                  # A = (1 − z) ⊙ (1 − n²)
    kernels.sigmoid_derivative(z, f_z)
    xp.subtract(h_prev, n, out=scratch)
    xp.multiply(f_z, scratch, out=f_z)                  # (h − n) ⊙ z(1 − z)
    kernels.sigmoid_derivative(r, f_r)
    xp.multiply(f_r, gh_n, out=f_r)
    xp.multiply(f_r, f_n, out=f_r)                      # A ⊙ gh_n ⊙ r(1 − r)
    f_rec[..., :2 * H] = f_in[..., :2 * H]
    xp.multiply(f_n, r, out=scratch)                    # A ⊙ r


def _step_backward(xp: Any, dh: Array, f_in: Array, f_rec: Array, z: Array, weight_hh: Array,
                   dgi: Array, dgh: Array, dh_prev: Array) -> None:
    """dgi, dgh (n, 3H) and dh_prev (n, H) from dh (n, H) and the step's factors; dh is
    overwritten (with dh ⊙ z)."""
    n, H = dh.shape
    dh3 = dh.reshape(n, 1, H)
    xp.multiply(f_in.reshape(n, 3, H), dh3, out=dgi.reshape(n, 3, H))    # dgi = dh ⊙ f_in
    xp.multiply(f_rec.reshape(n, 3, H), dh3, out=dgh.reshape(n, 3, H))   # dgh = dh ⊙ f_rec
    xp.multiply(dh, z, out=dh)
    xp.dot(dgh, weight_hh, out=dh_prev)
    xp.add(dh_prev, dh, out=dh_prev)                    # dh_prev = dh ⊙ z + dgh W_hh


# -- the cell ----------------------------------------------------------------------------------

def gru_cell_forward(x: Array, state: Optional[Array], weight_ih: Array, weight_hh: Array,
                     bias_ih: Optional[Array] = None, bias_hh: Optional[Array] = None
                     ) -> tuple[Array, GRUCellCache]:
    """One GRU step: ``h1, cache = gru_cell_forward(x, state, weight_ih, weight_hh, ...)``.

    x          (B, I) or (I,)
    state      h: (B, H) or (H,), or None for zeros
    weight_ih  (3H, I);  weight_hh (3H, H);  bias_ih, bias_hh (3H,) or None
    returns    h1 (B, H) or (H,), and a ``GRUCellCache``
    """
    xp, I, H = check_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, unbatched = check_step_x(x, weight_ih, I, state=state)              # (B, I)
    B = x.shape[0]
    h_prev = check_hidden("state", state, B, H, unbatched, x.dtype, xp)   # (B, H)
    gates = x @ weight_ih.T                                               # (B, 3H)
    bias = _input_bias(bias_ih, bias_hh)
    if bias is not None:
        gates += bias
    recurrent = h_prev @ weight_hh.T                                      # (B, 3H)
    gh_n, h1 = xp.empty((B, H), dtype=x.dtype), xp.empty((B, H), dtype=x.dtype)
    _step_forward(xp, gates, recurrent, None if bias_hh is None else bias_hh[2 * H:],
                  h_prev, gh_n, h1)
    cache = GRUCellCache(x, h_prev, gates, gh_n, weight_ih, weight_hh, bias_ih is not None,
                         unbatched)
    return drop_batch_axis(unbatched, 0, h1), cache


def gru_cell_backward(dh: Optional[Array], cache: GRUCellCache) -> GRUCellGrads:
    """Gradients of one step from ``dh`` = ∂L/∂h1 (None means zeros).

    dh       (B, H) or (H,) like the forward's output
    returns  ``GRUCellGrads`` (x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh), each shaped
             like the corresponding forward input (bias fields None without bias)
    """
    check_cache(cache, GRUCellCache, "gru_cell_forward")
    x, h_prev, gates, gh_n, weight_ih, weight_hh, has_bias, unbatched = cache
    B, H = h_prev.shape
    xp = check_arrays({"x (from the cache)": x, "dh": dh})
    dh = check_step_upstream("dh", dh, B, H, unbatched, x.dtype, xp).copy()    # (B, H)
    f_in, f_rec = xp.empty_like(gates), xp.empty_like(gates)                   # (B, 3H)
    _factors(kernels_for(xp), xp, gates, gh_n, h_prev, f_in, f_rec)
    dgi, dgh = xp.empty_like(gates), xp.empty_like(gates)
    dh_prev = xp.empty_like(h_prev)
    _step_backward(xp, dh, f_in, f_rec, gates[:, H:2 * H], weight_hh, dgi, dgh, dh_prev)
    dx = dgi @ weight_ih                      # gi = x W_ihᵀ + b_ih ⇒ dx = dgi W_ih   (B, I)
    dweight_ih = dgi.T @ x                                                     # (3H, I)
    dweight_hh = dgh.T @ h_prev               # gh = h W_hhᵀ + b_hh                (3H, H)
    dbias_ih = dgi.sum(axis=0) if has_bias else None                           # (3H,)
    dbias_hh = dgh.sum(axis=0) if has_bias else None                           # (3H,)
    dx, dh_prev = drop_batch_axis(unbatched, 0, dx, dh_prev)
    return GRUCellGrads(dx, dh_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh)


# -- one layer, one direction ------------------------------------------------------------------

def gru_forward(x: Array, state: Optional[Array], weight_ih: Array, weight_hh: Array,
                bias_ih: Optional[Array] = None, bias_hh: Optional[Array] = None, *,
                lengths: Any = None, reverse: bool = False, keep_cache: bool = True
                ) -> tuple[tuple[Array, Array], Optional[GRUCache]]:
    """One layer, one direction: ``(output, h_n), cache = gru_forward(x, state, ...)``.

    x           (T, B, I) or unbatched (T, I); T, B ≥ 1 (empty axes are refused)
    state       h0: (B, H) (unbatched: (H,)), or None for zeros
    weight_ih   (3H, I);  weight_hh (3H, H);  bias_ih, bias_hh (3H,) or None
    lengths     (B,) integers in [1, T], or None: sequence b is x[:lengths[b], b]; its outputs
                beyond are 0 and h_n is that of its own last step (torch's packing)
    reverse     walk each sequence from its own last step back to step 0
    keep_cache  False for inference: no cache is kept (returns None) and memory stays that
                of a few steps
    returns     output (T, B, H), h_n (B, H) (unbatched: no B axis) and the ``GRUCache``
                (or None).  Do not modify the inputs in place before the backward: the cache
                refers to them.
    """
    xp, I, H = check_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, unbatched = check_sequence_x(x, weight_ih, I, state=state)           # (T, B, I)
    T, B = x.shape[:2]
    h0 = check_hidden("state", state, B, H, unbatched, x.dtype, xp)         # (B, H)
    check_flags(reverse=reverse, keep_cache=keep_cache)
    lengths = None if lengths is None else check_lengths(lengths, T, B)
    plan = make_plan(T, B, lengths, reverse, xp)

    dtype = x.dtype
    x_w = xp.ascontiguousarray(plan.to_work(x, zero_padding=True))       # (T, B, I)
    h0_w = plan.batch_to_work(h0)                                        # (B, H)
    empty = workspace.empty
    alloc = workspace.zeros if plan.padded else empty  # padded positions must read as zeros
    weight_hh_t = _recurrent_weight(weight_hh, T, xp)                    # (H, 3H)
    bias = _input_bias(bias_ih, bias_hh)                                 # (3H,)
    b_hn = None if bias_hh is None else bias_hh[2 * H:]                  # (H,)
    output = alloc((T, B, H), dtype, xp)
    if keep_cache:
        chunk = T
        gates = empty((T, B, 3 * H), dtype, xp)
        gh_n_all = alloc((T, B, H), dtype, xp)   # finite at padded positions: the backward's
    else:                                      # factors are computed over whole chunks
        chunk = max(1, min(T, max(_INFERENCE_CHUNK_ELEMENTS // max(1, B * 3 * H),
                                  -(-_INFERENCE_CHUNK_MIN_ROWS // max(1, B)))))
        gates = empty((chunk, B, 3 * H), dtype, xp)
        gh_n_buf = xp.empty((B, H), dtype=dtype)
    recurrent = xp.empty((B, 3 * H), dtype=dtype)                        # h_{t−1} W_hhᵀ

    for t0 in range(0, T, chunk):
        t1 = min(T, t0 + chunk)
        gi = gates[:t1 - t0]
        # X W_ihᵀ + b_ih + [b_hr | b_hz | 0] for all the chunk's steps in one GEMM
        xp.matmul(x_w[t0:t1].reshape(-1, I), weight_ih.T, out=gi.reshape(-1, 3 * H))
        if bias is not None:
            xp.add(gi, bias, out=gi)
        for t in range(t0, t1):
            n = plan.batch_sizes[t]                                      # rows still running
            h_prev = output[t - 1, :n] if t else h0_w[:n]                # (n, H)
            xp.dot(h_prev, weight_hh_t, out=recurrent[:n])               # h_{t−1} W_hhᵀ
            gh_n = gh_n_all[t, :n] if keep_cache else gh_n_buf[:n]
            _step_forward(xp, gi[t - t0, :n], recurrent[:n], b_hn, h_prev, gh_n, output[t, :n])

    h_n = plan.batch_from_work(output[xp.asarray(plan.last_step), xp.arange(B)])   # (B, H)
    result = plan.from_work(output)
    if keep_cache and result is output:
        result = empty(output.shape, dtype, xp)   # the cache keeps its own h_{t−1}: callers
        result[...] = output                      # may edit theirs
    cache = GRUCache(x_w, h0_w, gates, gh_n_all, output, weight_ih, weight_hh, bias is not None,
                     plan, unbatched) if keep_cache else None
    result = drop_batch_axis(unbatched, 1, result)                       # (T, H)
    h_n = drop_batch_axis(unbatched, 0, h_n)                             # (H,)
    return (result, h_n), cache


def gru_backward(doutput: Optional[Array], dh_n: Optional[Array], cache: GRUCache, *,
                 record: Optional[dict[str, Any]] = None) -> GRUGrads:
    """Backpropagation through time of one GRU layer and direction.

    doutput  (T, B, H) (unbatched (T, H)): ∂L/∂output, or None for zeros; values at padded
             steps are ignored
    dh_n     (B, H) (unbatched (H,)): ∂L/∂h_n, or None for zeros
    record   None or a dict that receives record["dh"] (T,), as ``sequence.lstm_backward``
             defines it (a GRU has no "dc")
    returns  ``GRUGrads``, each shaped like the forward input it belongs to
    """
    check_cache(cache, GRUCache, "gru_forward (with keep_cache=True)")
    check_record(record)
    x_w, h0_w, gates, gh_n_all, output, weight_ih, weight_hh, has_bias, plan, unbatched = cache
    T, B, I = x_w.shape
    H = h0_w.shape[1]
    xp = check_arrays({"x (from the cache)": x_w, "doutput": doutput, "dh_n": dh_n})
    dtype = x_w.dtype
    doutput, dh_n, _ = check_sequence_upstream(doutput, dh_n, None, T, B, H, H, unbatched,
                                               dtype, xp, cell=False, p_letter="H")
    kernels = kernels_for(xp)
    dout_w = plan.to_work(doutput)                                       # (T, B, H)
    dh_carry = plan.batch_to_work(dh_n).copy()  # ∂L/∂h of each row's latest unprocessed step
    alloc = workspace.zeros if plan.padded else workspace.empty          # padded rows stay 0
    dgi_all = alloc((T, B, 3 * H), dtype, xp)                            # ∂L/∂(x W_ihᵀ + b_ih)
    dgh_all = alloc((T, B, 3 * H), dtype, xp)                            # ∂L/∂(h W_hhᵀ + b_hh)
    dh_buf = xp.empty((B, H), dtype=dtype)
    chunk = max(1, min(T, _BACKWARD_CHUNK_ELEMENTS // max(1, B * 6 * H)))
    f_in = xp.empty((chunk, B, 3 * H), dtype=dtype)
    f_rec = xp.empty((chunk, B, 3 * H), dtype=dtype)
    norms = None if record is None else StepNorms(T, B, xp, names=("dh",))

    for t0 in reversed(range(0, T, chunk)):
        t1 = min(T, t0 + chunk)
        # what does not depend on the recurrence, for the chunk's steps at once; step t reads
        # h_{t−1} = output[t − 1], step 0 reads h0 (a second call)
        s = 1 if t0 == 0 else 0
        if s:
            _factors(kernels, xp, gates[0], gh_n_all[0], h0_w, f_in[0], f_rec[0])
        if t0 + s < t1:
            _factors(kernels, xp, gates[t0 + s:t1], gh_n_all[t0 + s:t1],
                     output[t0 + s - 1:t1 - 1], f_in[s:t1 - t0], f_rec[s:t1 - t0])
        for t in reversed(range(t0, t1)):
            n = plan.batch_sizes[t]
            dh = dh_buf[:n]
            xp.add(dout_w[t, :n], dh_carry[:n], out=dh)   # ∂L/∂h_t = from output + from t+1
            if norms is not None:
                norms.add(t, dh)
            _step_backward(xp, dh, f_in[t - t0, :n], f_rec[t - t0, :n], gates[t, :n, H:2 * H],
                           weight_hh, dgi_all[t, :n], dgh_all[t, :n], dh_carry[:n])

    dgi = dgi_all.reshape(T * B, 3 * H)
    dx_w = xp.matmul(dgi, weight_ih, out=workspace.empty((T * B, I), dtype, xp)
                     ).reshape(T, B, I)                  # GI = X W_ihᵀ ⇒ dX = dGI W_ih
    dweight_ih = dgi.T @ x_w.reshape(T * B, I)           # dW_ih = dGIᵀ X          (3H, I)
    # dW_hh = Σ_t dgh_tᵀ h_{t−1}, with h_{−1} = h0 and h_{t−1} = output_{t−1}      (3H, H)
    dweight_hh = dgh_all[0].T @ h0_w
    if T > 1:
        dweight_hh += dgh_all[1:].reshape(-1, 3 * H).T @ output[:-1].reshape(-1, H)
    dbias_ih = dgi.sum(axis=0) if has_bias else None                     # (3H,)
    dbias_hh = dgh_all.reshape(T * B, 3 * H).sum(axis=0) if has_bias else None
    if norms is not None and record is not None:
        record.update(norms.result(plan))
    dx = drop_batch_axis(unbatched, 1, plan.from_work(dx_w))             # (T, I)
    dh0 = drop_batch_axis(unbatched, 0, plan.batch_from_work(dh_carry))  # (H,)
    return GRUGrads(dx, dh0, dweight_ih, dweight_hh, dbias_ih, dbias_hh)
