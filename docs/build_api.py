"""Build the API reference from the docstrings, with pdoc, into docs/api/ (or --out DIR).

    pip install pdoc            # or: pip install -e '.[docs]'
    python docs/build_api.py    # then open docs/api/index.html

Strict, as CI runs it: any warning pdoc gives (a type annotation it cannot resolve, a module
it cannot import, ...) is an error, and so is a docstring naming ``nplstm.<something>`` (in
backquotes) that does not exist: pdoc would leave such a name unlinked without a word.  Exit
status 0 when the reference is built, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the package and every module under it that its __all__ shows (pdoc follows __all__);
# nplstm.__all__ names only functional and workspace, so the other public subpackages are here
MODULES = ["nplstm", "nplstm.nn", "nplstm.interop", "nplstm.exercises"]
REFERENCE = r"`{1,2}(nplstm(?:\.[A-Za-z_]\w*)+)"


def resolves(dotted: str) -> bool:
    """Whether ``nplstm.a.b`` names a module, or an attribute of one, that exists."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for name in parts[k:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def broken_references(package_dir: Path) -> list[str]:
    """``file:line: `name` ...`` for every docstring reference to an nplstm name that does
    not resolve, in every module, class and function docstring under ``package_dir``."""
    import re

    pattern = re.compile(REFERENCE)
    problems = []
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                     ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node, clean=False)
            if not doc:
                continue
            line = node.body[0].lineno
            for name in pattern.findall(doc):
                if not resolves(name):
                    problems.append(f"{path.relative_to(package_dir.parent)}:{line}: "
                                    f"docstring names `{name}`, which does not exist")
    return problems


def build(out: Path) -> list[str]:
    """Render the reference into ``out``; the problems found (empty when none)."""
    import pdoc  # noqa: PLC0415 - an optional tool, named in the error below when missing

    problems = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.render.configure(docformat="restructuredtext", show_source=False,
                              footer_text="nplstm API reference")
        pdoc.pdoc(*MODULES, output_directory=out)
    problems += [f"pdoc: {w.message}".splitlines()[0] for w in caught]
    import nplstm  # noqa: PLC0415

    problems += broken_references(Path(nplstm.__file__).resolve().parent)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "api",
                        help="output directory (default: docs/api)")
    args = parser.parse_args(argv)
    try:
        import pdoc  # noqa: F401, PLC0415
    except ImportError:
        print("build_api: pdoc is not installed (pip install pdoc)", file=sys.stderr)
        return 1
    problems = build(args.out)
    for problem in problems:
        print(f"build_api: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"API reference: {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
