"""Grading functions that live in a namespace, not a file: ``check(name, namespace)`` for a
notebook cell (``globals()``), a REPL or a module.

    check(name, namespace, *, timeout=None, isolate=True) -> GradeResult

How the functions reach a separate process: a function defined in a notebook cell or a REPL
belongs to ``__main__`` and cannot be imported by a fresh interpreter, and its source alone
(``inspect.getsource``) misses what it uses from other cells.  So ``isolate=True`` forks this
process (``os.fork``, POSIX): the child is a copy holding the very function objects, with the
globals they see.  It makes a session of its own, points its standard streams away from the
notebook's (a print in your function does not reach the kernel's sockets), and only runs your
functions; the grading stays here and speaks to it over the same pickle-free wire as for a
file (``channel``, ``values``).  At the end, or after ``timeout`` seconds, its whole process
group is killed.  Nothing your functions do to the child's memory reaches this process.
Where ``os.fork`` is missing (Windows) pass ``isolate=False``.

``isolate=False`` runs your functions in this process (no time limit; your prints show;
what a function changes in its module's globals stays changed), through the same wire format.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import tempfile
import time
import traceback
import types
import warnings
from typing import Any, Callable

from .catalog import exercise
from .channel import FrameReader
from .child import Server, answer
from .harness import (_died, _run_grader, _tail, checked_timeout, exchange,
                      wait_for_exit)
from .learner import namespace_module
from .remote import Learner
from .result import GradeResult

__all__ = ["check", "NAMESPACE"]

NAMESPACE = "your namespace"        # where a result from ``check`` says the functions were
_EXIT_WAIT = 1.0


def check(name: str, namespace: dict[str, Any] | types.ModuleType, *,
          timeout: float | None = None, isolate: bool = True
          ) -> GradeResult:
    """Grade the functions of exercise ``name`` held in ``namespace``.

    name       one of ``EXERCISES``
    namespace  a dict (``globals()`` in a notebook) or a module, holding the exercise's
               functions under their names (``exercise(name).functions``, and the
               ones its stub gives, ``exercise(name).given``)
    timeout    seconds the grading may take (isolate=True); None: the exercise's own (60,
               900 for the capstone)
    isolate    True: your functions run in a forked child; False: in this process
    Returns a ``GradeResult`` (``.passed``; shown as a table in Jupyter, as text by
    ``print``).  TypeError / ValueError for a bad argument, naming it; everything wrong *in*
    your functions is in the result.
    """
    task = exercise(name)
    timeout = checked_timeout(task.timeout if timeout is None else timeout)
    if not isinstance(isolate, bool):
        raise TypeError(f"isolate must be True or False, got {type(isolate).__name__}")
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
            try:
                stream.flush()
            except Exception:                        # noqa: BLE001 - a closed stream
                pass
        with warnings.catch_warnings():              # "multi-threaded, fork() may deadlock":
            warnings.simplefilter("ignore", DeprecationWarning)   # the time limit covers it
            pid = os.fork()
        if pid == 0:                                  # the child: never returns
            _serve_in_child(module, to_child_r, from_child_w, stderr.fileno(),
                            (to_child_w, from_child_r))
        os.close(to_child_r)
        os.close(from_child_w)

        exit_code: list[int] = []                # the child's, once reaped

        def stop() -> None:
            if not exit_code:
                exit_code.append(_stop(pid))

        def died() -> str:
            wait_for_exit(pid, _EXIT_WAIT)
            stop()
            return _died("your code", exit_code[0], _tail(stderr))

        try:
            wire = FrameReader(to_child_w, from_child_r, deadline)
            return exchange(wire, name, NAMESPACE, "your code", timeout, died,
                            raise_limit="check(..., timeout=S)")
        finally:
            stop()
            for fd in (to_child_w, from_child_r):
                try:
                    os.close(fd)
                except OSError:
                    pass


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
        try:
            traceback.print_exc()
        except BaseException:                        # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _stop(pid: int) -> int:
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
