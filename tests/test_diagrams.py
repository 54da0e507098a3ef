"""docs/make_diagrams.py draws the cell and the unrolled graph (skipped without matplotlib),
and docs/derivation.md shows the committed PNGs."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("lstm_cell.png", "bptt_paths.png")


def png_size(data: bytes) -> tuple:
    """(width, height) from a PNG's IHDR chunk; AssertionError if it is not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _script():
    spec = importlib.util.spec_from_file_location("make_diagrams",
                                                  ROOT / "docs" / "make_diagrams.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_draws_both_diagrams(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert _script().main(["--out-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("wrote") == 2
    for name in NAMES:
        data = (tmp_path / name).read_bytes()
        assert len(data) > 10_000, name
        width, height = png_size(data)
        assert 800 <= width <= 3000 and 400 <= height <= 2000, (name, width, height)
        assert 1.2 <= width / height <= 2.5, (name, width, height)      # landscape, not a strip


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_diagrams_are_shown_in_the_derivation(name):
    data = (ROOT / "docs" / name).read_bytes()
    assert len(data) > 10_000
    png_size(data)
    assert f"]({name})" in (ROOT / "docs" / "derivation.md").read_text(encoding="utf-8")
