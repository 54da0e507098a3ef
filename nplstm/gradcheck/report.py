"""What a gradient check found: one row per input, a breakdown by group, text and JSON.

    report.passed                 every checked input within tolerance
    report["weight_hh"]           an ``InputReport``: worst errors, where, analytic vs numeric
    report.breakdown()            {key: {label: GroupStats}}: the worst error per gate block,
                                  layer, direction, time step (from the callers' ``Layout``s)
    str(report)                   a table, then the breakdown
    report.to_dict(), to_json()   plain data for experiments
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .arrays import ABSENT
from .layout import GroupStats, merge_groups

__all__ = ["InputReport", "GradcheckReport", "GradcheckError", "format_table",
           "ELEMENT_CRITERION"]

# {key: {label: GroupStats}}: key a kind of group ("gate", "layer", "time", ...), label one
# group of it (a gate's letter, a layer's number, ...)
Groups = dict[str, dict[Any, GroupStats]]

ELEMENT_CRITERION = ("an element passes when |analytic - numeric| <= atol + rtol*|numeric| "
                     "(tolerances per input below)")


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` / ``adjoint_check`` on failure; ``.report`` holds the details."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(f"{report.title} failed\n{report}")
        self.report = report


@dataclass
class InputReport:
    """How one input's analytic gradient compares with the numeric one.

    In ``mode="directional"`` the "elements" are random directions: n_checked counts
    directions, ``worst_index`` is () and ``where`` names the direction.
    """

    name: str
    shape: tuple[int, ...]
    checked: bool                     # False for inputs that are not checked (see note)
    passed: bool = True
    n_checked: int = 0                # elements (or directions) compared
    n_failed: int = 0                 # over tolerance
    n_elements: int = 0               # elements of the input
    max_abs_error: float = 0.0
    max_abs_index: tuple[int, ...] = ()
    max_rel_error: float = 0.0        # |a − n| / max(|a|, |n|), 0 where both are 0
    max_rel_index: tuple[int, ...] = ()
    worst_ratio: float = 0.0          # max |a − n| / (atol + rtol·|n|); > 1 fails
    worst_index: tuple[int, ...] = ()  # the element furthest over (or closest to) tolerance
    worst_analytic: float = 0.0
    worst_numeric: float = 0.0
    where: str = ""                   # the worst element or direction, in words
    atol: float = 0.0
    rtol: float = 0.0
    groups: Groups = field(default_factory=dict)   # {key: {label: GroupStats}}
    note: str = ""
    precision: str = ""               # the dtype whose round-off set the default tolerances
    kinks: list[str] = field(default_factory=list)    # failing elements found not differentiable

    def row(self) -> list[str]:
        if not self.checked:                 # an absent input (None) has no shape
            shape = "-" if self.note == ABSENT else _fmt_shape(self.shape)
            return [self.name, shape, "-", "-", "-", "-", "-", "-", "-",
                    self.note or "not checked"]
        where = _fmt_index(self.worst_index) if self.worst_index else self.where
        return [self.name, _fmt_shape(self.shape), f"{self.max_abs_error:.2e}",
                f"{self.max_rel_error:.2e}", f"{self.worst_ratio:.2e}", where,
                f"{self.worst_analytic:.6e}", f"{self.worst_numeric:.6e}",
                f"{self.n_failed}/{self.n_checked}", "ok" if self.passed else "FAIL"]


@dataclass
class GradcheckReport:
    """The outcome of ``gradcheck``: ``.passed``, one ``InputReport`` per input."""

    passed: bool
    inputs: list[InputReport] = field(default_factory=list)
    mode: str = "full"
    eps: float = 0.0
    atol: float = 0.0                 # the tolerances of the first checked input (see rows)
    rtol: float = 0.0
    richardson: bool = False
    seed: int = 0
    n_evaluations: int = 0            # forward calls spent on differences
    title: str = "gradient check"
    criterion: str = ELEMENT_CRITERION   # the pass rule applied, in words
    notes: list[str] = field(default_factory=list)    # hints for the whole check, in words

    _HEADER = ["input", "shape", "max abs err", "max rel err", "err/tol", "worst at",
               "analytic", "numeric", "failed", "result"]

    def __getitem__(self, name: str) -> InputReport:
        for r in self.inputs:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def failed(self) -> list[str]:
        """Names of the inputs that failed."""
        return [r.name for r in self.inputs if r.checked and not r.passed]

    def breakdown(self) -> Groups:
        """{key: {label: GroupStats}} merged over every input that carries the key."""
        return merge_groups([r.groups for r in self.inputs if r.checked])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["breakdown"] = {key: {str(label): asdict(s) for label, s in by.items()}
                          for key, by in self.breakdown().items()}
        for r in d["inputs"]:
            r["groups"] = {key: {str(label): s for label, s in by.items()}
                           for key, by in r["groups"].items()}
        return _finite(d)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        header = list(self._HEADER)
        if self.mode == "adjoint":
            header[6:8] = ["<v, J^T u>", "<J v, u>"]
        elif self.mode == "jvp":
            header[6:8] = ["jvp", "difference"]
        lines = format_table([header] + [r.row() for r in self.inputs])
        lines += format_breakdown(self.breakdown())
        lines += self.note_lines()
        verdict = "PASSED" if self.passed else "FAILED: " + ", ".join(self.failed)
        how = f"mode={self.mode}"
        if self.mode != "adjoint":
            how += f", eps={self.eps:g}" + (" with Richardson extrapolation"
                                            if self.richardson else "")
        lines.append(f"{verdict}  ({how}; {self.criterion})")
        if self.mode != "adjoint":
            lines += self.tolerance_lines()
        return "\n".join(lines)

    def tolerance_lines(self) -> list[str]:
        """Each checked input's tolerances (and the precision they were derived for),
        inputs sharing the same ones on one line."""
        groups: dict[str, list[str]] = {}
        for r in self.inputs:
            if r.checked:
                key = f"atol={r.atol:.3g} rtol={r.rtol:.3g}" + (f" ({r.precision})"
                                                                if r.precision else "")
                groups.setdefault(key, []).append(r.name)
        if len(groups) == 1:
            (key, members), = groups.items()
            return [f"tolerances: {key}"
                    + ("" if len(members) == 1 else " for every input checked")]
        return ["tolerances:"] + [f"  {', '.join(m)}: {key}" for key, m in groups.items()]

    def note_lines(self) -> list[str]:
        """The notes of checked inputs (precision mixes, None gradients, kinks) and of the
        whole check, one per line."""
        lines: list[str] = []
        for r in self.inputs:
            if r.checked and r.note:
                lines.append(f"note: {r.name}: {r.note}")
            lines += [f"note: {kink}" for kink in r.kinks]
        return lines + [f"note: {note}" for note in self.notes]


def format_table(rows: Sequence[Sequence[object]]) -> list[str]:
    """Rows of strings as aligned lines, with a rule under the header."""
    widths = [max(len(str(row[k])) for row in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def format_breakdown(breakdown: Groups, max_labels: int = 12) -> list[str]:
    """One line per key: each label's worst err/tol (FAIL and a count when over)."""
    if not breakdown:
        return []
    lines = ["worst err/tol by group (> 1 fails):"]
    width = max(len(str(k)) for k in breakdown)
    for key, by_label in breakdown.items():
        items = list(by_label.items())
        shown = items
        if len(items) > max_labels:          # long time axes: the worst ones, in order
            keep = sorted(range(len(items)), key=lambda k: -items[k][1].worst_ratio)
            shown = [items[k] for k in sorted(keep[:max_labels])]
        cells = [_fmt_group(label, s) for label, s in shown]
        more = f"  (+{len(items) - len(shown)} more)" if len(shown) < len(items) else ""
        lines.append(f"  {str(key).ljust(width)}  " + "  ".join(cells) + more)
        worst = max((s for _, s in items), key=lambda s: s.worst_ratio)
        if worst.n_failed:
            lines[-1] += f"   worst at {worst.where}"
    return lines


def _fmt_group(label: object, s: GroupStats) -> str:
    if not s.n_checked:
        return f"{label}: -"
    text = f"{label}: {s.worst_ratio:.1e}"
    return text + (f" FAIL({s.n_failed})" if s.n_failed else "")


def _finite(value: Any) -> Any:
    """Replace inf/nan by strings so that the dict is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _fmt_index(index: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, index)) + "]"
