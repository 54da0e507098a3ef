"""What grading found: a row per output, a report per function, a result per file.

Plain data (numbers and sentences, never the expected arrays), so that the result crosses
from the grading process to the CLI as JSON and the CLI only formats it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["REFERENCE_TOLERANCE", "DIFFERENCES_TOLERANCE", "OutputRow", "FunctionReport",
           "GradeResult"]

# relative error = max|got − want| / max(max|got|, max|want|), the worst over the cases
REFERENCE_TOLERANCE = 1e-8    # against nplstm's reference: both exact, only rounding differs
DIFFERENCES_TOLERANCE = 1e-6  # against central differences (step 1e-6): their own error ~1e-9


@dataclass
class OutputRow:
    """One returned array: its worst relative errors over the cases, and where it is wrong."""

    name: str
    reference: float              # against nplstm's reference (or plain NumPy)
    differences: float | None     # against central differences of the forward; None: n/a
    where: str = ""               # a sentence when wrong: the gate block, the time step, …

    @property
    def passed(self) -> bool:
        return (self.reference < REFERENCE_TOLERANCE
                and (self.differences is None or self.differences < DIFFERENCES_TOLERANCE))


@dataclass
class FunctionReport:
    """One function the learner writes: a row per output, or one sentence (``problem``) when
    its outputs could not be compared (not written yet, a crash, a wrong shape)."""

    function: str
    rows: list[OutputRow] = field(default_factory=list)
    problem: str = ""

    @property
    def passed(self) -> bool:
        return not self.problem and all(row.passed for row in self.rows)


@dataclass
class GradeResult:
    """The grade of one exercise file; ``problem`` is one sentence when the file as a whole
    failed (a syntax error, a crash on import, the time limit)."""

    exercise: str
    path: str
    cases: int
    reports: list[FunctionReport] = field(default_factory=list)
    problem: str = ""

    @property
    def passed(self) -> bool:
        return not self.problem and bool(self.reports) and all(r.passed for r in self.reports)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GradeResult":
        reports = [FunctionReport(r["function"], [OutputRow(**row) for row in r["rows"]],
                                  r["problem"]) for r in data["reports"]]
        return cls(data["exercise"], data["path"], data["cases"], reports, data["problem"])
