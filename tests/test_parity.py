"""Parity with torch.nn.LSTMCell / torch.nn.LSTM in float64.

Golden: every case stored in tests/fixtures/{cell,lstm}.npz (written by make_fixtures.py with
torch) is rerun with nplstm and each output and gradient compared, relative error
max|a − b| / max|b| ≤ 1e-12 (cell) and ≤ 1e-10 (LSTM).  These never import torch.
Live (marker ``torch``, skipped without torch): the same comparison on random configurations
drawn by hypothesis, plus loading torch's own state dict.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm

from . import torch_reference as ref
from .helpers import rel_error
from .strategies import module_configs, seed as seeds

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MISSING = "<missing fixture file>"


def _case_names(filename):
    path = FIXTURES / filename
    if not path.exists():
        return [MISSING]
    with np.load(path, allow_pickle=False) as z:
        return sorted({k.split("/")[0] for k in z.files})


def _load_case(filename, name):
    """(config, {key: array}) of one stored case."""
    path = FIXTURES / filename
    if name == MISSING:
        pytest.fail(f"{path} is missing: run `python tests/fixtures/make_fixtures.py` "
                    "(needs torch)")
    prefix = name + "/"
    with np.load(path, allow_pickle=False) as z:
        config = ref.config_from_array(z[prefix + "config"])
        data = {k[len(prefix):]: z[k] for k in z.files
                if k.startswith(prefix) and k != prefix + "config"}
    return config, data


def _assert_close(got, expected, tol):
    errors = ref.compare(got, expected)
    bad = {k: e for k, e in errors.items() if not e <= tol}
    assert not bad, f"relative error above {tol:g}: " + ", ".join(
        f"{k} {e:.3g}" for k, e in sorted(bad.items(), key=lambda kv: -kv[1]))


@pytest.fixture
def no_torch(monkeypatch):
    """Make any `import torch` fail for the duration of a test (even if already imported)."""
    monkeypatch.setitem(sys.modules, "torch", None)


# -- (a) golden fixtures -------------------------------------------------------------------------

@pytest.mark.usefixtures("no_torch")
@pytest.mark.parametrize("name", _case_names("cell.npz"))
def test_golden_cell(name):
    config, data = _load_case("cell.npz", name)
    assert config["kind"] == "cell"
    _assert_close(ref.run_nplstm(config, data), data, ref.CELL_TOL)


@pytest.mark.usefixtures("no_torch")
@pytest.mark.parametrize("name", _case_names("lstm.npz"))
def test_golden_lstm(name):
    check_golden_sequence("lstm.npz", name, "lstm", ref.LSTM_TOL)


def check_golden_sequence(filename, name, kind, tol):
    """One stored LSTM (or RNN: tests/test_rnn.py) case rerun: every result within ``tol``,
    padded positions exactly 0, the inference forward the same."""
    config, data = _load_case(filename, name)
    assert config["kind"] == kind
    got = ref.run_nplstm(config, data)
    _assert_close(got, data, tol)
    if config["lengths"] is not None:   # padded positions: exactly zero output and dx
        pad = np.arange(config["T"])[:, None] >= np.asarray(config["lengths"])  # (T, B)
        if config["batch_first"]:
            pad = pad.T                                                          # (B, T)
        assert not got["out/output"][pad].any()
        assert not got["grad/x"][pad].any()
    # the inference forward (no cache, chunked input projection) gives the same outputs
    inference = ref.run_nplstm_inference(config, data)
    for key, value in inference.items():
        assert rel_error(value, data[key]) <= tol, key


# -- (d) the torch-docs LSTMCell loop, backpropagated by hand through the module --------------

@pytest.mark.usefixtures("no_torch")
def test_cell_docs_loop_backward_in_reverse():
    config, data = _load_case("cell.npz", "docs_loop")
    assert (config["input_size"], config["hidden_size"], config["steps"]) == (10, 20, 6)
    rnn = nplstm.LSTMCell(10, 20, dtype="float64", seed=0)
    rnn.load_state_dict(ref.params_of(data))
    x, dout = data["in/x"], data["in/dh"]                  # (6, 3, 10), (6, 3, 20)
    hx, cx = data["in/h0"], data["in/c0"]                  # (3, 20)
    output, cells = [], []
    for i in range(6):
        hx, cx = rnn(x[i], (hx, cx))
        output.append(hx)
        cells.append(cx)
    dx = np.empty_like(x)
    dh_prev, dc_prev = np.zeros_like(hx), None
    for i in reversed(range(6)):
        # h_i feeds output i and step i + 1: dh_i = dout_i + dh_prev returned by step i + 1;
        # only step i + 1 reads c_i, so dc_i = dc_prev (None = zeros for the last step)
        dx[i], (dh_prev, dc_prev) = rnn.backward(dout[i] + dh_prev, dc_prev)
    with pytest.raises(RuntimeError):
        rnn.backward(dout[0])                              # the tape is empty now
    got = {"out/h": np.stack(output), "out/c": np.stack(cells), "grad/x": dx,
           "grad/h0": dh_prev, "grad/c0": dc_prev}
    got.update({f"grad/{k}": p.grad for k, p in rnn.named_parameters()})
    _assert_close(got, data, ref.CELL_TOL)


# -- (b) live against torch on random configurations ---------------------------------------------

# 15 examples under the default ("ci") profile, more under NPLSTM_HYPOTHESIS_PROFILE=thorough
LIVE = settings(max_examples=max(30, settings.default.max_examples), deadline=None,
                database=None)


@st.composite
def cell_configs(draw):
    return {"kind": "cell", "input_size": draw(st.integers(1, 6)),
            "hidden_size": draw(st.integers(1, 6)), "bias": draw(st.booleans()),
            "batch": draw(st.one_of(st.none(), st.integers(1, 4))),
            "state": draw(st.booleans()), "steps": draw(st.integers(1, 4)),
            "dc": draw(st.booleans())}


@pytest.mark.torch
@LIVE
@given(kind=st.sampled_from(["cell", "lstm"]), data=st.data(), seed=seeds)
def test_live_against_torch(kind, data, seed):
    pytest.importorskip("torch")
    config = data.draw(cell_configs() if kind == "cell" else module_configs())
    inputs = ref.make_inputs(config, seed)
    tol = ref.CELL_TOL if kind == "cell" else ref.LSTM_TOL
    _assert_close(ref.run_nplstm(config, inputs), ref.run_torch(config, inputs), tol)


# -- (c) torch's own state dict loads unchanged --------------------------------------------------

@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("dtype, tol", [("float64", ref.LSTM_TOL), ("float32", 1e-5)])
def test_torch_state_dict_loads_unchanged(dtype, tol):
    torch = pytest.importorskip("torch")
    tdtype = getattr(torch, dtype)
    kwargs = dict(num_layers=2, bidirectional=True, proj_size=2, batch_first=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        t_lstm = torch.nn.LSTM(4, 3, dtype=tdtype, **kwargs)
    sd = {k: v.numpy() for k, v in t_lstm.state_dict().items()}
    lstm = nplstm.LSTM(4, 3, dtype=dtype, seed=1, **kwargs)
    lstm.load_state_dict(sd)
    mine = lstm.state_dict()
    assert list(mine) == list(sd)
    for k, v in sd.items():
        assert mine[k].dtype == v.dtype and np.array_equal(mine[k], v), k
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 4)).astype(dtype)                 # (B, T, I)
    h0 = rng.standard_normal((4, 3, 2)).astype(dtype)                 # (L·D, B, P)
    c0 = rng.standard_normal((4, 3, 3)).astype(dtype)                 # (L·D, B, H)
    with torch.no_grad():
        t_out, (t_h, t_c) = t_lstm(torch.from_numpy(x), (torch.from_numpy(h0),
                                                         torch.from_numpy(c0)))
    with nplstm.no_grad():
        out, (h_n, c_n) = lstm(x, (h0, c0))
    for got, want in ((out, t_out), (h_n, t_h), (c_n, t_c)):
        assert got.dtype == np.dtype(dtype)
        assert rel_error(got, want.numpy()) <= tol
