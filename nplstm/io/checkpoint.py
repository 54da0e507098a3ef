"""Checkpoints: written atomically, read trusting nothing (the layout: checkpoint_format.py).

Reading: every member is read whole, so zip's CRC-32 covers each of its bytes; each ``.npy``
is parsed without pickles; the meta document's types are checked, and every array against
the shape and dtype it records.  Whatever is wrong, and whatever a damaged file makes
zipfile, NumPy or json raise, the caller gets one ``CheckpointError`` naming the file and
the fault.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import asnumpy, check_not_masked
from ..checks import check_int, check_real, one_line, printable_text, quoted_name
from .atomic import atomic_write
from .checkpoint_format import (FORMAT, FORMAT_1, META, RESERVED_KEYS, SECTIONS, STORED_DTYPES,
                                CheckpointError, member_name, optimizer_key)
from .zip_limits import open_zip

__all__ = ["save_checkpoint", "load_checkpoint", "write_npz", "NPY_HEADER_READERS"]

NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}


# -- writing ----------------------------------------------------------------------------------

def save_checkpoint(path: str | os.PathLike[str], *, step: int, model: dict[str, Any],
                    optimizer: dict[str, Any] | None = None,
                    state: dict[str, Any] | None = None, **meta: Any) -> None:
    """Write a checkpoint atomically (layout: checkpoint_format.py).

    step       the number of steps done, an int ≥ 0
    model      ``{name: array}``, e.g. ``module.state_dict()``
    optimizer  ``{"lr": float ≥ 0, "buffers": [array or None]}`` (``SGD.state_dict()``) or None
    state      ``{name: array}`` of carried arrays, or None
    meta       JSON-able extras (config, metrics, …) stored in the meta document

    Arrays may be NumPy or CuPy, float32/float64/int32/int64 (stored little-endian).  A wrong
    type is a ``TypeError``, a wrong value (a negative step) a ``ValueError``, either raised
    before anything is written.
    """
    step = check_int("save_checkpoint: step", step, minimum=0)
    clashing = sorted(RESERVED_KEYS & meta.keys())
    if clashing:
        raise TypeError(f"save_checkpoint: meta keys {clashing} are reserved for the "
                        f"checkpoint itself")
    arrays = _section_arrays("model", model)
    arrays.update(_section_arrays("state", state or {}))
    document = dict(meta, format=FORMAT, step=step)
    if optimizer is not None:
        lr, buffers = _optimizer_parts(optimizer)
        document["optimizer"] = {"lr": lr, "buffers_present": [b is not None for b in buffers]}
        arrays.update({optimizer_key(k): _stored_array(f"optimizer buffer {k}", b)
                       for k, b in enumerate(buffers) if b is not None})
    document["arrays"] = {key: {"shape": list(a.shape), "dtype": a.dtype.str}
                          for key, a in arrays.items()}
    try:
        text = json.dumps(document, sort_keys=True)
    except (TypeError, ValueError) as err:
        raise TypeError(f"save_checkpoint: the meta extras must be JSON values ({err})") \
            from None
    arrays[META] = np.array(text)
    atomic_write(path, lambda f: write_npz(f, arrays))


def write_npz(file: Any, arrays: dict[str, Any]) -> None:
    """``np.savez(file, **arrays)``'s archive (members NAME.npy, stored, zip64; any names),
    closed even when a write fails: numpy < 1.25's savez leaves its ZipFile open on an error
    (a full disk), and its ``__del__`` later fails again, as an unraisable exception."""
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, a in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, a, allow_pickle=False)


def _section_arrays(section: str, arrays: Any) -> dict[str, np.ndarray[Any, Any]]:
    """``{"<section>/<name>": host array}`` for one of save_checkpoint's dicts, checked."""
    if not isinstance(arrays, dict):
        raise TypeError(f"save_checkpoint: {section} must be a dict of arrays, "
                        f"got {type(arrays).__name__}")
    for name in arrays:
        if not isinstance(name, str) or not name:
            raise TypeError(f"save_checkpoint: {section} keys must be non-empty strings, "
                            f"got {name!r}")
    return {f"{section}/{name}": _stored_array(f"{section} array {name!r}", a)
            for name, a in arrays.items()}


def _stored_array(what: str, a: Any) -> np.ndarray[Any, Any]:
    """``a`` on the host, little-endian; a dtype outside STORED_DTYPES is a TypeError."""
    if not hasattr(a, "dtype") or not hasattr(a, "shape"):
        raise TypeError(f"save_checkpoint: {what} must be an array, got {type(a).__name__}")
    check_not_masked(f"save_checkpoint: {what}", a)
    host: np.ndarray[Any, Any] = asnumpy(a)
    little = host.dtype.newbyteorder("<")
    if little.str not in STORED_DTYPES:
        raise TypeError(f"save_checkpoint: {what} has dtype {host.dtype}; checkpoints hold "
                        f"float32, float64, int32 or int64 arrays")
    return host.astype(little, copy=False)          # the same values; only the byte order


def _optimizer_parts(optimizer: Any) -> tuple[float, list[Any]]:
    """(lr, buffers) of an ``SGD.state_dict()``, checked."""
    if not isinstance(optimizer, dict) or set(optimizer) != {"lr", "buffers"}:
        raise TypeError("save_checkpoint: optimizer must be {'lr': float, 'buffers': [...]} "
                        "(SGD.state_dict()) or None")
    lr, buffers = optimizer["lr"], optimizer["buffers"]
    lr = check_real("save_checkpoint: optimizer lr", lr, minimum=0)   # 0: a schedule's end
    if not isinstance(buffers, (list, tuple)):
        raise TypeError(f"save_checkpoint: optimizer buffers must be a list of arrays or "
                        f"None, got {type(buffers).__name__}")
    return lr, list(buffers)


# -- reading ----------------------------------------------------------------------------------

class _Fault(Exception):
    """What is wrong with a checkpoint, in words (becomes a CheckpointError at the boundary)."""


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint: ``{"model": state_dict, "step": int, "optimizer": {"lr": float,
    "buffers": [array or None]} or None, "state": {name: array}, "config": {...}, ...}``
    (the meta document's other keys at the top level).

    Never unpickles.  A missing, truncated, corrupt, foreign or inconsistent file is a
    ``CheckpointError`` that names the path and what is wrong; nothing else is raised.
    """
    path = Path(path)
    try:
        if not path.exists():
            raise CheckpointError(f"no checkpoint at {path}")
        if not path.is_file():
            raise _Fault("it is a directory" if path.is_dir() else "it is not a regular file")
        return _read(path)
    except CheckpointError:
        raise
    except Exception as err:        # whatever a damaged file raises (not KeyboardInterrupt)
        raise CheckpointError(f"{path} is not a readable checkpoint ({_describe(err)})") \
            from err


def _describe(err: Exception, limit: int = 300) -> str:
    """One line: our own fault's words, or a foreign exception's type and message, safe
    for a terminal and cut past ``limit`` characters (``checks.one_line``)."""
    text = str(err) if isinstance(err, _Fault) else ": ".join(
        part for part in (type(err).__name__, str(err)) if part)
    return one_line(text, limit)


def _read(path: Path) -> dict[str, Any]:
    with open_zip(path, source=None, error=_Fault) as archive:   # no record named twice
        entries = _entries(archive)
        if META not in entries:
            raise _Fault(f"it has no {member_name(META)} member")
        document = _parse_document(_read_member(archive, entries.pop(META)))
        recorded = _recorded_arrays(document, set(entries))
        arrays = {key: _parse_array(key, _read_member(archive, info), recorded.get(key))
                  for key, info in entries.items()}
    return _assemble(document, arrays)


def _entries(archive: zipfile.ZipFile) -> dict[str, Any]:
    """``{key: ZipInfo}`` of the ``<key>.npy`` members, each stored uncompressed (open_zip
    has refused a member named twice or claiming more bytes than the file has)."""
    entries = {}
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            raise _Fault(f"member {quoted_name(name)} is not a .npy array")
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Fault(f"member {quoted_name(name)} is compressed (method {info.compress_type}); "
                         f"checkpoints store their members uncompressed")
        entries[name[:-4]] = info
    return entries


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member's bytes, read to the end: zipfile checks them against their CRC-32 then."""
    data = archive.read(info)
    if len(data) != info.file_size:
        raise _Fault(f"member {quoted_name(info.filename)} has {len(data)} bytes, its entry says "
                     f"{info.file_size}")
    return data


def _parse_npy(key: str, data: bytes, check_header: Any) -> np.ndarray[Any, Any]:
    """The array in one ``.npy`` member's bytes, never unpickled.  ``check_header(shape,
    dtype)`` vets the header before the data is read; the sizes must add up exactly."""
    buffer = io.BytesIO(data)
    version = np.lib.format.read_magic(buffer)
    if version not in NPY_HEADER_READERS:
        raise _Fault(f"member {quoted_name(member_name(key))} is a .npy of version {version}")
    shape, _, dtype = NPY_HEADER_READERS[version](buffer)
    check_header(shape, dtype)
    size = math.prod(shape) * dtype.itemsize
    if len(data) - buffer.tell() != size:
        raise _Fault(f"member {quoted_name(member_name(key))} has "
                     f"{len(data) - buffer.tell()} bytes of data, its header {shape} "
                     f"{dtype.str} needs {size}")
    buffer.seek(0)
    return np.lib.format.read_array(buffer, allow_pickle=False)


def _parse_document(data: bytes) -> dict[str, Any]:
    """The meta document: JSON in a 0-d unicode array, its types checked."""
    def unicode_scalar(shape: Any, dtype: Any) -> None:
        if shape != () or dtype.kind != "U":
            raise _Fault(f"its meta document is a {dtype.str} array of shape {shape}, not a "
                         f"0-d unicode string")

    document = json.loads(str(_parse_npy(META, data, unicode_scalar)[()]))
    if not isinstance(document, dict) or document.get("format") not in (FORMAT, FORMAT_1):
        raise _Fault(f"its meta document is not an {FORMAT!r} header")
    step = document.get("step")
    if type(step) is not int or step < 0:
        raise _Fault(f"its step must be an int >= 0, the meta document has "
                     f"{printable_text(repr(step), 80)}")
    if "config" in document and not isinstance(document["config"], dict):
        raise _Fault(f"its config must be a JSON object, the meta document has "
                     f"{type(document['config']).__name__}")
    if "optimizer" in document:
        _check_optimizer(document["optimizer"])
    if document["format"] == FORMAT:
        _check_manifest(document.get("arrays"))
    return document


def _check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, dict) or set(optimizer) != {"lr", "buffers_present"}:
        raise _Fault(f"its optimizer entry must be {{'lr', 'buffers_present'}}, the meta "
                     f"document has {printable_text(repr(optimizer), 120)}")
    lr, present = optimizer["lr"], optimizer["buffers_present"]
    if type(lr) not in (int, float) or not (math.isfinite(lr) and lr >= 0):
        raise _Fault(f"its optimizer lr must be a finite number >= 0, the meta document has "
                     f"{printable_text(repr(lr), 80)}")
    if not isinstance(present, list) or not all(type(p) is bool for p in present):
        raise _Fault(f"its buffers_present must be a list of true/false, the meta document "
                     f"has {printable_text(repr(present), 80)}")


def _check_manifest(manifest: Any) -> None:
    """Format 2's ``arrays``: ``{key: {"shape": [int ≥ 0, …], "dtype": a STORED_DTYPES}}``."""
    if not isinstance(manifest, dict):
        raise _Fault("its meta document has no 'arrays' manifest")
    for key, entry in manifest.items():
        if not (isinstance(entry, dict) and set(entry) == {"shape", "dtype"}
                and isinstance(entry["shape"], list)
                and all(type(n) is int and n >= 0 for n in entry["shape"])
                and entry["dtype"] in STORED_DTYPES):
            raise _Fault(f"its manifest entry for {quoted_name(key)} is not {{'shape': [int >= 0, "
                         f"...], 'dtype': one of {sorted(STORED_DTYPES)}}}: "
                         f"{printable_text(repr(entry), 120)}")


def _recorded_arrays(document: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """``{key: (shape, dtype str)}`` the meta document records (format 1: nothing), after
    checking that the members ``keys`` are the arrays it promises: format 2's manifest exactly;
    in either format, the optim buffers that ``buffers_present`` marks, and only names in
    ``SECTIONS``."""
    present = document.get("optimizer", {}).get("buffers_present", [])
    promised_buffers = {optimizer_key(k) for k, ok in enumerate(present) if ok}
    if document["format"] == FORMAT:
        recorded = {key: (tuple(e["shape"]), e["dtype"]) for key, e in document["arrays"].items()}
        promised = set(recorded)
    else:                                   # format 1 names no model or state arrays
        recorded = {}
        promised = {k for k in keys if not k.startswith("optim/")} | promised_buffers
    unexpected, missing = sorted(keys - promised), sorted(promised - keys)
    if unexpected or missing:
        raise _Fault(f"its members disagree with its meta document (unexpected: "
                     f"{[member_name(k) for k in unexpected]}, missing: "
                     f"{[member_name(k) for k in missing]})")
    buffers = {k for k in promised if k.startswith("optim/")}
    if buffers != promised_buffers:
        raise _Fault(f"its optimizer buffers {sorted(buffers)} disagree with buffers_present "
                     f"{present}")
    outside = sorted(k for k in promised
                     if not any(k.startswith(s) and len(k) > len(s) for s in SECTIONS))
    if outside:
        raise _Fault(f"its arrays {outside} are in none of the sections {list(SECTIONS)}")
    return recorded


def _parse_array(key: str, data: bytes, recorded: Any) -> np.ndarray[Any, Any]:
    """One ``model/``, ``optim/`` or ``state/`` array; its header must match what the meta
    document records (format 1: only a dtype from STORED_DTYPES)."""
    def as_recorded(shape: Any, dtype: Any) -> None:
        if dtype.str not in STORED_DTYPES:
            raise _Fault(f"member {quoted_name(member_name(key))} has dtype {dtype.str}, not "
                         f"one of {sorted(STORED_DTYPES)}")
        if recorded is not None and (shape, dtype.str) != recorded:
            raise _Fault(f"member {quoted_name(member_name(key))} has shape {shape} and dtype "
                         f"{dtype.str}, its meta document records {recorded[0]} and "
                         f"{recorded[1]}")

    return _parse_npy(key, data, as_recorded)


def _assemble(document: dict[str, Any], arrays: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in document.items() if k != "arrays"}
    for section in ("model", "state"):
        prefix = f"{section}/"
        result[section] = {k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix)}
    result["optimizer"] = None
    if "optimizer" in document:
        present = document["optimizer"]["buffers_present"]
        result["optimizer"] = {
            "lr": float(document["optimizer"]["lr"]),
            "buffers": [arrays[optimizer_key(k)] if ok else None for k, ok in enumerate(present)]}
    return result
