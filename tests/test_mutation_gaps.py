"""Tests written for the mutants of the backward passes that the rest of the suite let live.

docs/mutation.md lists every mutant (tests/mutation/mutate.py, one ``ast`` mutation at a
time) that survived the suite, and says for each either why it computes the same numbers
(an equivalent mutant) or which test below kills it.  Each test here names the mutants it
was written for; expected values come from independent formulas (NumPy one-liners of the
definitions) or from the reference layer, never from the function under test.
"""

import numpy as np
import pytest

from nplstm import functional as F
from nplstm.functional import sequence

from .helpers import rel_error
from .test_reference import (check_sequence_against_reference, sequence_inputs,
                             sequence_upstream)

TOL = 1e-12            # float64 round-off


def _rng(seed):
    return np.random.default_rng(seed)


# -- sequence._backward_chunk -------------------------------------------------------------

@pytest.mark.parametrize("T, B, H", [(500, 3, 7), (9, 40, 2), (3, 1, 1000), (1000, 64, 1),
                                     (10, 64, 512)])
def test_backward_chunk_is_the_most_steps_whose_factors_fit(T, B, H):
    """S = min(T, ⌊E / (B·5H)⌋) steps (at least 1), E = _BACKWARD_CHUNK_ELEMENTS: the chunk's
    (S, B, 5H) factors fit in E elements, one more step would not (unless S = T).  Written
    for max(1, …) → max(0, …) (sequence._backward_chunk#3): 0 steps, a crash, once one
    step's factors alone exceed E (B·5H = 163840 at B = 64, H = 512)."""
    E = sequence._BACKWARD_CHUNK_ELEMENTS
    S = sequence._backward_chunk(T, B, H)
    assert 1 <= S <= T
    assert S == 1 or S * B * 5 * H <= E
    assert S == T or (S + 1) * B * 5 * H > E


def test_lstm_backward_walks_chunks_of_backward_chunk_steps(monkeypatch):
    """F.lstm_backward computes its factors in chunks of _backward_chunk(T, B, H) steps, the
    last chunk first.  Written for _backward_chunk(B, T, H) in lstm_backward
    (sequence.lstm_backward#32): the same gradients, but chunks sized by the batch (here
    1 step instead of 5; at T = 500, B = 3, H = 7: 3 instead of 500)."""
    T, B, I, H = 12, 2, 3, 3
    monkeypatch.setattr(sequence, "_BACKWARD_CHUNK_ELEMENTS", 5 * B * 5 * H)
    calls, chunk_factors = [], sequence._chunk_factors

    def spy(kernels, gates, c_all, c0_w, tanh_all, t0, t1, factors, dc_gain):
        calls.append((t0, t1))
        return chunk_factors(kernels, gates, c_all, c0_w, tanh_all, t0, t1, factors, dc_gain)

    monkeypatch.setattr(sequence, "_chunk_factors", spy)
    rng = _rng(5)
    inputs = sequence_inputs(rng, T, B, I, H, 0, bias=True, state=True)
    _, cache = F.lstm_forward(*inputs)
    F.lstm_backward(*sequence_upstream(rng, T, B, H, H, ("doutput",)), cache)
    assert calls == [(10, 12), (5, 10), (0, 5)]


def test_a_last_chunk_of_several_steps_but_fewer_than_a_chunk(monkeypatch):
    """T = 8 in chunks of 3 steps: [0, 3), [3, 6) and a last one [6, 8) of two steps.
    tests/test_reference.py's chunked test has T = 7, whose last chunk is one step (or
    whole), and a one-step input broadcasts over an output slice that is too long: the
    slices factors[s : t1 − t0 + 1] and [s : t1 + t0] in _chunk_factors
    (sequence._chunk_factors#45, #47, #50, #52) went unseen; here they raise."""
    T, B, H = 8, 3, 2
    monkeypatch.setattr(sequence, "_BACKWARD_CHUNK_ELEMENTS", 3 * B * 5 * H)
    assert sequence._backward_chunk(T, B, H) == 3
    rng = _rng(4)
    for lengths, reverse, proj in [(None, False, 0), ([8, 5, 7], True, 1)]:
        inputs = sequence_inputs(rng, T, B, 3, H, proj, bias=True, state=True)
        upstream = sequence_upstream(rng, T, B, H, proj or H, ("doutput", "dh_n", "dc_n"))
        check_sequence_against_reference(inputs, upstream, lengths, reverse)


# -- embedding_backward: dy = None and the message of a wrong dy --------------------------

def test_embedding_backward_of_none_is_zeros_and_a_wrong_dy_is_named():
    """dy = None means zeros (every backward's rule), and a dy of the wrong shape is refused
    naming dy, the expected (..., E) and "like the forward's output".  Written for
    check_upstream(..., xp, "like the forward's output") with the last two swapped
    (linear.embedding_backward#5): dy = None then raised an AttributeError."""
    weight = _rng(1).standard_normal((4, 3))
    indices = np.array([[0, 2], [3, 3]])
    _, cache = F.embedding_forward(indices, weight, padding_idx=2)
    grads = F.embedding_backward(None, cache)
    assert grads.weight.shape == (4, 3) and grads.weight.dtype == weight.dtype
    assert not grads.weight.any()
    with pytest.raises(ValueError, match=r"dy.*\(\.\.\., E\).*like the forward's output"):
        F.embedding_backward(np.zeros((2, 2, 4)), cache)


# -- cross_entropy_backward: a second backward on the same cache ----------------------------

def test_cross_entropy_backward_twice_on_one_cache_gives_the_formula_both_times():
    """∂L/∂z = dloss · (softmax(z) − onehot(t)) / M on the valid rows, 0 on the ignored ones,
    computed here from the definition; a second backward on the same cache (another dloss)
    must give it again.  Written for probs.copy() → probs (losses.cross_entropy_backward#8):
    the first backward then overwrote the cache's softmax, and the second was wrong."""
    rng = _rng(2)
    N, C = 6, 4
    logits = 2 * rng.standard_normal((N, C))
    targets = rng.integers(0, C, N)
    targets[[1, 4]] = -100                                  # ignored rows
    _, cache = F.cross_entropy_forward(logits, targets)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)   # (N, C)
    onehot = np.eye(C)[np.where(targets >= 0, targets, 0)]                 # (N, C)
    valid = (targets >= 0)[:, None]
    for dloss in (1.0, 0.37, 1.0):
        want = np.where(valid, dloss * (softmax - onehot) / valid.sum(), 0.0)
        got = F.cross_entropy_backward(dloss, cache).logits
        assert rel_error(got, want) <= TOL


# -- every gradient its own array -------------------------------------------------------------

def _lstm_grads(layer, rng):
    """Cell and sequence gradients of ``layer`` (F or reference), with bias and projection."""
    T, B, I, H, P = 3, 2, 3, 4, 2
    r = rng.standard_normal
    w_cell = (r((4 * H, I)), r((4 * H, H)), r(4 * H), r(4 * H))
    _, cache = layer.lstm_cell_forward(r((B, I)), (r((B, H)), r((B, H))), *w_cell)
    cell = layer.lstm_cell_backward(r((B, H)), r((B, H)), cache)
    w_seq = (r((4 * H, I)), r((4 * H, P)), r(4 * H), r(4 * H), r((P, H)))
    _, cache = layer.lstm_forward(r((T, B, I)), (r((B, P)), r((B, H))), *w_seq)
    seq = layer.lstm_backward(r((T, B, P)), r((B, P)), r((B, H)), cache)
    return cell, seq


@pytest.mark.parametrize("layer", [F, F.reference], ids=["fast", "reference"])
def test_no_two_gradients_share_memory(layer):
    """Each gradient is an array of its own, so scaling or clipping one in place (an
    optimiser, a user) leaves the others alone; bias_ih and bias_hh are equal values but two
    arrays.  Written for dbias.copy() → dbias in F.lstm_backward (sequence.lstm_backward#237),
    which gave one array twice."""
    for grads in _lstm_grads(layer, _rng(3)):
        fields = [(name, a) for name, a in zip(grads._fields, grads) if a is not None]
        assert len(fields) >= 7
        for k, (name, a) in enumerate(fields):
            for other, b in fields[k + 1:]:
                assert not np.shares_memory(a, b), (type(grads).__name__, name, other)
