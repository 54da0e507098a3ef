"""jvpcheck (a JVP against differences of forward) and hvpcheck (Hessian-vector products
against differences of a gradient): right derivatives pass, planted bugs are caught and the
input named, in every mode; misuse is refused; the adjoint test names the wrong side."""

import numpy as np
import pytest

import nplstm
from nplstm import functional as F
from nplstm.gradcheck import MODES
from nplstm.gradcheck import CELL_NAMES, cell_jvp, cell_pair, random_cell_case

from .checker_ops import GRU_JVP_BUG, OPS, gru_jvp

GRU = next(op for op in OPS if op.name == "GRU cell")


# ------------------------------------------------------------------------------ jvpcheck
def _library_cell_jvp(bug=None):
    """The library's cell JVP in jvpcheck's form, jvp(tangents, cache), optionally wrong."""
    def forward(*inputs):
        (h1, c1), _ = F.lstm_cell_jvp(inputs[0], (inputs[1], inputs[2]), *inputs[3:])
        return (h1, c1), inputs

    def jvp(tangents, inputs):
        _, (h_dot, c_dot) = F.lstm_cell_jvp(inputs[0], (inputs[1], inputs[2]), *inputs[3:],
                                            tangents=F.CellTangents(*tangents))
        if bug == "c tangent off by 1e-4":
            c_dot = c_dot * (1 + 1e-4)
        return h_dot, c_dot

    return forward, jvp


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jvpcheck_passes_the_librarys_cell_jvp(dtype):
    forward, jvp = _library_cell_jvp()
    inputs = random_cell_case(np.random.default_rng(0), 2, 3, 4, dtype=dtype)
    report = nplstm.jvpcheck(forward, jvp, inputs, names=CELL_NAMES)
    assert report.passed and report.mode == "jvp" and report.title == "JVP check"
    assert all(r.checked and r.n_checked == 2 * 2 * 2 * 4 for r in report.inputs)


def test_jvpcheck_catches_a_wrong_tangent_and_names_every_input_it_reaches():
    forward, jvp = _library_cell_jvp("c tangent off by 1e-4")
    inputs = random_cell_case(np.random.default_rng(0), 2, 3, 4)
    report = nplstm.jvpcheck(forward, jvp, inputs, names=CELL_NAMES, raise_exception=False)
    assert set(report.failed) == set(CELL_NAMES)
    assert "forward's output[1]" in report["x"].where           # c's tangent, not h's
    with pytest.raises(nplstm.GradcheckError, match="JVP check failed"):
        nplstm.jvpcheck(forward, jvp, inputs, names=CELL_NAMES)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jvpcheck_on_the_gru_cell_right_and_with_a_planted_bug(dtype):
    inputs = GRU.make_inputs(np.random.default_rng(1), dtype)
    assert nplstm.jvpcheck(GRU.forward, gru_jvp, inputs, names=GRU.names).passed
    wrong = nplstm.jvpcheck(GRU.forward, lambda t, c: gru_jvp(t, c, GRU_JVP_BUG), inputs,
                            names=GRU.names, raise_exception=False)
    # r's tangent reaches n through every input (x, h, both weights, both biases)
    assert set(wrong.failed) == set(GRU.names)


def test_jvpcheck_richardson_wrt_and_seed():
    inputs = GRU.make_inputs(np.random.default_rng(1), np.float64)
    rich = nplstm.jvpcheck(GRU.forward, gru_jvp, inputs, names=GRU.names, richardson=True,
                           wrt=["h", "bias_hh"], directions=3, seed=5)
    assert rich.passed and rich.n_evaluations == 2 * 3 * 4 and rich["x"].note == "not in wrt"
    assert rich["h"].rtol == 1e-8


@pytest.mark.parametrize("jvp, error, message", [
    (lambda t, c: None, TypeError, "jvp's tangent for forward's output must be a float array"),
    (lambda t, c: np.zeros(3), ValueError, r"has shape \(3,\), but the output has shape"),
    (lambda t, c: (np.zeros((2, 4)), np.zeros((2, 4))), ValueError,
     "output tangent with 2 entries for forward's output of 1"),
])
def test_jvpcheck_refuses_a_tangent_that_does_not_mirror_the_output(jvp, error, message):
    inputs = GRU.make_inputs(np.random.default_rng(1), np.float64)
    with pytest.raises(error, match=message):
        nplstm.jvpcheck(GRU.forward, jvp, inputs)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(directions=0), ValueError, "directions must be a positive int"),
    (dict(eps=1.0), ValueError, "eps must be"),
    (dict(atol=-1.0), ValueError, "atol must be"),
    (dict(richardson=1), TypeError, "richardson must be True or False"),
    (dict(jvp=3), TypeError, "jvp must be a callable"),
    (dict(inputs=[np.ones(2, np.float16)]), TypeError, "float16 is not supported"),
    (dict(inputs=[np.ones(2, np.complex128)]), TypeError, "complex numbers are not supported"),
    (dict(inputs=[np.ones(2), 1.5], wrt=1), ValueError,
     r"wrt: input1 cannot be checked by jvpcheck \(Python float: .*0-d float array"),
])
def test_jvpcheck_refuses_bad_settings_before_forward_runs(kwargs, error, message):
    calls = []
    args = dict(forward=lambda *a: calls.append(1) or (a[0], a), jvp=lambda t, c: t[0],
                inputs=[np.ones(2)])
    args.update(kwargs)
    with pytest.raises(error, match=message):
        nplstm.jvpcheck(args.pop("forward"), args.pop("jvp"), args.pop("inputs"), **args)
    assert not calls


# --------------------------------------------------------------- adjoint: which side is wrong
def test_the_adjoint_test_names_the_wrong_side_given_both_finite_difference_reports():
    inputs = GRU.make_inputs(np.random.default_rng(2), np.float64)

    def jvp_form(bug_jvp):       # adjoint_check's jvp(inputs, tangents) -> (output, J v)
        return lambda xs, ts: (GRU.forward(*xs)[0],
                               gru_jvp(ts, GRU.forward(*xs)[1], bug_jvp))

    def vjp_pair(bug):
        return GRU.forward, lambda d, c: GRU.backward(d, c, bug)

    right_jvp = nplstm.jvpcheck(GRU.forward, gru_jvp, inputs, names=GRU.names)
    wrong_jvp = nplstm.jvpcheck(GRU.forward, lambda t, c: gru_jvp(t, c, GRU_JVP_BUG), inputs,
                                names=GRU.names, raise_exception=False)
    bug = "dh misses the z*h path"
    right_vjp = nplstm.gradcheck(*vjp_pair(None), inputs, names=GRU.names)
    wrong_vjp = nplstm.gradcheck(*vjp_pair(bug), inputs, names=GRU.names, raise_exception=False)

    report = nplstm.adjoint_check(jvp_form(None), vjp_pair(bug), inputs, names=GRU.names,
                                  jvp_report=right_jvp, vjp_report=wrong_vjp,
                                  raise_exception=False)
    assert report.failed == ["h"]
    assert report["h"].note.startswith("the backward (vjp) is wrong")
    report = nplstm.adjoint_check(jvp_form(GRU_JVP_BUG), vjp_pair(None), inputs,
                                  names=GRU.names, jvp_report=wrong_jvp, vjp_report=right_vjp,
                                  raise_exception=False)
    assert report.failed and all(report[n].note.startswith("the JVP is wrong")
                                 for n in report.failed)
    alone = nplstm.adjoint_check(jvp_form(GRU_JVP_BUG), vjp_pair(None), inputs,
                                 names=GRU.names, raise_exception=False)
    assert "pass jvp_report=" in alone[alone.failed[0]].note
    with pytest.raises(TypeError, match="jvp_report must be a GradcheckReport"):
        nplstm.adjoint_check(jvp_form(None), vjp_pair(None), inputs, jvp_report="ok")


# ------------------------------------------------------------------------------ hvpcheck
def _softplus_loss():
    """ℓ(a, w) = Σ softplus(a ⊙ w) + ½ Σ a² w: its gradient and Hessian-vector product."""
    def sig(z):
        return 1 / (1 + np.exp(-z))

    def grad(a, w):
        s = sig(a * w)
        return s * w + a * w, s * a + 0.5 * a * a

    def hvp(vectors, a, w, bug=None):
        va, vw = vectors
        z = a * w
        s = sig(z)
        ds = s * (1 - s)                                    # softplus''
        haa = ds * w * w + w
        hww = ds * a * a
        haw = ds * a * w + s + a                            # ∂²ℓ/∂a∂w
        if bug == "a cross term dropped":
            haw = ds * a * w + a
        if bug == "wrong curvature sign":
            hww = -hww
        return haa * va + haw * vw, haw * va + hww * vw

    return grad, hvp


def _hvp_inputs():
    rng = np.random.default_rng(3)
    return [rng.standard_normal(6), rng.standard_normal(6)]


@pytest.mark.parametrize("mode", MODES)
def test_hvpcheck_passes_a_right_hessian_vector_product_in_every_mode(mode):
    grad, hvp = _softplus_loss()
    report = nplstm.hvpcheck(grad, hvp, _hvp_inputs(), names=["a", "w"], mode=mode)
    assert report.passed and report.title == "Hessian-vector check"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bug, failed", [("a cross term dropped", {"a", "w"}),
                                         ("wrong curvature sign", {"w"})])
def test_hvpcheck_catches_planted_bugs_in_every_mode(mode, bug, failed):
    grad, hvp = _softplus_loss()
    report = nplstm.hvpcheck(grad, lambda v, a, w: hvp(v, a, w, bug), _hvp_inputs(),
                             names=["a", "w"], mode=mode, raise_exception=False)
    assert set(report.failed) == failed
    with pytest.raises(nplstm.GradcheckError, match="Hessian-vector check failed"):
        nplstm.hvpcheck(grad, lambda v, a, w: hvp(v, a, w, bug), _hvp_inputs(), mode=mode)


def test_hvpcheck_names_grad_and_hvp_in_its_errors():
    grad, hvp = _softplus_loss()
    with pytest.raises(TypeError, match="grad must return a sequence of gradients"):
        nplstm.hvpcheck(lambda a, w: a, hvp, _hvp_inputs())
    with pytest.raises(ValueError, match="hvp's gradient for input1 has shape"):
        nplstm.hvpcheck(grad, lambda v, a, w: (v[0], v[1][:2]), _hvp_inputs())
    with pytest.raises(TypeError, match="hvp must be a callable"):
        nplstm.hvpcheck(grad, None, _hvp_inputs())
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="grad is not deterministic"):
        nplstm.hvpcheck(lambda a, w: (a + rng.random(6), w), hvp, _hvp_inputs())


# ----------------------------------------------------------------------- double backward
def test_a_double_backward_is_checked_as_the_backward_of_the_backward():
    """backward(dy, x) = dy ⊙ tanh'(x) is a function of (x, dy); its backward — the double
    backward — maps g = ∂/∂dx to (∂/∂x, ∂/∂dy) = (g ⊙ dy ⊙ tanh''(x), g ⊙ tanh'(x))."""
    def first_backward(x, dy):                  # the backward, as a forward of (x, dy)
        t = np.tanh(x)
        return dy * (1 - t * t), (x, dy)

    def double_backward(g, cache, bug=None):
        x, dy = cache
        t = np.tanh(x)
        d2 = -2 * t * (1 - t * t)                # tanh''
        return g * dy * (d2 if bug is None else -d2), g * (1 - t * t)

    rng = np.random.default_rng(4)
    inputs = [rng.standard_normal(5), rng.standard_normal(5)]
    assert nplstm.gradcheck(first_backward, double_backward, inputs, names=["x", "dy"]).passed
    wrong = nplstm.gradcheck(first_backward, lambda g, c: double_backward(g, c, "sign"), inputs,
                             names=["x", "dy"], raise_exception=False)
    assert wrong.failed == ["x"]


def test_the_library_cell_still_passes_the_adjoint_test_with_both_reports():
    forward, jvp = _library_cell_jvp()
    inputs = random_cell_case(np.random.default_rng(5), 2, 3, 4)
    jvp_report = nplstm.jvpcheck(forward, jvp, inputs, names=CELL_NAMES)
    vjp_report = nplstm.gradcheck(*cell_pair(), inputs, names=CELL_NAMES, mode="directional")
    report = nplstm.adjoint_check(cell_jvp, cell_pair(), inputs, names=CELL_NAMES,
                                  jvp_report=jvp_report, vjp_report=vjp_report)
    assert report.passed
