"""Modules: parameters, state dicts, init, modes, devices."""

import numpy as np
import pytest

import nplstm


def test_state_dict_round_trip_and_copies():
    a = nplstm.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, seed=1)
    b = nplstm.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, seed=2)
    sd = a.state_dict()
    b.load_state_dict(sd)
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
        assert pb.data is not sd[name]
    sd["weight_ih_l0"][...] = 0                      # a copy: the module is unaffected
    assert a.weight_ih_l0.data.any()


def test_load_state_dict_refuses_mismatches_naming_the_key():
    m = nplstm.LSTMCell(3, 4, seed=0)
    sd = m.state_dict()
    before = {k: v.copy() for k, v in sd.items()}
    missing = {k: v for k, v in sd.items() if k != "bias_hh"}
    with pytest.raises(KeyError, match=r'Missing key\(s\) in state_dict: "bias_hh"\.'):
        m.load_state_dict(missing)
    with pytest.raises(KeyError, match=r'Unexpected key\(s\) in state_dict: "extra"\.'):
        m.load_state_dict({**sd, "extra": np.zeros(1)})
    bad_shape = {**sd, "weight_hh": np.zeros((16, 3), np.float32)}
    with pytest.raises(ValueError, match=r"weight_hh must have shape \(16, 4\), got \(16, 3\)"):
        m.load_state_dict(bad_shape)
    lossy = {k: (v + 1).astype(np.float64) for k, v in sd.items()}
    with pytest.raises(TypeError, match="weight_ih has dtype float64.*float32 without loss"):
        m.load_state_dict(lossy)
    with pytest.raises(TypeError, match="int64"):
        m.load_state_dict({**sd, "bias_ih": np.zeros(16, np.int64)})
    for k, v in m.state_dict().items():             # a refused load changed nothing
        np.testing.assert_array_equal(v, before[k])


def test_float32_state_dict_loads_into_float64_module_exactly():
    a = nplstm.LSTMCell(3, 4, seed=0)
    b = nplstm.LSTMCell(3, 4, dtype="float64", seed=1)
    b.load_state_dict(a.state_dict())
    assert b.weight_ih.dtype == np.float64
    np.testing.assert_array_equal(b.weight_ih.data, a.weight_ih.data.astype(np.float64))


def test_init_is_torchs_uniform_and_seeded():
    m = nplstm.LSTM(7, 16, num_layers=2, seed=3)
    for _, p in m.named_parameters():
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= 0.25          # 1/sqrt(16)
        assert np.abs(p.data).max() > 0.2            # spread over the whole interval
    again = nplstm.LSTM(7, 16, num_layers=2, seed=3)
    for (_, p), (_, q) in zip(m.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    other = nplstm.LSTM(7, 16, num_layers=2, seed=4)
    assert not np.array_equal(other.weight_ih_l0.data, m.weight_ih_l0.data)


def test_zero_grad_train_eval_and_to_cpu():
    m = nplstm.LSTM(2, 3, num_layers=2, dropout=0.5, seed=0)
    x = np.ones((2, 1, 2), np.float32)
    out, _ = m(x)
    m.backward(np.ones_like(out))
    assert any(p.grad.any() for p in m.parameters())
    m.zero_grad()
    assert not any(p.grad.any() for p in m.parameters())
    assert m.eval() is m and not m.training
    assert m.train() is m and m.training
    assert m.to("cpu") is m
    with pytest.raises(ValueError, match="device must be one of"):
        m.to("tpu")


def test_repr_and_parameter_lists():
    m = nplstm.LSTM(2, 3, bidirectional=True, seed=0)
    assert "bidirectional=True" in repr(m)
    assert len(m.parameters()) == 8
    assert "Parameter(shape=(12, 2)" in repr(m.weight_ih_l0)
