"""What a release ships besides the code: the PyPI page built from README.md (setup.py), the
licence, the citation and changelog at the package's version, and the README's commands that
need a file the reader does not have yet."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

import nplstm

from .helpers import ROOT, load_script



def _setup_module():
    return load_script("nplstm_setup", ROOT / "setup.py")


def test_the_pypi_page_has_only_absolute_links_into_the_repository_at_the_release_tag():
    setup = _setup_module()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    repository = setup.pyproject_value(pyproject, "Repository")
    page = setup.long_description()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    relative = re.findall(r"!?\[[^\[\]]*\]\((?![a-z]+:|#)([^()\s]+)\)", readme)
    assert len(relative) >= 10                      # the README does link its pages
    targets = re.findall(r"(!?)\[[^\[\]]*\]\(([^()\s]+)\)", page)
    assert targets and all(t.startswith(("https://", "http://", "#")) for _, t in targets)
    tag = f"v{nplstm.__version__}"
    for bang, target in targets:
        if target.startswith(repository):
            kind, ref, path = target[len(repository) + 1:].split("/", 2)
            assert (kind, ref) == ("raw" if bang else "blob", tag), target
            assert (ROOT / path).is_file(), target  # it names a file of the repository
    assert sorted(t[len(repository):].split("/", 3)[3] for _, t in targets
                  if t.startswith(repository)) == sorted(relative)
    # the rest of the page is README.md, unchanged
    assert re.sub(r"\]\([^)]*\)", "]", page) == re.sub(r"\]\([^)]*\)", "]", readme)


def test_pypi_readme_leaves_absolute_links_and_anchors_alone():
    setup = _setup_module()
    text = ("[a](docs/a.md) ![b](./b.png) [c](https://x.org/c) [d](#d) [e](mailto:e@x.org)")
    assert setup.pypi_readme(text, "https://host/r/", "v1") == (
        "[a](https://host/r/blob/v1/docs/a.md) ![b](https://host/r/raw/v1/b.png) "
        "[c](https://x.org/c) [d](#d) [e](mailto:e@x.org)")
    with pytest.raises(ValueError, match="no Repository"):
        setup.pyproject_value("[project]\n", "Repository")


def test_licence_citation_and_changelog_match_the_package():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^version = "(.*)"', pyproject, re.M).group(1) == nplstm.__version__
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert 'license = "MIT"' in pyproject and 'license-files = ["LICENSE"]' in pyproject
    citation = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert re.search(r"^version: \"?([^\"\n]+)\"?$", citation, re.M).group(1) == \
        nplstm.__version__
    assert "cff-version: 1.2.0" in citation and "license: MIT" in citation
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## \[?{re.escape(nplstm.__version__)}\]?", changelog, re.M)


def test_the_readme_makes_the_file_its_inspect_command_reads(tmp_path):
    """The README's `python -c ...` line writes model.pt; `nplstm inspect model.pt` and
    `nplstm convert model.pt model.safetensors`, as printed there, then work."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    make = re.search(r"^    (python -c .*model\.pt.*)$", readme, re.M).group(1)
    argv = shlex.split(make)
    subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, check=True)
    run = subprocess.run([sys.executable, "-m", "nplstm", "inspect", "model.pt"], cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    assert "weight_hh_l1" in run.stdout and "nplstm.LSTM" in run.stdout
    assert "nplstm inspect model.pt" in readme


def test_the_api_build_refuses_a_docstring_naming_nothing(tmp_path):
    build_api = load_script("build_api", ROOT / "docs" / "build_api.py")
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "m.py").write_text('"""Module."""\n\n\ndef f():\n    """Like ``nplstm.no_grad'
                                  '`` and `nplstm.functional.lstm_cel_backward`."""\n')
    assert build_api.broken_references(package) == [
        "pkg/m.py:5: docstring names `nplstm.functional.lstm_cel_backward`, which does not "
        "exist"]
    assert build_api.resolves("nplstm.functional.reference.lstm_cell_backward")
    assert not build_api.resolves("nplstm.nosuchmodule")
