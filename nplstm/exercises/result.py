"""What grading found: a row per output, a report per function, a result per file, and how
it reads.

Plain data (numbers and sentences, never the expected arrays).  A ``GradeResult`` reads as
text (``str()``: what ``nplstm exercise check`` prints), as an HTML table (``_repr_html_``:
what Jupyter shows; every sentence escaped) and as JSON (``to_json()``: ``check --json``).
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["REFERENCE_TOLERANCE", "DIFFERENCES_TOLERANCE", "OutputRow", "FunctionReport",
           "format_text", "format_html", "by_sentence",
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
    # the capstone: {"baseline", "curve": [[step, train loss, eval loss]], "passed",
    # "sentence", "plan", "seconds"}
    training: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return (not self.problem and bool(self.reports) and all(r.passed for r in self.reports)
                and (self.training is None or bool(self.training["passed"])))

    def to_dict(self) -> dict[str, Any]:
        """The fields, as plain data (``from_dict`` reads it back)."""
        return asdict(self)

    def to_json(self) -> str:
        """The result for a course to collect: ``to_dict()`` with ``passed`` added at every
        level (the result, each function, each output) and the tolerances."""
        data = self.to_dict()
        data["passed"] = self.passed
        data["tolerances"] = {"reference": REFERENCE_TOLERANCE,
                              "differences": DIFFERENCES_TOLERANCE}
        for report, described in zip(self.reports, data["reports"]):
            described["passed"] = report.passed
            for row, row_data in zip(report.rows, described["rows"]):
                row_data["passed"] = row.passed
        return json.dumps(data, allow_nan=False, indent=1)

    def __str__(self) -> str:
        return format_text(self)

    def _repr_html_(self) -> str:
        return format_html(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GradeResult":
        reports = [FunctionReport(r["function"], [OutputRow(**row) for row in r["rows"]],
                                  r["problem"]) for r in data["reports"]]
        return cls(data["exercise"], data["path"], data["cases"], reports, data["problem"],
                   data.get("training"))


# --- how a result reads ---------------------------------------------------------------------

def _tolerances() -> str:
    return (f"an output passes when its relative error max|got − want| / max(|got|, |want|) "
            f"is < {REFERENCE_TOLERANCE:.0e} against nplstm's reference and < "
            f"{DIFFERENCES_TOLERANCE:.0e} against central differences of the forward")


def _header(result: GradeResult) -> str:
    return f"{result.exercise}: {result.path} ({result.cases} random cases, float64)"


def _cells(row: OutputRow) -> tuple[str, str, str, str]:
    return (row.name, f"{row.reference:.1e}",
            "-" if row.differences is None else f"{row.differences:.1e}",
            "pass" if row.passed else "FAIL")


def _verdict(result: GradeResult) -> str:
    if result.problem:
        return f"FAIL: {result.exercise}"
    wrong = [r.function for r in result.reports if not r.passed]
    if not wrong and result.training is not None and not result.training["passed"]:
        return "FAIL: the training did not reach the bigram baseline"
    return (f"FAIL: {', '.join(wrong)} not right yet" if wrong
            else f"PASS: {result.exercise} is right")


def by_sentence(report: FunctionReport) -> list[tuple[str, list[str]]]:
    """[(sentence, [outputs it is said of])] for the wrong outputs, in the table's order."""
    grouped: dict[str, list[str]] = {}
    for row in report.rows:
        if not row.passed and row.where:
            grouped.setdefault(row.where, []).append(row.name)
    return list(grouped.items())


def format_text(result: GradeResult) -> str:
    """The grade as text: a header, a table per function, a last line PASS or FAIL."""
    if result.problem:
        return f"{result.problem}\n{_verdict(result)}"
    lines = [_header(result), _tolerances(), ""]
    for report in result.reports:
        lines.append(report.function)
        if report.problem:
            lines += [f"  {report.problem}", ""]
            continue
        table = [("output", "reference", "differences", "result")]
        table += [_cells(row) for row in report.rows]
        widths = [max(len(r[k]) for r in table) for k in range(4)]
        lines += ["  " + "  ".join(f"{cell:<{w}}" for cell, w in zip(r, widths)).rstrip()
                  for r in table]
        lines += [f"  {', '.join(names)}: {where}" for where, names in by_sentence(report)]
        lines.append("")
    if result.training is not None:
        lines += _training_lines(result.training) + [""]
    lines.append(_verdict(result))
    return "\n".join(lines)


_CURVE_HEAD = ("step", "train loss", "eval loss")


def _training_head(training: dict[str, Any]) -> str:
    plan = training["plan"]
    return (f"training (H = {plan['hidden']}, batches of {plan['batch']} × {plan['seq_len']} "
            f"characters, SGD lr {plan['lr']:g} momentum {plan['momentum']:g}, global norm "
            f"clipped at {plan['max_norm']:g}; {training['seconds']:g} s): eval loss on "
            f"{plan['eval_chars']} characters, bigram baseline {training['baseline']:.3f} "
            f"on the same")


def _curve_rows(training: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(str(step), f"{train:.3f}", f"{evaluated:.3f}")
            for step, train, evaluated in training["curve"]]


def _training_lines(training: dict[str, Any]) -> list[str]:
    table = [_CURVE_HEAD] + _curve_rows(training)
    widths = [max(len(r[k]) for r in table) for k in range(3)]
    return ([_training_head(training)]
            + ["  " + "  ".join(f"{c:>{w}}" for c, w in zip(r, widths)) for r in table]
            + [f"  {training['sentence']}"])


_GREEN, _RED = "#1a7f37", "#cf222e"


def format_html(result: GradeResult) -> str:
    """The grade as HTML (Jupyter): the same content as ``format_text``, a table per
    function; every sentence and name escaped."""
    e = html.escape
    colour = _GREEN if result.passed else _RED
    verdict = f'<p><b style="color:{colour}">{e(_verdict(result))}</b></p>'
    if result.problem:
        return f'<div class="nplstm-grade"><p>{e(result.problem)}</p>{verdict}</div>'
    parts = [f'<div class="nplstm-grade"><p><b>{e(_header(result))}</b><br>'
             f'<small>{e(_tolerances())}</small></p>']
    for report in result.reports:
        parts.append(f"<p><code>{e(report.function)}</code></p>")
        if report.problem:
            parts.append(f'<p style="color:{_RED}">{e(report.problem)}</p>')
            continue
        head = "".join(f"<th>{e(h)}</th>" for h in ("output", "reference", "differences",
                                                     "result"))
        rows = []
        for row in report.rows:
            name, ref, diff, mark = (e(c) for c in _cells(row))
            style = f' style="color:{_GREEN if row.passed else _RED}"'
            rows.append(f"<tr><td><code>{name}</code></td><td>{ref}</td><td>{diff}</td>"
                        f"<td{style}><b>{mark}</b></td></tr>")
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
                     f"</tbody></table>")
        parts += [f"<p>{e(', '.join(names))}: {e(where)}</p>"
                  for where, names in by_sentence(report)]
    if result.training is not None:
        training = result.training
        head = "".join(f"<th>{e(h)}</th>" for h in _CURVE_HEAD)
        curve = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                        for row in _curve_rows(training))
        parts.append(f"<p>{e(_training_head(training))}</p><table><thead><tr>{head}</tr>"
                     f"</thead><tbody>{curve}</tbody></table><p>{e(training['sentence'])}</p>")
    parts.append(verdict + "</div>")
    return "".join(parts)
