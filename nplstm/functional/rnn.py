"""One layer of torch's ``nn.RNN`` (tanh or ReLU) in one direction: forward and backward.

    forward   z_t = x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh                           (B, H)
              h_t = act(z_t),  act = tanh or relu
    backward  for t = T−1 … 0:
                  dh_t = doutput_t + dz_{t+1} W_hh      (from the output and from step t+1)
                  dz_t = dh_t ⊙ act'(z_t),  act' from the output: 1 − h_t² (tanh),
                                                                 [h_t > 0]  (relu)
              dW_ih = Σ_t dz_tᵀ x_t,  dX = dZ W_ih,  dW_hh = Σ_t dz_tᵀ h_{t−1},
              db_ih = db_hh = Σ_t dz_t,  dh0 = dz_0 W_hh

The plain loop: speed is not the point of this layer, the comparison with the LSTM is.
Variable lengths and the reverse direction are the same re-indexing as the LSTM's
(``packing.py``): the loop walks forward over a prefix of the rows, ``batch_sizes[t]`` of
them at step t.  Shapes: T time, B batch, I input size, H hidden size; unbatched input
(T, I) is accepted, with h0 (H,).
"""

from typing import Any, NamedTuple, Optional

from ..backend import Array

from ..checks import (check_arrays, check_cache, check_flags, check_lengths, check_record,
                     drop_batch_axis)
from ..kernels import kernels_for
from .inputs import check_hidden, check_sequence_upstream, check_sequence_x, check_weights
from .packing import SequencePlan, make_plan
from .sequence import StepNorms

__all__ = ["RNNCache", "RNNGrads", "rnn_forward", "rnn_backward", "NONLINEARITIES"]

NONLINEARITIES = ("tanh", "relu")


class RNNCache(NamedTuple):
    """What ``rnn_backward`` reads, in work order (see ``packing.py``)."""

    x: Array             # (T, B, I)  the input
    h0: Array            # (B, H)     initial hidden state
    output: Array        # (T, B, H)  h_t (zero at padded steps), the h_{t−1} of step t
    weight_ih: Array     # (H, I)     references to the weights, not copies
    weight_hh: Array     # (H, H)
    has_bias: bool
    nonlinearity: str     # "tanh" or "relu"
    plan: SequencePlan
    unbatched: bool


class RNNGrads(NamedTuple):
    """Gradients of one layer and direction, named after the inputs of ``rnn_forward``."""

    x: Array                    # (T, B, I)  zero at padded steps
    h0: Array                   # (B, H)
    weight_ih: Array            # (H, I)
    weight_hh: Array            # (H, H)
    bias_ih: Optional[Array]    # (H,), None without bias
    bias_hh: Optional[Array]    # (H,), None without bias


def check_nonlinearity(nonlinearity: str) -> str:
    """"tanh" or "relu" (torch's choices), else a ``ValueError`` naming ``nonlinearity``."""
    if not isinstance(nonlinearity, str) or nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


def rnn_forward(x: Array, h0: Optional[Array], weight_ih: Array, weight_hh: Array,
                bias_ih: Optional[Array] = None, bias_hh: Optional[Array] = None, *,
                nonlinearity: str = "tanh", lengths: Any = None, reverse: bool = False,
                keep_cache: bool = True) -> tuple[tuple[Array, Array], Optional[RNNCache]]:
    """One layer, one direction: ``(output, h_n), cache = rnn_forward(x, h0, ...)``.

    x             (T, B, I) or unbatched (T, I); T, B ≥ 1 (empty axes are refused)
    h0            (B, H) (unbatched: (H,)), or None for zeros
    weight_ih     (H, I);  weight_hh (H, H);  bias_ih, bias_hh (H,) or None
    nonlinearity  "tanh" or "relu"
    lengths       (B,) integers in [1, T], or None: sequence b is x[:lengths[b], b]; its
                  outputs beyond are 0 and h_n is that of its own last step (torch's packing)
    reverse       walk each sequence from its own last step back to step 0
    keep_cache    False for inference: returns None for the cache
    returns       output (T, B, H), h_n (B, H) (unbatched: no B axis) and the ``RNNCache``
    """
    check_nonlinearity(nonlinearity)
    xp, I, H, _ = check_weights(weight_ih, weight_hh, bias_ih, bias_hh, gates=1)
    x, unbatched = check_sequence_x(x, weight_ih, I, h0=h0)
    T, B = x.shape[:2]
    h0 = check_hidden("h0", h0, B, H, unbatched, x.dtype, xp)                   # (B, H)
    check_flags(reverse=reverse, keep_cache=keep_cache)
    lengths = None if lengths is None else check_lengths(lengths, T, B)
    plan = make_plan(T, B, lengths, reverse, xp)

    x_w = plan.to_work(x, zero_padding=True)                                    # (T, B, I)
    h0_w = plan.batch_to_work(h0)                                               # (B, H)
    # padded positions must read as zeros (outputs, and the backward's h_{t−1})
    output = xp.zeros((T, B, H), dtype=x.dtype)                                 # (T, B, H)
    # x_t W_ihᵀ + b_ih + b_hh for all steps in one GEMM
    z_in = (x_w.reshape(T * B, I) @ weight_ih.T).reshape(T, B, H)               # (T, B, H)
    if bias_ih is not None:
        z_in += bias_ih + bias_hh
    for t in range(T):
        n = plan.batch_sizes[t]                                                 # rows running
        h_prev = output[t - 1, :n] if t else h0_w[:n]                           # (n, H)
        z = z_in[t, :n] + h_prev @ weight_hh.T                                  # z_t  (n, H)
        if nonlinearity == "tanh":
            xp.tanh(z, out=output[t, :n])                                       # h_t = tanh z_t
        else:
            xp.maximum(z, 0, out=output[t, :n])                                 # h_t = max(z_t, 0)

    rows = xp.arange(B)
    h_n = plan.batch_from_work(output[xp.asarray(plan.last_step), rows])        # (B, H)
    result = plan.from_work(output)
    if keep_cache and result is output:
        result = output.copy()        # the cache keeps its own h_{t−1}: callers may edit theirs
    cache = RNNCache(x_w, h0_w, output, weight_ih, weight_hh, bias_ih is not None,
                     nonlinearity, plan, unbatched) if keep_cache else None
    result = drop_batch_axis(unbatched, 1, result)                              # (T, H)
    h_n = drop_batch_axis(unbatched, 0, h_n)                                    # (H,)
    return (result, h_n), cache


def rnn_backward(doutput: Optional[Array], dh_n: Optional[Array], cache: RNNCache, *,
                 record: Optional[dict[str, Any]] = None) -> RNNGrads:
    """Backpropagation through time of one RNN layer and direction.

    doutput  (T, B, H) (unbatched (T, H)): ∂L/∂output, or None for zeros; values at padded
             steps are ignored
    dh_n     (B, H) (unbatched (H,)): ∂L/∂h_n, or None for zeros
    record   None or a dict that receives record["dh"] (T,), as ``sequence.lstm_backward``
             defines it (an RNN has no "dc")
    returns  ``RNNGrads``, each shaped like the forward input it belongs to
    """
    check_cache(cache, RNNCache, "rnn_forward (with keep_cache=True)")
    check_record(record)
    x_w, h0_w, output, weight_ih, weight_hh, has_bias, nonlinearity, plan, unbatched = cache
    T, B, I = x_w.shape
    H = h0_w.shape[1]
    xp = check_arrays({"x (from the cache)": x_w, "doutput": doutput, "dh_n": dh_n})
    doutput, dh_n, _ = check_sequence_upstream(doutput, dh_n, None, T, B, H, H, unbatched,
                                               x_w.dtype, xp, cell=False, p_letter="H")
    dout_w = plan.to_work(doutput)                                              # (T, B, H)
    dh_carry = plan.batch_to_work(dh_n).copy()  # ∂L/∂h of each row's latest unprocessed step
    dz_all = xp.zeros((T, B, H), dtype=x_w.dtype)                # ∂L/∂z_t, 0 at padded rows
    norms = None if record is None else StepNorms(T, B, xp, names=("dh",))
    kernels = kernels_for(xp)

    for t in reversed(range(T)):
        n = plan.batch_sizes[t]
        dh = dout_w[t, :n] + dh_carry[:n]             # ∂L/∂h_t = from output + from t+1
        if norms is not None:
            norms.add(t, dh)
        h = output[t, :n]                                                       # (n, H)
        # dz_t = dh_t ⊙ act'(z_t), read from h_t: tanh' = 1 − h², relu' = [h > 0]
        dz = dz_all[t, :n]
        if nonlinearity == "tanh":
            kernels.tanh_derivative(h, dz)                                      # 1 − h²
            xp.multiply(dh, dz, out=dz)
        else:
            xp.multiply(dh, h > 0, out=dz)
        # z_t = … + h_{t−1} W_hhᵀ ⇒ ∂L/∂h_{t−1} (recurrent part) = dz_t W_hh
        dh_carry[:n] = dz @ weight_hh                                           # (n, H)

    dz_rows = dz_all.reshape(T * B, H)
    dx_w = (dz_rows @ weight_ih).reshape(T, B, I)             # z = x W_ihᵀ ⇒ dX = dZ W_ih
    dweight_ih = dz_rows.T @ x_w.reshape(T * B, I)            # dW_ih = dZᵀ X         (H, I)
    # dW_hh = Σ_t dz_tᵀ h_{t−1}, with h_{−1} = h0 and h_{t−1} = output_{t−1}       (H, H)
    dweight_hh = dz_all[0].T @ h0_w
    if T > 1:
        dweight_hh += dz_all[1:].reshape(-1, H).T @ output[:-1].reshape(-1, H)
    dbias = dz_rows.sum(axis=0) if has_bias else None         # (H,) = dbias_ih = dbias_hh
    if norms is not None and record is not None:
        record.update(norms.result(plan))
    dx = drop_batch_axis(unbatched, 1, plan.from_work(dx_w))                    # (T, I)
    dh0 = drop_batch_axis(unbatched, 0, plan.batch_from_work(dh_carry))         # (H,)
    return RNNGrads(dx, dh0, dweight_ih, dweight_hh, dbias,
                    None if dbias is None else dbias.copy())

