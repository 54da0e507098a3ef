"""The hostile-file suite (issue 21): every generated case of tests/hostile/cases.py is read
in a worker process under a memory limit (runner.MEMORY_MIB beyond its imports) and a time
limit (runner.CASE_SECONDS), in its own folder, and must give the right arrays or nplstm's
own one-line error; never a foreign exception, a crash, a hang, the limit, the outside
secrets, or a change to any file but its own output.  Cases marked xfail fail on main for
the issue-21 item they name; the fix turns them into XPASS (an error: remove the mark).

The cases are read in one pass (a session fixture, two workers answering many requests each),
then each test looks up its answers.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile import runner
from tests.hostile.cases import CASES
from tests.hostile.sandbox import Sandbox
from tests.hostile.worker import array_summary

CLI_CALLS = ("inspect", "convert")


def _param(case, mark_reason):
    marks = [pytest.mark.xfail(strict=True, reason=mark_reason)] if mark_reason else []
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="session")
def answers(tmp_path_factory):
    """{(case id, call): answer} for every case and call; build errors as {"build": …}."""
    sandbox = Sandbox(tmp_path_factory.mktemp("hostile"))
    requests, keys, found = [], [], {}
    for case in CASES:
        folder = sandbox.folder(case.id)
        try:
            path, expected = case.build(folder, sandbox)
        except Exception as err:           # a broken generator: the case's test says so
            found[case.id, case.call] = {"kind": "build", "error": f"{type(err).__name__}: {err}"}
            continue
        case.path, case.size = str(path), os.lstat(path).st_size
        case.expected = None if expected is None else array_summary(expected)["arrays"]
        watch = sandbox.watch(case.id)
        calls = [case.call] + (list(CLI_CALLS) if case.cli else [])
        for call in calls:
            requests.append({"call": call, "path": str(path), "watch": watch,
                             "out": str(sandbox.out_path(case.id)),
                             "memory_mib": case.memory_mib, "seconds": case.seconds})
            keys.append((case.id, call))
    workers = [runner.Worker(sandbox.cwd) for _ in range(2)]
    try:
        for key, answer in zip(keys, runner.run_all(requests, workers)):
            found[key] = answer
    finally:
        for worker in workers:
            worker.close()
    return found


def _check(answers, case, call):
    answer = answers[case.id, case.call if call is None else call]
    assert answer["kind"] != "build", f"the generator failed: {answer['error']}"
    problems = runner.verdict(answer, case)
    assert not problems, f"{case.id} ({case.why}): " + "; ".join(problems)


@pytest.mark.parametrize("case", [_param(c, c.xfail) for c in CASES])
def test_a_hostile_file_gives_its_arrays_or_one_line_of_nplstm(answers, case):
    _check(answers, case, None)


def _cli_reason(case, call):
    """The xfail reason of ``case``'s CLI run ``call`` (see cases.Case.cli_xfail)."""
    if case.cli_xfail is None:
        return case.xfail
    if isinstance(case.cli_xfail, dict):
        return case.cli_xfail.get(call)
    return case.cli_xfail or None


@pytest.mark.parametrize("case, call", [
    pytest.param(c, call, id=f"{c.id}-{call}",
                 marks=[pytest.mark.xfail(strict=True, reason=_cli_reason(c, call))]
                 if _cli_reason(c, call) else [])
    for c in CASES if c.cli for call in CLI_CALLS])
def test_the_cli_reads_a_hostile_file_in_bounded_output(answers, case, call):
    _check(answers, case, call)


def test_the_catalogue_covers_every_family_of_every_format():
    """Each format has its valid files and at least three hostile families."""
    families = {}
    for case in CASES:
        families.setdefault(case.format, set()).add(case.family)
    for fmt in ("pt", "torchscript", "safetensors", "npz", "onnx", "h5", "keras"):
        assert "valid" in families[fmt] and len(families[fmt] - {"valid"}) >= 3 - (
            fmt == "torchscript"), (fmt, families[fmt])
    everywhere = {"bomb", "nesting", "duplicate", "offsets", "dtype", "names", "links"}
    assert set().union(*families.values()) >= everywhere
    assert len({c.id for c in CASES}) == len(CASES)
