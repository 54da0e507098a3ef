"""The learner's code and both ends of the call to it: ``load_learner`` and ``call`` (the file
loaded without being trusted, its functions called with copies); ``Server`` and ``serve``, the
learner's side (the child: argv[1] is the file, frames in on stdin, out on stdout, the
learner's prints to /dev/null), which runs the call a request names and sends back its values
(``wire``); ``Learner``, the grader's handle, which rebuilds the reply as plain arrays, floats
and ``Opaque``s.

Everything that can go wrong in the learner's code becomes one sentence (``LearnerError``): a
syntax error names the file and line, a crash names the exception and the line of the
learner's file it came from, a stub names the function that is "not written yet".  The grade
is decided by the grader, in its own process, from the arrays it receives: the learner's side
never sees the right answers, and a reply that is not a message of the protocol is a
``ChannelError``, so the only way to pass is to send back the right arrays.
"""

from __future__ import annotations

import ast
import io
import linecache
import os
import sys
import traceback
import types
import warnings
from pathlib import Path

import numpy as np

from . import wire
from .wire import describe, describe_argument, rebuild, rebuild_argument, type_name

__all__ = ["LearnerError", "load_learner", "namespace_module", "call", "Server", "serve",
           "answer", "LOADED", "Learner", "opened", "unpack"]


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
    folder = str(path.resolve().parent)     # its own folder first, as `python FILE` has it:
    sys.path.insert(0, folder)              # the capstone imports the learner's other files
    before = set(sys.modules)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(code, module.__dict__)                      # noqa: S102 - the learner's own file
    except SystemExit as err:
        raise LearnerError(f"{path} called sys.exit({err.code}) on import") from None
    except ModuleNotFoundError as err:
        beside = path.parent / f"{err.name}.py"
        if err.name and not beside.exists() and err.name.isidentifier() and "." not in err.name:
            raise LearnerError(
                f"{path} imports {err.name}, and there is no {beside}: it uses your own "
                f"functions from your exercise files, in its folder (`nplstm exercise "
                f"start {err.name} --dir {path.parent}`, then make it pass)") from None
        raise LearnerError(f"{path} crashed on import: {_crash(err, {str(path)})}") from None
    except Exception as err:                                 # noqa: BLE001 - any crash is reported
        raise LearnerError(f"{path} crashed on import: {_crash(err, {str(path)})}") from None
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
        for name in set(sys.modules) - before:   # the learner's files imported from its
            file = getattr(sys.modules[name], "__file__", None) or ""   # folder: not kept
            if str(Path(file).resolve().parent) == folder:
                del sys.modules[name]
    module.__learner_files__ = {str(path)}
    return module


def namespace_module(functions: dict, files: set, label: str) -> types.ModuleType:
    """The learner's functions held in a namespace (a notebook's ``globals()``, a module), as
    a module ``call`` can use: ``files`` are the file names their code comes from (a
    notebook cell's), where a crash's line is looked for; ``label`` names the namespace in a
    sentence."""
    module = types.ModuleType("nplstm_exercise_namespace")
    module.__dict__.update(functions)
    module.__file__ = label
    module.__learner_files__ = set(files)
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
        raise LearnerError(f"{name} crashed: {_crash(err, module.__learner_files__)}") from None


def _crash(err: BaseException, files: set) -> str:
    """"IndexError: index 3 is out of bounds … (line 42)": the exception and the last line
    of the learner's code (``files``) it passed through; for a matrix product whose shapes do
    not fit, the transpose that would make them fit."""
    message = " ".join(str(err).split())
    text = f"{type(err).__name__}: {message}" if message else type(err).__name__
    frames = [(frame, lineno) for frame, lineno in traceback.walk_tb(err.__traceback__)
              if frame.f_code.co_filename in files]
    if not frames:
        return text
    frame, lineno = frames[-1]
    filename = frame.f_code.co_filename
    lines = _SOURCES.get(filename)
    line = (lines[lineno - 1] if lines is not None and lineno <= len(lines)
            else linecache.getline(filename, lineno))        # a notebook cell's, via IPython
    hint = _transpose_hint(frame, line.strip()) if line.strip() else ""
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


# --- the learner's side: the child process ---------------------------------------------

LOADED = {"loaded": True}
_SENTENCE_LENGTH = 2000


class Server:
    """The learner's module and the objects its functions returned (kept by handle, so that a
    cache can be passed back to the backward)."""

    def __init__(self, path: Path | None = None, *, module=None):
        """The learner's file at ``path`` (loaded here: ``LearnerError``, one sentence, when
        it does not load), or a ``module`` already holding the learner's functions."""
        self.module = module if path is None else load_learner(Path(path))
        self.kept: dict = {}

    def keep(self, value) -> int:
        self.kept[len(self.kept)] = value
        return len(self.kept) - 1

    def reply(self, request: bytes) -> bytes:
        """Run the call ``request`` names; the reply holds its values, or a sentence."""
        header, arrays = wire.decode(request)
        args = [rebuild_argument(a, arrays, self.kept) for a in header["args"]]
        name = header["call"]
        try:
            result = call(self.module, name, *args)
            returned: list = []
            try:
                value = describe(result, self.keep, returned)
            except Exception as err:                     # noqa: BLE001 - the learner's object
                raise LearnerError(f"{name} returned something that cannot be read as "
                                   f"arrays ({type(err).__name__}: {err})") from None
        except LearnerError as err:
            return error_reply(str(err))
        return wire.encode({"value": value}, returned)


def error_reply(sentence: str) -> bytes:
    return wire.encode({"error": sentence[:_SENTENCE_LENGTH]})


def serve() -> None:
    """The child process: the wire is a private copy of stdin and stdout, which are then
    pointed at /dev/null, so a print or input() in the learner's file cannot touch it."""
    path = sys.argv[1]
    wire_in = io.open(os.dup(0), "rb")
    wire_out = io.open(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    try:
        server = Server(Path(path))
    except LearnerError as err:
        wire.write_frame(wire_out, error_reply(str(err)))
        return
    answer(server, wire_in, wire_out)


def answer(server: Server, wire_in, wire_out) -> None:
    """Say the learner's code is loaded, then answer each request until the parent closes
    the wire."""
    wire.write_frame(wire_out, wire.encode(LOADED))
    while (request := wire.read_frame(wire_in)) is not None:
        wire.write_frame(wire_out, server.reply(request))


# --- the grader's side -------------------------------------------------------------------

class Learner:
    """The learner's functions, called across the wire."""

    def __init__(self, request):
        self.request = request

    def call(self, name: str, *args):
        """``name(*args)`` in the learner's process: its return value, rebuilt."""
        arrays: list = []
        described = [describe_argument(a, arrays) for a in args]
        header, returned = wire.decode(self.request(wire.encode(
            {"call": name, "args": described}, arrays)))
        if "error" in header:
            raise LearnerError(_sentence(header["error"]))
        if "value" not in header:
            raise wire.ChannelError("a reply with neither a value nor a sentence")
        try:
            return rebuild(header["value"], returned)
        except ValueError as err:
            raise wire.ChannelError(str(err)) from None

    def returns(self, name: str, names: tuple, *args) -> tuple:
        """``call(name, *args)`` as the ``len(names)`` values ``names`` (``unpack``)."""
        return unpack(name, self.call(name, *args), names)


def unpack(function: str, result, names: tuple) -> tuple:
    """The learner's return value as len(names) values, or a sentence saying what came back."""
    if len(names) == 1:
        return (result,)
    if not isinstance(result, (tuple, list)):
        raise LearnerError(f"{function} returned a {type_name(result)}, expected "
                           f"{len(names)} values: {', '.join(names)}")
    if len(result) != len(names):
        raise LearnerError(f"{function} returned {len(result)} values, expected "
                           f"{len(names)}: {', '.join(names)}")
    return tuple(result)


def opened(message: bytes) -> None:
    """Check the first message of a child: loaded, or the ``LearnerError`` it sent."""
    header, _ = wire.decode(message)
    if "error" in header:
        raise LearnerError(_sentence(header["error"]))
    if header != {"loaded": True}:
        raise wire.ChannelError("a first message that is not the file's loading")


def _sentence(value) -> str:
    if not isinstance(value, str):
        raise wire.ChannelError("a sentence that is not a string")
    return value
