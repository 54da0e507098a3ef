"""The textbook layer (nplstm.functional.reference) as the oracle of the fast one.

1. The reference is independently right: central finite differences (nplstm.gradcheck) and
   torch's golden fixtures (tests/fixtures/*.npz), and its pieces (sigmoid,
   reverse_within_lengths) on values worked out by hand.
2. Every fast function agrees with it to float64 round-off (relative 1e-12): F.lstm_cell_*,
   F.lstm_forward / F.lstm_backward with every option, in one and in many chunks of time
   steps, and nplstm.LSTM (layers, directions, projection) against the reference composed
   layer by layer here; on every array backend; a second backward on a cache gives the same.
3. Bad input gives the reference the fast layer's errors, word for word.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F
from nplstm.backend import asnumpy, device_of
from nplstm.functional import reference as R
from nplstm.functional import sequence

from . import torch_reference as ref
from .helpers import rel_error
from .strategies import layer_cases, module_configs, seed, small_size

TOL = 1e-12        # float64: the fast layer and the reference differ by round-off only
FIXTURES = Path(__file__).resolve().parent / "fixtures"


# -- helpers -------------------------------------------------------------------------------------

def assert_close(got, want, tol=TOL, what="result"):
    """Nested results (tuples, NamedTuples, dicts, arrays, None) agree to ``tol`` (rel_error),
    with the same shapes and dtypes; fields are named in the failure message."""
    if want is None:
        assert got is None, f"{what}: expected None, got {type(got).__name__}"
    elif isinstance(want, dict):
        assert sorted(got) == sorted(want), what
        for key in want:
            assert_close(got[key], want[key], tol, f"{what}[{key!r}]")
    elif isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), what
        names = getattr(want, "_fields", range(len(want)))
        for name, g, w in zip(names, got, want):
            assert_close(g, w, tol, f"{what}.{name}")
    else:
        g, w = asnumpy(got), asnumpy(want)
        assert (g.shape, g.dtype) == (w.shape, w.dtype), (what, g.shape, g.dtype, w.shape,
                                                          w.dtype)
        err = rel_error(g, w)
        assert err <= tol, f"{what}: relative error {err:.3g} > {tol:g}"


def assert_same(got, want, what="result"):
    """Bit for bit: a second backward on the same cache must repeat the first."""
    assert_close(got, want, tol=0.0, what=what)


def normal(rng, *shape):
    """Standard normal values with no exact zeros (a zero could hide a bug)."""
    a = rng.standard_normal(shape)
    a[a == 0] = 0.5
    return a


def cell_inputs(rng, B, I, H, bias, state):
    """x, state, weight_ih, weight_hh, bias_ih, bias_hh; B None means unbatched."""
    b = () if B is None else (B,)
    return (normal(rng, *b, I), (normal(rng, *b, H), normal(rng, *b, H)) if state else None,
            normal(rng, 4 * H, I) / 2, normal(rng, 4 * H, H) / 2,
            normal(rng, 4 * H) if bias else None, normal(rng, 4 * H) if bias else None)


def sequence_inputs(rng, T, B, I, H, proj, bias, state):
    """x, state, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr; B None means unbatched."""
    b = () if B is None else (B,)
    P = proj or H
    return (normal(rng, T, *b, I),
            (normal(rng, *b, P), normal(rng, *b, H)) if state else None,
            normal(rng, 4 * H, I) / 2, normal(rng, 4 * H, P) / 2,
            normal(rng, 4 * H) if bias else None, normal(rng, 4 * H) if bias else None,
            normal(rng, P, H) if proj else None)


def sequence_upstream(rng, T, B, H, P, which):
    """doutput, dh_n, dc_n: ``which`` of them random, the others None."""
    b = () if B is None else (B,)
    shapes = {"doutput": (T, *b, P), "dh_n": (*b, P), "dc_n": (*b, H)}
    return tuple(normal(rng, *shapes[name]) if name in which else None for name in shapes)


UPSTREAM = st.sampled_from([("doutput", "dh_n", "dc_n"), ("doutput",), ("dh_n", "dc_n"),
                            ("dc_n",)])


def check_sequence_against_reference(inputs, upstream, lengths, reverse):
    """F.lstm_forward/backward (with and without a cache, record= too) against the reference;
    each backward is run twice on its cache."""
    kwargs = dict(lengths=lengths, reverse=reverse)
    want, ref_cache = R.lstm_forward(*inputs, **kwargs)
    got, cache = F.lstm_forward(*inputs, **kwargs)
    assert_close(got, want, what="lstm_forward")
    inference, none = F.lstm_forward(*inputs, **kwargs, keep_cache=False)
    assert none is None
    assert_close(inference, want, what="lstm_forward(keep_cache=False)")
    ref_inference, ref_none = R.lstm_forward(*inputs, **kwargs, keep_cache=False)
    assert ref_none is None
    assert_same(ref_inference, want, what="reference.lstm_forward(keep_cache=False)")

    ref_record, record = {}, {}
    want_grads = R.lstm_backward(*upstream, ref_cache, record=ref_record)
    grads = F.lstm_backward(*upstream, cache, record=record)
    assert_close(grads, want_grads, what="lstm_backward")
    assert_close(record, ref_record, what="record")
    assert all(v.dtype == np.float64 and v.shape == (len(inputs[0]),)
               for v in record.values())
    assert_same(F.lstm_backward(*upstream, cache), grads, what="F.lstm_backward, twice")
    assert_same(R.lstm_backward(*upstream, ref_cache), want_grads,
                what="reference.lstm_backward, twice")


# -- 1. the reference itself ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_exactly_keeps_dtype_and_never_warns(dtype):
    z = np.array([-1e4, -50.0, -3.0, 0.0, 0.5, 3.0, 50.0, 1e4], dtype=dtype)
    with np.errstate(all="raise"):
        s = R.sigmoid(z)
    assert s.dtype == dtype
    assert s[0] == 0 and s[-1] == 1 and s[3] == 0.5
    exact = np.array([0.0, 1.928749847963918e-22, 0.04742587317756678, 0.5,
                      0.6224593312018546, 0.9525741268224334, 1.0, 1.0])   # 1/(1 + e^−z)
    assert np.abs(s - exact).max() <= 4 * np.finfo(dtype).eps   # absolute: as σ feeds sums


def test_reverse_within_lengths_by_hand():
    T, lengths = 5, np.array([2, 5, 1, 3])
    a = np.broadcast_to(np.arange(T)[:, None, None], (T, 4, 2)) * np.array([1.0, 10.0])
    reversed_ = R.reverse_within_lengths(a, lengths)
    # each column: its first len_b steps in reverse order, the padding in place
    expected_times = np.array([[1, 4, 0, 2], [0, 3, 1, 1], [2, 2, 2, 0], [3, 1, 3, 3],
                               [4, 0, 4, 4]])                            # (T, B)
    assert np.array_equal(reversed_[..., 0], expected_times)
    assert np.array_equal(reversed_[..., 1], 10 * expected_times)
    assert np.array_equal(R.reverse_within_lengths(reversed_, lengths), a)   # an involution


CELL_NAMES = ["x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]


@pytest.mark.parametrize("B, bias", [(3, True), (None, False), (1, True)])
def test_reference_cell_matches_finite_differences(B, bias):
    rng = np.random.default_rng(11)
    x, (h, c), *weights = cell_inputs(rng, B, 3, 4, bias, state=True)

    def forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        return R.lstm_cell_forward(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)

    def backward(doutput, cache):
        return R.lstm_cell_backward(*doutput, cache)

    report = nplstm.gradcheck(forward, backward, [x, h, c, *weights], names=CELL_NAMES)
    assert report.passed


SEQUENCE_NAMES = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"]


@pytest.mark.parametrize("B, lengths, reverse, proj, bias", [
    (4, [2, 5, 1, 3], True, 2, True),
    (3, [4, 1, 5], False, 0, False),
    (None, None, True, 3, True),
])
def test_reference_sequence_matches_finite_differences(B, lengths, reverse, proj, bias):
    rng = np.random.default_rng(12)
    x, (h0, c0), *weights = sequence_inputs(rng, 5, B, 3, 4, proj, bias, state=True)

    def forward(x, h0, c0, *weights):
        return R.lstm_forward(x, (h0, c0), *weights, lengths=lengths, reverse=reverse)

    def backward(doutput, cache):
        output, (dh_n, dc_n) = doutput
        return R.lstm_backward(output, dh_n, dc_n, cache)

    report = nplstm.gradcheck(forward, backward, [x, h0, c0, *weights], names=SEQUENCE_NAMES)
    assert report.passed


def _case_names(filename):
    with np.load(FIXTURES / filename, allow_pickle=False) as z:
        return sorted({k.split("/")[0] for k in z.files})


def _load_case(filename, name):
    prefix = name + "/"
    with np.load(FIXTURES / filename, allow_pickle=False) as z:
        config = ref.config_from_array(z[prefix + "config"])
        data = {k[len(prefix):]: z[k] for k in z.files
                if k.startswith(prefix) and k != prefix + "config"}
    return config, data


def reference_cell_results(config, data):
    """torch_reference's keys for a cell config: a Python loop of reference cell steps,
    backpropagated in reverse with dh, dc carried from step s + 1 to step s."""
    p = ref.params_of(data)
    weights = (p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"))
    x, dh = data["in/x"], data["in/dh"]
    dc = data.get("in/dc", np.zeros_like(dh))
    state = (data["in/h0"], data["in/c0"]) if config["state"] else None
    hs, cs, caches = [], [], []
    for s in range(config["steps"]):
        state, cache = R.lstm_cell_forward(x[s], state, *weights)
        hs.append(state[0])
        cs.append(state[1])
        caches.append(cache)
    dh_next, dc_next, dx, param_grads = 0, 0, [], []
    for s in reversed(range(config["steps"])):
        g = R.lstm_cell_backward(dh[s] + dh_next, dc[s] + dc_next, caches[s])
        dh_next, dc_next = g.h_prev, g.c_prev
        dx.insert(0, g.x)
        param_grads.append(g)
    res = {"out/h": np.stack(hs), "out/c": np.stack(cs), "grad/x": np.stack(dx)}
    if config["state"]:
        res["grad/h0"], res["grad/c0"] = dh_next, dc_next
    for name in p:
        res[f"grad/{name}"] = sum(getattr(g, name) for g in param_grads)
    return res


def reference_lstm_results(config, data):
    """torch_reference's keys for an LSTM config: the reference sequence pair composed layer
    by layer and direction by direction (torch.nn.LSTM without dropout, as in eval mode)."""
    L, D = config["num_layers"], 2 if config["bidirectional"] else 1
    P = config["proj_size"] or config["hidden_size"]
    p = ref.params_of(data)
    time_major = config["batch_first"] and config["batch"] is not None
    swap = (lambda a: a.transpose(1, 0, 2)) if time_major else (lambda a: a)  # noqa: E731
    x, dout = swap(data["in/x"]), swap(data["in/dout"])           # (T, B, ·) or (T, ·)
    h0, c0 = data.get("in/h0"), data.get("in/c0")
    dh_n, dc_n = data.get("in/dh_n"), data.get("in/dc_n")
    suffix = lambda k: f"_l{k // D}" + ("_reverse" if k % D else "")  # noqa: E731
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    layer_input, caches, h_n, c_n = x, [], [], []
    for layer in range(L):
        outputs = []
        for k in range(layer * D, layer * D + D):
            (out, (h, c)), cache = R.lstm_forward(
                layer_input, None if h0 is None else (h0[k], c0[k]),
                *(p.get(name + suffix(k)) for name in names),
                lengths=config["lengths"], reverse=k % D == 1)
            outputs.append(out)
            caches.append(cache)
            h_n.append(h)
            c_n.append(c)
        layer_input = np.concatenate(outputs, axis=-1)
    res = {"out/output": swap(layer_input), "out/h_n": np.stack(h_n), "out/c_n": np.stack(c_n)}
    d_output, dh0, dc0 = dout, [None] * (L * D), [None] * (L * D)
    for layer in reversed(range(L)):
        d_input = 0
        for k in range(layer * D, layer * D + D):
            g = R.lstm_backward(d_output[..., (k % D) * P:(k % D + 1) * P],
                                None if dh_n is None else dh_n[k],
                                None if dc_n is None else dc_n[k], caches[k])
            d_input = d_input + g.x
            dh0[k], dc0[k] = g.h0, g.c0
            res.update({f"grad/{name}{suffix(k)}": getattr(g, name) for name in names
                        if getattr(g, name) is not None})
        d_output = d_input
    res["grad/x"] = swap(d_output)
    if config["state"]:
        res["grad/h0"], res["grad/c0"] = np.stack(dh0), np.stack(dc0)
    return res


@pytest.mark.parametrize("name", _case_names("cell.npz"))
def test_reference_cell_matches_torch_fixtures(name):
    config, data = _load_case("cell.npz", name)
    errors = ref.compare(reference_cell_results(config, data), data)
    assert max(errors.values()) <= ref.CELL_TOL, errors


@pytest.mark.parametrize("name", _case_names("lstm.npz"))
def test_reference_lstm_matches_torch_fixtures(name):
    config, data = _load_case("lstm.npz", name)
    errors = ref.compare(reference_lstm_results(config, data), data)
    assert max(errors.values()) <= ref.LSTM_TOL, errors


# -- 2. the fast layer against the reference -----------------------------------------------------

@given(B=st.one_of(st.none(), small_size), I=small_size, H=small_size, bias=st.booleans(),
       state=st.booleans(), upstream=st.sampled_from(["dh, dc", "dh", "dc"]), seed=seed)
@example(B=None, I=2, H=3, bias=False, state=False, upstream="dh, dc", seed=1)
@example(B=1, I=1, H=1, bias=True, state=True, upstream="dh", seed=2)
def test_cell_matches_reference(B, I, H, bias, state, upstream, seed):
    rng = np.random.default_rng(seed)
    inputs = cell_inputs(rng, B, I, H, bias, state)
    b = () if B is None else (B,)
    dh = normal(rng, *b, H) if "dh" in upstream else None
    dc = normal(rng, *b, H) if "dc" in upstream else None
    want, ref_cache = R.lstm_cell_forward(*inputs)
    got, cache = F.lstm_cell_forward(*inputs)
    assert_close(got, want, what="lstm_cell_forward")
    want_grads = R.lstm_cell_backward(dh, dc, ref_cache)
    grads = F.lstm_cell_backward(dh, dc, cache)
    assert_close(grads, want_grads, what="lstm_cell_backward")
    assert_same(F.lstm_cell_backward(dh, dc, cache), grads, what="F.lstm_cell_backward, twice")
    assert_same(R.lstm_cell_backward(dh, dc, ref_cache), want_grads,
                what="reference.lstm_cell_backward, twice")


@st.composite
def sequence_case(draw):
    return dict(draw(layer_cases(unbatched=True)), upstream=draw(UPSTREAM))


_EDGE = dict(T=1, B=1, I=1, H=1, proj=0, bias=True, state=True, lengths=None, reverse=False,
             upstream=("doutput", "dh_n", "dc_n"), seed=3)


@given(case=sequence_case())
@example(case=_EDGE)
@example(case=dict(_EDGE, T=4, B=None, H=3, proj=2, bias=False, lengths=[3], reverse=True))
@example(case=dict(_EDGE, T=5, B=3, I=2, H=2, state=False, lengths=[5, 1, 3], reverse=True,
                   upstream=("dc_n",)))
def test_sequence_matches_reference(case):
    rng = np.random.default_rng(case["seed"])
    T, B, H, proj = case["T"], case["B"], case["H"], case["proj"]
    inputs = sequence_inputs(rng, T, B, case["I"], H, proj, case["bias"], case["state"])
    upstream = sequence_upstream(rng, T, B, H, proj or H, case["upstream"])
    check_sequence_against_reference(inputs, upstream, case["lengths"], case["reverse"])


@pytest.mark.parametrize("lengths, reverse", [(None, False), (None, True), ([4], True)])
@pytest.mark.parametrize("proj", [0, 2])
def test_unbatched_sequence_matches_reference(lengths, reverse, proj):
    """x (T, I), state (P,), (H,): F.lstm_backward's unbatched path against the reference."""
    rng = np.random.default_rng(13)
    inputs = sequence_inputs(rng, 6, None, 3, 4, proj, bias=True, state=True)
    upstream = sequence_upstream(rng, 6, None, 4, proj or 4, ("doutput", "dh_n", "dc_n"))
    check_sequence_against_reference(inputs, upstream, lengths, reverse)


def test_record_with_projection_is_the_norm_of_dh_not_of_dr():
    """With a projection ∂L/∂h_t (P) and ∂L/∂r_t = ∂L/∂h_t W_hr (H) differ: record["dh"]
    holds the first, as the reference computes it."""
    rng = np.random.default_rng(14)
    T, B, H, P = 4, 3, 5, 2
    inputs = sequence_inputs(rng, T, B, 3, H, P, bias=True, state=True)
    upstream = sequence_upstream(rng, T, B, H, P, ("doutput", "dh_n", "dc_n"))
    _, ref_cache = R.lstm_forward(*inputs, lengths=[4, 2, 3], reverse=True)
    _, cache = F.lstm_forward(*inputs, lengths=[4, 2, 3], reverse=True)
    ref_record, record = {}, {}
    R.lstm_backward(*upstream, ref_cache, record=ref_record)
    F.lstm_backward(*upstream, cache, record=record)
    assert_close(record, ref_record, what="record")
    # reverse: input time 0 is every sequence's last step, where ∂L/∂h_0 = doutput_0 + dh_n
    doutput, dh_n, _ = upstream
    dh_0 = doutput[0] + dh_n                                              # (B, P)
    assert rel_error(record["dh"][0], np.sqrt((dh_0 ** 2).sum())) <= TOL
    dr_0 = dh_0 @ inputs[-1]                                              # (B, H) ∂L/∂r_0
    assert rel_error(record["dh"][0], np.sqrt((dr_0 ** 2).sum())) > 1e-3


# Chunks of time steps: the backward computes its factors in chunks of
# _BACKWARD_CHUNK_ELEMENTS // (B·5H) steps; the inference forward projects the input in chunks
# of max(_INFERENCE_CHUNK_ELEMENTS // (B·4H), ⌈_INFERENCE_CHUNK_MIN_ROWS / B⌉) steps; from
# _TRANSPOSE_MIN_STEPS steps on, W_hhᵀ is a contiguous copy.  Tests elsewhere use sizes far
# below all three, so each runs with them set small: 1 step per chunk, chunks that do not
# divide T, one chunk; the copy and the view.
T_CHUNKED, B_CHUNKED, H_CHUNKED = 7, 3, 2


@pytest.mark.parametrize("backward_steps, inference_steps, min_rows_steps", [
    (1, 1, 1), (2, 2, 1), (3, 1, 3), (T_CHUNKED, T_CHUNKED, 1)])
@pytest.mark.parametrize("transpose_min_steps", [T_CHUNKED, T_CHUNKED + 1])
def test_chunked_sequence_matches_reference(monkeypatch, backward_steps, inference_steps,
                                            min_rows_steps, transpose_min_steps):
    T, B, H = T_CHUNKED, B_CHUNKED, H_CHUNKED
    monkeypatch.setattr(sequence, "_BACKWARD_CHUNK_ELEMENTS", backward_steps * B * 5 * H)
    monkeypatch.setattr(sequence, "_INFERENCE_CHUNK_ELEMENTS", inference_steps * B * 4 * H)
    monkeypatch.setattr(sequence, "_INFERENCE_CHUNK_MIN_ROWS", min_rows_steps * B)
    monkeypatch.setattr(sequence, "_TRANSPOSE_MIN_STEPS", transpose_min_steps)
    assert sequence._backward_chunk(T, B, H) == backward_steps
    rng = np.random.default_rng(backward_steps * 10 + transpose_min_steps)
    for lengths, reverse, proj in [(None, False, 0), (None, True, 1), ([5, 7, 2], False, 1),
                                   ([3, 1, 6], True, 0)]:
        inputs = sequence_inputs(rng, T, B, 3, H, proj, bias=True, state=True)
        upstream = sequence_upstream(rng, T, B, H, proj or H, ("doutput", "dh_n", "dc_n"))
        check_sequence_against_reference(inputs, upstream, lengths, reverse)


@given(config=module_configs(max_size=4, max_T=4, max_batch=3, dropouts=(0.0,)),
       seed=seed)
def test_lstm_module_matches_reference_composed_layer_by_layer(config, seed):
    data = ref.make_inputs(config, seed)
    errors = ref.compare(ref.run_nplstm(config, data), reference_lstm_results(config, data))
    assert max(errors.values()) <= TOL, errors


# -- every backend, float32 ----------------------------------------------------------------------

def test_on_every_backend(backend):
    """The reference runs on each backend (its arrays stay there), gives NumPy's numbers,
    and the fast layer on that backend agrees with it."""
    rng = np.random.default_rng(15)
    put = lambda a: None if a is None else backend.put(a)  # noqa: E731
    x, (h, c), *w = cell_inputs(rng, 3, 2, 4, bias=True, state=True)
    dh, dc = normal(rng, 3, 4), normal(rng, 3, 4)
    host_cell = R.lstm_cell_forward(x, (h, c), *w)
    host_grads = R.lstm_cell_backward(dh, dc, host_cell[1])
    out, cache = R.lstm_cell_forward(put(x), (put(h), put(c)), *map(put, w))
    grads = R.lstm_cell_backward(put(dh), put(dc), cache)
    backend.assert_same(out, host_cell[0])
    backend.assert_same(grads, host_grads)
    fast_out, fast_cache = F.lstm_cell_forward(put(x), (put(h), put(c)), *map(put, w))
    assert_close(fast_out, out)
    assert_close(F.lstm_cell_backward(put(dh), put(dc), fast_cache), grads)

    inputs = sequence_inputs(rng, 5, 4, 3, 4, 2, bias=True, state=True)
    upstream = sequence_upstream(rng, 5, 4, 4, 2, ("doutput", "dh_n", "dc_n"))
    kwargs = dict(lengths=[2, 5, 1, 3], reverse=True)
    host_out, host_cache = R.lstm_forward(*inputs, **kwargs)
    host_record = {}
    host_grads = R.lstm_backward(*upstream, host_cache, record=host_record)
    x, (h0, c0), *w = inputs
    dev_inputs = (put(x), (put(h0), put(c0)), *map(put, w))
    out, cache = R.lstm_forward(*dev_inputs, **kwargs)
    record = {}
    grads = R.lstm_backward(*map(put, upstream), cache, record=record)
    backend.assert_same(out, host_out)
    backend.assert_same(grads, host_grads)
    assert_close(record, host_record)
    assert all(device_of(step.i) == backend.device for step in cache.steps)
    fast_out, fast_cache = F.lstm_forward(*dev_inputs, **kwargs)
    fast_record = {}
    assert_close(fast_out, out)
    assert_close(F.lstm_backward(*map(put, upstream), fast_cache, record=fast_record), grads)
    assert_close(fast_record, record)


def test_float32_stays_float32_and_agrees_with_the_fast_layer():
    rng = np.random.default_rng(16)
    inputs = sequence_inputs(rng, 5, 3, 3, 4, 2, bias=True, state=True)
    upstream = sequence_upstream(rng, 5, 3, 4, 2, ("doutput", "dh_n", "dc_n"))
    as32 = lambda a: None if a is None else a.astype(np.float32)  # noqa: E731
    x, (h0, c0), *w = inputs
    inputs32 = (as32(x), (as32(h0), as32(c0)), *map(as32, w))
    upstream32 = tuple(map(as32, upstream))
    tol = 64 * np.finfo(np.float32).eps       # the two layers round differently: a few ulps
    kwargs = dict(lengths=[5, 2, 4], reverse=True)
    want, ref_cache = R.lstm_forward(*inputs32, **kwargs)
    got, cache = F.lstm_forward(*inputs32, **kwargs)
    assert_close(got, want, tol)                   # shapes and dtypes (float32) too
    want_grads = R.lstm_backward(*upstream32, ref_cache)
    assert_close(F.lstm_backward(*upstream32, cache), want_grads, tol)
    assert all(g is None or g.dtype == np.float32 for g in want_grads)


# -- 3. bad input: the fast layer's errors ------------------------------------------------------

def _bad_calls():
    rng = np.random.default_rng(17)
    x, state, w_ih, w_hh, b_ih, b_hh = cell_inputs(rng, 2, 3, 4, bias=True, state=True)
    xs, seq_state, *seq_w = sequence_inputs(rng, 5, 2, 3, 4, 2, bias=True, state=True)
    _, cell_cache = F.lstm_cell_forward(x, state, w_ih, w_hh, b_ih, b_hh)
    _, ref_cell_cache = R.lstm_cell_forward(x, state, w_ih, w_hh, b_ih, b_hh)
    _, seq_cache = F.lstm_forward(xs, seq_state, *seq_w)
    _, ref_seq_cache = R.lstm_forward(xs, seq_state, *seq_w)
    return {
        "cell: x of the wrong size": lambda m: m.lstm_cell_forward(x[:, :2], state, w_ih, w_hh),
        "cell: float32 x": lambda m: m.lstm_cell_forward(x.astype(np.float32), state, w_ih,
                                                         w_hh),
        "cell: bias_ih alone": lambda m: m.lstm_cell_forward(x, state, w_ih, w_hh, b_ih),
        "cell: h without c": lambda m: m.lstm_cell_forward(x, (state[0], None), w_ih, w_hh),
        "cell: weight_hh (4H, H + 1)": lambda m: m.lstm_cell_forward(
            x, state, w_ih, np.zeros((16, 5)), b_ih, b_hh),
        "cell backward: dh of the wrong shape": lambda m: m.lstm_cell_backward(
            x, None, cell_cache if m is F else ref_cell_cache),
        "sequence: 4-D x": lambda m: m.lstm_forward(xs[None], seq_state, *seq_w),
        "sequence: a length of 0": lambda m: m.lstm_forward(xs, seq_state, *seq_w,
                                                            lengths=[0, 5]),
        "sequence: float lengths": lambda m: m.lstm_forward(xs, seq_state, *seq_w,
                                                            lengths=np.array([1.0, 2.0])),
        "sequence: weight_hr (P, H + 1)": lambda m: m.lstm_forward(
            xs, seq_state, *seq_w[:4], np.zeros((2, 5))),
        "sequence: h0 of size H, not P": lambda m: m.lstm_forward(
            xs, (seq_state[1], seq_state[1]), *seq_w),
        "sequence backward: doutput (T, B, H)": lambda m: m.lstm_backward(
            np.zeros((5, 2, 4)), None, None, seq_cache if m is F else ref_seq_cache),
        "sequence backward: record a list": lambda m: m.lstm_backward(
            None, None, None, seq_cache if m is F else ref_seq_cache, record=[]),
    }


BAD_CALLS = _bad_calls()


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_input_gives_the_fast_layers_error(name):
    call = BAD_CALLS[name]
    with pytest.raises((TypeError, ValueError)) as fast:
        call(F)
    with pytest.raises(type(fast.value)) as reference:
        call(R)
    assert str(reference.value) == str(fast.value)


def test_a_cache_of_the_other_layer_is_refused():
    rng = np.random.default_rng(18)
    x, state, *w = cell_inputs(rng, 2, 3, 4, bias=True, state=True)
    _, fast_cache = F.lstm_cell_forward(x, state, *w)
    with pytest.raises(TypeError, match="StepCache returned by reference.lstm_cell_forward"):
        R.lstm_cell_backward(None, None, fast_cache)
    xs, seq_state, *seq_w = sequence_inputs(rng, 3, 2, 3, 4, 0, bias=True, state=True)
    _, fast_seq_cache = F.lstm_forward(xs, seq_state, *seq_w)
    with pytest.raises(TypeError, match="LoopCache returned by reference.lstm_forward"):
        R.lstm_backward(None, None, None, fast_seq_cache)
    _, no_cache = R.lstm_forward(xs, seq_state, *seq_w, keep_cache=False)
    with pytest.raises(TypeError, match="got NoneType"):
        R.lstm_backward(None, None, None, no_cache)
