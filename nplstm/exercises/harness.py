"""Grading a learner's file: ``grade(path, name)``, with the learner's code in a fresh process.

The learner's file is imported in a child process (``sys.executable``, its own session), so a
crash, a ``sys.exit``, an ``os._exit`` or an endless loop in it cannot take the caller down.
The child only runs the learner's functions: the grader, here, sends it each case's inputs and
receives the returned arrays as plain copies over a pickle-free wire (``channel``,
``values``), then compares them with its own reference and decides.  Nothing the child writes
can be a verdict: a child that ends or stops answering fails.  At the end, or past ``timeout``
seconds, the child's whole process group is killed, so processes the learner's file started
go with it.  ``isolate=False`` runs the learner's file in this process (no time limit; what
the tests use for speed) through the same wire format.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable
from pathlib import Path

import numpy as np

from .catalog import exercise
from .channel import ChannelError, ChildGone, FrameReader, GradingTimeout
from .child import Server
from .graders import CASE_SEED, GRADERS
from .learner import LearnerError
from .remote import Learner, opened
from .result import GradeResult

__all__ = ["DEFAULT_TIMEOUT", "grade", "grade_here"]

DEFAULT_TIMEOUT = 60.0
_EXIT_WAIT = 1.0            # seconds a child that closed the wire gets to finish exiting


def _checked_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path to the exercise file, got "
                        f"{type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no exercise file {path}: write it with "
                                f"`nplstm exercise start {path.stem} --dir {path.parent}`")
    return path


def grade(path: str | os.PathLike[str], name: str, *, timeout: float | None = None,
          isolate: bool = True
          ) -> GradeResult:
    """Grade the learner's file ``path`` as exercise ``name``.

    path     the learner's file;  name  one of ``EXERCISES``
    timeout  seconds the grading may take (isolate=True); None: the exercise's own
             (``DEFAULT_TIMEOUT``, 900 for the capstone, which trains);  isolate=False runs
             the file here
    TypeError / ValueError for a bad argument (an unknown name lists the names),
    FileNotFoundError when there is no file; everything wrong *in* the file is in the result.
    """
    timeout = checked_timeout(exercise(name).timeout if timeout is None else timeout)
    path = _checked_path(path)
    if not isolate:
        return grade_here(path, name)
    return _grade_in_a_child(path, name, timeout)


# the longest grading allowed: a year; beyond it the deadline overflows select's time_t
MAX_TIMEOUT = 365 * 24 * 3600.0


def checked_timeout(timeout: object) -> float:
    """``timeout``, a number of seconds in (0, MAX_TIMEOUT]; TypeError / ValueError otherwise."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, got {type(timeout).__name__}")
    if not (0 < timeout <= MAX_TIMEOUT):        # NaN too; a huge int compares exactly
        raise ValueError(f"timeout must be a positive, finite number of seconds (at most "
                         f"{MAX_TIMEOUT:.0f}, a year), got {timeout!r}")
    return float(timeout)


def grade_here(path: str | os.PathLike[str], name: str) -> GradeResult:
    """Grade with the learner's file loaded in this process (no isolation, no time limit),
    its values crossing the same wire format as from a child."""
    path = Path(path)
    try:
        server = Server(path)
    except LearnerError as err:
        return GradeResult(name, str(path), 0, problem=str(err))
    return _run_grader(Learner(server.reply), str(path), name)


def _run_grader(learner: Learner, where: str, name: str) -> GradeResult:
    reports, cases, *training = GRADERS[name](learner, np.random.default_rng(CASE_SEED))
    return GradeResult(name, where, cases, reports, training=training[0] if training else None)


def _grade_in_a_child(path: Path, name: str, timeout: float) -> GradeResult:
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="nplstm-exercise-") as tmp:
        command = [sys.executable, "-c", "from nplstm.exercises.child import serve; serve()",
                   str(path.resolve())]
        # the child imports this very nplstm (the folder that holds it first on its path) and
        # runs in the empty temporary folder, so no nplstm/ in the caller's folder shadows it
        package_root = str(Path(__file__).resolve().parents[2])
        paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                  if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
        # the child's stderr goes to a file of which only the end is read: a print in a loop
        # must not fill memory
        with open(Path(tmp) / "stderr.txt", "w+b") as stderr:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=stderr, env=env, cwd=tmp,
                                       start_new_session=True)

            def died() -> str:
                wait_for_exit(process.pid, _EXIT_WAIT)
                _stop(process)
                return _died(path.name, process.returncode, _tail(stderr))

            # both are pipes (stdin=PIPE, stdout=PIPE above), which Popen's type leaves optional
            assert process.stdin is not None and process.stdout is not None
            try:
                wire = FrameReader(process.stdin.fileno(), process.stdout.fileno(), deadline)
                return exchange(wire, name, str(path), path.name, timeout, died)
            finally:
                _stop(process)


def exchange(wire: FrameReader, name: str, where: str, subject: str, timeout: float,
             died: Callable[[], str], raise_limit: str = "--timeout") -> GradeResult:
    """Grade over ``wire`` to a child that runs the learner's code: wait for it to load, then
    run the grader.  ``where`` goes into the result (the file, or what the namespace is),
    ``subject`` into a sentence ("does SUBJECT loop forever?"); ``died()`` is the sentence
    for a child that ended without answering; ``raise_limit`` says how to give more time."""
    try:
        try:
            opened(wire.receive())
        except LearnerError as err:
            return GradeResult(name, where, 0, problem=str(err))
        return _run_grader(Learner(wire.request), where, name)
    except GradingTimeout:
        return GradeResult(name, where, 0, problem=(
            f"stopped after {timeout:g} s: does {subject} loop forever? (raise the "
            f"limit with {raise_limit})"))
    except ChildGone:
        return GradeResult(name, where, 0, problem=died())
    except ChannelError as err:
        return GradeResult(name, where, 0, problem=(
            f"grading {subject} stopped: what its process sent back is not "
            f"arrays from your functions ({err}); does your code write to the "
            f"grader's pipe?"))


def wait_for_exit(pid: int, seconds: float) -> None:
    """Wait until the child ``pid`` has exited, without reaping it (its process group id
    stays reserved until the group is killed: ``_stop`` here, ``inline._stop`` for a fork)."""
    if not hasattr(os, "waitid"):                # macOS: the group is killed straight away
        return
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            found = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if found is not None:
            return
        time.sleep(0.01)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the child's process group (the child and whatever it started), then reap the
    child.  The group is killed before the child is reaped, so its id cannot be reused."""
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None and not pipe.closed:
            try:
                pipe.close()
            except OSError:
                pass


_TAIL_BYTES = 4096          # of the child's stderr, for the one sentence of a crash


def _tail(stream: Any) -> str:
    """The end of a file written by the child: at most ``_TAIL_BYTES``."""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - _TAIL_BYTES))
    return stream.read().decode("utf-8", "replace")


def _died(subject: str, returncode: int, stderr_tail: str) -> str:
    """One sentence for a child that ended without sending its functions' values (os._exit,
    a signal)."""
    lines = stderr_tail.strip().splitlines()
    last = lines[-1].strip() if lines else ""
    last = f": {last[:300]}{'…' if len(last) > 300 else ''}" if last else ""
    return (f"grading {subject} ended without a result (exit status {returncode}){last}")
