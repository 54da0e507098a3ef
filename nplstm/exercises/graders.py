"""One grader per exercise (``GRADERS``): random cases, the right answers from nplstm's
reference (plain NumPy for the non-LSTM ones), central differences of the learner's forward,
named mistakes (``mistakes``).  The one-step exercises are here; the sequences (lstm_bptt,
truncated_bptt) in ``sequence_graders``, the capstone in ``capstone``.

Every case is float64 with random, seeded, non-zero values (states, biases and upstream
gradients included), and the sizes include a batch and a hidden size of 1.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import functional as F
from ..functional import reference
from .capstone import grade_capstone
from .compare import (Compared, OutputSpec, as_float, central_differences, compared_outputs,
                      gate_spec, grade_function, grade_step, normal, projection, step_inputs)
from .mistakes import (BIAS_NOT_SUMMED, bias_rows, cell_forward_mistakes, cell_mistakes,
                       gate_order_mistakes, gru_backward_mistakes, gru_forward_mistakes,
                       reference_rnn_step, rnn_forward_mistakes, rnn_mistakes)
from .sequence_graders import grade_lstm_bptt, grade_truncated_bptt

__all__ = ["GRADERS", "CASE_SEED"]

CASE_SEED = 16


# --- sigmoid_tanh -------------------------------------------------------------------------

def _grade_sigmoid_tanh(learner, rng):
    cases = [{"z": normal(rng, shape, 1.5), "du": normal(rng, shape)}
             for shape in [(1, 4), (3, 1), (2, 5), (3, 3)]]
    spec = OutputSpec("dz", ("N", "M"))
    sigmoid = reference.sigmoid
    functions = [  # name, forward, its derivative written through the output, the mistake
        ("sigmoid_backward", sigmoid, lambda s: s * (1 - s),
         "σ' applied to s: s is already σ(z), so σ'(z) = s (1 − s)",
         lambda s: sigmoid(s) * (1 - sigmoid(s))),
        ("tanh_backward", np.tanh, lambda t: 1 - t * t,
         "tanh' applied to t: t is already tanh(z), so tanh'(z) = 1 − t²",
         lambda t: 1 - np.tanh(t) ** 2),
    ]
    reports = []
    for name, forward, derivative, mistake, wrong_derivative in functions:
        def run(case, name=name, forward=forward, derivative=derivative, mistake=mistake,
                wrong_derivative=wrong_derivative):
            z, du = case["z"], case["du"]
            out = forward(z)                                         # s = σ(z) or t = tanh(z)
            numeric, = central_differences(lambda z_: projection([forward(z_)], [du]), [z])
            yield Compared(spec, learner.call(name, du, out), du * derivative(out), numeric,
                           [(mistake, du * wrong_derivative(out))],
                           forward=f"the forward {'σ' if name.startswith('sigmoid') else 'tanh'}")
        reports.append(grade_function(name, cases, run))
    return reports, len(cases)


# --- linear -------------------------------------------------------------------------------

def _grade_linear(learner, rng):
    cases = [{"x": normal(rng, (N, I)), "W": normal(rng, (O, I)), "b": normal(rng, O),
              "dy": normal(rng, (N, O))} for N, I, O in [(1, 3, 2), (4, 2, 1), (3, 3, 3),
                                                          (2, 4, 5)]]
    specs = (OutputSpec("dx", ("N", "I")), OutputSpec("dW", ("O", "I")),
             OutputSpec("db", ("O",)))

    def run(case):
        x, W, b, dy = case["x"], case["W"], case["b"], case["dy"]
        got = learner.returns("linear_backward", ("dx", "dW", "db"), dy, x, W, b)
        _, cache = F.linear_forward(x, W, b)
        want = F.linear_backward(dy, cache)                          # y = x Wᵀ + b
        numeric = central_differences(
            lambda x_, W_, b_: projection([x_ @ W_.T + b_], [dy]), [x, W, b])
        mistakes = [(BIAS_NOT_SUMMED, [None, None, row]) for row in bias_rows(dy)]
        yield from compared_outputs(specs, got, want, numeric, mistakes, {"N": x.shape[0]},
                                    forward="the forward y = x Wᵀ + b")

    return [grade_function("linear_backward", cases, run)], len(cases)


# --- softmax_cross_entropy ----------------------------------------------------------------

NO_MAX_SHIFT = ("overflows for large logits (this case's are near 750, and e^750 is inf in "
                "float64): subtract each row's maximum before exponentiating, "
                "softmax(z) = softmax(z − max z)")
LARGE_LOGIT = 750.0


def _grade_softmax_cross_entropy(learner, rng):
    cases = [{"logits": normal(rng, (N, C), 2.0), "targets": rng.integers(0, C, N)}
             for N, C in [(1, 3), (4, 2), (3, 5), (5, 4)]]
    cases.append({"logits": normal(rng, (3, 4), 2.0) + LARGE_LOGIT,     # the stable softmax
                  "targets": rng.integers(0, 4, 3)})
    specs = (OutputSpec("loss", ()), OutputSpec("dlogits", ("N", "C")))

    def learner_loss(logits, targets):
        return learner.returns("softmax_cross_entropy", ("loss", "dlogits"), logits, targets)

    def run(case):
        logits, targets = case["logits"], case["targets"]
        loss, dlogits = learner_loss(logits, targets)
        want_loss, cache = F.cross_entropy_forward(logits, targets)
        want_dlogits = F.cross_entropy_backward(1.0, cache).logits
        sizes = {"N": logits.shape[0]}
        nonfinite = NO_MAX_SHIFT if logits.min() > LARGE_LOGIT / 2 else ""
        yield Compared(specs[0], loss, want_loss, sizes=sizes,       # checked before differencing
                       nonfinite=nonfinite)
        numeric, = central_differences(lambda z: as_float(learner_loss(z, targets)[0], "loss"),
                                       [logits])
        # log-softmax without the shift: log p = z − inf, so p = 0 and dlogits = −onehot / N
        overflowed = np.zeros_like(logits)
        overflowed[np.arange(len(targets)), targets] = -1 / len(targets)
        yield Compared(specs[1], dlogits, want_dlogits, numeric,
                       [(NO_MAX_SHIFT, overflowed)] if nonfinite else [], sizes,
                       nonfinite=nonfinite)

    return [grade_function("softmax_cross_entropy", cases, run)], len(cases)


# --- the steps with a forward and a backward: rnn_step, gru_cell ---------------------------

STEP_GRADS = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")


def _grade_step(learner, rng, exercise, gates, reference_step, forward_mistakes,
                backward_mistakes):
    """EXERCISE_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh) -> (h, cache) and
    EXERCISE_backward(dh, cache) -> ``STEP_GRADS``, the weights ``gates``·H rows (the RNN's
    1, the GRU's 3); ``reference_step(*inputs)`` is the right h, with ``dh`` (h, grads), and
    the mistakes' functions take the same arguments."""
    cases = []
    for B, I, H in [(1, 3, 2), (3, 4, 1), (2, 4, 3), (4, 2, 3)]:
        cases.append({"inputs": step_inputs(rng, (B, I), B, H, gates, cell=False),
                      "dh": normal(rng, (B, H))})
    rows = f"{gates}H" if gates > 1 else "H"
    specs = tuple(gate_spec(n, s) for n, s in zip(STEP_GRADS, [
        ("B", "I"), ("B", "H"), (rows, "I"), (rows, "H"), (rows,), (rows,)]))
    forward, backward = f"{exercise}_forward", f"{exercise}_backward"

    def learner_forward(*inputs):
        return learner.returns(forward, ("h", "cache"), *inputs)

    def run_forward(case):
        inputs = case["inputs"]
        yield Compared(OutputSpec("h", ("B", "H")), learner_forward(*inputs)[0],
                       reference_step(*inputs), alternatives=forward_mistakes(*inputs))

    def run_backward(case):
        inputs, dh = case["inputs"], case["dh"]
        got = learner.returns(backward, STEP_GRADS, dh, learner_forward(*inputs)[1])
        numeric = central_differences(
            lambda *a: projection([learner_forward(*a)[0]], [dh], ("h",)), inputs)
        yield from compared_outputs(specs, got, reference_step(*inputs, dh)[1], numeric,
                                    backward_mistakes(*inputs, dh), {"B": len(dh)})

    return grade_step(learner, forward, run_forward, backward, run_backward, cases,
                      lambda case: case["dh"]), len(cases)


def _reference_gru(x, h, W_ih, W_hh, b_ih, b_hh, dh=None):
    """``reference_rnn_step``'s GRU twin: h' (B, H), and with ``dh`` (h', its gradients)."""
    h_new, cache = reference.gru_step_forward(x, h, W_ih, W_hh, b_ih, b_hh)
    return h_new if dh is None else (h_new, reference.gru_step_backward(dh, cache))


def _grade_rnn_step(learner, rng):
    return _grade_step(learner, rng, "rnn_step", 1, reference_rnn_step, rnn_forward_mistakes,
                       rnn_mistakes)


def _grade_gru_cell(learner, rng):
    return _grade_step(learner, rng, "gru_cell", 3, _reference_gru, gru_forward_mistakes,
                       gru_backward_mistakes)


# --- the LSTM cell ------------------------------------------------------------------------

CELL_GRADS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
CELL_SHAPES = (("B", "I"), ("B", "H"), ("B", "H"), ("4H", "I"), ("4H", "H"), ("4H",), ("4H",))


def _cell_cases(rng):
    """(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh) and upstream (dh, dc), for B, I, H."""
    cases = []
    for B, I, H in [(1, 3, 2), (3, 4, 1), (2, 4, 3), (4, 2, 2)]:
        cases.append({"inputs": step_inputs(rng, (B, I), B, H), "dh": normal(rng, (B, H)),
                      "dc": normal(rng, (B, H))})
    return cases


def _reference_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return reference.lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh)[0]     # (h', c')


def _grade_lstm_cell_forward(learner, rng):
    cases = _cell_cases(rng)
    specs = (OutputSpec("h", ("B", "H")), OutputSpec("c", ("B", "H")))

    def run(case):
        inputs = case["inputs"]
        got = learner.returns("lstm_cell_forward", ("h", "c", "cache"), *inputs)
        yield from compared_outputs(specs, got, _reference_cell(*inputs), mistakes=(
            gate_order_mistakes(_reference_cell, inputs) + cell_forward_mistakes(*inputs)))

    return [grade_function("lstm_cell_forward", cases, run)], len(cases)


def _grade_lstm_cell_backward(learner, rng):
    cases = _cell_cases(rng)
    specs = tuple(gate_spec(n, s) for n, s in zip(CELL_GRADS, CELL_SHAPES))

    def learner_forward(*inputs):
        return learner.returns("lstm_cell_forward", ("h", "c", "cache"), *inputs)

    def run(case):
        inputs, dh, dc = case["inputs"], case["dh"], case["dc"]
        _, _, cache = learner_forward(*inputs)
        got = learner.returns("lstm_cell_backward", CELL_GRADS, dh, dc, cache)
        _, ref_cache = reference.lstm_step_forward(*inputs)
        want, _ = reference.lstm_step_backward(dh, dc, ref_cache)
        numeric = central_differences(
            lambda *a: projection(learner_forward(*a)[:2], [dh, dc], ("h", "c")), inputs)
        yield from compared_outputs(specs, got, want, numeric, cell_mistakes(*inputs, dh, dc),
                                    {"B": len(dh)}, forward="the given forward")

    return [grade_function("lstm_cell_backward", cases, run)], len(cases)


GRADERS: dict[str, Callable[..., Any]] = {
    "sigmoid_tanh": _grade_sigmoid_tanh,
    "linear": _grade_linear,
    "softmax_cross_entropy": _grade_softmax_cross_entropy,
    "rnn_step": _grade_rnn_step,
    "lstm_cell_forward": _grade_lstm_cell_forward,
    "lstm_cell_backward": _grade_lstm_cell_backward,
    "gru_cell": _grade_gru_cell,
    "lstm_bptt": grade_lstm_bptt,
    "truncated_bptt": grade_truncated_bptt,
    "capstone": grade_capstone,
}
