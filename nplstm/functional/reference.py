"""The textbook LSTM: the equations as the code, and backpropagation through time as a loop.

Notation (shapes in every comment use these letters)
    T time steps, B batch, I input size, H hidden size, P projection size (P = H without)
    x (B, I) input;  h_prev (B, P), c_prev (B, H) the states in;  h (B, P), c (B, H) out
    z (B, 4H) pre-activations, four blocks [z_i | z_f | z_g | z_o]
    i input gate, f forget gate, g candidate cell, o output gate: each (B, H)
    σ the sigmoid, ⊙ the elementwise product, dX = ∂L/∂X (shaped like X), dc_total all of ∂L/∂c

One step, as torch.nn.LSTMCell:
    z  = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh
    i = σ(z_i),  f = σ(z_f),  g = tanh(z_g),  o = σ(z_o)
    c = f ⊙ c_prev + i ⊙ g
    h = o ⊙ tanh(c)              (with a projection: h = (o ⊙ tanh(c)) W_hrᵀ, of size P)

``lstm_step_forward`` / ``lstm_step_backward`` are that step on batched arrays (h may be of
size P); ``lstm_cell_forward`` / ``lstm_cell_backward`` check their input as the fast layer
does, then call them; ``lstm_forward`` / ``lstm_backward`` loop over them.  This is the layer
to read, and the oracle its fast twins (cell.py's lstm_cell_*, sequence.py's lstm_forward/
backward, kernels/numpy_gates.py) are tested against.  Derivation: docs/derivation.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import asnumpy, get_array_module
from ..checks import check_arrays, check_cache, check_lengths, check_record, drop_batch_axis
from ..kernels.layout import split_gates
from .grads import CellGrads, SequenceGrads
from .inputs import (check_sequence_inputs, check_sequence_upstream, check_step_inputs,
                     check_step_upstream, check_weights)

__all__ = ["lstm_cell_forward", "lstm_cell_backward", "lstm_forward", "lstm_backward",
           "lstm_step_forward", "lstm_step_backward", "sigmoid", "reverse_within_lengths",
           "StepCache", "LoopCache"]


def sigmoid(z):
    # σ(z) = 1/(1 + e^(−z)) = (tanh(z/2) + 1)/2: tanh never overflows and keeps z's dtype
    return get_array_module(z).tanh(z / 2) / 2 + 1 / 2


def lstm_step_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One step on batched, already validated arrays: ``(h, c), StepCache``."""
    xp = get_array_module(x)
    b_ih, b_hh = (0, 0) if bias_ih is None else (bias_ih, bias_hh)  # bias=False: none
    z = x @ weight_ih.T + b_ih + h_prev @ weight_hh.T + b_hh   # (B, 4H) pre-activations
    z_i, z_f, z_g, z_o = split_gates(z)                    # (B, H) each, the four blocks of z
    i = sigmoid(z_i)                                       # (B, H)  i = σ(z_i)     input gate
    f = sigmoid(z_f)                                       # (B, H)  f = σ(z_f)     forget gate
    g = xp.tanh(z_g)                                       # (B, H)  g = tanh(z_g)  candidate cell
    o = sigmoid(z_o)                                       # (B, H)  o = σ(z_o)     output gate
    c = f * c_prev + i * g                                 # (B, H)  c = f ⊙ c_prev + i ⊙ g
    tanh_c = xp.tanh(c)                                    # (B, H)  tanh(c)
    h = o * tanh_c                                         # (B, H)  h = o ⊙ tanh(c)
    cache = StepCache(x, h_prev, c_prev, i, f, g, o, tanh_c, weight_ih, weight_hh,
                      has_bias=bias_ih is not None, unbatched=False)
    return (h, c), cache


def lstm_step_backward(dh, dc, cache):
    """The step undone line by line, from dh = ∂L/∂h and dc = ∂L/∂c (batched arrays).

    Derivatives through the outputs: σ' = s(1 − s), tanh' = 1 − t².  Returns the
    ``CellGrads`` and dc_total, all of ∂L/∂c (dc plus the path through h), for ``record``.
    """
    x, h_prev, c_prev, i, f, g, o, tanh_c, weight_ih, weight_hh, has_bias, _ = cache
    xp = get_array_module(x)
    do = dh * tanh_c                                       # (B, H)  h = o ⊙ tanh_c
    dtanh_c = dh * o                                       # (B, H)  h = o ⊙ tanh_c
    dc_total = dc + dtanh_c * (1 - tanh_c * tanh_c)        # (B, H)  tanh_c = tanh(c): 1 − t²
    df = dc_total * c_prev                                 # (B, H)  c = f ⊙ c_prev + i ⊙ g
    dc_prev = dc_total * f                                 # (B, H)  c = f ⊙ c_prev + …
    di = dc_total * g                                      # (B, H)  c = … + i ⊙ g
    dg = dc_total * i                                      # (B, H)  c = … + i ⊙ g
    dz_o = do * o * (1 - o)                                # (B, H)  o = σ(z_o): σ' = s(1 − s)
    dz_g = dg * (1 - g * g)                                # (B, H)  g = tanh(z_g): tanh' = 1 − t²
    dz_f = df * f * (1 - f)                                # (B, H)  f = σ(z_f)
    dz_i = di * i * (1 - i)                                # (B, H)  i = σ(z_i)
    dz = xp.concatenate([dz_i, dz_f, dz_g, dz_o], axis=-1)  # (B, 4H) the four blocks of z
    dbias_hh = dz.sum(axis=0) if has_bias else None        # (4H,)   z = … + b_hh  (Σ over B)
    dh_prev = dz @ weight_hh                               # (B, P)  z = … + h_prev W_hhᵀ + …
    dweight_hh = dz.T @ h_prev                             # (4H, P) z = … + h_prev W_hhᵀ + …
    dbias_ih = dz.sum(axis=0) if has_bias else None        # (4H,)   z = … + b_ih + …
    dx = dz @ weight_ih                                    # (B, I)  z = x W_ihᵀ + …
    dweight_ih = dz.T @ x                                  # (4H, I) z = x W_ihᵀ + …
    grads = CellGrads(dx, dh_prev, dc_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh)
    return grads, dc_total


def lstm_cell_forward(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step: ``(h, c), cache = lstm_cell_forward(x, (h_prev, c_prev), weight_ih, ...)``.

    x (B, I) or unbatched (I,);  state (h_prev, c_prev), each (B, H) or (H,), or None for 0
    weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,) or None
    returns (h, c) shaped like the state, and a ``StepCache``
    """
    xp, I, H, _ = check_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, h_prev, c_prev, unbatched = check_step_inputs(x, state, weight_ih, I, H, xp)  # (B, H)
    (h, c), cache = lstm_step_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    h, c = drop_batch_axis(unbatched, 0, h, c)         # (I,) in, (H,) out, as torch
    return (h, c), cache._replace(unbatched=unbatched)


def lstm_cell_backward(dh, dc, cache) -> CellGrads:
    """Gradients of one step from dh = ∂L/∂h, dc = ∂L/∂c (each may be None: zeros).

    returns ``CellGrads``, each field shaped like the forward input it belongs to
    """
    check_cache(cache, StepCache, "reference.lstm_cell_forward")
    B, H = cache.c_prev.shape
    xp = check_arrays({"x (from the cache)": cache.x, "dh": dh, "dc": dc})
    dh = check_step_upstream("dh", dh, B, H, cache.unbatched, cache.x.dtype, xp)    # (B, H)
    dc = check_step_upstream("dc", dc, B, H, cache.unbatched, cache.x.dtype, xp)    # (B, H)
    grads, _ = lstm_step_backward(dh, dc, cache)
    x, h_prev, c_prev = drop_batch_axis(cache.unbatched, 0, grads.x, grads.h_prev, grads.c_prev)
    return grads._replace(x=x, h_prev=h_prev, c_prev=c_prev)


def reverse_within_lengths(a, lengths):
    """(T, B, ...) → the same with each a[:lengths[b], b] reversed in time; padding stays.

    The reverse direction reads each sequence from its own last step; applying this twice
    gives ``a`` back, so it also maps the reversed walk's results back to input time.
    """
    xp = get_array_module(a)
    t = xp.arange(a.shape[0])[:, None]                                 # (T, 1)
    source = xp.where(t < lengths, lengths - 1 - t, t)                 # (T, B) time to read
    return a[source, xp.arange(a.shape[1])]                            # (T, B, ...)


def lstm_forward(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None, weight_hr=None,
                 *, lengths=None, reverse=False, keep_cache=True):
    """One layer, one direction, a loop of ``lstm_step_forward``: ``(output, (h_n, c_n)), cache``.

    x (T, B, I) or unbatched (T, I);  state (h0, c0) of shapes (B, P), (B, H), or None
    weight_hr (P, H) or None;  lengths (B,) ints in [1, T] or None (all T): sequence b is
    x[:lengths[b], b], its outputs beyond are 0 and h_n, c_n are its own last step's
    reverse: each sequence is read from its own last step back to step 0
    returns output (T, B, P), h_n (B, P), c_n (B, H) (unbatched: no B axis) and a
    ``LoopCache``, or None with keep_cache=False
    """
    xp, I, H, P = check_weights(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)
    x, h, c, unbatched = check_sequence_inputs(x, state, weight_ih, I, H, P, xp)  # (T, B, I)
    T, B = x.shape[:2]
    lengths = xp.asarray(np.full(B, T) if lengths is None else check_lengths(lengths, T, B))
    if reverse:
        x = reverse_within_lengths(x, lengths)         # the walk below is then forward
    steps, hidden, outputs = [], [], []
    for t in range(T):
        running = (t < lengths)[:, None]                               # (B, 1) not yet ended
        x_t = xp.where(running, x[t], 0)               # (B, I) padding (even NaN) reads as 0
        (r, c_t), step = lstm_step_forward(x_t, h, c, weight_ih, weight_hh, bias_ih,
                                           bias_hh)                    # r = o ⊙ tanh(c_t)
        h_t = r if weight_hr is None else r @ weight_hr.T              # (B, P) h_t = r W_hrᵀ
        h = xp.where(running, h_t, h)                  # (B, P) ended rows keep their state
        c = xp.where(running, c_t, c)                  # (B, H)
        outputs.append(xp.where(running, h_t, 0))      # (B, P) and output 0
        if keep_cache:
            steps.append(step)
            hidden.append(r)
    output = xp.stack(outputs)                                         # (T, B, P)
    if reverse:
        output = reverse_within_lengths(output, lengths)   # back to the input's time order
    cache = LoopCache(steps, hidden, weight_hr, lengths, reverse, unbatched) \
        if keep_cache else None
    output = drop_batch_axis(unbatched, 1, output)        # (T, P) for a (T, I) input
    h, c = drop_batch_axis(unbatched, 0, h, c)
    return (output, (h, c)), cache


def lstm_backward(doutput, dh_n, dc_n, cache, *, record=None) -> SequenceGrads:
    """Backpropagation through time: ``lstm_step_backward`` for t = T−1 … 0, carrying dh, dc.

    doutput (T, B, P), dh_n (B, P), dc_n (B, H) (unbatched: no B axis), each None for zeros;
    doutput at padded steps is ignored.  record: None or a dict that receives the per-step
    norms record["dh"], record["dc"] (T,) as ``sequence.lstm_backward`` (this function's
    fast twin) defines them
    returns ``SequenceGrads``; weight gradients are sums over the steps
    """
    check_cache(cache, LoopCache, "reference.lstm_forward (with keep_cache=True)")
    check_record(record)
    steps, hidden, weight_hr, lengths, reverse, unbatched = cache
    x, h0, c0 = steps[0].x, steps[0].h_prev, steps[0].c_prev           # (B, I), (B, P), (B, H)
    T, (B, P), H = len(steps), h0.shape, c0.shape[1]
    xp = check_arrays({"x (from the cache)": x, "doutput": doutput, "dh_n": dh_n,
                       "dc_n": dc_n})
    doutput, dh, dc = check_sequence_upstream(doutput, dh_n, dc_n, T, B, H, P, unbatched,
                                              x.dtype, xp)                  # batched
    if reverse:
        doutput = reverse_within_lengths(doutput, lengths)   # into the walk's order
    step_grads, dh_squares, dc_squares = [], [], []
    dweight_hr = 0
    for t in reversed(range(T)):
        running = (t < lengths)[:, None]                               # (B, 1)
        dh_t = xp.where(running, doutput[t] + dh, 0)   # (B, P) ∂L/∂h_t: output + step t+1
        dc_t = xp.where(running, dc, 0)                # (B, H) ∂L/∂c_t from step t+1
        if weight_hr is not None:                      # h_t = r_t W_hrᵀ
            dweight_hr = dweight_hr + dh_t.T @ hidden[t]               # (P, H)
        dr = dh_t if weight_hr is None else dh_t @ weight_hr           # (B, H) ∂L/∂r_t
        grads, dc_total = lstm_step_backward(dr, dc_t, steps[t])
        dh = xp.where(running, grads.h_prev, dh)       # (B, P) ended rows pass dh_n back
        dc = xp.where(running, grads.c_prev, dc)       # (B, H)
        step_grads.insert(0, grads)                    # kept in time order t = 0 … T−1
        dh_squares.insert(0, (dh_t * dh_t).sum(axis=-1))               # (B,)
        dc_squares.insert(0, (dc_total * dc_total).sum(axis=-1))       # (B,)
    dx = xp.stack([g.x for g in step_grads])                           # (T, B, I)
    if reverse:
        dx = reverse_within_lengths(dx, lengths)
    if record is not None:
        for name, squares in (("dh", dh_squares), ("dc", dc_squares)):
            squares = xp.stack(squares)                                # (T, B)
            if reverse:
                squares = reverse_within_lengths(squares, lengths)
            record[name] = asnumpy(squares).astype(np.float64).sum(axis=1) ** 0.5   # (T,)
    has_bias = steps[0].has_bias
    dweight_ih = sum(g.weight_ih for g in step_grads)                 # (4H, I) Σ over t
    dweight_hh = sum(g.weight_hh for g in step_grads)                 # (4H, P)
    dbias_ih = sum(g.bias_ih for g in step_grads) if has_bias else None   # (4H,)
    dbias_hh = sum(g.bias_hh for g in step_grads) if has_bias else None   # (4H,)
    dx = drop_batch_axis(unbatched, 1, dx)
    dh, dc = drop_batch_axis(unbatched, 0, dh, dc)
    return SequenceGrads(dx, dh, dc, dweight_ih, dweight_hh, dbias_ih, dbias_hh,
                         None if weight_hr is None else dweight_hr)


class StepCache(NamedTuple):
    """What ``lstm_step_backward`` reads (batched); fast twin: cell.CellCache (gates stacked)."""

    x: object          # (B, I)
    h_prev: object     # (B, P)   the hidden state the step read
    c_prev: object     # (B, H)   the cell state the step read
    i: object          # (B, H)   input gate
    f: object          # (B, H)   forget gate
    g: object          # (B, H)   candidate cell
    o: object          # (B, H)   output gate
    tanh_c: object     # (B, H)   tanh(c), c the step's new cell state
    weight_ih: object  # (4H, I)  references, not copies
    weight_hh: object  # (4H, P)
    has_bias: bool
    unbatched: bool    # lstm_cell_forward was given (I,) and returned (H,)


class LoopCache(NamedTuple):
    """What ``lstm_backward`` reads, in the walk's order; fast twin: sequence.SequenceCache."""

    steps: list        # T StepCaches
    hidden: list       # T arrays (B, H): r_t = o ⊙ tanh(c_t), before the projection
    weight_hr: object  # (P, H) or None
    lengths: object    # (B,) ints
    reverse: bool
    unbatched: bool


# -- the GRU ------------------------------------------------------------------------------------
#
# One step, as torch.nn.GRUCell (the weights' blocks in torch's order [r | z | n]):
#     r = σ(x W_irᵀ + b_ir + h_prev W_hrᵀ + b_hr)           reset gate
#     z = σ(x W_izᵀ + b_iz + h_prev W_hzᵀ + b_hz)           update gate
#     n = tanh(x W_inᵀ + b_in + r ⊙ (h_prev W_hnᵀ + b_hn))  candidate: r multiplies the whole
#     h = (1 − z) ⊙ n + z ⊙ h_prev                          recurrent term, its bias included
# ``gru_step_forward`` / ``gru_step_backward`` are that step on batched arrays;
# ``gru_cell_*`` check their input, then call them; ``gru_forward`` / ``gru_backward`` loop
# over them.  The fast twins: gru.py.

from .grads import GRUCellGrads, GRUGrads  # noqa: E402  (here: the LSTM's lines stay put)
from .inputs import check_gru_weights, check_hidden, check_sequence_x, check_step_x  # noqa: E402

__all__ += ["gru_cell_forward", "gru_cell_backward", "gru_forward", "gru_backward",
            "gru_step_forward", "gru_step_backward", "GRUStepCache", "GRULoopCache"]


def gru_step_forward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU step on batched, already validated arrays: ``h, GRUStepCache``."""
    xp = get_array_module(x)
    b_ih, b_hh = (0, 0) if bias_ih is None else (bias_ih, bias_hh)  # bias=False: none
    gi_r, gi_z, gi_n = _thirds(x @ weight_ih.T + b_ih)     # (B, H) each: x W_irᵀ + b_ir, …
    gh_r, gh_z, gh_n = _thirds(h_prev @ weight_hh.T + b_hh)  # (B, H) each: h W_hrᵀ + b_hr, …
    r = sigmoid(gi_r + gh_r)                               # (B, H)  r = σ(gi_r + gh_r)  reset
    z = sigmoid(gi_z + gh_z)                               # (B, H)  z = σ(gi_z + gh_z)  update
    n = xp.tanh(gi_n + r * gh_n)                           # (B, H)  n = tanh(gi_n + r ⊙ gh_n)
    h = (1 - z) * n + z * h_prev                           # (B, H)  h = (1 − z) ⊙ n + z ⊙ h_prev
    cache = GRUStepCache(x, h_prev, r, z, n, gh_n, weight_ih, weight_hh,
                         has_bias=bias_ih is not None, unbatched=False)
    return h, cache


def gru_step_backward(dh, cache):
    """The GRU step undone line by line, from dh = ∂L/∂h (batched): the ``GRUCellGrads``.

    a_r, a_z, a_n are the arguments of σ, σ and tanh; gi = x W_ihᵀ + b_ih and
    gh = h_prev W_hhᵀ + b_hh (B, 3H) the two products they are made of.
    """
    x, h_prev, r, z, n, gh_n, weight_ih, weight_hh, has_bias, _ = cache
    xp = get_array_module(x)
    dn = dh * (1 - z)                                      # (B, H)  h = (1 − z) ⊙ n + …
    dz = dh * (h_prev - n)                                 # (B, H)  h = n − z ⊙ n + z ⊙ h_prev
    dh_direct = dh * z                                     # (B, H)  h = … + z ⊙ h_prev
    da_n = dn * (1 - n * n)                                # (B, H)  n = tanh(a_n): 1 − t²
    dr = da_n * gh_n                                       # (B, H)  a_n = gi_n + r ⊙ gh_n
    dgh_n = da_n * r                                       # (B, H)  a_n = gi_n + r ⊙ gh_n
    da_z = dz * z * (1 - z)                                # (B, H)  z = σ(a_z): σ' = s(1 − s)
    da_r = dr * r * (1 - r)                                # (B, H)  r = σ(a_r)
    dgi = xp.concatenate([da_r, da_z, da_n], axis=-1)      # (B, 3H) a_r, a_z, a_n = gi + …
    dgh = xp.concatenate([da_r, da_z, dgh_n], axis=-1)     # (B, 3H) … + gh_r, gh_z, r ⊙ gh_n
    dbias_hh = dgh.sum(axis=0) if has_bias else None       # (3H,)   gh = … + b_hh  (Σ over B)
    dh_prev = dh_direct + dgh @ weight_hh                  # (B, H)  gh = h_prev W_hhᵀ + …
    dweight_hh = dgh.T @ h_prev                            # (3H, H) gh = h_prev W_hhᵀ + …
    dbias_ih = dgi.sum(axis=0) if has_bias else None       # (3H,)   gi = … + b_ih
    dx = dgi @ weight_ih                                   # (B, I)  gi = x W_ihᵀ + …
    dweight_ih = dgi.T @ x                                 # (3H, I) gi = x W_ihᵀ + …
    return GRUCellGrads(dx, dh_prev, dweight_ih, dweight_hh, dbias_ih, dbias_hh)


def gru_cell_forward(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step: ``h1, cache = gru_cell_forward(x, state, weight_ih, weight_hh, ...)``.

    x (B, I) or unbatched (I,);  state: h (B, H) or (H,), or None for 0
    weight_ih (3H, I), weight_hh (3H, H), bias_ih, bias_hh (3H,) or None
    returns h1 shaped like h, and a ``GRUStepCache``
    """
    xp, I, H = check_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, unbatched = check_step_x(x, weight_ih, I, state=state)               # (B, I)
    h_prev = check_hidden("state", state, x.shape[0], H, unbatched, x.dtype, xp)  # (B, H)
    h1, cache = gru_step_forward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    return drop_batch_axis(unbatched, 0, h1), cache._replace(unbatched=unbatched)


def gru_cell_backward(dh, cache) -> GRUCellGrads:
    """Gradients of one GRU step from dh = ∂L/∂h1 (None: zeros): ``GRUCellGrads``."""
    check_cache(cache, GRUStepCache, "reference.gru_cell_forward")
    B, H = cache.h_prev.shape
    xp = check_arrays({"x (from the cache)": cache.x, "dh": dh})
    dh = check_step_upstream("dh", dh, B, H, cache.unbatched, cache.x.dtype, xp)    # (B, H)
    grads = gru_step_backward(dh, cache)
    x, h_prev = drop_batch_axis(cache.unbatched, 0, grads.x, grads.h_prev)
    return grads._replace(x=x, h_prev=h_prev)


def gru_forward(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None, *, lengths=None,
                reverse=False, keep_cache=True):
    """One GRU layer, one direction, a loop of ``gru_step_forward``: ``(output, h_n), cache``.

    x (T, B, I) or unbatched (T, I);  state: h0 (B, H) (unbatched (H,)) or None;  lengths and
    reverse as for ``lstm_forward``.  returns output (T, B, H), h_n (B, H) (unbatched: no
    B axis) and a ``GRULoopCache``, or None with keep_cache=False
    """
    xp, I, H = check_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh)
    x, unbatched = check_sequence_x(x, weight_ih, I, state=state)          # (T, B, I)
    T, B = x.shape[:2]
    h = check_hidden("state", state, B, H, unbatched, x.dtype, xp)          # (B, H)
    lengths = xp.asarray(np.full(B, T) if lengths is None else check_lengths(lengths, T, B))
    if reverse:
        x = reverse_within_lengths(x, lengths)         # the walk below is then forward
    steps, outputs = [], []
    for t in range(T):
        running = (t < lengths)[:, None]                               # (B, 1) not yet ended
        x_t = xp.where(running, x[t], 0)               # (B, I) padding (even NaN) reads as 0
        h_t, step = gru_step_forward(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh)
        h = xp.where(running, h_t, h)                  # (B, H) ended rows keep their state
        outputs.append(xp.where(running, h_t, 0))      # (B, H) and output 0
        if keep_cache:
            steps.append(step)
    output = xp.stack(outputs)                                         # (T, B, H)
    if reverse:
        output = reverse_within_lengths(output, lengths)   # back to the input's time order
    cache = GRULoopCache(steps, lengths, reverse, unbatched) if keep_cache else None
    output = drop_batch_axis(unbatched, 1, output)        # (T, H) for a (T, I) input
    return (output, drop_batch_axis(unbatched, 0, h)), cache


def gru_backward(doutput, dh_n, cache, *, record=None) -> GRUGrads:
    """Backpropagation through time: ``gru_step_backward`` for t = T−1 … 0, carrying dh.

    doutput (T, B, H), dh_n (B, H) (unbatched: no B axis), each None for zeros; doutput at
    padded steps is ignored.  record: None or a dict that receives record["dh"][t] =
    ‖∂L/∂h_t‖ over the batch, host float64 (T,) indexed by input time
    returns ``GRUGrads``; weight gradients are sums over the steps
    """
    check_cache(cache, GRULoopCache, "reference.gru_forward (with keep_cache=True)")
    check_record(record)
    steps, lengths, reverse, unbatched = cache
    x, h0 = steps[0].x, steps[0].h_prev                                # (B, I), (B, H)
    T, (B, H) = len(steps), h0.shape
    xp = check_arrays({"x (from the cache)": x, "doutput": doutput, "dh_n": dh_n})
    doutput, dh, _ = check_sequence_upstream(doutput, dh_n, None, T, B, H, H, unbatched,
                                             x.dtype, xp, cell=False, p_letter="H")
    if reverse:
        doutput = reverse_within_lengths(doutput, lengths)   # into the walk's order
    step_grads, dh_squares = [], []
    for t in reversed(range(T)):
        running = (t < lengths)[:, None]                               # (B, 1)
        dh_t = xp.where(running, doutput[t] + dh, 0)   # (B, H) ∂L/∂h_t: output + step t+1
        grads = gru_step_backward(dh_t, steps[t])
        dh = xp.where(running, grads.h_prev, dh)       # (B, H) ended rows pass dh_n back
        step_grads.insert(0, grads)                    # kept in time order t = 0 … T−1
        dh_squares.insert(0, (dh_t * dh_t).sum(axis=-1))               # (B,)
    dx = xp.stack([g.x for g in step_grads])                           # (T, B, I)
    if reverse:
        dx = reverse_within_lengths(dx, lengths)
    if record is not None:
        squares = xp.stack(dh_squares)                                 # (T, B)
        if reverse:
            squares = reverse_within_lengths(squares, lengths)
        record["dh"] = asnumpy(squares).astype(np.float64).sum(axis=1) ** 0.5   # (T,)
    has_bias = steps[0].has_bias
    dweight_ih = sum(g.weight_ih for g in step_grads)                 # (3H, I) Σ over t
    dweight_hh = sum(g.weight_hh for g in step_grads)                 # (3H, H)
    dbias_ih = sum(g.bias_ih for g in step_grads) if has_bias else None   # (3H,)
    dbias_hh = sum(g.bias_hh for g in step_grads) if has_bias else None   # (3H,)
    return GRUGrads(drop_batch_axis(unbatched, 1, dx), drop_batch_axis(unbatched, 0, dh),
                    dweight_ih, dweight_hh, dbias_ih, dbias_hh)


def _thirds(a):
    """Views (r, z, n), each (..., H), of the stacked GRU blocks (..., 3H)."""
    H = a.shape[-1] // 3
    return a[..., :H], a[..., H:2 * H], a[..., 2 * H:]


class GRUStepCache(NamedTuple):
    """What ``gru_step_backward`` reads, saved by ``gru_step_forward`` (batched shapes)."""

    x: object          # (B, I)
    h_prev: object     # (B, H)   the hidden state the step read
    r: object          # (B, H)   reset gate
    z: object          # (B, H)   update gate
    n: object          # (B, H)   candidate
    gh_n: object       # (B, H)   h_prev W_hnᵀ + b_hn, the term r multiplies
    weight_ih: object  # (3H, I)  references, not copies
    weight_hh: object  # (3H, H)
    has_bias: bool
    unbatched: bool    # gru_cell_forward was given (I,) and returned (H,)


class GRULoopCache(NamedTuple):
    """What ``gru_backward`` reads, saved by ``gru_forward`` (in the walk's order)."""

    steps: list        # T GRUStepCaches
    lengths: object    # (B,) ints
    reverse: bool
    unbatched: bool
