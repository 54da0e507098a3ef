"""Build the course notebooks from their sources, and run them with their outputs stored.

    python examples/notebooks/build.py                 # all of them: write, execute, store
    python examples/notebooks/build.py 03              # the notebooks whose names start so
    python examples/notebooks/build.py --no-execute    # write them without outputs
    (needs: pip install 'nplstm[notebooks]')

Each notebook is written from a source beside it, ``src/NAME.py``: a list of cells in the
"percent" format that Jupytext, VS Code and Spyder read, so a notebook is reviewed (and
diffed) as plain Python:

    # %% [markdown]
    # ## A heading               ← a markdown cell: its lines with the leading "# " removed
    # %%
    x = 1                        ← a code cell, as is

``build.py`` turns the source into an ``nbformat`` notebook, runs it top to bottom with
``nbclient`` in a scratch directory (whatever it writes there, a training run say, is thrown
away) and stores ``NAME.ipynb`` with the outputs of that run.  The kernel is the Python
running this script (``kernel_of_this_python``), not whichever "python3" Jupyter finds
first, so the notebook sees the nplstm of this environment.  ``tests/test_notebooks.py``
runs each stored notebook the same way and checks that no cell raises, and that the stored
notebook's cells are its source's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

from nplstm.io import atomic_write_bytes

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
NOTEBOOKS = ("01_cell_by_hand", "02_bptt_vanishing_gradients", "03_gradient_checking",
             "04_what_the_cells_learn", "05_rnn_gru_lstm")
TIMEOUT_PER_CELL = 120          # seconds; each notebook runs in well under a minute
KERNEL_NAME = "nplstm-notebook"
_CELL_MARK = re.compile(r"^# %%(?P<markdown> \[markdown\])?\s*$")


def read_cells(source: Path) -> list:
    """The cells of a percent-format source: ``[("markdown" | "code", text), ...]``."""
    cells, kind, lines = [], None, []
    for line in source.read_text(encoding="utf-8").splitlines():
        mark = _CELL_MARK.match(line)
        if mark is None:
            if kind is None:
                if line.strip():                     # text before the first "# %%"
                    raise ValueError(f"{source}: text before the first '# %%' cell marker: "
                                     f"{line!r}")
                continue
            lines.append(line)
            continue
        if kind is not None:
            cells.append(_finish(source, kind, lines))
        kind, lines = ("markdown" if mark.group("markdown") else "code"), []
    if kind is not None:
        cells.append(_finish(source, kind, lines))
    return cells


def _finish(source: Path, kind: str, lines: list) -> tuple:
    """One cell's text: trailing blank lines dropped; markdown lines un-commented."""
    while lines and not lines[-1].strip():
        lines.pop()
    if kind == "markdown":
        bad = [line for line in lines if line and not (line == "#" or line.startswith("# "))]
        if bad:
            raise ValueError(f"{source}: a markdown cell's lines must start with '# ', "
                             f"got {bad[0]!r}")
        lines = [line[2:] for line in lines]
    return kind, "\n".join(lines)


def notebook_from_source(source: Path):
    """An unexecuted ``nbformat`` notebook of ``source``'s cells (kernel: "python3")."""
    import nbformat  # noqa: PLC0415  (an optional dependency: the notebooks extra)

    new = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb = nbformat.v4.new_notebook()
    nb.cells = [new[kind](text) for kind, text in read_cells(source)]
    for number, cell in enumerate(nb.cells):
        cell.id = f"cell-{number:02d}"         # stable ids: a rebuild diffs only what changed
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return nb


@contextlib.contextmanager
def kernel_of_this_python():
    """A kernel spec named ``KERNEL_NAME`` that runs ``sys.executable``, found through a
    temporary JUPYTER_PATH while the block runs; yields the name for nbclient."""
    saved = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="nplstm-kernel-") as root:
        spec_dir = Path(root) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python ({sys.executable})", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [root, saved]))
        try:
            yield KERNEL_NAME
        finally:
            if saved is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = saved


def execute(nb, workdir: Path, timeout: int = TIMEOUT_PER_CELL):
    """Run ``nb`` top to bottom in ``workdir`` with this Python's kernel; outputs go into
    ``nb`` (in place, also returned).  A cell that raises raises ``CellExecutionError``."""
    from nbclient import NotebookClient  # noqa: PLC0415

    with kernel_of_this_python() as kernel_name:
        client = NotebookClient(nb, timeout=timeout, kernel_name=kernel_name,
                                record_timing=False, coalesce_streams=True,
                                resources={"metadata": {"path": str(workdir)}})
        client.execute()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}   # what a reader's Jupyter should use
    return nb


def build(name: str, run: bool = True) -> Path:
    """Write ``NAME.ipynb`` from ``src/NAME.py``, executed in a scratch directory when
    ``run``; returns the notebook's path.  Written only when the whole run succeeded."""
    import nbformat  # noqa: PLC0415

    nb = notebook_from_source(SOURCES / f"{name}.py")
    if run:
        with tempfile.TemporaryDirectory(prefix=f"nplstm-{name}-") as workdir:
            execute(nb, Path(workdir))
    path = HERE / f"{name}.ipynb"
    text = nbformat.writes(nb) + "\n"                 # nbformat.write's text, validated
    atomic_write_bytes(path, text.encode("utf-8"))    # a failed build leaves the old file
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebooks to build, by name or prefix "
                        "(default: all)")
    parser.add_argument("--no-execute", action="store_true", help="write without outputs")
    args = parser.parse_args(argv)
    chosen = [n for n in NOTEBOOKS if not args.names or any(n.startswith(p) for p in args.names)]
    if not chosen:
        parser.error(f"no notebook matches {args.names}; they are: {', '.join(NOTEBOOKS)}")
    for name in chosen:
        print(f"building {name} ...", flush=True)
        print(f"wrote {build(name, run=not args.no_execute)}")


if __name__ == "__main__":
    main()
