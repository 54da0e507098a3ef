"""Issue 28's defects of the checker, each reproduced: precision (float16 refused, mixed
precisions), complex values, two outputs, Python floats, forwards that write to their inputs,
non-deterministic backwards, the footer, kinks."""

import re

import numpy as np
import pytest

import nplstm
from nplstm.gradcheck import MutatingForwardError, NondeterministicBackwardError

from .checker_ops import OPS
from .helpers import Counted

ATTENTION = next(op for op in OPS if op.name == "softmax attention")
RELU = next(op for op in OPS if op.name == "relu(x + b)")


def _square():
    return (lambda x: (x * x, x)), (lambda d, x: (2 * d * x,))


# 1. float16 ------------------------------------------------------------------------------
def test_a_float16_input_is_refused_by_name_before_forward_is_called():
    forward, backward = _square()
    forward = Counted(forward)
    with pytest.raises(TypeError, match=r"inputs\[0\] \(x\) is ndarray .* float16 is not "
                                        "supported"):
        nplstm.gradcheck(forward, backward, [np.ones(3, np.float16)], names=["x"])
    assert forward.calls == 0


@pytest.mark.parametrize("where", ["output", "gradient"])
def test_a_float16_output_or_gradient_is_refused_by_name(where):
    x = np.linspace(0.5, 1.0, 3)
    if where == "output":
        pair = (lambda x: ((x * x).astype(np.float16), x), lambda d, x: (2 * d * x,))
        message = r"forward's output is .*float16 is not supported"
    else:
        pair = (lambda x: (x * x, x), lambda d, x: ((2 * d * x).astype(np.float16),))
        message = r"backward's gradient for x is .*float16 is not supported"
    with pytest.raises(TypeError, match=message):
        nplstm.gradcheck(*pair, [x], names=["x"])


# 2. tolerances from the lowest precision among input, output and gradient -----------------
def test_a_float32_backward_whose_gradient_is_promoted_to_float64_passes_and_says_so():
    inputs = ATTENTION.make_inputs(np.random.default_rng(0), np.float32)
    grads = ATTENTION.backward(np.ones((3, 2), np.float32), ATTENTION.forward(*inputs)[1])
    assert grads[0].dtype == np.float64                    # ds @ k / np.sqrt(d) promotes
    report = nplstm.gradcheck(ATTENTION.forward, ATTENTION.backward, inputs,
                              names=ATTENTION.names)
    assert report.passed
    assert report["q"].precision == "float32 (gradient float64)"
    assert report["v"].precision == "float32"              # dv = pᵀ do stays float32
    assert f"  q: atol={report['q'].atol:.3g} rtol={report['q'].rtol:.3g} (float32 (gradient " \
        "float64))" in str(report)
    # the defect: float64's bars, which the gradient's dtype used to select, fail it
    float64_bars = nplstm.gradcheck(ATTENTION.forward, ATTENTION.backward, inputs,
                                    names=ATTENTION.names, atol=1e-8, rtol=1e-6,
                                    raise_exception=False)
    assert not float64_bars.passed


def test_a_forward_returning_float32_for_float64_inputs_is_refused_not_failed():
    """The differences are taken in float64: an output that stays float32 would bring
    float32 round-off / eps ≈ 6e-2 into them and fail a right backward."""
    x = np.linspace(-1.0, 1.0, 5)
    forward = lambda x: (np.sin(x).astype(np.float32), x)               # noqa: E731
    backward = lambda d, x: (d.astype(np.float64) * np.cos(x),)          # noqa: E731
    with pytest.raises(ValueError, match=r"forward's output is float32 even for float64 "
                                         r"inputs.*compute in its inputs' dtype"):
        nplstm.gradcheck(forward, backward, [x], names=["x"])


# 3. complex ------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [np.ones(3, np.complex128), 1j, np.complex64(1)])
def test_a_complex_input_is_refused_as_unsupported_naming_it(value):
    forward = Counted(lambda x, y: (np.abs(x) * y, None))
    with pytest.raises(TypeError, match=r"inputs\[0\] \(z\) is .*complex numbers are not "
                                        r"supported.*real and imaginary parts"):
        nplstm.gradcheck(forward, lambda d, c: (None, d), [value, np.ones(3)], names=["z", "y"])
    assert forward.calls == 0


def test_a_complex_output_is_refused_as_unsupported():
    with pytest.raises(TypeError, match=r"forward's output\[1\] is .*complex numbers are not"):
        nplstm.gradcheck(lambda x: ((x, x * 1j), None), lambda d, c: (d[0],), [np.ones(2)])


# 4. several outputs ------------------------------------------------------------------------
def _two_outputs(x):
    def backward(doutput, cache):          # written for two outputs: doutput = (dy1, dy2)
        dy1, dy2 = doutput
        return (dy1 * np.cos(x) - dy2 * np.sin(x),)
    return backward


def test_two_outputs_in_their_explicit_form_are_both_checked():
    x = np.linspace(-1.0, 1.0, 2)
    backward = _two_outputs(x)
    report = nplstm.gradcheck(lambda x: ((np.sin(x), np.cos(x)), None), backward, [x])
    assert report.passed
    wrong = lambda d, c: (d[0] * np.cos(x),)                              # noqa: E731
    assert not nplstm.gradcheck(lambda x: ((np.sin(x), np.cos(x)), None), wrong, [x],
                                raise_exception=False).passed    # dy2's term is checked


def test_two_outputs_returned_as_a_pair_are_named_as_the_likely_cause_of_a_failure():
    x = np.linspace(-1.0, 1.0, 2)
    report = nplstm.gradcheck(lambda x: (np.sin(x), np.cos(x)), _two_outputs(x), [x],
                              raise_exception=False)
    assert not report.passed
    text = str(report)
    assert "returned (array, array): the second array is read as the cache" in text
    assert "returns ((y1, y2), cache)" in text


def test_a_forward_caching_its_output_or_input_gets_no_two_outputs_hint():
    x = np.linspace(-1.0, 1.0, 3)
    wrong = lambda d, c: (d * 3.0,)                                       # noqa: E731
    for forward in (lambda x: (np.tanh(x), np.tanh(x)), lambda x: (np.tanh(x), x)):
        report = nplstm.gradcheck(forward, wrong, [x], raise_exception=False)
        assert not report.passed and not report.notes


# 5. Python floats --------------------------------------------------------------------------
def _scaled(seen):
    def forward(x, s):
        seen.append(type(s))
        return s * x * x, (x, s)
    return forward


def test_a_python_float_with_a_gradient_is_checked_as_a_scalar_and_stays_a_float():
    seen = []
    x = np.linspace(-1.0, 1.0, 4)
    right = lambda d, c: (2 * c[1] * c[0] * d, float(np.sum(c[0] ** 2 * d)))   # noqa: E731
    report = nplstm.gradcheck(_scaled(seen), right, [x, 1.5], names=["x", "s"])
    assert report.passed and report["s"].checked and report["s"].n_checked == 1
    assert "Python float: checked as a 0-d float64 input" in str(report)
    assert set(seen) == {float}                            # forward got a float every call
    wrong = lambda d, c: (2 * c[1] * c[0] * d, float(np.sum(c[0] * d)))   # noqa: E731
    report = nplstm.gradcheck(_scaled([]), wrong, [x, 1.5], names=["x", "s"],
                              raise_exception=False)
    assert report.failed == ["s"]                          # was skipped, so it passed


def test_a_python_float_without_a_gradient_is_not_checked_and_the_report_says_why():
    x = np.linspace(-1.0, 1.0, 4)
    report = nplstm.gradcheck(_scaled([]), lambda d, c: (2 * c[1] * c[0] * d, None),
                              [x, 1.5], names=["x", "s"])
    assert report.passed and not report["s"].checked
    assert report["s"].note == "Python float: backward gave None"
    with pytest.raises(nplstm.GradcheckError):             # wrt names it: checked as 0
        nplstm.gradcheck(_scaled([]), lambda d, c: (2 * c[1] * c[0] * d, None),
                         [x, 1.5], names=["x", "s"], wrt="s")


# 6. a forward writing to its inputs; a backward that is not a function -----------------------
def test_a_forward_writing_to_its_input_is_named_and_the_callers_array_kept():
    x = np.linspace(0.0, 1.0, 4)
    before = x.copy()

    def forward(x):
        x *= 2.0                                           # in place
        return x * x, x

    with pytest.raises(MutatingForwardError, match=r"forward modified its input x in place "
                                                   r"\(3 of 4 elements changed, first at \(1,\)\)"):
        nplstm.gradcheck(forward, lambda d, x: (4 * d * x,), [x], names=["x"])
    np.testing.assert_array_equal(x, before)


def test_a_forward_writing_to_an_integer_input_is_named_too():
    def forward(x, idx):
        idx[0] = 1
        return x[idx], None

    with pytest.raises(MutatingForwardError, match="its input idx in place"):
        nplstm.gradcheck(forward, lambda d, c: (None, None),
                         [np.ones(3), np.array([0, 2])], names=["x", "idx"])


@pytest.mark.parametrize("kind", ["noise", "accumulator"])
def test_a_non_deterministic_backward_is_named(kind):
    rng, total = np.random.default_rng(0), [np.zeros(3)]

    def backward(d, x):
        if kind == "noise":
            return (2 * d * x + 1e-3 * rng.standard_normal(3),)
        total[0] += 2 * d * x                              # never reset
        return (total[0].copy(),)

    with pytest.raises(NondeterministicBackwardError,
                       match=r"backward is not deterministic: .* backward's gradient for x"):
        nplstm.gradcheck(lambda x: (x * x, x), backward, [np.linspace(0, 1, 3)], names=["x"])


# 7. the footer ------------------------------------------------------------------------------
def test_the_footer_shows_each_inputs_tolerances_and_the_criterion_applied():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((2, 4))

    def forward(x, w):
        y = x.astype(np.float64) @ w.T
        return y, (x, w)

    def backward(d, c):
        x, w = c
        return (d @ w).astype(np.float32), d.T @ x.astype(np.float64)

    report = nplstm.gradcheck(forward, backward, [x, w], names=["x", "w"])
    footer = str(report).splitlines()[-4:]
    assert footer[0].startswith("PASSED  (mode=full, eps=1e-06; an element passes when "
                                "|analytic - numeric| <= atol + rtol*|numeric|")
    assert footer[1:] == ["tolerances:",
                          f"  x: atol={report['x'].atol:.3g} rtol={report['x'].rtol:.3g} "
                          "(float32 (output float64))",
                          "  w: atol=1e-08 rtol=1e-06 (float64)"]
    assert report["x"].rtol > report["w"].rtol


def test_the_adjoint_footer_states_the_adjoint_criterion_not_gradchecks():
    from nplstm.gradcheck import CELL_NAMES, cell_jvp, cell_pair, random_cell_case
    inputs = random_cell_case(np.random.default_rng(0), 2, 3, 4)
    report = nplstm.adjoint_check(cell_jvp, cell_pair(), inputs, names=CELL_NAMES)
    last = str(report).splitlines()[-1]
    assert "a trial passes when |<J v, u> - <v, J^T u>| <= rtol*((|<J v, u>| + " in last
    assert f"rtol={report.rtol:.3g}" in last and "atol + rtol*|numeric|" not in str(report)


# 8. kinks -----------------------------------------------------------------------------------
def _relu_at_a_kink():
    x, b = RELU.make_inputs(np.random.default_rng(0), np.float64)
    x[1, 2] = -b[2]                                         # x + b = 0 exactly there
    return [x, b]


@pytest.mark.parametrize("mode", ["full", "directional"])
def test_a_failure_at_a_kink_is_labelled_not_differentiable_here(mode):
    report = nplstm.gradcheck(RELU.forward, RELU.backward, _relu_at_a_kink(),
                              names=RELU.names, mode=mode, raise_exception=False)
    assert not report.passed
    text = str(report)
    where = r"x\[1, 2\]" if mode == "full" else r"x, direction \d"
    assert re.search(f"note: {where}: not differentiable here: the one-sided slopes "
                     "disagree", text)
    if mode == "full":                                      # only the kink element fails
        assert report["x"].n_failed == 1 and len(report["x"].kinks) == 1
    else:                                                   # every direction crosses it
        assert report["x"].n_failed == 4
        assert report["x"].kinks[2] == "x: 2 more failing directions labelled likewise"


def test_a_wrong_gradient_away_from_kinks_is_not_labelled():
    inputs = RELU.make_inputs(np.random.default_rng(0), np.float64)
    report = nplstm.gradcheck(RELU.forward, lambda d, c: RELU.backward(
        d, c, "db takes the first row only"), inputs, names=RELU.names, raise_exception=False)
    assert report.failed == ["b"] and not report["b"].kinks


def test_richardsons_larger_eps_fails_near_a_kink_and_says_so():
    x, b = RELU.make_inputs(np.random.default_rng(0), np.float64)
    x[1, 2] = -b[2] + 2e-4                                  # 2e-4 from the kink
    plain = nplstm.gradcheck(RELU.forward, RELU.backward, [x, b], names=RELU.names)
    assert plain.passed
    rich = nplstm.gradcheck(RELU.forward, RELU.backward, [x, b], names=RELU.names,
                            richardson=True, raise_exception=False)
    assert not rich.passed
    assert "x[1, 2]: a kink within eps=0.001 of here" in str(rich)


def test_adjoint_check_refuses_complex_and_float16_inputs_too():
    jvp = lambda xs, ts: (xs[0], ts[0])                                   # noqa: E731
    for value, message in ((np.ones(2, np.complex64), "complex numbers are not supported"),
                           (np.ones(2, np.float16), "float16 is not supported")):
        with pytest.raises(TypeError, match=message):
            nplstm.adjoint_check(jvp, lambda xs, u: (u,), [value])


def test_a_check_whose_only_candidate_is_an_undifferentiated_python_float_is_refused():
    with pytest.raises(ValueError, match="nothing to check: backward returned None for every "
                                         "Python float input"):
        nplstm.gradcheck(lambda n, s: (n * s, None), lambda d, c: (None, None),
                         [np.arange(2), 1.0])


def test_a_backward_summing_in_a_different_order_each_call_is_not_called_non_deterministic():
    """A GPU scatter-add with atomics adds in any order: a function up to that round-off."""
    rng = np.random.default_rng(0)
    w = np.random.default_rng(1).standard_normal((200, 3))
    index = np.random.default_rng(2).integers(0, 3, size=200)

    def forward(x):                                   # y_j = Σ_{n: index n = j} w_n · x_n
        return np.bincount(index, weights=w[:, 0] * x, minlength=3), None

    def backward(dy, cache):
        order = rng.permutation(200)                  # accumulate in a fresh order
        terms = (dy[index] * w[:, 0])[order]
        dx = np.zeros(200)
        np.add.at(dx, order, terms)
        s = 0.0
        for t in terms:                               # a reordered sum, then removed again
            s += t
        return (dx + (s - float(np.sum(terms))),)

    x = np.random.default_rng(3).standard_normal(200)
    report = nplstm.gradcheck(forward, backward, [x], mode="directional")
    assert report.passed
