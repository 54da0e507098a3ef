"""Exercises that grade themselves: write the LSTM's pieces, and be told where they are wrong.

    start(name, directory)         DIRECTORY/NAME.py from the stub (never overwrites)
    start_notebook(name, directory)  DIRECTORY/NAME.ipynb: the stub and a check cell
    grade(path, name, timeout=60)  a ``GradeResult``: a row per output (relative errors against
                                   the reference and central differences, where it is wrong)
    check(name, namespace)         the same for functions held in a dict (a notebook's
                                   ``globals()``) or a module, in a forked child
                                   (``isolate=False``: in this process)
    hint(name, level)              hints 1, 2, 3: each closer, none the solution
    progress(directory)            which exercises in a learner's folder pass
    GradeResult                    ``.passed``; ``str()`` the text the CLI prints,
                                   ``_repr_html_()`` a table in Jupyter, ``to_json()``
    stub_source, solution_source   the exercise and solution files (package data)

Modules: ``catalog`` (the exercises and their files), ``grading`` (grading a file or a
namespace, with the learner's code in a child process), ``learner`` (the learner's code
loaded and called, and both ends of the call), ``wire`` (the pickle-free messages between
them), ``graders``, ``gru_grader``, ``sequence_graders`` and ``capstone`` (one per
exercise: cases, answers), ``mistakes`` (what named mistakes give, from the reference),
``compare`` (errors, diagnoses and the loop over cases), ``result`` (the plain data and
how it reads), ``tutor`` (hints, the notebook, progress).  The printing is in
``nplstm.cli.exercise``.
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
