"""docs/worked_example.md is what examples/worked_example.py prints (byte for byte), and the
gradients printed on it agree with finite differences of the loss it names."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, strategies as st

import nplstm
from nplstm.functional import reference as R

from .helpers import ROOT, load_script

PAGE = ROOT / "docs" / "worked_example.md"


def _example():
    return load_script("worked_example", ROOT / "examples" / "worked_example.py")


EXAMPLE = _example()
NUMBER = r"-?\d+(?:\.\d+)?"


def _vector(text: str, label: str) -> np.ndarray:
    """The (…) vector on the page's line that starts with ``label``."""
    match = re.search(rf"^{re.escape(label)}.*= \(([^)]*)\)\s*$", text, re.MULTILINE)
    assert match, f"no line {label!r} on the page"
    return np.array([float(v) for v in match.group(1).split(", ")])


def _table_row(text: str, label: str) -> np.ndarray:
    """The numbers of the table row whose first cell starts with ``label``."""
    match = re.search(rf"^\| {re.escape(label)}[^|]*\|(.*)\|\s*$", text, re.MULTILINE)
    assert match, f"no table row {label!r} on the page"
    return np.array([float(v) for v in match.group(1).split("|")])


def printed_gradients(text: str) -> dict:
    """The gradients the page prints, by reference.py's CellGrads names (B = 1 kept)."""
    section = text[text.index("### 3.3"):]
    rows = [_table_row(section, f"{gate}{unit}") for gate in "ifgo" for unit in (1, 2)]
    weights = np.stack(rows)                                             # (8, 4)
    return {"x": _vector(section, "dx")[None], "h_prev": _vector(section, "dh_prev")[None],
            "c_prev": _table_row(text, "dc_prev")[None],
            "weight_ih": weights[:, :2], "weight_hh": weights[:, 2:],
            "bias_ih": _vector(section, "dbias_ih"), "bias_hh": _vector(section, "dbias_ih")}


def check_printed_gradients(text: str):
    """gradcheck of L = ⟨dh, h⟩ + ⟨dc, c⟩ whose "backward" returns the page's numbers.

    The page rounds to 4 significant digits: a printed value is within half a unit of its
    4th digit, a relative error ≤ 5e-4 of the true value, so rtol = 5e-4 (the central
    differences in float64 add ~1e-10 absolute: atol = 1e-9)."""
    values = EXAMPLE.example_inputs()
    dh, dc = values["dh"], values["dc"]
    printed = printed_gradients(text)
    names = ["x", "h_prev", "c_prev", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]

    def forward(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
        (h, c), _ = R.lstm_cell_forward(x, (h_prev, c_prev), w_ih, w_hh, b_ih, b_hh)
        return float((dh * h).sum() + (dc * c).sum()), None              # L

    def backward(dloss, _):
        return [dloss * printed[name] for name in names]

    return nplstm.gradcheck(forward, backward, [values[n] for n in names], names=names,
                            atol=1e-9, rtol=5e-4, raise_exception=False)


def test_the_page_is_what_the_script_prints(tmp_path, capsys):
    out = tmp_path / "worked_example.md"
    assert EXAMPLE.main(["--out", str(out)]) == 0
    assert out.read_bytes() == PAGE.read_bytes(), \
        "docs/worked_example.md is stale: python examples/worked_example.py --out " \
        "docs/worked_example.md"
    capsys.readouterr()
    EXAMPLE.main([])
    assert capsys.readouterr().out.encode("utf-8") == PAGE.read_bytes()


def test_the_printed_gradients_agree_with_finite_differences():
    report = check_printed_gradients(PAGE.read_text(encoding="utf-8"))
    assert report.passed, str(report)
    assert len(report.inputs) == 7


@pytest.mark.parametrize("old, new", [("| g1 | 0.3987 |", "| g1 | 0.3997 |"),
                                      ("dh_prev = dz @ weight_hh = (0.2457,",
                                       "dh_prev = dz @ weight_hh = (0.2467,")])
def test_a_wrong_printed_digit_is_caught(old, new):
    """The check reads the numbers it checks: one digit changed on the page fails it."""
    text = PAGE.read_text(encoding="utf-8")
    assert old in text
    assert not check_printed_gradients(text.replace(old, new)).passed


def test_the_page_shows_every_intermediate():
    text = PAGE.read_text(encoding="utf-8")
    for label in ["z_i", "z_f", "z_g", "z_o", "i = σ(z_i)", "f = σ(z_f)", "g = tanh(z_g)",
                  "o = σ(z_o)", "c = f ⊙ c_prev + i ⊙ g", "h = o ⊙ tanh(c)", "do =", "df =",
                  "di =", "dg =", "dz_o =", "dz_g =", "dz_f =", "dz_i ="]:
        assert f"| {label}" in text, label
    step = EXAMPLE.step(EXAMPLE.example_inputs())
    # the page's forward values are reference.py's, rounded
    for name, label in [("i", "i = σ(z_i)"), ("c", "c = f ⊙ c_prev + i ⊙ g"),
                        ("h", "h = o ⊙ tanh(c)")]:
        np.testing.assert_allclose(_table_row(text, label), step[name], rtol=5e-4)


@given(st.floats(min_value=1e-6, max_value=999.0) | st.floats(min_value=-999.0,
                                                               max_value=-1e-6))
def test_number_has_four_significant_digits(value):
    try:
        text = EXAMPLE.number(value)
    except ValueError as err:           # only a value at a rounding boundary is refused
        assert "ambiguous" in str(err)
        scaled = abs(value) / 10.0 ** (np.floor(np.log10(abs(value))) - 3)
        assert abs(scaled % 1 - 0.5) < 1e-6
        return
    assert abs(float(text) - value) <= 5e-4 * abs(value) * (1 + 1e-9)
    digits = text.lstrip("-").replace(".", "").lstrip("0")
    assert len(digits) == 4, text


@pytest.mark.parametrize("value", [0.12345, -2.5005, 1234.5])
def test_number_refuses_a_value_at_a_rounding_boundary(value):
    with pytest.raises(ValueError, match="ambiguous"):
        EXAMPLE.number(value)
