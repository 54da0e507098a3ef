"""The course notebooks (examples/notebooks/): each runs top to bottom without an error, and
each stored notebook is its source (``src/NAME.py``) with the outputs of a real run.

Running them needs nbclient, nbformat and ipykernel (the test extra) and, for the plots,
matplotlib (``pip install 'nplstm[notebooks]'``); without them those tests skip and say why.
Each notebook runs in its own temporary directory with the kernel of this Python
(``build.kernel_of_this_python``), whatever "python3" kernel Jupyter would find first.
"""

import json
import os
import pathlib
import re
import sys

import pytest

from .helpers import ROOT, load_script


NOTEBOOK_DIR = ROOT / "examples" / "notebooks"


def _load_build():
    return load_script("notebook_build", NOTEBOOK_DIR / "build.py")


build = _load_build()

# per notebook: the optional packages it imports (directly, or through what it runs), and
# the seconds one of its cells may take (each whole notebook takes ~2-20 s on 2 cores)
NEEDS = {
    "01_cell_by_hand": ((), 60),
    "02_bptt_vanishing_gradients": (("matplotlib",), 60),
    "03_gradient_checking": (("matplotlib",), 60),
    "04_what_the_cells_learn": (("matplotlib",), 120),   # training + gates.png
    "05_rnn_gru_lstm": (("matplotlib",), 60),            # three small adding-problem runs
}


def _stored(name: str) -> dict:
    return json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def test_every_source_has_its_notebook_and_a_test_entry():
    sources = sorted(p.stem for p in (NOTEBOOK_DIR / "src").glob("*.py"))
    assert sources == sorted(build.NOTEBOOKS) == sorted(NEEDS)
    for name in sources:
        assert (NOTEBOOK_DIR / f"{name}.ipynb").is_file(), f"{name}.ipynb: run build.py"


@pytest.mark.parametrize("name", build.NOTEBOOKS)
def test_stored_notebook_is_its_source(name):
    """The .ipynb holds the cells of src/NAME.py, in order: edit the source, then rebuild."""
    stored = [(cell["cell_type"], _text(cell["source"])) for cell in _stored(name)["cells"]]
    assert stored == build.read_cells(NOTEBOOK_DIR / "src" / f"{name}.py")


@pytest.mark.parametrize("name", build.NOTEBOOKS)
def test_stored_notebook_holds_the_outputs_of_a_clean_run(name):
    """Every code cell was run, once, in order, and none of them stored an error."""
    code = [cell for cell in _stored(name)["cells"] if cell["cell_type"] == "code"]
    assert [cell["execution_count"] for cell in code] == list(range(1, len(code) + 1))
    outputs = [out for cell in code for out in cell["outputs"]]
    assert outputs, f"{name}: no outputs stored; run build.py"
    assert not [out for out in outputs if out["output_type"] == "error"]
    assert not [out for out in outputs if "Traceback" in _text(out.get("text", ""))]


def test_read_cells_splits_markdown_and_code(tmp_path):
    source = tmp_path / "nb.py"
    source.write_text("# %% [markdown]\n# # Title\n#\n# $x^2$\n\n# %%\nx = 1\n\n\n# %%\n"
                      "print(x)  # %% not a marker\n", encoding="utf-8")
    assert build.read_cells(source) == [("markdown", "# Title\n\n$x^2$"), ("code", "x = 1"),
                                        ("code", "print(x)  # %% not a marker")]


@pytest.mark.parametrize("text, message", [
    ("x = 1\n# %%\n", "text before the first"),
    ("# %% [markdown]\nnot a comment\n", "must start with '# '"),
])
def test_read_cells_refuses_a_malformed_source(tmp_path, text, message):
    source = tmp_path / "nb.py"
    source.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        build.read_cells(source)


def _notebook_runner():
    """nbformat, after skipping when a package that runs notebooks is missing."""
    for package in ("nbformat", "nbclient", "ipykernel"):
        pytest.importorskip(package, reason=f"running the notebooks needs {package} "
                            "(pip install 'nplstm[test]')")
    import nbformat  # noqa: PLC0415

    return nbformat


def test_the_kernel_is_this_python(tmp_path, monkeypatch):
    """Not whichever "python3" kernel Jupyter finds first: a user's own "python3" spec
    pointing at another interpreter is on JUPYTER_PATH here, and is not used."""
    nbformat = _notebook_runner()
    decoy = tmp_path / "decoy" / "kernels" / "python3"
    decoy.mkdir(parents=True)
    (decoy / "kernel.json").write_text(json.dumps({
        "argv": ["/nonexistent/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "another Python", "language": "python"}), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "decoy"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os, sys; print(sys.executable); print(os.getcwd())")])
    build.execute(nb, tmp_path, timeout=60)
    executable, cwd = nb.cells[0].outputs[0]["text"].split()
    assert pathlib.Path(executable) == pathlib.Path(sys.executable)
    assert pathlib.Path(cwd).resolve() == tmp_path.resolve()
    assert os.environ["JUPYTER_PATH"] == str(tmp_path / "decoy")      # restored


@pytest.mark.parametrize("name", build.NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, tmp_path):
    nbformat = _notebook_runner()
    packages, cell_timeout = NEEDS[name]
    for package in packages:
        pytest.importorskip(package, reason=f"{name} needs {package} "
                            "(pip install 'nplstm[notebooks]')")
    nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    build.execute(nb, tmp_path, timeout=cell_timeout)     # a cell that raises fails here
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    assert not [out for cell in code for out in cell.outputs if out.output_type == "error"]


# -- the "your turn" cells, graded inline ----------------------------------------------------

# per exercise a notebook checks: one mistake planted in the library's solution (text, its
# replacement) and words the failing result must hold
WRONG_ANSWERS = {
    "lstm_cell_forward": ("i = sigmoid(z[:, 0 * H:1 * H])", "i = sigmoid(z[:, 1 * H:2 * H])"),
    "rnn_step": ("dz = dh * (1 - h * h)", "dz = dh"),
    "linear": ("db = dy.sum(axis=0)", "db = dy[0]"),
    "softmax_cross_entropy": ("shifted = logits - logits.max(axis=1, keepdims=True)",
                              "shifted = logits"),
    "gru_cell": ("h = (1 - z) * n + z * h_prev", "h = z * n + (1 - z) * h_prev"),
}
_CHECK = re.compile(r'^result = check\("(\w+)", globals\(\)\)$', flags=re.M)


def _check_cells(name: str) -> list:
    """(exercise, the check cell's code) of each check cell of notebook ``name``'s source."""
    cells = build.read_cells(NOTEBOOK_DIR / "src" / f"{name}.py")
    return [(match.group(1), text) for kind, text in cells if kind == "code"
            for match in [_CHECK.search(text)] if match]


def _answer(exercise: str, wrong: bool) -> dict:
    """A namespace like a notebook's globals() once the learner's cell ran: the library's
    solution of ``exercise``, or that solution with one planted mistake."""
    from nplstm.exercises import catalog  # noqa: PLC0415
    source = catalog.solution_source(exercise)
    if wrong:
        old, new = WRONG_ANSWERS[exercise]
        assert source.count(old) == 1, (exercise, old)
        source = source.replace(old, new)
    namespace = {"__name__": "__main__"}
    exec(compile(source, f"<your {exercise} cell>", "exec"), namespace)   # noqa: S102
    return namespace


def test_every_notebook_has_a_check_cell_whose_exercise_has_a_planted_mistake():
    found = {name: [exercise for exercise, _ in _check_cells(name)] for name in build.NOTEBOOKS}
    assert all(found.values()), found
    assert sorted(e for exercises in found.values() for e in exercises) == sorted(WRONG_ANSWERS)


@pytest.mark.parametrize("exercise,cell", [pair for name in build.NOTEBOOKS
                                          for pair in _check_cells(name)])
def test_a_check_cell_passes_a_right_answer_and_fails_a_wrong_one(exercise, cell):
    """The notebook's own check cell, run after a right and after a wrong "your turn" cell."""
    right = _answer(exercise, wrong=False)
    exec(cell, right)                                                      # noqa: S102
    assert right["result"].passed, str(right["result"])
    assert f"PASS: {exercise}" in str(right["result"])
    wrong = _answer(exercise, wrong=True)
    exec(cell, wrong)                                                      # noqa: S102
    assert not wrong["result"].passed
    assert f"FAIL: {exercise}" in str(wrong["result"])
    assert "<table" in wrong["result"]._repr_html_()                      # what Jupyter shows


@pytest.mark.parametrize("name", build.NOTEBOOKS)
def test_every_question_folds_its_answer_away(name):
    cells = build.read_cells(NOTEBOOK_DIR / "src" / f"{name}.py")
    questions = [text for kind, text in cells if kind == "markdown" and "**Question.**" in text]
    assert questions, f"{name} asks no question"
    for text in questions:
        assert text.index("**Question.**") < text.index("<details><summary>Answer</summary>")
        assert text.rstrip().endswith("</details>")


def test_notebook_04_writes_its_run_outside_the_repository():
    source = (NOTEBOOK_DIR / "src" / "04_what_the_cells_learn.py").read_text(encoding="utf-8")
    assert 'RUN = Path(tempfile.mkdtemp(prefix="nplstm-notebook04-")) / "run"' in source
    assert '"--out", str(RUN)' in source and "runs/" not in source
