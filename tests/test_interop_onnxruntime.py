"""nplstm.interop.compile_onnxruntime: an LSTM or RNN run by onnxruntime, and the exported
file's optional state (nothing for onnxruntime to warn about).

Oracle: nplstm's own forward (itself tested against torch in test_parity.py and
test_rnn.py); onnxruntime's LSTM and RNN kernels are an independent implementation of the
same math, so agreement to float32 round-off (F32, as test_interop_onnx.py) ties the two.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm.interop import ReverseLSTM, UnsupportedModelError, compile_onnxruntime
from nplstm.interop.onnx_export import build_model, export_onnx

from .helpers import rel_error
from .strategies import lengths_or_none, seed, small_size

onnx = pytest.importorskip("onnx", reason="needs the onnx extra (pip install 'nplstm[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'nplstm[onnx]')")
from onnx.reference import ReferenceEvaluator  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "interop" / "onnx"
F32 = 1e-5          # float32 relative tolerance (onnxruntime sums in another order)


def _inputs(module, T, B, unbatched, with_state, rng):
    """x and a state (or None) in the module's layout; ``B`` is ignored when unbatched."""
    I, rows, H = module.input_size, module.num_layers * module.num_directions, \
        module.hidden_size
    shape = (T, I) if unbatched else ((B, T, I) if module.batch_first else (T, B, I))
    x = rng.standard_normal(shape, dtype=np.float32)
    state_shape = (rows, H) if unbatched else (rows, B, H)
    states = [rng.standard_normal(state_shape, dtype=np.float32)
              for _ in range(2 if isinstance(module, nplstm.LSTM) else 1)]
    return x, (tuple(states) if len(states) == 2 else states[0]) if with_state else None


def _assert_same(got, want):
    """Nested tuples of arrays: same shapes, float32, equal to float32 round-off."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            _assert_same(g, w)
        return
    assert isinstance(got, np.ndarray) and got.shape == want.shape
    assert got.dtype == np.float32
    # outputs and states are sums of O(1) terms (gates, tanh, weights ~ 1/√H): float32
    # round-off is about eps·O(1) in absolute terms, so an output that is itself near 0 (a
    # cancellation, e.g. hidden size 1 without bias) is compared on that O(1) scale, not on
    # its own tiny one, where any round-off would look relative-large
    scale = max(float(np.abs(want).max(initial=0.0)), 1.0)
    assert float(np.abs(got.astype(np.float64) - want).max(initial=0.0)) / scale <= F32


# -- parity with nplstm's forward ---------------------------------------------------------------

@st.composite
def _call(draw):
    T, B = draw(small_size), draw(small_size)
    unbatched = draw(st.booleans())
    lengths = draw(lengths_or_none(T, 1 if unbatched else B))
    if unbatched and lengths is not None and draw(st.booleans()):
        lengths = lengths[0]                    # an unbatched call takes an int too
    return T, B, unbatched, draw(st.booleans()), lengths


@given(layers=st.integers(1, 3), bidirectional=st.booleans(), batch_first=st.booleans(),
       bias=st.booleans(), inputs=small_size, hidden=small_size, call=_call(), seed=seed)
def test_lstm_matches_the_forward(layers, bidirectional, batch_first, bias, inputs, hidden,
                                  call, seed):
    T, B, unbatched, with_state, lengths = call
    lstm = nplstm.LSTM(inputs, hidden, layers, bias=bias, batch_first=batch_first,
                       bidirectional=bidirectional, seed=seed)
    fast = compile_onnxruntime(lstm, threads=1)
    x, state = _inputs(lstm, T, B, unbatched, with_state, np.random.default_rng(seed))
    with nplstm.no_grad():
        want = lstm(x, state, lengths=lengths)
    _assert_same(fast(x, state, lengths=lengths), want)


@given(layers=st.integers(1, 3), nonlinearity=st.sampled_from(["tanh", "relu"]),
       bidirectional=st.booleans(), batch_first=st.booleans(), bias=st.booleans(),
       inputs=small_size, hidden=small_size, call=_call(), seed=seed)
def test_rnn_matches_the_forward(layers, nonlinearity, bidirectional, batch_first, bias,
                                 inputs, hidden, call, seed):
    T, B, unbatched, with_state, lengths = call
    rnn = nplstm.RNN(inputs, hidden, layers, nonlinearity=nonlinearity, bias=bias,
                     batch_first=batch_first, bidirectional=bidirectional, seed=seed)
    fast = compile_onnxruntime(rnn, threads=1)
    x, h0 = _inputs(rnn, T, B, unbatched, with_state, np.random.default_rng(seed))
    with nplstm.no_grad():
        want = rnn(x, h0, lengths=lengths)
    _assert_same(fast(x, h0, lengths=lengths), want)
    _assert_same(fast(x, state=h0, lengths=lengths), want)       # the siblings' one name


def test_the_rnn_runner_takes_h0_as_a_deprecated_alias_of_state():
    rnn = nplstm.RNN(3, 4, seed=0)
    fast = compile_onnxruntime(rnn, threads=1)
    x, h0 = _inputs(rnn, 5, 2, False, True, np.random.default_rng(0))
    with pytest.warns(DeprecationWarning, match="h0= is deprecated, use state="):
        old = fast(x, h0=h0)
    _assert_same(old, fast(x, state=h0))
    with pytest.raises(TypeError, match="got both state= and its deprecated old name h0="):
        fast(x, state=h0, h0=h0)


def test_a_larger_model_and_default_threads():
    """Sizes where onnxruntime blocks its GEMMs and threads (H = 96, B = 16)."""
    lstm = nplstm.LSTM(40, 96, num_layers=2, bidirectional=True, batch_first=True, seed=5)
    x, state = _inputs(lstm, 30, 16, False, True, np.random.default_rng(5))
    lengths = np.random.default_rng(6).integers(1, 31, size=16)
    with nplstm.no_grad():
        want = lstm(x, state, lengths=lengths)
    _assert_same(compile_onnxruntime(lstm)(x, state, lengths), want)


def test_strided_and_subclassed_arrays_give_the_same_numbers():
    """Plain float32 arrays skip to onnxruntime after a cheap exact check; strided views
    (made contiguous for it) and ndarray subclasses (the module's full checks) agree."""

    class Tagged(np.ndarray):
        pass

    lstm = nplstm.LSTM(3, 4, 2, batch_first=True, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5, 6), dtype=np.float32)[::2, :, ::2]      # (3, 5, 3) strided
    h0, c0 = rng.standard_normal((2, 2, 3, 8), dtype=np.float32)[..., ::2]
    with nplstm.no_grad():
        want = lstm(np.ascontiguousarray(x), (h0.copy(), c0.copy()))
    fast = compile_onnxruntime(lstm)
    _assert_same(fast(x, (h0, c0)), want)
    _assert_same(fast(x.view(Tagged), (h0.view(Tagged), c0)), want)


def test_dropout_is_fine_in_eval_mode_and_with_one_layer():
    rng = np.random.default_rng(0)
    for lstm in (nplstm.LSTM(3, 4, 2, dropout=0.5, seed=0).eval(),
                 nplstm.LSTM(3, 4, 1, dropout=0.5, seed=0)):      # one layer: no dropout
        x, _ = _inputs(lstm, 5, 2, False, False, rng)
        with nplstm.no_grad():
            want = lstm(x)
        _assert_same(compile_onnxruntime(lstm)(x), want)


def test_weights_are_a_snapshot_and_a_call_records_nothing():
    lstm = nplstm.LSTM(3, 4, seed=0)
    x, _ = _inputs(lstm, 5, 2, False, False, np.random.default_rng(0))
    with nplstm.no_grad():
        before = lstm(x)
    fast = compile_onnxruntime(lstm)
    lstm.weight_hh_l0.data += 1.0                           # after compiling: not seen
    lstm.batch_first = True
    _assert_same(fast(x), before)
    assert lstm._tape == []
    lstm.batch_first = False
    with nplstm.no_grad():
        after = lstm(x)
    assert rel_error(after[0], before[0]) > 1e-2            # the change is visible...
    _assert_same(compile_onnxruntime(lstm)(x), after)       # ...once compiled again


# -- streaming ----------------------------------------------------------------------------------

@pytest.mark.parametrize("unbatched", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_streaming_step_by_step_equals_one_call(kind, unbatched):
    """T = 1, B = 1 calls carrying the state give the whole sequence's outputs and state."""
    module = nplstm.LSTM(3, 5, 2, seed=1) if kind == "lstm" else \
        nplstm.RNN(3, 5, 2, nonlinearity="relu", seed=1)
    fast = compile_onnxruntime(module, threads=1)
    x, state = _inputs(module, 12, 1, unbatched, True, np.random.default_rng(1))
    whole_output, whole_state = fast(x, state)
    steps = []
    for t in range(12):
        output, state = fast(x[t:t + 1], state)
        steps.append(output)
    _assert_same((np.concatenate(steps), state), (whole_output, whole_state))
    with nplstm.no_grad():
        _assert_same((whole_output, whole_state), module(x, _inputs(
            module, 12, 1, unbatched, True, np.random.default_rng(1))[1]))


# -- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("module, error, match", [
    (nplstm.LSTMCell(2, 3, seed=0), TypeError,
     "module must be an nplstm.LSTM, GRU or RNN, got LSTMCell"),
    (ReverseLSTM(2, 3, seed=0), UnsupportedModelError, "not the subclass ReverseLSTM"),
    (nplstm.LSTM(2, 3, proj_size=2, seed=0), UnsupportedModelError,
     "proj_size = 2: ONNX's LSTM node has no projection .*call the module itself"),
    (nplstm.LSTM(2, 3, dtype="float64", seed=0), TypeError,
     "dtype float64, but onnxruntime.s LSTM, GRU and RNN run float32 only.*load_state_dict"),
    (nplstm.RNN(2, 3, dtype="float64", seed=0), TypeError, "float32 only"),
    (nplstm.LSTM(2, 3, 2, dropout=0.5, seed=0), ValueError,
     "training mode with dropout = 0.5 .*module.eval\\(\\)"),
    (nplstm.RNN(2, 3, 3, dropout=0.1, seed=0), ValueError, "dropout = 0.1"),
])
def test_refuses_what_onnx_cannot_run(module, error, match):
    with pytest.raises(error, match=match):
        compile_onnxruntime(module)


@pytest.mark.parametrize("threads, error", [
    (0, ValueError), (-1, ValueError), (True, TypeError), (1.0, TypeError), ("2", TypeError),
    (2**40, ValueError)])
def test_refuses_bad_threads(threads, error):
    with pytest.raises(error, match=r"^threads must be a positive int <= 1024, got"):
        compile_onnxruntime(nplstm.LSTM(2, 3, seed=0), threads=threads)
    assert compile_onnxruntime(nplstm.LSTM(2, 3, seed=0), threads=np.int64(2)).threads == 2


def test_without_onnxruntime_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)       # import onnxruntime fails
    with pytest.raises(ImportError, match=r"pip install 'nplstm\[onnx\]'"):
        compile_onnxruntime(nplstm.LSTM(2, 3, seed=0))


def _bad_calls():
    """(module, args, kwargs) the module's forward refuses."""
    lstm, bf = nplstm.LSTM(3, 4, 2, seed=0), nplstm.LSTM(3, 4, batch_first=True, seed=0)
    rnn = nplstm.RNN(3, 4, seed=0)
    x = np.zeros((5, 2, 3), np.float32)
    s = np.zeros((2, 2, 4), np.float32)
    return [
        (lstm, (x.astype(np.float64),), {}),                         # dtype
        (lstm, ([[1.0]],), {}),                                      # not an array
        (lstm, (np.zeros((5, 2, 4), np.float32),), {}),              # I
        (bf, (np.zeros((2, 3, 5), np.float32),), {}),                # layout mix-up hint
        (lstm, (np.zeros((5, 2, 3, 1), np.float32),), {}),           # rank
        (lstm, (np.zeros((0, 2, 3), np.float32),), {}),              # T = 0
        (lstm, (x, s), {}),                                          # state not a pair
        (lstm, (x, (s, None)), {}),                                  # c0 missing
        (lstm, (x, (s[:1], s)), {}),                                 # h0 rows
        (lstm, (x, (s, s.astype(np.float64))), {}),                  # c0 dtype
        (lstm, (x,), {"lengths": [1, 6]}),                           # > T
        (lstm, (x,), {"lengths": [1]}),                              # (B,)
        (lstm, (x,), {"lengths": np.array([1.0, 2.0])}),             # dtype
        (lstm, (x[:, 0],), {"lengths": [1, 2]}),                     # unbatched: one length
        (rnn, (x, s[:, :1]), {}),                                    # h0 B
        (rnn, (x, (s[:1], s[:1])), {}),                              # h0 is not a pair
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls())))
def test_a_bad_call_is_refused_as_the_forward_refuses_it(case):
    module, args, kwargs = _bad_calls()[case]
    with pytest.raises(Exception) as expected:
        module(*args, **kwargs)
    assert isinstance(expected.value, (TypeError, ValueError))
    with pytest.raises(type(expected.value)) as got:
        compile_onnxruntime(module)(*args, **kwargs)
    assert str(got.value) == str(expected.value)


# -- nothing printed ----------------------------------------------------------------------------

def test_creating_and_calling_print_nothing(capfd):
    lstm = nplstm.LSTM(3, 4, 2, bidirectional=True, seed=0)
    fast = compile_onnxruntime(lstm)
    fast(np.ones((5, 2, 3), np.float32), lengths=[5, 2])
    fast(np.ones((5, 3), np.float32))
    compile_onnxruntime(nplstm.RNN(3, 4, seed=0))(np.ones((2, 1, 3), np.float32))
    assert capfd.readouterr() == ("", "")


def test_a_fresh_process_prints_nothing():
    """The first session in a process also creates onnxruntime's environment: quiet too."""
    script = textwrap.dedent("""
        import numpy as np, nplstm
        fast = nplstm.interop.compile_onnxruntime(nplstm.LSTM(3, 4, seed=0), threads=1)
        fast(np.ones((5, 2, 3), np.float32))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_exported_file_gives_onnxruntime_nothing_to_warn_about(tmp_path, capfd):
    """onnxruntime at its default severity (warnings) on an exported file: no message.
    The files of the former exporter (state defaults as initializers) drew one warning
    per state, "Initializer h0 appears in graph inputs"."""
    export_onnx(nplstm.LSTM(3, 4, 2, seed=0), tmp_path / "m.onnx")
    capfd.readouterr()
    options = ort.SessionOptions()
    options.log_severity_level = 2
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    session.run(None, {"input": np.ones((5, 2, 3), np.float32)})
    assert capfd.readouterr() == ("", "")


# -- the graphs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("module", [
    nplstm.LSTM(3, 4, 2, bidirectional=True, seed=0),
    nplstm.RNN(3, 4, 2, nonlinearity="relu", bias=False, seed=0)])
def test_the_runners_graphs_pass_the_checker(module):
    for lengths in (False, True):
        onnx.checker.check_model(build_model(module, runner=True, lengths=lengths),
                                 full_check=True)


def test_an_rnn_graph_runs_in_the_reference_evaluator():
    """The runner's RNN graph in ONNX's own evaluator (which knows no Relu activation and
    ignores sequence_lens): the same numbers as onnxruntime's, so the graph, not one
    runtime, carries the math."""
    rnn = nplstm.RNN(3, 4, 2, bidirectional=True, seed=2)
    x, h0 = _inputs(rnn, 6, 2, False, True, np.random.default_rng(2))
    feeds = {"input": x, "h0": h0}
    output, h_n = ReferenceEvaluator(build_model(rnn, runner=True)).run(None, feeds)
    _assert_same(compile_onnxruntime(rnn)(x, h0), (output, h_n))


def test_a_file_of_the_former_exporter_still_imports():
    """Before the optional type, h0/c0 were graph inputs with initializer defaults.  The
    fixture was written by that exporter (nplstm at b10917c: export_onnx(nplstm.LSTM(3, 4,
    seed=0), path)); import_onnx reads its weights all the same."""
    path = FIXTURES / "former_export_lstm_3_4_seed0.onnx"
    model = onnx.load(str(path))
    assert {i.name for i in model.graph.input} >= {"h0", "c0"}            # the former form
    assert {t.name for t in model.graph.initializer} >= {"h0", "c0"}
    [back] = nplstm.interop.import_onnx(path)
    # that exporter's module drew its float32 weights in float64 and cast them (weights are
    # drawn in the module's dtype since): the float64 module of the same seed, cast, is them
    for name, value in nplstm.LSTM(3, 4, seed=0, dtype="float64").state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name], value.astype(np.float32))


# -- nplstm bench --runtime onnxruntime ---------------------------------------------------------

def test_bench_rows_give_onnxruntime_its_ratios():
    """Fixed call times (no timing): the medians and per-round ratios of the new column."""
    from nplstm.benchmark import format_stream_table, format_table, make_row

    times = [[0.010, 0.012, 0.011], [0.020, 0.020, 0.022], [0.030, 0.031, 0.030]]
    ort_times = [0.005, 0.004, 0.0055]
    row = make_row(10, 4, 64, "forward", times, None, runtime=ort_times)
    assert np.isclose(row["ort_ms"], 5.0)
    assert np.isclose(row["ort_ratio"], np.median([0.25, 0.2, 0.25]))      # ort / torch
    assert np.isclose(row["nplstm_ort"], np.median([2.0, 3.0, 2.0]))       # nplstm / ort
    table = format_table([make_row(10, 4, 64, "fwd+bwd", times, None), row])
    assert "onnxruntime/torch" in table and "0.25x" in table and "5.00" in table
    step = make_row(10, 1, 64, "step", times, None, runtime=ort_times)     # per step: / T
    assert np.isclose(step["ort_ms"], 0.5)
    assert "500.0" in format_stream_table([step])                  # 0.5 ms = 500 µs per step


def test_a_tiny_bench_with_the_onnxruntime_worker():
    """Its worker process compiles the case's LSTM and is timed (nothing asserted about the
    times) in the forward and streaming modes; fwd+bwd leaves it out."""
    from nplstm.benchmark import time_cases

    rows, _ = time_cases([(3, 2, 4)], repeats=2, threads=1, runtime="onnxruntime",
                         modes=("fwd+bwd", "forward", "step"))
    assert [r["mode"] for r in rows] == ["fwd+bwd", "forward", "step"]
    assert "ort_ms" not in rows[0] and all(r["ort_ms"] > 0 for r in rows[1:])
    with pytest.raises(ValueError, match="runtime must be one of"):
        time_cases([(3, 2, 4)], runtime="tvm")


def test_bench_without_onnxruntime_exits_2_naming_the_extra(monkeypatch, capsys):
    from nplstm.cli import main

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(SystemExit) as info:
        main(["bench", "--runtime", "onnxruntime"])
    assert info.value.code == 2
    assert "pip install 'nplstm[onnx]'" in capsys.readouterr().err
