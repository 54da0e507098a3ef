"""An exercise as a Jupyter notebook: the stub in a cell, and a cell that grades it.

    notebook_text(name)             the .ipynb (nbformat 4.5 JSON, written here: nbformat
                                    is not needed)
    start_notebook(name, directory) DIRECTORY/NAME.ipynb from it (never overwrites)

The check cell is ``check("NAME", globals())`` (``inline.check``): it grades the functions
the learner defined in the notebook, in a forked child, and Jupyter shows the result as a
table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .catalog import exercise, stub_source, write_new_file

__all__ = ["notebook_text", "start_notebook", "check_cell"]


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
    """Write DIRECTORY/NAME.ipynb (creating DIRECTORY) and return its path.

    Never overwrites: FileExistsError when the file is there (a learner's work is in it).
    """
    return write_new_file(Path(directory) / f"{name}.ipynb", notebook_text(name),
                          "open it, or move it away to start over")
