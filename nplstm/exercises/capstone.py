"""Grading the capstone: the learner's ``char_lm_loss_and_grads`` is compared with nplstm's
on small random cases, then, when right, trained here on the demo corpus (``PLAN``; what is
trained and when it passes: docs/exercises.md, "The capstone").  The training is the
grader's: this process holds the parameters, steps ``optim.SGD`` and only asks the learner's
function, over the same wire as every exercise, for each batch's loss and gradients.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import functional as F
from ..functional import reference
from ..nn.module import Parameter
from ..optim import SGD, clip_grad_norm
from ..training.data import CharCorpus, StreamBatches, bigram_baseline, default_corpus_text
from .compare import OutputSpec, checked_output, compared_outputs, gate_spec, grade_function
from .learner import LearnerError
from .mistakes import bptt_mistakes

__all__ = ["TrainingPlan", "PLAN", "grade_capstone", "OUTPUTS"]

OUTPUTS = ("loss", "dW_ih", "dW_hh", "db_ih", "db_hh", "dW_out", "db_out")
SHAPES = ((), ("4H", "V"), ("4H", "H"), ("4H",), ("4H",), ("V", "H"), ("V",))
FUNCTION = "char_lm_loss_and_grads"


@dataclass(frozen=True)
class TrainingPlan:
    """What the grader trains: sizes, SGD's settings, the budget and the evaluations."""

    hidden: int = 64
    batch: int = 64
    seq_len: int = 24
    lr: float = 0.5
    momentum: float = 0.9
    max_norm: float = 5.0
    steps: int = 800
    eval_every: int = 50
    eval_chars: int = 8192       # 16 streams of the eval split's first characters
    eval_streams: int = 16
    eval_seq_len: int = 64
    seed: int = 0


PLAN = TrainingPlan()


def _one_hot(tokens, V):
    x = np.zeros(tokens.shape + (V,))
    np.put_along_axis(x, tokens[..., None], 1.0, axis=-1)
    return x


def reference_loss_and_grads(inputs, targets, W_ih, W_hh, b_ih, b_hh, W_out, b_out):
    """nplstm's answer: the textbook LSTM from zero state on one-hot inputs, the linear head,
    the mean cross-entropy, and their backward: [loss, dW_ih, …, db_out], and the (one-hot
    x, dhs) the LSTM's part of the backward starts from."""
    T, B = inputs.shape
    V, H = W_out.shape
    x = _one_hot(inputs, V)
    zeros = np.zeros((B, H))
    (hs, _), cache = reference.lstm_forward(x, (zeros, zeros), W_ih, W_hh, b_ih, b_hh)
    logits, head = F.linear_forward(hs.reshape(T * B, H), W_out, b_out)
    loss, ce = F.cross_entropy_forward(logits, targets.reshape(-1))
    dhead = F.linear_backward(F.cross_entropy_backward(1.0, ce).logits, head)
    dhs = dhead.x.reshape(T, B, H)
    grads = reference.lstm_backward(dhs, None, None, cache)
    return ([np.asarray(loss), grads.weight_ih, grads.weight_hh, grads.bias_ih, grads.bias_hh,
             dhead.weight, dhead.bias], x, dhs)


def _mistakes(x, W_ih, W_hh, b_ih, b_hh, dhs) -> list:
    """lstm_bptt's mistakes (a path left out, one step's weights only) in the outputs."""
    zeros = np.zeros(dhs.shape[1:])
    return [(sentence, [None] + arrays[3:] + [None, None])
            for sentence, arrays in bptt_mistakes(x, zeros, zeros, W_ih, W_hh, b_ih, b_hh, dhs)]


def grade_capstone(learner, rng):
    cases = []
    for T, B, V, H in [(3, 2, 5, 3), (2, 1, 4, 2), (4, 3, 3, 1), (1, 2, 4, 2)]:
        params = [0.5 * rng.standard_normal(s) for s in [(4 * H, V), (4 * H, H), 4 * H, 4 * H,
                                                         (V, H), V]]
        cases.append({"inputs": rng.integers(0, V, (T, B)), "targets": rng.integers(0, V, (T, B)),
                      "params": params})
    specs = [gate_spec(n, s) for n, s in zip(OUTPUTS, SHAPES)]

    def run(case):
        inputs, targets, params = case["inputs"], case["targets"], case["params"]
        got = learner.returns(FUNCTION, OUTPUTS, inputs, targets, *params)
        want, x, dhs = reference_loss_and_grads(inputs, targets, *params)
        yield from compared_outputs(specs, got, want, None, _mistakes(x, *params[:4], dhs),
                                    {"N": inputs.size})

    report = grade_function(FUNCTION, cases, run)
    if not report.passed:
        return [report], len(cases), None
    return [report], len(cases), train(learner, PLAN)


def train(learner, plan: TrainingPlan) -> dict:
    """Train with the learner's function as the plan says: the curve, the baseline and
    whether an evaluation went below it (``passed``), with a sentence."""
    started = time.monotonic()
    corpus = CharCorpus.from_text(default_corpus_text())
    evaluated = CharCorpus(corpus.chars, corpus.train, corpus.eval[:plan.eval_chars + 1],
                           corpus.sha256)
    baseline = bigram_baseline(evaluated)
    train_batches = StreamBatches(corpus.train, plan.batch, plan.seq_len, "train")
    eval_batches = StreamBatches(evaluated.eval, plan.eval_streams, plan.eval_seq_len, "eval")
    V, H = corpus.vocab_size, plan.hidden
    init = np.random.default_rng(plan.seed)
    bound = 1 / math.sqrt(H)                     # torch's default initialisation
    params = [Parameter(init.uniform(-bound, bound, s))
              for s in [(4 * H, V), (4 * H, H), (4 * H,), (4 * H,), (V, H), (V,)]]
    optimizer = SGD(params, lr=plan.lr, momentum=plan.momentum)
    specs = [OutputSpec(n, s) for n, s in zip(OUTPUTS, SHAPES)]
    curve, losses = [], []
    result = {"baseline": baseline, "curve": curve, "passed": False, "sentence": "",
              "plan": asdict(plan), "seconds": 0.0}

    def loss_and_grads(inputs, targets, step):
        got = learner.returns(FUNCTION, OUTPUTS, inputs, targets, *[p.data for p in params])
        checked = [checked_output(spec, g, p.data if spec.shape else np.asarray(0.0))
                   for spec, g, p in zip(specs, got, [params[0]] + params)]
        loss = float(checked[0])
        if not all(np.all(np.isfinite(g)) for g in checked):
            raise LearnerError(f"NaN or inf in the loss or gradients at step {step}")
        return loss, checked[1:]

    try:
        for step in range(1, plan.steps + 1):
            inputs, targets = train_batches.batch(step - 1)
            loss, grads = loss_and_grads(inputs, targets, step)
            for p, g in zip(params, grads):
                p.grad[...] = g
            clip_grad_norm(params, plan.max_norm)
            optimizer.step()
            losses.append(loss)
            if step % plan.eval_every and step != plan.steps:
                continue
            total = count = 0
            for k in range(len(eval_batches)):
                inputs, targets = eval_batches.batch(k)
                total += loss_and_grads(inputs, targets, step)[0] * targets.size
                count += targets.size
            curve.append([step, float(np.mean(losses)), total / count])
            losses.clear()
            if total / count < baseline:
                result.update(passed=True, sentence=(
                    f"eval loss {total / count:.3f} < bigram baseline {baseline:.3f} after "
                    f"{step} steps"))
                break
        else:
            best = min(row[2] for row in curve)
            result["sentence"] = (f"eval loss {curve[-1][2]:.3f} (best {best:.3f}) is not "
                                  f"below the bigram baseline {baseline:.3f} after "
                                  f"{plan.steps} steps: are the gradients right at every "
                                  f"step, and the loss a mean over all T·B positions?")
    except LearnerError as err:
        result["sentence"] = f"training stopped: {err}"
    result["seconds"] = round(time.monotonic() - started, 1)
    return result
