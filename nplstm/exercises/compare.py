"""Comparing what a learner's function returned with the right answer, case by case, and
saying where and how it is wrong (``grade_function``: the loop every grader shares).

A wrong array is tested against the shapes that common mistakes leave (round-off at float32
level, the sign flipped, a transpose, a named alternative such as "missing the path through
c" that the caller computed with the reference, a constant factor), then located (the gate
blocks i, f, g, o along 4H; the time steps).  Only errors and places are ever reported,
never the expected values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ..kernels.layout import GATE_NAMES, GRU_GATE_NAMES
from .learner import LearnerError
from .result import DIFFERENCES_TOLERANCE, REFERENCE_TOLERANCE, FunctionReport, OutputRow
from .wire import Opaque, type_name

__all__ = ["OutputSpec", "gate_spec", "relative_error", "checked_output",
           "diagnose", "Compared", "grade_function", "central_differences", "projection",
           "as_float", "normal", "step_inputs", "grade_step", "compared_outputs",
           "YOUR_FORWARD"]

_BLOCK_ROWS = ("0:H", "H:2H", "2H:3H", "3H:4H")
# float32 rounds at 6e-8: computing in it leaves relative errors of 1e-7 to 1e-6, far from
# float64's 1e-16 and far below what a wrong formula gives
FLOAT32_LEVEL = 1e-5
FLOAT32_SENTENCE = ("right to float32 precision only: compute in float64 (a float32 array, "
                    "or an astype(np.float32), on the way?)")
FACTOR_ELEMENTS = 3          # a factor not named after a size is claimed on this many or more


@dataclass(frozen=True)
class OutputSpec:
    """One output of a learner's function: its name and shape in letters (``("4H", "I")``;
    ``()`` for a scalar), the axis of its four gate blocks and of its time steps (or None),
    and whether the time steps were computed forward (t = 0 up) or backward (t = T−1 down)."""

    name: str
    shape: tuple
    gate_axis: int | None = None
    time_axis: int | None = None
    backward_in_time: bool = True

    def letters(self) -> str:
        return f"({self.shape[0]},)" if len(self.shape) == 1 else f"({', '.join(self.shape)})"


def gate_spec(name: str, shape: tuple, **kw) -> OutputSpec:
    """An ``OutputSpec`` whose gate axis is 0 where its shape starts with "4H" (the LSTM's
    blocks i, f, g, o) or "3H" (the GRU's r, z, n)."""
    return OutputSpec(name, shape, gate_axis=0 if shape and shape[0] in ("4H", "3H") else None,
                      **kw)


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max|got − want| / max(max|got|, max|want|); inf when got has NaN or inf."""
    if got.size == 0:
        return 0.0
    if not np.all(np.isfinite(got)):
        return float("inf")
    scale = max(np.abs(got).max(), np.abs(want).max())
    return float(np.abs(got - want).max() / scale) if scale > 0 else 0.0


def checked_output(spec: OutputSpec, got, want: np.ndarray) -> np.ndarray:
    """``got`` as an array, or a ``LearnerError`` sentence when its type, dtype or shape is
    wrong ("dW_ih has shape (3, 8), expected (8, 3) = (4H, I): did you transpose it?")."""
    if isinstance(got, Opaque) and got.dtype:
        raise LearnerError(f"{spec.name} has dtype {got.dtype}, expected {want.dtype} (the "
                           f"inputs' dtype): return an array of numbers")
    if spec.shape == ():
        if isinstance(got, (float, np.floating)) or (isinstance(got, np.ndarray)
                                                     and got.shape == ()):
            got = np.asarray(got)
        else:
            shape = f" of shape {got.shape}" if isinstance(got, np.ndarray) else ""
            raise LearnerError(f"{spec.name} is a {type_name(got)}{shape}, expected a "
                               f"single float (e.g. the .mean() of an array)")
    if not isinstance(got, np.ndarray):
        raise LearnerError(f"{spec.name} is a {type_name(got)}, expected a NumPy array of "
                           f"shape {want.shape} = {spec.letters()}")
    if got.dtype != want.dtype:
        raise LearnerError(f"{spec.name} has dtype {got.dtype}, expected {want.dtype} (the "
                           f"inputs' dtype): keep the dtype of the arrays you are given")
    if got.shape != want.shape:
        hint = ": did you transpose it?" if got.shape == want.shape[::-1] else ""
        raise LearnerError(f"{spec.name} has shape {got.shape}, expected {want.shape} = "
                           f"{spec.letters()}{hint}")
    return got


def diagnose(spec: OutputSpec, got, want, alternatives=(), sizes=None, nonfinite="") -> str:
    """A sentence saying how or where ``got`` is wrong, or "" when nothing is recognised.

    alternatives  (sentence, array): what a named mistake would give, computed by the caller
    sizes         {"N": 4, …}: sizes a constant factor is named after ("off by a factor of N")
    nonfinite     what NaN or inf entries mean in this case (an overflow), if known
    """
    tol = REFERENCE_TOLERANCE
    if not np.all(np.isfinite(got)):
        return nonfinite or "has NaN or inf entries"
    if not np.any(got):
        return "all zeros: no gradient reaches it"
    for sentence, alternative in alternatives:      # exact matches first: the most specific
        if relative_error(got, alternative) < tol:
            return sentence
    if relative_error(got, want) < FLOAT32_LEVEL:
        return FLOAT32_SENTENCE
    if relative_error(got, -want) < tol:
        return "sign flipped"
    if want.ndim == 2 and relative_error(got, want.T.reshape(want.shape)) < tol:
        return "off by a transpose"
    factor = _factor(got, want, sizes or {})
    if factor:
        return factor
    if spec.gate_axis is not None:
        names = GATE_NAMES if spec.shape[spec.gate_axis] == "4H" else GRU_GATE_NAMES
        return _gate_blocks(got, want, spec.gate_axis, tol, names)
    if spec.time_axis is not None:
        return _time_steps(got, want, spec, tol)
    return ""


def _factor(got, want, sizes: dict) -> str:
    """"off by a factor of N" when got ≈ k·want for a constant k ≠ 1: k must be one of the
    named sizes (or its inverse), or the same across at least ``FACTOR_ELEMENTS`` elements
    (with fewer, any wrong value is "a factor" of the right one)."""
    k = float(np.vdot(got, want) / np.vdot(want, want)) if np.any(want) else 0.0
    if k == 0 or abs(k - 1) < 1e-6 or relative_error(got, k * want) >= REFERENCE_TOLERANCE:
        return ""
    for letter, n in sizes.items():
        if n > 1 and abs(k - n) < 1e-6 * n:
            return f"off by a factor of {letter} = {n}"
        if n > 1 and abs(k * n - 1) < 1e-6:
            return f"off by a factor of 1/{letter} = 1/{n}"
    if np.count_nonzero(want) < FACTOR_ELEMENTS:
        return ""
    return f"off by a factor of {k:.4g}"


def _gate_blocks(got, want, axis: int, tol: float, names=GATE_NAMES) -> str:
    """Which of the gate blocks (``names``: i, f, g, o or r, z, n) along ``axis`` are wrong,
    or swapped."""
    count = len(names)
    scale = max(np.abs(got).max(), np.abs(want).max())
    got_blocks, want_blocks = np.split(got, count, axis=axis), np.split(want, count, axis=axis)

    def close(a, b):
        return np.abs(a - b).max() < tol * scale

    for a, b in combinations(range(count), 2):
        order = [a if k == b else b if k == a else k for k in range(count)]
        if all(close(got_blocks[k], want_blocks[order[k]]) for k in range(count)):
            return (f"gate blocks {names[a]} and {names[b]} swapped (torch's order along "
                    f"{count}H is {', '.join(names)})")
    wrong = [k for k in range(count) if not close(got_blocks[k], want_blocks[k])]
    if len(wrong) == count:
        return ""                                  # nothing to locate
    where = ", ".join(f"{names[k]} (rows {_BLOCK_ROWS[k]})" for k in wrong)
    right = ", ".join(names[k] for k in range(count) if k not in wrong)
    return f"wrong in gate block{'s' if len(wrong) > 1 else ''} {where}; {right} right"


def _time_steps(got, want, spec: OutputSpec, tol: float) -> str:
    """The time steps that are wrong, and the one where the mistake enters."""
    scale = max(np.abs(got).max(), np.abs(want).max())
    T = want.shape[spec.time_axis]
    wrong = [t for t in range(T)
             if np.abs(np.take(got, t, spec.time_axis) - np.take(want, t, spec.time_axis)).max()
             >= tol * scale]
    if not wrong:
        return ""
    steps = ", ".join(str(t) for t in wrong)
    plural = "s" if len(wrong) > 1 else ""
    if spec.backward_in_time:
        return (f"wrong at time step{plural} t = {steps} of 0 … {T - 1}: BPTT runs from "
                f"t = {T - 1} down, so look at step t = {max(wrong)} first")
    return (f"wrong at time step{plural} t = {steps} of 0 … {T - 1}: the forward runs from "
            f"t = 0 up, so look at step t = {min(wrong)} first")


# --- the loop over cases ----------------------------------------------------------------

FINITE_DIFFERENCE_STEP = 1e-6
YOUR_FORWARD = "your forward"


def _forward_wrong(forward: str) -> str:
    """Right for the forward that was differenced, wrong against the reference."""
    if forward == YOUR_FORWARD:
        return ("agrees with central differences of your forward but not with the "
                "reference: your forward computes something else")
    return (f"agrees with central differences of {forward} but not with the reference: "
            f"an error too small for differences to see")


def _forward_differs(forward: str) -> str:
    if forward == YOUR_FORWARD:
        return ("agrees with the reference but not with central differences of your "
                "forward: is your forward the textbook one, in float64?")
    return f"agrees with the reference but not with central differences of {forward}"


@dataclass
class Compared:
    """One output in one case: the learner's value, the right one, central differences of the
    forward (None where there is no forward to differentiate), named mistakes (sentence,
    array), the sizes a constant factor may be named after, and what the differenced forward
    is called in a sentence ("your forward" only where the learner wrote it)."""

    spec: OutputSpec
    got: object
    want: np.ndarray
    numeric: np.ndarray | None = None
    alternatives: list = field(default_factory=list)
    sizes: dict = field(default_factory=dict)
    forward: str = YOUR_FORWARD
    nonfinite: str = ""           # what NaN or inf in this case's output means, if known


def compared_outputs(specs, got, want, numeric=None, mistakes=(), sizes=None, **kw):
    """A ``Compared`` per output k of ``specs``; ``mistakes``: [(sentence, [an array per output,
    None where the mistake leaves it right])]; ``kw``: the rest of ``Compared``'s fields."""
    for k, spec in enumerate(specs):
        yield Compared(spec, got[k], want[k], None if numeric is None else numeric[k],
                       [(s, arrays[k]) for s, arrays in mistakes], dict(sizes or {}), **kw)


def grade_function(function: str, cases, run_case) -> FunctionReport:
    """``run_case(case)`` yields a ``Compared`` per output; the worst error over the cases is
    reported per output.  A ``LearnerError`` (not written yet, a crash, a shape) becomes the
    report's one sentence."""
    rows: dict = {}
    try:
        for case in cases:
            for compared in run_case(case):
                _add(rows, compared)
    except LearnerError as err:
        return FunctionReport(function, problem=str(err))
    return FunctionReport(function, list(rows.values()))


def _add(rows: dict, compared: Compared) -> None:
    spec = compared.spec
    got = checked_output(spec, compared.got, compared.want)
    error = relative_error(got, compared.want)
    numeric = (None if compared.numeric is None
               else relative_error(got, compared.numeric))
    where = ""
    if error >= REFERENCE_TOLERANCE:
        alternatives = [(sentence, a) for sentence, a in compared.alternatives if a is not None]
        where = diagnose(spec, got, compared.want, alternatives, compared.sizes,
                         compared.nonfinite)
        if not where and numeric is not None and numeric < DIFFERENCES_TOLERANCE:
            where = _forward_wrong(compared.forward)
    elif numeric is not None and numeric >= DIFFERENCES_TOLERANCE:
        where = _forward_differs(compared.forward)
    row = rows.get(spec.name)
    if row is None:
        rows[spec.name] = OutputRow(spec.name, error, numeric, where)
        return
    row.reference = max(row.reference, error)
    if numeric is not None:
        row.differences = max(row.differences or 0.0, numeric)
    row.where = row.where or where


def central_differences(loss, arrays: list) -> list:
    """∂loss/∂a for each array a: (loss(a + ε e_j) − loss(a − ε e_j)) / 2ε per element.

    loss(*arrays) -> float; it is given fresh copies, never ``arrays`` themselves.
    """
    eps = FINITE_DIFFERENCE_STEP
    grads = []
    for k, a in enumerate(arrays):
        grad = np.empty_like(a)
        for j in np.ndindex(a.shape):
            values = []
            for step in (eps, -eps):
                moved = [b.copy() for b in arrays]
                moved[k][j] += step
                values.append(loss(*moved))
            grad[j] = (values[0] - values[1]) / (2 * eps)
        grads.append(grad)
    return grads


def projection(outputs, directions, names=("y",)) -> float:
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


def as_float(value, name: str) -> float:
    """A scalar the learner returned, for central differences; a sentence otherwise."""
    if isinstance(value, (float, np.floating)) or (isinstance(value, np.ndarray)
                                                  and value.shape == ()
                                                  and value.dtype.kind == "f"):
        return float(value)
    raise LearnerError(f"your {name} is a {type_name(value)}, expected a single float: the "
                       f"central differences need a forward that runs")


def normal(rng, shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def step_inputs(rng, x_shape, B, H, gates=4, cell=True):
    """[x (x_shape), h (B, H), c (B, H) if ``cell``, W_ih (GH, I), W_hh (GH, H), b_ih, b_hh
    (GH,)] with G = ``gates`` (the LSTM's 4, the GRU's 3, the RNN's 1): random, non-zero, the
    weights and h at half scale; I = x_shape[-1]."""
    G = gates * H
    return ([normal(rng, x_shape), normal(rng, (B, H), 0.5)]
            + ([normal(rng, (B, H))] if cell else [])
            + [normal(rng, (G, x_shape[-1]), 0.5), normal(rng, (G, H), 0.5),
               normal(rng, G, 0.5), normal(rng, G, 0.5)])


def grade_step(learner, forward: str, run_forward, backward: str, run_backward, cases,
               upstream) -> list:
    """[forward's report, backward's report] of an exercise with both (rnn_step, gru_cell,
    lstm_bptt); a backward needs the forward's cache, so when the forward has a problem the
    backward is only probed (on the first case, ``upstream(case)`` and no cache) for still
    raising NotImplementedError."""
    first = grade_function(forward, cases, run_forward)
    if not first.problem:
        return [first, grade_function(backward, cases, run_backward)]

    def probe(case):
        try:
            learner.call(backward, upstream(case), None)
        except LearnerError as err:
            if str(err).startswith("not written yet"):
                raise
        return iter(())

    second = grade_function(backward, cases[:1], probe)
    second.problem = second.problem or f"not graded: it needs {forward}'s cache"
    return [first, second]
