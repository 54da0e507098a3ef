"""docs/derivation.md quotes code by file and line number: its generated tables must be what
docs/make_derivation_table.py writes from today's source, every number they quote must hold
what the row names, and every block of code it quotes from a library file must be those lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nplstm

from .helpers import ROOT, load_script

DOC = ROOT / "docs" / "derivation.md"
# the library's files are read from the package under test (an installed wheel, in CI's
# newest leg, where the source tree has no nplstm/), the docs from this tree
PACKAGE_ROOT = Path(nplstm.__file__).resolve().parents[1]
REFERENCE = PACKAGE_ROOT / "nplstm" / "functional" / "reference.py"


def _library_file(path: str) -> Path:
    """``nplstm/…`` paths quoted by the docs, in the package under test (``reference.py``
    alone: the page's subject, nplstm/functional/reference.py); others here."""
    if path == "reference.py":
        return REFERENCE
    return (PACKAGE_ROOT if path.startswith("nplstm/") else ROOT) / path


def _script():
    return load_script("make_derivation_table", ROOT / "docs" / "make_derivation_table.py")


def _code(line: str) -> str:
    """A source line without its comment, whitespace normalised."""
    return " ".join(line.split("#")[0].split())


def _lines(span: str) -> list:
    first, _, last = span.partition("–")
    return list(range(int(first), int(last or first) + 1))


def table_problems(doc: str, source_lines: list) -> list:
    """Every wrong number in the "every line of lstm_step_backward" table, checked without the
    script: a backward cell "73–74 `dtanh_c`, `dc_total`" must be exactly the lines that assign
    those names; a forward cell "58 `h = o * tanh_c`" must be line 58's code."""
    rows = re.findall(r"^\| (\d+(?:–\d+)?) ((?:`\w+`(?:, )?)+) \| (.*) \|$", doc, flags=re.M)
    assert len(rows) >= 9, f"the table has {len(rows)} rows"
    problems = []
    for span, names, undone in rows:
        names = re.findall(r"`(\w+)`", names)
        assigned = {}
        for number in _lines(span):
            match = re.match(r"\s*(\w+) = ", source_lines[number - 1])
            assigned[number] = match.group(1) if match else None
        if sorted(n for n in assigned.values() if n) != sorted(names) or None in \
                assigned.values():
            problems.append(f"lines {span} assign {list(assigned.values())}, not {names}")
        for number, code in re.findall(r"(\d+) `([^`]+)`", undone):
            if _code(source_lines[int(number) - 1]) != code:
                problems.append(f"line {number} is {source_lines[int(number) - 1].strip()!r}, "
                                f"not {code!r}")
    return problems


def test_the_committed_tables_are_what_the_script_writes_from_the_source():
    doc = DOC.read_text(encoding="utf-8")
    assert _script().render(doc, REFERENCE.read_text(encoding="utf-8")) == doc, \
        "docs/derivation.md: run python docs/make_derivation_table.py"
    assert _script().main(["--check"]) == 0


def test_every_line_number_in_the_table_holds_what_its_row_names():
    doc = DOC.read_text(encoding="utf-8")
    assert table_problems(doc, REFERENCE.read_text(encoding="utf-8").splitlines()) == []


def _shifted_source() -> str:
    """reference.py with one comment line added above lstm_step_forward: every number below
    it moves by one, as in the off-by-one the table once had."""
    source = REFERENCE.read_text(encoding="utf-8")
    return source.replace("def lstm_step_forward(", "# a new line\ndef lstm_step_forward(", 1)


def test_a_table_one_line_off_is_caught_both_ways():
    doc = DOC.read_text(encoding="utf-8")
    shifted = _shifted_source()
    assert _script().render(doc, shifted) != doc                       # the script sees it
    problems = table_problems(doc, shifted.splitlines())               # and so does the check
    assert len(problems) >= 9 and "line 58 is" in " ".join(problems)
    # and the table generated from the shifted source passes the independent check there
    assert table_problems(_script().render(doc, shifted), shifted.splitlines()) == []


def test_a_backward_line_no_row_names_stops_the_script():
    source = REFERENCE.read_text(encoding="utf-8").replace(
        "    dz = xp.concatenate(", "    dz_extra = dz_i * 2\n    dz = xp.concatenate(", 1)
    with pytest.raises(ValueError, match="dz_extra.*no row"):
        _script().step_backward_table(source)
    gone = REFERENCE.read_text(encoding="utf-8").replace("    dtanh_c = dh * o", "    pass", 1)
    with pytest.raises(ValueError, match="no longer assigns.*dtanh_c"):
        _script().step_backward_table(gone)


# -- quoted blocks from any library file -------------------------------------------------------

_QUOTE = r"\((nplstm/[\w/]+\.py|reference\.py):(\d+)(?:–(\d+))?"


def quote_problems(doc: str, read=lambda path: _library_file(path).read_text(encoding="utf-8")):
    """Blocks of code introduced by "(nplstm/FILE.py:A–B):" or followed by
    "(nplstm/FILE.py:A–B.)" ("reference.py:A–B" for the reference): each quoted line must be
    one of lines A…B of FILE, in order (whitespace aside), so that an edit of either shows.
    The problems, and the paths of the blocks checked."""
    normal = lambda line: " ".join(line.split())  # noqa: E731
    problems, checked = [], []
    for block in re.finditer(r"```(?:text|python)\n(.*?)```", doc, flags=re.S):
        before = re.search(_QUOTE + r"\):$", doc[:block.start()].rstrip())
        after = re.match(_QUOTE + r"\.\)", doc[block.end():].lstrip())
        named = before or after
        if not named:
            continue
        path, first = named.group(1), int(named.group(2))
        last = int(named.group(3) or first)
        lines = iter(normal(line) for line in read(path).splitlines()[first - 1:last])
        quoted = [normal(line) for line in block.group(1).splitlines() if line.strip()]
        missing = [q for q in quoted if q not in lines]          # consumes: keeps the order
        if missing:
            problems.append(f"{path}:{first}–{last} does not hold, in order: {missing}")
        checked.append(path)
    return problems, checked


def test_every_block_quoted_from_a_library_file_is_the_lines_it_names():
    problems, checked = quote_problems(DOC.read_text(encoding="utf-8"))
    assert problems == []
    by_path = sum(path.startswith("nplstm/") for path in checked)
    assert by_path >= 3, f"only {by_path} blocks quote nplstm/ files by path"
    assert checked.count("reference.py") >= 8, f"only {checked} quoted blocks found"


def test_a_quote_of_moved_lines_is_caught():
    doc = DOC.read_text(encoding="utf-8")

    def moved(path):                    # the files quoted by path get a line at the top
        text = _library_file(path).read_text(encoding="utf-8")
        return "# a new line\n" + text if path.startswith("nplstm/") else text
    problems, checked = quote_problems(doc, moved)
    by_path = [path for path in checked if path.startswith("nplstm/")]
    assert len(by_path) >= 3 and len(problems) == len(by_path)


def test_every_name_quoted_with_a_library_line_is_on_that_line():
    """"`NAME` (nplstm/FILE.py:N)" in the prose: line N of FILE holds NAME."""
    doc = DOC.read_text(encoding="utf-8")
    found = re.findall(r"`(\w+)` \((nplstm/[\w/]+\.py):(\d+)\)", doc)
    assert len(found) >= 2, found
    for name, path, number in found:
        line = _library_file(path).read_text(encoding="utf-8").splitlines()[int(number) - 1]
        assert re.search(rf"\b{name}\b", line), f"{path}:{number} is {line.strip()!r}, no {name}"


# the fast twins name the reference lines they compute (functional/cell.py, sequence.py, the
# gate kernels): a quote ``name`` (reference.py:A–B) must span that whole function, any other
# reference.py:A–B must begin and end on code
FAST_TWINS = ("nplstm/functional/cell.py", "nplstm/functional/sequence.py",
              "nplstm/kernels/numpy_gates.py", "nplstm/kernels/cupy_gates.py")


def test_the_fast_twins_quote_the_reference_lines_they_compute():
    import ast
    source = REFERENCE.read_text(encoding="utf-8")
    lines = source.splitlines()
    spans = {node.name: (node.lineno, node.end_lineno) for node in ast.parse(source).body
             if isinstance(node, ast.FunctionDef)}
    named = 0
    for path in FAST_TWINS:
        text = _library_file(path).read_text(encoding="utf-8")
        quotes = re.findall(r"(?:``(\w+)``\s+\()?reference\.py:(\d+)(?:–(\d+))?", text)
        assert quotes, f"{path} names no reference.py line"
        for name, first, last in quotes:
            first, last = int(first), int(last or first)
            if name:
                named += 1
                assert spans[name] == (first, last), (path, name)
            assert _code(lines[first - 1]) and _code(lines[last - 1]), (path, first, last)
    assert named >= 6                     # cell's four functions, sequence's two
