"""Every ```python block of README.md and docs/*.md runs, so that a doc cannot rot.

Each block runs on its own, in a fresh namespace and an empty working directory, as a reader
who pastes that one block into a fresh interpreter would run it: a block must import what it
uses and define its inputs.  A block that imports an optional package which is not installed
(torch, matplotlib, onnx, …), or names one of the optional file formats' packages
(``OPTIONAL``: a ``.safetensors`` file needs safetensors), is skipped, naming the package.  What is not meant to run (a
shell command, an error message, a synopsis) is fenced as ```text, ```console or ```bash.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a fence may be indented (inside a list item): its lines are dedented by the same amount
FENCE = re.compile(r"^([ \t]*)```python[ \t]*\n(.*?)^\1```[ \t]*$", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path):
    """(line number, source) of every ```python block of a Markdown page."""
    text = path.read_text(encoding="utf-8")
    for match in FENCE.finditer(text):
        indent, body = match.group(1), match.group(2)
        source = "".join(line[len(indent):] if line.startswith(indent) else line
                         for line in body.splitlines(keepends=True))
        yield text.count("\n", 0, match.start()) + 2, source


def imported_modules(source: str) -> set:
    """The top-level names of the modules a block imports (``import a.b``, ``from a import``)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


# packages of the optional extras, and the words that show a block needs one
OPTIONAL = {"safetensors": "safetensors", "onnx": "onnx", "onnxruntime": "onnxruntime",
            "h5py": "h5py", ".keras": "h5py", ".h5": "h5py"}


def needed_modules(source: str) -> set:
    """The modules a block imports, and the optional ones its file formats need."""
    return imported_modules(source) | {module for word, module in OPTIONAL.items()
                                       if word in source}


BLOCKS = [pytest.param(page, line, source, id=f"{page.name}:{line}")
          for page in PAGES for line, source in python_blocks(page)]


def test_blocks_run_as_pasted():
    """A block indented inside a list item is an IndentationError when its lines are
    pasted into Python: every ```python fence starts at the margin."""
    indented = [(path.name, text.count("\n", 0, m.start()) + 2)
                for path in PAGES
                for text in [path.read_text(encoding="utf-8")]
                for m in FENCE.finditer(text) if m.group(1)]
    assert indented == []


def test_every_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    unlinked = [page.name for page in PAGES[1:] if f"](docs/{page.name})" not in readme]
    assert unlinked == []


def test_the_pages_have_blocks():
    assert len(BLOCKS) >= 5, [p.name for p in PAGES]


@pytest.mark.parametrize("page, line, source", BLOCKS)
def test_block_runs(page, line, source, tmp_path, monkeypatch):
    missing = sorted(name for name in needed_modules(source)
                     if importlib.util.find_spec(name) is None)
    if missing:
        pytest.skip(f"{page.name}:{line} needs {', '.join(missing)}, not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"{page.name}:{line}"])
    if "matplotlib" in imported_modules(source):
        import matplotlib                                    # noqa: PLC0415
        matplotlib.use("Agg")
    code = compile(source, f"{page.relative_to(ROOT)}:{line}", "exec")
    exec(code, {"__name__": "__main__"})                    # noqa: S102 - the docs' own code
