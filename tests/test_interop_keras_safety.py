"""A Keras file reads only its own bytes (nplstm.interop.keras: the HDF5 walk, bounded JSON).

Hostile files are made here with h5py, in HDF5's documented ways of naming other files:
external links, soft links, virtual datasets and external storage; and with datasets that
declare more bytes than the file holds, groups that loop or fan out, and a config.json
nested 200,000 deep.  Each must be refused with nplstm's own one-line error, naming what
was refused, before anything outside the file is read.
"""

import json
import zipfile

import numpy as np
import pytest

from nplstm.interop import keras as keras_module
from nplstm.interop.keras import loads_bounded, nesting_depth
from nplstm.interop.file_errors import UnsafeFileError, WeightFileError
from nplstm.interop.keras import read_keras_weights

h5py = pytest.importorskip("h5py", reason="Keras files need h5py (pip install 'nplstm[keras]')")

I, H = 3, 4
CONFIG = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
    {"class_name": "LSTM", "config": {"name": "lstm", "units": H, "return_sequences": True}}]}}


def _lstm_arrays(value):
    return {"0": np.full((I, 4 * H), value), "1": np.full((H, 4 * H), value),
            "2": np.full(4 * H, value)}


def _write_cell(group, value):
    for key, array in _lstm_arrays(value).items():
        group[key] = array


@pytest.fixture
def secret(tmp_path):
    """Another HDF5 file, outside what the reader is given, holding an LSTM's weights (7.0)
    and a raw file of float64s: what a hostile file would point at."""
    path = tmp_path / "elsewhere" / "secret.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        _write_cell(f.create_group("layers/lstm/cell/vars"), 7.0)
    np.full(I * 4 * H, 7.0).tofile(path.parent / "raw.bin")
    return path


def _hostile(tmp_path, build, kind):
    """A .weights.h5 (or a .keras holding it) made by ``build(f)`` on an h5py file."""
    h5_path = tmp_path / "model.weights.h5"
    with h5py.File(h5_path, "w") as f:
        build(f)
    if kind == ".weights.h5":
        return h5_path
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(CONFIG))
        z.write(h5_path, "model.weights.h5")
    return path


def _refused(path, error, match):
    with pytest.raises(error, match=match) as info:
        read_keras_weights(path)
    message = str(info.value)
    assert "\n" not in message and path.name in message
    assert "7.0" not in message
    return message


KINDS = [".weights.h5", ".keras"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_external_link_is_refused_naming_it(tmp_path, secret, kind):
    """On main, the secret file's arrays came back as the model's weights."""
    path = _hostile(tmp_path, lambda f: f.__setitem__(
        "layers", h5py.ExternalLink(str(secret), "/layers")), kind)
    message = _refused(path, UnsafeFileError, "'/layers' is an external link")
    assert str(secret) in message


@pytest.mark.parametrize("kind", KINDS)
def test_an_external_link_deep_in_the_layer_is_refused(tmp_path, secret, kind):
    def build(f):
        f["layers/lstm/cell/vars"] = h5py.ExternalLink(str(secret), "/layers/lstm/cell/vars")
    _refused(_hostile(tmp_path, build, kind), UnsafeFileError,
             "'/layers/lstm/cell/vars' is an external link")


@pytest.mark.parametrize("kind", KINDS)
def test_a_soft_link_is_refused_even_inside_the_file(tmp_path, kind):
    """A soft link is a path h5py follows wherever it leads; Keras never writes one."""
    def build(f):
        _write_cell(f.create_group("elsewhere/cell/vars"), 1.0)
        f["layers/lstm"] = h5py.SoftLink("/elsewhere")
    _refused(_hostile(tmp_path, build, kind), UnsafeFileError,
             "'/layers/lstm' is a soft link to /elsewhere")


@pytest.mark.parametrize("kind", KINDS)
def test_a_virtual_dataset_over_another_file_is_refused(tmp_path, secret, kind):
    def build(f):
        cell = f.create_group("layers/lstm/cell/vars")
        _write_cell(cell, 1.0)
        del cell["0"]
        layout = h5py.VirtualLayout(shape=(I, 4 * H), dtype="f8")
        layout[:] = h5py.VirtualSource(str(secret), "layers/lstm/cell/vars/0", shape=(I, 4 * H))
        cell.create_virtual_dataset("0", layout)
    _refused(_hostile(tmp_path, build, kind), UnsafeFileError,
             "'/layers/lstm/cell/vars/0' is a virtual dataset")


@pytest.mark.parametrize("kind", KINDS)
def test_a_dataset_with_external_storage_is_refused(tmp_path, secret, kind):
    raw = secret.parent / "raw.bin"

    def build(f):
        cell = f.create_group("layers/lstm/cell/vars")
        _write_cell(cell, 1.0)
        del cell["0"]
        cell.create_dataset("0", shape=(I, 4 * H), dtype="f8",
                            external=[(str(raw), 0, raw.stat().st_size)])
    message = _refused(_hostile(tmp_path, build, kind), UnsafeFileError,
                       "'/layers/lstm/cell/vars/0' keeps its bytes in an external file")
    assert "raw.bin" in message


@pytest.mark.parametrize("shape", [(I, 4 * H), (100_000, 10_000)])
def test_a_dataset_never_written_is_refused_before_it_is_allocated(tmp_path, shape):
    """Its bytes are not in the file: reading gives the fill value, and (100000, 10000)
    float64 would be 8 GB from a file of a few kilobytes."""
    def build(f):
        cell = f.create_group("layers/lstm/cell/vars")
        _write_cell(cell, 1.0)
        del cell["0"]
        cell.create_dataset("0", shape=shape, dtype="f8")
    path = _hostile(tmp_path, build, ".weights.h5")
    assert path.stat().st_size < 10_000
    _refused(path, WeightFileError, "declares .* bytes but the file stores 0 of them")


def test_a_compressed_dataset_is_refused(tmp_path):
    def build(f):
        cell = f.create_group("layers/lstm/cell/vars")
        _write_cell(cell, 1.0)
        del cell["1"]
        cell.create_dataset("1", data=np.zeros((H, 4 * H)), compression="gzip")
    _refused(_hostile(tmp_path, build, ".weights.h5"), WeightFileError,
             "'/layers/lstm/cell/vars/1' is filtered")


def test_a_group_linked_into_itself_is_refused(tmp_path):
    """On main: a RecursionError from walking the loop."""
    def build(f):
        _write_cell(f.create_group("layers/lstm/cell/vars"), 1.0)
        f["layers/again"] = f["layers"]
    _refused(_hostile(tmp_path, build, ".weights.h5"), WeightFileError,
             "'/layers/again' is reached by a second link")


def test_groups_that_fan_out_are_walked_once(tmp_path):
    """Two hard links to the next group at each of 40 levels: 2**40 paths, 40 groups."""
    def build(f):
        group = f.create_group("g0")
        for level in range(1, 40):
            child = f.create_group(f"g{level}")
            group["a"], group["b"] = child, child
            group = child
    _refused(_hostile(tmp_path, build, ".weights.h5"), WeightFileError,
             "reached by a second link")


def test_groups_nested_too_deep_are_refused(tmp_path):
    def build(f):
        f.create_group("/".join(["g"] * 100))
    _refused(_hostile(tmp_path, build, ".weights.h5"), WeightFileError,
             "nested deeper than 64")


def test_a_link_name_is_escaped_in_the_message(tmp_path):
    def build(f):
        _write_cell(f.create_group("layers/lstm/cell/vars"), 1.0)
        f["\x1b[2Jfits:\n"] = h5py.SoftLink("/layers")
    message = _refused(_hostile(tmp_path, build, ".weights.h5"), UnsafeFileError, "soft link")
    assert "\x1b" not in message and "\\x1b[2Jfits:\\n" in message


@pytest.mark.parametrize("kind", KINDS)
def test_h5py_reads_through_a_file_object_never_a_path(tmp_path, monkeypatch, kind):
    """The .h5 of a .keras is read from memory (no temporary file), a .weights.h5 through one
    open handle: HDF5 is given no file name it could resolve other names against."""
    path = _hostile(tmp_path, lambda f: _write_cell(f.create_group("layers/lstm/cell/vars"),
                                                    0.5), kind)
    opened = []
    real_file = h5py.File

    def recording_file(name, *args, **kwargs):
        opened.append(name)
        return real_file(name, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", recording_file)
    state = read_keras_weights(path)
    assert np.all(state["weight_ih_l0"] == 0.5)
    assert len(opened) == 1 and hasattr(opened[0], "read")


# -- config.json -------------------------------------------------------------------------------

def _keras_with_config(tmp_path, config_bytes):
    h5_path = tmp_path / "model.weights.h5"
    with h5py.File(h5_path, "w") as f:
        _write_cell(f.create_group("layers/lstm/cell/vars"), 0.25)
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", config_bytes)
        z.write(h5_path, "model.weights.h5")
    return path


def test_a_config_nested_200000_deep_is_one_line_error(tmp_path):
    """On main: a RecursionError from json.loads."""
    path = _keras_with_config(tmp_path, b"[" * 200_000 + b"]" * 200_000)
    message = _refused(path, WeightFileError, "config.json is refused: it nests 200000 levels")
    assert len(message) < 300


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path):
    config = json.loads(json.dumps(CONFIG))
    config["config"]["layers"][0]["config"]["note"] = "[{" * 5000 + '\\"[' * 100
    state = read_keras_weights(_keras_with_config(tmp_path, json.dumps(config).encode()))
    assert np.all(state["weight_hh_l0"] == 0.25)


def test_a_config_larger_than_the_bound_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(keras_module, "MAX_CONFIG_BYTES", 1000)
    config = json.loads(json.dumps(CONFIG))
    config["config"]["padding"] = "x" * 1000
    _refused(_keras_with_config(tmp_path, json.dumps(config).encode()), WeightFileError,
             "config.json is refused: it is .* bytes, more than the 1000 allowed")


@pytest.mark.parametrize("text, depth", [
    (b"", 0), (b"1", 0), (b"[]", 1), (b'{"a": [1, {"b": 2}]}', 3), (b'["]]]["]', 1),
    (b'["\\"[[["]', 1), (b'[["\\\\"], [[]]]', 3),
])
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    assert nesting_depth(text) == depth
    if text:
        assert loads_bounded(text, max_bytes=100, max_depth=depth) == json.loads(text)


def test_loads_bounded_refuses_what_is_not_json():
    with pytest.raises(ValueError, match="not valid JSON"):
        loads_bounded(b"{'a': 1}", max_bytes=100, max_depth=10)
    with pytest.raises(ValueError, match="not valid JSON"):
        loads_bounded(b"\xff\xfe", max_bytes=100, max_depth=10)


@pytest.mark.parametrize("source", ["single.keras", "stacked_bidir.weights.h5"])
def test_flipped_bytes_give_arrays_or_one_line_refusals(tmp_path, source):
    """h5py raises RuntimeError for some damage (a bad B-tree, heap or link message) and
    zipfile NotImplementedError (a flag saying "encrypted"): both were foreign exceptions."""
    fixture = keras_module.Path(__file__).parent / "fixtures" / "interop" / "keras" / source
    data = fixture.read_bytes()
    rng = np.random.default_rng(2)
    bad = tmp_path / ("bad" + source[source.index("."):])
    outcomes = set()
    for _ in range(150):
        raw = bytearray(data)
        for position in rng.integers(0, len(raw), 3):
            raw[position] ^= int(rng.integers(1, 256))
        bad.write_bytes(bytes(raw))
        try:
            state = read_keras_weights(bad)
        except WeightFileError as err:
            assert "\n" not in str(err) and bad.name in str(err)
            outcomes.add("refused")
        else:
            assert all(isinstance(v, np.ndarray) for v in state.values())
            outcomes.add("read")
    assert "refused" in outcomes


def test_a_dataset_linked_twice_is_refused(tmp_path):
    """Two layers sharing one dataset: the reader would read (and allocate) it twice."""
    def build(f):
        _write_cell(f.create_group("layers/lstm/cell/vars"), 1.0)
        cell = f.create_group("layers/lstm_1/cell/vars")
        for key in "012":
            cell[key] = f[f"layers/lstm/cell/vars/{key}"]
    _refused(_hostile(tmp_path, build, ".weights.h5"), WeightFileError,
             "is reached by a second link")


def test_datasets_declaring_more_bytes_in_all_than_the_file_are_refused(tmp_path):
    """Datasets whose contiguous storage overlaps would each pass alone; their sum cannot."""
    from nplstm.interop.keras import check_self_contained

    path = _hostile(tmp_path, lambda f: _write_cell(f.create_group("layers/lstm/cell/vars"),
                                                    1.0), ".weights.h5")
    declared = 8 * (I * 4 * H + H * 4 * H + 4 * H)
    with h5py.File(path, "r") as f:
        check_self_contained(h5py, f, "m", declared)            # exactly what they declare
        with pytest.raises(WeightFileError, match="m: its datasets declare more bytes than "
                                                  f"the file's {declared - 1}"):
            check_self_contained(h5py, f, "m", declared - 1)


def test_convert_of_a_file_linking_elsewhere_exits_2_and_writes_nothing(tmp_path, secret,
                                                                      capsys):
    """On main, ``nplstm convert`` copied the other file's arrays out."""
    from nplstm.cli import main

    path = _hostile(tmp_path, lambda f: f.__setitem__(
        "layers", h5py.ExternalLink(str(secret), "/layers")), ".weights.h5")
    out = tmp_path / "out.npz"
    try:
        code = main(["convert", str(path), str(out)])
    except SystemExit as exit_:
        code = exit_.code
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "is an external link" in err
    assert not out.exists()
