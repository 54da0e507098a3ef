"""``nplstm exercise list | start | check | solution``: exercises that grade themselves.

    nplstm exercise list                          the exercises, one line each
    nplstm exercise start NAME [--dir DIR]        writes DIR/NAME.py (DIR: ./exercises); never
                                                  overwrites
    nplstm exercise check NAME [--dir DIR] [--timeout S]
                                                  grades DIR/NAME.py in a fresh process: a table
                                                  per function; exit 0 pass, 1 wrong, 2 usage
    nplstm exercise solution NAME                 prints the solution (for teachers)
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .. import exercises
from ..exercises import DEFAULT_TIMEOUT, DIFFERENCES_TOLERANCE, EXERCISES, REFERENCE_TOLERANCE

__all__ = ["add_parser", "run", "format_result"]

DEFAULT_DIR = "exercises"


def add_parser(sub) -> None:
    names = ", ".join(EXERCISES)
    parser = sub.add_parser(
        "exercise", help="exercises that grade themselves: write the LSTM's backward passes "
        "and be told where they are wrong",
        description=f"Learn the LSTM by writing it: start an exercise, fill in its functions, "
        f"check them. Exercises, in teaching order: {names}.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION",
                                    help="list, start, check or solution")
    actions.add_parser("list", help="the exercises and what each teaches")
    start = actions.add_parser("start", help="write DIR/NAME.py to fill in (never overwrites)")
    check = actions.add_parser("check", help="grade DIR/NAME.py: exit 0 pass, 1 wrong, "
                               "2 usage error")
    solution = actions.add_parser("solution", help="print the solution of NAME (for teachers)")
    for action in actions.choices.values():   # a usage error: one line naming the action
        action.set_defaults(usage_error=action.error)
    for action in (start, check, solution):
        action.add_argument("name", metavar="NAME", help=f"one of: {names}")
    for action in (start, check):
        action.add_argument("--dir", default=DEFAULT_DIR,
                            help=f"the folder of the exercise files (default: {DEFAULT_DIR})")
    check.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT,
                       help=f"stop grading after this many seconds (default: "
                       f"{DEFAULT_TIMEOUT})")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def run(args) -> int:
    """Run one action; a usage error prints one line and exits with status 2."""
    if args.action == "list":
        width = max(len(name) for name in exercises.EXERCISES)
        for e in exercises.EXERCISES.values():
            print(f"{e.name:<{width}}  {e.teaches}")
        return 0
    try:
        exercises.exercise(args.name)
        if args.action == "solution":
            print(exercises.solution_source(args.name), end="")
            return 0
        if args.action == "start":
            path = exercises.start(args.name, args.dir)
            functions = ", ".join(exercises.exercise(args.name).functions)
            print(f"wrote {path}: write {functions} in it, then run "
                  f"`nplstm exercise check {args.name} --dir {args.dir}`")
            return 0
        result = exercises.grade(Path(args.dir) / f"{args.name}.py", args.name,
                                 timeout=args.timeout)
    except (ValueError, OSError) as err:
        args.usage_error(" ".join(str(err).split()))
    print(format_result(result))
    return 0 if result.passed else 1


def format_result(result) -> str:
    """The grade as text: a header, a table per function, a last line PASS or FAIL."""
    if result.problem:
        return f"{result.problem}\nFAIL: {result.exercise}"
    lines = [f"{result.exercise}: {result.path} ({result.cases} random cases, float64)",
             f"an output passes when its relative error max|got − want| / max(|got|, |want|) "
             f"is < {REFERENCE_TOLERANCE:.0e} against nplstm's reference and < "
             f"{DIFFERENCES_TOLERANCE:.0e} against central differences of the forward", ""]
    for report in result.reports:
        lines.append(report.function)
        if report.problem:
            lines += [f"  {report.problem}", ""]
            continue
        table = [("output", "reference", "differences", "result")]
        table += [(row.name, f"{row.reference:.1e}",
                   "-" if row.differences is None else f"{row.differences:.1e}",
                   "pass" if row.passed else "FAIL") for row in report.rows]
        widths = [max(len(r[k]) for r in table) for k in range(4)]
        lines += ["  " + "  ".join(f"{cell:<{w}}" for cell, w in zip(r, widths)).rstrip()
                  for r in table]
        lines += [f"  {', '.join(names)}: {where}" for where, names in _by_sentence(report)]
        lines.append("")
    wrong = [r.function for r in result.reports if not r.passed]
    lines.append(f"FAIL: {', '.join(wrong)} not right yet" if wrong
                 else f"PASS: {result.exercise} is right")
    return "\n".join(lines)


def _by_sentence(report) -> list:
    """[(sentence, [outputs it is said of])] for the wrong outputs, in the table's order."""
    grouped: dict = {}
    for row in report.rows:
        if not row.passed and row.where:
            grouped.setdefault(row.where, []).append(row.name)
    return list(grouped.items())
