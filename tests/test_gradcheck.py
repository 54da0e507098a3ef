"""The gradient checker itself: it passes right backwards and catches planted bugs.

Which mode sees which planted bug (the cell, float64; ✓ = caught, every time):

    bug                                     full  sampled  directional  adjoint
    whole gradient off by relative 1e-4      ✓      ✓          ✓           ✓
    one wrong element (+1e-3)                ✓      if drawn   ✓           ✓
    missing term (f in dc_prev)              ✓      ✓          ✓           ✓
    zeroed bias gradient                     ✓      ✓          ✓           ✓
    transposed weight gradient (same shape)  ✓      ✓          ✓           ✓
    whole gradient off by relative 1e-8      -      -          -           ✓

A transposed gradient of another shape is a ValueError naming the input, in every mode
(the adjoint check included).
"""

import inspect
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm
from nplstm.gradcheck import (MODES, Layout, MutatingForwardError, NondeterministicForwardError,
                              blocks)
from nplstm.gradcheck.contract import EPS_MAX, EPS_MIN
from nplstm.gradcheck import (CELL_NAMES, SEQUENCE_NAMES, cell_jvp, cell_layouts, cell_pair,
                              cross_entropy_pair, embedding_pair, linear_pair, module_layouts,
                              module_pair, mse_pair, random_cell_case, random_lstm_case,
                              random_sequence_case, sequence_layouts, sequence_pair)

from .helpers import Counted
from .strategies import seed, size, small_size

FD_MODES = ("full", "sampled", "directional")


def _case(seed=0, B=3, I=4, H=5, dtype=np.float64):
    return random_cell_case(np.random.default_rng(seed), B, I, H, dtype=dtype)


def _planted(change):
    """The cell's backward with its gradients altered by ``change(grads, cache) -> grads``."""
    forward, backward = cell_pair()
    return forward, lambda d, cache: change(list(backward(d, cache)), cache)


def _scaled(k, factor):
    def change(g, cache):
        g[k] = g[k] * factor
        return g
    return change


def _one_element(g, cache):
    g[4] = g[4].copy()
    g[4][7, 2] += 1e-3                        # weight_hh, gate f (H = 5), unit 2
    return g


def _forget_gate_missing(g, cache):
    f = cache.gates[:, 5:10]                  # the forget gate, (B, H) with H = 5
    g[2] = g[2] / f                           # dc_prev = dc instead of dc ⊙ f
    return g


def _zero_bias(g, cache):
    g[5] = np.zeros_like(g[5])
    return g


def _transposed_same_shape(g, cache):
    g[4] = np.ascontiguousarray(g[4].T).reshape(g[4].shape)   # (H, 4H) data read as (4H, H)
    return g


BUGS = {   # name: (change, the input it breaks)
    "relative 1e-4": (_scaled(1, 1 + 1e-4), "h"),
    "one wrong element": (_one_element, "weight_hh"),
    "missing forget gate in dc_prev": (_forget_gate_missing, "c"),
    "zeroed bias gradient": (_zero_bias, "bias_ih"),
    "transposed weight gradient": (_transposed_same_shape, "weight_hh"),
}


def _check(mode, forward, backward, inputs, **kw):
    """Run one mode (a finite-difference mode or "adjoint") without raising."""
    if mode == "adjoint":
        return nplstm.adjoint_check(cell_jvp, (forward, backward), inputs, names=CELL_NAMES,
                                    raise_exception=False, **kw)
    return nplstm.gradcheck(forward, backward, inputs, names=CELL_NAMES, mode=mode,
                            raise_exception=False, **kw)


# ---- right backwards pass -------------------------------------------------------------------

@given(B=size, I=size, H=small_size, seed=seed, mode=st.sampled_from(FD_MODES),
       bias=st.booleans(), state=st.booleans(), unbatched=st.booleans())
def test_passes_the_cell_in_every_mode(B, I, H, seed, mode, bias, state, unbatched):
    rng = np.random.default_rng(seed)
    inputs = random_cell_case(rng, B, I, H, bias, state, unbatched)
    report = nplstm.gradcheck(*cell_pair(), inputs, names=CELL_NAMES, mode=mode, seed=seed,
                              layouts=cell_layouts(H) if bias else None, samples=8)
    assert report.passed
    assert max(r.worst_ratio for r in report.inputs if r.checked) < 0.5


@settings(max_examples=12)
@given(T=small_size, B=small_size, I=small_size, H=small_size, seed=seed,
       mode=st.sampled_from(FD_MODES), reverse=st.booleans(), proj=st.booleans(),
       ragged=st.booleans())
def test_passes_the_sequence_in_every_mode(T, B, I, H, seed, mode, reverse, proj, ragged):
    rng = np.random.default_rng(seed)
    P = 1 if proj and H > 1 else 0
    inputs = random_sequence_case(rng, T, B, I, H, P)
    lengths = [int(v) for v in rng.integers(1, T + 1, size=B)] if ragged else None
    layouts = sequence_layouts(T, H)
    report = nplstm.gradcheck(*sequence_pair(lengths, reverse), inputs, names=SEQUENCE_NAMES,
                              mode=mode, seed=seed, samples=6, layouts=layouts)
    assert report.passed


@settings(max_examples=6)
@given(seed=seed, layers=st.integers(1, 2), bidirectional=st.booleans(),
       mode=st.sampled_from(FD_MODES))
def test_passes_the_module_with_its_layouts(seed, layers, bidirectional, mode):
    rng = np.random.default_rng(seed)
    module, inputs = random_lstm_case(rng, 3, 2, 2, 2, layers, bidirectional)
    forward, backward, names = module_pair(module, lengths=[3, 1])
    report = nplstm.gradcheck(forward, backward, inputs, names=names, mode=mode, samples=4,
                              layouts=module_layouts(module, 3), seed=seed)
    assert report.passed
    breakdown = report.breakdown()
    assert set(breakdown["layer"]) == set(range(layers))
    assert set(breakdown["direction"]) == ({"forward", "reverse"} if bidirectional
                                           else {"forward"})
    assert set(breakdown["gate"]) == {"i", "f", "g", "o"}


@pytest.mark.parametrize("pair, inputs, names", [
    (linear_pair(), lambda r: [r.standard_normal((3, 4)), r.standard_normal((2, 4)),
                               r.standard_normal(2)], ["x", "weight", "bias"]),
    (embedding_pair(), lambda r: [r.integers(0, 3, size=(4, 2)), r.standard_normal((3, 2))],
     ["indices", "weight"]),
    (cross_entropy_pair(), lambda r: [r.standard_normal((4, 3)), np.array([0, 2, -100, 1])],
     ["logits", "targets"]),
    (mse_pair(), lambda r: [r.standard_normal((2, 3)), r.standard_normal((2, 3))],
     ["pred", "target"]),
])
@pytest.mark.parametrize("mode", FD_MODES)
def test_passes_linear_embedding_and_losses(pair, inputs, names, mode):
    report = nplstm.gradcheck(*pair, inputs(np.random.default_rng(0)), names=names, mode=mode)
    assert report.passed
    assert all(r.checked == (r.name not in ("indices", "targets")) for r in report.inputs)


def test_float32_backwards_pass_at_derived_tolerances_and_a_1e_3_bug_fails():
    rng = np.random.default_rng(3)
    worst = 0.0
    for k in range(8):
        inputs = random_cell_case(rng, 1 + k % 4, 3, 2 + k % 3, dtype=np.float32)
        report = nplstm.gradcheck(*cell_pair(), inputs, names=CELL_NAMES, mode="sampled",
                                  samples=6, seed=k)
        worst = max(worst, max(r.worst_ratio for r in report.inputs if r.checked))
    module, inputs = random_lstm_case(rng, 5, 3, 2, 3, 2, True, dtype="float32")
    forward, backward, names = module_pair(module, lengths=[5, 2, 4])
    report = nplstm.gradcheck(forward, backward, inputs, names=names, mode="sampled",
                              samples=4)
    worst = max(worst, max(r.worst_ratio for r in report.inputs if r.checked))
    assert worst < 0.2                        # a margin of 5 at least: no flakes
    assert 1e-6 < report.rtol < 1e-3          # derived from u32 and the problem size
    bugged = _planted(_scaled(3, 1 + 1e-3))
    report = nplstm.gradcheck(*bugged, _case(dtype=np.float32), names=CELL_NAMES,
                              raise_exception=False)
    assert report.failed == ["weight_ih"]


# ---- planted bugs ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode", FD_MODES + ("adjoint",))
@pytest.mark.parametrize("bug", [b for b in BUGS if b != "one wrong element"])
def test_every_mode_catches_the_planted_bugs_and_names_the_input(bug, mode):
    change, broken = BUGS[bug]
    report = _check(mode, *_planted(change), _case(1))
    assert not report.passed
    assert report.failed == [broken]


@pytest.mark.parametrize("mode", ["full", "directional", "adjoint"])
def test_one_wrong_element_is_caught_and_full_mode_names_it(mode):
    report = _check(mode, *_planted(_one_element), _case())
    assert report.failed == ["weight_hh"]
    if mode == "full":
        bad = report["weight_hh"]
        assert bad.n_failed == 1 and bad.worst_index == (7, 2)
        assert abs(bad.worst_analytic - bad.worst_numeric - 1e-3) < 1e-8


def test_sampled_mode_sees_one_wrong_element_only_when_it_is_drawn():
    caught = [not _check("sampled", *_planted(_one_element), _case(), seed=s, samples=16).passed
              for s in range(20)]
    assert 0 < sum(caught) < 20               # 16 of weight_hh's 100 elements are drawn
    everything = _check("sampled", *_planted(_one_element), _case(), samples=100)
    assert everything.failed == ["weight_hh"] and everything["weight_hh"].n_checked == 100


def test_adjoint_check_catches_a_relative_1e_8_bug_finite_differences_cannot():
    bugged = _planted(_scaled(4, 1 + 1e-8))
    assert _check("full", *bugged, _case()).passed
    assert _check("full", *bugged, _case(), richardson=True).passed
    report = _check("adjoint", *bugged, _case())
    assert report.failed == ["weight_hh"]
    right = _check("adjoint", *cell_pair(), _case())
    assert right.passed and max(r.max_rel_error for r in right.inputs) < 1e-13


def test_the_breakdown_names_the_wrong_gate_block():
    def forget_rows_wrong(g, cache):
        g[3] = g[3].copy()
        g[3][5:10] *= 1.01                   # dweight_ih, rows of the forget gate
        return g

    for mode in FD_MODES:
        report = _check(mode, *_planted(forget_rows_wrong), _case(), layouts=cell_layouts(5),
                        samples=60)
        gates = report.breakdown()["gate"]
        assert [g for g, s in gates.items() if s.n_failed] == ["f"], mode
        assert "gate" in str(report) and "FAIL" in str(report)


def test_the_breakdown_names_the_time_step_and_the_direction():
    rng = np.random.default_rng(0)
    module, inputs = random_lstm_case(rng, 4, 2, 2, 2, 1, True)
    forward, backward, names = module_pair(module)

    def off_at_step_2_reverse(d, m):
        g = backward(d, m)
        g[0] = g[0].copy()
        g[0][2] *= 1.01                                           # dx at t = 2
        k = names.index("weight_hh_l0_reverse")
        g[k] = g[k] * 1.01
        return g

    report = nplstm.gradcheck(forward, off_at_step_2_reverse, inputs, names=names,
                              layouts=module_layouts(module, 4), raise_exception=False)
    breakdown = report.breakdown()
    assert [t for t, s in breakdown["time"].items() if s.n_failed] == [2]
    assert [d for d, s in breakdown["direction"].items() if s.n_failed] == ["reverse"]
    assert report.failed == ["x", "weight_hh_l0_reverse"]


def test_a_transposed_gradient_of_another_shape_is_a_clear_error_in_every_mode():
    forward, backward = _planted(lambda g, c: [g[0]] + [g[1], g[2], g[3].T] + g[4:])
    for mode in FD_MODES + ("adjoint",):
        with pytest.raises(ValueError, match="gradient for weight_ih has shape"):
            _check(mode, forward, backward, _case())


# ---- options, inputs, reports ----------------------------------------------------------------

def test_richardson_is_more_accurate_and_tightens_the_default_tolerances():
    plain = nplstm.gradcheck(*cell_pair(), _case(), names=CELL_NAMES)
    rich = nplstm.gradcheck(*cell_pair(), _case(), names=CELL_NAMES, richardson=True)
    worst = lambda r: max(x.max_abs_error for x in r.inputs)  # noqa: E731
    assert worst(rich) < worst(plain) / 30
    assert rich.rtol == 1e-8 and rich.eps == 1e-3 and rich.n_evaluations == 2 * plain.n_evaluations


def test_directional_cost_does_not_grow_with_the_input():
    costs = []
    for H in (2, 8):
        report = nplstm.gradcheck(*cell_pair(), _case(H=H), names=CELL_NAMES,
                                  mode="directional", directions=3)
        costs.append(report.n_evaluations)
    assert costs[0] == costs[1] == 7 * 3 * 2


def test_wrt_selects_inputs_and_refuses_unknown_or_integer_ones():
    report = nplstm.gradcheck(*cell_pair(), _case(), names=CELL_NAMES, wrt=["weight_hh", 0])
    assert [r.name for r in report.inputs if r.checked] == ["x", "weight_hh"]
    assert report["h"].note == "not in wrt"
    with pytest.raises(ValueError, match="no input named 'w'"):
        nplstm.gradcheck(*cell_pair(), _case(), names=CELL_NAMES, wrt="w")
    inputs = [np.random.default_rng(0).integers(0, 3, (4,)), np.ones((3, 2))]
    with pytest.raises(ValueError, match="indices cannot be checked"):
        nplstm.gradcheck(*embedding_pair(), inputs, names=["indices", "weight"], wrt="indices")


def test_an_absent_input_is_shown_as_absent_not_as_a_shape():
    from nplstm.functional import lstm_cell_backward, lstm_cell_forward

    rng = np.random.default_rng(0)
    x, h, c = (rng.standard_normal((2, 3)) for _ in range(3))
    weight_ih, weight_hh = rng.standard_normal((12, 3)), rng.standard_normal((12, 3))

    def forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        return lstm_cell_forward(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)

    def backward(d, cache):
        g = lstm_cell_backward(d[0], d[1], cache)
        return g.x, g.h_prev, g.c_prev, g.weight_ih, g.weight_hh, g.bias_ih, g.bias_hh

    report = nplstm.gradcheck(forward, backward, [x, h, c, weight_ih, weight_hh, None, None],
                              names=CELL_NAMES)
    assert report.passed and report["bias_ih"].note == "absent (None)"
    rows = {line.split()[0]: line.split() for line in str(report).splitlines()
            if line.startswith("bias_")}
    assert rows["bias_ih"][1:] == ["-"] * 8 + ["absent", "(None)"]
    assert rows["bias_hh"][1:] == rows["bias_ih"][1:]


def test_none_gradients_are_checked_as_zero():
    ok = nplstm.gradcheck(lambda a, b: (a * 2.0, None), lambda d, c: (2.0 * d, None),
                          [np.ones(3), np.ones(2)], names=["a", "unused"])
    assert ok.passed and ok["unused"].checked and "None" in ok["unused"].note
    missing = nplstm.gradcheck(lambda a, b: (a * b.sum(), None), lambda d, c: (d * 2.0, None),
                               [np.ones(3), np.ones(2)], names=["a", "b"],
                               raise_exception=False)
    assert missing.failed == ["b"]


def test_never_mutates_inputs_in_any_mode():
    inputs = _case()
    inputs[5] = inputs[6] = None
    before = [None if a is None else a.copy() for a in inputs]
    for mode in FD_MODES:
        report = nplstm.gradcheck(*cell_pair(), inputs, names=CELL_NAMES, mode=mode)
        assert [r.checked for r in report.inputs] == [True] * 5 + [False] * 2
    nplstm.adjoint_check(cell_jvp, cell_pair(), inputs, names=CELL_NAMES)
    for a, b in zip(inputs, before):
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_report_table_json_and_error():
    with pytest.raises(nplstm.GradcheckError) as info:
        nplstm.gradcheck(*_planted(_zero_bias), _case(), names=CELL_NAMES,
                         layouts=cell_layouts(5))
    text = str(info.value)
    assert "bias_ih" in text and "FAIL" in text and "err/tol" in text and "gate" in text
    d = json.loads(info.value.report.to_json())
    assert d["passed"] is False and d["mode"] == "full"
    row = next(r for r in d["inputs"] if r["name"] == "bias_ih")
    assert row["n_failed"] > 0 and row["worst_analytic"] == 0.0 and "gate" in row["groups"]
    assert set(d["breakdown"]["gate"]) == {"i", "f", "g", "o"}


def test_layouts_are_validated():
    with pytest.raises(ValueError, match="3 'gate' labels for axis 0 of size 20"):
        nplstm.gradcheck(*cell_pair(), _case(), names=CELL_NAMES,
                         layouts={"weight_ih": Layout(axes={0: {"gate": ["i", "f", "g"]}})})
    with pytest.raises(ValueError, match="unknown inputs"):
        nplstm.gradcheck(*cell_pair(), _case(), names=CELL_NAMES, layouts={"w": Layout()})
    with pytest.raises(ValueError, match="does not split into 4"):
        blocks("ifgo", 6)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"mode": "fast"}, ValueError, "mode must be one of"),
    ({"eps": 0}, ValueError, r"eps must be a finite real number in \[1e-10, 0.1\]"),
    ({"directions": 0}, ValueError, "directions must be a positive int"),
    ({"samples": 1.5}, TypeError, "samples must be a positive int"),
    ({"names": ["x"]}, ValueError, "names must have one entry per input"),
])
def test_bad_options_are_clear_errors_naming_the_argument(kwargs, error, message):
    kwargs.setdefault("names", CELL_NAMES)
    with pytest.raises(error, match=message):
        nplstm.gradcheck(*cell_pair(), _case(), **kwargs)


def test_wrong_gradient_counts_are_clear_errors():
    forward, backward = _planted(lambda g, c: g[:3])
    with pytest.raises(ValueError, match="returned 3 gradients for 7 inputs"):
        nplstm.gradcheck(forward, backward, _case(), names=CELL_NAMES)
    with pytest.raises(TypeError, match="forward must be a callable"):
        nplstm.gradcheck(None, backward, _case())


def test_progress_bar_and_parameter_names():
    from nplstm.gradcheck import parse_parameter_name

    report = nplstm.gradcheck(*cell_pair(), _case(), names=CELL_NAMES, progress=True)
    assert report.passed
    assert parse_parameter_name("weight_ih_l1_reverse") == ("weight_ih", 1, "reverse")
    assert parse_parameter_name("bias_hh_l0") == ("bias_hh", 0, "forward")
    assert parse_parameter_name("weight") is None


# ---- the unhappy path: bad settings, odd outputs, a changing forward, NaN (issue 14) --------

def _tanh_layer():
    """y = tanh(x Wᵀ + b) with x (2, 3), W (3, 3) (square: a transposed gradient keeps its
    shape), b (3,), and an integer input ``index`` that forward ignores."""
    def forward(x, w, b, index):
        y = np.tanh(x @ w.T + b)                       # (2, 3)
        return y, (x, w, y)

    def backward(dy, cache):
        x, w, y = cache
        da = dy * (1 - y * y)                          # ∂L/∂a = dy ⊙ tanh'(a)
        return [da @ w, da.T @ x, da.sum(axis=0), None]

    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal((2, 3)), rng.uniform(-1, 1, (3, 3)), rng.uniform(-1, 1, 3),
              np.arange(2)]
    return forward, backward, inputs


TANH_NAMES = ["x", "w", "b", "index"]


def _tanh_jvp(inputs, tangents):
    x, w, b, _ = inputs
    x_dot, w_dot, b_dot, _ = tangents
    y = np.tanh(x @ w.T + b)
    return y, (1 - y * y) * (x_dot @ w.T + x @ w_dot.T + b_dot)    # J v


_NAN_INF = st.sampled_from([math.nan, math.inf, -math.inf, np.float64("nan"),
                            np.float32("-inf")])
_NOT_NUMBERS = st.sampled_from([True, False, np.True_, "1e-6", b"1", [1e-6], (1,), {"a": 1},
                                1j, np.complex128(1), object()])
_NEGATIVE = st.floats(max_value=-1e-300, allow_infinity=False) | st.integers(max_value=-1)
_NOT_BOOLS = st.integers(-2, 2) | st.floats(allow_nan=True) | st.text(max_size=3) | \
    st.none() | st.just([True])
_NOT_INTS = st.floats(allow_nan=True) | st.booleans() | st.text(max_size=3) | st.none() | \
    st.just([1])
_BAD_TOLERANCE = _NAN_INF | _NOT_NUMBERS | _NEGATIVE
_ARRAY = np.ones((2, 3))

BAD_GRADCHECK_SETTINGS = {
    "eps": _BAD_TOLERANCE | st.none().map(lambda _: 0.0)
    | st.floats(0.0, EPS_MIN, exclude_max=True) | st.floats(EPS_MAX, 1e300, exclude_min=True)
    | st.integers(min_value=1),
    "atol": _BAD_TOLERANCE,
    "rtol": _BAD_TOLERANCE,
    "nondet_tol": _BAD_TOLERANCE | st.none(),
    "seed": _NOT_INTS | st.integers(max_value=-1),
    "directions": _NOT_INTS | st.integers(max_value=0),
    "samples": _NOT_INTS | st.integers(max_value=0),
    "mode": st.text(max_size=12).filter(lambda m: m not in MODES) | st.none()
    | st.integers() | st.booleans(),
    "names": st.lists(st.text(min_size=1, max_size=3), unique=True, max_size=6)
    .filter(lambda n: len(n) != 4) | st.text(max_size=4)
    | st.sampled_from([["x", "w", "b", 3], ["x", "w", "x", "i"], ["x", "", "b", "i"],
                       ("x", "w", "b", None), 4]),
    "wrt": st.text(max_size=4).filter(lambda w: w not in TANH_NAMES)
    | st.integers(4, 100) | st.integers(-100, -5) | st.booleans() | st.floats()
    | st.sampled_from([[], ["x", 1.0], {"x": 1}, "index", 3, -1, [0, "index"], [True]]),
    "layouts": st.text(max_size=3) | st.integers()
    | st.lists(st.none(), max_size=6).filter(lambda v: len(v) != 4)
    | st.sampled_from([{"z": Layout()}, {"w": "rows"}, [None, 1, None, None],
                       {"w": Layout(axes={0: {"row": [0, 1]}})},
                       {"w": Layout(axes={2: {"row": [0, 1, 2]}})},
                       {"w": Layout(axes={"0": {"row": [0, 1, 2]}})},
                       {"w": Layout(axes={0: ["r", "s", "t"]})}]),
    "raise_exception": _NOT_BOOLS,
    "progress": _NOT_BOOLS,
    "richardson": _NOT_BOOLS,
    "inputs": st.sampled_from([_ARRAY, "xwb", None, 3.0, {"x": _ARRAY}]),
    "forward": st.sampled_from([None, 3, "forward", _ARRAY]),
    "backward": st.sampled_from([None, 3, "backward", _ARRAY]),
}

BAD_ADJOINT_SETTINGS = {
    "trials": BAD_GRADCHECK_SETTINGS["samples"],
    "rtol": _BAD_TOLERANCE,
    "seed": BAD_GRADCHECK_SETTINGS["seed"],
    "names": BAD_GRADCHECK_SETTINGS["names"],
    "raise_exception": _NOT_BOOLS,
    "inputs": BAD_GRADCHECK_SETTINGS["inputs"],
    "jvp": st.sampled_from([None, 3, "jvp", _ARRAY]),
    "vjp": st.sampled_from([None, 3, "vjp", _ARRAY, (None, None), (len,)]),
}


@settings(max_examples=25)
@pytest.mark.parametrize("setting", list(BAD_GRADCHECK_SETTINGS))
@given(data=st.data())
def test_every_bad_gradcheck_setting_is_refused_before_forward_is_called(setting, data):
    forward, backward, inputs = _tanh_layer()
    forward, backward = Counted(forward), Counted(backward)
    call = {"forward": forward, "backward": backward, "inputs": inputs, "names": TANH_NAMES}
    call[setting] = data.draw(BAD_GRADCHECK_SETTINGS[setting], label=setting)
    with pytest.raises((ValueError, TypeError)) as info:
        nplstm.gradcheck(call.pop("forward"), call.pop("backward"), call.pop("inputs"), **call)
    assert setting in str(info.value)
    assert forward.calls == backward.calls == 0


@settings(max_examples=25)
@pytest.mark.parametrize("setting", list(BAD_ADJOINT_SETTINGS))
@given(data=st.data())
def test_every_bad_adjoint_check_setting_is_refused_before_anything_is_called(setting, data):
    forward, backward, inputs = _tanh_layer()
    jvp, vjp = Counted(_tanh_jvp), (Counted(forward), Counted(backward))
    call = {"jvp": jvp, "vjp": vjp, "inputs": inputs, "names": TANH_NAMES}
    call[setting] = data.draw(BAD_ADJOINT_SETTINGS[setting], label=setting)
    with pytest.raises((ValueError, TypeError)) as info:
        nplstm.adjoint_check(call.pop("jvp"), call.pop("vjp"), call.pop("inputs"), **call)
    assert setting in str(info.value)
    assert jvp.calls == vjp[0].calls == vjp[1].calls == 0


@pytest.mark.parametrize("check, name", [("gradcheck", "x"), ("gradcheck", "b"),
                                         ("adjoint", "w")])
def test_an_input_holding_nan_or_inf_is_refused_naming_it(check, name):
    forward, backward, inputs = _tanh_layer()
    k = TANH_NAMES.index(name)
    inputs[k] = inputs[k].copy()
    inputs[k].flat[1] = np.inf if name == "b" else np.nan       # poisoned on purpose
    forward = Counted(forward)
    with pytest.raises(ValueError, match=rf"inputs\[{k}\] \({name}\) must be finite"):
        if check == "gradcheck":
            nplstm.gradcheck(forward, backward, inputs, names=TANH_NAMES)
        else:
            nplstm.adjoint_check(_tanh_jvp, (forward, backward), inputs, names=TANH_NAMES)
    assert forward.calls == 0


@pytest.mark.parametrize("setting, value", [
    ("eps", math.nan), ("atol", -1.0), ("atol", math.inf), ("atol", math.nan),
    ("rtol", math.nan), ("rtol", -1e-3), ("eps", 1e-300)])
def test_the_reported_bad_settings_are_refused_not_passed(setting, value):
    """The defects of issue 14: these passed a wrong backward or failed inside NumPy."""
    forward, backward, inputs = _tanh_layer()
    wrong = lambda dy, cache: [-g if g is not None else None  # noqa: E731
                               for g in backward(dy, cache)]
    with pytest.raises(ValueError, match=f"{setting} must be a finite real number"):
        nplstm.gradcheck(forward, wrong, inputs, names=TANH_NAMES, raise_exception=False,
                         **{setting: value})


# -- scalar and odd outputs

@pytest.mark.parametrize("kind, dtype", [(float, np.float64), (np.float64, np.float64),
                                         (np.float32, np.float32), (np.asarray, np.float64)])
def test_a_scalar_output_is_checked_and_backward_gets_a_scalar_of_its_type(kind, dtype):
    seen = []

    def forward(x):                                    # L = Σ x ⊙ sin x, a scalar
        total = np.sum(x * np.sin(x))                  # a NumPy scalar of x's dtype
        return (float(total) if kind is float else np.asarray(total) if kind is np.asarray
                else total), x

    def backward(d, x):
        seen.append(d)
        return (d * (np.sin(x) + x * np.cos(x)),)       # dL/dx = sin x + x cos x

    x = np.random.default_rng(1).standard_normal((2, 3)).astype(dtype)
    report = nplstm.gradcheck(forward, backward, [x])
    assert report.passed and report["input0"].n_checked == 6
    expected = {float: float, np.float64: np.float64, np.float32: np.float32,
                np.asarray: np.ndarray}[kind]
    assert type(seen[0]) is expected and np.ndim(seen[0]) == 0      # the type forward gave
    if kind is not float:
        assert seen[0].dtype == dtype
    wrong = nplstm.gradcheck(forward, lambda d, x: (1.01 * backward(d, x)[0],), [x],
                             raise_exception=False)
    assert wrong.failed == ["input0"]


def test_a_scalar_beside_an_array_in_a_nested_output_is_projected_too():
    def forward(x):
        return (np.tanh(x), (float(np.sum(x * x)), None)), x

    def backward(d, x):
        dy, (dloss, none) = d
        assert isinstance(dloss, float) and none is None
        return (dy * (1 - np.tanh(x) ** 2) + 2 * dloss * x,)

    x = np.random.default_rng(2).standard_normal(4)
    assert nplstm.gradcheck(forward, backward, [x]).passed
    forgot = lambda d, x: (d[0] * (1 - np.tanh(x) ** 2),)   # noqa: E731  (drops the scalar)
    assert not nplstm.gradcheck(forward, forgot, [x], raise_exception=False).passed


@pytest.mark.parametrize("output, where", [
    ("text", "forward's output"), ({"y": _ARRAY}, "forward's output"),
    (_ARRAY.astype(np.complex128), "forward's output"), (np.array(["a"]), "forward's output"),
    ((_ARRAY, "text"), r"forward's output\[1\]"), (((_ARRAY,), [1j]), r"output\[1\]\[0\]"),
    (3, "holds no float array"), ((None, np.arange(3)), "holds no float array"),
    (type("Tensor", (), {"dtype": "torch.float32", "shape": (3,)})(), "is Tensor of shape")])
def test_an_output_that_is_not_float_arrays_or_scalars_is_a_type_error_naming_it(output, where):
    backward = Counted(lambda d, c: (np.zeros(3),))
    with pytest.raises(TypeError, match=where):
        nplstm.gradcheck(lambda x: (output, None), backward, [np.ones(3)])
    assert backward.calls == 0


@pytest.mark.parametrize("result", [_ARRAY, (_ARRAY, None, None), [_ARRAY, None], 1.5])
def test_forward_must_return_a_pair(result):
    with pytest.raises(TypeError, match=r"forward must return a pair \(output, cache\)"):
        nplstm.gradcheck(lambda x: result, lambda d, c: (d,), [np.ones((2, 3))])


@pytest.mark.parametrize("grads, error, message", [
    (lambda d: 2 * d, TypeError, r"backward must return a sequence.*\(dx,\) for one input"),
    (lambda d: (g for g in [2 * d]), TypeError, "backward must return a sequence"),
    (lambda d: {"x": 2 * d}, TypeError, "backward must return a sequence"),
    (lambda d: ([[1.0, 2.0]],), TypeError, "gradient for input0 must be a float array"),
    (lambda d: (np.ones((2, 3), dtype=int),), TypeError, "must be a float array"),
    (lambda d: (),  ValueError, "returned 0 gradients for 1 inputs")])
def test_backward_must_return_a_sequence_of_float_arrays(grads, error, message):
    with pytest.raises(error, match=message):
        nplstm.gradcheck(lambda x: (x * 2.0, None), lambda d, c: grads(d), [np.ones((2, 3))])


# -- a forward that changes between calls

def test_a_fresh_dropout_mask_per_call_is_refused_as_nondeterministic():
    rng = np.random.default_rng(0)

    def forward(x):                                    # a new mask on every call
        mask = rng.random(x.shape) > 0.5
        return x * mask * 2.0, mask

    x = np.random.default_rng(1).standard_normal((3, 4))
    with pytest.raises(NondeterministicForwardError) as info:
        nplstm.gradcheck(forward, lambda d, mask: (d * mask * 2.0,), [x])
    text = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "not deterministic" in text and "nondet_tol=0" in text and "seed" in text
    # with the mask drawn once, outside forward, the same function checks and passes
    mask = np.random.default_rng(2).random(x.shape) > 0.5
    assert nplstm.gradcheck(lambda x: (x * mask * 2.0, None), lambda d, c: (d * mask * 2.0,),
                            [x]).passed


def test_an_lstm_with_dropout_needs_its_dropout_seed():
    rng = np.random.default_rng(3)
    module, inputs = random_lstm_case(rng, 3, 2, 2, 3, layers=2)
    module.dropout = 0.5
    forward, backward, names = module_pair(module)
    with pytest.raises(NondeterministicForwardError, match="differ by up to"):
        nplstm.gradcheck(forward, backward, inputs, names=names, mode="directional")
    forward, backward, names = module_pair(module, dropout_seed=4)
    assert nplstm.gradcheck(forward, backward, inputs, names=names, mode="directional").passed


@pytest.mark.parametrize("dtype, extra", [(np.float64, 1), (np.float32, 2)])
def test_the_determinism_check_costs_one_or_two_forwards_not_one_per_element(dtype, extra):
    forward, backward = cell_pair()
    forward = Counted(forward)
    report = nplstm.gradcheck(forward, backward, _case(dtype=dtype), names=CELL_NAMES)
    # the first call (for backward's cache), the check, a fresh cache for backward's own
    # determinism check, then the differences
    assert forward.calls == 2 + extra + report.n_evaluations


def test_nondet_tol_accepts_round_off_sized_noise_and_structure_changes_are_caught():
    rng = np.random.default_rng(0)
    x = np.random.default_rng(1).standard_normal(5)
    noisy = lambda x: (np.sin(x) + 1e-15 * rng.random(x.shape), None)   # noqa: E731
    backward = lambda d, c: (d * np.cos(x),)                            # noqa: E731
    with pytest.raises(NondeterministicForwardError):
        nplstm.gradcheck(noisy, backward, [x])
    assert nplstm.gradcheck(noisy, backward, [x], nondet_tol=1e-14).passed
    calls = iter(range(10**6))
    growing = lambda x: ((np.sin(x),) * (1 + (next(calls) > 0)), None)  # noqa: E731
    with pytest.raises(NondeterministicForwardError, match="entries in one call"):
        nplstm.gradcheck(growing, lambda d, c: (d[0] * np.cos(x),), [x])


# -- NaN and inf never pass

@pytest.mark.parametrize("mode", FD_MODES + ("adjoint",))
@pytest.mark.parametrize("where", ["one element", "everywhere"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_backward_returning_nan_or_inf_fails_in_every_mode(mode, where, value):
    def poison(g, cache):
        g[4] = g[4].copy()
        if where == "one element":
            g[4][7, 2] = value
        else:
            g[4][...] = value
        return g

    report = _check(mode, *_planted(poison), _case(), **({} if mode == "adjoint" else
                                                         {"samples": 100}))
    assert not report.passed and report.failed == ["weight_hh"]
    assert report["weight_hh"].worst_ratio == math.inf
    json.loads(report.to_json())                        # still valid JSON


def test_a_difference_that_is_nan_fails_the_element_instead_of_skipping_it():
    x = np.array([4.0, 1e-7, 2.0])                      # √(1e-7 − 1e-6) is NaN
    with np.errstate(invalid="ignore"):
        report = nplstm.gradcheck(lambda x: (np.sqrt(x), None),
                                  lambda d, c: (d / (2 * np.sqrt(x)),), [x],
                                  raise_exception=False)
    assert not report.passed
    assert report["input0"].n_checked == 3 and report["input0"].n_failed == 1
    assert report["input0"].worst_index == (1,)


def test_an_output_that_is_not_finite_at_the_inputs_is_refused():
    backward = Counted(lambda d, c: (d,))
    with pytest.raises(ValueError, match=r"forward's output\[1\] is not finite"):
        nplstm.gradcheck(lambda x: ((x, x * np.inf), None), backward, [np.ones(3)])
    assert backward.calls == 0


# -- wrong backwards never pass

def _wrong_backwards():
    """name: (change of the tanh layer's [dx, dW, db, None], the input it breaks, sparse);
    every error is large: relative 1e-2 of the gradient or more.  ``sparse``: the error
    sits in a few elements (a sampled check sees it only if it draws them)."""
    def scaled(g):
        return [g[0] * 1.01] + g[1:]                    # dx off by a relative 1e-2

    def transposed(g):
        return [g[0], g[1].T.copy()] + g[2:]            # dW read the wrong way round

    def sign_flipped(g):
        return g[:2] + [-g[2], None]                    # db with the wrong sign

    def one_element(g):
        dw = g[1].copy()
        dw[1, 2] += 1e-2 * np.abs(dw).max()             # one element of dW off
        return [g[0], dw] + g[2:]

    return {"scaled": (scaled, "x", False), "transposed": (transposed, "w", True),
            "sign flip": (sign_flipped, "b", False), "one element": (one_element, "w", True)}


WRONG = _wrong_backwards()


def _wrong(change):
    forward, backward, inputs = _tanh_layer()
    return forward, lambda d, c: change(list(backward(d, c))), inputs


@pytest.mark.parametrize("mode", FD_MODES)
@pytest.mark.parametrize("bug", list(WRONG))
def test_a_wrong_backward_fails_with_the_default_settings_in_every_mode(bug, mode):
    change, broken, _ = WRONG[bug]
    forward, backward, inputs = _wrong(change)
    with pytest.raises(nplstm.GradcheckError) as info:
        nplstm.gradcheck(forward, backward, inputs, names=TANH_NAMES, mode=mode)
    assert info.value.report.failed == [broken]


@st.composite
def valid_settings(draw, broken, sparse):
    """Valid, non-default settings within sensible ranges: eps ∈ [1e-10, 1e-3] (1e-2 with
    Richardson), atol ≤ 1e-7, rtol ≤ 1e-5, at least 3 directions, and in sampled mode at
    least 3 samples (every element of the broken input for a ``sparse`` error)."""
    richardson = draw(st.booleans())
    names = draw(st.lists(st.text(min_size=1, max_size=4), min_size=4, max_size=4,
                          unique=True) | st.none())
    shown = names or [f"input{k}" for k in range(4)]      # the names the report uses
    label = shown[TANH_NAMES.index(broken)]
    kw = {"mode": draw(st.sampled_from(MODES)), "richardson": richardson, "names": names,
          "seed": draw(seed), "directions": draw(st.integers(3, 8)),
          "samples": draw(st.integers(9 if sparse else 3, 32)),
          "raise_exception": draw(st.booleans()), "progress": draw(st.booleans()),
          "nondet_tol": draw(st.sampled_from([0.0, 1e-12, 1e-6]))}
    if draw(st.booleans()):
        kw["eps"] = 10.0 ** draw(st.floats(-10, -2 if richardson else -3))
    if draw(st.booleans()):
        kw["atol"] = draw(st.just(0.0) | st.floats(-14, -7).map(lambda e: 10.0 ** e))
    if draw(st.booleans()):
        kw["rtol"] = draw(st.just(0.0) | st.floats(-12, -5).map(lambda e: 10.0 ** e))
    if draw(st.booleans()):
        others = draw(st.lists(st.sampled_from([0, 1, 2]), max_size=2))
        kw["wrt"] = [label] + [shown[k] if draw(st.booleans()) else k for k in others]
    if draw(st.booleans()):
        rows = draw(st.sampled_from([[0, 1, 2], ["a", "a", "b"], [0, 0, 0]]))
        kw["layouts"] = {shown[1]: Layout(axes={0: {"row": rows}}, tags={"part": "weight"})}
    return kw, label


@settings(max_examples=30)
@pytest.mark.parametrize("bug", list(WRONG))
@given(data=st.data())
def test_no_valid_setting_lets_a_wrong_backward_pass(bug, data):
    change, broken, sparse = WRONG[bug]
    kw, label = data.draw(valid_settings(broken, sparse), label="settings")
    forward, backward, inputs = _wrong(change)
    if kw["raise_exception"]:
        with pytest.raises(nplstm.GradcheckError) as info:
            nplstm.gradcheck(forward, backward, inputs, **kw)
        report = info.value.report
    else:
        report = nplstm.gradcheck(forward, backward, inputs, **kw)
    assert not report.passed and label in report.failed


def test_the_tanh_layer_passes_when_right():
    """The premise of the wrong-backward tests: the right backward passes, so their
    failures are the bugs'."""
    forward, backward, inputs = _tanh_layer()
    report = nplstm.gradcheck(forward, backward, inputs, names=TANH_NAMES)
    assert report.passed and [r.checked for r in report.inputs] == [True] * 3 + [False]


def test_the_callers_inputs_are_never_modified_even_by_a_forward_that_edits_its_own():
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((4, 3))
    x_before, w_before = x.copy(), w.copy()

    def forward(x, w):
        out = x @ w.T
        x += 1.0                                   # a careless forward: edits its argument
        return out, (x - 1.0, w)

    def backward(dout, cache):
        x, w = cache
        return dout @ w, dout.T @ x

    with pytest.raises(MutatingForwardError, match="modified its input input0 in place"):
        nplstm.gradcheck(forward, backward, [x, w], raise_exception=False)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(w, w_before)


# ---- the GRU: right in every mode, and its three textbook mistakes caught ------------------
#
# Each bug is a line (or lines) of the textbook step ``reference.gru_step_backward`` replaced
# by the mistake, run against the right forward ``reference.gru_step_forward``; the checker
# must fail and name exactly the inputs whose gradient the mistake changes (and, with the
# gate layout, the r/z/n block).  The replaced lines must exist verbatim: a renamed line
# makes the test fail loudly, not pass quietly.

from nplstm.functional import reference as R  # noqa: E402
from nplstm.gradcheck import (GRU_CELL_NAMES, gru_cell_jvp, gru_cell_layouts,  # noqa: E402
                              gru_cell_pair, random_gru_cell_case)

GRU_BUGS = {   # name: ([(right line, planted line)], inputs it breaks, gate blocks it breaks)
    # n = tanh(gi_n + (r ⊙ h) W_hnᵀ + b_hn) differentiated instead of torch's r ⊙ (h W_hnᵀ + b_hn)
    "r applied to h, not to (h W_hnᵀ + b_hn)": (
        [("dr = da_n * gh_n ", "dr = (da_n @ weight_hh[-h_prev.shape[1]:]) * h_prev ")],
        list(GRU_CELL_NAMES), ["r"]),
    # h = z ⊙ n + (1 − z) ⊙ h_prev differentiated instead of (1 − z) ⊙ n + z ⊙ h_prev
    "z's two roles swapped": (
        [("dn = dh * (1 - z) ", "dn = dh * z "),
         ("dz = dh * (h_prev - n) ", "dz = dh * (n - h_prev) "),
         ("dh_direct = dh * z ", "dh_direct = dh * (1 - z) ")],
        list(GRU_CELL_NAMES), ["r", "z", "n"]),
    # the direct path h_prev → z ⊙ h_prev left out of dh_prev
    "missing path through h (z ⊙ h_prev)": (
        [("dh_prev = dh_direct + dgh @ weight_hh ", "dh_prev = dgh @ weight_hh ")],
        ["h"], []),
    # a_n = gi_n + r ⊙ gh_n: the r of the recurrent term dropped on the way back
    "r dropped from the n block's recurrent gradient": (
        [("dgh_n = da_n * r ", "dgh_n = da_n ")],
        ["h", "weight_hh", "bias_hh"], ["n"]),
}


def _planted_gru_backward(edits):
    """``reference.gru_step_backward`` with ``edits`` (right line → planted line) applied."""
    source = inspect.getsource(R.gru_step_backward)
    for right, planted in edits:
        assert source.count(right) == 1, f"{right!r} is no longer a line of gru_step_backward"
        source = source.replace(right, planted)
    namespace = dict(vars(R))
    exec(source, namespace)                                # noqa: S102 (the test's own text)
    return namespace["gru_step_backward"]


@pytest.mark.parametrize("mode", FD_MODES + ("adjoint",))
def test_the_textbook_gru_step_passes_in_every_mode(mode):
    inputs = random_gru_cell_case(np.random.default_rng(1), 3, 4, 5)
    pair = (R.gru_step_forward, R.gru_step_backward)
    report = nplstm.adjoint_check(gru_cell_jvp, pair, inputs, names=GRU_CELL_NAMES,
                                  raise_exception=False) if mode == "adjoint" else \
        nplstm.gradcheck(*pair, inputs, names=GRU_CELL_NAMES, mode=mode, raise_exception=False)
    assert report.passed, str(report)


@pytest.mark.parametrize("mode", FD_MODES + ("adjoint",))
@pytest.mark.parametrize("bug", list(GRU_BUGS))
def test_every_mode_catches_the_planted_gru_mistakes_and_names_the_inputs(bug, mode):
    edits, broken, gates = GRU_BUGS[bug]
    pair = (R.gru_step_forward, _planted_gru_backward(edits))
    inputs = random_gru_cell_case(np.random.default_rng(1), 3, 4, 5)
    if mode == "adjoint":
        report = nplstm.adjoint_check(gru_cell_jvp, pair, inputs, names=GRU_CELL_NAMES,
                                      raise_exception=False)
    else:
        report = nplstm.gradcheck(*pair, inputs, names=GRU_CELL_NAMES, mode=mode,
                                  layouts=gru_cell_layouts(5), raise_exception=False)
        failed_gates = [g for g, s in report.breakdown()["gate"].items() if s.n_failed]
        assert failed_gates == gates, failed_gates
    assert not report.passed
    assert report.failed == broken


@settings(max_examples=10)
@given(B=size, I=size, H=small_size, seed=seed, mode=st.sampled_from(FD_MODES),
       bias=st.booleans(), state=st.booleans(), unbatched=st.booleans())
def test_passes_the_fast_gru_cell_in_every_mode(B, I, H, seed, mode, bias, state, unbatched):
    inputs = random_gru_cell_case(np.random.default_rng(seed), B, I, H, bias, state, unbatched)
    report = nplstm.gradcheck(*gru_cell_pair(), inputs, names=GRU_CELL_NAMES, mode=mode,
                              seed=seed, layouts=gru_cell_layouts(H) if bias else None,
                              samples=8)
    assert report.passed


@settings(max_examples=6)
@given(seed=seed, layers=st.integers(1, 2), bidirectional=st.booleans(), bias=st.booleans(),
       mode=st.sampled_from(FD_MODES))
def test_passes_the_gru_module_with_its_layouts(seed, layers, bidirectional, bias, mode):
    from nplstm.gradcheck import random_gru_case

    module, inputs = random_gru_case(np.random.default_rng(seed), 3, 2, 2, 2, layers,
                                     bidirectional, bias)
    forward, backward, names = module_pair(module, lengths=[3, 1])
    report = nplstm.gradcheck(forward, backward, inputs, names=names, mode=mode, samples=4,
                              layouts=module_layouts(module, 3), seed=seed)
    assert report.passed
    breakdown = report.breakdown()
    assert set(breakdown["gate"]) == {"r", "z", "n"}
    assert set(breakdown["direction"]) == ({"forward", "reverse"} if bidirectional
                                           else {"forward"})
    assert names[:2] == ["x", "h0"] and len(names) == 2 + layers * (1 + bidirectional) * (
        4 if bias else 2)
