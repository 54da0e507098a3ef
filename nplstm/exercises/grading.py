"""Grading: ``grade(path, name)`` for a learner's file, ``check(name, namespace)`` for
functions held in a namespace (a notebook cell's ``globals()``, a REPL, a module).

The learner's code runs in a child process of its own session (docs/exercises.md, "How
grading works"): for a file, a fresh interpreter imports it; for a namespace, this process
forks (``os.fork``), since a function defined in a notebook cell belongs to ``__main__`` and
only a fork holds it, with the globals it sees.  The child's standard streams point away from
the caller's, and it only runs the learner's functions: the grader, here, sends it each
case's inputs, receives plain copies over the pickle-free ``wire`` and decides, so nothing
the child writes can be a verdict, and a child that ends or stops answering fails.  At the
end, or past ``timeout`` seconds, the child's whole process group is killed.
``isolate=False`` runs the learner's code in this process, through the same wire format.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import types
import warnings
from contextlib import suppress
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checks import check_bool, check_real
from .catalog import exercise
from .graders import CASE_SEED, GRADERS
from .learner import Learner, LearnerError, Server, answer, namespace_module, opened
from .result import GradeResult
from .wire import ChannelError, ChildGone, FrameReader, GradingTimeout

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "NAMESPACE", "grade", "grade_here", "check",
           "checked_timeout"]

DEFAULT_TIMEOUT = 60.0
# the longest grading allowed: a year; beyond it the deadline overflows select's time_t
MAX_TIMEOUT = 365 * 24 * 3600.0
NAMESPACE = "your namespace"        # where a result from ``check`` says the functions were
_EXIT_WAIT = 1.0            # seconds a child that closed the wire gets to finish exiting
_TAIL_BYTES = 4096          # of the child's stderr, for the one sentence of a crash


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
          isolate: bool = True) -> GradeResult:
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
    return _grade_in_a_child(path, name, timeout) if isolate else grade_here(path, name)


def checked_timeout(timeout: object) -> float:
    """``timeout``, a number of seconds in (0, MAX_TIMEOUT] (a year); TypeError / ValueError
    otherwise."""
    return check_real("timeout (seconds)", timeout, minimum=0, maximum=MAX_TIMEOUT,
                      strict=True)


def grade_here(path: str | os.PathLike[str], name: str) -> GradeResult:
    """``grade(..., isolate=False)``: the learner's file loaded in this process."""
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
        command = [sys.executable, "-c", "from nplstm.exercises.learner import serve; serve()",
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
            # both are pipes (stdin=PIPE, stdout=PIPE above), which Popen's type leaves optional
            assert process.stdin is not None and process.stdout is not None
            try:
                wire = FrameReader(process.stdin.fileno(), process.stdout.fileno(), deadline)
                return exchange(wire, name, str(path), path.name, timeout, process.pid,
                                lambda: _stop(process), stderr)
            finally:
                _stop(process)


def exchange(wire: FrameReader, name: str, where: str, subject: str, timeout: float,
             pid: int, stop: Callable[[], int], stderr: Any,
             raise_limit: str = "--timeout") -> GradeResult:
    """Grade over ``wire`` to the child ``pid`` that runs the learner's code: wait for it to
    load, then run the grader.  ``where`` goes into the result (the file, or what the
    namespace is), ``subject`` into a sentence ("does SUBJECT loop forever?"); ``stop()``
    kills the child's group and returns its exit status, and the end of ``stderr`` (its
    file) names a crash; ``raise_limit`` says how to give more time."""
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
        wait_for_exit(pid, _EXIT_WAIT)
        return GradeResult(name, where, 0, problem=_died(subject, stop(), _tail(stderr)))
    except ChannelError as err:
        return GradeResult(name, where, 0, problem=(
            f"grading {subject} stopped: what its process sent back is not "
            f"arrays from your functions ({err}); does your code write to the "
            f"grader's pipe?"))


def wait_for_exit(pid: int, seconds: float) -> None:
    """Wait until the child ``pid`` has exited, without reaping it (its process group id
    stays reserved until ``_stop`` or ``_stop_fork`` kills the group)."""
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


def _stop(process: subprocess.Popen[bytes]) -> int:
    """Kill the child's process group (the child and whatever it started), then reap the
    child and return its exit status.  The group is killed before the child is reaped, so
    its id cannot be reused."""
    if process.returncode is None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None and not pipe.closed:
            with suppress(OSError):
                pipe.close()
    return process.returncode


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


# --- a namespace, in a fork ---------------------------------------------------------------

def check(name: str, namespace: dict[str, Any] | types.ModuleType, *,
          timeout: float | None = None, isolate: bool = True) -> GradeResult:
    """Grade the functions of exercise ``name`` held in ``namespace``, as ``grade`` grades a
    file (``timeout``, ``isolate``, the errors: its own).

    namespace  a dict (``globals()`` in a notebook) or a module, holding the exercise's
               functions under their names (``exercise(name).functions``, and the
               ones its stub gives, ``exercise(name).given``)
    """
    task = exercise(name)
    timeout = checked_timeout(task.timeout if timeout is None else timeout)
    check_bool("isolate", isolate)
    functions = _functions(namespace, task.functions + task.given)
    module = namespace_module(functions, _learner_files(namespace, functions), NAMESPACE)
    if not isolate:
        return _run_grader(Learner(Server(module=module).reply), NAMESPACE, name)
    if not hasattr(os, "fork"):
        raise ValueError("isolate=True needs os.fork, which this system lacks: pass "
                         "isolate=False to grade in this process")
    return _grade_in_a_fork(module, name, timeout)


def _functions(namespace: object, names: tuple[str, ...]) -> dict[str, Callable[..., Any]]:
    """{name: function} for the exercise's functions in ``namespace``."""
    if isinstance(namespace, types.ModuleType):
        values = vars(namespace)
    elif isinstance(namespace, dict):
        values = namespace
    else:
        raise TypeError(f"namespace must be a dict (such as globals()) or a module holding "
                        f"{', '.join(names)}, got {type(namespace).__name__}")
    missing = [n for n in names if n not in values]
    if missing:
        raise ValueError(f"namespace holds no {', '.join(missing)}: define "
                         f"{'it' if len(missing) == 1 else 'them'} (the exercise's functions: "
                         f"{', '.join(names)}), then check again")
    for n in names:
        if not callable(values[n]):
            raise TypeError(f"namespace[{n!r}] must be a function, got "
                            f"{type(values[n]).__name__}")
    return {n: values[n] for n in names}


def _learner_files(namespace: dict[str, Any] | types.ModuleType,
                   functions: dict[str, Callable[..., Any]]) -> set[str]:
    """The file names the learner's code comes from (a notebook's cells): those of the
    exercise's functions and of the other plain functions of their module in the namespace,
    where a crash's line is looked for."""
    modules = {getattr(f, "__module__", None) for f in functions.values()}
    values = vars(namespace) if isinstance(namespace, types.ModuleType) else namespace
    found: set[str] = set()
    for value in list(values.values()) + list(functions.values()):
        if isinstance(value, types.FunctionType) and value.__module__ in modules:
            found.add(value.__code__.co_filename)
    return found


def _grade_in_a_fork(module: types.ModuleType, name: str, timeout: float) -> GradeResult:
    deadline = time.monotonic() + timeout
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    with tempfile.TemporaryFile() as stderr:
        for stream in (sys.stdout, sys.stderr):      # nothing buffered is written twice
            with suppress(Exception):                # a closed stream
                stream.flush()
        with warnings.catch_warnings():              # "multi-threaded, fork() may deadlock":
            warnings.simplefilter("ignore", DeprecationWarning)   # the time limit covers it
            pid = os.fork()
        if pid == 0:                                  # the child: never returns
            _serve_in_child(module, to_child_r, from_child_w, stderr.fileno(),
                            (to_child_w, from_child_r))
        os.close(to_child_r)
        os.close(from_child_w)

        exit_code: list[int] = []                # the child's, once reaped: once only

        def stop() -> int:
            if not exit_code:
                exit_code.append(_stop_fork(pid))
            return exit_code[0]

        try:
            wire = FrameReader(to_child_w, from_child_r, deadline)
            return exchange(wire, name, NAMESPACE, "your code", timeout, pid, stop, stderr,
                            raise_limit="check(..., timeout=S)")
        finally:
            stop()
            for fd in (to_child_w, from_child_r):
                with suppress(OSError):
                    os.close(fd)


def _serve_in_child(module: types.ModuleType, wire_in: int, wire_out: int, stderr: int,
                    parent_ends: tuple[int, int]) -> None:
    """The forked child: its own session, standard streams away from the parent's (a
    notebook's go to the kernel), then answer the grader; ``os._exit`` whatever happens, so
    no code of the parent (atexit, a test runner) runs here."""
    code = 0
    try:
        os.setsid()
        for fd in parent_ends:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(stderr, 2)
        sys.stdin = open(os.devnull)                 # noqa: SIM115 - lives until _exit
        sys.stdout = open(os.devnull, "w")           # noqa: SIM115
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        answer(Server(module=module), io.open(wire_in, "rb"), io.open(wire_out, "wb"))
    except BaseException:                            # noqa: BLE001 - reported as its last line
        code = 1
        with suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(code)


def _stop_fork(pid: int) -> int:
    """Kill the child's process group (before it has made its session: the child alone),
    reap it (once only: then its id may be reused), and return its exit status (negative:
    the signal)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
            break
        except (ProcessLookupError, PermissionError):
            continue
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return os.waitstatus_to_exitcode(status)
