"""Exercises that grade themselves: write the LSTM's pieces, and be told where they are wrong.

    start(name, directory)         DIRECTORY/NAME.py from the stub (never overwrites)
    grade(path, name, timeout=60)  a ``GradeResult``: a row per output (relative errors against
                                   the reference and central differences, where it is wrong)
    stub_source, solution_source   the exercise and solution files (package data)

Modules: ``catalog`` (the exercises and their files), ``harness`` (grading, with the learner's
file in a fresh process), ``graders`` (one per exercise: cases, answers, mistakes),
``mistakes`` (what named mistakes give, from the reference), ``compare`` (errors and
diagnoses), ``engine`` (the loop over cases), ``learner`` (loading and calling the learner's
file), ``child`` (the process that runs it), ``remote`` (the grader's handle on it),
``channel`` and ``values`` (the pickle-free wire between them), ``result`` (the plain data).
The printing is in ``nplstm.cli.exercise``.
"""

from .catalog import EXERCISES, Exercise, exercise, solution_source, start, stub_source
from .harness import DEFAULT_TIMEOUT, grade, grade_here
from .result import (DIFFERENCES_TOLERANCE, REFERENCE_TOLERANCE, FunctionReport, GradeResult,
                     OutputRow)

__all__ = ["EXERCISES", "Exercise", "exercise", "stub_source", "solution_source", "start",
           "grade", "grade_here", "DEFAULT_TIMEOUT", "GradeResult", "FunctionReport",
           "OutputRow", "REFERENCE_TOLERANCE", "DIFFERENCES_TOLERANCE"]
