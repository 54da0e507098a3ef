"""The learner's file: loaded without being trusted, its functions called with copies (in
the process ``child`` runs; the grader sees only what ``values`` sends back).

Everything that can go wrong in it becomes one sentence (``LearnerError``): a syntax error
names the file and line, a crash names the exception and the line of the learner's file it
came from, a stub names the function that is "not written yet".
"""

from __future__ import annotations

import traceback
import types
import warnings
from pathlib import Path

import numpy as np

__all__ = ["LearnerError", "load_learner", "call"]


class LearnerError(Exception):
    """Something in the learner's file stopped grading; ``str()`` is one sentence."""


def load_learner(path: Path) -> types.ModuleType:
    """Compile and run the file as a fresh module (not in sys.modules)."""
    source = path.read_text(encoding="utf-8")
    try:
        code = compile(source, str(path), "exec")
    except SyntaxError as err:
        raise LearnerError(f"{path}, line {err.lineno}: syntax error: {err.msg}") from None
    module = types.ModuleType(f"nplstm_exercise_{path.stem}")
    module.__file__ = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(code, module.__dict__)                      # noqa: S102 - the learner's own file
    except SystemExit as err:
        raise LearnerError(f"{path} called sys.exit({err.code}) on import") from None
    except Exception as err:                                 # noqa: BLE001 - any crash is reported
        raise LearnerError(f"{path} crashed on import: {_crash(err, path)}") from None
    return module


def call(module, name: str, *args):
    """``module.name(*args)`` on copies of the array arguments (a learner's in-place ``+=``
    must not change the grader's arrays); NumPy warnings silenced."""
    function = getattr(module, name, None)
    if not callable(function):
        raise LearnerError(f"{module.__file__} has no function {name}: keep the names "
                           f"the exercise file started with")
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return function(*args)
    except NotImplementedError:
        raise LearnerError(f"not written yet: {name} raises NotImplementedError") from None
    except SystemExit as err:
        raise LearnerError(f"{name} called sys.exit({err.code})") from None
    except Exception as err:                                 # noqa: BLE001 - any crash is reported
        raise LearnerError(f"{name} crashed: {_crash(err, Path(module.__file__))}") from None


def _crash(err: BaseException, path: Path) -> str:
    """"IndexError: index 3 is out of bounds … (line 42)": the exception and the last line
    of the learner's file it passed through."""
    message = " ".join(str(err).split())
    text = f"{type(err).__name__}: {message}" if message else type(err).__name__
    lines = [frame.lineno for frame in traceback.extract_tb(err.__traceback__)
             if Path(frame.filename) == path]
    return f"{text} (line {lines[-1]})" if lines else text
