"""The hand-written JVPs: against central differences of the forward, and the adjoint test."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F
from nplstm.gradcheck import (CELL_NAMES, SEQUENCE_NAMES, cell_jvp, cell_pair,
                              random_cell_case, random_sequence_case, sequence_jvp,
                              sequence_pair)

from .helpers import directional_difference, flatten, rel_error
from .strategies import seed, size, small_size


def _random_tangents(rng, inputs):
    return [None if a is None or a.dtype.kind != "f" else rng.standard_normal(a.shape)
            for a in inputs]


@given(B=size, I=size, H=small_size, seed=seed, bias=st.booleans(), state=st.booleans(),
       unbatched=st.booleans())
def test_cell_jvp_matches_differences_and_the_forward(B, I, H, seed, bias, state, unbatched):
    rng = np.random.default_rng(seed)
    inputs = random_cell_case(rng, B, I, H, bias, state, unbatched)
    tangents = _random_tangents(rng, inputs)
    out, out_dot = cell_jvp(inputs, tangents)
    numeric = directional_difference(cell_jvp, inputs, tangents)
    for a, n in zip(flatten(out_dot), numeric):
        assert rel_error(a, n) < 1e-7
    forward_out, _ = cell_pair()[0](*inputs)
    for a, b in zip(flatten(out), flatten(forward_out)):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=20)
@given(T=small_size, B=small_size, I=small_size, H=small_size, seed=seed,
       reverse=st.booleans(), proj=st.booleans(), ragged=st.booleans())
def test_sequence_jvp_matches_differences_and_the_forward(T, B, I, H, seed, reverse, proj,
                                                          ragged):
    rng = np.random.default_rng(seed)
    P = 1 if proj and H > 1 else 0
    inputs = random_sequence_case(rng, T, B, I, H, P)
    lengths = [int(v) for v in rng.integers(1, T + 1, size=B)] if ragged else None
    jvp = sequence_jvp(lengths, reverse)
    tangents = _random_tangents(rng, inputs)
    out, out_dot = jvp(inputs, tangents)
    for a, n in zip(flatten(out_dot), directional_difference(jvp, inputs, tangents)):
        assert rel_error(a, n) < 1e-6
    forward_out, _ = sequence_pair(lengths, reverse)[0](*inputs)
    for a, b in zip(flatten(out), flatten(forward_out)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


@settings(max_examples=20)
@given(T=small_size, B=small_size, I=small_size, H=small_size, seed=seed,
       reverse=st.booleans(), proj=st.booleans(), ragged=st.booleans())
def test_adjoint_identity_holds_to_round_off(T, B, I, H, seed, reverse, proj, ragged):
    rng = np.random.default_rng(seed)
    P = 1 if proj and H > 1 else 0
    inputs = random_sequence_case(rng, T, B, I, H, P)
    lengths = [int(v) for v in rng.integers(1, T + 1, size=B)] if ragged else None
    report = nplstm.adjoint_check(sequence_jvp(lengths, reverse),
                                  sequence_pair(lengths, reverse), inputs,
                                  names=SEQUENCE_NAMES, seed=seed)
    assert report.passed
    cell = nplstm.adjoint_check(cell_jvp, cell_pair(), random_cell_case(rng, B, I, H),
                                names=CELL_NAMES, seed=seed)
    assert cell.passed and max(r.max_rel_error for r in cell.inputs) < 1e-12


def test_unbatched_sequence_tangents_drop_the_batch_axis():
    rng = np.random.default_rng(0)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, _ = random_sequence_case(rng, 3, 1, 2, 2)
    x, h0, c0 = x[:, 0], h0[0], c0[0]
    t = F.SequenceTangents(x=rng.standard_normal(x.shape), c0=rng.standard_normal(c0.shape))
    (out, (h_n, c_n)), (out_dot, (h_n_dot, c_n_dot)) = F.lstm_jvp(
        x, (h0, c0), w_ih, w_hh, b_ih, b_hh, tangents=t)
    assert out.shape == out_dot.shape == (3, 2) and h_n_dot.shape == c_n_dot.shape == (2,)


def test_float32_jvp_keeps_its_dtype_and_passes_the_adjoint_test():
    rng = np.random.default_rng(1)
    inputs = random_cell_case(rng, 3, 4, 5, dtype=np.float32)
    tangents = [a.copy() for a in inputs]
    (h, c), (h_dot, c_dot) = cell_jvp(inputs, tangents)
    assert h_dot.dtype == c_dot.dtype == np.float32
    assert nplstm.adjoint_check(cell_jvp, cell_pair(), inputs, names=CELL_NAMES).passed


def test_bad_tangents_are_clear_errors():
    rng = np.random.default_rng(0)
    x, h, c, w_ih, w_hh, b_ih, b_hh = random_cell_case(rng, 2, 3, 4)
    with pytest.raises(ValueError, match="tangents.x must have shape"):
        F.lstm_cell_jvp(x, (h, c), w_ih, w_hh, tangents={"x": np.ones((3, 3))})
    with pytest.raises(ValueError, match="tangents.bias_ih was given, but the forward has no"):
        F.lstm_cell_jvp(x, (h, c), w_ih, w_hh, tangents=F.CellTangents(bias_ih=b_ih))
    with pytest.raises(ValueError, match="unknown fields"):
        F.lstm_cell_jvp(x, (h, c), w_ih, w_hh, tangents={"h0": h})
    with pytest.raises(TypeError, match="tangents must be a CellTangents"):
        F.lstm_cell_jvp(x, (h, c), w_ih, w_hh, tangents=[x])
    with pytest.raises(TypeError, match="tangents.x has dtype float32"):
        F.lstm_cell_jvp(x, (h, c), w_ih, w_hh, tangents={"x": x.astype(np.float32)})


def test_adjoint_check_validates_its_arguments():
    inputs = random_cell_case(np.random.default_rng(0), 2, 3, 4)
    with pytest.raises(TypeError, match="vjp must be"):
        nplstm.adjoint_check(cell_jvp, 3, inputs)
    with pytest.raises(ValueError, match="trials must be a positive int"):
        nplstm.adjoint_check(cell_jvp, cell_pair(), inputs, trials=0)
