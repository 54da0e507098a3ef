"""``nplstm exercise list | start | check | solution``: exercises that grade themselves.

    nplstm exercise list                          the exercises, one line each
    nplstm exercise start NAME [--dir DIR] [--notebook]
                                                  writes DIR/NAME.py (DIR: ./exercises), or
                                                  DIR/NAME.ipynb with a check cell; never
                                                  overwrites
    nplstm exercise check NAME [--dir DIR] [--timeout S] [--json]
                                                  grades DIR/NAME.py in a fresh process: a table
                                                  per function; exit 0 pass, 1 wrong, 2 usage
    nplstm exercise hint NAME [--level 1|2|3]     a hint: 1 where to look, 2 what to compute,
                                                  3 how (never the code)
    nplstm exercise status [--dir DIR]            which exercises in DIR pass
    nplstm exercise solution NAME                 prints the solution (for teachers)
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from .. import exercises
from ..checks import one_line
from ..exercises import DEFAULT_TIMEOUT, EXERCISES

__all__ = ["add_parser", "run"]

DEFAULT_DIR = "exercises"


def add_parser(sub) -> None:
    names = ", ".join(EXERCISES)
    parser = sub.add_parser(
        "exercise", help="exercises that grade themselves: write the LSTM's backward passes "
        "and be told where they are wrong",
        description=f"Learn the LSTM by writing it: start an exercise, fill in its functions, "
        f"check them. Exercises, in teaching order: {names}.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION",
                                    help="list, start, check, hint, status or solution")
    actions.add_parser("list", help="the exercises and what each teaches")
    start = actions.add_parser("start", help="write DIR/NAME.py to fill in (never overwrites)")
    check = actions.add_parser("check", help="grade DIR/NAME.py: exit 0 pass, 1 wrong, "
                               "2 usage error")
    hint = actions.add_parser("hint", help="a hint for NAME: --level 1 where to look, 2 what "
                              "to compute, 3 how (never the code)")
    status = actions.add_parser("status", help="which exercises in DIR pass (grades each "
                                "file there)")
    solution = actions.add_parser("solution", help="print the solution of NAME (for teachers)")
    for action in actions.choices.values():   # a usage error: one line naming the action
        action.set_defaults(usage_error=action.error)
    for action in (start, check, hint, solution):
        action.add_argument("name", metavar="NAME", help=f"one of: {names}")
    hint.add_argument("--level", type=int, choices=exercises.LEVELS, default=1,
                      help="1 where to look (default), 2 what to compute, 3 how")
    for action in (start, check, status):
        action.add_argument("--dir", default=DEFAULT_DIR,
                            help=f"the folder of the exercise files (default: {DEFAULT_DIR})")
    start.add_argument("--notebook", action="store_true",
                       help="write DIR/NAME.ipynb: the stub in a cell and a cell that checks it")
    check.add_argument("--json", action="store_true",
                       help="print the result as JSON (for a course to collect)")
    for action in (check, status):
        action.add_argument("--timeout", type=_seconds,
                            default=None if action is check else DEFAULT_TIMEOUT,
                            help=f"stop grading {'each file ' if action is status else ''}"
                            f"after this many seconds (default: {DEFAULT_TIMEOUT:g}"
                            f"{', 900 for the capstone' if action is check else ''})")


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
    if args.action == "status":
        return _status(args)
    try:
        exercises.exercise(args.name)
        if args.action == "hint":
            level = args.level
            more = (f"a closer hint: --level {level + 1}" if level < len(exercises.LEVELS)
                    else "still stuck? read nplstm/functional/reference.py, then try again")
            print(f"{args.name}, hint {level} of {len(exercises.LEVELS)}: "
                  f"{exercises.hint(args.name, level)}\n({more})")
            return 0
        if args.action == "solution":
            print(exercises.solution_source(args.name), end="")
            return 0
        if args.action == "start":
            functions = ", ".join(exercises.exercise(args.name).functions)
            if args.notebook:
                path = exercises.start_notebook(args.name, args.dir)
                print(f"wrote {path}: open it in Jupyter, write {functions} in its cell, "
                      f"then run the check cell")
                return 0
            path = exercises.start(args.name, args.dir)
            print(f"wrote {path}: write {functions} in it, then run "
                  f"`nplstm exercise check {args.name} --dir {args.dir}`")
            return 0
        result = exercises.grade(Path(args.dir) / f"{args.name}.py", args.name,
                                 timeout=args.timeout)
    except (ValueError, OSError) as err:
        args.usage_error(one_line(err, 1000))
    print(result.to_json() if args.json else result)
    return 0 if result.passed else 1


def _status(args) -> int:
    """A line per exercise: pass, FAIL (why), not started; the count passed last."""
    try:
        found = exercises.progress(args.dir, timeout=args.timeout)
    except (ValueError, OSError) as err:
        args.usage_error(one_line(err, 1000))
    width = max(len(p.exercise) for p in found)
    for p in found:
        state = "FAIL" if p.state == "fail" else p.state
        print(f"{p.exercise:<{width}}  {state}{f': {p.detail}' if p.detail else ''}")
    passed = sum(p.state == "pass" for p in found)
    print(f"{passed} of {len(found)} exercises pass ({args.dir})")
    return 0
