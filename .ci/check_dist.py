"""What the built archives must hold (the tools leg of .ci/run): python .ci/check_dist.py DIST

- the wheel: the package with py.typed, the licence, METADATA with the licence expression,
  the project URLs, and a description whose links are all absolute (the PyPI page);
- the sdist: the licence, and the test tree that runs from it (conftest, helpers,
  fixtures) with the docs, examples and benchmarks the tests read.
"""

from __future__ import annotations

import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path


def check_wheel(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as wheel:
        names = set(wheel.namelist())
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(wheel.read(meta_name).decode("utf-8"))
    problems = [f"wheel lacks {need}" for need in ("nplstm/__init__.py", "nplstm/py.typed",
                                                   "nplstm/functional/reference.pyi",
                                                   "nplstm/exercises/solutions/linear.py")
                if need not in names]
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append("wheel lacks the LICENSE file")
    if metadata.get("License-Expression") != "MIT":
        problems.append(f"License-Expression is {metadata.get('License-Expression')!r}")
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    if "Repository" not in urls:
        problems.append("no Repository project URL")
    description = metadata.get_payload()
    relative = [t for t in re.findall(r"\]\(([^()\s]+)\)", description)
                if not re.match(r"[a-z]+:|#", t)]
    if relative:
        problems.append(f"the PyPI description has relative links: {relative}")
    if not description.lstrip().startswith("# nplstm"):
        problems.append("the PyPI description is not the README")
    return problems


def check_sdist(path: Path) -> list[str]:
    with tarfile.open(path) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    needed = ["LICENSE", "README.md", "CHANGELOG.md", "CITATION.cff", "pyproject.toml",
              "setup.py", "nplstm/py.typed", "tests/conftest.py", "tests/helpers.py",
              "tests/strategies.py", "tests/fixtures/cell.npz", "docs/guide.md",
              "examples/char_lm.py", "benchmarks/bench_lstm.py"]
    problems = [f"sdist lacks {need}" for need in needed if need not in names]
    problems += [f"sdist holds {n}" for n in names
                 if "__pycache__" in n or n.endswith(".pyc") or n.startswith("docs/api/")]
    return problems


def main(dist: str) -> int:
    paths = sorted(Path(dist).iterdir())
    wheels = [p for p in paths if p.suffix == ".whl"]
    sdists = [p for p in paths if p.name.endswith(".tar.gz")]
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"check_dist: expected one wheel and one sdist in {dist}, got "
              f"{[p.name for p in paths]}")
        return 1
    problems = check_wheel(wheels[0]) + check_sdist(sdists[0])
    for problem in problems:
        print(f"check_dist: {problem}")
    if not problems:
        print(f"check_dist: {wheels[0].name} and {sdists[0].name} hold what they must")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
