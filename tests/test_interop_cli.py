"""``nplstm convert`` and ``nplstm inspect``: conversions, the listing, one-line errors."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nplstm
from nplstm.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "interop" / "torch"


def run_cli(argv, capsys):
    """(exit status, stdout, stderr) of ``nplstm ARGV``."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err


@pytest.mark.parametrize("chain", [[".safetensors", ".npz", ".pt"], [".npz", ".pth"]])
def test_convert_chains_are_bit_exact(tmp_path, capsys, chain):
    if ".safetensors" in chain:
        pytest.importorskip("safetensors", reason="needs the safetensors extra")
    source = FIXTURES / "prefixed.pt"
    for k, suffix in enumerate(chain):
        target = tmp_path / f"step{k}{suffix}"
        code, out, _ = run_cli(["convert", source, target], capsys)
        assert code == 0 and out == f"wrote 7 tensors to {target}\n"
        source = target
    expected = nplstm.load_weights(FIXTURES / "prefixed.pt")
    got = nplstm.load_weights(source)
    assert sorted(got) == sorted(expected)           # (safetensors sorts the names)
    assert all(got[k].tobytes() == expected[k].tobytes() for k in expected)


def test_convert_with_key_and_prefix(tmp_path, capsys):
    target = tmp_path / "rnn.npz"
    code, _, err = run_cli(["convert", FIXTURES / "two_models.pt", target, "--key", "ema",
                            "--prefix", "encoder.rnn."], capsys)
    assert code == 0 and err == ""
    with np.load(FIXTURES / "two_models.expected.npz") as expected:
        got = nplstm.load_weights(target)
        assert list(got) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
        for name, value in got.items():
            assert value.tobytes() == expected[f"encoder.rnn.{name}"].tobytes()


def test_convert_notes_go_to_stderr(tmp_path, capsys):
    code, _, err = run_cli(["convert", FIXTURES / "checkpoint.pt", tmp_path / "m.npz"], capsys)
    assert code == 0 and err.startswith("note: ") and "key='model'" in err


def test_convert_to_onnx_and_back(tmp_path, capsys):
    pytest.importorskip("onnx", reason="needs the onnx extra")
    pytest.importorskip("nplstm.interop.onnx_export")
    source = tmp_path / "rnn.npz"
    run_cli(["convert", FIXTURES / "prefixed.pt", source, "--prefix", "encoder.rnn."], capsys)
    code, _, _ = run_cli(["convert", source, tmp_path / "rnn.onnx"], capsys)
    assert code == 0
    code, _, _ = run_cli(["convert", tmp_path / "rnn.onnx", tmp_path / "back.npz"], capsys)
    assert code == 0
    back, original = nplstm.load_weights(tmp_path / "back.npz"), nplstm.load_weights(source)
    assert list(back) == list(original)
    assert all(back[k].tobytes() == original[k].tobytes() for k in original)


def test_inspect_lists_names_shapes_dtypes_and_fits(capsys):
    code, out, _ = run_cli(["inspect", FIXTURES / "prefixed.pt"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith("prefixed.pt: 7 tensors, 172 numbers, 688 bytes")
    assert lines[1].split() == ["emb.weight", "(6,", "3)", "float32"]
    assert lines[4].split() == ["encoder.rnn.bias_ih_l0", "(16,)", "float32"]
    assert lines[-4:] == ["fits:", "  emb.: nplstm.Embedding(6, 3)",
                          "  encoder.rnn.: nplstm.LSTM(input_size=3, hidden_size=4)",
                          "  decoder.: nplstm.Linear(4, 2)"]


@pytest.mark.parametrize("argv,fragments", [
    (["inspect", FIXTURES / "whole_model.pt"], ["__main__.Net", "state_dict()"]),
    (["inspect", FIXTURES / "legacy.pt"], ["legacy"]),
    (["inspect", "no/such/file.pt"], ["no such file"]),
    (["inspect", FIXTURES / "two_models.pt"], ["several state dicts"]),
    (["convert", FIXTURES / "lstm.pt", "OUT.txt"], ["OUT must end in"]),
    (["convert", FIXTURES / "prefixed.pt", "OUT.npz", "--prefix", "nope."],
     ["no name in the state dict starts with 'nope.'"]),
    (["convert", FIXTURES / "whole_model.pt", "OUT.npz"], ["__main__.Net"]),
    (["convert", FIXTURES / "prefixed.pt", "OUT.onnx"], ["exactly one nplstm.LSTM"]),
])
def test_errors_exit_2_in_one_line_and_leave_out_untouched(tmp_path, capsys, monkeypatch,
                                                           argv, fragments):
    pytest.importorskip("onnx") if str(argv[-1]).endswith(".onnx") else None
    monkeypatch.chdir(tmp_path)
    for name in ("OUT.txt", "OUT.npz", "OUT.onnx"):
        (tmp_path / name).write_bytes(b"old")
    code, out, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, *fragments)
    assert out == ""
    assert all((tmp_path / name).read_bytes() == b"old"
               for name in ("OUT.txt", "OUT.npz", "OUT.onnx"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OUT.npz", "OUT.onnx", "OUT.txt"]


_SIGNATURES = [b"", b"PK\x03\x04", b"PK\x05\x06", b"\x89HDF\r\n\x1a\n", b"\x80\x02",
               b"\x10\x00\x00\x00\x00\x00\x00\x00{"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # capsys: read each time
@given(head=st.sampled_from(_SIGNATURES), body=st.binary(max_size=200),
       suffix=st.sampled_from([".pt", ".npz", ".safetensors", ".weights.h5", ".bin"]))
def test_garbage_in_is_one_line_and_out_untouched(tmp_path_factory, capsys, head, body,
                                                  suffix):
    folder = tmp_path_factory.mktemp("garbage")
    (folder / f"in{suffix}").write_bytes(head + body)
    (folder / "out.npz").write_bytes(b"old")
    code, _, err = run_cli(["convert", folder / f"in{suffix}", folder / "out.npz"], capsys)
    assert_one_line_error(code, err, f"in{suffix}")
    assert (folder / "out.npz").read_bytes() == b"old"


def test_a_damaged_input_is_one_line(tmp_path, capsys):
    damaged = tmp_path / "d.pt"
    shutil.copy(FIXTURES / "prefixed.pt", damaged)
    damaged.write_bytes(damaged.read_bytes()[:-30])
    code, _, err = run_cli(["convert", damaged, tmp_path / "o.npz"], capsys)
    assert_one_line_error(code, err, "d.pt")
    assert not (tmp_path / "o.npz").exists()
