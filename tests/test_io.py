"""Checkpoint files (nplstm.io): a bit-exact round trip, atomic writes, and a reader that trusts
nothing: a damaged, truncated, foreign or inconsistent file is one ``CheckpointError`` naming
the file, and a file that loads holds exactly the arrays that were written (issue 14)."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nplstm.io import FORMAT, CheckpointError, load_checkpoint, save_checkpoint

FIXTURES = Path(__file__).parent / "fixtures"


def format_1_contents() -> dict:
    """What tests/fixtures/checkpoint_format1.npz holds (make_checkpoint_format1.py)."""
    rng = np.random.default_rng(1)
    return {"step": 12, "config": {"hidden": 4, "task": "charlm"},
            "model": {"weight": rng.standard_normal((3, 2)).astype(np.float32),
                      "bias": rng.standard_normal(3).astype(np.float32)},
            "optimizer": {"lr": 0.5,
                          "buffers": [rng.standard_normal((3, 2)).astype(np.float32), None]},
            "state": {"h": rng.standard_normal((1, 4))}}


def _issue_14_contents() -> dict:
    """A ~7 KB checkpoint whose weight (64×16 float32, as in issue 14) is a zip member longer
    than zipfile's 4 KB read-ahead: the old reader read only its first bytes, so the member's
    CRC-32 was never checked and a flipped header shape loaded as a different array."""
    rng = np.random.default_rng(14)
    return {"step": 42, "config": {"hidden": 16, "task": "adding"},
            "model": {"weight": rng.standard_normal((64, 16)).astype(np.float32),
                      "bias": rng.standard_normal(16).astype(np.float32)},
            "optimizer": {"lr": 0.25,
                          "buffers": [None, rng.standard_normal(16).astype(np.float32)]},
            "state": {"h": rng.standard_normal((1, 4)), "c": rng.standard_normal((1, 4))}}


def _save(path, contents):
    save_checkpoint(path, step=contents["step"], model=contents["model"],
                    optimizer=contents["optimizer"], state=contents["state"],
                    config=contents["config"])


def _difference(loaded: dict, expected: dict) -> str | None:
    """None when ``loaded`` holds exactly ``expected`` (bit for bit), else what differs."""
    if type(loaded["step"]) is not int or loaded["step"] != expected["step"]:
        return f"step {loaded['step']!r}"
    if loaded["config"] != expected["config"]:
        return f"config {loaded['config']!r}"
    pairs = [(f"{s}/{k}", loaded[s].get(k), a) for s in ("model", "state")
             for k, a in expected[s].items()]
    if loaded["model"].keys() != expected["model"].keys() or \
            loaded["state"].keys() != expected["state"].keys():
        return f"keys {list(loaded['model'])} {list(loaded['state'])}"
    if (loaded["optimizer"] is None) != (expected["optimizer"] is None):
        return f"optimizer {loaded['optimizer']!r}"
    if expected["optimizer"] is not None:
        got, want = loaded["optimizer"], expected["optimizer"]
        if got["lr"] != want["lr"] or len(got["buffers"]) != len(want["buffers"]):
            return f"optimizer {got!r}"
        pairs += [(f"optim/{k}", b, w) for k, (b, w) in enumerate(zip(got["buffers"],
                                                                      want["buffers"]))]
    for name, got, want in pairs:
        if (got is None) != (want is None):
            return f"{name} is {got!r}"
        if want is not None and (got.dtype != want.dtype or got.shape != want.shape
                                 or got.tobytes() != want.tobytes()):
            return f"{name}: {got.dtype} {got.shape}, written {want.dtype} {want.shape}"
    return None


def _assert_refused(path, match: str) -> str:
    """load_checkpoint(path) raises CheckpointError itself (no subclass, nothing else), whose
    message names the file and matches ``match``."""
    with pytest.raises(Exception) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert type(info.value) is CheckpointError, f"{type(info.value).__name__}: {message}"
    assert str(path) in message and re.search(match, message), message
    return message


# -- the round trip ---------------------------------------------------------------------------

_stored_arrays = st.sampled_from([np.float32, np.float64, np.int32, np.int64]).flatmap(
    lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                     max_side=4)))
_names = st.text(alphabet="abcxyz_.0123", min_size=1, max_size=8)


@given(model=st.dictionaries(_names, _stored_arrays, min_size=1, max_size=4),
       buffers=st.none() | st.lists(st.none() | _stored_arrays, max_size=4),
       state=st.dictionaries(_names, _stored_arrays, max_size=3),
       step=st.integers(0, 2**62), lr=st.floats(0, 10))
def test_the_round_trip_is_bit_exact(tmp_path_factory, model, buffers, state, step, lr):
    """Any float32/float64/int32/int64 arrays (NaN, inf, -0 and empty ones included), None
    buffers among present ones, and the extras come back exactly."""
    path = tmp_path_factory.mktemp("round_trip") / "c.npz"
    contents = {"step": step, "config": {"lr": lr, "names": sorted(model)}, "model": model,
                "state": state,
                "optimizer": None if buffers is None else {"lr": lr, "buffers": buffers}}
    _save(path, contents)
    loaded = load_checkpoint(path)
    assert _difference(loaded, contents) is None
    assert loaded["format"] == FORMAT and "arrays" not in loaded


def test_views_and_big_endian_arrays_are_stored_with_their_values(tmp_path):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((4, 6))
    model = {"transposed": base.T, "strided": base[::2, 1::2],
             "big_endian": base.astype(">f4")}
    path = tmp_path / "c.npz"
    save_checkpoint(path, step=1, model=model)
    loaded = load_checkpoint(path)["model"]
    for name, written in model.items():
        assert np.array_equal(loaded[name], written) and loaded[name].shape == written.shape
    assert loaded["big_endian"].dtype == np.dtype("<f4")        # the byte order, not the type
    with np.load(path, allow_pickle=False) as plain:          # still a plain .npz
        assert np.array_equal(plain["model/strided"], model["strided"])


def test_a_format_1_checkpoint_still_loads():
    loaded = load_checkpoint(FIXTURES / "checkpoint_format1.npz")
    assert loaded["format"] == "nplstm-checkpoint-1"
    assert _difference(loaded, format_1_contents()) is None


# -- bit flips and truncations ----------------------------------------------------------------

def _bits_to_flip(data: bytes) -> list[int]:
    """3000 bits drawn (seeded) from the whole file, and every bit of the weight's .npy
    header (where issue 14's shape (64, 16) → (44, 16) lies)."""
    drawn = np.random.default_rng(2026).choice(len(data) * 8, size=3000, replace=False)
    header = data.rindex(b"\x93NUMPY", 0, data.index(b"(64, 16)"))
    header_end = header + 10 + int.from_bytes(data[header + 8:header + 10], "little")
    return sorted(set(drawn.tolist()) | set(range(header * 8, header_end * 8)))


def _load_with_bit_flipped(path, data: bytes, bit: int):
    """load_checkpoint(path) with one bit of the file flipped (put back afterwards)."""
    offset, bit_in_byte = divmod(bit, 8)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, bytes([data[offset] ^ (1 << bit_in_byte)]), offset)
        try:
            return load_checkpoint(path)
        finally:
            os.pwrite(fd, data[offset:offset + 1], offset)
    finally:
        os.close(fd)


def test_a_flipped_bit_is_refused_or_harmless(tmp_path):
    """Each of ~4000 single-bit flips (_bits_to_flip) raises CheckpointError naming the file,
    or (a flip in a zip field nothing reads, such as a timestamp) loads exactly what was
    written; never altered arrays, never another exception."""
    path = tmp_path / "checkpoint.npz"
    contents = _issue_14_contents()
    _save(path, contents)
    data = path.read_bytes()
    outcomes = collections.Counter()
    for bit in _bits_to_flip(data):
        try:
            loaded = _load_with_bit_flipped(path, data, bit)
        except CheckpointError as err:
            assert type(err) is CheckpointError and str(path) in str(err), (bit, str(err))
            outcomes["refused"] += 1
        except Exception as err:
            pytest.fail(f"flipping bit {bit} raised {type(err).__name__}: {err}")
        else:
            difference = _difference(loaded, contents)
            assert difference is None, f"flipping bit {bit} loaded altered data: {difference}"
            outcomes["identical"] += 1
    assert path.read_bytes() == data
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == len(_bits_to_flip(data))


def test_a_flipped_header_shape_is_refused(tmp_path):
    """Issue 14's example: the weight's header shape (64, 16) flipped to (44, 16)."""
    path = tmp_path / "checkpoint.npz"
    _save(path, _issue_14_contents())
    data = bytearray(path.read_bytes())
    data[data.index(b"(64, 16)") + 1] ^= 0x02                   # '6' (0x36) → '4' (0x34)
    path.write_bytes(data)
    assert b"(44, 16)" in path.read_bytes()
    _assert_refused(path, "CRC")


def test_every_truncation_is_refused(tmp_path):
    path = tmp_path / "checkpoint.npz"
    _save(path, format_1_contents())
    for length in reversed(range(path.stat().st_size)):     # the last byte gone, … all gone
        os.truncate(path, length)
        _assert_refused(path, "not a readable checkpoint")


# -- files that are not checkpoints -----------------------------------------------------------

class _TouchWhenUnpickled:
    """An object whose unpickling creates the file ``marker``: proof that nothing unpickles."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_pickled_object_array_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    evil = np.array([_TouchWhenUnpickled(marker)], dtype=object)
    assert pickle.loads(pickle.dumps(evil[0])) is None and marker.exists()    # it would work
    marker.unlink()
    path = tmp_path / "checkpoint.npz"
    np.savez(path, meta=evil)
    _assert_refused(path, "meta document is a \\|O array")
    _save(path, format_1_contents())
    _rewrite(path, lambda document, arrays: arrays.update({"model/weight": evil}))
    _assert_refused(path, "member 'model/weight.npy' has dtype \\|O")
    assert not marker.exists()


def _rewrite(path, change):
    """Rewrite the checkpoint at ``path`` after ``change(document, arrays)`` edits its meta
    document and its arrays (read here with NumPy, trusting the file)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    document = json.loads(str(arrays.pop("meta")))
    change(document, arrays)
    np.savez(path, meta=np.array(json.dumps(document)), **arrays)


def _bare_npy(path):
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))


def _compressed(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    np.savez_compressed(path, **arrays)


FOREIGN_FILES = {
    "zero-length": (lambda p: p.write_bytes(b""), "not a readable checkpoint"),
    "directory": (lambda p: (p.unlink(), p.mkdir()), "it is a directory"),
    "bare .npy": (_bare_npy, "not a readable checkpoint"),
    "text": (lambda p: p.write_text("step = 12\n"), "not a readable checkpoint"),
    "npz without meta": (lambda p: np.savez(p, x=np.zeros(2)), "no meta.npy member"),
    "compressed members": (_compressed, "compressed"),
}


@pytest.mark.parametrize("name", FOREIGN_FILES)
def test_a_foreign_file_is_refused(tmp_path, name):
    path = tmp_path / "checkpoint.npz"
    _save(path, format_1_contents())
    make, match = FOREIGN_FILES[name]
    make(path)
    _assert_refused(path, match)


def _entry(key):
    return lambda document, arrays: document["arrays"][key]


# name: (change(document, arrays) on a good format-2 checkpoint, the fault's words)
BAD_CONTENTS = {
    "wrong format": (lambda d, a: d.update(format="nplstm-checkpoint-9"),
                     "not an 'nplstm-checkpoint-2' header"),
    "step '-5'": (lambda d, a: d.update(step="-5"), "step must be an int >= 0.*'-5'"),
    "step -5": (lambda d, a: d.update(step=-5), "step must be an int >= 0.*-5"),
    "step 1.5": (lambda d, a: d.update(step=1.5), "step must be an int >= 0.*1.5"),
    "step true": (lambda d, a: d.update(step=True), "step must be an int >= 0.*True"),
    "no step": (lambda d, a: d.pop("step"), "step must be an int >= 0.*None"),
    "config a list": (lambda d, a: d.update(config=[1, 2]), "config must be a JSON object"),
    "lr a string": (lambda d, a: d["optimizer"].update(lr="0.5"), "lr must be a finite"),
    "lr NaN": (lambda d, a: d["optimizer"].update(lr=float("nan")), "lr must be a finite"),
    "buffers_present ints": (lambda d, a: d["optimizer"].update(buffers_present=[1, 0]),
                             "buffers_present must be a list of true/false"),
    "optimizer a list": (lambda d, a: d.update(optimizer=[0.5]), "optimizer entry must be"),
    "no manifest": (lambda d, a: d.pop("arrays"), "no 'arrays' manifest"),
    "negative shape": (lambda d, a: _entry("model/bias")(d, a).update(shape=[-3]),
                       "manifest entry for 'model/bias'"),
    "object dtype": (lambda d, a: _entry("model/bias")(d, a).update(dtype="|O"),
                     "manifest entry for 'model/bias'"),
    "shape disagrees": (lambda d, a: a.update({"model/weight": a["model/weight"].T.copy()}),
                        r"'model/weight.npy' has shape \(2, 3\).*records \(3, 2\)"),
    "dtype disagrees": (lambda d, a: a.update({"state/h": a["state/h"].astype(np.float32)}),
                        "'state/h.npy' has shape .* and dtype <f4, .* <f8"),
    "big-endian member": (lambda d, a: a.update({"state/h": a["state/h"].astype(">f8")}),
                          "'state/h.npy' has dtype >f8"),
    "float16 member": (lambda d, a: (a.update({"state/h": a["state/h"].astype(np.float16)}),
                                     _entry("state/h")(d, a).update(dtype="<f2")),
                       "manifest entry for 'state/h'"),
    "extra member": (lambda d, a: a.update({"model/extra": np.zeros(2, np.float32)}),
                     r"unexpected: \['model/extra.npy'\]"),
    "missing member": (lambda d, a: a.pop("state/h"), r"missing: \['state/h.npy'\]"),
    "unmarked buffer": (lambda d, a: d["optimizer"].update(buffers_present=[True, True]),
                        "optimizer buffers .* disagree with buffers_present"),
    "array outside the sections": (
        lambda d, a: (a.update({"other/x": np.zeros(1)}),
                      d["arrays"].update({"other/x": {"shape": [1], "dtype": "<f8"}})),
        r"arrays \['other/x'\] are in none of the sections"),
    "format 1 with an unmarked buffer": (
        lambda d, a: (d.update(format="nplstm-checkpoint-1"),
                      a.update({"optim/1": np.zeros(2, np.float32)})),
        r"unexpected: \['optim/1.npy'\]"),
}


@pytest.mark.parametrize("name", BAD_CONTENTS)
def test_an_inconsistent_checkpoint_is_refused(tmp_path, name):
    path = tmp_path / "checkpoint.npz"
    _save(path, format_1_contents())
    change, match = BAD_CONTENTS[name]
    _rewrite(path, change)
    _assert_refused(path, match)


META_DOCUMENTS = {
    "not JSON": (np.array("{step: 12"), "JSONDecodeError"),
    "a JSON list": (np.array("[1, 2]"), "not an 'nplstm-checkpoint-2' header"),
    "1-d": (np.array(["{}"]), "meta document is a <U2 array of shape \\(1,\\)"),
    "bytes": (np.array(b"{}"), "meta document is a \\|S2 array"),
    "nested 10^5 deep": (np.array("[" * 10**5 + "]" * 10**5), "RecursionError"),
}


@pytest.mark.parametrize("name", META_DOCUMENTS)
def test_a_meta_document_that_is_no_json_object_is_refused(tmp_path, name):
    path = tmp_path / "checkpoint.npz"
    meta, match = META_DOCUMENTS[name]
    np.savez(path, meta=meta)
    _assert_refused(path, match)


def _npy(array, shape=None) -> bytes:
    """``array`` as .npy bytes; with ``shape``, a header that claims this shape instead."""
    buffer = io.BytesIO()
    header = np.lib.format.header_data_from_array_1_0(array)
    np.lib.format.write_array_header_1_0(buffer, dict(header, shape=shape or array.shape))
    buffer.write(array.tobytes())
    return buffer.getvalue()


def _write_zip(path, members: dict, manifest: dict) -> None:
    """A zip of ``members`` ({name: bytes}) and a format-2 meta document with ``manifest``."""
    document = {"format": FORMAT, "step": 1, "arrays": manifest}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                   # zipfile warns of duplicate names
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in list(members.items()) + [("meta.npy", _npy(np.array(
                    json.dumps(document))))]:
                archive.writestr(name.rstrip("+"), data)


_W = np.arange(6, dtype=np.float32)
_W_ENTRY = {"model/w": {"shape": [6], "dtype": "<f4"}}
RAW_ZIPS = {
    "a header claiming 8 GB": ({"model/w.npy": _npy(_W, (10**9,))},
                               {"model/w": {"shape": [10**9], "dtype": "<f4"}},
                               r"has 24 bytes of data, its header \(1000000000,\) <f4 needs"),
    "data after the array": ({"model/w.npy": _npy(_W, (5,))},
                             {"model/w": {"shape": [5], "dtype": "<f4"}},
                             r"has 24 bytes of data, its header \(5,\) <f4 needs 20"),
    "a member that is no .npy": ({"model/w.npy": _npy(_W), "notes.txt": b"hello"}, _W_ENTRY,
                                 r"'notes.txt' is not a .npy array\)"),
    "a member twice": ({"model/w.npy": _npy(_W), "model/w.npy+": _npy(_W)}, _W_ENTRY,
                       r"names a record more than once \('model/w.npy'\)"),
}


@pytest.mark.parametrize("name", RAW_ZIPS)
def test_a_zip_whose_members_are_not_as_written_is_refused(tmp_path, name):
    path = tmp_path / "checkpoint.npz"
    members, manifest, match = RAW_ZIPS[name]
    _write_zip(path, members, manifest)
    _assert_refused(path, match)


@pytest.mark.parametrize("failure", [MemoryError(), RecursionError("deep"), OSError(5, "EIO")])
def test_any_exception_while_reading_becomes_a_checkpoint_error(tmp_path, monkeypatch, failure):
    path = tmp_path / "checkpoint.npz"
    _save(path, format_1_contents())

    def read_failing(*args, **kwargs):
        raise failure

    monkeypatch.setattr(zipfile.ZipFile, "read", read_failing)
    _assert_refused(path, type(failure).__name__)


def test_ctrl_c_while_reading_is_not_swallowed(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    _save(path, format_1_contents())

    def read_interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "read", read_interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_checkpoint(path)


def test_a_missing_checkpoint_is_named(tmp_path):
    _assert_refused(tmp_path / "missing.npz", "no checkpoint at")


# -- writing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failing_write_keeps_the_old_checkpoint_and_leaves_no_temporary(tmp_path, monkeypatch,
                                                                          failure):
    path = tmp_path / "checkpoint.npz"
    contents = format_1_contents()
    _save(path, contents)
    before = path.read_bytes()

    def npz_failing_midway(file, arrays):
        file.write(before[: len(before) // 2])          # half a checkpoint is written, then…
        raise failure

    import nplstm.io.checkpoint
    monkeypatch.setattr(nplstm.io.checkpoint, "write_npz", npz_failing_midway)
    with pytest.raises(type(failure)):
        _save(path, dict(contents, step=13))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]


BAD_ARGUMENTS = {
    "step -1": (dict(step=-1), ValueError, "step must be an int >= 0, got -1"),
    "step 1.5": (dict(step=1.5), TypeError, "step must be an int >= 0, got float 1.5"),
    "step '3'": (dict(step="3"), TypeError, "step must be an int >= 0, got str '3'"),
    "step True": (dict(step=True), TypeError, "step must be an int >= 0, got bool True"),
    "model a list": (dict(model=[np.zeros(2)]), TypeError, "model must be a dict of arrays"),
    "a model key not a string": (dict(model={1: np.zeros(2)}), TypeError,
                                 "model keys must be non-empty strings, got 1"),
    "a list, not an array": (dict(model={"w": [1.0]}), TypeError,
                             "model array 'w' must be an array, got list"),
    "float16": (dict(model={"w": np.zeros(2, np.float16)}), TypeError,
                "model array 'w' has dtype float16"),
    "object": (dict(state={"h": np.array([None])}), TypeError, "state array 'h' has dtype object"),
    "complex buffer": (dict(optimizer={"lr": 0.5, "buffers": [np.zeros(2, complex)]}),
                       TypeError, "optimizer buffer 0 has dtype complex128"),
    "lr negative": (dict(optimizer={"lr": -0.5, "buffers": []}), ValueError,
                    "optimizer lr must be a finite real number >= 0, got -0.5"),
    "lr inf": (dict(optimizer={"lr": float("inf"), "buffers": []}), ValueError,
               "optimizer lr must be a finite real number >= 0, got inf"),
    "lr a string": (dict(optimizer={"lr": "0.5", "buffers": []}), TypeError,
                    "optimizer lr must be a finite real number >= 0, got str '0.5'"),
    "buffers not a list": (dict(optimizer={"lr": 0.5, "buffers": np.zeros(2)}), TypeError,
                           "optimizer buffers must be a list of arrays or None, got ndarray"),
    "optimizer without buffers": (dict(optimizer={"lr": 0.5}), TypeError,
                                  "optimizer must be {'lr': float, 'buffers'"),
    "a reserved extra": (dict(format="mine", arrays={}), TypeError,
                         "meta keys ['arrays', 'format'] are reserved"),
    "an extra not JSON": (dict(config={"f": np.float32(1)}), TypeError,
                          "meta extras must be JSON values"),
}


@pytest.mark.parametrize("name", BAD_ARGUMENTS)
def test_save_refuses_bad_arguments_and_writes_nothing(tmp_path, name):
    path = tmp_path / "checkpoint.npz"
    change, error, match = BAD_ARGUMENTS[name]
    arguments = dict(step=3, model={"w": np.zeros(2, np.float32)}) | change
    with pytest.raises(error, match=re.escape(match)):
        save_checkpoint(path, **arguments)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_mid_checkpoint_leaves_no_open_archive(tmp_path, monkeypatch):
    """A write failing half-way (ENOSPC) closes the archive at once: nothing is left for a
    later ``ZipFile.__del__`` to fail on (numpy 1.24's savez left one, an unraisable
    exception under pytest), and no temporary file stays."""
    import errno
    import gc
    import sys

    import nplstm.io.atomic

    class FullDisk(io.BytesIO):
        def write(self, data):
            if self.tell() + len(data) > 600:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(data)

    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    class FullDiskFile(FullDisk):          # the atomic writer's temporary file, filling up
        def __init__(self, fd):
            super().__init__()
            self.fd = fd

        def fileno(self):
            return self.fd

        def close(self):                   # once, however often it is called (__del__ too)
            if not self.closed:
                os.close(self.fd)
            super().close()

    def full_disk_file(fd, mode):
        return FullDiskFile(fd)

    monkeypatch.setattr(nplstm.io.atomic.os, "fdopen", full_disk_file)
    model = {"weight": np.arange(2000, dtype=np.float32)}
    codes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            save_checkpoint(tmp_path / "checkpoint.npz", step=1, model=model)
        except OSError as err:             # its traceback (and what it holds) ends here
            codes.append(err.errno)
        gc.collect()                       # a ZipFile left open fails in its __del__ now
    assert codes == [errno.ENOSPC]
    assert [str(u.exc_value) for u in unraisable] == [] and \
        [str(w.message) for w in caught] == []
    assert list(tmp_path.iterdir()) == []
