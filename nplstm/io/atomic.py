"""Files written atomically.

A file is written to a temporary file in the same directory (``.NAME.tmpPID``), flushed and
fsync'ed, then renamed over the old one (``os.replace`` is atomic), and the directory is
fsync'ed: a crash at any moment leaves either the old file or the new one, never a torn file.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes"]


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, rename it over
    ``path`` and fsync the directory.  On any error the temporary file is removed and the
    old ``path`` is untouched."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def atomic_write_bytes(path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:          # some platforms cannot open directories; the rename still holds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
