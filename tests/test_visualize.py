"""``nplstm visualize`` and nplstm.visualize: the traces, features, ranking, page and figure."""

from __future__ import annotations

import html.parser
import re

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from nplstm.cli.main import main
from nplstm import no_grad
from nplstm.visualize import (FEATURES, choose_text, correlations, load_charlm_run, rank_cells,
                              record_traces, saturation_fractions, text_features,
                              visualize_run)

from .strategies import seed

# code-like text: quotes, brackets, indentation, line breaks and characters to escape
TEXT = ('def f(x, y):\n    """Say "hi" <b> & [x]."""\n    return {"a": (x + y) * 2}\n'
        'if a < b and c > d:\n        print("done")\n') * 30


@pytest.fixture(scope="module")
def run(train_tiny_run):
    """A two-layer float64 char-LM run of a few steps (untrained is enough here)."""
    out, _ = train_tiny_run("--steps", "2", "--hidden", "12", "--layers", "2", "--seq-len", "16",
                            "--embedding-dim", "6", "--eval-every", "2", "--checkpoint-every",
                            "2", "--dtype", "float64", text=TEXT)
    return out


@pytest.fixture
def no_figure(monkeypatch):
    """The page alone: gates.png (a second of matplotlib per call) is left out; the figure
    has its own test."""
    import nplstm.visualize.run_driver as run_driver  # noqa: PLC0415

    monkeypatch.setattr(run_driver, "plot_saturation", lambda traces, path: False)


class PageParser(html.parser.HTMLParser):
    """Collects the cell sections, their spans' values and text, the legend and URLs."""

    def __init__(self):
        super().__init__()
        self.cells, self.ids, self.urls, self.metas, self.tags = [], set(), [], [], set()
        self._in_text = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.ids.add(attrs.get("id"))
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "meta":
            self.metas.append(attrs)
        if tag == "section" and attrs.get("class") == "cell":
            self.cells.append({"layer": int(attrs["data-layer"]), "unit": int(attrs["data-unit"]),
                               "values": [], "text": ""})
        if tag == "pre":
            self._in_text = True
        if tag == "span" and self._in_text:
            self.cells[-1]["values"].append(float(attrs["data-v"]))

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_text = False

    def handle_data(self, data):
        if self._in_text:
            self.cells[-1]["text"] += data


def _parse(path) -> tuple:
    page = path.read_text(encoding="utf-8")
    parser = PageParser()
    parser.feed(page)
    return page, parser


def test_the_page_shows_k_cells_per_layer_each_character_with_its_value(run, no_figure,
                                                                         capsys):
    assert main(["visualize", "--out", str(run), "--chars", "300", "--cells", "3"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "cells.html (300 characters)" in out
    page, parser = _parse(run / "cells.html")
    assert [(c["layer"]) for c in parser.cells] == [1, 1, 1, 2, 2, 2]
    loaded = load_charlm_run(run)
    shown, _ = choose_text(loaded.task.corpus, None, 300)
    eval_text = loaded.task.corpus.decode(loaded.task.corpus.eval)
    assert eval_text.index("\n") + 1 == eval_text.index(shown) and len(shown) == 300
    traces = record_traces(loaded.task.model, loaded.task.corpus.encode(shown))
    for cell in parser.cells:
        assert len(cell["values"]) == 300
        expected = np.tanh(traces[cell["layer"] - 1].c[:, cell["unit"]])
        np.testing.assert_allclose(cell["values"], expected, atol=0.005 + 1e-12)  # 2 decimals
        assert cell["text"].replace("↵\n", "\n") == shown
    assert len({(c["layer"], c["unit"]) for c in parser.cells}) == 6
    assert "legend" in parser.ids
    for name in FEATURES:
        assert f"<dt>{name}</dt>" in page
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in parser.metas
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not parser.urls
    assert not re.search(r"https?:|src\s*=|url\(|@import|//[a-z]", page, re.IGNORECASE)


def _r(a, b) -> float:
    """Pearson's r by numpy's corrcoef, 0 when either side is constant."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def test_each_cell_is_named_by_its_best_feature_and_correlation(run, no_figure, capsys):
    """The heading's feature is the one whose smaller |r| over the two halves of the text
    (same sign) is largest, and the shown cells are the best two by that score; r over the
    whole text and each half, computed here with np.corrcoef."""
    assert main(["visualize", "--out", str(run), "--chars", "400", "--cells", "2"]) == 0
    page, parser = _parse(run / "cells.html")
    loaded = load_charlm_run(run)
    shown, _ = choose_text(loaded.task.corpus, None, 400)
    traces = record_traces(loaded.task.model, loaded.task.corpus.encode(shown))
    features = text_features(shown)
    headings = re.findall(r"<h3>cell (\d+) · (\w+) <span class=\"r\">\(r = ([-+]\d\.\d\d)\)"
                          r"</span> <span class=\"r\">halves ([-+]\d\.\d\d), ([-+]\d\.\d\d)", page)
    assert len(headings) == 4
    half = len(shown) // 2
    for cell, (unit, feature, r, r1, r2) in zip(parser.cells, headings):
        values = np.tanh(traces[cell["layer"] - 1].c)                  # (T, H)
        score = np.zeros((values.shape[1], len(FEATURES)))
        for j in range(values.shape[1]):
            for k, name in enumerate(FEATURES):
                a, b = _r(values[:half, j], features[name][:half]), \
                    _r(values[half:, j], features[name][half:])
                score[j, k] = min(abs(a), abs(b)) if a * b > 0 else 0.0
        best = score.max(axis=1)
        # score is this test's own computation (_r), not the library's: the two sum in other
        # orders, so they agree to float64 round-off over T terms, well within 1e-9
        assert int(unit) == cell["unit"]
        assert best[int(unit)] >= np.sort(best)[-2] - 1e-9                # among the two best
        k = list(FEATURES).index(feature)
        assert score[int(unit), k] == pytest.approx(best[int(unit)], abs=1e-9)
        column, feature_values = values[:, int(unit)], features[feature]
        assert float(r) == pytest.approx(_r(column, feature_values), abs=0.005 + 1e-9)
        assert float(r1) == pytest.approx(_r(column[:half], feature_values[:half]),
                                          abs=0.005 + 1e-9)
        assert float(r2) == pytest.approx(_r(column[half:], feature_values[half:]),
                                          abs=0.005 + 1e-9)
        weak = 'class="weak"' in page.split(f'data-unit="{unit}"')[1].split("</h3>")[0]
        assert weak == (best[int(unit)] < 0.5)


def test_the_traces_are_the_models_own_forward(run):
    """The step-by-step traces (reference.py's step) give the module's fast forward's h."""
    loaded = load_charlm_run(run)
    model = loaded.task.model
    tokens = loaded.task.corpus.eval[:50]
    traces = record_traces(model, tokens)
    with no_grad():
        output, (h_n, c_n) = model.lstm(model.embedding(np.asarray(tokens)[:, None]))
    eps = np.finfo(np.float64).eps
    np.testing.assert_allclose(traces[-1].h, output[:, 0], rtol=0, atol=1e3 * eps)
    for layer, trace in enumerate(traces):
        np.testing.assert_allclose(trace.c[-1], c_n[layer, 0], rtol=0, atol=1e3 * eps)
        # the gates are the step's: c_t = f ⊙ c_{t−1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
        c_prev = np.vstack([np.zeros((1, trace.c.shape[1])), trace.c[:-1]])
        np.testing.assert_allclose(trace.c, trace.f * c_prev + trace.i * trace.g, atol=1e3 * eps)
        np.testing.assert_allclose(trace.h, trace.o * np.tanh(trace.c), atol=1e3 * eps)


def test_a_text_with_characters_outside_the_vocabulary_skips_them_and_says_which(
        run, no_figure, tmp_path, capsys):
    text = tmp_path / "other.txt"
    text.write_text('é def f(x):\n    return "no" ✓ é\n', encoding="utf-8")
    assert main(["visualize", "--out", str(run), "--text", str(text), "--cells", "1"]) == 0
    err = capsys.readouterr().err
    assert "skipped 3 character(s)" in err and "'é' ×2" in err and "'✓' ×1" in err
    page, parser = _parse(run / "cells.html")
    assert parser.cells[0]["text"].replace("↵\n", "\n") == ' def f(x):\n    return "no"  \n'
    assert '">&quot;</span>' in page and '">"</span>' not in page      # escaped


def test_the_text_is_html_escaped(run, no_figure, tmp_path):
    text = tmp_path / "tags.txt"
    text.write_text('<b> & "x" <b>\n', encoding="utf-8")
    assert main(["visualize", "--out", str(run), "--text", str(text), "--cells", "1"]) == 0
    page, parser = _parse(run / "cells.html")
    assert "b" not in parser.tags
    for escaped in ("&lt;", "&gt;", "&amp;", "&quot;"):
        assert f'">{escaped}</span>' in page
    assert parser.cells[0]["text"] == '<b> & "x" <b>↵\n'


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nplstm visualize: error: "), err
    return err


def test_refusals_are_one_line_and_exit_2(run, no_figure, tmp_path, capsys):
    assert "not a directory" in _refused(["visualize", "--out", str(tmp_path / "none")],
                                         capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no best.npz or checkpoint.npz" in _refused(["visualize", "--out", str(empty)],
                                                        capsys)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "best.npz").write_bytes(b"PK\x03\x04 not a zip file")
    assert "best.npz" in _refused(["visualize", "--out", str(damaged)], capsys)
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("ÄÖÜ€", encoding="utf-8")
    assert "vocabulary" in _refused(["visualize", "--out", str(run), "--text", str(foreign)],
                                    capsys)
    assert "no such file" in _refused(["visualize", "--out", str(run), "--text",
                                       str(tmp_path / "missing.txt")], capsys)
    assert "only 12 cells" in _refused(["visualize", "--out", str(run), "--cells", "13"],
                                       capsys)
    assert "--chars" in _refused(["visualize", "--out", str(run), "--chars", "0"], capsys)
    assert not (empty / "cells.html").exists() and not (damaged / "cells.html").exists()


def test_visualize_run_checks_its_counts_before_reading_anything(tmp_path):
    for name, value, error in (("chars", 0, ValueError), ("cells", -1, ValueError),
                               ("chars", True, TypeError), ("cells", 2.0, TypeError)):
        with pytest.raises(error, match=name):
            visualize_run(tmp_path / "no run", **{name: value})


def test_an_adding_run_is_refused(tmp_path, capsys):
    out = tmp_path / "adding"
    assert main(["train", "--task", "adding", "--out", str(out), "--steps", "1", "--hidden",
                 "4", "--seq-len", "5", "--batch-size", "2", "--eval-every", "1"]) == 0
    capsys.readouterr()
    assert "charlm" in _refused(["visualize", "--out", str(out)], capsys)


def test_text_features_of_a_small_text():
    text = 'a "b(c)"\n  d_e f'
    got = text_features(text)
    #            a     "  b  (  c  )  "  ↵  _  _  d  _  e  _  f
    assert list(got["in_quotes"]) == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert list(got["in_brackets"]) == [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert list(got["line_position"]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6]
    assert list(got["indentation"]) == [0] * 9 + [1] + [2] * 6
    assert list(got["word_start"]) == [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert list(got["in_word"]) == [1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1]


# -- each feature's definition, on a text made to show it ------------------------------------

def test_in_quotes_opening_quote_inside_closing_outside_and_two_pairs():
    text = 'a"bc"d"e"'
    #                                         a  "  b  c  "  d  "  e  "
    assert list(text_features(text)["in_quotes"]) == [0, 1, 1, 1, 0, 0, 1, 1, 0]


def test_in_brackets_nests_mixed_kinds_and_ignores_a_stray_closing_bracket():
    text = ")f([{x}])y"
    #                                           )  f  (  [  {  x  }  ]  )  y
    assert list(text_features(text)["in_brackets"]) == [0, 0, 1, 2, 3, 3, 2, 1, 0, 0]


def test_line_position_restarts_after_each_line_break_which_ends_its_line():
    text = "abc\n\nde"
    #                                             a  b  c  ↵  ↵  d  e
    assert list(text_features(text)["line_position"]) == [0, 1, 2, 3, 0, 0, 1]


def test_indentation_counts_only_the_leading_spaces_read_so_far():
    """No look-ahead: on the third leading space only three have been read.  Spaces after
    the first other character do not count; a line of spaces alone counts them all."""
    text = "   x y\n  \nz  w\n"
    got = list(text_features(text)["indentation"])
    #         _  _  _  x  _  y  ↵  _  _  ↵  z  _  _  w  ↵
    assert got == [1, 2, 3, 3, 3, 3, 3, 1, 2, 2, 0, 0, 0, 0, 0]


def test_word_start_and_in_word_treat_letters_digits_and_underscore_as_word():
    text = "ab c_1 (x2)-y"
    got = text_features(text)
    #                                        a  b  _  c  _  1  _  (  x  2  )  -  y
    assert list(got["word_start"]) == [1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert list(got["in_word"]) == [1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1]


def test_no_feature_looks_ahead():
    """Each feature at t is the same whatever follows t."""
    text = 'if (a):\n    b = "c [d]"\n  e\n'
    whole = text_features(text)
    for t in range(1, len(text) + 1):
        prefix = text_features(text[:t])
        for name in FEATURES:
            assert list(prefix[name]) == list(whole[name][:t]), (name, t)


def test_a_cell_that_follows_its_feature_in_one_half_only_ranks_below_one_that_holds():
    """The held-out rule: unit 0 follows in_brackets perfectly over the first half and is
    flat over the second: r over the whole text 0.60.  Unit 1 follows in_word loosely but in
    both halves: r 0.44.  Unit 1 ranks first; neither is convincing (0.5 in both halves)."""
    text = 'fun(xs, "yes") + get[zed]\n    hat = (abc)\n' * 8
    features = text_features(text)
    T, half = len(text), len(text) // 2
    rng = np.random.default_rng(0)
    values = rng.uniform(-0.05, 0.05, (T, 3))
    values[:half, 0] = np.tanh(features["in_brackets"][:half])
    values[half:, 0] = rng.uniform(-0.02, 0.02, T - half)
    values[:, 1] = 0.2 * features["in_word"] + rng.uniform(-0.3, 0.3, T)
    ranked = rank_cells(values, features, 3)
    assert [cell.unit for cell in ranked[:1]] == [1] and ranked[0].feature == "in_word"
    assert min(ranked[0].halves) > 0.4                # holds in both halves (not above 0.5)
    zero = [cell for cell in ranked if cell.unit == 0][0]
    assert not zero.convincing and abs(zero.halves[1]) < 0.5
    r = correlations(values, features)                # the old rule, |r| over the whole text,
    assert abs(r[0, list(FEATURES).index("in_brackets")]) > abs(ranked[0].r)   # put unit 0 first


def test_the_page_scrolls_sideways_instead_of_wrapping_a_line():
    from nplstm.visualize import CellView, render_page  # noqa: PLC0415
    page = render_page("    indented line\nx", [CellView(0, 3, "indentation", 0.2,
                                                           np.zeros(19), (0.1, 0.3), False)],
                       title="t", meta="m")
    style = re.search(r"\.text\{([^}]*)\}", page).group(1)
    assert "white-space:pre;" in style and "overflow-x:auto" in style
    assert "pre-wrap" not in style and "break-all" not in style and "anywhere" not in style
    assert 'halves +0.10, +0.30' in page and 'class="weak"' in page


@given(seed)
def test_rank_cells_finds_a_planted_cell(seed):
    rng = np.random.default_rng(seed)
    features = text_features('x = [a, "b"]\n    y = (c)\n' * 3)
    T = len(features["in_brackets"])
    values = rng.uniform(-0.3, 0.3, (T, 6))                             # (T, H) noise
    values[:, 4] = -np.tanh(features["in_brackets"] - 0.5)              # follows the brackets
    values[:, 1] = 0.25                                                 # constant: r = 0
    ranked = rank_cells(values, features, 3)
    assert ranked[0].unit == 4 and ranked[0].feature == "in_brackets" and ranked[0].r < -0.99
    assert ranked[0].convincing and all(r < -0.99 for r in ranked[0].halves)
    assert 1 not in [cell.unit for cell in ranked]          # the constant unit scores 0
    r = correlations(values, features)
    assert np.all(r[1] == 0)
    centred = values[:, 3] - values[:, 3].mean()
    word = features["word_start"] - features["word_start"].mean()
    k = list(FEATURES).index("word_start")
    assert r[3, k] == pytest.approx(centred @ word / np.linalg.norm(centred)
                                    / np.linalg.norm(word))


@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 5)),
              elements=st.floats(0, 1)))
def test_saturation_fractions_count_the_steps(gate):
    left, right = saturation_fractions(gate)
    T, H = gate.shape
    for j in range(H):
        assert left[j] == sum(v < 0.1 for v in gate[:, j]) / T
        assert right[j] == sum(v > 0.9 for v in gate[:, j]) / T


def test_the_gates_figure_is_written(run, capsys):
    pytest.importorskip("matplotlib")
    figure = run / "gates.png"
    figure.unlink(missing_ok=True)
    assert main(["visualize", "--out", str(run), "--chars", "100", "--cells", "1"]) == 0
    assert figure.stat().st_size > 10_000
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gates_figure_has_a_legend_for_its_diagonals(run):
    """Each panel draws the two diagonals with a label, and the figure's legend names both."""
    pytest.importorskip("matplotlib")
    from nplstm.training.plots import matplotlib_pyplot  # noqa: PLC0415
    from nplstm.visualize.traces import DIAGONALS, saturation_figure  # noqa: PLC0415
    loaded = load_charlm_run(run)
    with no_grad():
        traces = record_traces(loaded.task.model, loaded.task.corpus.encode(TEXT[:60]))
    plt = matplotlib_pyplot()
    fig = saturation_figure(plt, traces)
    try:
        (legend,) = fig.legends
        assert [t.get_text() for t in legend.get_texts()] == list(DIAGONALS.values())
        assert [line.get_linestyle() for line in legend.get_lines()] == ["--", ":"]
        for ax in fig.axes:                      # 2 layers × 3 gates, each with both lines
            assert sorted(line.get_label() for line in ax.get_lines()) == \
                sorted(DIAGONALS.values())
        assert len(fig.axes) == 6
    finally:
        plt.close(fig)
