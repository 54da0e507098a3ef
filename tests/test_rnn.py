"""``nplstm.RNN`` and ``functional.rnn_forward`` / ``rnn_backward``: torch.nn.RNN on arrays.

    golden    every case of tests/fixtures/rnn.npz (torch.nn.RNN's results, written by
              make_fixtures.py) rerun, relative error ≤ 1e-12 in float64; padded outputs and
              dx exactly 0; the no_grad forward gives the same outputs
    live      hypothesis draws configurations and compares with torch (skipped without torch)
    gradcheck central differences (float64) of the module and of one functional layer, on
              hypothesis-drawn sizes with size-1 edges, nonzero states, biases and upstream
              gradients (the checker projects the outputs on random directions)
    record    the per-step norms ‖∂L/∂h_t‖ against the gradients of the sub-sequences
    refused   bad arguments: a ValueError/TypeError naming the argument, nothing changed
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F
from nplstm.gradcheck import (RNN_SEQUENCE_NAMES, module_layouts, module_pair,
                              random_rnn_case, random_rnn_sequence_case, rnn_sequence_pair)

from . import torch_reference as ref
from .helpers import rel_error
from .snapshots import assert_unchanged, snapshot
from .strategies import lengths_or_none, module_configs, seed as seeds, small_size
# the fixture files' reading, shared with the LSTM's parity tests
from .test_parity import (_assert_close, _case_names as case_names, _load_case as load_case,
                          check_golden_sequence)

EXAMPLES = max(3, settings.default.max_examples // 3)   # ci: 10 draws per property
RNN_FILE = "rnn.npz"


def _case_names():
    return case_names(RNN_FILE)


def _load_case(name):
    return load_case(RNN_FILE, name)


# -- golden fixtures (torch.nn.RNN's results; torch not imported) -------------------------------

def test_fixtures_cover_what_the_rnn_promises():
    configs = [_load_case(name)[0] for name in _case_names()]
    assert len(configs) >= 12
    for key, values in (("nonlinearity", {"tanh", "relu"}), ("bias", {True, False}),
                        ("batch_first", {True, False}), ("bidirectional", {True, False}),
                        ("state", {True, False}), ("dstate", {True, False})):
        assert {c[key] for c in configs} == values, key
    assert max(c["num_layers"] for c in configs) == 3
    assert any(c["lengths"] for c in configs) and any(c["batch"] is None for c in configs)
    assert any(c["dropout"] > 0 for c in configs)         # eval mode: no dropout, as torch's


@pytest.mark.parametrize("name", _case_names())
def test_golden_rnn(name, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)      # any `import torch` fails
    check_golden_sequence(RNN_FILE, name, "rnn", ref.RNN_TOL)


# -- live against torch ----------------------------------------------------------------------------

@pytest.mark.torch
@settings(max_examples=EXAMPLES, deadline=None, database=None)
@given(config=module_configs("rnn", max_size=5, max_T=6), seed=seeds)
def test_live_against_torch(config, seed):
    pytest.importorskip("torch")
    inputs = ref.make_inputs(config, seed)
    _assert_close(ref.run_nplstm(config, inputs), ref.run_torch(config, inputs), ref.RNN_TOL)


@pytest.mark.torch
def test_torch_state_dict_loads_and_init_matches_torch():
    torch = pytest.importorskip("torch")
    kwargs = dict(num_layers=2, bidirectional=True, nonlinearity="relu", bias=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        t_rnn = torch.nn.RNN(4, 3, dtype=torch.float64, **kwargs)
    sd = {k: v.numpy() for k, v in t_rnn.state_dict().items()}
    rnn = nplstm.RNN(4, 3, dtype="float64", seed=1, **kwargs)
    mine = rnn.state_dict()
    assert [(k, v.shape) for k, v in mine.items()] == [(k, v.shape) for k, v in sd.items()]
    rnn.load_state_dict(sd)
    x = np.random.default_rng(2).standard_normal((5, 2, 4))
    with torch.no_grad():
        t_out, t_h = t_rnn(torch.from_numpy(x))
    with nplstm.no_grad():
        out, h_n = rnn(x)
    assert rel_error(out, t_out.numpy()) <= ref.RNN_TOL
    assert rel_error(h_n, t_h.numpy()) <= ref.RNN_TOL


# -- parameters and init ---------------------------------------------------------------------------

def test_parameters_are_torchs_names_shapes_and_init():
    rnn = nplstm.RNN(3, 16, num_layers=2, bidirectional=True, seed=0)
    config = {"kind": "rnn", "input_size": 3, "hidden_size": 16, "num_layers": 2,
              "bidirectional": True, "bias": True}
    expected = ref.lstm_param_shapes(config)               # spelled out independently
    assert [(k, tuple(p.shape)) for k, p in rnn.named_parameters()] == list(expected.items())
    values = np.concatenate([p.data.ravel() for p in rnn.parameters()])
    bound = 1 / np.sqrt(16)
    assert values.dtype == np.float32 and np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.9 * bound and abs(values.mean()) < 0.1 * bound
    same = nplstm.RNN(3, 16, num_layers=2, bidirectional=True, seed=0)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(rnn.parameters(),
                                                             same.parameters()))
    assert not any(k.startswith("bias") for k in dict(nplstm.RNN(2, 2, bias=False)
                                                      .named_parameters()))
    assert repr(nplstm.RNN(3, 4, nonlinearity="relu", seed=0)) == \
        "RNN(3, 4, nonlinearity='relu', dtype=float32)"


# -- gradients: central differences -------------------------------------------------------------

@settings(max_examples=EXAMPLES, deadline=None)
@given(T=small_size, B=small_size, I=small_size, H=small_size, layers=st.integers(1, 2),
       bidirectional=st.booleans(), nonlinearity=st.sampled_from(["tanh", "relu"]),
       bias=st.booleans(), data=st.data(), seed=seeds)
def test_module_gradients_match_central_differences(T, B, I, H, layers, bidirectional,
                                                    nonlinearity, bias, data, seed):
    rng = np.random.default_rng(seed)
    module, inputs = random_rnn_case(rng, T, B, I, H, layers, bidirectional, nonlinearity,
                                     bias=bias)
    lengths = data.draw(lengths_or_none(T, B))
    forward, backward, names = module_pair(module, lengths=lengths)
    report = nplstm.gradcheck(forward, backward, inputs, names=names, seed=seed,
                              layouts=module_layouts(module, T), raise_exception=False)
    assert report.passed, str(report)


@settings(max_examples=EXAMPLES, deadline=None)
@given(T=small_size, B=small_size, I=small_size, H=small_size, reverse=st.booleans(),
       nonlinearity=st.sampled_from(["tanh", "relu"]), data=st.data(), seed=seeds)
def test_layer_gradients_match_central_differences(T, B, I, H, reverse, nonlinearity, data,
                                                   seed):
    rng = np.random.default_rng(seed)
    inputs = random_rnn_sequence_case(rng, T, B, I, H)
    lengths = data.draw(lengths_or_none(T, B))
    report = nplstm.gradcheck(*rnn_sequence_pair(lengths, reverse, nonlinearity), inputs,
                              names=RNN_SEQUENCE_NAMES, seed=seed, raise_exception=False)
    assert report.passed, str(report)


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_dropout_gradients_match_central_differences(kind):
    rng = np.random.default_rng(5)
    module = getattr(nplstm, kind)(2, 3, num_layers=3, dropout=0.5, dtype="float64", seed=1)
    inputs = [rng.standard_normal((4, 2, 2)), rng.standard_normal((3, 2, 3))] + \
        [p.data for p in module.parameters()]
    forward, backward, names = module_pair(module, dropout_seed=4)
    report = nplstm.gradcheck(forward, backward, inputs, names=names, seed=3,
                              raise_exception=False)
    assert report.passed, str(report)
    module.dropout_generator = np.random.default_rng(4)
    train_out, _ = module(inputs[0], inputs[1])
    module.eval()
    eval_out, _ = module(inputs[0], inputs[1])
    assert rel_error(train_out, eval_out) > 1e-3       # the masks did act in training


# -- the tape, layouts, record -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_tape_is_last_in_first_out_and_unbatched_matches_batch_of_one(kind):
    rng = np.random.default_rng(0)
    rnn = getattr(nplstm, kind)(3, 4, num_layers=2, bidirectional=True, dtype="float64", seed=0)
    xs = [rng.standard_normal((5, 1, 3)) for _ in range(2)]
    douts = [rng.standard_normal((5, 1, 8)) for _ in range(2)]
    dh = rng.standard_normal((4, 1, 4))
    alone = []
    for x, dout in zip(xs, douts):
        rnn.zero_grad()
        rnn(x)
        alone.append((rnn.backward(dout, dh), [p.grad.copy() for p in rnn.parameters()]))
    rnn.zero_grad()
    rnn(xs[0][:, 0])                                     # unbatched (T, I)
    out1, h1 = rnn(xs[1][:, 0])
    assert out1.shape == (5, 8) and h1.shape == (4, 4)
    dx1, dh0_1 = rnn.backward(douts[1][:, 0], dh[:, 0])   # undoes the second forward
    dx0, dh0_0 = rnn.backward(douts[0][:, 0], dh[:, 0])
    for (dx, dh0), got in (((dx0, dh0_0), alone[0][0]), ((dx1, dh0_1), alone[1][0])):
        assert rel_error(dx, got[0][:, 0]) <= 1e-12 and rel_error(dh0, got[1][:, 0]) <= 1e-12
    for p, g0, g1 in zip(rnn.parameters(), alone[0][1], alone[1][1]):
        assert rel_error(p.grad, g0 + g1) <= 1e-12
    with pytest.raises(RuntimeError, match="no recorded forward"):
        rnn.backward(douts[0])
    with nplstm.no_grad():
        rnn(xs[0])
    assert not rnn._tape


@pytest.mark.parametrize("reverse", [False, True])
def test_record_gives_the_norm_of_each_steps_total_gradient(reverse):
    """‖∂L/∂h_t‖ = ‖doutput_t + (dh0 of the rest of the sequence, started at h_t)‖."""
    rng = np.random.default_rng(3)
    T, B, I, H = 6, 3, 2, 4
    rnn = nplstm.RNN(I, H, bidirectional=reverse, dtype="float64", seed=2)
    x, h0 = rng.standard_normal((T, B, I)), rng.standard_normal((rnn.num_directions, B, H))
    output, _ = rnn(x, h0)
    dout = rng.standard_normal(output.shape)
    dh_n = rng.standard_normal((rnn.num_directions, B, H))
    record = {}
    rnn.backward(dout, dh_n, record=record)
    assert set(record) == ({(0, 0), (0, 1)} if reverse else {(0, 0)})
    direction = 1 if reverse else 0
    norms = record[(0, direction)]["dh"]
    assert norms.shape == (T,) and set(record[(0, direction)]) == {"dh"}
    # the direction alone, as a one-layer forward RNN walking the time steps in its order
    single = nplstm.RNN(I, H, dtype="float64", seed=0)
    suffix = "_reverse" if reverse else ""
    single.load_state_dict({k: rnn.state_dict()[k + suffix] for k in single.state_dict()})
    order = np.arange(T)[::-1] if reverse else np.arange(T)
    hs, _ = single(x[order], h0[direction:direction + 1])     # h at each walked step
    single.clear_tape()
    d_own = dout[order][..., direction * H:(direction + 1) * H]
    for s in range(T):                                       # s-th step of the walk
        if s == T - 1:
            from_rest = dh_n[direction]
        else:
            single(x[order][s + 1:], hs[s][None])
            from_rest = single.backward(d_own[s + 1:], dh_n[direction:direction + 1])[1][0]
        want = np.linalg.norm(d_own[s] + from_rest)
        assert abs(norms[order[s]] - want) <= 1e-12 * want


@pytest.mark.parametrize("kind, options", [("RNN", {"nonlinearity": "relu"}), ("GRU", {})])
def test_lengths_give_each_sequence_its_own_run(kind, options):
    """Sequence b with lengths[b] = n equals the sequence x[:n, b] run alone."""
    rng = np.random.default_rng(4)
    rnn = getattr(nplstm, kind)(2, 3, num_layers=2, bidirectional=True, dtype="float64",
                                seed=3, **options)
    x, lengths = rng.standard_normal((5, 3, 2)), [2, 5, 1]
    h0 = rng.standard_normal((4, 3, 3))
    out, h_n = rnn(x, h0, lengths=lengths)
    dout = rng.standard_normal(out.shape)
    dx, dh0 = rnn.backward(dout, None)
    for b, n in enumerate(lengths):
        out_b, h_b = rnn(x[:n, b], h0[:, b])
        dx_b, dh0_b = rnn.backward(dout[:n, b], None)
        assert rel_error(out[:n, b], out_b) <= 1e-12 and rel_error(h_n[:, b], h_b) <= 1e-12
        assert rel_error(dx[:n, b], dx_b) <= 1e-12 and rel_error(dh0[:, b], dh0_b) <= 1e-12
        assert not out[n:, b].any() and not dx[n:, b].any()


def test_float32_runs_in_float32_and_agrees_with_float64():
    rng = np.random.default_rng(6)
    r64 = nplstm.RNN(3, 4, num_layers=2, dtype="float64", seed=0)
    r32 = nplstm.RNN(3, 4, num_layers=2, seed=0)
    r32.load_state_dict({k: v.astype(np.float32) for k, v in r64.state_dict().items()})
    r64.load_state_dict(r32.state_dict())
    x, dout = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 4))
    out32, h32 = r32(x.astype(np.float32))
    out64, _ = r64(x)
    dx32, dh32 = r32.backward(dout.astype(np.float32))
    dx64, _ = r64.backward(dout)
    assert {a.dtype for a in (out32, h32, dx32, dh32)} == {np.dtype(np.float32)}
    tol = 100 * np.finfo(np.float32).eps
    assert rel_error(out32, out64) <= tol and rel_error(dx32, dx64) <= tol


def test_rnn_runs_on_every_backend(backend):
    rng = np.random.default_rng(8)
    x, dout = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 8))
    results = {}
    for name, device, put in (("numpy", "cpu", lambda a: a), (backend.name, backend.device,
                                                              backend.put)):
        rnn = nplstm.RNN(3, 4, bidirectional=True, dtype="float64", device=device, seed=0)
        out, h_n = rnn(put(x), lengths=[4, 2])
        dx, dh0 = rnn.backward(put(dout), None)
        results[name] = [nplstm.backend.asnumpy(a) for a in (out, h_n, dx, dh0)] + \
            [nplstm.backend.asnumpy(p.grad) for p in rnn.parameters()]
    for got, want in zip(results[backend.name], results["numpy"]):
        backend.assert_close(got, want)


# -- refused ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, words", [
    (dict(nonlinearity="sigmoid"), ValueError, "nonlinearity must be 'tanh' or 'relu'"),
    (dict(nonlinearity=None), ValueError, "nonlinearity"),
    (dict(dropout=1.0), ValueError, "dropout must be a number in [0, 1)"),
    (dict(dropout="0.5"), TypeError, "dropout must be a finite real number >= 0, got str"),
    (dict(dropout=True), TypeError, "dropout must be a finite real number >= 0, got bool"),
    (dict(num_layers=0), ValueError, "num_layers must be a positive int"),
    (dict(hidden_size=2.0), TypeError, "hidden_size must be a positive int"),   # as torch
    (dict(dtype="float16"), TypeError, "dtype"),
    (dict(seed=-1), ValueError, "seed"),
])
def test_bad_settings_are_refused(kwargs, error, words):
    args = dict(input_size=3, hidden_size=4)
    args.update(kwargs)
    with pytest.raises(error) as info:
        nplstm.RNN(**args)
    assert words in str(info.value)


# the one-state siblings (RNN, GRU) refuse alike, naming the argument: state, dstate (the
# LSTM's name the parts of its pair: h0, c0, dh_n, dc_n); an LSTM-style tuple is refused
# naming the argument (it was told to "convert it with numpy.asarray")
ONE_STATE = {"RNN": nplstm.RNN, "GRU": nplstm.GRU}


@pytest.mark.parametrize("kind", ONE_STATE)
@pytest.mark.parametrize("spoil, error, words", [
    (dict(x=np.zeros((5, 2, 3), np.float32)), TypeError, "x has dtype float32"),
    (dict(x=[[0.0] * 3] * 5), TypeError, "x"),
    (dict(x=np.zeros((5, 2, 3, 1))), ValueError, "x must have shape (T, B, I) or (T, I)"),
    (dict(x=np.zeros((5, 3, 2))), ValueError, "are the axes in the wrong order?"),
    (dict(x=np.zeros((0, 2, 3))), ValueError, "at least one time step"),
    (dict(x=np.zeros((5, 0, 3))), ValueError, "at least one sequence"),
    (dict(state=np.zeros((2, 2, 4))), ValueError,
     "state must have shape (L·D, B, H) = (4, 2, 4)"),
    (dict(state=(np.zeros((4, 2, 4)),) * 2), TypeError,
     "state must be one array h0 or None (a GRU's or an RNN's state is h alone, not an "
     "LSTM's (h, c) pair), got tuple of length 2"),
    (dict(state=[np.zeros((4, 2, 4))]), TypeError,
     "state must be one array h0 or None (a GRU's or an RNN's state is h alone, not an "
     "LSTM's (h, c) pair), got list of length 1"),
    (dict(state=np.zeros((4, 2, 4), np.float32)), TypeError, "state has dtype float32"),
    (dict(lengths=[5, 6]), ValueError, "lengths must lie in [1, T] = [1, 5]"),
    (dict(lengths=[5]), ValueError, "lengths must have shape (B,) = (2,)"),
    (dict(lengths=[5.0, 2.0]), TypeError, "lengths must hold integers"),
])
def test_bad_forward_inputs_are_refused_and_change_nothing(kind, spoil, error, words):
    rng = np.random.default_rng(0)
    module = ONE_STATE[kind](3, 4, num_layers=2, bidirectional=True, dropout=0.2,
                             dtype="float64", seed=0)
    module(rng.standard_normal((5, 2, 3)))               # one entry on the tape
    args = dict(x=rng.standard_normal((5, 2, 3)), state=rng.standard_normal((4, 2, 4)),
                lengths=[5, 2])
    args.update(spoil)
    before = snapshot(module, args)
    with pytest.raises(error) as info:
        module(args["x"], args["state"], lengths=args["lengths"])
    assert words in str(info.value)
    assert_unchanged(before, snapshot(module, args))


@pytest.mark.parametrize("kind", ONE_STATE)
@pytest.mark.parametrize("batch_first, unbatched", [(False, False), (True, False),
                                                    (False, True)])
@pytest.mark.parametrize("spoil, error, words", [
    (dict(doutput=np.zeros((5, 2, 4))), ValueError, "doutput must have shape"),
    (dict(doutput=np.zeros((5, 2, 8), np.float32)), TypeError, "doutput has dtype float32"),
    (dict(dstate=np.zeros((4, 3, 4))), ValueError, "dstate must have shape"),
    (dict(dstate=(None, None)), TypeError,
     "dstate must be one array dh_n or None (a GRU's or an RNN's state is h alone, not an "
     "LSTM's (h, c) pair), got tuple of length 2"),
    (dict(record=[]), TypeError, "record must be a dict or None"),
])
def test_bad_backward_inputs_are_refused_and_change_nothing(kind, spoil, error, words,
                                                            batch_first, unbatched):
    rng = np.random.default_rng(1)
    module = ONE_STATE[kind](3, 4, num_layers=2, bidirectional=True, batch_first=batch_first,
                             dtype="float64", seed=0)
    B = 1 if unbatched else 2
    x = rng.standard_normal((5, 3) if unbatched else (B, 5, 3) if batch_first else (5, B, 3))
    out, h_n = module(x)
    for p in module.parameters():
        p.grad[...] = rng.standard_normal(p.grad.shape)   # gradients already accumulated
    args = dict(doutput=rng.standard_normal(out.shape), dstate=rng.standard_normal(h_n.shape),
                record=None)
    args.update(spoil)
    before = snapshot(module, args)
    with pytest.raises(error) as info:
        module.backward(args["doutput"], args["dstate"], record=args["record"])
    assert words in str(info.value)
    assert_unchanged(before, snapshot(module, args))
    module.backward(rng.standard_normal(out.shape))      # the forward is still there


@pytest.mark.parametrize("change, error, words", [
    (dict(bias_hh=None), ValueError, "bias_ih was given without bias_hh"),
    (dict(weight_hh=np.zeros((4, 3))), ValueError, "weight_hh must have shape (H, H) = (4, 4)"),
    (dict(weight_ih=np.zeros(4)), ValueError, "weight_ih must have shape (H, I)"),
    (dict(bias_ih=np.zeros(3)), ValueError, "bias_ih must have shape (H,) = (4,)"),
    (dict(weight_ih=np.zeros((4, 3), np.float32)), TypeError, "dtype"),
    (dict(h0=np.zeros((3, 4))), ValueError, "h0 must have shape (B, H) = (2, 4)"),
    (dict(nonlinearity="tanh "), ValueError, "nonlinearity must be 'tanh' or 'relu'"),
])
def test_bad_functional_inputs_are_refused(change, error, words):
    rng = np.random.default_rng(2)
    args = dict(x=rng.standard_normal((5, 2, 3)), h0=rng.standard_normal((2, 4)),
                weight_ih=rng.standard_normal((4, 3)), weight_hh=rng.standard_normal((4, 4)),
                bias_ih=rng.standard_normal(4), bias_hh=rng.standard_normal(4))
    args.update(change)
    nonlinearity = args.pop("nonlinearity", "tanh")
    with pytest.raises(error) as info:
        F.rnn_forward(*args.values(), nonlinearity=nonlinearity)
    assert words in str(info.value)


def test_functional_backward_refuses_another_cache():
    rng = np.random.default_rng(3)
    _, lstm_cache = F.lstm_forward(rng.standard_normal((2, 1, 3)), None,
                                   rng.standard_normal((8, 3)), rng.standard_normal((8, 2)))
    with pytest.raises(TypeError, match="cache must be the RNNCache returned by rnn_forward"):
        F.rnn_backward(None, None, lstm_cache)
    (out, _), cache = F.rnn_forward(rng.standard_normal((2, 1, 3)), None,
                                    rng.standard_normal((2, 3)), rng.standard_normal((2, 2)))
    with pytest.raises(ValueError, match=r"doutput must have shape \(T, B, H\) = \(2, 1, 2\)"):
        F.rnn_backward(np.zeros((2, 1, 3)), None, cache)
    with pytest.raises(ValueError, match=r"dh_n must have shape \(B, H\) = \(1, 2\)"):
        F.rnn_backward(None, np.zeros((2,)), cache)


# -- the contract's names: state / dstate (h0 / dh_n deprecated for one release) ------------

def test_old_names_h0_and_dh_n_still_work_warn_and_give_the_same_results():
    rng = np.random.default_rng(3)
    x, h0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((2, 2, 5))
    runs = []
    for old in (False, True):
        rnn = nplstm.RNN(3, 5, num_layers=2, dtype="float64", seed=0)
        if old:
            with pytest.warns(DeprecationWarning, match=r"RNN\.forward: h0= is deprecated, "
                                                        r"use state=") as caught:
                output, h_n = rnn(x, h0=h0)
            # blamed on the caller's line (Python shows a DeprecationWarning only there)
            assert [w.filename for w in caught] == [__file__]
        else:
            output, h_n = rnn(x, state=h0)
        doutput, dh_n = np.cos(output), np.sin(h_n)
        if old:
            with pytest.warns(DeprecationWarning, match=r"RNN\.backward: dh_n= is deprecated, "
                                                        r"use dstate=") as caught:
                dx, dh0 = rnn.backward(doutput, dh_n=dh_n)
            assert [w.filename for w in caught] == [__file__]
        else:
            dx, dh0 = rnn.backward(doutput, dstate=dh_n)
        runs.append([output, h_n, dx, dh0] + [p.grad for p in rnn.parameters()])
    assert not np.all(runs[0][3] == 0)                    # dstate reached dh0
    for new, old in zip(*runs):
        np.testing.assert_array_equal(new, old)


def test_giving_a_new_name_and_its_old_name_at_once_is_refused_and_changes_nothing():
    rng = np.random.default_rng(4)
    rnn = nplstm.RNN(3, 5, dtype="float64", seed=0)
    x, h0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((1, 2, 5))
    with pytest.raises(TypeError, match=r"RNN\.forward: got both state= and its deprecated "
                                        r"old name h0="):
        rnn(x, h0, h0=h0)
    assert not rnn._tape
    output, h_n = rnn(x, h0)
    with pytest.raises(TypeError, match=r"RNN\.backward: got both dstate= and .* dh_n="):
        rnn.backward(output, dstate=h_n, dh_n=h_n)
    assert len(rnn._tape) == 1 and not any(p.grad.any() for p in rnn.parameters())


def test_dropout_takes_numpy_scalars_as_torch_does():
    for kind in (nplstm.RNN, nplstm.GRU, nplstm.LSTM):
        module = kind(2, 3, num_layers=2, dropout=np.float32(0.25))
        assert module.dropout == 0.25 and type(module.dropout) is float
