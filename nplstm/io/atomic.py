"""Files written atomically, safely in a folder others can write to (docs/interop.md,
"Writing: the overwrite rule", says what each step guards against).

A file is written to a new temporary ``.NAME.PID.RANDOM.nplstm-tmp`` beside it, created
exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``: a file or symlink planted at any name is never
written through; RANDOM, 16 hex digits, makes the name unpredictable), flushed and fsync'ed,
renamed over the old one (``os.replace``), and the folder is fsync'ed: a crash leaves the old
file or the new one, never a torn one.  PID lets a later write to the same target remove the
temporaries of writers that are gone (checked on this machine only).  A replaced file keeps
its permission bits (not set-id or sticky); a new one gets ``0666 & ~umask``.
"""

from __future__ import annotations

import os
import re
from contextlib import suppress
import secrets
import stat
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes", "remove_stale_temporaries",
           "TEMPORARY_SUFFIX"]

TEMPORARY_SUFFIX = ".nplstm-tmp"
_NAME_BYTES = 200           # a temporary's NAME part at most (file names hold 255 bytes)
_ATTEMPTS = 100             # fresh random names tried before giving up (as tempfile does)
_CREATE = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
           | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a new temporary file beside ``path``, fsync it, rename it over
    ``path`` and fsync the folder.  On any error (Ctrl-C included) the temporary file is
    removed and the old ``path`` is untouched; an ``OSError`` names ``path``, never the
    temporary file.  Stale temporaries of ``path`` left by dead writers are removed first."""
    path = Path(path)
    remove_stale_temporaries(path)
    mode = _mode_for(path)
    tmp = None
    try:
        fd, tmp = _create_temporary(path)
        with os.fdopen(fd, "wb") as f:
            _chmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            _unlink(tmp)
        if isinstance(err, OSError) and tmp is not None and \
                os.fspath(tmp) in (err.filename, err.filename2):
            raise OSError(err.errno, err.strerror, os.fspath(path)) from None
        raise
    _fsync_directory(path.parent)


def atomic_write_bytes(path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def remove_stale_temporaries(path) -> None:
    """Delete the temporaries of ``path`` (``.NAME.PID.RANDOM.nplstm-tmp``, and the
    ``.NAME.tmpPID`` earlier versions wrote) whose writer process is gone.  A live process's (this
    one's included: another thread may be writing), and any file of another name, is left
    alone; a folder that cannot be listed is skipped."""
    path = Path(path)
    current = re.compile(re.escape(f".{_short_name(path)}.") + r"(\d+)\.[0-9a-f]{16}"
                         + re.escape(TEMPORARY_SUFFIX))
    legacy = re.compile(re.escape(f".{path.name}.tmp") + r"(\d+)")
    try:
        entries = [e.name for e in os.scandir(path.parent)]
    except OSError:
        return
    for name in entries:
        match = current.fullmatch(name) or legacy.fullmatch(name)
        if match and not _alive(int(match.group(1))):
            _unlink(path.parent / name)


def _create_temporary(path: Path):
    """(fd, path) of a new, empty temporary file for ``path``, mode 0600 until chmod'ed."""
    prefix = f".{_short_name(path)}.{os.getpid()}."
    for _ in range(_ATTEMPTS):
        tmp = path.with_name(f"{prefix}{_random_token()}{TEMPORARY_SUFFIX}")
        try:
            return os.open(tmp, _CREATE, 0o600), tmp
        except FileExistsError:           # taken (planted, even): draw another name
            continue
        except OSError as err:            # no such folder, no permission: say so of path
            raise OSError(err.errno, err.strerror, os.fspath(path)) from None
    raise FileExistsError(17, f"no unused temporary file name after {_ATTEMPTS} tries",
                          os.fspath(path))


def _random_token() -> str:
    return secrets.token_hex(8)


def _short_name(path: Path) -> str:
    """``path``'s name, cut to ``_NAME_BYTES`` bytes so that its temporary's name fits."""
    return os.fsdecode(os.fsencode(path.name)[:_NAME_BYTES])


def _mode_for(path: Path) -> int:
    """The permission bits of the file ``path`` replaces, or ``0666 & ~umask`` for a new one."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode) & 0o777
    return 0o666 & ~_umask()


def _chmod(fd: int, mode: int) -> None:
    """Give the temporary file its final mode (where the platform and file system can: else
    it keeps 0600, the safe side)."""
    with suppress(AttributeError, OSError):
        os.fchmod(fd, mode)


def _umask() -> int:
    """The process's umask, read without changing it where /proc tells it (Linux), since
    setting it to read it would race other threads."""
    with suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    """Whether process ``pid`` may still be writing (True when it cannot be told)."""
    if pid == os.getpid() or os.name != "posix":    # Windows' os.kill(pid, 0) is Ctrl-C
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):   # not ours to signal; or not a valid PID
        return True
    return True


def _unlink(path) -> None:
    with suppress(OSError):
        os.unlink(path)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:          # some platforms cannot open directories; the rename still holds
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
