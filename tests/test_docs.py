"""Every ```python block of README.md and docs/*.md runs, and prints what the page shows, so
that a doc cannot rot.

Each block runs on its own, in a fresh namespace and an empty working directory, as a reader
who pastes that one block into a fresh interpreter would run it: a block must import what it
uses and define its inputs.  A block that imports an optional package which is not installed
(torch, matplotlib, onnx, …), or names one of the optional file formats' packages
(``OPTIONAL``: a ``.safetensors`` file needs safetensors), is skipped, naming the package.
What is not meant to run (a shell command, an error message, a synopsis) is fenced as
```text, ```console or ```bash.

What a block prints is shown on the page in the ``#`` lines right under the statement that
prints it (no blank line between), and compared line by line with what that statement
printed: ``…`` in a line stands for any text within the line, a line that is only ``…`` for
any number of lines.  Output that depends on the machine (round-off, timings) is shown as
``# varies: …`` (what to expect) and not compared.  A statement that prints and shows
neither fails: whatever a reader is told to print, the page says what comes out.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib.util
import io
import re
import sys
from pathlib import Path

import pytest

from .helpers import ROOT

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


VARIES = "varies:"


def shown_output(lines: list, end: int):
    """The ``#`` lines right under line ``end`` (1-based) of a block, without their ``# ``."""
    shown = []
    for line in lines[end:]:
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        shown.append(stripped[2:] if stripped.startswith("# ") else stripped[1:])
    return shown


def output_pattern(shown: list) -> re.Pattern:
    """The printed text that ``shown`` stands for: ``…`` any text in a line, a line ``…``
    any lines; trailing blanks of a printed line are not compared."""
    parts = [r"(?:[^\n]*\n)*?" if line == "…" else
             ".*".join(map(re.escape, line.split("…"))) + r"[ \t]*\n" for line in shown]
    return re.compile("".join(parts))


def run_statements(source: str, filename: str):
    """Run a block's top-level statements in order in one namespace; yields (statement, what
    it printed)."""
    namespace = {"__name__": "__main__"}
    for statement in ast.parse(source).body:
        code = compile(ast.Module(body=[statement], type_ignores=[]), filename, "exec")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(code, namespace)                           # noqa: S102 - the docs' own code
        yield statement, printed.getvalue()


def output_problems(source: str, filename: str) -> list:
    """What the block's statements printed that its page does not show (empty: all agree)."""
    lines, problems = source.splitlines(), []
    for statement, printed in run_statements(source, filename):
        if not printed:
            continue
        shown = shown_output(lines, statement.end_lineno)
        where = f"{filename}, block line {statement.lineno}"
        if not shown:
            problems.append(f"{where} prints, and the page shows no output under it "
                            f"(show it in '# ' lines, or '# {VARIES} …'):\n{printed}")
        elif not shown[0].startswith(VARIES) and \
                not output_pattern(shown).fullmatch(printed if printed.endswith("\n")
                                                    else printed + "\n"):
            diff = difflib.unified_diff(shown, printed.splitlines(), "shown", "printed",
                                        lineterm="")
            problems.append(f"{where} prints other than the page shows:\n" + "\n".join(diff))
    return problems


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
    assert output_problems(source, f"{page.relative_to(ROOT)}:{line}") == []


def test_the_output_shown_is_compared():
    """What the blocks' outputs are held to: the shown lines, ``…`` and ``# varies:``."""
    block = 'print("a 1")\n# a …\nprint("x\\ny\\nz")\n# x\n# …\nprint(7)\n# varies: 2 or 3\n'
    assert output_problems(block, "page") == []
    wrong = block.replace("# a …", "# b …")
    assert "prints other than the page shows" in output_problems(wrong, "page")[0]
    assert "shows no output under it" in output_problems("x = 1\nprint(x)\n\n# 1\n",
                                                        "page")[0]
    assert output_problems("print('a')  # no\n# a\nprint('b', end='')\n# b\n", "p") == []
