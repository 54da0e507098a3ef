"""The learner's file: loaded without being trusted, its functions called with copies (in
the process ``child`` runs; the grader sees only what ``values`` sends back).

Everything that can go wrong in it becomes one sentence (``LearnerError``): a syntax error
names the file and line, a crash names the exception and the line of the learner's file it
came from, a stub names the function that is "not written yet".
"""

from __future__ import annotations

import ast
import traceback
import types
import warnings
from pathlib import Path

import numpy as np

__all__ = ["LearnerError", "load_learner", "call"]


class LearnerError(Exception):
    """Something in the learner's file stopped grading; ``str()`` is one sentence."""


_SOURCES: dict = {}          # path → the lines of the learner's file, as it was loaded


def load_learner(path: Path) -> types.ModuleType:
    """Compile and run the file as a fresh module (not in sys.modules)."""
    source = path.read_text(encoding="utf-8")
    _SOURCES[str(path)] = source.splitlines()
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
    of the learner's file it passed through; for a matrix product whose shapes do not fit,
    the transpose that would make them fit."""
    message = " ".join(str(err).split())
    text = f"{type(err).__name__}: {message}" if message else type(err).__name__
    frames = [(frame, lineno) for frame, lineno in traceback.walk_tb(err.__traceback__)
              if Path(frame.f_code.co_filename) == path]
    if not frames:
        return text
    frame, lineno = frames[-1]
    lines = _SOURCES.get(str(path), [])
    hint = _transpose_hint(frame, lines[lineno - 1].strip()) if lineno <= len(lines) else ""
    return f"{text} (line {lineno}){hint}"


def _transpose_hint(frame, line: str) -> str:
    """"; transpose? dz @ W_ih.T multiplies (2, 8) @ (3, 8), and dz @ W_ih would fit" for an
    ``A @ B`` in ``line`` whose operands (names, or names with .T) have shapes that do not
    fit but would with one or both transposed; "" otherwise."""
    try:
        tree = ast.parse(line)
    except SyntaxError:                                 # a statement over several lines
        return ""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult)):
            continue
        left, right = _operand(node.left, frame), _operand(node.right, frame)
        if left is None or right is None or left.shape[1] == right.shape[0]:
            continue
        for flip_left, flip_right in ((False, True), (True, False), (True, True)):
            a = left.T if flip_left else left
            b = right.T if flip_right else right
            if a.shape[1] == b.shape[0]:
                fits = (f"{_flipped(node.left) if flip_left else ast.unparse(node.left)} @ "
                        f"{_flipped(node.right) if flip_right else ast.unparse(node.right)}")
                return (f"; transpose? {ast.unparse(node)} multiplies {left.shape} @ "
                        f"{right.shape}, and {fits} would fit")
    return ""


def _operand(node, frame):
    """The 2-D array a name (or a name's .T) stands for in the learner's frame, or None;
    nothing is called."""
    if isinstance(node, ast.Attribute) and node.attr == "T":
        inner = _operand(node.value, frame)
        return None if inner is None else inner.T
    if isinstance(node, ast.Name):
        value = frame.f_locals.get(node.id, frame.f_globals.get(node.id))
        if type(value) is np.ndarray and value.ndim == 2:
            return value
    return None


def _flipped(node) -> str:
    """The source of ``node`` transposed: ``W.T`` for ``W``, ``W`` for ``W.T``."""
    if isinstance(node, ast.Attribute) and node.attr == "T":
        return ast.unparse(node.value)
    return f"{ast.unparse(node)}.T"
