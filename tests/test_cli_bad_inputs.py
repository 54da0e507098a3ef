"""Every CLI command, given bad input, exits with status 2 and one line on stderr, prints no
traceback, and leaves OUT (and the working directory) exactly as it was: same files, same
bytes, same modification times.

Each case is (name, argv, setup, message): ``setup(run)`` prepares the case in ``run``, a
copy of a finished tiny char-LM run (checkpoint, best.npz, metrics, config) with its text
beside it; ``{run}``, ``{text}``, ``{file}`` in argv are filled in.  Most cases call
``nplstm.cli.main`` in-process (fast); a few run ``python -m nplstm`` to see the real stderr.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nplstm import cli
from nplstm.backend import cupy_available
from nplstm.io import load_checkpoint, save_checkpoint
from nplstm.training import TrainConfig, Trainer, TrainingError

from .helpers import TINY


@pytest.fixture(scope="module")
def finished_run(train_tiny_run):
    """A tiny char-LM run of 10 steps (made once): its directory and its text file."""
    return train_tiny_run("--steps", "10")


@pytest.fixture
def workspace(finished_run, tmp_path, monkeypatch):
    """tmp_path as the working directory, holding ``run`` (a copy of the finished run, mtimes
    kept), ``text.txt`` and ``file`` (a plain file)."""
    out, text = finished_run
    shutil.copytree(out, tmp_path / "run")
    shutil.copy2(text, tmp_path / "text.txt")
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def snapshot(root):
    """{relative path: (kind, bytes or None, mtime_ns, mode)} of everything under ``root``."""
    tree = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            data = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    data = f.read()
            tree[os.path.relpath(path, root)] = (name in dirs, data, st.st_mtime_ns,
                                                 st.st_mode)
    root_st = os.lstat(root)
    tree["."] = (True, None, root_st.st_mtime_ns, root_st.st_mode)
    return tree


# -- ways to spoil a run directory ---------------------------------------------------------

def rewrite_step(step):
    """A setup that rewrites the step in run/checkpoint.npz's meta document by hand (the
    public save_checkpoint refuses a negative step), as a damaged or hostile file would."""

    def setup(root):
        path = root / "run/checkpoint.npz"
        stat = path.stat()
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays["meta"][()]))
        meta["step"] = step
        arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
        with open(path, "wb") as f:
            np.savez(f, **arrays)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    return setup


def tamper(**changes):
    """A setup that rewrites run/checkpoint.npz through the public save_checkpoint with
    ``changes``: ``step``, ``config`` (dict of settings to change), ``state`` (dict of
    arrays; None removes one), ``run`` (dict of run-record fields), ``model`` (dict of arrays)."""

    def setup(root):
        path = root / "run/checkpoint.npz"
        stat = path.stat()
        ckpt = load_checkpoint(path)
        meta = {k: v for k, v in ckpt.items()
                if k not in ("model", "optimizer", "state", "step", "format")}
        meta["config"] = dict(ckpt["config"], **changes.get("config", {}))
        meta["run"] = dict(ckpt["run"], **changes.get("run", {}))
        save_checkpoint(path, step=changes.get("step", ckpt["step"]),
                        model=dict(ckpt["model"], **changes.get("model", {})),
                        optimizer=ckpt["optimizer"],
                        state={k: v for k, v in dict(ckpt["state"], **changes.get("state", {}))
                               .items() if v is not None}, **meta)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    return setup


def _hidden_state(shape=(1, 4, 16), dtype=np.float32):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def lock_held_by_this_process(root):
    """Another run holds run/.lock: this test process takes the flock (a second descriptor
    conflicts with it, as another process would) and writes its PID."""
    fd = os.open(root / "run/.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def adding_run(root):
    assert cli.main(["train", "--task", "adding", "--out", str(root / "adding"), "--steps",
                     "2", "--seq-len", "4", "--hidden", "4", "--batch-size", "4",
                     "--eval-every", "2", "--checkpoint-every", "2"]) == 0


def unusable_out(kind):
    def setup(root):
        if kind == "read-only":
            target = root / "ro"
            target.mkdir()
            if os.geteuid() == 0:          # root writes through permissions: a ro mount
                if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs",
                                   str(target)], capture_output=True).returncode:
                    pytest.skip("running as root without the right to mount a read-only "
                                "tmpfs: cannot make a read-only directory")
            else:
                target.chmod(0o555)
    return setup


def no_setup(root):
    pass


def weight_files(root):
    """weights.npz (an LSTMCell's), out.npz (not weights), a folder out_dir.npz, a dangling
    symlink link.npz, hostile.npz whose one name is long and holds terminal escapes, and
    zeros.npz, compressed about 1000 times (beyond the default --max-ratio)."""
    cell = {"weight_ih": np.ones((8, 3), np.float32), "weight_hh": np.ones((8, 2), np.float32),
            "bias_ih": np.zeros(8, np.float32), "bias_hh": np.zeros(8, np.float32)}
    np.savez(root / "weights.npz", **cell)
    (root / "out.npz").write_bytes(b"my notes, not weights")
    (root / "out_dir.npz").mkdir()
    (root / "link.npz").symlink_to(root / "nowhere")
    np.savez(root / "hostile.npz", **{"\x1b[2J\nfits:" + "a" * 60_000: np.ones(2, np.float32)})
    np.savez_compressed(root / "zeros.npz", big=np.zeros(1_000_000))   # 8 MB in about 8 KB


def exercise_notebook_there(root):
    (root / "linear.ipynb").write_text("{}")


def without_cupy(root):
    if cupy_available():
        pytest.skip("CuPy and a device are here: --device cuda is valid")


T = ["train", "--text", "{text}", *TINY]           # a valid fresh run, without --out
R = ["train", "--out", "{run}", "--resume", "--steps", "20", "--sample-length", "0"]

CASES = [
    # -- train: settings
    ("seed -1", T + ["--out", "new", "--seed", "-1"], no_setup,
     "--seed must be an int >= 0, got -1"),
    ("nesterov without momentum", T + ["--out", "new", "--nesterov", "--momentum", "0"],
     no_setup, "--nesterov needs --momentum > 0"),
    ("steps 0", T + ["--out", "new", "--steps", "0"], no_setup,
     "--steps must be a positive int, got 0"),
    ("steps not a number", T + ["--out", "new", "--steps", "ten"], no_setup,
     "invalid int value: 'ten'"),
    ("lr inf", T + ["--out", "new", "--lr", "inf"], no_setup,
     "--lr must be a finite real number > 0, got inf"),
    ("dropout 1", T + ["--out", "new", "--dropout", "1"], no_setup,
     "--dropout must be in [0, 1)"),
    ("clip negative", T + ["--out", "new", "--clip", "-1"], no_setup,
     "--clip must be a finite real number >= 0, got -1.0"),
    ("warmup negative", T + ["--out", "new", "--warmup-steps", "-1"], no_setup,
     "--warmup-steps must be an int >= 0, got -1"),
    ("cosine without horizon", T + ["--out", "new", "--schedule", "cosine"], no_setup,
     "--schedule cosine needs --lr-decay-steps"),
    ("lr-decay-steps 0", T + ["--out", "new", "--lr-decay-steps", "0"], no_setup,
     "--lr-decay-steps must be a positive int, got 0"),
    ("sample-length negative", T + ["--out", "new", "--sample-length", "-1"], no_setup,
     "--sample-length must be an int >= 0, got -1"),
    ("device without CuPy", T + ["--out", "new", "--device", "cuda"], without_cupy,
     "--device cuda: device='cuda' needs CuPy"),
    ("model too big for memory", T + ["--out", "new", "--hidden", "1000000000"], no_setup,
     "the model does not fit in memory (--hidden 1000000000"),
    ("unknown task", ["train", "--task", "translate"], no_setup, "invalid choice"),
    ("unknown cell", ["train", "--cell", "transformer"], no_setup,
     "invalid choice: 'transformer' (choose from 'lstm', 'gru', 'rnn')"),
    ("missing text", ["train", "--text", "missing.txt", "--out", "new"], no_setup,
     "--text missing.txt: no such file"),
    ("text for adding", ["train", "--task", "adding", "--text", "{text}", "--out", "new"],
     no_setup, "--text is for --task charlm only"),
    # -- train: OUT
    ("out is a file", T + ["--out", "file"], no_setup, "--out file is a file"),
    ("out under a file", T + ["--out", "file/run"], no_setup,
     "--out file/run cannot be created: file is a file"),
    ("out read-only", T + ["--out", "ro/run"], unusable_out("read-only"),
     "--out ro/run cannot be written: ro is read-only"),
    ("out holds a checkpoint", T + ["--out", "{run}"], no_setup,
     "already holds a checkpoint: pass --resume"),
    ("out holds only a best.npz", T + ["--out", "{run}"],
     lambda root: (root / "run/checkpoint.npz").unlink(),
     "already holds a best.npz: pass --resume"),
    ("out locked by a live run", R, lock_held_by_this_process,
     f"is in use by another training run (PID {os.getpid()})"),
    ("resume and overwrite", R + ["--overwrite"], no_setup,
     "--resume and --overwrite exclude each other"),
    ("resume without checkpoint", ["train", "--out", "new", "--resume"], no_setup,
     "--resume: no checkpoint in new"),
    ("resume at its step", R[:-4] + ["--steps", "10"], no_setup,
     "the checkpoint is at step 10 already; pass --steps above 10"),
    ("resume with other model", R + ["--hidden", "32"], no_setup,
     "trained with --hidden 16, this run asks for 32"),
    ("resume with another cell", R + ["--cell", "gru"], no_setup,
     "trained with --cell lstm, this run asks for gru"),
    ("resume with a bad lr", R + ["--lr", "nan"], no_setup,
     "--lr must be a finite real number > 0, got nan"),
    # -- train --resume: a checkpoint whose contents are wrong
    ("checkpoint step -5", R, rewrite_step(-5), "step must be an int >= 0, the meta document has -5"),
    ("carried state of the wrong shape", R, tamper(state={"h": _hidden_state((1, 3, 16))}),
     "carried state/h must have shape (1, 4, 16), got (1, 3, 16)"),
    ("carried state in float64", R, tamper(state={"h": _hidden_state(dtype=np.float64)}),
     "carried state/h must be a float32 array, got float64"),
    ("carried state missing c", R, tamper(state={"c": None}), "carried state must hold"),
    ("config cell unknown", R, tamper(config={"cell": "gru2"}), "--cell must be one of"),
    ("config cell a list", R, tamper(config={"cell": ["gru"]}),
     "--cell must be one of ('lstm', 'gru', 'rnn'), got list ['gru']"),
    ("config cell not the weights'", R, tamper(config={"cell": "gru"}),
     "does not fit this model"),
    ("config dtype float16", R, tamper(config={"dtype": "float16"}),
     "dtype must be one of ('float32', 'float64'), got 'float16'"),
    ("config device tpu", R, tamper(config={"device": "tpu"}), "device must be one of"),
    ("config schedule linear", R, tamper(config={"schedule": "linear"}),
     "schedule must be one of ('constant', 'cosine'), got 'linear'"),
    ("config seed -3", R, tamper(config={"seed": -3}),
     "seed must be an int >= 0, got -3"),
    ("config seed a string", R, tamper(config={"seed": "0"}),
     "seed must be an int >= 0, got str '0'"),
    ("config hidden a float", R, tamper(config={"hidden": 16.0}),
     "hidden must be a positive int, got float 16.0"),
    ("run record first_loss", R, tamper(run={"first_loss": "big"}),
     "run.first_loss must be a finite real number >= 0 (or None), got str 'big'"),
    ("model weight of the wrong shape", R,
     tamper(model={"head.bias": np.zeros(3, np.float32)}), "head.bias must have shape"),
    ("checkpoint truncated", R,
     lambda root: (root / "run/checkpoint.npz").write_bytes(
         (root / "run/checkpoint.npz").read_bytes()[:500]), "not a readable checkpoint"),
    # -- sample
    *[(f"sample temperature {t}", ["sample", "--out", "{run}", "--temperature", t], no_setup,
       f"--temperature must be a finite real number > 0, got {float(t)}")
      for t in ("nan", "inf", "-1", "0")],
    ("sample length negative", ["sample", "--out", "{run}", "--length", "-1"], no_setup,
     "--length must be an int >= 0, got -1"),
    ("sample seed negative", ["sample", "--out", "{run}", "--seed", "-1"], no_setup,
     "--seed must be an int >= 0, got -1"),
    ("sample unknown character", ["sample", "--out", "{run}", "--prime", "Z"], no_setup,
     "characters not in the training text: 'Z'"),
    ("sample checkpoint choice", ["sample", "--out", "{run}", "--checkpoint", "first"],
     no_setup, "invalid choice: 'first'"),
    ("sample no run", ["sample", "--out", "nowhere"], no_setup, "no checkpoint at"),
    ("sample adding run", ["sample", "--out", "adding"], adding_run, "only charlm runs"),
    ("sample stored dtype", ["sample", "--out", "{run}", "--checkpoint", "last"],
     tamper(config={"dtype": "float16"}),
     "dtype must be one of ('float32', 'float64'), got 'float16'"),
    # -- gradcheck
    ("gradcheck cases 0", ["gradcheck", "--cases", "0"], no_setup,
     "expected a positive integer, got 0"),
    ("gradcheck seed -1", ["gradcheck", "--seed", "-1"], no_setup,
     "expected an integer >= 0, got -1"),
    ("gradcheck what", ["gradcheck", "--what", "lstmx"], no_setup, "invalid choice: 'lstmx'"),
    ("gradcheck adjoint linear", ["gradcheck", "--what", "linear", "--mode", "adjoint"],
     no_setup, "--mode adjoint needs a JVP"),
    ("gradcheck lengths", ["gradcheck", "--lengths", "3,0"], no_setup,
     "lengths must be positive integers"),
    ("gradcheck proj-size", ["gradcheck", "--proj-size", "-1"], no_setup,
     "expected an integer >= 0, got -1"),
    ("gradcheck dtype", ["gradcheck", "--dtype", "float16"], no_setup, "invalid choice"),
    # -- bench (argument errors only: running it needs torch)
    ("bench repeats 0", ["bench", "--repeats", "0"], no_setup,
     "expected an integer in [1, 1000], got 0"),
    ("bench repeats huge", ["bench", "--repeats", "9" * 20], no_setup,     # ran for ever
     "expected an integer in [1, 1000], got 9999"),
    ("bench cases", ["bench", "--cases", "3,2"], no_setup, "--cases wants T,B,H triples"),
    ("bench cases huge", ["bench", "--runtime", "onnxruntime", "--cases", "99999999999,1,1"],
     no_setup, "--cases wants H <= 4096 and T*B*H <= 33554432"),      # was a MemoryError
    ("bench cases empty", ["bench", "--cases", ""], no_setup, "--cases wants T,B,H triples"),
    ("bench threads", ["bench", "--threads", "two"], no_setup,
     "--threads wants ints in [1, 1024]"),
    ("bench threads huge", ["bench", "--runtime", "onnxruntime", "--threads", "9" * 20],
     no_setup, "--threads wants ints in [1, 1024]"),                   # was a traceback
    ("bench threads empty", ["bench", "--threads", ""], no_setup,     # ran the whole bench
     "--threads wants ints in [1, 1024]"),
    ("bench dtype", ["bench", "--dtype", "float16"], no_setup, "invalid choice"),
    ("bench cell", ["bench", "--cell", "rnn"], no_setup, "--cell wants lstm, gru or lstm,gru"),
    # -- convert and inspect (issue 21)
    ("convert over a file", ["convert", "weights.npz", "out.npz"], weight_files,
     "OUT out.npz exists (a file); convert never replaces a file unasked: pass --force"),
    ("convert over a folder", ["convert", "weights.npz", "out_dir.npz", "--force"],
     weight_files, "out_dir.npz"),
    ("convert over a folder, no force", ["convert", "weights.npz", "out_dir.npz"],
     weight_files, "OUT out_dir.npz exists (a folder)"),
    ("convert over a dangling symlink", ["convert", "weights.npz", "link.npz"], weight_files,
     "OUT link.npz exists"),
    ("convert into a missing folder", ["convert", "weights.npz", "nodir/x.pt"], weight_files,
     "No such file or directory: 'nodir/x.pt'"),
    ("convert a hostile name to onnx", ["convert", "hostile.npz", "x.onnx"], weight_files,
     "\\x1b[2J\\nfits:aaaa"),
    ("inspect a missing file", ["inspect", "missing.pt"], no_setup, "missing.pt"),
    # -- exercise
    ("exercise unknown name", ["exercise", "check", "lstm_gru"], no_setup,
     "unknown exercise 'lstm_gru'; the exercises are: "),
    ("exercise start over a file", ["exercise", "start", "linear", "--dir", "{file}"],
     no_setup, "file is not a folder: give --dir a folder for your exercise files"),
    ("exercise start notebook over a file", ["exercise", "start", "linear", "--notebook",
                                             "--dir", "{file}"], no_setup,
     "file is not a folder: give --dir a folder for your exercise files"),
    ("exercise start notebook exists", ["exercise", "start", "linear", "--notebook", "--dir",
                                        "."], exercise_notebook_there,
     "linear.ipynb exists already (your work may be in it)"),
    ("exercise check no file", ["exercise", "check", "linear", "--dir", "run"], no_setup,
     "no exercise file run/linear.py"),
    ("exercise check timeout 0", ["exercise", "check", "linear", "--timeout", "0"], no_setup,
     "expected a positive number of seconds, got '0'"),
    ("exercise hint level 4", ["exercise", "hint", "linear", "--level", "4"], no_setup,
     "argument --level: invalid choice: 4 (choose from 1, 2, 3)"),
    ("exercise hint level word", ["exercise", "hint", "linear", "--level", "two"], no_setup,
     "argument --level: invalid int value: 'two'"),
    ("exercise hint unknown name", ["exercise", "hint", "gru"], no_setup,
     "unknown exercise 'gru'"),
    ("exercise status no folder", ["exercise", "status", "--dir", "nowhere"], no_setup,
     "no folder nowhere: start an exercise with"),
    ("exercise status a file", ["exercise", "status", "--dir", "{file}"], no_setup,
     "is not a folder: give the folder of your exercise files"),
    ("exercise status timeout nan", ["exercise", "status", "--timeout", "nan"], no_setup,
     "expected a positive number of seconds, got 'nan'"),
    ("bench runtime", ["bench", "--runtime", "tvm"], no_setup, "invalid choice: 'tvm'"),
    ("bench runtime float64", ["bench", "--runtime", "onnxruntime", "--dtype", "float64"],
     no_setup, "--runtime onnxruntime times float32"),
    ("convert max-ratio 0.5", ["convert", "weights.npz", "new.npz", "--max-ratio", "0.5"],
     weight_files, "argument --max-ratio: expected a finite number >= 1 or 'none', got '0.5'"),
    ("inspect max-ratio nan", ["inspect", "weights.npz", "--max-ratio", "nan"], weight_files,
     "expected a finite number >= 1 or 'none', got 'nan'"),
    ("inspect max-ratio word", ["inspect", "weights.npz", "--max-ratio", "lots\x1b"],
     weight_files, "expected a number >= 1 or 'none', got 'lots\\x1b'"),
    ("convert beyond max-ratio", ["convert", "zeros.npz", "new.npz", "--max-ratio", "2"],
     weight_files, "record 'big.npy' unpacks to 8000128 bytes from"),
    # -- the command itself
    ("no command", [], no_setup, "the following arguments are required: COMMAND"),
    ("unknown command", ["fit"], no_setup, "invalid choice: 'fit'"),
]


def _argv(argv, root):
    return [a.format(run=root / "run", text=root / "text.txt", file=root / "file")
            for a in argv]


@pytest.mark.parametrize("name, argv, setup, message", CASES, ids=[c[0] for c in CASES])
def test_bad_invocation_exits_2_with_one_line_and_changes_nothing(
        workspace, capsys, name, argv, setup, message):
    held = setup(workspace)
    try:
        before = snapshot(workspace)
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            cli.main(_argv(argv, workspace))
        captured = capsys.readouterr()
        after = snapshot(workspace)
    finally:
        if setup is lock_held_by_this_process:
            os.close(held)
        if name == "out read-only" and os.geteuid() == 0:
            subprocess.run(["umount", str(workspace / "ro")], capture_output=True)
    assert info.value.code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err + captured.out, captured.err
    assert message in lines[0], lines[0]
    assert captured.out == ""
    assert len(lines[0]) < 1200 and lines[0].isprintable(), len(lines[0])
    assert after == before, sorted(k for k in set(after) | set(before)
                                   if after.get(k) != before.get(k))


SUBPROCESS_CASES = ["seed -1", "out under a file", "checkpoint step -5",
                    "sample temperature nan", "gradcheck seed -1", "convert over a file",
                    "convert a hostile name to onnx", "exercise hint level 4"]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_invocation_in_a_real_process_prints_no_traceback(workspace, name):
    _, argv, setup, message = next(c for c in CASES if c[0] == name)
    setup(workspace)
    before = snapshot(workspace)
    result = subprocess.run([sys.executable, "-m", "nplstm", *_argv(argv, workspace)],
                            capture_output=True, text=True, timeout=120, cwd=workspace)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert snapshot(workspace) == before


def test_the_table_covers_every_command():
    commands = {c[1][0] for c in CASES if c[1]}
    assert {"train", "sample", "gradcheck", "bench", "convert", "inspect", "exercise"} <= commands
    assert json.dumps([c[0] for c in CASES])            # names are unique and printable
    assert len({c[0] for c in CASES}) == len(CASES)


# -- generated: any wrong value of any setting is refused, naming it, touching nothing -------

_NOT_INT = st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.booleans())
_NOT_NUMBER = st.one_of(st.text(max_size=3), st.booleans(), st.just([1.0]))
_BAD_VALUES = {
    **{name: st.one_of(st.integers(max_value=0), _NOT_INT)
       for name in ("steps", "seq_len", "hidden", "layers", "batch_size", "eval_every",
                    "checkpoint_every", "lr_decay_steps")},
    **{name: st.one_of(st.integers(max_value=-1), _NOT_INT, st.none())
       for name in ("seed", "warmup_steps")},
    "lr": st.one_of(st.floats(max_value=0.0), st.sampled_from([math.inf, math.nan]),
                    _NOT_NUMBER),
    **{name: st.one_of(st.floats(max_value=-1e-300), st.sampled_from([math.inf, math.nan]),
                       _NOT_NUMBER)
       for name in ("momentum", "clip")},
    **{name: st.one_of(st.floats(max_value=-1e-300), st.sampled_from([math.inf, math.nan]),
                       _NOT_NUMBER, st.none())
       for name in ("weight_decay", "min_lr")},
    "dropout": st.one_of(st.floats(min_value=1.0), st.floats(max_value=-1e-300),
                         _NOT_NUMBER, st.none()),
    "nesterov": st.one_of(st.integers(), st.text(max_size=3), st.none()),
    **{name: st.one_of(st.text(max_size=8).filter(lambda s: s not in choices),
                       st.integers(), st.none())
       for name, choices in (("task", ("charlm", "adding")), ("cell", ("lstm", "gru", "rnn")),
                             ("schedule", ("constant", "cosine")),
                             ("dtype", ("float32", "float64")),
                             ("device", ("cpu", "cuda")))},
    "text": st.one_of(st.just(""), st.integers()),
    "text_sha256": st.one_of(st.just(""), st.integers()),
    "out": st.one_of(st.just(""), st.integers(), st.none()),
}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), name=st.sampled_from(sorted(_BAD_VALUES)))
def test_any_wrong_setting_is_refused_by_name_before_out_exists(tmp_path, data, name):
    value = data.draw(_BAD_VALUES[name], label=name)
    out = tmp_path / "never"
    values = dict(dict(out=str(out), steps=3), **{name: value})
    with pytest.raises(TrainingError) as info:
        Trainer(TrainConfig(**values), progress=False)
    assert name in info.value.settings, (str(info.value), info.value.settings)
    assert re.search(rf"(?<![\w-]){name}\b", str(info.value)), str(info.value)
    assert not out.exists()
