"""The parent side of the hostile-file suite: workers under limits, and the verdict on answers.

``Worker`` keeps one child (tests/hostile/worker.py) and sends it requests; a child that
dies (a signal, the memory limit) or does not answer in time is killed and the answer is
``{"kind": "crashed", "signal": …}`` or ``{"kind": "hung"}``; the next request starts a fresh
child.  ``run_all`` spreads many requests over a few workers.  ``verdict`` says what is wrong
with an answer (an empty list: nothing), given what the case expects.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MEMORY_MIB = 256        # what one call may allocate beyond the worker's own imports
CASE_SECONDS = 5.0      # one call's time (a legitimate file here reads in milliseconds)
GRACE_SECONDS = 6.0     # beyond CASE_SECONDS, before the parent kills a child stuck in C
MAX_MESSAGE = 1000      # characters of a refusal's message, not counting the file's path
_START_SECONDS = 60.0   # importing numpy, h5py, onnx on a loaded machine
_ENV_PINNED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "HDF5_USE_FILE_LOCKING": "FALSE", "PYTHONWARNINGS": "ignore",
               "COLUMNS": "80"}


class Worker:
    """One child process answering requests (see worker.py), restarted after a death."""

    def __init__(self, cwd: Path, memory_mib: int = MEMORY_MIB):
        self.cwd, self.memory_mib = Path(cwd), memory_mib
        self.process = None
        self.stderr = tempfile.TemporaryFile()
        self.lock = threading.Lock()

    def _start(self) -> None:
        env = dict(os.environ, **_ENV_PINNED)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.worker", str(self.memory_mib)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, cwd=self.cwd,
            env=env, start_new_session=True)
        line = self._read_line(_START_SECONDS)
        if line != "ready":
            self.stderr.seek(0)
            raise RuntimeError(f"the hostile-file worker did not start ({line!r}): "
                               f"{self.stderr.read()[-2000:].decode(errors='replace')}")

    def _read_line(self, seconds: float):
        """The next line from the child; "" at its end (it died); None after ``seconds``."""
        out = self.process.stdout
        deadline = time.monotonic() + seconds
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([out], [], [], left)
            if not ready:
                continue
            chunk = os.read(out.fileno(), 1 << 20)
            if not chunk:
                return ""
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                return b"".join(chunks).decode().rstrip("\n")

    def ask(self, request: dict) -> dict:
        """The worker's answer to ``request`` (given "memory_mib" and "seconds", else this
        module's defaults); "crashed" or "hung" when the child died or had to be killed."""
        request = {"memory_mib": self.memory_mib, "seconds": CASE_SECONDS, **request}
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self._start()
            try:
                self.process.stdin.write((json.dumps(request) + "\n").encode())
                self.process.stdin.flush()
            except BrokenPipeError:
                pass
            line = self._read_line(request["seconds"] + request.get("grace", GRACE_SECONDS))
            if line:
                return json.loads(line)
            hung = line is None
            self._kill()
            code = self.process.returncode
            self.process = None
            if hung:
                return {"kind": "hung", "changed": []}
            return {"kind": "crashed", "signal": -code if code < 0 else None,
                    "exit": code if code >= 0 else None, "changed": []}

    def _kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def close(self) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.stdin.close()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._kill()
            self.process = None
            self.stderr.close()


def run_all(requests: list, workers: list) -> list:
    """The answers to ``requests``, in order, spread over ``workers``."""
    if not requests:
        return []
    slots = [[] for _ in workers]
    for k in range(len(requests)):
        slots[k % len(workers)].append(k)
    answers = [None] * len(requests)

    def serve(w):
        for k in slots[w]:
            answers[k] = workers[w].ask(requests[k])

    with ThreadPoolExecutor(len(workers)) as pool:
        list(pool.map(serve, range(len(workers))))
    return answers


# -- verdicts ----------------------------------------------------------------------------------

def refusal_problems(answer: dict, memory_mib: int = MEMORY_MIB) -> list:
    """What is wrong with an exception for it to be nplstm's own one-line refusal."""
    problems = []
    own = answer["module"].startswith("nplstm") or (
        answer["type"] in ("ValueError", "TypeError") and answer["from_nplstm"])
    if not own:
        problems.append(f"a foreign exception {answer['module']}.{answer['type']}: "
                        f"{answer['message'][:300]!r}")
    if "MemoryError" in answer["message"] or "MemoryError" in answer["bases"]:
        problems.append(f"ran out of memory (its {memory_mib} MiB limit): "
                        f"{answer['message'][:300]!r}")
    if "\n" in answer["message"] or "\r" in answer["message"]:
        problems.append(f"a refusal of several lines: {answer['message'][:300]!r}")
    if answer["message_length"] > MAX_MESSAGE:
        problems.append(f"a refusal of {answer['message_length']} characters besides the "
                        f"path (at most {MAX_MESSAGE}): {answer['message'][:200]!r}…")
    return problems


def verdict(answer: dict, case) -> list:
    """Every problem with ``answer`` for ``case`` (see cases.Case); [] when it is right."""
    kind = answer["kind"]
    problems = [f"changed outside its file: {p}" for p in answer.get("changed", [])]
    if kind == "hung":
        return problems + [f"hung: no answer in {case.seconds + GRACE_SECONDS:.0f} s "
                           "(stuck in C code)"]
    if kind == "timeout":
        return problems + [f"took more than {case.seconds:.0f} s"]
    if kind == "crashed":
        how = (f"signal {signal.Signals(answer['signal']).name}" if answer["signal"]
               else f"exit status {answer['exit']}")
        return problems + [f"the reading process died ({how}; its memory limit is "
                           f"{case.memory_mib} MiB)"]
    if kind == "exit":
        return problems + cli_problems(answer, case)
    if kind == "arrays":
        if answer["secret"]:
            problems.append(f"returned the outside file's secret arrays: {answer['secret']}")
        if case.expect == "refused":
            problems.append(f"loaded {len(answer['names'])} arrays {answer['names'][:4]}, "
                            f"expected a refusal ({case.why})")
        elif case.expected is not None and answer["arrays"] != case.expected:
            problems.append(f"loaded arrays {answer['names'][:6]} that differ from the "
                            "expected ones")
        return problems
    problems += refusal_problems(answer, case.memory_mib)
    if case.expect == "arrays":
        problems.append(f"refused ({answer['type']}: {answer['message'][:300]!r}), expected "
                        f"arrays ({case.why})")
    elif not problems:
        if case.error and case.error not in answer["bases"]:
            problems.append(f"refused with {answer['type']}, expected {case.error}: "
                            f"{answer['message'][:300]!r}")
        if case.not_error and case.not_error in answer["bases"]:
            problems.append(f"refused with {answer['type']}, which it is not "
                            f"({case.why}): {answer['message'][:300]!r}")
        for word in case.mentions:
            if word.lower() not in answer["message"].lower():
                problems.append(f"the refusal does not mention {word!r}: "
                                f"{answer['message'][:300]!r}")
    return problems


def cli_problems(answer: dict, case) -> list:
    """`nplstm inspect` / `convert`: exit 0 or 2; on 2 one line on stderr, no traceback;
    output bounded by the file's size and free of terminal control characters."""
    out, err, code = answer["stdout"], answer["stderr"], answer["code"]
    problems = []
    if code not in (0, 2):
        problems.append(f"exit status {code}: {err['head'][-300:]!r}")
    if "Traceback" in err["head"]:
        problems.append(f"printed a traceback: {err['head'][-300:]!r}")
    if code == 2 and (err["lines"] != 1 or err["chars"] > MAX_MESSAGE + 100):
        problems.append(f"an error of {err['lines']} lines, {err['chars']} characters: "
                        f"{err['head'][:300]!r}")
    if out["controls"] or err["controls"]:
        problems.append(f"printed {out['controls'] + err['controls']} terminal control "
                        f"characters: {out['head'][:200]!r}")
    budget = 8 * case.size + 4096
    if out["chars"] > budget:
        problems.append(f"printed {out['chars']} characters for a file of {case.size} bytes "
                        f"(at most {budget})")
    if "out_folder" in answer:        # convert: OUT written whole, or nothing at all
        wanted = [answer["out_name"]] if code == 0 else []
        if answer["out_folder"] != wanted:
            problems.append(f"convert exited {code} leaving {answer['out_folder'][:5]} in "
                            f"OUT's folder (expected {wanted})")
    if case.expect == "refused" and code == 0:
        problems.append(f"exit status 0, expected a refusal ({case.why})")
    if case.expect == "arrays" and code != 0:
        problems.append(f"exit status {code}, expected arrays ({case.why}): "
                        f"{err['head'][:300]!r}")
    return problems
