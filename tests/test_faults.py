"""Faults from outside: a second trainer on the same OUT, a full disk, a run killed with
SIGKILL (its lock goes with it; that resume after SIGKILL stays bit-exact is checked in
tests/test_train.py)."""

from __future__ import annotations

import errno
import os
import subprocess
from contextlib import contextmanager

import pytest

from nplstm import cli
from nplstm.io import load_checkpoint

from .helpers import TINY, train_process, wait_for


def _one_error_line(capsys, argv, code):
    capsys.readouterr()
    try:
        result = cli.main(argv)
    except SystemExit as exit_:
        result = exit_.code
    captured = capsys.readouterr()
    assert result == code, captured
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    # progress lines (not on a terminal: one per evaluation) are not messages
    return [line for line in lines if not line.startswith(("training ", "step "))]


def test_a_second_trainer_is_refused_naming_the_first_and_the_lock_dies_with_it(
        tmp_path, capsys, text_file):
    out = tmp_path / "run"
    first = train_process(["--text", str(text_file), *TINY, "--out", str(out),
                            "--steps", "100000"])
    try:
        wait_for(out / "checkpoint.npz", first)
        lines = _one_error_line(capsys, ["train", "--out", str(out), "--resume",
                                         "--steps", "100001"], code=2)
        assert len(lines) == 1
        assert f"is in use by another training run (PID {first.pid})" in lines[0]
        fresh = _one_error_line(capsys, ["train", "--text", str(text_file), *TINY, "--out",
                                         str(out), "--overwrite"], code=2)
        assert len(fresh) == 1 and f"PID {first.pid}" in fresh[0]
    finally:
        first.kill()                       # SIGKILL: the kernel drops its lock
        first.wait()
    step = load_checkpoint(out / "checkpoint.npz")["step"]
    assert cli.main(["train", "--out", str(out), "--resume", "--steps", str(step + 2),
                     "--sample-length", "0"]) == 0
    assert not (out / ".lock").exists()           # a clean end removes its lock file


def test_a_lock_file_deleted_while_a_run_waits_on_it_is_taken_again(tmp_path, monkeypatch):
    """Run A ends (deleting .lock) just as run B, which opened the old .lock, takes its flock:
    B must lock the new .lock, so that a third run C is refused and not let in beside B."""
    from nplstm.training import run_dir
    out = tmp_path / "run"
    first, second = run_dir.RunDir(out), run_dir.RunDir(out)
    first.acquire()
    real_flock = run_dir.fcntl.flock
    calls = []

    def flock_after_first_ends(fd, operation):
        if not calls:
            first.release()                     # the old .lock is deleted under B's feet
        calls.append(fd)
        return real_flock(fd, operation)

    monkeypatch.setattr(run_dir.fcntl, "flock", flock_after_first_ends)
    second.acquire()
    monkeypatch.setattr(run_dir.fcntl, "flock", real_flock)
    assert len(calls) == 2                      # B saw the old file go and locked the new one
    assert (out / ".lock").read_text().strip() == str(os.getpid())
    with pytest.raises(run_dir.RunLocked, match="in use by another training run"):
        run_dir.RunDir(out).acquire()
    second.release()
    assert not (out / ".lock").exists()


@contextmanager
def _tiny_tmpfs(path):
    """A 1 MiB tmpfs mounted at ``path`` (skips the test where mounting is not allowed)."""
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs to fill needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(directory, leave_bytes):
    """Fill the file system of ``directory`` up to its last ``leave_bytes``."""
    filler = directory / "filler"
    # unbuffered: Python 3.10's buffered file kept the chunk that did not fit and failed
    # again on close, with ENOSPC
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as err:
            assert err.errno == errno.ENOSPC
    os.truncate(filler, max(0, os.path.getsize(filler) - leave_bytes))
    return filler


def test_a_full_disk_keeps_the_old_checkpoint_and_says_so_in_one_line(
        tmp_path, capsys, text_file):
    with _tiny_tmpfs(tmp_path / "disk") as disk:
        out = disk / "run"
        assert cli.main(["train", "--text", str(text_file), *TINY, "--out", str(out),
                         "--steps", "5"]) == 0
        good = (out / "checkpoint.npz").read_bytes()
        assert len(good) > 3 * 4096                   # it cannot fit in what is left
        _fill(disk, leave_bytes=3 * 4096)
        # no evaluation before step 10's checkpoint: that is the write that fails
        lines = _one_error_line(capsys, ["train", "--out", str(out), "--resume", "--steps",
                                         "10", "--eval-every", "1000", "--sample-length", "0"],
                                code=1)
        assert len(lines) == 1, lines
        assert "No space left on device" in lines[0]
        assert f"cannot write {out / 'checkpoint.npz'}" in lines[0]
        assert "the last good checkpoint (step 5) is kept" in lines[0]
        assert (out / "checkpoint.npz").read_bytes() == good
        assert not [p for p in os.listdir(out) if ".tmp" in p]       # nothing half-written
        (disk / "filler").unlink()
        assert cli.main(["train", "--out", str(out), "--resume", "--steps", "10",
                         "--sample-length", "0"]) == 0               # room again: it goes on


def test_a_failed_checkpoint_write_is_one_line_on_any_machine(tmp_path, capsys, text_file,
                                                              monkeypatch):
    import nplstm.training.trainer

    out = tmp_path / "run"
    assert cli.main(["train", "--text", str(text_file), *TINY, "--out", str(out),
                     "--steps", "5"]) == 0
    good = (out / "checkpoint.npz").read_bytes()

    def full(path, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(nplstm.training.trainer, "save_checkpoint", full)
    lines = _one_error_line(capsys, ["train", "--out", str(out), "--resume", "--steps", "10"],
                            code=1)
    assert len(lines) == 1 and "cannot write" in lines[0] and "best.npz" in lines[0]
    assert "No space left on device" in lines[0]
    assert (out / "checkpoint.npz").read_bytes() == good


def test_a_failed_plot_write_is_one_line(tmp_path, capsys, text_file, monkeypatch):
    import nplstm.training.plots

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(nplstm.training.plots, "plot_run", full)
    out = tmp_path / "run"
    lines = _one_error_line(capsys, ["train", "--text", str(text_file), *TINY, "--out",
                                     str(out), "--steps", "5"], code=1)
    assert len(lines) == 1 and "cannot write the plots" in lines[0]
    assert "No space left on device" in lines[0]
    assert load_checkpoint(out / "checkpoint.npz")["step"] == 5
