"""Exercises that grade themselves: write the LSTM's pieces, and be told where they are wrong.
The guide, with every public name below at work: docs/exercises.md.

Modules: ``catalog`` (the exercises and their files), ``grading`` (grading a file or a
namespace, with the learner's code in a child process), ``learner`` (the learner's code
loaded and called, and both ends of the call), ``wire`` (the pickle-free messages between
them), ``graders``, ``sequence_graders`` and ``capstone`` (one per exercise: cases,
answers), ``mistakes`` (what named mistakes give), ``compare`` (errors, diagnoses and the
loop over cases), ``result`` (the plain data and how it reads), ``tutor`` (hints, the
notebook, progress).  The printing is in ``nplstm.cli.exercise``.
"""

from .catalog import EXERCISES, Exercise, exercise, solution_source, start, stub_source
from .grading import DEFAULT_TIMEOUT, check, grade, grade_here
from .result import (DIFFERENCES_TOLERANCE, REFERENCE_TOLERANCE, FunctionReport, GradeResult,
                     OutputRow, format_html, format_text)
from .tutor import LEVELS, Progress, hint, progress, start_notebook

__all__ = ["EXERCISES", "Exercise", "exercise", "stub_source", "solution_source", "start",
           "start_notebook", "grade", "grade_here", "check", "DEFAULT_TIMEOUT", "GradeResult",
           "FunctionReport", "OutputRow", "REFERENCE_TOLERANCE", "DIFFERENCES_TOLERANCE",
           "format_text", "format_html", "hint", "LEVELS", "progress", "Progress"]
