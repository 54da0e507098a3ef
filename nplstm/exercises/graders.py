"""One grader per exercise: random cases, the right answers from nplstm's reference (plain
NumPy for the non-LSTM ones), central differences of the learner's forward, named mistakes.

Every case is float64 with random, seeded, non-zero values (states, biases and upstream
gradients included), and the sizes include a batch and a hidden size of 1.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional import reference
from .compare import OutputSpec
from .engine import Compared, central_differences, grade_function, unpack
from .learner import LearnerError
from .values import type_name
from .mistakes import (BIAS_NOT_SUMMED, GATE_ORDERS, bias_rows, bptt_mistakes,
                       cell_forward_mistakes, cell_mistakes, permute_gates, wrong_gate_order)

__all__ = ["GRADERS", "CASE_SEED"]

CASE_SEED = 16


def _normal(rng, shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def _projection(outputs, directions, names=("y",)) -> float:
    """L = Σ_k ⟨u_k, out_k⟩: the scalar whose gradient a backward with upstream u_k returns.

    A learner's forward output of another shape is a ``LearnerError``, not a broadcast."""
    total = 0.0
    for out, u, name in zip(outputs, directions, names):
        if not isinstance(out, np.ndarray) or out.shape != u.shape or out.dtype != u.dtype:
            got = (f"is a {type_name(out)}" if not isinstance(out, np.ndarray)
                   else f"has shape {out.shape}" if out.shape != u.shape
                   else f"has dtype {out.dtype}")
            raise LearnerError(f"your forward's {name} {got}, expected shape {u.shape}"
                               f"{'' if out.shape != u.shape else f' and dtype {u.dtype}'}"
                               f": the central differences need a forward that runs")
        total += float(np.sum(u * out))
    return total


def _as_float(value, name: str) -> float:
    """A scalar the learner returned, for central differences; a sentence otherwise."""
    if isinstance(value, (float, np.floating)) or (isinstance(value, np.ndarray)
                                                  and value.shape == ()
                                                  and value.dtype.kind == "f"):
        return float(value)
    raise LearnerError(f"your {name} is a {type_name(value)}, expected a single float: the "
                       f"central differences need a forward that runs")


# --- sigmoid_tanh -------------------------------------------------------------------------

def _elementwise_cases(rng):
    return [{"z": _normal(rng, shape, 1.5), "du": _normal(rng, shape)}
            for shape in [(1, 4), (3, 1), (2, 5), (3, 3)]]


def _grade_sigmoid_tanh(learner, rng):
    cases = _elementwise_cases(rng)
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
            numeric, = central_differences(lambda z_: _projection([forward(z_)], [du]), [z])
            yield Compared(spec, learner.call(name, du, out), du * derivative(out), numeric,
                           [(mistake, du * wrong_derivative(out))],
                           forward=f"the forward {'σ' if name.startswith('sigmoid') else 'tanh'}")
        reports.append(grade_function(name, cases, run))
    return reports, len(cases)


# --- linear -------------------------------------------------------------------------------

def _grade_linear(learner, rng):
    cases = [{"x": _normal(rng, (N, I)), "W": _normal(rng, (O, I)), "b": _normal(rng, O),
              "dy": _normal(rng, (N, O))} for N, I, O in [(1, 3, 2), (4, 2, 1), (3, 3, 3),
                                                          (2, 4, 5)]]
    specs = (OutputSpec("dx", ("N", "I")), OutputSpec("dW", ("O", "I")),
             OutputSpec("db", ("O",)))

    def run(case):
        x, W, b, dy = case["x"], case["W"], case["b"], case["dy"]
        got = unpack("linear_backward", learner.call("linear_backward", dy, x, W, b),
                     ("dx", "dW", "db"))
        _, cache = F.linear_forward(x, W, b)
        want = F.linear_backward(dy, cache)                          # y = x Wᵀ + b
        numeric = central_differences(
            lambda x_, W_, b_: _projection([x_ @ W_.T + b_], [dy]), [x, W, b])
        mistakes = [[], [], [(BIAS_NOT_SUMMED, row) for row in bias_rows(dy)]]
        for spec, g, w, n, m in zip(specs, got, want, numeric, mistakes):
            yield Compared(spec, g, w, n, m, sizes={"N": x.shape[0]},
                           forward="the forward y = x Wᵀ + b")

    return [grade_function("linear_backward", cases, run)], len(cases)


# --- softmax_cross_entropy ----------------------------------------------------------------

NO_MAX_SHIFT = ("overflows for large logits (this case's are near 750, and e^750 is inf in "
                "float64): subtract each row's maximum before exponentiating, "
                "softmax(z) = softmax(z − max z)")
LARGE_LOGIT = 750.0


def _grade_softmax_cross_entropy(learner, rng):
    cases = [{"logits": _normal(rng, (N, C), 2.0), "targets": rng.integers(0, C, N)}
             for N, C in [(1, 3), (4, 2), (3, 5), (5, 4)]]
    cases.append({"logits": _normal(rng, (3, 4), 2.0) + LARGE_LOGIT,     # the stable softmax
                  "targets": rng.integers(0, 4, 3)})
    specs = (OutputSpec("loss", ()), OutputSpec("dlogits", ("N", "C")))

    def learner_loss(logits, targets):
        result = learner.call("softmax_cross_entropy", logits, targets)
        return unpack("softmax_cross_entropy", result, ("loss", "dlogits"))

    def run(case):
        logits, targets = case["logits"], case["targets"]
        loss, dlogits = learner_loss(logits, targets)
        want_loss, cache = F.cross_entropy_forward(logits, targets)
        want_dlogits = F.cross_entropy_backward(1.0, cache).logits
        sizes = {"N": logits.shape[0]}
        nonfinite = NO_MAX_SHIFT if logits.min() > LARGE_LOGIT / 2 else ""
        yield Compared(specs[0], loss, want_loss, sizes=sizes,       # checked before differencing
                       nonfinite=nonfinite)
        numeric, = central_differences(lambda z: _as_float(learner_loss(z, targets)[0], "loss"),
                                       [logits])
        # log-softmax without the shift: log p = z − inf, so p = 0 and dlogits = −onehot / N
        overflowed = np.zeros_like(logits)
        overflowed[np.arange(len(targets)), targets] = -1 / len(targets)
        yield Compared(specs[1], dlogits, want_dlogits, numeric,
                       [(NO_MAX_SHIFT, overflowed)] if nonfinite else [], sizes,
                       nonfinite=nonfinite)

    return [grade_function("softmax_cross_entropy", cases, run)], len(cases)


# --- the LSTM cell ------------------------------------------------------------------------

CELL_INPUTS = ("x", "h_prev", "c_prev", "W_ih", "W_hh", "b_ih", "b_hh")
CELL_GRADS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
CELL_SHAPES = (("B", "I"), ("B", "H"), ("B", "H"), ("4H", "I"), ("4H", "H"), ("4H",), ("4H",))


def _gate_axis(shape):
    return 0 if shape[0] == "4H" else None


def _cell_cases(rng):
    """(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh) and upstream (dh, dc), for B, I, H."""
    cases = []
    for B, I, H in [(1, 3, 2), (3, 4, 1), (2, 4, 3), (4, 2, 2)]:
        inputs = [_normal(rng, (B, I)), _normal(rng, (B, H), 0.5), _normal(rng, (B, H)),
                  _normal(rng, (4 * H, I), 0.5), _normal(rng, (4 * H, H), 0.5),
                  _normal(rng, 4 * H, 0.5), _normal(rng, 4 * H, 0.5)]
        cases.append({"inputs": inputs, "dh": _normal(rng, (B, H)),
                      "dc": _normal(rng, (B, H))})
    return cases


def _forward_alternatives(forward, inputs, w_at=(3, 4, 5, 6)):
    """forward(*inputs) with the gate blocks of the weights and biases in every wrong order:
    [(sentence, output)]."""
    found = []
    for order in GATE_ORDERS:
        moved = [permute_gates(a, order) if k in w_at else a for k, a in enumerate(inputs)]
        found.append((wrong_gate_order(order), forward(*moved)))
    return found


def _reference_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    return reference.lstm_step_forward(x, h, c, W_ih, W_hh, b_ih, b_hh)[0]     # (h', c')


def _grade_lstm_cell_forward(learner, rng):
    cases = _cell_cases(rng)
    specs = (OutputSpec("h", ("B", "H")), OutputSpec("c", ("B", "H")))

    def run(case):
        inputs = case["inputs"]
        h, c, _ = unpack("lstm_cell_forward", learner.call("lstm_cell_forward", *inputs),
                         ("h", "c", "cache"))
        want = _reference_cell(*inputs)
        wrong_orders = (_forward_alternatives(_reference_cell, inputs)
                        + cell_forward_mistakes(*inputs))
        for k, (spec, got) in enumerate(zip(specs, (h, c))):
            yield Compared(spec, got, want[k],
                           alternatives=[(s, out[k]) for s, out in wrong_orders])

    return [grade_function("lstm_cell_forward", cases, run)], len(cases)


def _grade_lstm_cell_backward(learner, rng):
    cases = _cell_cases(rng)
    specs = tuple(OutputSpec(n, s, gate_axis=_gate_axis(s))
                  for n, s in zip(CELL_GRADS, CELL_SHAPES))

    def learner_forward(*inputs):
        return unpack("lstm_cell_forward", learner.call("lstm_cell_forward", *inputs),
                      ("h", "c", "cache"))

    def run(case):
        inputs, dh, dc = case["inputs"], case["dh"], case["dc"]
        _, _, cache = learner_forward(*inputs)
        got = unpack("lstm_cell_backward", learner.call("lstm_cell_backward", dh, dc, cache),
                     CELL_GRADS)
        _, ref_cache = reference.lstm_step_forward(*inputs)
        want, _ = reference.lstm_step_backward(dh, dc, ref_cache)
        numeric = central_differences(
            lambda *a: _projection(learner_forward(*a)[:2], [dh, dc], ("h", "c")), inputs)
        mistakes = cell_mistakes(*inputs, dh, dc)
        for k, spec in enumerate(specs):
            yield Compared(spec, got[k], want[k], numeric[k],
                           [(s, arrays[k]) for s, arrays in mistakes], {"B": len(dh)},
                           forward="the given forward")

    return [grade_function("lstm_cell_backward", cases, run)], len(cases)


# --- backpropagation through time ---------------------------------------------------------

SEQUENCE_GRADS = ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db_ih", "db_hh")
SEQUENCE_SHAPES = (("T", "B", "I"), ("B", "H"), ("B", "H"), ("4H", "I"), ("4H", "H"),
                   ("4H",), ("4H",))


def _sequence_cases(rng):
    cases = []
    # the third sizes twice in a row: a function that keeps state between calls (reset only
    # when the shapes change) answers the fourth case with the third's
    for T, B, I, H in [(3, 1, 3, 2), (2, 3, 4, 1), (4, 2, 3, 3), (4, 2, 3, 3), (1, 2, 2, 2)]:
        inputs = [_normal(rng, (T, B, I)), _normal(rng, (B, H), 0.5), _normal(rng, (B, H)),
                  _normal(rng, (4 * H, I), 0.5), _normal(rng, (4 * H, H), 0.5),
                  _normal(rng, 4 * H, 0.5), _normal(rng, 4 * H, 0.5)]
        cases.append({"inputs": inputs, "dhs": _normal(rng, (T, B, H))})
    return cases


def _reference_sequence(x, h0, c0, W_ih, W_hh, b_ih, b_hh):
    return reference.lstm_forward(x, (h0, c0), W_ih, W_hh, b_ih, b_hh)[0][0]   # (T, B, H)


def _called_again(function: str, first: tuple, again: tuple) -> None:
    """A ``LearnerError`` when a second call with the same arguments returned other arrays:
    the function keeps state between calls."""
    for a, b in zip(first, again):
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and not (
                a.shape == b.shape and np.array_equal(a, b, equal_nan=True)):
            raise LearnerError(f"{function} {STATE_BETWEEN_CALLS}")


STATE_BETWEEN_CALLS = ("gave another answer when called again with the same arguments: does it "
                       "keep state between calls (a module-level variable)? Each call must "
                       "start afresh")
PREVIOUS_ANSWER = ("is the answer to the previous call (the same shapes, another sequence): "
                   "does it keep state between calls (a module-level variable)?")


def _grade_lstm_bptt(learner, rng):
    cases = _sequence_cases(rng)
    previous = {}                  # function → the right outputs of the previous case
    hs_spec = OutputSpec("hs", ("T", "B", "H"), time_axis=0, backward_in_time=False)
    specs = tuple(OutputSpec(n, s, gate_axis=_gate_axis(s), time_axis=0 if n == "dx" else None)
                  for n, s in zip(SEQUENCE_GRADS, SEQUENCE_SHAPES))

    def learner_forward(*inputs):
        return unpack("lstm_forward", learner.call("lstm_forward", *inputs), ("hs", "cache"))

    def stale(function, want) -> list:
        """(PREVIOUS_ANSWER, the previous case's right outputs) where the shapes repeat."""
        before, previous[function] = previous.get(function), want
        if before is None or [np.shape(a) for a in before] != [np.shape(a) for a in want]:
            return [None] * len(want)
        return list(before)

    def run_forward(case):
        inputs = case["inputs"]
        hs, _ = learner_forward(*inputs)
        _called_again("lstm_forward", (hs,), learner_forward(*inputs)[:1])
        want = _reference_sequence(*inputs)
        before, = stale("lstm_forward", [want])
        yield Compared(hs_spec, hs, want,
                       alternatives=_forward_alternatives(_reference_sequence, inputs)
                       + [(PREVIOUS_ANSWER, before)])

    def run_backward(case):
        inputs, dhs = case["inputs"], case["dhs"]
        _, cache = learner_forward(*inputs)
        got = unpack("lstm_backward", learner.call("lstm_backward", dhs, cache), SEQUENCE_GRADS)
        _, cache = learner_forward(*inputs)
        _called_again("lstm_backward", got, unpack(
            "lstm_backward", learner.call("lstm_backward", dhs, cache), SEQUENCE_GRADS))
        _, ref_cache = reference.lstm_forward(inputs[0], tuple(inputs[1:3]), *inputs[3:])
        want = reference.lstm_backward(dhs, None, None, ref_cache)[:7]
        numeric = central_differences(
            lambda *a: _projection([learner_forward(*a)[0]], [dhs], ("hs",)), inputs)
        mistakes = bptt_mistakes(*inputs, dhs) + [(PREVIOUS_ANSWER,
                                                   stale("lstm_backward", want))]
        T, B = dhs.shape[:2]
        for k, spec in enumerate(specs):
            yield Compared(spec, got[k], want[k], numeric[k],
                           [(s, arrays[k]) for s, arrays in mistakes], {"T": T, "B": B})

    forward = grade_function("lstm_forward", cases, run_forward)
    backward = grade_function("lstm_backward", cases, run_backward)
    if forward.problem:   # no cache to grade lstm_backward with: is it written at all?
        backward = grade_function("lstm_backward", cases[:1], _stub_probe(learner))
        backward.problem = backward.problem or "not graded: it needs lstm_forward's cache"
    return [forward, backward], len(cases)


def _stub_probe(learner):
    """A run that only finds out whether lstm_backward still raises NotImplementedError."""
    def run(case):
        try:
            learner.call("lstm_backward", case["dhs"], None)
        except LearnerError as err:
            if str(err).startswith("not written yet"):
                raise
        return iter(())
    return run


GRADERS = {
    "sigmoid_tanh": _grade_sigmoid_tanh,
    "linear": _grade_linear,
    "softmax_cross_entropy": _grade_softmax_cross_entropy,
    "lstm_cell_forward": _grade_lstm_cell_forward,
    "lstm_cell_backward": _grade_lstm_cell_backward,
    "lstm_bptt": _grade_lstm_bptt,
}
