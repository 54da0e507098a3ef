"""docs/make_diagrams.py draws the cells and the unrolled graph (skipped without matplotlib),
and docs/derivation.md shows the committed PNGs."""

from __future__ import annotations

import re
import struct

import pytest

from .helpers import ROOT, load_script

NAMES = ("lstm_cell.png", "bptt_paths.png", "gru_cell.png")


def png_size(data: bytes) -> tuple:
    """(width, height) from a PNG's IHDR chunk; AssertionError if it is not a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _script():
    return load_script("make_diagrams", ROOT / "docs" / "make_diagrams.py")


def test_the_script_draws_every_diagram(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert _script().main(["--out-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("wrote") == len(NAMES)
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


def _texts(fig) -> list:
    from matplotlib.text import Text  # noqa: PLC0415
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def test_no_label_draws_a_literal_brace_or_subscript_mark():
    """Subscripts such as t−1 are mathtext ($c_{t-1}$), drawn as subscripts: outside $…$ no
    label holds a brace, and in bptt_paths.png no underscore either (its labels are maths,
    not code names)."""
    pytest.importorskip("matplotlib")
    from nplstm.training.plots import matplotlib_pyplot  # noqa: PLC0415
    plt = matplotlib_pyplot()
    script = _script()
    assert script._sub("c", "t−1") == "$c_{t-1}$"
    for draw, no_underscore in ((script.draw_cell, False), (script.draw_bptt, True),
                                (script.draw_gru_cell, False)):
        fig = draw(plt)
        try:
            texts = _texts(fig)
            plain = [re.sub(r"\$[^$]*\$", "", text) for text in texts]
            assert len(texts) > 20
            assert not [t for t in plain if "{" in t or "}" in t], texts
            if no_underscore:
                assert not [t for t in plain if "_" in t], texts
                assert sum("$" in t for t in texts) >= 12      # the subscripted labels
            fig.canvas.draw()                                   # the mathtext parses
        finally:
            plt.close(fig)
