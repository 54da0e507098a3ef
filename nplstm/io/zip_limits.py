"""Opening a zip archive that may be hostile: the one rule every zip nplstm reads follows
(torch ``.pt`` archives, ``.npz`` files, nplstm checkpoints, the zip of a ``.keras`` file), so
that reading a file of S bytes allocates about the arrays it holds, in time about linear in S:

* every record is stored or deflated (the methods torch, numpy and Keras write: an LZMA
  record's header may ask the decoder for gigabytes) and named once (an archive with two
  ``data.pkl`` is refused naming it: readers, and torch versions, disagree on which counts);
* a record's compressed bytes lie within the file; a stored record declares what it stores;
* going through the records in order, the running total of their declared sizes stays within
  ``max_ratio`` × the running total of their compressed sizes + ``RATIO_SLACK`` (1 MiB), so
  the archive unpacks to at most ``max_ratio`` · S + 1 MiB; the record where it is exceeded
  is refused by name.  ``max_ratio=None`` lifts the limit for a trusted file (zipfile still
  never returns more than a record declares).

``DEFAULT_MAX_RATIO`` (100) is far above what weights compress by (about 1.1; mostly zeros:
tens) and far below a bomb's (deflate reaches 1032); docs/interop.md, "Memory and time per
file size".
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter

import numpy as np

from ..checks import check_real, quoted_name, quoted_names

__all__ = ["open_zip", "checked_max_ratio", "read_into", "DEFAULT_MAX_RATIO", "RATIO_SLACK"]

DEFAULT_MAX_RATIO = 100
RATIO_SLACK = 1 << 20
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)   # what torch, numpy and Keras write


def checked_max_ratio(max_ratio):
    """``max_ratio`` as given to a reader: None (no limit) or a finite real number >= 1 (an
    int past float64's range too: no practical limit)."""
    if type(max_ratio) is int and max_ratio >= 1:
        return max_ratio
    return check_real("max_ratio", max_ratio, minimum=1, allow_none=True)


def open_zip(path, *, source: str | None, max_ratio=DEFAULT_MAX_RATIO,
             error: type[Exception] = ValueError) -> zipfile.ZipFile:
    """``zipfile.ZipFile(path)`` after checking its records against the module's rule;
    a breach is ``error`` with a one-line message starting with ``source`` (when given).  Use
    it as a context manager, like ZipFile.  zipfile's own errors on a damaged file pass through."""
    max_ratio = checked_max_ratio(max_ratio)
    archive = zipfile.ZipFile(path)
    try:
        _check_records(archive.infolist(), _size_of(path), source=source,
                       max_ratio=max_ratio, error=error)
    except BaseException:
        archive.close()
        raise
    return archive


_CHUNK = 1 << 20


def read_into(stream, array) -> int:
    """Read ``stream`` (a zip record opened for reading) into ``array``'s memory (C- or
    F-contiguous, as np.empty makes it) until it is full or the stream ends, 1 MiB at a time:
    the record's bytes are never held twice.  Returns the number of bytes read."""
    target = memoryview(array.reshape(-1, order="A").view(np.uint8))
    done = 0
    while done < len(target):
        got = stream.readinto(target[done:done + _CHUNK])
        if not got:
            break
        done += got
    return done


def _size_of(path) -> int:
    if hasattr(path, "seek") and hasattr(path, "tell"):
        here = path.tell()
        end = path.seek(0, os.SEEK_END)
        path.seek(here)
        return end
    return os.stat(path).st_size


def _check_records(infos, file_size: int, *, source, max_ratio, error) -> None:
    lead = f"{source}: " if source else ""
    counts = Counter(info.filename for info in infos)
    twice = [name for name, n in counts.items() if n > 1]
    if twice:
        raise error(f"{lead}the zip archive names a record more than once "
                    f"({quoted_names(twice)}); "
                    "readers disagree on which copy counts, so it is refused")
    unpacked = packed = 0
    for info in infos:
        name = quoted_name(info.filename)
        if info.compress_type not in _METHODS:
            raise error(f"{lead}record {name} is compressed with zip method "
                        f"{info.compress_type}; nplstm reads stored and deflated records only "
                        "(others, such as LZMA, may ask for gigabytes before a byte is read)")
        if info.compress_size > file_size:
            raise error(f"{lead}record {name} claims {info.compress_size} bytes, more "
                        f"than the file's {file_size}")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise error(f"{lead}stored record {name} declares {info.file_size} bytes "
                            f"but stores {info.compress_size}")
            continue
        unpacked += info.file_size
        packed += info.compress_size
        if max_ratio is not None and unpacked > max_ratio * packed + RATIO_SLACK:
            raise error(f"{lead}record {name} unpacks to {info.file_size} bytes from "
                        f"{info.compress_size} compressed, beyond max_ratio={max_ratio:g} "
                        f"(a zip bomb?); if you trust the file, pass max_ratio=None")
