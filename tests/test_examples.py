"""The examples run (small settings) and write their plots."""

import pytest

from .helpers import ROOT, load_script

EXAMPLES = ROOT / "examples"


def _load(name):
    return load_script(name, EXAMPLES / f"{name}.py")


@pytest.mark.parametrize("name, argv", [("fd_epsilon", ["--elements", "2"]),
                                        ("vanishing_gradients", ["--steps", "12",
                                                                 "--hidden", "4"]),
                                        ("char_lm", ["--steps", "3", "--hidden", "8"]),
                                        ("adding_problem", ["--steps", "3", "--seq-len", "5"]),
                                        ("truncated_newton", ["--steps", "2", "--cg-iters", "3",
                                                              "--seq-len", "4", "--batch", "16"])])
def test_example_writes_its_plot(name, argv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"{name}.png"
    _load(name).main(argv + ["--out", str(out)])
    assert out.stat().st_size > 1000
    assert "wrote" in capsys.readouterr().out
