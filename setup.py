"""setuptools' entry for nplstm: pyproject.toml holds the project; this file adds one thing,
the long description for PyPI.  It is README.md with its relative links and images made
absolute, to the repository at this version's tag (the Repository URL of pyproject's
[project.urls], the one place the address is written), so that they work on the PyPI page;
README.md itself stays as it reads in the repository."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
# ![alt](target) or [text](target), target without spaces; text without brackets inside
LINK = re.compile(r"(!?)\[([^\[\]]*)\]\(([^()\s]+)\)")
ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:|#")     # a scheme (https:, mailto:) or #anchor


def pyproject_value(pyproject: str, key: str) -> str:
    """The first ``key = "value"`` of pyproject.toml's text (``version``, ``Repository``)."""
    match = re.search(rf'^{re.escape(key)}\s*=\s*"([^"]+)"', pyproject, flags=re.MULTILINE)
    if match is None:
        raise ValueError(f"pyproject.toml has no {key} = \"...\"")
    return match.group(1)


def pypi_readme(readme: str, repository: str, ref: str) -> str:
    """``readme`` with every relative link pointing into ``repository`` at ``ref``: pages
    under /blob/ (rendered there), images under /raw/ (the file itself)."""
    def absolute(match: re.Match) -> str:
        bang, text, target = match.groups()
        if ABSOLUTE.match(target):
            return match.group(0)
        kind = "raw" if bang else "blob"
        return f"{bang}[{text}]({repository.rstrip('/')}/{kind}/{ref}/{target.lstrip('./')})"
    return LINK.sub(absolute, readme)


def long_description() -> str:
    pyproject = (HERE / "pyproject.toml").read_text(encoding="utf-8")
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    return pypi_readme(readme, pyproject_value(pyproject, "Repository"),
                       "v" + pyproject_value(pyproject, "version"))


if __name__ == "__main__":           # setuptools runs this file as __main__; tests import it
    from setuptools import setup

    setup(long_description=long_description(), long_description_content_type="text/markdown")
