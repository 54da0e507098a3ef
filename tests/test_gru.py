"""``nplstm.GRUCell``, ``nplstm.GRU`` and ``functional.gru_*``: torch's GRU on arrays.

    golden     every case of tests/fixtures/gru.npz (torch.nn.GRUCell's and torch.nn.GRU's
               results, written by make_gru_fixtures.py) rerun without torch, relative error
               ≤ 1e-12 in float64; padded outputs and dx exactly 0; the no_grad forward
               (chunked input projection, no cache) gives the same outputs
    live       hypothesis draws configurations of every option and compares with torch
    reference  the fast functions against their textbook twins (reference.py), ≤ 1e-12:
               forward, inference forward, every gradient and record["dh"]
    gradcheck  central differences (float64) of the cell (fast and reference), one layer
               and the module (layers, directions, lengths, dropout), on hypothesis-drawn
               sizes with size-1 edges, nonzero states, biases and upstream gradients (the
               checker projects the outputs on random directions)
    jvp        the hand JVPs against central differences, and ⟨J v, u⟩ = ⟨v, Jᵀ u⟩ with the
               hand backwards (nplstm.adjoint_check)
    refused    bad arguments: a ValueError/TypeError naming the argument, nothing changed
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F
from nplstm.functional import reference as R
from nplstm.functional import sequence

from . import gru_reference as gref
from .helpers import directional_difference, flatten, rel_error
from .snapshots import assert_unchanged, snapshot
from .strategies import lengths_or_none, module_configs, seed as seeds, size, small_size
from .test_parity import _assert_close, _case_names, _load_case

EXAMPLES = max(3, settings.default.max_examples // 3)   # ci: 10 draws per property
GRU_FILE = "gru.npz"
TOL = gref.GRU_TOL
CELL_NAMES = ["x", "h", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
LAYER_NAMES = ["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]


def _random_weights(rng, I, H, bias=True):
    """weight_ih (3H, I), weight_hh (3H, H), biases (3H,) (or None) of torch's scale."""
    bound = 1.0 / np.sqrt(H)
    uniform = lambda *shape: rng.uniform(-bound, bound, shape)  # noqa: E731
    return [uniform(3 * H, I), uniform(3 * H, H),
            *((uniform(3 * H), uniform(3 * H)) if bias else (None, None))]


# -- golden fixtures (torch's results; torch not imported) ---------------------------------------

def test_fixtures_cover_what_the_gru_promises():
    configs = [_load_case(GRU_FILE, name)[0] for name in _case_names(GRU_FILE)]
    cells = [c for c in configs if c["kind"] == "gru_cell"]
    layers = [c for c in configs if c["kind"] == "gru"]
    assert len(cells) >= 6 and len(layers) >= 12
    assert {c["bias"] for c in cells} == {c["state"] for c in cells} == {True, False}
    assert any(c["batch"] is None for c in cells) and max(c["steps"] for c in cells) > 1
    for key in ("bias", "batch_first", "bidirectional", "state", "dstate"):
        assert {c[key] for c in layers} == {True, False}, key
    assert max(c["num_layers"] for c in layers) == 3
    assert any(c["lengths"] for c in layers) and any(c["batch"] is None for c in layers)
    assert any(c["dropout"] > 0 for c in layers)          # eval mode: no dropout, as torch's


@pytest.mark.parametrize("name", _case_names(GRU_FILE))
def test_golden_gru(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)      # any `import torch` fails
    config, data = _load_case(GRU_FILE, name)
    got = gref.run_nplstm(config, data)
    _assert_close(got, data, TOL)
    if config["kind"] == "gru_cell":
        return
    if config["lengths"] is not None:   # padded positions: exactly zero output and dx
        pad = np.arange(config["T"])[:, None] >= np.asarray(config["lengths"])   # (T, B)
        if config["batch_first"]:
            pad = pad.T                                                           # (B, T)
        assert not got["out/output"][pad].any()
        assert not got["grad/x"][pad].any()
    for key, value in gref.run_nplstm_inference(config, data).items():
        assert rel_error(value, data[key]) <= TOL, key


# -- live against torch ------------------------------------------------------------------------

@st.composite
def gru_configs(draw):
    """A GRUCell run of 1 to 3 steps, or a GRU config of the shared ``module_configs``."""
    if draw(st.booleans()):
        batch = draw(st.one_of(st.none(), st.integers(1, 4)))
        return {"kind": "gru_cell", "input_size": draw(st.integers(1, 5)),
                "hidden_size": draw(st.integers(1, 5)), "bias": draw(st.booleans()),
                "batch": batch, "state": draw(st.booleans()), "steps": draw(st.integers(1, 3))}
    return draw(module_configs("gru", max_size=5, max_T=6))


@pytest.mark.torch
@settings(max_examples=max(10, settings.default.max_examples), deadline=None, database=None)
@given(config=gru_configs(), seed=seeds)
def test_live_against_torch(config, seed):
    pytest.importorskip("torch")
    inputs = gref.make_inputs(config, seed)
    _assert_close(gref.run_nplstm(config, inputs), gref.run_torch(config, inputs), TOL)


@pytest.mark.torch
def test_torch_state_dict_loads_and_init_matches_torch():
    torch = pytest.importorskip("torch")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        t_gru = torch.nn.GRU(4, 3, num_layers=2, bidirectional=True, dtype=torch.float64)
        t_cell = torch.nn.GRUCell(4, 3, dtype=torch.float64)
    x = np.random.default_rng(2).standard_normal((5, 2, 4))
    gru = nplstm.GRU(4, 3, 2, bidirectional=True, dtype="float64", seed=1)
    cell = nplstm.GRUCell(4, 3, dtype="float64", seed=1)
    for t_module, module, inputs in ((t_gru, gru, x), (t_cell, cell, x[0])):
        sd = {k: v.numpy() for k, v in t_module.state_dict().items()}
        mine = module.state_dict()
        assert [(k, v.shape) for k, v in mine.items()] == [(k, v.shape) for k, v in sd.items()]
        module.load_state_dict(sd)
        with torch.no_grad():
            want = t_module(torch.from_numpy(inputs))
        with nplstm.no_grad():
            got = module(inputs)
        if module is cell:
            got, want = (got,), (want,)
        for a, b in zip(got, want):
            assert rel_error(a, b.numpy()) <= TOL


# -- parameters and init ---------------------------------------------------------------------------

def test_parameters_are_torchs_names_shapes_and_init():
    gru = nplstm.GRU(3, 16, num_layers=2, bidirectional=True, seed=0)
    config = {"kind": "gru", "input_size": 3, "hidden_size": 16, "num_layers": 2,
              "bidirectional": True, "bias": True}
    assert [(k, tuple(p.shape)) for k, p in gru.named_parameters()] == \
        list(gref.param_shapes(config).items())               # spelled out independently
    cell = nplstm.GRUCell(3, 16, seed=0)
    assert [(k, tuple(p.shape)) for k, p in cell.named_parameters()] == \
        list(gref.param_shapes(dict(config, kind="gru_cell")).items())
    bound = 1 / np.sqrt(16)
    for module in (gru, cell):
        values = np.concatenate([p.data.ravel() for p in module.parameters()])
        assert values.dtype == np.float32 and np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.9 * bound and abs(values.mean()) < 0.1 * bound
    same = nplstm.GRU(3, 16, num_layers=2, bidirectional=True, seed=0)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(gru.parameters(),
                                                             same.parameters()))
    for module in (nplstm.GRU(2, 2, bias=False), nplstm.GRUCell(2, 2, bias=False)):
        assert not any(k.startswith("bias") for k, _ in module.named_parameters())
    assert repr(nplstm.GRU(3, 4, 2, batch_first=True, seed=0)) == \
        "GRU(3, 4, num_layers=2, batch_first=True, dtype=float32)"
    assert repr(nplstm.GRUCell(3, 4, dtype="float64")) == \
        "GRUCell(3, 4, dtype=float64)"


# -- the fast functions against the textbook reference ------------------------------------------

@settings(max_examples=EXAMPLES, deadline=None)
@given(B=size, I=size, H=size, bias=st.booleans(), state=st.booleans(),
       unbatched=st.booleans(), seed=seeds)
def test_cell_matches_the_reference(B, I, H, bias, state, unbatched, seed):
    rng = np.random.default_rng(seed)
    lead = () if unbatched else (B,)
    x = rng.standard_normal((*lead, I))
    h = rng.standard_normal((*lead, H)) if state else None
    weights = _random_weights(rng, I, H, bias)
    dh = rng.standard_normal((*lead, H))
    h1, cache = F.gru_cell_forward(x, h, *weights)
    h1_ref, cache_ref = R.gru_cell_forward(x, h, *weights)
    assert h1.shape == (*lead, H) and rel_error(h1, h1_ref) <= TOL
    grads, grads_ref = F.gru_cell_backward(dh, cache), R.gru_cell_backward(dh, cache_ref)
    assert type(grads) is type(grads_ref) is F.GRUCellGrads
    for name, got, want in zip(grads._fields, grads, grads_ref):
        if want is None:
            assert got is None, name
        else:
            assert got.shape == want.shape and rel_error(got, want) <= TOL, name


@settings(max_examples=EXAMPLES, deadline=None)
@given(T=size, B=size, I=size, H=size, bias=st.booleans(), state=st.booleans(),
       unbatched=st.booleans(), reverse=st.booleans(), data=st.data(), seed=seeds)
def test_layer_matches_the_reference(T, B, I, H, bias, state, unbatched, reverse, data, seed):
    rng = np.random.default_rng(seed)
    B = 1 if unbatched else B
    lengths = data.draw(lengths_or_none(T, B))
    lead = () if unbatched else (B,)
    x = rng.standard_normal((T, *lead, I))
    h0 = rng.standard_normal((*lead, H)) if state else None
    weights = _random_weights(rng, I, H, bias)
    dout, dh_n = rng.standard_normal((T, *lead, H)), rng.standard_normal((*lead, H))
    options = dict(lengths=lengths, reverse=reverse)
    (out, h_n), cache = F.gru_forward(x, h0, *weights, **options)
    (out_ref, h_n_ref), cache_ref = R.gru_forward(x, h0, *weights, **options)
    (out_inf, h_n_inf), none = F.gru_forward(x, h0, *weights, keep_cache=False, **options)
    assert none is None and out.shape == (T, *lead, H) and h_n.shape == (*lead, H)
    for got in (out, out_inf):
        assert rel_error(got, out_ref) <= TOL
    for got in (h_n, h_n_inf):
        assert rel_error(got, h_n_ref) <= TOL
    record, record_ref = {}, {}
    grads = F.gru_backward(dout, dh_n, cache, record=record)
    grads_ref = R.gru_backward(dout, dh_n, cache_ref, record=record_ref)
    assert type(grads) is type(grads_ref) is F.GRUGrads
    for name, got, want in zip(grads._fields, grads, grads_ref):
        if want is None:
            assert got is None, name
        else:
            assert got.shape == want.shape and rel_error(got, want) <= TOL, name
    assert set(record) == set(record_ref) == {"dh"}
    assert record["dh"].dtype == np.float64 and record["dh"].shape == (T,)
    assert rel_error(record["dh"], record_ref["dh"]) <= TOL
    # the last step's total gradient is the upstream alone: doutput_T−1 + dh_n (one sequence)
    if lengths is None and not reverse:
        want = np.linalg.norm(dout[-1] + dh_n)
        assert abs(record_ref["dh"][-1] - want) <= 1e-12 * want


def test_long_sequences_walk_the_chunks_the_same_way():
    """Sequences long enough for several backward chunks of factors, for the contiguous copy
    of W_hhᵀ and (without a cache) for several chunks of the input projection: the fast
    layer still equals the reference."""
    rng = np.random.default_rng(11)
    T, B, I, H = 60, 2, 3, 300
    assert T > sequence._BACKWARD_CHUNK_ELEMENTS // (B * 6 * H)           # chunks of 36
    assert T >= sequence._TRANSPOSE_MIN_STEPS
    weights = _random_weights(rng, I, H)
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((B, H))
    dout, dh_n = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))
    for lengths in (None, [60, 31]):
        (out, h_n), cache = F.gru_forward(x, h0, *weights, lengths=lengths)
        (out_ref, h_n_ref), cache_ref = R.gru_forward(x, h0, *weights, lengths=lengths)
        assert rel_error(out, out_ref) <= TOL and rel_error(h_n, h_n_ref) <= TOL
        grads = F.gru_backward(dout, dh_n, cache)
        grads_ref = R.gru_backward(dout, dh_n, cache_ref)
        for name, got, want in zip(grads._fields, grads, grads_ref):
            assert rel_error(got, want) <= TOL, name
    T, H = 1100, 400               # inference chunks of max(2^20 / (B·3H), 1024 / B) steps
    assert T > max(sequence._INFERENCE_CHUNK_ELEMENTS // (3 * H),
                   sequence._INFERENCE_CHUNK_MIN_ROWS)
    weights = _random_weights(rng, I, H)
    x, h0 = rng.standard_normal((T, I)), rng.standard_normal(H)
    (out, h_n), _ = F.gru_forward(x, h0, *weights, keep_cache=False)
    (out_ref, h_n_ref), _ = R.gru_forward(x, h0, *weights, keep_cache=False)
    assert rel_error(out, out_ref) <= TOL and rel_error(h_n, h_n_ref) <= TOL


# -- gradients: central differences -------------------------------------------------------------

def _cell_pair(functions):
    def forward(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
        return functions.gru_cell_forward(x, h, weight_ih, weight_hh, bias_ih, bias_hh)

    def backward(dh, cache):
        return functions.gru_cell_backward(dh, cache)

    return forward, backward


def _layer_pair(lengths=None, reverse=False):
    def forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
        return F.gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                             reverse=reverse)

    def backward(doutput, cache):
        output_grad, dh_n = doutput
        return F.gru_backward(output_grad, dh_n, cache)

    return forward, backward


def _module_pair(module, lengths=None, dropout_seed=None):
    """(forward, backward, names) of a GRU module as a function of (x, h0, *parameters);
    with ``dropout_seed`` the dropout masks repeat every call."""
    names = ["x", "h0"] + [name for name, _ in module.named_parameters()]

    def forward(x, h0, *values):
        for p, v in zip(module.parameters(), values):
            p.data = v
        if dropout_seed is not None:
            module.dropout_generator = np.random.default_rng(dropout_seed)
        module.clear_tape()
        return module(x, h0, lengths=lengths), module

    def backward(doutput, m):
        output_grad, dh_n = doutput
        m.zero_grad()
        dx, dh0 = m.backward(output_grad, dh_n)
        return [dx, dh0] + [p.grad.copy() for p in m.parameters()]

    return forward, backward, names


@pytest.mark.parametrize("functions", [F, R], ids=["fast", "reference"])
@settings(max_examples=EXAMPLES, deadline=None)
@given(B=small_size, I=small_size, H=small_size, bias=st.booleans(), state=st.booleans(),
       unbatched=st.booleans(), seed=seeds)
def test_cell_gradients_match_central_differences(functions, B, I, H, bias, state, unbatched,
                                                  seed):
    rng = np.random.default_rng(seed)
    lead = () if unbatched else (B,)
    inputs = [rng.standard_normal((*lead, I)),
              rng.standard_normal((*lead, H)) if state else None,
              *_random_weights(rng, I, H, bias)]
    report = nplstm.gradcheck(*_cell_pair(functions), inputs, names=CELL_NAMES, seed=seed,
                              raise_exception=False)
    assert report.passed, str(report)
    assert [r.name for r in report.inputs if r.checked] == \
        [n for n, a in zip(CELL_NAMES, inputs) if a is not None]


@settings(max_examples=EXAMPLES, deadline=None)
@given(T=small_size, B=small_size, I=small_size, H=small_size, reverse=st.booleans(),
       bias=st.booleans(), data=st.data(), seed=seeds)
def test_layer_gradients_match_central_differences(T, B, I, H, reverse, bias, data, seed):
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((T, B, I)), rng.standard_normal((B, H)),
              *_random_weights(rng, I, H, bias)]
    lengths = data.draw(lengths_or_none(T, B))
    report = nplstm.gradcheck(*_layer_pair(lengths, reverse), inputs, names=LAYER_NAMES,
                              seed=seed, raise_exception=False)
    assert report.passed, str(report)


@settings(max_examples=EXAMPLES, deadline=None)
@given(T=st.integers(1, 3), B=st.integers(1, 3), I=st.integers(1, 3), H=st.integers(1, 3),
       layers=st.integers(1, 2), bidirectional=st.booleans(), bias=st.booleans(),
       data=st.data(), seed=seeds)
def test_module_gradients_match_central_differences(T, B, I, H, layers, bidirectional, bias,
                                                    data, seed):
    rng = np.random.default_rng(seed)
    module = nplstm.GRU(I, H, layers, bias=bias, bidirectional=bidirectional, dtype="float64",
                        seed=seed)
    D = 2 if bidirectional else 1
    inputs = [rng.standard_normal((T, B, I)), rng.standard_normal((layers * D, B, H))] + \
        [p.data for p in module.parameters()]
    forward, backward, names = _module_pair(module, lengths=data.draw(lengths_or_none(T, B)))
    report = nplstm.gradcheck(forward, backward, inputs, names=names, seed=seed,
                              raise_exception=False)
    assert report.passed, str(report)


# dropout's gradients against differences: tests/test_rnn.py, over RNN and GRU


# -- forward mode: the hand JVPs, against differences and in the adjoint test ------------------

def _cell_jvp(inputs, tangents):
    return F.gru_cell_jvp(*inputs, tangents=F.GRUCellTangents(*tangents))


def _layer_jvp(lengths=None, reverse=False):
    def jvp(inputs, tangents):
        return F.gru_jvp(*inputs, lengths=lengths, reverse=reverse,
                         tangents=F.GRUTangents(*tangents))
    return jvp


@settings(max_examples=EXAMPLES, deadline=None)
@given(T=small_size, B=small_size, I=small_size, H=small_size, bias=st.booleans(),
       unbatched=st.booleans(), reverse=st.booleans(), data=st.data(), seed=seeds)
def test_jvps_match_differences_and_the_forward(T, B, I, H, bias, unbatched, reverse, data,
                                                 seed):
    rng = np.random.default_rng(seed)
    B = 1 if unbatched else B
    lead = () if unbatched else (B,)
    weights = _random_weights(rng, I, H, bias)
    lengths = None if unbatched else data.draw(lengths_or_none(T, B))
    cases = [(_cell_jvp, [rng.standard_normal((*lead, I)), rng.standard_normal((*lead, H)),
                          *weights], _cell_pair(F)[0]),
             (_layer_jvp(lengths, reverse),
              [rng.standard_normal((T, *lead, I)), rng.standard_normal((*lead, H)), *weights],
              _layer_pair(lengths, reverse)[0])]
    for jvp, inputs, forward in cases:
        tangents = [None if a is None else rng.standard_normal(a.shape) for a in inputs]
        out, out_dot = jvp(inputs, tangents)
        for got, numeric in zip(flatten(out_dot), directional_difference(jvp, inputs, tangents)):
            assert rel_error(got, numeric) < 1e-7
        for got, want in zip(flatten(out), flatten(forward(*inputs)[0])):
            assert rel_error(got, want) <= TOL


@settings(max_examples=EXAMPLES, deadline=None)
@given(T=small_size, B=small_size, I=small_size, H=small_size, bias=st.booleans(),
       reverse=st.booleans(), data=st.data(), seed=seeds)
def test_adjoint_identity_holds_to_round_off(T, B, I, H, bias, reverse, data, seed):
    """⟨J v, u⟩ = ⟨v, Jᵀ u⟩: the JVPs and the hand backwards are each other's adjoints."""
    rng = np.random.default_rng(seed)
    weights = _random_weights(rng, I, H, bias)
    lengths = data.draw(lengths_or_none(T, B))
    layer = nplstm.adjoint_check(
        _layer_jvp(lengths, reverse), _layer_pair(lengths, reverse),
        [rng.standard_normal((T, B, I)), rng.standard_normal((B, H)), *weights],
        names=LAYER_NAMES, seed=seed)
    assert layer.passed
    cell = nplstm.adjoint_check(_cell_jvp, _cell_pair(F), [rng.standard_normal((B, I)),
                                                           rng.standard_normal((B, H)),
                                                           *weights],
                                names=CELL_NAMES, seed=seed)
    assert cell.passed and max(r.max_rel_error for r in cell.inputs) < 1e-12


def test_float32_jvp_keeps_its_dtype_and_passes_the_adjoint_test():
    rng = np.random.default_rng(1)
    inputs = [a.astype(np.float32) for a in [rng.standard_normal((3, 4)),
                                             rng.standard_normal((3, 5)),
                                             *_random_weights(rng, 4, 5)]]
    h, h_dot = _cell_jvp(inputs, [a.copy() for a in inputs])
    assert h.dtype == h_dot.dtype == np.float32
    assert nplstm.adjoint_check(_cell_jvp, _cell_pair(F), inputs, names=CELL_NAMES).passed


def test_bad_tangents_are_clear_errors():
    rng = np.random.default_rng(0)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    w_ih, w_hh, b_ih, _ = _random_weights(rng, 3, 4)
    with pytest.raises(ValueError, match="tangents.x must have shape"):
        F.gru_cell_jvp(x, h, w_ih, w_hh, tangents={"x": np.ones((3, 3))})
    with pytest.raises(ValueError, match="tangents.bias_ih was given, but the forward has no"):
        F.gru_cell_jvp(x, h, w_ih, w_hh, tangents=F.GRUCellTangents(bias_ih=b_ih))
    with pytest.raises(ValueError, match="unknown fields"):
        F.gru_cell_jvp(x, h, w_ih, w_hh, tangents={"c_prev": h})
    with pytest.raises(TypeError, match="tangents must be a GRUTangents"):
        F.gru_jvp(x[:, None], h[:1], w_ih, w_hh, tangents=F.GRUCellTangents())
    with pytest.raises(TypeError, match="tangents.h_prev has dtype float32"):
        F.gru_cell_jvp(x, h, w_ih, w_hh, tangents={"h_prev": h.astype(np.float32)})
    (out, h_n), (out_dot, h_n_dot) = F.gru_jvp(
        x, h[0], w_ih, w_hh, tangents={"x": np.ones(x.shape)})            # unbatched (T, I)
    assert out.shape == out_dot.shape == (2, 4) and h_n.shape == h_n_dot.shape == (4,)


# -- the tape, layouts, backends --------------------------------------------------------------

# the tape (last in, first out; unbatched = a batch of one): tests/test_rnn.py, over RNN and GRU


def test_cell_loop_equals_the_layer():
    """GRUCell stepped by hand over a sequence, backpropagated step by step, equals a
    one-layer GRU with the same parameters: outputs, dx, dh0 and the parameter gradients."""
    rng = np.random.default_rng(9)
    T, B, I, H = 4, 2, 3, 5
    gru = nplstm.GRU(I, H, dtype="float64", seed=1)
    cell = nplstm.GRUCell(I, H, dtype="float64", seed=2)
    cell.load_state_dict({k[:-3]: v for k, v in gru.state_dict().items()})   # drop "_l0"
    x, h0, dout = (rng.standard_normal(s) for s in ((T, B, I), (1, B, H), (T, B, H)))
    output, h_n = gru(x, h0)
    dx, dh0 = gru.backward(dout)
    h, hs = h0[0], []
    for t in range(T):
        h = cell(x[t], h)
        hs.append(h)
    assert rel_error(np.stack(hs), output) <= TOL and rel_error(h, h_n[0]) <= TOL
    dh_next, dx_cell = np.zeros((B, H)), np.empty_like(x)
    for t in reversed(range(T)):
        dx_cell[t], dh_next = cell.backward(dout[t] + dh_next)
    assert rel_error(dx_cell, dx) <= TOL and rel_error(dh_next, dh0[0]) <= TOL
    for (name, p), q in zip(cell.named_parameters(), gru.parameters()):
        assert rel_error(p.grad, q.grad) <= TOL, name


# lengths = each sequence run alone: tests/test_rnn.py, over RNN and GRU


def test_record_is_kept_per_layer_and_direction():
    rng = np.random.default_rng(3)
    gru = nplstm.GRU(2, 4, num_layers=2, bidirectional=True, dtype="float64", seed=2)
    output, _ = gru(rng.standard_normal((6, 3, 2)))
    record = {}
    gru.backward(rng.standard_normal(output.shape), record=record)
    assert set(record) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert all(set(r) == {"dh"} and r["dh"].shape == (6,) and (r["dh"] > 0).all()
               for r in record.values())


def test_float32_runs_in_float32_and_agrees_with_float64():
    rng = np.random.default_rng(6)
    g64 = nplstm.GRU(3, 4, num_layers=2, dtype="float64", seed=0)
    g32 = nplstm.GRU(3, 4, num_layers=2, seed=0)
    g64.load_state_dict({k: v.astype(np.float64) for k, v in g32.state_dict().items()})
    x, dout = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 4))
    out32, h32 = g32(x.astype(np.float32))
    out64, _ = g64(x)
    dx32, dh32 = g32.backward(dout.astype(np.float32))
    dx64, _ = g64.backward(dout)
    assert {a.dtype for a in (out32, h32, dx32, dh32)} == {np.dtype(np.float32)}
    assert {p.grad.dtype for p in g32.parameters()} == {np.dtype(np.float32)}
    tol = 100 * np.finfo(np.float32).eps
    assert rel_error(out32, out64) <= tol and rel_error(dx32, dx64) <= tol
    cell = nplstm.GRUCell(3, 4, seed=0)
    h = cell(x[0].astype(np.float32))
    dx, dh = cell.backward(np.ones_like(h))
    assert {a.dtype for a in (h, dx, dh)} == {np.dtype(np.float32)}


def test_gru_runs_on_every_backend(backend):
    rng = np.random.default_rng(8)
    x, dout = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 8))
    dh = rng.standard_normal((2, 4))
    results = {}
    for name, device, put in (("numpy", "cpu", lambda a: a), (backend.name, backend.device,
                                                              backend.put)):
        gru = nplstm.GRU(3, 4, bidirectional=True, dtype="float64", device=device, seed=0)
        out, h_n = gru(put(x), lengths=[4, 2])
        dx, dh0 = gru.backward(put(dout), None)
        with nplstm.no_grad():
            out_inf, _ = gru(put(x))
        cell = nplstm.GRUCell(3, 4, dtype="float64", device=device, seed=0)
        h = cell(put(x[0]), put(dh))
        dx_cell, dh_cell = cell.backward(put(dh))
        results[name] = [nplstm.backend.asnumpy(a) for a in
                         (out, h_n, dx, dh0, out_inf, h, dx_cell, dh_cell)] + \
            [nplstm.backend.asnumpy(p.grad) for m in (gru, cell) for p in m.parameters()]
    for got, want in zip(results[backend.name], results["numpy"]):
        backend.assert_close(got, want)


# -- refused ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, words", [
    (dict(dropout=1.0), ValueError, "dropout must be a number in [0, 1)"),
    (dict(num_layers=0), ValueError, "num_layers must be a positive int"),
    (dict(hidden_size=2.0), TypeError, "hidden_size must be a positive int"),
    (dict(bidirectional="yes"), TypeError, "bidirectional"),
    (dict(dtype="float16"), TypeError, "dtype"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(proj_size=2), TypeError, "proj_size"),              # an LSTM argument
])
def test_bad_settings_are_refused(kwargs, error, words):
    args = dict(input_size=3, hidden_size=4)
    args.update(kwargs)
    with pytest.raises(error) as info:
        nplstm.GRU(**args)
    assert words in str(info.value)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(input_size=0), ValueError, "input_size must be a positive int"),
    (dict(bias=1), TypeError, "bias"),
    (dict(dtype="int32"), TypeError, "dtype"),
])
def test_bad_cell_settings_are_refused(kwargs, error, words):
    args = dict(input_size=3, hidden_size=4)
    args.update(kwargs)
    with pytest.raises(error) as info:
        nplstm.GRUCell(**args)
    assert words in str(info.value)


# bad forward and backward inputs of GRU: tests/test_rnn.py, with the RNN (the one-state siblings)


@pytest.mark.parametrize("spoil, error, words", [
    (dict(x=np.zeros((2, 4))), ValueError, "x must have shape (B, I) = (2, 3)"),
    (dict(x=np.zeros((2, 3), np.float32)), TypeError, "x has dtype float32"),
    (dict(state=np.zeros((3, 5))), ValueError, "state must have shape (B, H) = (2, 5)"),
    (dict(state=(np.zeros((2, 5)), np.zeros((2, 5)))), TypeError,
     "state must be one array h or None (a GRU's or an RNN's state is h alone, not an "
     "LSTM's (h, c) pair), got tuple of length 2"),
])
def test_bad_cell_inputs_are_refused_and_change_nothing(spoil, error, words):
    rng = np.random.default_rng(2)
    cell = nplstm.GRUCell(3, 5, dtype="float64", seed=0)
    h = cell(rng.standard_normal((2, 3)))                # one entry on the tape
    args = dict(x=rng.standard_normal((2, 3)), state=rng.standard_normal((2, 5)))
    args.update(spoil)
    before = snapshot(cell, args)
    with pytest.raises(error) as info:
        cell(args["x"], args["state"])
    assert words in str(info.value)
    assert_unchanged(before, snapshot(cell, args))
    for dh, error, words in ((np.zeros((2, 4)), ValueError, "dh must have shape (B, H)"),
                             (np.zeros((2, 5), np.float32), TypeError, "dh has dtype float32"),
                             (np.zeros(5), ValueError, "dh must have shape (B, H)")):
        before = snapshot(cell, [dh])
        with pytest.raises(error, match=None) as info:
            cell.backward(dh)
        assert words in str(info.value)
        assert_unchanged(before, snapshot(cell, [dh]))
    dx, dh_prev = cell.backward(np.ones_like(h))         # the step is still there
    assert dx.shape == (2, 3) and dh_prev.shape == (2, 5)


@pytest.mark.parametrize("functions", [F, R], ids=["fast", "reference"])
@pytest.mark.parametrize("change, error, words", [
    (dict(bias_hh=None), ValueError, "bias_ih was given without bias_hh"),
    (dict(bias_ih=None), ValueError, "bias_hh was given without bias_ih"),
    (dict(weight_hh=np.zeros((12, 3))), ValueError, "weight_hh must have shape (3H, H) = (12, 4)"),
    (dict(weight_ih=np.zeros((13, 3))), ValueError, "weight_ih must have shape (3H, I)"),
    (dict(weight_ih=np.zeros(12)), ValueError, "weight_ih must have shape (3H, I)"),
    (dict(bias_ih=np.zeros(4)), ValueError, "bias_ih must have shape (3H,) = (12,)"),
    (dict(weight_ih=np.zeros((12, 3), np.float32)), TypeError, "dtype"),
    (dict(state=np.zeros((3, 4))), ValueError, "state must have shape (B, H) = (2, 4)"),
    (dict(x=np.zeros((5, 2, 2))), ValueError, "x must have shape (T, B, I) = (5, 2, 3)"),
    (dict(lengths=[0, 5]), ValueError, "lengths must lie in [1, T]"),
])
def test_bad_layer_inputs_are_refused(functions, change, error, words):
    rng = np.random.default_rng(2)
    args = dict(x=rng.standard_normal((5, 2, 3)), state=rng.standard_normal((2, 4)),
                weight_ih=rng.standard_normal((12, 3)), weight_hh=rng.standard_normal((12, 4)),
                bias_ih=rng.standard_normal(12), bias_hh=rng.standard_normal(12))
    args.update(change)
    options = {"lengths": args.pop("lengths")} if "lengths" in args else {}
    before = snapshot(args)
    with pytest.raises(error) as info:
        functions.gru_forward(*args.values(), **options)
    assert words in str(info.value)
    assert_unchanged(before, snapshot(args))


@pytest.mark.parametrize("functions", [F, R], ids=["fast", "reference"])
def test_functional_backward_refuses_another_cache_and_bad_upstream(functions):
    rng = np.random.default_rng(3)
    weights = (rng.standard_normal((6, 3)), rng.standard_normal((6, 2)))
    _, rnn_cache = F.rnn_forward(rng.standard_normal((2, 1, 3)), None,
                                 rng.standard_normal((2, 3)), rng.standard_normal((2, 2)))
    with pytest.raises(TypeError, match="cache must be the GRU"):
        functions.gru_backward(None, None, rnn_cache)
    _, cell_cache = functions.gru_cell_forward(rng.standard_normal((1, 3)), None, *weights)
    with pytest.raises(TypeError, match="cache must be the GRU"):
        functions.gru_backward(None, None, cell_cache)
    with pytest.raises(TypeError, match="cache must be the GRU"):
        functions.gru_cell_backward(None, rnn_cache)
    (out, _), cache = functions.gru_forward(rng.standard_normal((2, 1, 3)), None, *weights)
    with pytest.raises(ValueError, match=r"doutput must have shape \(T, B, H\) = \(2, 1, 2\)"):
        functions.gru_backward(np.zeros((2, 1, 3)), None, cache)
    with pytest.raises(ValueError, match=r"dh_n must have shape \(B, H\) = \(1, 2\)"):
        functions.gru_backward(None, np.zeros((2,)), cache)
    with pytest.raises(TypeError, match="dh_n has dtype float32"):
        functions.gru_backward(None, np.zeros((1, 2), np.float32), cache)
    with pytest.raises(TypeError, match="record must be a dict or None"):
        functions.gru_backward(None, None, cache, record=[])
    grads = functions.gru_backward(None, None, cache)          # None upstream: zeros
    assert not any(g.any() for g in grads if g is not None)


def test_fast_functions_refuse_flags_that_are_not_booleans():
    rng = np.random.default_rng(4)
    args = (rng.standard_normal((2, 1, 3)), None, rng.standard_normal((6, 3)),
            rng.standard_normal((6, 2)))
    for flag in ("reverse", "keep_cache"):
        with pytest.raises(TypeError, match=flag):
            F.gru_forward(*args, **{flag: 1})
