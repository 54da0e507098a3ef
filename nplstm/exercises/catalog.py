"""The exercises, in teaching order: what each teaches, and its file (package data).

    solutions/NAME.py  what ``nplstm exercise solution NAME`` shows a teacher
    stub_source(NAME)  what ``nplstm exercise start NAME`` writes: the same file with the
                       bodies of the functions to write replaced by ``raise
                       NotImplementedError`` (their equations and shapes stay in the
                       docstrings), so stub and solution cannot drift apart
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..checks import quoted_name
from ..io import atomic_write_bytes

__all__ = ["Exercise", "EXERCISES", "exercise", "stub_source", "solution_source", "start"]


@dataclass(frozen=True)
class Exercise:
    name: str
    teaches: str
    functions: tuple[str, ...]  # the functions the learner writes, in the order they are graded
    quick: bool = True     # graded in seconds (``status`` grades it); False: it trains
    timeout: float = 60.0  # seconds its grading may take unless told otherwise
    given: tuple[str, ...] = ()  # functions the stub hands the learner, which the grader calls


EXERCISES = {e.name: e for e in [
    Exercise("sigmoid_tanh", "derivatives through the outputs: σ' and tanh' written with "
             "σ(z) and tanh(z), no z", ("sigmoid_backward", "tanh_backward")),
    Exercise("linear", "the gradients of y = x Wᵀ + b: shapes write the matrix products",
             ("linear_backward",)),
    Exercise("softmax_cross_entropy", "the classifier's loss (the mean over rows), the "
             "stable softmax, and their gradient", ("softmax_cross_entropy",)),
    Exercise("rnn_step", "the vanilla RNN step before the LSTM: h = tanh(x W_ihᵀ + b_ih + "
             "h_prev W_hhᵀ + b_hh), forward and backward, torch's shapes",
             ("rnn_step_forward", "rnn_step_backward")),
    Exercise("lstm_cell_forward", "one LSTM step: the six equations, torch's gate order "
             "i, f, g, o", ("lstm_cell_forward",)),
    Exercise("lstm_cell_backward", "backpropagation through one step: the two paths into c",
             ("lstm_cell_backward",), given=("lstm_cell_forward",)),
    Exercise("gru_cell", "the GRU step (torch.nn.GRUCell), forward and backward: r inside "
             "the recurrent term, z the share of the old state, every path back to h_prev",
             ("gru_cell_forward", "gru_cell_backward")),
    Exercise("lstm_bptt", "a sequence and backpropagation through time: carrying dh and dc "
             "back", ("lstm_forward", "lstm_backward")),
    Exercise("truncated_bptt", "training on a long sequence in chunks: the state carried "
             "across, the gradient stopped at each chunk's start, its global norm clipped",
             ("clip_global_norm", "train_truncated")),
    Exercise("capstone", "a character language model trained with your own functions "
             "(cell, BPTT, softmax cross-entropy, linear) and nplstm's SGD, to beat the "
             "bigram baseline", ("char_lm_loss_and_grads",), quick=False, timeout=900.0),
]}


def exercise(name: str) -> Exercise:
    """The exercise called ``name``; ValueError naming every exercise otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"name must be the name of an exercise (a str), got "
                        f"{type(name).__name__}")
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {quoted_name(name)}; the exercises are: "
                         f"{', '.join(EXERCISES)}")
    return EXERCISES[name]


_GIVEN = "# given, from exercise "
_YOURS = "# yours, from exercise "


def _package_file(folder: str, name: str) -> str:
    """The text of solutions/NAME.py with its ``# given, from exercise OTHER: a, b`` lines
    replaced by those definitions of OTHER's file: a definition a later exercise shares with
    an earlier one (each file stands alone), written once in the package.  Code that an
    exercise needs from an earlier one (the step, its backward) is imported from
    ``nplstm.functional.reference`` instead, so no stub holds an earlier answer.

    A ``# yours, from exercise OTHER: a, b`` line (the capstone, built from the learner's own
    functions) becomes those definitions in the solution (``folder`` "solutions") and, in
    the stub (``folder`` "stubs"), ``from OTHER import a, b``: the learner's OTHER.py."""
    exercise(name)
    text = resources.files(__package__).joinpath("solutions").joinpath(f"{name}.py").read_text(
        encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for k, line in enumerate(lines):
        if line.startswith(_YOURS) and folder == "stubs":
            other, _, names = line[len(_YOURS):].partition(":")
            lines[k] = (f"from {other.strip()} import {names.strip()}   # yours: "
                        f"{other.strip()}.py, beside this file\n")
        elif line.startswith((_GIVEN, _YOURS)):
            marker = _GIVEN if line.startswith(_GIVEN) else _YOURS
            other, _, names = line[len(marker):].partition(":")
            given = _package_file("solutions", other.strip())
            tree, given_lines = ast.parse(given), given.splitlines(keepends=True)
            nodes = {node.name: node for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
            segments = ["".join(given_lines[nodes[n].lineno - 1:nodes[n].end_lineno])
                        for n in (n.strip() for n in names.split(","))]
            lines[k] = "\n\n".join(segments)
    return "".join(lines)


def stub_source(name: str) -> str:
    """The text of the exercise file a learner starts from: the solution, with the body of
    each function the learner writes (``Exercise.functions``) replaced by one line that
    raises ``NotImplementedError``; docstrings, given code and comments outside stay."""
    source = _package_file("stubs", name)
    lines = source.splitlines(keepends=True)
    to_write = set(exercise(name).functions)
    bodies = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in to_write:
            first = node.body[1] if ast.get_docstring(node) is not None else node.body[0]
            bodies.append((node.name, first.lineno - 1, node.end_lineno, first.col_offset))
    for function, start, end, indent in sorted(bodies, key=lambda b: -b[1]):
        lines[start:end] = [" " * indent + f'raise NotImplementedError("{function}: write '
                            'me")\n']
    return "".join(lines)


def solution_source(name: str) -> str:
    """The text of the solution (for teachers)."""
    return _package_file("solutions", name)


def start(name: str, directory: str | os.PathLike[str]) -> Path:
    """Write DIRECTORY/NAME.py (creating DIRECTORY) from the stub and return its path; never
    over a file (``write_new_file``: a learner's work may be in it)."""
    path = Path(directory) / f"{name}.py"
    return write_new_file(path, stub_source(name),
                          f"check it with `nplstm exercise check {name} --dir "
                          f"{path.parent}`, or move it away to start over")


def write_new_file(path: Path, text: str, instead: str) -> Path:
    """Write ``text`` to ``path`` (creating its folder), atomically, never over a file:
    FileExistsError saying what to do ``instead``, NotADirectoryError for a folder that is a
    file."""
    if path.exists():
        raise FileExistsError(f"{path} exists already (your work may be in it): {instead}")
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(f"{path.parent} is not a folder: give --dir a folder for "
                                 f"your exercise files")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path
