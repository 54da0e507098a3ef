"""Grading a learner's file: ``grade(path, name)``, in a fresh process with a time limit.

The learner's file is imported in a child process (``sys.executable``), so a crash, a
``sys.exit`` or an endless loop in it cannot take the caller down: the child writes the
result as JSON to a temporary file, and a child that runs past ``timeout`` seconds is killed.
``isolate=False`` grades in this process (no time limit; what the tests use for speed).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from typing import Any
from pathlib import Path

import numpy as np

from ..io import atomic_write_bytes
from .catalog import exercise
from .graders import CASE_SEED, GRADERS
from .learner import LearnerError, load_learner
from .result import GradeResult

__all__ = ["DEFAULT_TIMEOUT", "grade", "grade_here", "run_child"]

DEFAULT_TIMEOUT = 60.0


def _checked_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path to the exercise file, got "
                        f"{type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exercise file {path}: write it with "
                                f"`nplstm exercise start {path.stem} --dir {path.parent}`")
    return path


def grade(path: str | os.PathLike[str], name: str, *, timeout: float = DEFAULT_TIMEOUT,
          isolate: bool = True
          ) -> GradeResult:
    """Grade the learner's file ``path`` as exercise ``name``.

    path     the learner's file;  name  one of ``EXERCISES``
    timeout  seconds the child process may run (isolate=True);  isolate=False grades here
    TypeError / ValueError for a bad argument (an unknown name lists the names),
    FileNotFoundError when there is no file; everything wrong *in* the file is in the result.
    """
    exercise(name)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    path = _checked_path(path)
    if not isolate:
        return grade_here(path, name)
    return _grade_in_a_child(path, name, timeout)


def _grade_in_a_child(path: Path, name: str, timeout: float) -> GradeResult:
    with tempfile.TemporaryDirectory(prefix="nplstm-exercise-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-c", "from nplstm.exercises.harness import run_child; "
                   "run_child()", name, str(path.resolve()), str(out)]
        # the child imports this very nplstm (the folder that holds it first on its path) and
        # runs in the empty temporary folder, so no nplstm/ in the caller's folder shadows it
        package_root = str(Path(__file__).resolve().parents[2])
        paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                  if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
        # what the learner's file prints is dropped, and its stderr goes to a file of which
        # only the end is read: a print in a loop must not fill memory
        with open(Path(tmp) / "stderr.txt", "w+b") as stderr:
            try:
                finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=stderr,
                                          stdin=subprocess.DEVNULL, timeout=timeout, env=env,
                                          cwd=tmp, check=False, start_new_session=True)
            except subprocess.TimeoutExpired:
                if out.exists():                 # finished; a process it started lingers
                    return GradeResult.from_dict(json.loads(out.read_text(encoding="utf-8")))
                return GradeResult(name, str(path), 0, problem=(
                    f"stopped after {timeout:g} s: does {path.name} loop forever? (raise the "
                    f"limit with --timeout)"))
            if not out.exists():
                return GradeResult(name, str(path), 0,
                                   problem=_died(path, finished.returncode, _tail(stderr)))
        return GradeResult.from_dict(json.loads(out.read_text(encoding="utf-8")))


_TAIL_BYTES = 4096          # of the child's stderr, for the one sentence of a crash


def _tail(stream: Any) -> str:
    """The end of a file written by the child: at most ``_TAIL_BYTES``."""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - _TAIL_BYTES))
    return stream.read().decode("utf-8", "replace")


def _died(path: Path, returncode: int, stderr_tail: str) -> str:
    """One sentence for a child that ended without a result (os._exit, a signal)."""
    lines = stderr_tail.strip().splitlines()
    last = lines[-1].strip() if lines else ""
    last = f": {last[:300]}{'…' if len(last) > 300 else ''}" if last else ""
    return (f"grading {path.name} ended without a result (exit status {returncode}){last}")


def grade_here(path: str | os.PathLike[str], name: str) -> GradeResult:
    """Grade in this process: load the file, run the exercise's grader on seeded cases."""
    path = Path(path)
    try:
        module = load_learner(path)
    except LearnerError as err:
        return GradeResult(name, str(path), 0, problem=str(err))
    reports, cases = GRADERS[name](module, np.random.default_rng(CASE_SEED))
    return GradeResult(name, str(path), cases, reports)


def run_child() -> None:
    """The child's entry point: argv is NAME PATH OUT; writes the result's JSON to OUT."""
    name, path, out = sys.argv[1:4]
    result = grade_here(Path(path), name)
    atomic_write_bytes(out, json.dumps(result.to_dict()).encode("utf-8"))
