"""What a learner gets beside the grade: hints (three per exercise, each closer, none of them
a line of the solution: the suite checks), the exercise as a notebook (nbformat 4.5 JSON,
written here; its check cell grades in a forked child), and progress over a folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import EXERCISES, exercise, stub_source, write_new_file
from .grading import DEFAULT_TIMEOUT, checked_timeout, grade
from .result import GradeResult

__all__ = ["HINTS", "LEVELS", "hint", "notebook_text", "start_notebook", "check_cell",
           "Progress", "progress"]

LEVELS = (1, 2, 3)

HINTS = {
    "sigmoid_tanh": (
        "You are given the output of σ (or tanh), not its input z. Write the derivative of "
        "σ(z) and of tanh(z) using only the function's own value.",
        "σ'(z) is a product of σ(z) and of one minus σ(z); tanh'(z) is one minus the square "
        "of tanh(z). The chain rule then multiplies by the gradient arriving from above.",
        "With s = σ(z): dz = ds ⊙ s ⊙ (1 − s), elementwise. With t = tanh(z): dz = dt ⊙ (1 − "
        "t²). Do not apply σ or tanh again: s and t already are the outputs.",
    ),
    "linear": (
        "Each gradient has the shape of what it is the gradient of: dx like x (N, I), dW "
        "like W (O, I), db like b (O,). Let the shapes choose the matrix products.",
        "dx: which of dy (N, O) and W (O, I), transposed or not, multiply to (N, I)? dW: "
        "which of dy and x multiply to (O, I)? b was added to every one of the N rows of y.",
        "dx is dy times W (no transpose); dW is dy transposed times x; db gathers dy over the "
        "rows, because each row of y received the same b.",
    ),
    "softmax_cross_entropy": (
        "Compute log softmax first, stably: subtracting a row's maximum from its logits "
        "does not change the softmax but keeps exp() from overflowing.",
        "The loss is minus the mean over the N rows of log p[n, target n]. Its gradient "
        "with respect to the logits is the softmax minus the one-hot of the target, for "
        "each row.",
        "p = exp(log_p); subtract 1 at each row's target column; then divide everything by "
        "N, because the loss is a mean over rows (not a sum).",
    ),
    "rnn_step": (
        "The forward is one line of exercise linear applied twice (to x and to h_prev) and a "
        "tanh. The backward undoes the tanh first, then the two affine maps.",
        "Keep in the cache what the backward needs: the inputs, the weights and the output h "
        "(tanh's derivative is written through h). The gradient at z is dh times tanh'(z).",
        "With dz = dh ⊙ (1 − h²), (B, H): the input and the previous state are each exercise "
        "linear again (dx from dz and W_ih, dh_prev from dz and W_hh, the weights from dzᵀ "
        "and the inputs), and both biases get dz summed over the batch.",
    ),
    "lstm_cell_forward": (
        "One matrix product per input gives all four gate pre-activations at once: z has "
        "shape (B, 4H), in torch's order i, f, g, o.",
        "Split z into four (B, H) blocks by columns: i, f and o go through σ, g through "
        "tanh. The new cell mixes the old cell (through f) and the candidate (through i).",
        "z = x W_ihᵀ + b_ih + h_prev W_hhᵀ + b_hh; block k is columns kH to (k+1)H; c = f ⊙ "
        "c_prev + i ⊙ g; h = o ⊙ tanh(c). Keep in the cache what the backward will need "
        "(the inputs, the gates, tanh(c)).",
    ),
    "lstm_cell_backward": (
        "Undo the forward from its last line to its first. c reaches the loss twice: "
        "directly (dc) and through h = o ⊙ tanh(c).",
        "First the total gradient at c: the dc you are given plus the part coming through "
        "h. From it, the gradients of f, c_prev, i and g follow from c = f ⊙ c_prev + i ⊙ g; "
        "the gradient of o from h = o ⊙ tanh(c).",
        "Through each gate's nonlinearity with the derivative written through its output "
        "(exercise sigmoid_tanh), put the four blocks side by side in the order i, f, g, o "
        "to get dz (B, 4H); then z = x W_ihᵀ + h_prev W_hhᵀ + biases is exercise linear "
        "twice, and each bias gets the same sum over the batch.",
    ),
    "gru_cell": (
        "Two products give every pre-activation: one of x with W_ih, one of h_prev with "
        "W_hh, each (B, 3H) in torch's order r, z, n. Keep the recurrent product's n block "
        "apart: r multiplies all of it, its bias included.",
        "Forward: σ for r and z, tanh for n, then h mixes the candidate and the old state "
        "with z as the old state's share. Backward: h_prev reaches h directly and through "
        "all three blocks of W_hh; the paths add.",
        "From dh, the gradients of n, z and the direct share of h_prev follow from the last "
        "equation; through tanh' (written with n) to n's argument, which gives the gradient "
        "of r (times the recurrent n term) and of that term (times r); σ' for r and z. Stack "
        "the input side's three blocks and the recurrent side's three (they differ only in "
        "n) and use exercise linear on each; dh_prev adds the direct share.",
    ),
    "lstm_bptt": (
        "The forward runs the step for t = 0 … T−1 and keeps each step's cache; the "
        "backward runs the step's backward for t = T−1 … 0.",
        "At step t, the gradient arriving at h_t is dhs[t] plus what step t+1 sent back to "
        "its h_prev; the gradient at c_t is only what step t+1 sent back to its c_prev "
        "(zero after the last step).",
        "Carry two (B, H) arrays from one step's backward to the previous one; the weights "
        "are shared by every step, so add each step's weight and bias gradients into "
        "running sums; dh0 and dc0 are what step 0 sends back.",
    ),
    "truncated_bptt": (
        "Two things cross from one chunk to the next, and a third must not: the state (h, c) "
        "and the updated parameters go on; the gradient stays inside its chunk. Clip all six "
        "gradients with one factor.",
        "For each chunk: the LSTM forward from the carried state, the head and the mean "
        "cross-entropy, then the backward with nothing arriving at the chunk's last h and c; "
        "what the backward returns for h0 and c0 is not used. The norm for clipping is one "
        "number for all the gradients together.",
        "Loop start = 0, chunk, 2·chunk, … < T; slice x and targets; give the LSTM backward "
        "None for the state gradients; global norm = square root of the sum of the squares "
        "of every element of every gradient; factor = the smaller of 1 and max_norm over "
        "(norm + 1e-6); each parameter minus lr times its scaled gradient; the state for the "
        "next chunk is where this one ended.",
    ),
    "capstone": (
        "You have written every piece already: the cell forward and backward, the loop over "
        "time and its backward (exercise lstm_bptt), the loss, and the linear layer. Put them "
        "together; start from a state of zeros.",
        "Forward: a one-hot row per character, your cell for t = 0 … T−1 keeping each cache, "
        "then all the h_t stacked into (T·B, H) rows for the head and the loss. Backward: "
        "the head's backward gives the gradient at every h_t; then the loop over time from "
        "the last step down, as in exercise lstm_bptt.",
        "In the backward loop, what reaches h_t is its part from the head plus what step t+1 "
        "sent back to its h_prev, and c_t receives step t+1's dc_prev; the four LSTM "
        "parameter gradients are sums over the steps. The loss is the mean over all T·B "
        "positions, as your softmax_cross_entropy already computes it over rows.",
    ),
}


def hint(name: str, level: int = 1) -> str:
    """Hint ``level`` (1, 2 or 3) of exercise ``name``; ValueError/TypeError naming the
    argument otherwise."""
    exercise(name)
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"level must be 1, 2 or 3 (an int), got {type(level).__name__}")
    if level not in LEVELS:
        raise ValueError(f"level must be 1, 2 or 3, got {level}")
    return HINTS[name][level - 1]


# --- the notebook ------------------------------------------------------------------------

def check_cell(name: str) -> str:
    """The source of the cell that grades exercise ``name`` in a notebook."""
    exercise(name)
    return f'from nplstm.exercises import check\n\ncheck("{name}", globals())'


def _cell(kind: str, source: str, number: int) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "id": f"{kind}-{number}", "metadata": {},
            "source": source.splitlines(keepends=True)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def notebook_text(name: str) -> str:
    """The notebook of exercise ``name``: what to do, the stub, the check cell."""
    task = exercise(name)
    functions = ", ".join(f"`{f}`" for f in task.functions)
    cells = [
        ("markdown", f"# Exercise `{name}`\n\n{task.teaches[0].upper()}{task.teaches[1:]}.\n\n"
                     f"Write {functions} in the next cell (replace each `raise "
                     f"NotImplementedError`), run it, then run the check below. Stuck? "
                     f"`nplstm exercise hint {name}` (levels 1, 2, 3) in a terminal. Try "
                     f"first; read `nplstm/functional/reference.py` after."),
        ("code", stub_source(name).rstrip("\n")),
        ("markdown", "## Check\n\nGrades the functions defined above in a separate process "
                     "(a fork of this kernel: a crash or an endless loop cannot take the "
                     "notebook down) against nplstm's reference and central differences. "
                     "`check(..., isolate=False)` grades them in this kernel instead."),
        ("code", check_cell(name)),
    ]
    notebook = {
        "cells": [_cell(kind, source, k) for k, (kind, source) in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def start_notebook(name: str, directory: str | os.PathLike[str]) -> Path:
    """Write DIRECTORY/NAME.ipynb (creating DIRECTORY) and return its path; never over a file
    (``write_new_file``: a learner's work may be in it)."""
    return write_new_file(Path(directory) / f"{name}.ipynb", notebook_text(name),
                          "open it, or move it away to start over")


# --- progress ----------------------------------------------------------------------------

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
