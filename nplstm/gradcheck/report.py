"""What a check found: a row per input, and a breakdown by groups of the inputs' elements.

The checker knows nothing about LSTMs: a ``Layout`` (``library_pairs`` has the library's)
labels an input's axes, Layout(axes={0: {"gate": blocks("ifgo", 4 * H)}}, tags={"layer": 1}),
a label per index along an axis (the gate of each row of a (4H, I) weight) or for the whole
input; ``report.breakdown()`` gives each label's worst error (docs/gradcheck.md §6).

    report.passed, report["weight_hh"] (an InputReport), report.breakdown(),
    str(report) (a table, then the breakdown), report.to_dict(), report.to_json()
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import numpy as np

from ..checks import format_table, shape_str

__all__ = ["Layout", "GroupStats", "blocks", "InputReport", "GradcheckReport",
           "GradcheckError"]

ABSENT = "absent (None)"             # the note of an input given as None (a bias=False bias)
ELEMENT_CRITERION = ("an element passes when |analytic - numeric| <= atol + rtol*|numeric| "
                     "(tolerances per input below)")


def index_str(index: Any) -> str:
    """An element's index as a report writes it: "[1, 0]" (NumPy integers too)."""
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def blocks(names: Any, size: int) -> list[Any]:
    """Labels of an axis of ``size`` split into len(names) equal consecutive blocks:
    blocks(("i", "f", "g", "o"), 8) == ["i", "i", "f", "f", "g", "g", "o", "o"]."""
    if size % len(names):
        raise ValueError(f"an axis of size {size} does not split into {len(names)} equal "
                         f"blocks {tuple(names)}")
    return [name for name in names for _ in range(size // len(names))]


@dataclass(frozen=True)
class Layout:
    """Labels for one input: ``axes`` {axis: {key: labels along it}}, ``tags`` {key: label}."""

    axes: dict[Any, Any] = field(default_factory=dict)
    tags: dict[Any, Any] = field(default_factory=dict)

    def check(self, name: str, shape: tuple[int, ...]) -> None:
        """ValueError unless every axis exists and every label list fits its axis
        (TypeError for an axis that is not an int, keys not in a dict, labels not a list)."""
        if not isinstance(self.axes, dict) or not isinstance(self.tags, dict):
            raise TypeError(f"layouts[{name!r}]: axes and tags must be dicts, got "
                            f"{type(self.axes).__name__} and {type(self.tags).__name__}")
        for axis, keyed in self.axes.items():
            if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
                raise TypeError(f"layouts[{name!r}] labels axis {axis!r}: an axis must be "
                                "an int")
            if not isinstance(keyed, dict) or not all(
                    isinstance(labels, (list, tuple, np.ndarray)) for labels in keyed.values()):
                raise TypeError(f"layouts[{name!r}]: axis {axis} must map to "
                                f"{{key: list of labels}}, got {keyed!r}")
            if not -len(shape) <= axis < len(shape):
                raise ValueError(f"layouts[{name!r}] labels axis {axis}, but {name} has shape "
                                 f"{tuple(shape)}")
            for key, labels in keyed.items():
                if len(labels) != shape[axis]:
                    raise ValueError(f"layouts[{name!r}]: {len(labels)} {key!r} labels for "
                                     f"axis {axis} of size {shape[axis]}")

    def partitions(self, shape: tuple[int, ...]) -> Iterator[tuple[Any, list[Any]]]:
        """For each axis key: (key, [(label, index tuple selecting that group)])."""
        for axis, keyed in self.axes.items():
            for key, labels in keyed.items():
                groups = []
                for label in dict.fromkeys(labels):          # distinct, in order
                    index: list[Any] = [slice(None)] * len(shape)
                    index[axis] = np.flatnonzero(np.asarray(labels, dtype=object) == label)
                    groups.append((label, tuple(index)))
                yield key, groups


@dataclass
class GroupStats:
    """The worst error among the elements (or directions) of one group."""

    worst_ratio: float = 0.0     # max |analytic − numeric| / tolerance; > 1 fails
    max_abs_error: float = 0.0
    n_checked: int = 0
    n_failed: int = 0
    where: str = ""              # the input (and element) holding the worst ratio

    def add(self, other: GroupStats) -> None:
        """Fold another group's statistics into this one."""
        if other.worst_ratio >= self.worst_ratio and other.n_checked:
            self.worst_ratio, self.where = other.worst_ratio, other.where
        self.max_abs_error = max(self.max_abs_error, other.max_abs_error)
        self.n_checked += other.n_checked
        self.n_failed += other.n_failed


# {key: {label: GroupStats}}: key a kind of group ("gate", "layer", "time"), label one group
Groups = dict[Any, dict[Any, GroupStats]]


def _stats(name: str, ratio: Any, abs_err: Any) -> GroupStats:
    """The worst of ``ratio`` (NaN where not checked), named by its index: ``name[i, j]``."""
    checked = ~np.isnan(ratio)
    if not checked.any():
        return GroupStats()
    r = np.where(checked, ratio, -np.inf)
    k = np.unravel_index(int(np.argmax(r)), r.shape)
    return GroupStats(float(r[k]), float(np.nanmax(abs_err)), int(checked.sum()),
                      int((r > 1).sum()), name + index_str(k))


def group_stats(name: str, layout: Layout, ratio: Any, abs_err: Any) -> Groups:
    """{key: {label: GroupStats}} of one input from its elements' ``ratio`` and ``abs_err``
    (the input's shape, NaN where not checked)."""
    out: Groups = {}
    for key, groups in layout.partitions(ratio.shape):
        for label, index in groups:
            outside = np.ones(ratio.shape, dtype=bool)
            outside[index] = False
            out.setdefault(key, {})[label] = _stats(name, np.where(outside, np.nan, ratio),
                                                    np.where(outside, np.nan, abs_err))
    whole = _stats(name, ratio, abs_err)
    for key, label in layout.tags.items():
        out.setdefault(key, {})[label] = whole
    return out


class GradcheckError(AssertionError):
    """Raised by the checkers on failure; ``.report`` holds the details."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(f"{report.title} failed\n{report}")
        self.report = report


@dataclass
class InputReport:
    """How one input's analytic gradient compares with the numeric one.  In directional
    mode the "elements" are random directions: ``worst_index`` is () and ``where`` names
    the direction."""

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
    groups: Groups = field(default_factory=dict)
    note: str = ""
    precision: str = ""               # the dtype whose round-off set the default tolerances
    kinks: list[str] = field(default_factory=list)    # failing elements found not differentiable

    def row(self) -> list[str]:
        if not self.checked:                 # an absent input (None) has no shape
            shape = "-" if self.note == ABSENT else shape_str(self.shape)
            return [self.name, shape] + ["-"] * 7 + [self.note or "not checked"]
        where = index_str(self.worst_index) if self.worst_index else self.where
        return [self.name, shape_str(self.shape), f"{self.max_abs_error:.2e}",
                f"{self.max_rel_error:.2e}", f"{self.worst_ratio:.2e}", where,
                f"{self.worst_analytic:.6e}", f"{self.worst_numeric:.6e}",
                f"{self.n_failed}/{self.n_checked}", "ok" if self.passed else "FAIL"]

    def compare(self, analytic: Any, numeric: Any, ratio: Any, abs_err: Any, rel_err: Any,
                index: Any = None) -> None:
        """Fill the counts and worst cases from flat arrays over the compared elements (or
        directions); ``index(k)`` the k-th one's index in the input, if they are elements."""
        self.n_checked, self.n_failed = int(ratio.size), int((ratio > 1).sum())
        self.passed = self.n_failed == 0
        if not ratio.size:
            return
        a, r, w = int(np.argmax(abs_err)), int(np.argmax(rel_err)), int(np.argmax(ratio))
        self.max_abs_error, self.max_rel_error = float(abs_err[a]), float(rel_err[r])
        self.worst_ratio = float(ratio[w])
        self.worst_analytic, self.worst_numeric = float(analytic[w]), float(numeric[w])
        if index is not None:
            self.max_abs_index, self.max_rel_index, self.worst_index = index(a), index(r), \
                index(w)


@dataclass
class GradcheckReport:
    """The outcome of a check: ``.passed``, one ``InputReport`` per input."""

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
        merged: Groups = {}
        for r in self.inputs:
            for key, by_label in (r.groups if r.checked else {}).items():
                for label, stats in by_label.items():
                    merged.setdefault(key, {}).setdefault(label, GroupStats()).add(stats)
        return merged

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
        header = ["input", "shape", "max abs err", "max rel err", "err/tol", "worst at",
                  "analytic", "numeric", "failed", "result"]
        header[6:8] = {"adjoint": ["<v, J^T u>", "<J v, u>"],
                       "jvp": ["jvp", "difference"]}.get(self.mode, header[6:8])
        lines = format_table([header] + [r.row() for r in self.inputs])
        lines += _breakdown_lines(self.breakdown())
        for r in self.inputs:
            lines += [f"note: {r.name}: {r.note}"] if r.checked and r.note else []
            lines += [f"note: {kink}" for kink in r.kinks]
        lines += [f"note: {note}" for note in self.notes]
        verdict = "PASSED" if self.passed else "FAILED: " + ", ".join(self.failed)
        how = f"mode={self.mode}"
        if self.mode != "adjoint":
            how += f", eps={self.eps:g}" + (" with Richardson extrapolation"
                                            if self.richardson else "")
        lines.append(f"{verdict}  ({how}; {self.criterion})")
        return "\n".join(lines + (self._tolerance_lines() if self.mode != "adjoint" else []))

    def _tolerance_lines(self) -> list[str]:
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
            return [f"tolerances: {key}" + ("" if len(members) == 1
                                            else " for every input checked")]
        return ["tolerances:"] + [f"  {', '.join(m)}: {key}" for key, m in groups.items()]


def conclude(rows: list[InputReport], raise_exception: bool, notes: list[str] | None = None,
             **fields: Any) -> GradcheckReport:
    """The report of ``rows`` (its atol, rtol: the first checked row's); ``GradcheckError``
    when it failed and ``raise_exception``."""
    first = next(r for r in rows if r.checked)
    report = GradcheckReport(all(r.passed for r in rows if r.checked), rows, atol=first.atol,
                             rtol=first.rtol, notes=notes or [], **fields)
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


def _breakdown_lines(breakdown: Groups, max_labels: int = 12) -> list[str]:
    """One line per key: each label's worst err/tol (FAIL and a count when over); of a long
    axis (time), the ``max_labels`` worst, in order."""
    if not breakdown:
        return []
    lines = ["worst err/tol by group (> 1 fails):"]
    width = max(len(str(k)) for k in breakdown)
    for key, by_label in breakdown.items():
        items = list(by_label.items())
        keep = sorted(range(len(items)), key=lambda k: -items[k][1].worst_ratio)[:max_labels]
        shown = [items[k] for k in sorted(keep)]
        cells = [f"{label}: -" if not s.n_checked else f"{label}: {s.worst_ratio:.1e}"
                 + (f" FAIL({s.n_failed})" if s.n_failed else "") for label, s in shown]
        more = f"  (+{len(items) - len(shown)} more)" if len(shown) < len(items) else ""
        lines.append(f"  {str(key).ljust(width)}  " + "  ".join(cells) + more)
        worst = max((s for _, s in items), key=lambda s: s.worst_ratio)
        if worst.n_failed:
            lines[-1] += f"   worst at {worst.where}"
    return lines


def _finite(value: Any) -> Any:
    """inf and NaN as strings, so that the dict is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
