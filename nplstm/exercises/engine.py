"""The loop every exercise shares: run a function on each case, compare each output, keep the
worst error and the first diagnosis per output, and turn a learner's failure into a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .compare import OutputSpec, checked_output, diagnose, relative_error
from .learner import LearnerError
from .values import type_name
from .result import DIFFERENCES_TOLERANCE, REFERENCE_TOLERANCE, FunctionReport, OutputRow

__all__ = ["Compared", "grade_function", "unpack", "central_differences", "YOUR_FORWARD"]

FINITE_DIFFERENCE_STEP = 1e-6



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


YOUR_FORWARD = "your forward"


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


def unpack(function: str, result, names: tuple) -> tuple:
    """The learner's return value as len(names) values, or a sentence saying what came back."""
    if len(names) == 1:
        return (result,)
    if not isinstance(result, (tuple, list)):
        raise LearnerError(f"{function} returned a {type_name(result)}, expected "
                           f"{len(names)} values: {', '.join(names)}")
    if len(result) != len(names):
        raise LearnerError(f"{function} returned {len(result)} values, expected "
                           f"{len(names)}: {', '.join(names)}")
    return tuple(result)


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
