"""The graders of the sequence exercises: lstm_bptt (a forward over time and BPTT, and a
function that keeps state between calls found out) and truncated_bptt (the global-norm clip
and training in chunks), as ``graders`` describes.
"""

from __future__ import annotations

import numpy as np

from ..functional import reference
from .compare import (Compared, OutputSpec, central_differences, compared_outputs, gate_spec,
                      grade_function, grade_step, normal, projection, step_inputs)
from .learner import LearnerError
from .mistakes import bptt_mistakes, clipped, gate_order_mistakes, truncated_training

__all__ = ["grade_lstm_bptt", "grade_truncated_bptt"]


SEQUENCE_GRADS = ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db_ih", "db_hh")
SEQUENCE_SHAPES = (("T", "B", "I"), ("B", "H"), ("B", "H"), ("4H", "I"), ("4H", "H"),
                   ("4H",), ("4H",))


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


def grade_lstm_bptt(learner, rng):
    cases = []
    # the third sizes twice in a row: a function that keeps state between calls (reset only
    # when the shapes change) answers the fourth case with the third's
    for T, B, I, H in [(3, 1, 3, 2), (2, 3, 4, 1), (4, 2, 3, 3), (4, 2, 3, 3), (1, 2, 2, 2)]:
        cases.append({"inputs": step_inputs(rng, (T, B, I), B, H),
                      "dhs": normal(rng, (T, B, H))})
    previous = {}                  # function → the right outputs of the previous case
    hs_spec = OutputSpec("hs", ("T", "B", "H"), time_axis=0, backward_in_time=False)
    specs = tuple(gate_spec(n, s, time_axis=0 if n == "dx" else None)
                  for n, s in zip(SEQUENCE_GRADS, SEQUENCE_SHAPES))

    def learner_forward(*inputs):
        return learner.returns("lstm_forward", ("hs", "cache"), *inputs)

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
                       alternatives=gate_order_mistakes(_reference_sequence, inputs)
                       + [(PREVIOUS_ANSWER, before)])

    def run_backward(case):
        inputs, dhs = case["inputs"], case["dhs"]
        _, cache = learner_forward(*inputs)
        got = learner.returns("lstm_backward", SEQUENCE_GRADS, dhs, cache)
        _, cache = learner_forward(*inputs)
        _called_again("lstm_backward", got,
                      learner.returns("lstm_backward", SEQUENCE_GRADS, dhs, cache))
        _, ref_cache = reference.lstm_forward(inputs[0], tuple(inputs[1:3]), *inputs[3:])
        want = reference.lstm_backward(dhs, None, None, ref_cache)[:7]
        numeric = central_differences(
            lambda *a: projection([learner_forward(*a)[0]], [dhs], ("hs",)), inputs)
        mistakes = bptt_mistakes(*inputs, dhs) + [(PREVIOUS_ANSWER,
                                                   stale("lstm_backward", want))]
        yield from compared_outputs(specs, got, want, numeric, mistakes,
                                    {"T": dhs.shape[0], "B": dhs.shape[1]})

    return grade_step(learner, "lstm_forward", run_forward, "lstm_backward", run_backward,
                      cases, lambda case: case["dhs"]), len(cases)


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


def grade_truncated_bptt(learner, rng):
    clip_cases = []
    for shapes, ratio in [([(2, 3), (4,), (3, 3)], 0.5), ([(1,), (2, 2), (5,)], 2.0),
                          ([(3, 1), (2,), (2, 4)], 0.3), ([(4, 2), (1, 1), (3,)], 0.9)]:
        grads = [normal(rng, shape, scale) for shape, scale in zip(shapes, (3.0, 0.3, 1.0))]
        total = float(np.sqrt(sum(np.sum(g * g) for g in grads)))
        clip_cases.append({"grads": grads, "max_norm": ratio * total})
    clip_specs = [OutputSpec(f"clipped[{k}]", ("like grads[%d]" % k,)) for k in range(3)]

    def run_clip(case):
        grads, max_norm = case["grads"], case["max_norm"]
        got = learner.returns("clip_global_norm", tuple(spec.name for spec in clip_specs),
                              grads, max_norm)
        want = clipped(grads, max_norm)
        yield from compared_outputs(clip_specs, got, want, mistakes=[
            (sentence, clipped(grads, max_norm, rule=rule))
            for rule, sentence in CLIP_MISTAKES.items()])

    train_cases = []
    for T, B, I, H, V, chunk, max_norm, lr in [(7, 2, 3, 4, 5, 3, 0.5, 0.3),
                                               (6, 1, 2, 3, 4, 2, 0.4, 0.5),
                                               (5, 3, 3, 2, 3, 5, 100.0, 0.2),
                                               (8, 2, 2, 1, 4, 3, 0.3, 0.4)]:
        params = [normal(rng, s, 0.5) for s in [(4 * H, I), (4 * H, H), 4 * H, 4 * H,
                                                 (V, H), V]]
        train_cases.append({"args": [normal(rng, (T, B, I)), rng.integers(0, V, (T, B)),
                                     normal(rng, (B, H), 0.5), normal(rng, (B, H)),
                                     params, chunk, max_norm, lr]})
    train_specs = tuple(gate_spec(n, s) for n, s in zip(TRAINED, TRAINED_SHAPES))

    def run_train(case):
        args = case["args"]
        got = learner.returns("train_truncated", TRAINED, *args)
        want = truncated_training(*args)
        variants = [(STATE_NOT_CARRIED, {"carry": False}),
                    (GRADIENT_NOT_STOPPED, {"leak": True})]
        variants += [(sentence, {"clip": rule}) for rule, sentence in CLIP_MISTAKES.items()]
        mistakes = [(sentence, truncated_training(*args, **switch))
                    for sentence, switch in variants]
        yield from compared_outputs(train_specs, got, want, None, mistakes, {"K": len(want[0])})

    return [grade_function("clip_global_norm", clip_cases, run_clip),
            grade_function("train_truncated", train_cases, run_train)], len(train_cases)


