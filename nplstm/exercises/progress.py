"""Where a learner stands: which exercises in their folder pass.

    progress(directory, timeout=60) -> [Progress]   one per exercise, in teaching order:
                                                    "pass", "fail" (and why, in a few
                                                    words) or "not started"

Each file is graded as ``check`` grades it (in a child process).  A notebook
(``NAME.ipynb``) is not graded here: its functions live in the notebook's kernel, and its
check cell grades them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from .catalog import EXERCISES
from .harness import DEFAULT_TIMEOUT, checked_timeout, grade
from .result import GradeResult

__all__ = ["Progress", "progress"]


@dataclass(frozen=True)
class Progress:
    exercise: str
    state: str            # "pass", "fail", "not started", "notebook", "not graded here"
    detail: str = ""


def progress(directory: str | os.PathLike[str], timeout: float = DEFAULT_TIMEOUT) -> list[Any]:
    """The state of every exercise in ``directory`` (``start``'s folder).

    TypeError / ValueError / FileNotFoundError / NotADirectoryError for a bad directory."""
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory must be a str or a path, got {type(directory).__name__}")
    timeout = checked_timeout(timeout)
    folder = Path(directory)
    if not folder.exists():
        raise FileNotFoundError(f"no folder {folder}: start an exercise with `nplstm exercise "
                                f"start NAME --dir {folder}`")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder: give the folder of your "
                                 f"exercise files")
    found = []
    for name, task in EXERCISES.items():
        path, notebook = folder / f"{name}.py", folder / f"{name}.ipynb"
        if not path.is_file():
            found.append(Progress(name, "notebook", "check it in its notebook")
                         if notebook.is_file() else Progress(name, "not started"))
        elif not task.quick:
            found.append(Progress(name, "not graded here", f"it trains for a while: "
                                  f"`nplstm exercise check {name}`"))
        else:
            found.append(_graded(name, grade(path, name, timeout=timeout)))
    return found


def _graded(name: str, result: GradeResult) -> Progress:
    if result.passed:
        return Progress(name, "pass")
    if result.problem:
        return Progress(name, "fail", _short(result.problem))
    wrong = [r for r in result.reports if not r.passed]
    written = [r.function for r in wrong if not r.problem.startswith("not written yet")]
    if not written:
        return Progress(name, "fail", "not written yet")
    return Progress(name, "fail", f"not right yet: {', '.join(written)}")


def _short(sentence: str, length: int = 100) -> str:
    return sentence if len(sentence) <= length else sentence[:length - 1] + "…"
