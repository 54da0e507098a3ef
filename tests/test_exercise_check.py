"""``nplstm.exercises.check(name, namespace)``: functions defined in a notebook or a REPL,
graded in a forked child (or in this process), with a result that reads as text (the CLI's),
as an HTML table (Jupyter) and as JSON; and ``nplstm exercise start NAME --notebook``.
"""

from __future__ import annotations

import importlib.util
import json
import linecache
import os
import sys
import time
import types

import numpy as np
import pytest

from nplstm.cli.main import main
from nplstm.exercises import (GradeResult, check, format_text, grade_here, solution_source,
                              start_notebook, stub_source)
from nplstm.exercises.tutor import check_cell


_CELLS = iter(range(10**6))


def _namespace(source: str) -> dict:
    """The globals of a notebook after running ``source`` in a cell: its code's file name is
    the cell's, whose lines IPython keeps in ``linecache``."""
    filename = f"<ipython-input-{next(_CELLS)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)               # noqa: S102
    return namespace


def _solution(name):
    return _namespace(solution_source(name))


@pytest.mark.parametrize("isolate", [True, False])
def test_a_solution_in_a_dict_passes_and_a_stub_fails(isolate):
    result = check("linear", _solution("linear"), isolate=isolate)
    assert isinstance(result, GradeResult) and result.passed is True
    stub = check("linear", _namespace(stub_source("linear")), isolate=isolate)
    assert stub.passed is False
    assert stub.reports[0].problem == ("not written yet: linear_backward raises "
                                       "NotImplementedError")


@pytest.mark.parametrize("name", ["lstm_cell_backward", "rnn_step", "lstm_bptt"])
def test_every_quick_solution_passes_through_check(name):
    """The grader may call functions the stub gives (lstm_cell_backward's grader runs the
    given lstm_cell_forward): check passes them on from the namespace too, so the library's
    own solution passes (it failed with "namespace holds no lstm_cell_forward"-like errors
    before ``Exercise.given``)."""
    result = check(name, _solution(name), isolate=False)
    assert result.passed, str(result)


def test_a_given_function_missing_from_the_namespace_is_named():
    ns = _solution("lstm_cell_backward")
    del ns["lstm_cell_forward"]
    with pytest.raises(ValueError, match="lstm_cell_forward"):
        check("lstm_cell_backward", ns, isolate=False)


def test_a_module_is_a_namespace_too():
    module = types.ModuleType("learner")
    exec(solution_source("lstm_bptt"), module.__dict__)                # noqa: S102
    assert check("lstm_bptt", module).passed


def test_a_planted_mistake_is_named_through_check():
    ns = _solution("linear")

    def linear_backward(dy, x, W, b):
        return dy @ W, dy.T @ x, dy[0]          # db one row

    ns["linear_backward"] = linear_backward
    result = check("linear", ns)
    where = {row.name: row.where for row in result.reports[0].rows}
    assert not result.passed
    assert where == {"dx": "", "dW": "", "db": where["db"]}
    assert where["db"].startswith("not summed over the batch")


def test_a_crash_names_the_line_of_the_cell_and_the_transpose():
    ns = _namespace("import numpy as np\n"
                    "def linear_backward(dy, x, W, b):\n"
                    "    dx = dy @ W.T\n"
                    "    return dx, dy.T @ x, dy.sum(0)\n")
    problem = check("linear", ns).reports[0].problem
    assert problem.startswith("linear_backward crashed: ValueError")
    assert "(line 3); transpose? dy @ W.T multiplies" in problem


def test_the_child_is_a_copy_the_parent_keeps_its_state():
    """The functions run in a fork: what they change in their globals stays there."""
    ns = _namespace(solution_source("linear").replace(
        "def linear_backward(dy, x, W, b):",
        "calls = 0\n\n\ndef linear_backward(dy, x, W, b):\n    global calls\n    calls += 1"))
    assert check("linear", ns).passed
    assert ns["calls"] == 0                          # counted in the child only
    assert check("linear", ns, isolate=False).passed
    assert ns["calls"] == 4                          # in this process: one per case


def test_an_endless_loop_stops_at_the_time_limit_with_its_process_group(tmp_path):
    marker = tmp_path / "pid"
    ns = _namespace("import os, subprocess, sys\n"
                    "def linear_backward(dy, x, W, b):\n"
                    "    p = subprocess.Popen([sys.executable, '-c', 'import time; "
                    "time.sleep(60)'])\n"
                    f"    open({str(marker)!r}, 'w').write(str(p.pid))\n"
                    "    while True:\n"
                    "        pass\n")
    start = time.monotonic()
    result = check("linear", ns, timeout=3)
    assert time.monotonic() - start < 20
    assert result.problem == ("stopped after 3 s: does your code loop forever? (raise the "
                              "limit with check(..., timeout=S))")
    pid = int(marker.read_text())
    for _ in range(100):                     # killed with its group (then reaped by init)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                break
        time.sleep(0.05)
    else:
        pytest.fail("the process the learner's function started is still running")


def test_a_function_that_ends_the_child_fails_without_taking_the_caller_down():
    ns = _namespace("import os\ndef linear_backward(dy, x, W, b):\n    os._exit(3)\n")
    result = check("linear", ns)
    assert result.problem == "grading your code ended without a result (exit status 3)"
    assert not result.passed


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((3, {}), {}, TypeError, "name must be the name of an exercise (a str), got int"),
    (("nope", {}), {}, ValueError, "unknown exercise 'nope'; the exercises are: "),
    (("linear", [1]), {}, TypeError, "namespace must be a dict (such as globals()) or a "
                                      "module holding linear_backward, got list"),
    (("lstm_bptt", {"lstm_forward": print}), {}, ValueError,
     "namespace holds no lstm_backward: define it (the exercise's functions: lstm_forward, "
     "lstm_backward), then check again"),
    (("linear", {"linear_backward": 3}), {}, TypeError,
     "namespace['linear_backward'] must be a function, got int"),
    (("linear", {"linear_backward": print}), {"timeout": 0}, ValueError,
     "timeout (seconds) must be a finite real number in (0, 31536000], got 0"),
    (("linear", {"linear_backward": print}), {"timeout": "5"}, TypeError,
     "timeout (seconds) must be a finite real number in (0, 31536000], got str '5'"),
    (("linear", {"linear_backward": print}), {"isolate": 1}, TypeError,
     "isolate must be True or False, got int"),
])
def test_bad_arguments_are_refused_naming_them(args, kwargs, error, message):
    with pytest.raises(error) as info:
        check(*args, **kwargs)
    assert str(info.value).startswith(message)


def test_the_result_reads_as_the_cli_text_and_as_escaped_html(tmp_path, capsys):
    path = tmp_path / "linear.py"
    path.write_text(solution_source("linear").replace("db = dy.sum(axis=0)", "db = dy[0]"))
    assert main(["exercise", "check", "linear", "--dir", str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    result = grade_here(path, "linear")
    assert printed == str(result) + "\n" == format_text(result) + "\n"
    assert "not summed over the batch" in printed
    page = result._repr_html_()
    assert page.count("<tr>") == 4 and "FAIL: linear_backward not right yet" in page
    assert "not summed over the batch" in page

    ns = _namespace("def linear_backward(dy, x, W, b):\n"
                    "    raise ValueError('<script>alert(1)</script> & co')\n")
    page = check("linear", ns)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page


def test_the_json_holds_every_verdict_and_reads_back(tmp_path, capsys):
    path = tmp_path / "linear.py"
    path.write_text(solution_source("linear").replace("db = dy.sum(axis=0)", "db = dy[0]"))
    assert main(["exercise", "check", "linear", "--dir", str(tmp_path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False and data["reports"][0]["passed"] is False
    assert [(r["name"], r["passed"]) for r in data["reports"][0]["rows"]] == [
        ("dx", True), ("dW", True), ("db", False)]
    assert data["tolerances"] == {"reference": 1e-8, "differences": 1e-6}
    for report in data["reports"]:
        del report["passed"]
        for row in report["rows"]:
            del row["passed"]
    del data["passed"], data["tolerances"]
    assert GradeResult.from_dict(data).to_dict() == grade_here(path, "linear").to_dict()


def test_start_notebook_writes_the_stub_and_a_check_cell(tmp_path, capsys):
    assert main(["exercise", "start", "lstm_bptt", "--dir", str(tmp_path), "--notebook"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {tmp_path / 'lstm_bptt.ipynb'}: ")
    notebook = json.loads((tmp_path / "lstm_bptt.ipynb").read_text(encoding="utf-8"))
    assert (notebook["nbformat"], notebook["nbformat_minor"]) == (4, 5)
    code = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code == [stub_source("lstm_bptt").rstrip("\n"), check_cell("lstm_bptt")]
    assert len({c["id"] for c in notebook["cells"]}) == len(notebook["cells"])
    before = (tmp_path / "lstm_bptt.ipynb").read_bytes()
    with pytest.raises(FileExistsError):
        start_notebook("lstm_bptt", tmp_path)
    assert (tmp_path / "lstm_bptt.ipynb").read_bytes() == before


NOTEBOOK_PACKAGES = ("nbformat", "nbclient", "ipykernel")


@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in NOTEBOOK_PACKAGES),
                    reason="running a notebook needs nbformat, nbclient and ipykernel")
def test_the_notebooks_check_cell_grades_in_a_kernel_wrong_then_right(tmp_path):
    """The written notebook, run in a real kernel: the stub's check cell shows a FAIL table,
    the solution's a PASS table (the functions live in the kernel's __main__)."""
    import nbformat
    from tests.test_notebooks import build

    path = start_notebook("linear", tmp_path)
    html = []
    for source in (None, solution_source("linear")):
        nb = nbformat.read(path, as_version=4)
        if source is not None:
            nb.cells[1].source = source
        build.execute(nb, tmp_path, timeout=120)
        outputs = nb.cells[3].outputs
        html.append(outputs[0]["data"]["text/html"])
    assert "not written yet: linear_backward raises NotImplementedError" in html[0]
    assert "FAIL: linear" in html[0]
    assert "PASS: linear is right" in html[1] and html[1].count("<tr>") == 4
