"""The child process of the hostile-file suite: reads one weight file per request, under limits.

    python -m tests.hostile.worker MEMORY_MIB

It imports every reader first, then limits its own address space to what it uses plus
MEMORY_MIB (RLIMIT_AS, the hard limit), the size of files it may write (RLIMIT_FSIZE) and
core dumps (none), prints ``ready`` and then answers requests, one JSON line in (stdin), one
JSON line out (stdout):

    {"call": "load" | "onnx" | "inspect" | "convert", "path": FILE, "key": null,
     "out": OUT (convert), "watch": [folders that must not change],
     "memory_mib": M, "seconds": S}

Each call may use M MiB beyond what the worker has mapped when it starts (the soft
RLIMIT_AS, restored after) and runs under an interval timer of S seconds (a Python-level
hang becomes the answer ``timeout``; a hang inside C code is the parent's to kill).  Answers:

    {"kind": "arrays", "arrays": {sha(name): [dtype, shape, sha(bytes)]}, "names": [...],
     "secret": [names of arrays holding the secret bytes]}
    {"kind": "raised", "type": ..., "module": ..., "bases": [...], "message": first 4000
     characters, "message_length": ..., "from_nplstm": the innermost frame is nplstm's}
    {"kind": "exit", "code": ..., "stdout": {...}, "stderr": {...}}      (inspect, convert)
    {"kind": "timeout"}
and with each, "changed": the paths under ``watch`` that appeared, vanished or changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import resource
import signal
import sys
import traceback
import warnings
from pathlib import Path

SECRET = b"S3CR"          # the bytes every element of the outside (secret) arrays is made of
_HEAD = 4000


class CaseTimeout(BaseException):
    """Raised by the interval timer: a BaseException, so no reader's ``except Exception``
    turns it into a refusal."""


def _on_alarm(signum, frame):
    raise CaseTimeout()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:24]


def name_digest(name: str) -> str:
    return sha(name.encode("utf-8", "surrogatepass"))


def array_summary(arrays: dict) -> dict:
    """What the parent compares: digests of names and bytes, dtypes, shapes, secrets."""
    import numpy as np

    summary, names, secret = {}, [], []
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        data = array.tobytes()
        summary[name_digest(name)] = [array.dtype.str, list(array.shape), sha(data)]
        names.append(repr(name)[:120])
        if SECRET in data:
            secret.append(repr(name)[:120])
    return {"kind": "arrays", "arrays": summary, "names": names, "secret": secret}


def unprintable(text: str) -> int:
    """How many characters of ``text`` are not printable (``str.isprintable``: control and
    format characters such as ESC or U+202E, which a terminal obeys), newline and tab aside."""
    plain = text.replace("\n", "").replace("\t", "")
    return 0 if plain.isprintable() else sum(1 for c in plain if not c.isprintable())


class BoundedSink(io.TextIOBase):
    """A stdout/stderr stand-in that counts what is written and keeps its head: characters,
    lines, and unprintable characters (see ``unprintable``)."""

    def __init__(self):
        self.head, self.chars, self.lines, self.controls = [], 0, 0, 0
        self._kept = 0

    def writable(self):
        return True

    def write(self, text):
        self.chars += len(text)
        self.lines += text.count("\n")
        self.controls += unprintable(text)
        if self._kept < _HEAD:
            self.head.append(text[:_HEAD - self._kept])
            self._kept += len(self.head[-1])
        return len(text)

    def summary(self) -> dict:
        return {"chars": self.chars, "lines": self.lines, "controls": self.controls,
                "head": "".join(self.head)}


def snapshot(folders) -> dict:
    """{path: (size, mtime_ns, is_link)} of everything under ``folders``."""
    seen = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                p = os.path.join(root, name)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                seen[p] = (st.st_size, st.st_mtime_ns, os.path.islink(p))
    return seen


def run_call(request: dict) -> dict:
    call, path = request["call"], request["path"]
    if call in ("inspect", "convert"):
        return run_cli(request)
    if call == "misbehave":
        return misbehave(request)
    import nplstm
    from nplstm.interop.onnx_import import import_onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if call == "load":
            arrays = nplstm.load_weights(path, key=request.get("key"))
        else:
            arrays = {f"{k}.{name}": value for k, module in enumerate(import_onnx(path))
                      for name, value in module.state_dict().items()}
    return array_summary(arrays)


def misbehave(request: dict) -> dict:
    """What a broken reader would do (``path`` names it), so that a test can show the judge
    sees it: crash, hang in Python or in C, allocate too much, raise a foreign or a
    multi-line error, return the secrets, write beside the file."""
    import ctypes
    import time

    import numpy as np

    from nplstm.interop import WeightFileError

    what = request["path"]
    if what == "segfault":
        ctypes.string_at(0)
    elif what == "hang":
        while True:
            pass
    elif what == "hang_in_c":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)
    elif what == "allocate":
        return {"kind": "arrays", "size": len(bytearray(1 << 31))}
    elif what == "foreign":
        raise KeyError("model_weights")
    elif what == "two_lines":
        raise WeightFileError("model.pt: damaged\nfits: LSTM(2, 2)")
    elif what == "secret":
        return array_summary({"w": np.frombuffer(SECRET * 4, "<f4")})
    elif what == "write":
        Path(request["watch"][-1], "dropped.txt").write_text("x")   # the case's own folder
    return array_summary({})


def run_cli(request: dict) -> dict:
    from nplstm.cli.main import main

    argv = [request["call"], request["path"]]
    if request["call"] == "convert":
        argv.append(request["out"])
    out, err = BoundedSink(), BoundedSink()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    left = sorted(os.listdir(Path(request["out"]).parent)) if request["call"] == "convert" \
        else []
    return {"kind": "exit", "code": code, "stdout": out.summary(), "stderr": err.summary(),
            **({"out_folder": left, "out_name": Path(request["out"]).name}
               if request["call"] == "convert" else {})}


def raised(err: BaseException, path: str = "") -> dict:
    import nplstm

    package = str(Path(nplstm.__file__).resolve().parent)
    frames = traceback.extract_tb(err.__traceback__)
    innermost = os.path.abspath(frames[-1].filename) if frames else ""
    message = str(err)
    return {"kind": "raised", "type": type(err).__qualname__, "module": type(err).__module__,
            "bases": [c.__qualname__ for c in type(err).__mro__],
            "message": message[:_HEAD],
            "message_length": len(message.replace(path, "")) if path else len(message),
            "from_nplstm": innermost.startswith(package)}


def answer(request: dict) -> dict:
    watch = request.get("watch", [])
    before = snapshot(watch)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    soft = min(hard, _mapped() + request["memory_mib"] * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    signal.setitimer(signal.ITIMER_REAL, request["seconds"])
    try:
        try:
            result = run_call(request)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    except CaseTimeout:
        result = {"kind": "timeout"}
    except BaseException as err:          # noqa: BLE001  (classified by the parent)
        result = raised(err, request["path"])
    after = snapshot(watch)
    result["changed"] = sorted(p for p in set(before) | set(after)
                               if before.get(p) != after.get(p))[:20]
    return result


def _import_readers():
    import h5py  # noqa: F401
    import numpy  # noqa: F401
    import onnx  # noqa: F401
    import onnx.numpy_helper  # noqa: F401
    import safetensors.numpy  # noqa: F401

    import nplstm  # noqa: F401
    import nplstm.cli.main  # noqa: F401
    import nplstm.interop.keras  # noqa: F401
    import nplstm.interop.onnx_import  # noqa: F401


def _mapped() -> int:
    """Bytes of address space this process has mapped now (what RLIMIT_AS counts)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def _limit(memory_mib: int) -> None:
    limit = _mapped() + memory_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20, 64 * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    memory_mib = int(sys.argv[1])
    _import_readers()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    signal.signal(signal.SIGALRM, _on_alarm)
    _limit(memory_mib)
    channel = sys.stdout
    sys.stdout = sys.stderr           # whatever the readers print must not reach the channel
    channel.write("ready\n")
    channel.flush()
    for line in sys.stdin:
        request = json.loads(line)
        result = answer(request)
        channel.write(json.dumps(result) + "\n")
        channel.flush()


if __name__ == "__main__":
    main()
