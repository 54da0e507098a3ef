"""The functional cell and the LSTMCell module: gradients by finite differences, bad input."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F
from nplstm.gradcheck import CELL_NAMES, cell_pair, random_cell_case

from nplstm.nn import TapeWarning

from .helpers import rel_error
from .snapshots import assert_unchanged, snapshot
from .strategies import seed, size


@given(B=size, I=size, H=size, bias=st.booleans(), state=st.booleans(),
       unbatched=st.booleans(), seed=seed)
def test_cell_backward_matches_finite_differences(B, I, H, bias, state, unbatched, seed):
    rng = np.random.default_rng(seed)
    inputs = random_cell_case(rng, B, I, H, bias, state, unbatched)
    forward, backward = cell_pair()
    report = nplstm.gradcheck(forward, backward, inputs, names=CELL_NAMES, seed=seed)
    assert report.passed
    checked = [r.name for r in report.inputs if r.checked]
    assert checked == [n for n, a in zip(CELL_NAMES, inputs) if a is not None]


@given(dh_given=st.booleans(), dc_given=st.booleans(), seed=seed)
def test_none_upstream_gradient_means_zeros(dh_given, dc_given, seed):
    rng = np.random.default_rng(seed)
    x, h, c, wi, wh, bi, bh = random_cell_case(rng, 3, 4, 5)
    _, cache = F.lstm_cell_forward(x, (h, c), wi, wh, bi, bh)
    dh = rng.standard_normal((3, 5)) if dh_given else None
    dc = rng.standard_normal((3, 5)) if dc_given else None
    got = F.lstm_cell_backward(dh, dc, cache)
    zeros = np.zeros((3, 5))
    want = F.lstm_cell_backward(zeros if dh is None else dh, zeros if dc is None else dc, cache)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_unbatched_equals_batch_of_one():
    rng = np.random.default_rng(1)
    x, h, c, wi, wh, bi, bh = random_cell_case(rng, 1, 3, 4)
    (h1, c1), cache = F.lstm_cell_forward(x[0], (h[0], c[0]), wi, wh, bi, bh)
    (h1b, c1b), cache_b = F.lstm_cell_forward(x, (h, c), wi, wh, bi, bh)
    assert h1.shape == (4,) and c1.shape == (4,)
    np.testing.assert_array_equal(h1, h1b[0])
    np.testing.assert_array_equal(c1, c1b[0])
    dh, dc = rng.standard_normal(4), rng.standard_normal(4)
    g = F.lstm_cell_backward(dh, dc, cache)
    gb = F.lstm_cell_backward(dh[None], dc[None], cache_b)
    assert g.x.shape == (3,) and g.h_prev.shape == (4,)
    for a, b in zip(g, gb):
        np.testing.assert_array_equal(a, b.reshape(a.shape))


def test_forward_matches_the_equations_written_out():
    """An independent reference: torch's equations with exp-based σ, in float64."""
    rng = np.random.default_rng(2)
    x, h, c, wi, wh, bi, bh = random_cell_case(rng, 4, 3, 5)
    (h1, c1), _ = F.lstm_cell_forward(x, (h, c), wi, wh, bi, bh)
    z = x @ wi.T + bi + h @ wh.T + bh
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, g, o = sig(z[:, :5]), sig(z[:, 5:10]), np.tanh(z[:, 10:15]), sig(z[:, 15:])
    c_ref = f * c + i * g
    assert rel_error(c1, c_ref) < 1e-14
    assert rel_error(h1, o * np.tanh(c_ref)) < 1e-14


def test_forward_keeps_float32():
    rng = np.random.default_rng(3)
    inputs = random_cell_case(rng, 2, 3, 4, dtype=np.float32)
    (h1, c1), cache = F.lstm_cell_forward(inputs[0], (inputs[1], inputs[2]), *inputs[3:])
    grads = F.lstm_cell_backward(h1, c1, cache)
    assert h1.dtype == c1.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


# -- the module ------------------------------------------------------------------------------

def test_torch_docs_loop_runs_and_backpropagates_in_reverse():
    """The loop of torch's LSTMCell docs, verbatim, then 6 backward calls in reverse order,
    checked against finite differences of the whole loop."""
    rng = np.random.default_rng(0)
    rnn = nplstm.LSTMCell(10, 20, dtype="float64", seed=0)
    input = rng.standard_normal((6, 3, 10))  # noqa: A001  (the docs' name)
    hx = rng.standard_normal((3, 20))
    cx = rng.standard_normal((3, 20))
    output = []
    for i in range(6):
        hx, cx = rnn(input[i], (hx, cx))
        output.append(hx)
    douts = rng.standard_normal((6, 3, 20))
    dh, dc = np.zeros((3, 20)), np.zeros((3, 20))
    dinput = np.empty_like(input)
    for i in reversed(range(6)):
        dinput[i], (dh, dc) = rnn.backward(douts[i] + dh, dc)

    def loss(values):
        w = {k: v for k, v in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), values)}
        inp, h, c = values[4], values[5], values[6]
        total = 0.0
        for i in range(6):
            (h, c), _ = F.lstm_cell_forward(inp[i], (h, c), w["weight_ih"], w["weight_hh"],
                                            w["bias_ih"], w["bias_hh"])
            total += float((douts[i] * h).sum())
        return total

    h0 = rng.standard_normal((3, 20))  # a fresh state: re-run the loop with it below
    values = [p.data for p in rnn.parameters()] + [input, h0, h0 * 0.5]
    rnn.zero_grad()
    hx, cx = h0, h0 * 0.5
    for i in range(6):
        hx, cx = rnn(input[i], (hx, cx))
    dh, dc = np.zeros((3, 20)), np.zeros((3, 20))
    for i in reversed(range(6)):
        dinput[i], (dh, dc) = rnn.backward(douts[i] + dh, dc)
    analytic = [p.grad for p in rnn.parameters()] + [dinput, dh, dc]
    eps = 1e-6
    for k, (value, grad) in enumerate(zip(values, analytic)):
        picks = rng.choice(value.size, size=min(12, value.size), replace=False)
        for j in picks:
            plus, minus = [v.copy() for v in values], [v.copy() for v in values]
            plus[k].flat[j] += eps
            minus[k].flat[j] -= eps
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            assert abs(grad.flat[j] - numeric) <= 1e-8 + 1e-6 * abs(numeric), (k, j)


def test_backward_is_last_in_first_out_and_accumulates():
    rng = np.random.default_rng(4)
    cell = nplstm.LSTMCell(3, 2, dtype="float64", seed=1)
    x1, x2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    h1, c1 = cell(x1)
    cell(x2, (h1, c1))
    d = rng.standard_normal((2, 2))
    dx2, _ = cell.backward(d)
    g_after_one = cell.weight_ih.grad.copy()
    dx1, _ = cell.backward(d)
    # the second backward undid the first step (x1), and added to the gradient
    _, cache1 = F.lstm_cell_forward(x1, None, *[p.data for p in cell.parameters()])
    ref = F.lstm_cell_backward(d, None, cache1)
    np.testing.assert_allclose(dx1, ref.x, rtol=1e-14, atol=0)
    np.testing.assert_allclose(cell.weight_ih.grad, g_after_one + ref.weight_ih, rtol=1e-14)
    with pytest.raises(RuntimeError, match="no recorded forward"):
        cell.backward(d)


def test_no_grad_records_nothing():
    cell = nplstm.LSTMCell(3, 2, seed=0)
    with nplstm.no_grad():
        cell(np.ones((1, 3), np.float32))
    assert nplstm.is_grad_enabled()
    with pytest.raises(RuntimeError):
        cell.backward(np.ones((1, 2), np.float32))


# -- bad input --------------------------------------------------------------------------------

def _cell_inputs(dtype=np.float64):
    rng = np.random.default_rng(5)
    return random_cell_case(rng, 3, 4, 5, dtype=dtype)


@pytest.mark.parametrize("change, error, words", [
    (lambda a: a.update(x=a["x"][:, :3]), ValueError, ["x", "(B, I)", "(3, 4)", "(3, 3)"]),
    (lambda a: a.update(x=a["x"][None]), ValueError, ["x", "(B, I) or unbatched (I,)"]),
    (lambda a: a.update(h=a["h"][:, :4]), ValueError, ["h", "(B, H)", "(3, 5)", "(3, 4)"]),
    (lambda a: a.update(c=a["c"][:2]), ValueError, ["c", "(3, 5)", "(2, 5)"]),
    (lambda a: a.update(h=a["h"][:2], c=a["c"][:2]), ValueError, ["h", "(3, 5)", "(2, 5)"]),
    (lambda a: a.update(c=None), ValueError, ["c is missing"]),
    (lambda a: a.update(x=a["x"].astype(np.int64)), TypeError, ["x", "int64"]),
    (lambda a: a.update(x=a["x"] > 0), TypeError, ["x", "bool"]),
    (lambda a: a.update(x=a["x"].astype(np.float16)), TypeError, ["x", "float16"]),
    (lambda a: a.update(x=a["x"].astype(np.float32)), TypeError,
     ["x", "float32", "weight_ih", "float64"]),
    (lambda a: a.update(x=a["x"].tolist()), TypeError, ["x", "list"]),
    (lambda a: a.update(wh=a["wh"][:, :4]), ValueError, ["weight_hh", "(4H, H)", "(20, 5)"]),
    (lambda a: a.update(wi=a["wi"][:19]), ValueError, ["weight_ih", "multiple of 4"]),
    (lambda a: a.update(bi=a["bi"][:8]), ValueError, ["bias_ih", "(20,)", "(8,)"]),
    (lambda a: a.update(bh=None), ValueError, ["bias_ih", "without bias_hh"]),
])
def test_bad_input_is_a_clear_error(change, error, words):
    x, h, c, wi, wh, bi, bh = _cell_inputs()
    a = dict(x=x, h=h, c=c, wi=wi, wh=wh, bi=bi, bh=bh)
    change(a)
    with pytest.raises(error) as info:
        F.lstm_cell_forward(a["x"], (a["h"], a["c"]), a["wi"], a["wh"], a["bi"], a["bh"])
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_bad_upstream_gradient_is_a_clear_error():
    x, h, c, wi, wh, bi, bh = _cell_inputs()
    _, cache = F.lstm_cell_forward(x, (h, c), wi, wh, bi, bh)
    with pytest.raises(ValueError, match=r"dh must have shape \(B, H\) = \(3, 5\), got \(5,\)"):
        F.lstm_cell_backward(np.zeros(5), None, cache)
    with pytest.raises(TypeError, match="dc has dtype float32"):
        F.lstm_cell_backward(None, np.zeros((3, 5), np.float32), cache)
    with pytest.raises(TypeError, match="CellCache"):
        F.lstm_cell_backward(None, None, (1, 2))


def test_module_refuses_other_dtype_naming_both():
    cell = nplstm.LSTMCell(4, 5, seed=0)             # float32
    with pytest.raises(TypeError, match="x has dtype float64 but float32 is expected"):
        cell(np.zeros((2, 4)))
    with pytest.raises(TypeError, match="float16"):
        nplstm.LSTMCell(4, 5, dtype="float16")
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        nplstm.LSTMCell(4, 0)


def test_a_refused_backward_changes_nothing_and_the_retry_undoes_the_right_step():
    # issue 14: the refused call popped the x2 step, so the retry returned the x1 step's dx
    rng = np.random.default_rng(14)
    cell = nplstm.LSTMCell(3, 4, seed=1)
    x1, x2 = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2))
    dh = rng.standard_normal((2, 4)).astype(np.float32)
    s1 = cell(x1)
    cell(x2, s1)
    before = snapshot(cell)
    for name, bad in [("dh", (rng.standard_normal((2, 5)).astype(np.float32), None)),
                      ("dh", (dh.astype(np.float64), None)), ("dc", (dh, dh[:1])),
                      ("dc", (dh, dh.tolist()))]:
        with pytest.raises((ValueError, TypeError), match=name):
            cell.backward(*bad)
        assert_unchanged(before, snapshot(cell))
    dx, (dh_prev, dc_prev) = cell.backward(dh)
    # the reference: the functional backward of the x2 step alone, from its own cache
    _, cache = F.lstm_cell_forward(x2, s1, cell.weight_ih.data, cell.weight_hh.data,
                                   cell.bias_ih.data, cell.bias_hh.data)
    want = F.lstm_cell_backward(dh, None, cache)
    np.testing.assert_array_equal(dx, want.x)
    np.testing.assert_array_equal(cell.weight_ih.grad, want.weight_ih)
    assert len(cell._tape) == 1


def test_a_cell_warns_once_when_its_tape_outgrows_a_bptt_loop():
    cell = nplstm.LSTMCell(2, 3, seed=0)
    x = np.zeros((1, 2), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # 1000 steps of BPTT are legitimate
        for _ in range(cell.tape_warning_limit):
            cell(x)
    with pytest.warns(TapeWarning, match=r"LSTMCell holds 1001 recorded forwards.*"
                                         r"nplstm\.no_grad\(\).*clear_tape\(\)"):
        cell(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # once per module
        cell(x)
    cell.clear_tape()
    assert cell._tape == []
