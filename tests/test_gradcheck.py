"""The gradient checker itself: it passes right backwards and catches planted bugs."""

import json

import numpy as np
import pytest

import nplstm
from nplstm.selfcheck import CELL_NAMES, cell_pair, random_cell_case


def _case(seed=0):
    return random_cell_case(np.random.default_rng(seed), 3, 4, 5)


def _planted(change):
    """The cell's backward with one gradient altered by ``change(grads) -> grads``."""
    forward, backward = cell_pair()
    return forward, lambda d, cache: change(list(backward(d, cache)))


def test_passes_a_right_backward_and_reports_every_input():
    forward, backward = cell_pair()
    report = nplstm.gradcheck(forward, backward, _case(), names=CELL_NAMES)
    assert report.passed
    assert [r.name for r in report.inputs] == list(CELL_NAMES)
    assert all(r.checked and r.n_failed == 0 and r.max_rel_error < 1e-5 for r in report.inputs)
    text = str(report)
    assert "weight_hh" in text and "PASSED" in text


def test_catches_one_wrong_element_and_names_it():
    def plant(grads):
        grads[4] = grads[4].copy()
        grads[4][7, 2] += 1e-3                    # weight_hh, gate f, unit 3
        return grads

    forward, backward = _planted(plant)
    with pytest.raises(nplstm.GradcheckError) as info:
        nplstm.gradcheck(forward, backward, _case(), names=CELL_NAMES)
    report = info.value.report
    bad = report["weight_hh"]
    assert not bad.passed and bad.n_failed == 1 and bad.worst_index == (7, 2)
    assert abs(bad.worst_analytic - bad.worst_numeric - 1e-3) < 1e-8
    assert all(r.passed for r in report.inputs if r.name != "weight_hh")
    assert "weight_hh" in str(info.value) and "FAIL" in str(info.value)


def test_catches_a_whole_gradient_off_by_a_relative_1e_4():
    forward, backward = _planted(lambda g: g[:1] + [g[1] * (1 + 1e-4)] + g[2:])
    report = nplstm.gradcheck(forward, backward, _case(1), names=CELL_NAMES,
                              raise_exception=False)
    assert not report.passed
    assert [r.name for r in report.inputs if not r.passed] == ["h"]


def test_reports_to_dict_and_json():
    forward, backward = cell_pair()
    report = nplstm.gradcheck(forward, backward, _case(), names=CELL_NAMES)
    d = json.loads(report.to_json())
    assert d["passed"] is True and d["inputs"][0]["name"] == "x"


def test_never_mutates_inputs_and_skips_non_float_inputs():
    inputs = _case()
    inputs[5] = inputs[6] = None                   # no bias: None inputs are not checked
    before = [None if a is None else a.copy() for a in inputs]
    forward, backward = cell_pair()
    report = nplstm.gradcheck(forward, backward, inputs, names=CELL_NAMES)
    for a, b in zip(inputs, before):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert [r.checked for r in report.inputs] == [True] * 5 + [False] * 2


def test_float32_backward_checked_against_float64_differences():
    inputs = random_cell_case(np.random.default_rng(2), 3, 4, 5, dtype=np.float32)
    forward, backward = cell_pair()
    report = nplstm.gradcheck(forward, backward, inputs, names=CELL_NAMES)
    assert report.passed and report.rtol == 1e-3


def test_wrong_gradient_shapes_and_counts_are_clear_errors():
    forward, backward = _planted(lambda g: [g[0].T] + g[1:])
    with pytest.raises(ValueError, match="gradient for x has shape"):
        nplstm.gradcheck(forward, backward, _case(), names=CELL_NAMES)
    forward, backward = _planted(lambda g: g[:3])
    with pytest.raises(ValueError, match="returned 3 gradients for 7 inputs"):
        nplstm.gradcheck(forward, backward, _case(), names=CELL_NAMES)
