"""``nplstm convert`` and ``nplstm inspect``: conversions, the listing, one-line errors."""

import os
import shutil
import signal
import stat
import subprocess
import sys
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
    (["convert", FIXTURES / "prefixed.pt", "OUT.npz", "--prefix", "nope.", "--force"],
     ["no name in the state dict starts with 'nope.'"]),
    (["convert", FIXTURES / "whole_model.pt", "OUT.npz", "--force"], ["__main__.Net"]),
    (["convert", FIXTURES / "prefixed.pt", "OUT.onnx", "--force"], ["exactly one nplstm.LSTM"]),
    (["convert", FIXTURES / "prefixed.pt", "OUT.npz"], ["OUT OUT.npz exists", "--force"]),
    (["convert", FIXTURES / "prefixed.pt", "OUT.onnx"], ["OUT OUT.onnx exists", "--force"]),
])
def test_errors_exit_2_in_one_line_and_leave_out_untouched(tmp_path, capsys, monkeypatch,
                                                           argv, fragments):
    pytest.importorskip("onnx") if any(str(a).endswith(".onnx") for a in argv) else None
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
    code, _, err = run_cli(["convert", folder / f"in{suffix}", folder / "out.npz", "--force"],
                           capsys)
    assert_one_line_error(code, err, f"in{suffix}")
    assert (folder / "out.npz").read_bytes() == b"old"


def test_a_damaged_input_is_one_line(tmp_path, capsys):
    damaged = tmp_path / "d.pt"
    shutil.copy(FIXTURES / "prefixed.pt", damaged)
    damaged.write_bytes(damaged.read_bytes()[:-30])
    code, _, err = run_cli(["convert", damaged, tmp_path / "o.npz"], capsys)
    assert_one_line_error(code, err, "d.pt")
    assert not (tmp_path / "o.npz").exists()


# -- hostile names, pipes and signals (issue 21 items 8, 9, 15) -------------------------------

def test_inspect_escapes_names_and_bounds_its_output(tmp_path, capsys):
    """A name cannot draw on the terminal or forge a line, a long one widens only its own
    line, and the listing stays within a small multiple of the file's size (one 20000-char
    name used to pad every line to 20000 columns)."""
    forged = "enc.\x1b[2J\nfits:\n  enc.: nplstm.LSTM(input_size=1, hidden_size=1)\u202e"
    names = [forged, "x" * 20_000] + [f"layer{k}.weight" for k in range(500)]
    path = tmp_path / "hostile.npz"
    np.savez(path, **{name: np.zeros(1, np.float32) for name in names})
    code, out, err = run_cli(["inspect", path], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert all(line.isprintable() for line in lines)             # no ESC, no bidi override
    assert [line for line in lines if line.startswith("fits:")] == ["fits:"]
    assert "enc.\\x1b[2J\\nfits:\\n  enc.: nplstm.LSTM(" in lines[1]
    assert "…(20000 characters)" in lines[2] and len(lines[2]) < 250
    assert max(len(line) for line in lines) < 250
    assert lines[3].split() == ["layer0.weight", "(1,)", "float32"]
    assert len(lines[3]) < 100                                  # not padded to the long name
    assert len(out) < path.stat().st_size


def test_inspect_piped_into_head_exits_quietly(tmp_path):
    path = tmp_path / "many.npz"
    np.savez(path, **{f"layer{k}.weight": np.zeros(1, np.float32) for k in range(5000)})
    result = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m nplstm "
                             f"inspect {path} | head -1"], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout == f"{path}: 5000 tensors, 5000 numbers, 20000 bytes\n"
    assert result.stderr == "" and result.returncode == 0, result


# a convert whose write of OUT stops (in os.fsync, once its bytes are in the temporary file)
# until a signal comes: what Ctrl-C or SIGTERM in the middle of a big conversion meets
_SLOW_CONVERT = """
import os, sys, time
def stuck(fd):
    print("writing", flush=True)
    time.sleep(60)
os.fsync = stuck
from nplstm.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig, code, words", [(signal.SIGINT, 130, "interrupted (Ctrl-C)"),
                                              (signal.SIGTERM, 143, "terminated (SIGTERM)")])
@pytest.mark.parametrize("existing", [False, True])
def test_a_signal_during_convert_is_one_line_and_leaves_out_as_it_was(tmp_path, sig, code,
                                                                       words, existing):
    out = tmp_path / "out.npz"
    if existing:
        out.write_bytes(b"old")
    argv = ["convert", str(FIXTURES / "prefixed.pt"), str(out)] + (["--force"] * existing)
    process = subprocess.Popen([sys.executable, "-c", _SLOW_CONVERT, *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "writing\n"
        assert any(p.name.endswith(".nplstm-tmp") for p in tmp_path.iterdir())
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == code, stderr
    assert stderr == f"nplstm: {words}\n" and stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == (["out.npz"] if existing else [])
    assert not existing or out.read_bytes() == b"old"


def test_convert_force_replaces_out_keeping_its_mode(tmp_path, capsys):
    out = tmp_path / "out.npz"
    out.write_bytes(b"my notes")
    os.chmod(out, 0o600)
    code, _, err = run_cli(["convert", FIXTURES / "prefixed.pt", out], capsys)
    assert code == 2 and "exists" in err and out.read_bytes() == b"my notes"
    code, _, _ = run_cli(["convert", FIXTURES / "prefixed.pt", out, "--force"], capsys)
    assert code == 0 and sorted(nplstm.load_weights(out)) == sorted(
        nplstm.load_weights(FIXTURES / "prefixed.pt"))
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
