"""What a training run knows about itself beyond its model, kept in each checkpoint."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["RunRecord", "OVERFIT_EVALS", "OVERFIT_MARGIN"]

# The summary warns when the best eval loss is this many evaluations old and the last one
# lies more than this fraction above it.  In the README's continued run (1000 → 3000 steps)
# the best is 19 evaluations old and the last 12% above it; a healthy run improves within a
# few evaluations (the adding problem's plateau before it is solved does trip it: its best
# eval loss then is an early one, and best.npz keeps it, which is what the note says).
OVERFIT_EVALS = 3
OVERFIT_MARGIN = 0.02


@dataclasses.dataclass
class RunRecord:
    """What a run knows about itself beyond the model (stored in each checkpoint's meta as
    ``run``): its first loss (the divergence guard's reference), the seconds trained so far
    (across resumes), its best and its last evaluation ``[step, eval loss]``, and how many
    evaluations came after the best."""

    first_loss: float | None = None
    seconds: float = 0.0
    best: list | None = None
    last: list | None = None
    since_best: int = 0

    @classmethod
    def from_meta(cls, meta, step: int) -> "RunRecord":
        """The record of a checkpoint at ``step`` (a checkpoint without one: a fresh record);
        ``ValueError`` naming the field that is not valid."""
        if meta is None:
            return cls()
        if not isinstance(meta, dict):
            raise ValueError(f"its run record must be a JSON object, got {meta!r}")
        record = cls(**{f.name: meta[f.name] for f in dataclasses.fields(cls)
                        if f.name in meta})
        if record.first_loss is not None and not _finite_number(record.first_loss):
            raise ValueError(f"run.first_loss must be a non-negative number, "
                             f"got {record.first_loss!r}")
        if not _finite_number(record.seconds):
            raise ValueError(f"run.seconds must be a non-negative number, "
                             f"got {record.seconds!r}")
        for name in ("best", "last"):
            value = getattr(record, name)
            if value is not None and not (
                    isinstance(value, list) and len(value) == 2
                    and isinstance(value[0], int) and not isinstance(value[0], bool)
                    and 0 < value[0] <= step and _finite_number(value[1])):
                raise ValueError(f"run.{name} must be [step, eval loss] with a step up to "
                                 f"the checkpoint's {step}, got {value!r}")
        if isinstance(record.since_best, bool) or not isinstance(record.since_best, int) \
                or record.since_best < 0:
            raise ValueError(f"run.since_best must be an integer >= 0, "
                             f"got {record.since_best!r}")
        record.seconds = float(record.seconds)
        return record

    def add_eval(self, step: int, loss: float) -> bool:
        """Record an evaluation; True if it is the best so far (strictly lower)."""
        self.last = [step, loss]
        if self.best is None or loss < self.best[1]:
            self.best, self.since_best = [step, loss], 0
            return True
        self.since_best += 1
        return False

    def overfitting(self) -> int:
        """The evaluations since the best, when there are at least OVERFIT_EVALS of them and
        the last eval loss is more than OVERFIT_MARGIN above the best; else 0."""
        if self.since_best >= OVERFIT_EVALS and \
                self.last[1] > self.best[1] * (1 + OVERFIT_MARGIN):
            return self.since_best
        return 0


def _finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and value >= 0
