"""A hostile learner cannot forge a grade: the learner's code runs in a child that only hands
back arrays over a pickle-free wire, the grader decides in its own process, and the child's
whole process group goes at the end or at the time limit.

Each false PASS below was reproduced on b10917c (the child graded itself and wrote the verdict
as JSON to a path in its own argv) before the grader moved into the parent.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st

from nplstm.exercises import grade, grade_here, solution_source
from nplstm.exercises.learner import Learner, Server
from nplstm.exercises.wire import ChannelError, Opaque, decode, encode


def _write(tmp_path, name, source) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def _report(result, function):
    return next(r for r in result.reports if r.function == function)


# --- item 16: two false passes ------------------------------------------------------------

AGREEABLE = '''
import numpy as np


class Agreeable(np.ndarray):
    """An array whose differences are all zero: got − want would say "no error"."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.subtract:
            return np.zeros(np.broadcast_shapes(*(np.shape(a) for a in inputs)))
        return getattr(ufunc, method)(*[np.asarray(a) for a in inputs], **kwargs)


def linear_backward(dy, x, W, b):
    return (np.zeros(x.shape).view(Agreeable), np.zeros(W.shape).view(Agreeable),
            np.zeros(b.shape).view(Agreeable))
'''


@pytest.mark.parametrize("isolate", [True, False])
def test_an_array_subclass_that_hides_its_errors_fails(tmp_path, isolate):
    """An ndarray subclass whose np.subtract gives zeros passed ``linear``: now the grader
    compares a plain ndarray copy of its data (zeros), and names it."""
    path = _write(tmp_path, "linear", AGREEABLE)
    result = grade(path, "linear", isolate=isolate)
    assert not result.passed
    rows = _report(result, "linear_backward").rows
    assert [row.name for row in rows] == ["dx", "dW", "db"]
    assert all(row.reference == 1.0 and row.where == "all zeros: no gradient reaches it"
               for row in rows)


FORGER = '''
import json, os, sys

row = {"name": "dx", "reference": 0.0, "differences": 0.0, "where": ""}
verdict = {"exercise": "linear", "path": __file__, "cases": 4, "problem": "",
           "reports": [{"function": "linear_backward", "rows": [row], "problem": ""}]}
for target in sys.argv[1:]:                      # b10917c's child: argv[3] was the result path
    if target.endswith(".json"):
        with open(target, "w") as out:
            out.write(json.dumps(verdict))
os._exit(0)
'''


def test_a_file_that_writes_the_verdict_and_exits_0_fails(tmp_path):
    """A file that wrote a passing result JSON to the grader's result path (sys.argv[3]) and
    called os._exit(0) passed: now a child that ends without sending its functions' values
    fails, whatever its exit status."""
    path = _write(tmp_path, "linear", FORGER)
    result = grade(path, "linear")
    assert not result.passed and not result.reports
    assert result.problem == "grading linear.py ended without a result (exit status 0)"


def test_exiting_0_in_the_middle_of_grading_fails(tmp_path):
    """The right function for the first calls, then os._exit(0): no verdict without arrays."""
    source = solution_source("linear").replace(
        "    dx = dy @ W ", "    if dy.shape[0] == 3:\n        import os; os._exit(0)\n"
        "    dx = dy @ W ")
    result = grade(_write(tmp_path, "linear", source), "linear")
    assert not result.passed
    assert result.problem == "grading linear.py ended without a result (exit status 0)"


def _frame(header) -> bytes:
    head = json.dumps(header).encode()
    message = len(head).to_bytes(4, "big") + head
    return len(message).to_bytes(8, "big") + message


GARBAGE = '''
import os

for fd in range(3, 64):                       # whatever the grader's pipe is, write into it
    try:
        os.write(fd, {payload!r})
    except OSError:
        pass
'''


@pytest.mark.parametrize("payload, words", [
    ((16).to_bytes(8, "big") + b"not a message!!!",
     "a header of 1852797984 bytes in a message of 16"),
    ((12).to_bytes(8, "big") + (8).to_bytes(4, "big") + b"{'a': 1}",
     "unreadable message (JSONDecodeError)"),
    ((2**40).to_bytes(8, "big"), "a reply of 1099511627776 bytes (at most 67108864)"),
    (_frame({"loaded": True, "arrays": [["|O", []]]}), "dtype '|O' is not a plain numeric "
     "dtype"),
])
def test_writing_into_the_graders_pipe_fails_with_a_sentence(tmp_path, payload, words):
    source = GARBAGE.format(payload=payload) + solution_source("linear")
    result = grade(_write(tmp_path, "linear", source), "linear")
    assert not result.passed and not result.reports
    assert result.problem.startswith("grading linear.py stopped: what its process sent back "
                                     "is not arrays from your functions (")
    assert words in result.problem, result.problem


def test_an_object_array_and_a_list_are_sentences_not_crashes(tmp_path):
    path = _write(tmp_path, "linear", solution_source("linear").replace(
        "return dx, dW, db", "return dx.astype(object), dW, db"))
    assert _report(grade_here(path, "linear"), "linear_backward").problem == (
        "dx has dtype object, expected float64 (the inputs' dtype): return an array of numbers")
    path = _write(tmp_path, "linear", solution_source("linear").replace(
        "return dx, dW, db", "return list(dx), dW, db"))
    assert _report(grade_here(path, "linear"), "linear_backward").problem == (
        "dx is a list, expected a NumPy array of shape (1, 3) = (N, I)")


def test_the_learners_arguments_are_fresh_copies_each_call(tmp_path):
    """The learner's in-place change of an argument or of a returned array cannot reach the
    grader's arrays: what crosses the wire is copied both ways."""
    source = solution_source("linear").replace(
        "    dx = dy @ W ", "    dy *= 0; x[...] = 0\n    dx = dy @ W ")
    result = grade_here(_write(tmp_path, "linear", source), "linear")
    assert not result.passed               # the learner zeroed its own copies, nothing else
    assert _report(result, "linear_backward").rows[0].where == \
        "all zeros: no gradient reaches it"
    assert grade_here(_write(tmp_path, "linear", solution_source("linear")), "linear").passed


# --- item 17: the time limit kills what the learner's file started ------------------------

SPAWNER = '''
import subprocess
from pathlib import Path

sleeper = subprocess.Popen(["sleep", "300"])
Path({pid_file!r}).write_text(str(sleeper.pid))
while True:
    pass
'''


def _running(pid: int) -> bool:
    """Whether ``pid`` is alive (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_time_limit_kills_the_processes_the_file_started(tmp_path):
    """The learner's file starts a sleeping grandchild and loops: after the timeout both are
    gone (b10917c killed only the child; the grandchild slept on)."""
    pid_file = tmp_path / "sleeper.pid"
    path = _write(tmp_path, "linear", SPAWNER.format(pid_file=str(pid_file)))
    result = grade(path, "linear", timeout=4)
    assert result.problem == ("stopped after 4 s: does linear.py loop forever? (raise the "
                              "limit with --timeout)")
    assert pid_file.exists(), "the learner's file did not get to start its process"
    pid = int(pid_file.read_text())
    end = time.monotonic() + 5
    while _running(pid) and time.monotonic() < end:
        time.sleep(0.05)
    if _running(pid):
        os.kill(pid, 9)
        pytest.fail(f"the learner's process {pid} outlived the time limit")


# --- the wire -----------------------------------------------------------------------------

def test_the_wire_round_trips_plain_arrays_and_refuses_anything_else():
    arrays = [np.arange(6.0).reshape(2, 3), np.array(3, dtype=np.int32), np.zeros((0, 4)),
              np.array([True, False]), np.array([1 + 2j]), np.asfortranarray(np.eye(3))]
    header, back = decode(encode({"call": "f"}, arrays))
    assert header == {"call": "f"}
    for a, b in zip(arrays, back, strict=True):
        assert type(b) is np.ndarray and b.dtype == a.dtype and np.array_equal(a, b)
        assert b.flags.owndata and b.flags.writeable
    good = encode({}, [np.ones(2)])
    head = json.dumps({"arrays": [["<f8", [3]]]}).encode()
    short = len(head).to_bytes(4, "big") + head + np.ones(2).tobytes()
    for bad, words in [(good + b"x", "1 bytes after the last array"),
                       (short, "an array of 24 bytes where 16 are left"),
                       (good[:3], "shorter than its header's length"),
                       (b"\xff\xff\xff\xff" + good[4:], "a header of 4294967295 bytes"),
                       (_message({"arrays": [["<U3", [1]]]}), "not a plain numeric dtype"),
                       (_message({"arrays": [["<f8", [-1]]]}), "not a short list of sizes"),
                       (_message({"arrays": [["<f8", [2**62, 2**62]]]}),
                        "not a short list of sizes"),
                       (_message([]), "not an object with a list of arrays"),
                       (_message({"arrays": [["<f8"]]}), "[dtype, shape]"),
                       (_deep(100_000), "unreadable message (RecursionError)")]:
        with pytest.raises(ChannelError, match=words.replace("[", r"\[").replace("(", r"\(")
                           .replace(")", r"\)")):
            decode(bad)


def _message(header) -> bytes:
    head = json.dumps(header).encode()
    return len(head).to_bytes(4, "big") + head


def _deep(depth: int) -> bytes:
    head = b"[" * depth + b"]" * depth
    return len(head).to_bytes(4, "big") + head


@given(data=st.binary(max_size=200), cut=st.integers(0, 300), flip=st.integers(0, 300))
def test_any_bytes_from_the_child_are_a_message_or_a_channel_error(data, cut, flip):
    """Random bytes, and cut or flipped good messages: decode gives plain arrays or raises
    ChannelError, never another exception."""
    good = bytearray(encode({"value": {"kind": "array", "index": 0}},
                            [np.arange(5.0), np.ones((2, 2), np.int64)]))
    good[flip % len(good)] ^= 0x5A
    for message in (data, bytes(good), bytes(good[:cut])):
        try:
            header, arrays = decode(message)
        except ChannelError:
            continue
        assert isinstance(header, dict)
        assert all(type(a) is np.ndarray and a.dtype.kind in "biufc" for a in arrays)


def test_what_stays_in_the_child_is_a_handle(tmp_path):
    """A cache (a NamedTuple) comes back as an Opaque; passed back, the child finds it."""
    path = _write(tmp_path, "lstm_cell_backward", solution_source("lstm_cell_backward"))
    learner = Learner(Server(path).reply)
    rng = np.random.default_rng(0)
    B, I, H = 2, 3, 2
    inputs = [rng.standard_normal(s) for s in [(B, I), (B, H), (B, H), (4 * H, I),
                                               (4 * H, H), (4 * H,), (4 * H,)]]
    h, c, cache = learner.call("lstm_cell_forward", *inputs)
    assert type(h) is np.ndarray and type(c) is np.ndarray
    assert cache == Opaque("CellCache", 0)
    grads = learner.call("lstm_cell_backward", np.ones((B, H)), np.ones((B, H)), cache)
    assert type(grads) is tuple and [g.shape for g in grads] == [
        (B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]
