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
from .truncated import clipped, truncated_training
from .mistakes import (BIAS_NOT_SUMMED, GATE_ORDERS, bias_rows, bptt_mistakes,
                       cell_forward_mistakes, cell_mistakes, permute_gates, reference_rnn_step,
                       rnn_forward_mistakes, rnn_mistakes, wrong_gate_order)

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


# --- the vanilla RNN step -----------------------------------------------------------------

RNN_INPUTS = ("x", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh")
RNN_GRADS = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
RNN_SHAPES = (("B", "I"), ("B", "H"), ("H", "I"), ("H", "H"), ("H",), ("H",))


def _grade_rnn_step(learner, rng):
    cases = []
    for B, I, H in [(1, 3, 2), (3, 4, 1), (2, 4, 3), (4, 2, 3)]:
        inputs = [_normal(rng, (B, I)), _normal(rng, (B, H), 0.5), _normal(rng, (H, I), 0.5),
                  _normal(rng, (H, H), 0.5), _normal(rng, H, 0.5), _normal(rng, H, 0.5)]
        cases.append({"inputs": inputs, "dh": _normal(rng, (B, H))})
    h_spec = OutputSpec("h", ("B", "H"))
    specs = tuple(OutputSpec(n, s) for n, s in zip(RNN_GRADS, RNN_SHAPES))

    def learner_forward(*inputs):
        return unpack("rnn_step_forward", learner.call("rnn_step_forward", *inputs),
                      ("h", "cache"))

    def run_forward(case):
        inputs = case["inputs"]
        h, _ = learner_forward(*inputs)
        yield Compared(h_spec, h, reference_rnn_step(*inputs),
                       alternatives=rnn_forward_mistakes(*inputs))

    def run_backward(case):
        inputs, dh = case["inputs"], case["dh"]
        _, cache = learner_forward(*inputs)
        got = unpack("rnn_step_backward", learner.call("rnn_step_backward", dh, cache),
                     RNN_GRADS)
        _, want = reference_rnn_step(*inputs, dh)
        numeric = central_differences(
            lambda *a: _projection([learner_forward(*a)[0]], [dh], ("h",)), inputs)
        mistakes = rnn_mistakes(*inputs, dh)
        for k, spec in enumerate(specs):
            yield Compared(spec, got[k], want[k], numeric[k],
                           [(s, arrays[k]) for s, arrays in mistakes], {"B": len(dh)})

    forward = grade_function("rnn_step_forward", cases, run_forward)
    if forward.problem:        # no forward to take a cache from or to difference
        backward = grade_function("rnn_step_backward", cases[:1], _probe(
            learner, "rnn_step_backward", lambda case: (case["dh"], None)))
        backward.problem = backward.problem or "not graded: it needs rnn_step_forward's cache"
        return [forward, backward], len(cases)
    return [forward, grade_function("rnn_step_backward", cases, run_backward)], len(cases)


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
        backward = grade_function("lstm_backward", cases[:1], _probe(
            learner, "lstm_backward", lambda case: (case["dhs"], None)))
        backward.problem = backward.problem or "not graded: it needs lstm_forward's cache"
    return [forward, backward], len(cases)


def _probe(learner, function: str, arguments):
    """A run that only finds out whether ``function`` still raises NotImplementedError
    (called with ``arguments(case)``)."""
    def run(case):
        try:
            learner.call(function, *arguments(case))
        except LearnerError as err:
            if str(err).startswith("not written yet"):
                raise
        return iter(())
    return run


# --- truncated BPTT -----------------------------------------------------------------------

CLIP_MISTAKES = {
    "each": ("clipped per array: the norm is global, √(Σ_k ‖g_k‖²) over all the gradients, "
             "and one factor min(1, max_norm / (‖g‖ + 1e-6)) scales them all"),
    "none": ("not clipped: scale all the gradients by min(1, max_norm / (‖g‖ + 1e-6)) "
             "before the update"),
    "always": ("scaled although the global norm is below max_norm: the factor is "
               "min(1, max_norm / (‖g‖ + 1e-6)), never above 1"),
    "no-sqrt": "the norm without its square root: ‖g‖ = √(Σ_k Σ_j g_k[j]²)",
    "no-epsilon": ("max_norm / ‖g‖ without torch's 1e-6: the factor is "
                   "min(1, max_norm / (‖g‖ + 1e-6))"),
}
STATE_NOT_CARRIED = ("the state not carried: each chunk starts from the h and c where the "
                     "previous chunk ended (only the first from h0, c0)")
GRADIENT_NOT_STOPPED = ("the gradient not stopped at the chunk boundary: carry h and c "
                        "forward as values only; nothing arrives at a chunk's last h and c "
                        "(dh_n = dc_n = 0), and what reaches its h0, c0 is dropped")
TRAINED = ("losses", "W_ih", "W_hh", "b_ih", "b_hh", "W_out", "b_out", "h", "c")
TRAINED_SHAPES = (("K",), ("4H", "I"), ("4H", "H"), ("4H",), ("4H",), ("V", "H"), ("V",),
                  ("B", "H"), ("B", "H"))


def _grade_truncated_bptt(learner, rng):
    clip_cases = []
    for shapes, ratio in [([(2, 3), (4,), (3, 3)], 0.5), ([(1,), (2, 2), (5,)], 2.0),
                          ([(3, 1), (2,), (2, 4)], 0.3), ([(4, 2), (1, 1), (3,)], 0.9)]:
        grads = [_normal(rng, shape, scale) for shape, scale in zip(shapes, (3.0, 0.3, 1.0))]
        total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        clip_cases.append({"grads": grads, "max_norm": ratio * total})
    clip_specs = [OutputSpec(f"clipped[{k}]", ("like grads[%d]" % k,)) for k in range(3)]

    def run_clip(case):
        grads, max_norm = case["grads"], case["max_norm"]
        got = unpack("clip_global_norm", learner.call("clip_global_norm", grads, max_norm),
                     tuple(spec.name for spec in clip_specs))
        want = clipped(grads, max_norm)
        mistakes = [(sentence, clipped(grads, max_norm, rule=rule))
                    for rule, sentence in CLIP_MISTAKES.items()]
        for k, spec in enumerate(clip_specs):
            yield Compared(spec, got[k], want[k], None,
                           [(sentence, arrays[k]) for sentence, arrays in mistakes])

    train_cases = []
    for T, B, I, H, V, chunk, max_norm, lr in [(7, 2, 3, 4, 5, 3, 0.5, 0.3),
                                               (6, 1, 2, 3, 4, 2, 0.4, 0.5),
                                               (5, 3, 3, 2, 3, 5, 100.0, 0.2),
                                               (8, 2, 2, 1, 4, 3, 0.3, 0.4)]:
        params = [_normal(rng, s, 0.5) for s in [(4 * H, I), (4 * H, H), 4 * H, 4 * H,
                                                 (V, H), V]]
        train_cases.append({"args": [_normal(rng, (T, B, I)), rng.integers(0, V, (T, B)),
                                     _normal(rng, (B, H), 0.5), _normal(rng, (B, H)),
                                     params, chunk, max_norm, lr]})
    train_specs = tuple(OutputSpec(n, s, gate_axis=0 if s[0] == "4H" else None)
                        for n, s in zip(TRAINED, TRAINED_SHAPES))

    def run_train(case):
        args = case["args"]
        got = unpack("train_truncated", learner.call("train_truncated", *args), TRAINED)
        want = truncated_training(*args)
        variants = [(STATE_NOT_CARRIED, {"carry": False}),
                    (GRADIENT_NOT_STOPPED, {"leak": True})]
        variants += [(sentence, {"clip": rule}) for rule, sentence in CLIP_MISTAKES.items()]
        mistakes = [(sentence, truncated_training(*args, **switch))
                    for sentence, switch in variants]
        for k, spec in enumerate(train_specs):
            yield Compared(spec, got[k], want[k], None,
                           [(sentence, arrays[k]) for sentence, arrays in mistakes],
                           {"K": len(want[0])})

    return [grade_function("clip_global_norm", clip_cases, run_clip),
            grade_function("train_truncated", train_cases, run_train)], len(train_cases)


GRADERS = {
    "sigmoid_tanh": _grade_sigmoid_tanh,
    "linear": _grade_linear,
    "softmax_cross_entropy": _grade_softmax_cross_entropy,
    "rnn_step": _grade_rnn_step,
    "lstm_cell_forward": _grade_lstm_cell_forward,
    "lstm_cell_backward": _grade_lstm_cell_backward,
    "lstm_bptt": _grade_lstm_bptt,
    "truncated_bptt": _grade_truncated_bptt,
}
