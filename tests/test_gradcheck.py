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

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm
from nplstm.gradcheck import Layout, blocks
from nplstm.selfcheck import (CELL_NAMES, SEQUENCE_NAMES, cell_jvp, cell_layouts, cell_pair,
                              cross_entropy_pair, embedding_pair, linear_pair, module_layouts,
                              module_pair, mse_pair, random_cell_case, random_lstm_case,
                              random_sequence_case, sequence_layouts, sequence_pair)

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
    from nplstm.selfcheck import parse_parameter_name

    report = nplstm.gradcheck(*cell_pair(), _case(), names=CELL_NAMES, progress=True)
    assert report.passed
    assert parse_parameter_name("weight_ih_l1_reverse") == ("weight_ih", 1, "reverse")
    assert parse_parameter_name("bias_hh_l0") == ("bias_hh", 0, "forward")
    assert parse_parameter_name("weight") is None
