"""What a training run knows about itself beyond its model, kept in each checkpoint."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["RunRecord", "RECENT_EVALS"]

RECENT_EVALS = 10      # evaluations kept besides the best (the checkpoint's size stays fixed)


@dataclasses.dataclass
class RunRecord:
    """What a run knows about itself beyond the model (stored in each checkpoint's meta as
    ``run``): its first loss (the divergence guard's reference), the seconds trained so far
    (across resumes) and its evaluations ``[step, eval loss]``: the best and the last
    ``RECENT_EVALS`` (for best.npz and the overfitting note)."""

    first_loss: float | None = None
    seconds: float = 0.0
    evals: list = dataclasses.field(default_factory=list)

    @classmethod
    def from_meta(cls, meta, step: int) -> "RunRecord":
        """The record of a checkpoint at ``step`` (a checkpoint without one: a fresh record);
        ``ValueError`` naming the field that is not valid."""
        if meta is None:
            return cls()
        if not isinstance(meta, dict):
            raise ValueError(f"its run record must be a JSON object, got {meta!r}")
        first, seconds = meta.get("first_loss"), meta.get("seconds", 0.0)
        evals = meta.get("evals", [])
        if first is not None and not _finite_number(first, minimum=0.0):
            raise ValueError(f"run.first_loss must be a non-negative number, got {first!r}")
        if not _finite_number(seconds, minimum=0.0):
            raise ValueError(f"run.seconds must be a non-negative number, got {seconds!r}")
        if not isinstance(evals, list) or not all(
                isinstance(e, list) and len(e) == 2 and isinstance(e[0], int)
                and 0 < e[0] <= step and _finite_number(e[1], minimum=0.0) for e in evals):
            raise ValueError("run.evals must be a list of [step, eval loss] up to the "
                             f"checkpoint's step {step}")
        return cls(first, float(seconds), [list(e) for e in evals])

    def add_eval(self, step: int, loss: float) -> bool:
        """Record an evaluation; True if it is the best so far (strictly lower)."""
        best = self.best()
        self.evals.append([step, loss])
        recent = self.evals[-RECENT_EVALS:]
        keep = self.best()
        self.evals = recent if keep in recent else [keep] + recent
        return best is None or loss < best[1]

    def best(self):
        """(step, eval loss) of the lowest eval loss so far (the first of equals), or None."""
        return min(self.evals, key=lambda e: e[1], default=None)

    def rising(self) -> int:
        """How many evaluations in a row, up to the last, had a higher loss than the one
        before (0 if the last did not)."""
        count = 0
        losses = [loss for _, loss in self.evals]
        while count + 1 < len(losses) and losses[-1 - count] > losses[-2 - count]:
            count += 1
        return count


def _finite_number(value, minimum) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and value >= minimum
