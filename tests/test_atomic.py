"""Atomic writes in a folder others can write to (nplstm.io.atomic, issue 21 items 2 and 15):
a file or symlink planted at the temporary name is never written through, OUT never becomes a
symlink, a replaced file keeps its mode, a killed writer's temporary is removed by the next
write to the same target (a live writer's is not), and errors name the user's path."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nplstm
from nplstm.io import atomic, atomic_write, atomic_write_bytes, save_checkpoint

pytestmark = pytest.mark.skipif(os.name != "posix", reason="symlinks, modes and PIDs of POSIX")

DEAD_PID = 2 ** 22 + 12345                    # above Linux's largest pid_max: no such process
TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{16}\.nplstm-tmp")


def _writers():
    """Every kind of file the package writes, each through atomic_write."""
    weights = {"weight": np.arange(6, dtype=np.float32).reshape(2, 3)}
    return {
        "bytes": ("x.bin", lambda p: atomic_write_bytes(p, b"new")),
        "save_weights .pt": ("x.pt", lambda p: nplstm.save_weights(weights, p)),
        "save_weights .safetensors": ("x.safetensors",
                                      lambda p: nplstm.save_weights(weights, p)),
        "save_weights .npz": ("x.npz", lambda p: nplstm.save_weights(weights, p)),
        "save_checkpoint": ("checkpoint.npz",
                            lambda p: save_checkpoint(p, step=1, model=weights)),
    }


WRITERS = _writers()


def _temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".nplstm-tmp"))


@pytest.mark.parametrize("writer", WRITERS)
def test_a_symlink_planted_at_the_old_predictable_name_is_not_followed(tmp_path, writer):
    name, write = WRITERS[writer]
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    out = tmp_path / name
    planted = tmp_path / f".{name}.tmp{os.getpid()}"        # what nplstm <= b10917c wrote to
    planted.symlink_to(victim)
    write(out)
    assert victim.read_bytes() == b"precious"
    assert not out.is_symlink() and out.is_file() and out.stat().st_size > 0
    assert planted.is_symlink()                              # not ours: left alone
    assert _temporaries(tmp_path) == []


def test_a_symlink_planted_at_the_drawn_name_is_skipped(tmp_path, monkeypatch):
    """Whatever name an attacker guesses: the file is created exclusively, so a taken name
    (a symlink, a file) makes the writer draw another, never write through it."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    out = tmp_path / "model.pt"
    guessed = ["0" * 16, "1" * 16, "2" * 16]
    (tmp_path / f".model.pt.{os.getpid()}.{guessed[0]}.nplstm-tmp").symlink_to(victim)
    (tmp_path / f".model.pt.{os.getpid()}.{guessed[1]}.nplstm-tmp").symlink_to(tmp_path / "gone")
    tokens = iter(guessed)
    monkeypatch.setattr(atomic, "_random_token", lambda: next(tokens))
    atomic_write_bytes(out, b"new")
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "gone").exists()                   # a dangling link not followed
    assert not out.is_symlink() and out.read_bytes() == b"new"
    assert len(_temporaries(tmp_path)) == 2                   # the planted ones, still links


def test_a_symlink_at_out_is_replaced_by_a_file_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    out = tmp_path / "out.pt"
    out.symlink_to(victim)
    atomic_write_bytes(out, b"new")
    assert victim.read_bytes() == b"precious"
    assert not out.is_symlink() and out.read_bytes() == b"new"


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o664, 0o400])
@pytest.mark.parametrize("writer", ["bytes", "save_weights .pt", "save_checkpoint"])
def test_a_replaced_file_keeps_its_mode(tmp_path, writer, mode):
    name, write = WRITERS[writer]
    out = tmp_path / name
    out.write_bytes(b"old")
    os.chmod(out, mode)
    write(out)
    assert stat.S_IMODE(os.stat(out).st_mode) == mode
    assert out.read_bytes() != b"old"


def test_set_id_bits_of_a_replaced_file_are_not_carried_over(tmp_path):
    out = tmp_path / "x.bin"
    out.write_bytes(b"old")
    os.chmod(out, 0o2750)
    atomic_write_bytes(out, b"new")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o750


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o027])
def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "new.bin", b"new")
        with open(tmp_path / "by_open.bin", "wb") as f:
            f.write(b"new")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "new.bin").st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(os.stat(tmp_path / "new.bin").st_mode) == \
        stat.S_IMODE(os.stat(tmp_path / "by_open.bin").st_mode)


def test_stale_temporaries_are_removed_and_live_ones_kept(tmp_path):
    out = tmp_path / "model.pt"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [f".model.pt.{DEAD_PID}.{'a' * 16}.nplstm-tmp",
                 f".model.pt.tmp{DEAD_PID}"]                   # the name earlier versions wrote
        kept = [f".model.pt.{live.pid}.{'b' * 16}.nplstm-tmp",     # a live writer's
                f".model.pt.{os.getpid()}.{'c' * 16}.nplstm-tmp",  # this process's (a thread's)
                f".model.pt.tmp{live.pid}",
                f".other.pt.{DEAD_PID}.{'d' * 16}.nplstm-tmp",     # another target's
                f".model.pt.{DEAD_PID}.not-hex-at-all.nplstm-tmp",  # not a name we make
                f".model.pt.{DEAD_PID}.{'e' * 16}.nplstm-tmp.bak",
                ".model.pt.tmp", f"model.pt.{DEAD_PID}.{'f' * 16}.nplstm-tmp"]
        for name in stale + kept:
            (tmp_path / name).write_bytes(b"partial")
        atomic_write_bytes(out, b"new")
        left = sorted(p.name for p in tmp_path.iterdir())
    finally:
        live.kill()
        live.wait()
    assert left == sorted(kept + ["model.pt"])


def test_a_sigkilled_writer_leaves_a_recognisable_temporary_that_the_next_write_removes(
        tmp_path):
    out = tmp_path / "big.npz"
    child = textwrap.dedent(f"""
        import sys, time
        from nplstm.io import atomic_write
        def write(f):
            f.write(b"x" * 100_000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        atomic_write({str(out)!r}, write)
    """)
    process = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "writing\n"
    finally:
        process.kill()                                       # SIGKILL: no handler runs
        process.wait()
    assert process.returncode == -signal.SIGKILL
    left = _temporaries(tmp_path)
    assert len(left) == 1, left
    match = TEMPORARY.fullmatch(left[0])
    assert match and match["name"] == "big.npz" and int(match["pid"]) == process.pid
    assert not out.exists()
    atomic_write_bytes(out, b"new")
    assert _temporaries(tmp_path) == [] and out.read_bytes() == b"new"


@pytest.mark.parametrize("writer", WRITERS)
def test_an_error_names_the_users_path_not_the_temporary(tmp_path, writer):
    name, write = WRITERS[writer]
    out = tmp_path / "nodir" / name
    with pytest.raises(FileNotFoundError) as caught:
        write(out)
    assert caught.value.filename == str(out)
    assert str(out) in str(caught.value)
    assert "tmp" not in str(caught.value).replace(str(tmp_path), "")


def test_a_failing_write_leaves_no_temporary_and_the_old_file(tmp_path):
    out = tmp_path / "x.bin"
    out.write_bytes(b"old")

    def failing(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(out, failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]
    assert out.read_bytes() == b"old"


def test_a_name_near_the_file_system_limit_is_written(tmp_path):
    out = tmp_path / ("w" * 250 + ".pt")
    atomic_write_bytes(out, b"new")
    assert out.read_bytes() == b"new" and sorted(tmp_path.iterdir()) == [out]


def test_a_symlink_planted_at_a_runs_lock_file_is_not_followed(tmp_path):
    """The one file the trainer writes in place (OUT/.lock, its PID): not through a link."""
    from nplstm.training import TrainingError                   # noqa: PLC0415
    from nplstm.training.run_dir import RunDir                  # noqa: PLC0415

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".lock").symlink_to(victim)
    with pytest.raises(TrainingError, match="cannot be written"):
        RunDir(tmp_path / "run").acquire()
    assert victim.read_bytes() == b"precious"
