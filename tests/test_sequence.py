"""The sequence LSTM: functional and module backward by finite differences, the cell and the
sequence agreeing, variable lengths, inference without caches, and bad input."""

import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F
from nplstm.gradcheck import SEQUENCE_NAMES, module_pair, random_lstm_case, sequence_pair

from nplstm.nn import TapeWarning

from .helpers import rel_error
from .snapshots import assert_unchanged, snapshot
from .strategies import layer_cases, lengths_or_none, seed, small_size


def _sequence_inputs(rng, T, B, I, H, P, bias, state, dtype=np.float64):
    bound = 1 / np.sqrt(H)
    u = lambda *s: rng.uniform(-bound, bound, s).astype(dtype)  # noqa: E731
    n = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    Pe = P or H
    return [n(T, B, I), n(B, Pe) if state else None, n(B, H) if state else None,
            u(4 * H, I), u(4 * H, Pe), u(4 * H) if bias else None, u(4 * H) if bias else None,
            u(P, H) if P else None]


@given(case=layer_cases())
def test_lstm_backward_matches_finite_differences(case):
    rng = np.random.default_rng(case["seed"])
    inputs = _sequence_inputs(rng, case["T"], case["B"], case["I"], case["H"], case["proj"],
                              case["bias"], case["state"])
    forward, backward = sequence_pair(case["lengths"], case["reverse"])
    report = nplstm.gradcheck(forward, backward, inputs, names=SEQUENCE_NAMES,
                              seed=case["seed"])
    assert report.passed


@st.composite
def module_case(draw):
    T, B, I, H = (draw(small_size) for _ in range(4))
    layers = draw(st.integers(1, 3))
    return dict(T=T, B=B, I=I, H=H, layers=layers, bidirectional=draw(st.booleans()),
                proj=draw(st.integers(0, H - 1)), bias=draw(st.booleans()),
                state=draw(st.booleans()), lengths=draw(lengths_or_none(T, B)),
                batch_first=draw(st.booleans()),
                dropout=draw(st.sampled_from([0.0, 0.4])) if layers > 1 else 0.0,
                seed=draw(seed))


@given(case=module_case())
def test_module_backward_matches_finite_differences(case):
    rng = np.random.default_rng(case["seed"])
    module, inputs = random_lstm_case(rng, case["T"], case["B"], case["I"], case["H"],
                                      case["layers"], case["bidirectional"], case["proj"],
                                      case["bias"], case["state"])
    module.batch_first = case["batch_first"]
    module.dropout = case["dropout"]
    if case["batch_first"]:
        inputs[0] = np.ascontiguousarray(inputs[0].transpose(1, 0, 2))
    forward, backward, names = module_pair(module, case["lengths"], dropout_seed=case["seed"])
    report = nplstm.gradcheck(forward, backward, inputs, names=names, seed=case["seed"])
    assert report.passed


def test_dropout_masks_are_used_and_reused_by_backward():
    rng = np.random.default_rng(0)
    module, inputs = random_lstm_case(rng, 4, 3, 2, 5, layers=2)
    module.dropout = 0.5
    x = inputs[0]
    out_train, _ = module(x)
    module.eval()
    out_eval, _ = module(x)
    assert not np.allclose(out_train, out_eval)   # masks changed the output in training
    out_eval2, _ = module(x)
    np.testing.assert_array_equal(out_eval, out_eval2)   # no dropout in eval mode
    # the finite-difference check above (dropout=0.4) covers that backward reuses the mask


@given(T=small_size, B=small_size, I=small_size, H=small_size, seed=seed,
       bias=st.booleans())
def test_cell_loop_and_sequence_give_the_same_numbers(T, B, I, H, seed, bias):
    rng = np.random.default_rng(seed)
    x, h0, c0, wi, wh, bi, bh, _ = _sequence_inputs(rng, T, B, I, H, 0, bias, True)
    (output, (h_n, c_n)), cache = F.lstm_forward(x, (h0, c0), wi, wh, bi, bh)
    h, c = h0, c0
    cell_caches, hs = [], []
    for t in range(T):
        (h, c), cell_cache = F.lstm_cell_forward(x[t], (h, c), wi, wh, bi, bh)
        cell_caches.append(cell_cache)
        hs.append(h)
    assert rel_error(output, np.stack(hs)) < 1e-14
    assert rel_error(h_n, h) < 1e-14 and rel_error(c_n, c) < 1e-14
    dout = rng.standard_normal(output.shape)
    dh_n, dc_n = rng.standard_normal(h_n.shape), rng.standard_normal(c_n.shape)
    seq = F.lstm_backward(dout, dh_n, dc_n, cache)
    dh, dc = dh_n, dc_n
    dx, dwi, dwh = np.empty_like(x), np.zeros_like(wi), np.zeros_like(wh)
    for t in reversed(range(T)):
        g = F.lstm_cell_backward(dout[t] + dh, dc, cell_caches[t])
        dx[t], dh, dc = g.x, g.h_prev, g.c_prev
        dwi += g.weight_ih
        dwh += g.weight_hh
    for got, want in ((seq.x, dx), (seq.h0, dh), (seq.c0, dc), (seq.weight_ih, dwi),
                      (seq.weight_hh, dwh)):
        assert rel_error(got, want) < 1e-13


def test_lengths_pad_with_zeros_and_ignore_padded_gradients():
    rng = np.random.default_rng(1)
    T, B, I, H = 5, 3, 2, 4
    x, h0, c0, wi, wh, bi, bh, _ = _sequence_inputs(rng, T, B, I, H, 0, True, True)
    lengths = [5, 2, 3]
    for reverse in (False, True):
        (out, (h_n, c_n)), cache = F.lstm_forward(x, (h0, c0), wi, wh, bi, bh,
                                                  lengths=lengths, reverse=reverse)
        for b, n in enumerate(lengths):
            assert not out[n:, b].any()
            # each sequence alone, as a batch of one, gives the same numbers
            (alone, (hb, cb)), _ = F.lstm_forward(x[:n, b:b + 1], (h0[b:b + 1], c0[b:b + 1]),
                                                  wi, wh, bi, bh, reverse=reverse)
            assert rel_error(out[:n, b], alone[:, 0]) < 1e-14
            assert rel_error(h_n[b], hb[0]) < 1e-14 and rel_error(c_n[b], cb[0]) < 1e-14
        dout = rng.standard_normal(out.shape)
        garbage = dout.copy()
        for b, n in enumerate(lengths):
            garbage[n:, b] = np.nan               # padded gradients must be ignored
        g = F.lstm_backward(dout, None, None, cache)
        g_nan = F.lstm_backward(garbage, None, None, cache)
        for a, b_ in zip(g[:5], g_nan[:5]):
            np.testing.assert_array_equal(a, b_)
        for b, n in enumerate(lengths):
            assert not g.x[n:, b].any()


def test_padded_input_values_do_not_matter():
    rng = np.random.default_rng(2)
    x, h0, c0, wi, wh, bi, bh, _ = _sequence_inputs(rng, 4, 2, 3, 3, 0, True, True)
    x2 = x.copy()
    x2[2:, 1] = np.nan
    (o1, _), c1 = F.lstm_forward(x, (h0, c0), wi, wh, bi, bh, lengths=[4, 2])
    (o2, _), c2 = F.lstm_forward(x2, (h0, c0), wi, wh, bi, bh, lengths=[4, 2])
    np.testing.assert_array_equal(o1, o2)
    d = rng.standard_normal(o1.shape)
    for a, b in zip(F.lstm_backward(d, None, None, c1)[3:5],
                    F.lstm_backward(d, None, None, c2)[3:5]):
        np.testing.assert_array_equal(a, b)


@given(T=small_size, B=small_size, layers=st.integers(1, 3), bidirectional=st.booleans(),
       proj=st.integers(0, 2), seed=seed)
def test_inference_without_cache_gives_the_same_numbers(T, B, layers, bidirectional, proj,
                                                        seed):
    rng = np.random.default_rng(seed)
    module, inputs = random_lstm_case(rng, T, B, 3, 3, layers, bidirectional, proj)
    lengths = rng.integers(1, T + 1, size=B)
    out, (h_n, c_n) = module(inputs[0], (inputs[1], inputs[2]), lengths=lengths)
    with nplstm.no_grad():
        out2, (h2, c2) = module(inputs[0], (inputs[1], inputs[2]), lengths=lengths)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(h_n, h2)
    np.testing.assert_array_equal(c_n, c2)
    assert len(module._tape) == 1


def test_inference_chunks_the_input_projection(monkeypatch):
    from nplstm.functional import sequence
    monkeypatch.setattr(sequence, "_INFERENCE_CHUNK_ELEMENTS", 8)   # one step per chunk
    monkeypatch.setattr(sequence, "_INFERENCE_CHUNK_MIN_ROWS", 1)
    rng = np.random.default_rng(3)
    x, h0, c0, wi, wh, bi, bh, _ = _sequence_inputs(rng, 5, 2, 3, 2, 0, True, True)
    (o1, s1), _ = F.lstm_forward(x, (h0, c0), wi, wh, bi, bh, keep_cache=False)
    (o2, s2), _ = F.lstm_forward(x, (h0, c0), wi, wh, bi, bh)
    assert rel_error(o1, o2) < 1e-15 and rel_error(s1[1], s2[1]) < 1e-15


def test_batch_first_and_unbatched_layouts():
    rng = np.random.default_rng(4)
    module, inputs = random_lstm_case(rng, 4, 3, 2, 3, layers=2, bidirectional=True)
    x, h0, c0 = inputs[:3]
    out, (h_n, c_n) = module(x, (h0, c0))
    module.batch_first = True
    out_bf, (h_bf, _) = module(np.ascontiguousarray(x.transpose(1, 0, 2)), (h0, c0))
    np.testing.assert_array_equal(out_bf, out.transpose(1, 0, 2))
    np.testing.assert_array_equal(h_bf, h_n)
    dout = rng.standard_normal(out.shape)                           # (T, B, D·P)
    dx_bf, (dh0_bf, dc0_bf) = module.backward(np.ascontiguousarray(dout.transpose(1, 0, 2)))
    module.batch_first = False
    module(x, (h0, c0))
    dx, (dh0, dc0) = module.backward(dout)                          # the time-major twin
    assert dx_bf.shape == (3, 4, 2)
    np.testing.assert_allclose(dx_bf, dx.transpose(1, 0, 2), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dh0_bf, dh0, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dc0_bf, dc0, rtol=1e-14, atol=1e-15)
    module.batch_first = False
    out_u, (h_u, c_u) = module(x[:, 1], (h0[:, 1], c0[:, 1]))
    assert out_u.shape == (4, 6) and h_u.shape == (4, 3)
    np.testing.assert_allclose(out_u, out[:, 1], rtol=1e-14, atol=1e-15)
    dx_u, (dh0_u, _) = module.backward(rng.standard_normal(out_u.shape))
    assert dx_u.shape == (4, 2) and dh0_u.shape == (4, 3)


def test_module_refuses_backward_without_forward_and_mismatched_doutput():
    module = nplstm.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    with pytest.raises(RuntimeError, match="no recorded forward"):
        module.backward(np.zeros((2, 1, 8), np.float32))
    out, _ = module(np.zeros((2, 1, 3), np.float32))
    with pytest.raises(ValueError, match=r"doutput must have shape \(T, B, D·P\) = \(2, 1, 8\)"):
        module.backward(np.zeros((2, 1, 4), np.float32))


@pytest.mark.parametrize("kwargs, call, error, words", [
    ({}, dict(x=np.zeros((2, 3, 5, 1))), ValueError, ["x", "(T, B, I) or (T, I)"]),
    ({}, dict(x=np.zeros((2, 3, 4))), ValueError, ["x", "input_size = 3", "(2, 3, 4)"]),
    ({"batch_first": True}, dict(x=np.zeros((3, 2, 5))), ValueError,
     ["(B, T, I)", "input_size = 3"]),
    ({}, dict(x=np.zeros((3, 2, 3)), lengths=[2]), ValueError, ["lengths", "(B,) = (2,)"]),
    ({}, dict(x=np.zeros((3, 2, 3)), lengths=[2, 4]), ValueError, ["lengths", "[1, 3]", "4"]),
    ({}, dict(x=np.zeros((3, 2, 3)), lengths=[0, 1]), ValueError, ["lengths", "0"]),
    ({}, dict(x=np.zeros((3, 2, 3)), lengths=[1.5, 2]), TypeError, ["lengths", "integers"]),
    ({}, dict(x=np.zeros((3, 2, 3)), lengths=np.array([1.0, 2.0])), TypeError,
     ["lengths", "float64"]),
    ({}, dict(x=np.zeros((3, 2, 3)), state=(np.zeros((1, 2, 4)), np.zeros((1, 2, 5)))),
     ValueError, ["c0", "(L·D, B, H) = (1, 2, 4)", "(1, 2, 5)"]),
    ({"num_layers": 2}, dict(x=np.zeros((3, 2, 3)),
                             state=(np.zeros((1, 2, 4)), np.zeros((2, 2, 4)))),
     ValueError, ["h0", "(L·D, B, H) = (2, 2, 4)", "(1, 2, 4)"]),
    ({"proj_size": 2}, dict(x=np.zeros((3, 2, 3)),
                            state=(np.zeros((1, 2, 4)), np.zeros((1, 2, 4)))),
     ValueError, ["h0", "(L·D, B, P) = (1, 2, 2)"]),
    ({}, dict(x=np.zeros((3, 2, 3)), state=(np.zeros((1, 2, 4)), None)), ValueError,
     ["c0 is missing"]),
    ({}, dict(x=np.zeros((3, 2, 3), np.float32)), TypeError, ["float32", "float64"]),
    ({}, dict(x=np.zeros((3, 2, 3), np.int32)), TypeError, ["x", "int32"]),
])
def test_module_bad_input_is_a_clear_error(kwargs, call, error, words):
    module = nplstm.LSTM(3, 4, dtype="float64", seed=0, **kwargs)
    with pytest.raises(error) as info:
        module(call["x"], call.get("state"), lengths=call.get("lengths"))
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.mark.parametrize("kwargs, words", [
    (dict(dropout=1.0), ["dropout", "[0, 1)"]),
    (dict(dropout=-0.1), ["dropout"]),
    (dict(proj_size=4), ["proj_size", "smaller than hidden_size = 4"]),
    (dict(proj_size=-1), ["proj_size", "an int >= 0"]),
    (dict(num_layers=0), ["num_layers", "positive"]),
])
def test_module_bad_arguments(kwargs, words):
    with pytest.raises(ValueError) as info:
        nplstm.LSTM(3, 4, **kwargs)
    for word in words:
        assert word in str(info.value)


def test_functional_bad_weights_and_upstream():
    rng = np.random.default_rng(5)
    x, h0, c0, wi, wh, bi, bh, whr = _sequence_inputs(rng, 3, 2, 3, 4, 2, True, True)
    with pytest.raises(ValueError, match=r"weight_hh must have shape \(4H, P\)"):
        F.lstm_forward(x, (h0, c0), wi, wh[:, :1], bi, bh, whr)
    with pytest.raises(ValueError, match=r"weight_hr must have shape \(P, H\) = \(P, 4\)"):
        F.lstm_forward(x, (h0, c0), wi, wh, bi, bh, whr[:, :3])
    (out, _), cache = F.lstm_forward(x, (h0, c0), wi, wh, bi, bh, whr)
    with pytest.raises(ValueError, match=r"doutput must have shape \(T, B, P\) = \(3, 2, 2\)"):
        F.lstm_backward(out[:2], None, None, cache)
    with pytest.raises(ValueError, match=r"dc_n must have shape \(B, H\) = \(2, 4\)"):
        F.lstm_backward(None, None, np.zeros((2, 2)), cache)


def test_parameter_names_and_shapes_are_torchs():
    m = nplstm.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, seed=0)
    expected = {}
    for layer in range(2):
        for sfx in ("", "_reverse"):
            k = f"_l{layer}{sfx}"
            expected[f"weight_ih{k}"] = (20, 3 if layer == 0 else 4)
            expected[f"weight_hh{k}"] = (20, 2)
            expected[f"bias_ih{k}"] = (20,)
            expected[f"bias_hh{k}"] = (20,)
            expected[f"weight_hr{k}"] = (2, 5)
    got = {name: p.shape for name, p in m.named_parameters()}
    assert list(got) == list(expected) and got == expected


def test_dstate_entries_may_each_be_none():
    rng = np.random.default_rng(6)
    module, inputs = random_lstm_case(rng, 3, 2, 2, 3, layers=2)
    out, (h_n, c_n) = module(inputs[0])
    dout, dh_n = rng.standard_normal(out.shape), rng.standard_normal(h_n.shape)
    got = module.backward(dout, (dh_n, None))
    module(inputs[0])
    want = module.backward(dout, (dh_n, np.zeros_like(c_n)))
    np.testing.assert_array_equal(got[0], want[0])
    module(inputs[0])
    with pytest.raises(ValueError, match=r"dstate must be a pair \(dh_n, dc_n\)"):
        module.backward(dout, dh_n)


def test_layout_mix_up_gets_a_hint():
    module = nplstm.LSTM(3, 4, batch_first=True, dtype="float64", seed=0)
    with pytest.raises(ValueError, match=r"\(B, T, I\).*got \(2, 3, 5\).*check batch_first"):
        module(np.zeros((2, 3, 5)))


def _cell_loop_norms(x, h0, c0, wi, wh, bi, bh, dout, dh_n, dc_n, lengths, reverse):
    """Reference for ``record``: each sequence alone, unrolled with the cell functions; the
    squared norms of the dh and dc flowing into each of its steps, summed over the batch."""
    T, B = x.shape[:2]
    sq_h, sq_c = np.zeros(T), np.zeros(T)
    for b in range(B):
        n = T if lengths is None else lengths[b]
        times = list(range(n))[::-1] if reverse else list(range(n))
        h, c, caches = h0[b:b + 1], c0[b:b + 1], []
        for t in times:
            (h, c), cache = F.lstm_cell_forward(x[t, b:b + 1], (h, c), wi, wh, bi, bh)
            caches.append(cache)
        dh, dc = dh_n[b:b + 1], dc_n[b:b + 1]
        for t, cache in reversed(list(zip(times, caches))):
            dh = dout[t, b:b + 1] + dh                      # total ∂L/∂h_t
            o, tanh_c = cache.gates[:, 3 * wh.shape[1]:], cache.tanh_c
            dc_total = dc + dh * o * (1 - tanh_c ** 2)      # h_t = o ⊙ tanh c_t
            sq_h[t] += (dh ** 2).sum()
            sq_c[t] += (dc_total ** 2).sum()
            g = F.lstm_cell_backward(dh, dc, cache)
            dh, dc = g.h_prev, g.c_prev
    return np.sqrt(sq_h), np.sqrt(sq_c)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [3, 5, 1, 5]])
def test_record_gives_per_step_gradient_norms_of_the_cell_loop(lengths, reverse):
    rng = np.random.default_rng(5)
    T, B, I, H = 5, 4, 3, 4
    x, h0, c0, wi, wh, bi, bh, _ = _sequence_inputs(rng, T, B, I, H, 0, True, True)
    (out, (h_n, c_n)), cache = F.lstm_forward(x, (h0, c0), wi, wh, bi, bh, lengths=lengths,
                                              reverse=reverse)
    dout, dh_n, dc_n = (rng.standard_normal(a.shape) for a in (out, h_n, c_n))
    record = {}
    grads = F.lstm_backward(dout, dh_n, dc_n, cache, record=record)
    want_h, want_c = _cell_loop_norms(x, h0, c0, wi, wh, bi, bh, dout, dh_n, dc_n, lengths,
                                      reverse)
    assert set(record) == {"dh", "dc"}
    assert record["dh"].shape == (T,) and record["dh"].dtype == np.float64
    assert rel_error(record["dh"], want_h) < 1e-13
    assert rel_error(record["dc"], want_c) < 1e-13
    for a, b in zip(grads, F.lstm_backward(dout, dh_n, dc_n, cache)):   # off: same numbers
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_module_record_fills_every_layer_and_direction():
    rng = np.random.default_rng(6)
    module, inputs = random_lstm_case(rng, 4, 3, 2, 3, layers=2, bidirectional=True)
    x, h0, c0 = inputs[:3]
    out, _ = module(x, (h0, c0))
    dout = rng.standard_normal(out.shape)
    record = {}
    module.backward(dout, record=record)
    assert set(record) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert all(v["dh"].shape == (4,) and v["dc"].shape == (4,) for v in record.values())
    # the top layer's directions against the cell loop (its input is the layer-0 output)
    layer_in, _ = F.lstm_forward(x, (h0[0], c0[0]), module.weight_ih_l0.data,
                                 module.weight_hh_l0.data, module.bias_ih_l0.data,
                                 module.bias_hh_l0.data)
    (back, _), _ = F.lstm_forward(x, (h0[1], c0[1]), module.weight_ih_l0_reverse.data,
                                  module.weight_hh_l0_reverse.data,
                                  module.bias_ih_l0_reverse.data,
                                  module.bias_hh_l0_reverse.data, reverse=True)
    top_in = np.concatenate([layer_in[0], back], axis=-1)
    zeros = np.zeros((3, 3))
    for direction, suffix in enumerate(("_l1", "_l1_reverse")):
        w = [getattr(module, name + suffix).data
             for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        want_h, want_c = _cell_loop_norms(top_in, h0[2 + direction], c0[2 + direction], *w,
                                          dout[..., 3 * direction:3 * direction + 3], zeros,
                                          zeros, None, direction == 1)
        assert rel_error(record[(1, direction)]["dh"], want_h) < 1e-13
        assert rel_error(record[(1, direction)]["dc"], want_c) < 1e-13
    with pytest.raises(TypeError, match="record"):
        module(x)
        module.backward(dout, record=[])


@pytest.mark.parametrize("bad_call", [
    lambda m, d: m.backward(d[:, :, :3]),                                    # doutput shape
    lambda m, d: m.backward(d.astype(np.float32)),                           # doutput dtype
    lambda m, d: m.backward(d, (np.zeros((4, 2, 5)), None)),                 # dh_n shape
    lambda m, d: m.backward(d, (None, np.zeros((4, 2, 4)).tolist())),        # dc_n a list
    lambda m, d: m.backward(d, np.zeros((4, 2, 4))),                         # dstate not a pair
])
def test_a_refused_module_backward_changes_nothing_and_the_retry_is_right(bad_call):
    # issue 14: the refused call popped the recorded forward, so the corrected retry
    # silently returned the gradient of the forward before it
    rng = np.random.default_rng(14)
    module = nplstm.LSTM(3, 4, num_layers=2, bidirectional=True, dtype="float64", seed=2)
    x1, x2 = rng.standard_normal((2, 3, 2, 3))
    module(x1)
    out, _ = module(x2)
    dout = rng.standard_normal(out.shape)
    before = snapshot(module)
    with pytest.raises((ValueError, TypeError)) as info:
        bad_call(module, dout)
    assert any(name in str(info.value) for name in ("doutput", "dh_n", "dc_n", "dstate"))
    assert_unchanged(before, snapshot(module))
    dx, _ = module.backward(dout)
    # the reference: a fresh module with the same weights and only the x2 forward
    ref = nplstm.LSTM(3, 4, num_layers=2, bidirectional=True, dtype="float64", seed=2)
    ref(x2)
    dx_ref, _ = ref.backward(dout)
    np.testing.assert_array_equal(dx, dx_ref)
    for (name, p), (_, q) in zip(module.named_parameters(), ref.named_parameters()):
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


@pytest.mark.parametrize("keep_cache", [True, False])
@pytest.mark.parametrize("shape, words", [
    ((0, 2, 3), ["x must have at least one time step (T ≥ 1)", "(0, 2, 3) = (T, B, I)"]),
    ((0, 3), ["x must have at least one time step (T ≥ 1)", "(0, 3) = (T, I)"]),
    ((2, 0, 3), ["x must have at least one sequence in the batch (B ≥ 1)"]),
    ((2, 2, 0), ["x must have at least one input feature (I ≥ 1)"]),
])
def test_empty_axes_are_refused_naming_the_axis(keep_cache, shape, words):
    rng = np.random.default_rng(0)
    wi, wh = rng.standard_normal((16, 3)), rng.standard_normal((16, 4))
    with pytest.raises(ValueError) as info:
        F.lstm_forward(np.zeros(shape), None, wi, wh, keep_cache=keep_cache)
    for word in words:
        assert word in str(info.value), str(info.value)
    module = nplstm.LSTM(3, 4, dtype="float64", seed=0)
    context = nplstm.no_grad() if not keep_cache else contextlib.nullcontext()
    with context, pytest.raises(ValueError, match=words[0].replace("(", r"\(").replace(")", r"\)")):
        module(np.zeros(shape))
    assert module._tape == []
    with pytest.raises(ValueError, match=r"weight_ih must have at least one input feature"):
        F.lstm_forward(np.zeros((2, 2, 0)), None, wi[:, :0], wh)


def test_batch_first_empty_time_axis_names_its_layout():
    module = nplstm.LSTM(3, 4, batch_first=True, dtype="float64", seed=0)
    with pytest.raises(ValueError, match=r"at least one time step \(T ≥ 1\), got shape "
                                         r"\(2, 0, 3\) = \(B, T, I\)"):
        module(np.zeros((2, 0, 3)))


def test_an_lstm_warns_once_when_forwards_pile_up_on_its_tape():
    module = nplstm.LSTM(2, 3, seed=0)
    x = np.zeros((2, 1, 2), np.float32)
    with nplstm.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(2 * module.tape_warning_limit):     # nothing recorded, no warning
            module(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(module.tape_warning_limit):
            module(x)
    limit = module.tape_warning_limit
    with pytest.warns(TapeWarning, match=rf"LSTM holds {limit + 1} recorded forwards.*no_grad.*"
                                         r"LSTM\.clear_tape\(\)"):
        module(x)
    assert len(module._tape) == limit + 1


@pytest.mark.parametrize("D", [1, 2])
def test_join_directions_puts_the_outputs_side_by_side(D):
    rng = np.random.default_rng(5)
    outputs = [rng.standard_normal((4, 3, 2)) for _ in range(D)]          # D × (T, B, P)
    joined = F.join_directions(outputs)
    assert joined.shape == (4, 3, 2 * D)
    np.testing.assert_array_equal(joined, np.concatenate(outputs, axis=-1))
    assert not any(np.shares_memory(joined, out) for out in outputs)     # a new array

