"""The whole library on each array backend, compared with the same computation on NumPy.

On the strict backend (tests/strict_backend.py) any NumPy call on device data, and any host
array mixed into device data, is a ``TypeError``: these tests fail wherever the one code path
only works on NumPy.  Its results must equal NumPy's bit for bit; on CuPy (with a device) the
same cases compare the GPU with the CPU to round-off.

Each case is a function of the device name ("cpu" for NumPy) that draws its host inputs from
a fixed seed, moves them to the device, runs the library and returns what it computed.
"""

import numpy as np
import pytest

import nplstm
from nplstm import functional as F
from nplstm.backend import (asnumpy, device_of, devices, get_array_module, kernels_of,
                            register_backend, scatter_add, to_device)
from nplstm.io import load_checkpoint
from nplstm.optim import SGD, clip_grad_norm
from nplstm.training.tasks import AddingTask
from nplstm.training import Trainer, TrainConfig

from . import strict_backend
from .strict_backend import StrictArray, strict

F64 = "float64"


def _compare(backend, case, **kwargs):
    """Run ``case(device, **kwargs)`` on NumPy and on ``backend``; results must agree."""
    backend.assert_same(case(backend.device, **kwargs), case("cpu", **kwargs))


def _inputs(device, seed, *shapes):
    """Random normal float64 arrays of ``shapes``, drawn on the host, moved to ``device``."""
    rng = np.random.default_rng(seed)
    return [to_device(rng.standard_normal(s), device) for s in shapes]


# -- the cell ------------------------------------------------------------------------------------

def _cell_functional(device):
    B, I, H = 3, 4, 5
    x, h, c, w_ih, w_hh, b_ih, b_hh, dh, dc = _inputs(
        device, 0, (B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,),
        (B, H), (B, H))
    (h1, c1), cache = F.lstm_cell_forward(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    grads = F.lstm_cell_backward(dh, dc, cache)
    (h1u, c1u), cache = F.lstm_cell_forward(x[0], None, w_ih, w_hh)       # unbatched, no bias
    grads_u = F.lstm_cell_backward(dh[0], None, cache)
    return h1, c1, tuple(grads), h1u, c1u, tuple(grads_u)


def _cell_module(device):
    B, I, H = 2, 3, 4
    cell = nplstm.LSTMCell(I, H, dtype=F64, device=device, seed=1)
    x0, x1, dh, dc = _inputs(device, 1, (B, I), (B, I), (B, H), (B, H))
    state = cell(x1, cell(x0))
    dx1, (dh0, dc0) = cell.backward(dh, dc)
    dx0, state0 = cell.backward(dh0, dc0)
    return state, dx1, dx0, state0, [p.grad for p in cell.parameters()]


def test_cell(backend):
    _compare(backend, _cell_functional)
    _compare(backend, _cell_module)


# -- one layer over a sequence -------------------------------------------------------------------

def _sequence(device, reverse, lengths, projection):
    T, B, I, H = 5, 4, 3, 6
    P = 2 if projection else H
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, dout, dh_n, dc_n = _inputs(
        device, 2, (T, B, I), (B, P), (B, H), (4 * H, I), (4 * H, P), (4 * H,), (4 * H,),
        (P, H), (T, B, P), (B, P), (B, H))
    weights = (w_ih, w_hh, b_ih, b_hh, w_hr if projection else None)
    out, cache = F.lstm_forward(x, (h0, c0), *weights, lengths=lengths, reverse=reverse)
    grads = F.lstm_backward(dout, dh_n, dc_n, cache)
    inference, _ = F.lstm_forward(x, (h0, c0), *weights, lengths=lengths, reverse=reverse,
                                  keep_cache=False)
    (out_u, state_u), cache = F.lstm_forward(x[:, 0], None, *weights, reverse=reverse)
    grads_u = F.lstm_backward(dout[:, 0], None, dc_n[0], cache)
    return out, tuple(grads), inference, out_u, state_u, tuple(grads_u)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4, 1]])
def test_sequence(backend, reverse, lengths):
    for projection in (False, True):
        _compare(backend, _sequence, reverse=reverse, lengths=lengths, projection=projection)


# -- the LSTM module -----------------------------------------------------------------------------

def _lstm(device, proj_size, batch_first):
    T, B, I, H, L, D = 4, 3, 3, 5, 2, 2
    P = proj_size or H
    # built on the host, then moved: the same weights on every device
    lstm = nplstm.LSTM(I, H, L, dropout=0.4, bidirectional=True, proj_size=proj_size,
                       batch_first=batch_first, dtype=F64, seed=3).to(device)
    x, h0, c0, dout, dh_n = _inputs(device, 3, (B, T, I) if batch_first else (T, B, I),
                                    (L * D, B, P), (L * D, B, H),
                                    (B, T, D * P) if batch_first else (T, B, D * P),
                                    (L * D, B, P))
    out, state = lstm(x, (h0, c0), lengths=[4, 1, 3])
    dx, dstate0 = lstm.backward(dout, (dh_n, None))
    grads = {name: p.grad for name, p in lstm.named_parameters()}
    with nplstm.no_grad():
        evaluated = lstm.eval()(x)
    return out, state, dx, dstate0, grads, evaluated, lstm.state_dict()


@pytest.mark.parametrize("proj_size, batch_first", [(0, False), (2, True)])
def test_lstm_module(backend, proj_size, batch_first):
    _compare(backend, _lstm, proj_size=proj_size, batch_first=batch_first)


# -- layers, losses, optimizer -------------------------------------------------------------------

def _layers_and_losses(device):
    N, V, E, C = 7, 6, 4, 5
    rng = np.random.default_rng(4)
    tokens = to_device(rng.integers(0, V, size=(N,)), device)
    targets = rng.integers(0, C, size=(N,))
    targets[[1, 4]] = -100                                           # ignore_index
    emb = nplstm.Embedding(V, E, padding_idx=0, dtype=F64, device=device, seed=4)
    linear = nplstm.Linear(E, C, dtype=F64, device=device, seed=5)
    logits = linear(emb(tokens))                                     # (N, C)
    ce, cache = F.cross_entropy_forward(logits, to_device(targets, device))
    dlogits = F.cross_entropy_backward(to_device(np.asarray(0.5), device), cache).logits
    mse_target, = _inputs(device, 4, (N, C))
    mse, cache = F.mse_forward(logits, mse_target)
    mse_grads = F.mse_backward(2.0, cache)
    emb.backward(linear.backward(dlogits + mse_grads.pred))
    return (float(ce), dlogits, float(mse), tuple(mse_grads),
            [p.grad for p in (*linear.parameters(), *emb.parameters())])


def _optimizer(device):
    linear = nplstm.Linear(4, 3, dtype=F64, device=device, seed=6)
    opt = SGD(linear.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    norms = []
    for step in range(3):
        for p, g in zip(linear.parameters(), _inputs(device, 10 + step, (3, 4), (3,))):
            p.grad[...] = g
        norms.append(clip_grad_norm(linear.parameters(), 0.5))
        opt.step()
    saved = opt.state_dict()
    assert all(isinstance(b, np.ndarray) for b in saved["buffers"])   # host copies
    opt = SGD(linear.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    opt.load_state_dict(saved)
    opt.step()
    return (norms, [to_device(b, device) for b in saved["buffers"]],
            [p.data for p in linear.parameters()], opt.buffers)


def test_layers_losses_and_optimizer(backend):
    _compare(backend, _layers_and_losses)
    _compare(backend, _optimizer)


# -- the tasks and the trainer -------------------------------------------------------------------

TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen jugs. " * 4


def _adding_step(device):
    task = AddingTask(batch_size=4, seq_len=6, hidden_size=5, num_layers=2, dropout=0.3,
                      seed=0, device=device)
    opt = SGD(task.model.parameters(), lr=0.1, momentum=0.9)
    loss, _ = task.train_step(0)
    norm = clip_grad_norm(task.model.parameters(), 0.1)
    opt.step()
    return loss, norm, task.model.state_dict(), task.evaluate()


def _trainer(device, task, tmp_path):
    """Two steps, then a resumed third: every step is zero_grad, train_step, clip, SGD."""
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    config = dict(task=task, text=str(text) if task == "charlm" else None,
                  out=str(tmp_path / device), seq_len=6, hidden=5,
                  layers=2, batch_size=4, embedding_dim=4, dropout=0.2, nesterov=True,
                  weight_decay=0.01, clip=0.5, eval_every=2, checkpoint_every=2, device=device)
    first = Trainer(TrainConfig(steps=2, **config), progress=False).run()
    trainer = Trainer(TrainConfig(steps=3, **config), resume=True, progress=False)
    last = trainer.run()
    sample = trainer.task.sample("the", 4, 1.0, seed=0) if task == "charlm" else None
    checkpoint = load_checkpoint(last["checkpoint"])
    return ([first[k] for k in ("train_loss", "eval_loss")],
            [last[k] for k in ("train_loss", "eval_loss")],
            {k: checkpoint[k] for k in ("model", "optimizer", "state", "step")}, sample)


def test_adding_task_step(backend):
    _compare(backend, _adding_step)


@pytest.mark.parametrize("task", ["charlm", "adding"])
def test_trainer_steps_and_resume(backend, task, tmp_path):
    got = _trainer(backend.device, task, tmp_path)
    backend.assert_same(got, _trainer("cpu", task, tmp_path), device="cpu")   # host results


# -- errors at the boundary ----------------------------------------------------------------------

def test_mixing_devices_is_a_type_error_naming_both(device_backend):
    device = device_backend.device
    both = rf"is a NumPy array \(cpu\) but .* is a \w+ array \({device}\)"
    w_ih, w_hh = _inputs(device, 5, (8, 3), (8, 2))
    with pytest.raises(TypeError, match="x " + both):
        F.lstm_cell_forward(np.zeros((1, 3)), None, w_ih, w_hh)
    with pytest.raises(TypeError, match="bias_ih " + both):
        F.lstm_forward(to_device(np.zeros((2, 1, 3)), device), None, w_ih, w_hh,
                       np.zeros(8), np.zeros(8))
    with pytest.raises(TypeError, match="indices " + both):
        F.embedding_forward(np.zeros(2, dtype=np.int64), to_device(np.zeros((3, 2)), device))
    lstm = nplstm.LSTM(3, 2, device=device)
    with pytest.raises(TypeError, match=f"x is on cpu but LSTM is on {device}"):
        lstm(np.zeros((2, 1, 3), dtype=np.float32))
    with pytest.raises(TypeError, match=f"x is on {device} but Linear is on cpu"):
        nplstm.Linear(3, 2)(to_device(np.zeros((1, 3), dtype=np.float32), device))


# -- the gradient checker -----------------------------------------------------------------------

def test_gradcheck_passes_on_the_device(device_backend):
    B, I, H = 2, 3, 4
    inputs = _inputs(device_backend.device, 6, (B, I), (B, H), (B, H), (4 * H, I), (4 * H, H))

    def forward(x, h, c, weight_ih, weight_hh):
        return F.lstm_cell_forward(x, (h, c), weight_ih, weight_hh)

    def backward(doutput, cache):
        grads = F.lstm_cell_backward(*doutput, cache)
        return grads.x, grads.h_prev, grads.c_prev, grads.weight_ih, grads.weight_hh

    assert nplstm.gradcheck(forward, backward, inputs).passed


def test_jvpcheck_hvpcheck_and_the_gauss_newton_product_run_on_the_device(device_backend):
    B, I, H = 2, 3, 4
    device = device_backend.device
    inputs = _inputs(device, 7, (B, I), (B, H), (B, H), (4 * H, I), (4 * H, H))

    def forward(*inputs):
        (h1, c1), _ = F.lstm_cell_jvp(inputs[0], (inputs[1], inputs[2]), *inputs[3:])
        return (h1, c1), inputs

    def jvp(tangents, inputs):
        return F.lstm_cell_jvp(inputs[0], (inputs[1], inputs[2]), *inputs[3:],
                               tangents=F.CellTangents(*tangents))[1]

    assert nplstm.jvpcheck(forward, jvp, inputs).passed

    def grad(a, w):                             # ℓ = Σ a²·w on the device
        return 2 * a * w, a * a

    def hvp(vectors, a, w):
        va, vw = vectors
        return 2 * w * va + 2 * a * vw, 2 * a * va

    a, w = _inputs(device, 8, (5,), (5,))
    for mode in ("full", "directional"):
        assert nplstm.hvpcheck(grad, hvp, [a, w], mode=mode).passed
    # the Gauss-Newton product gives the host's numbers on the device
    rng = np.random.default_rng(9)
    x = np.eye(4)[rng.integers(0, 4, size=(3, 2))]                       # (T, B, V)
    targets = rng.integers(0, 4, size=(3, 2))
    shapes = [(12, 4), (12, 3), (12,), (12,), (4, 3), (4,)]
    params = [rng.standard_normal(s) for s in shapes]
    vectors = [rng.standard_normal(s) for s in shapes]
    host = F.gauss_newton_product(x, params, targets, vectors)
    on_device = F.gauss_newton_product(to_device(x, device), [to_device(p, device) for p in params],
                                       to_device(targets, device),
                                       [to_device(v, device) for v in vectors])
    for h, d in zip(host, on_device):
        np.testing.assert_allclose(asnumpy(d), h, rtol=1e-12, atol=1e-14)


# -- the strict backend and the registration hook ------------------------------------------------

def test_strict_arrays_refuse_numpy_and_the_hook_registers_them():
    strict_backend.register()
    try:
        a = to_device(np.arange(6.0).reshape(2, 3), "strict")
        for implicit in (lambda: np.asarray(a), lambda: np.tanh(a), lambda: np.concatenate([a]),
                         lambda: a + np.ones(3), lambda: np.ones(3) * a,
                         lambda: strict.add(a, np.ones(3))):
            with pytest.raises(TypeError):
                implicit()
        assert get_array_module(a) is strict and device_of(a) == "strict"
        assert "strict" in devices() and kernels_of(strict) is strict_backend.kernels
        assert isinstance(a.sum(), StrictArray) and a.sum().shape == ()   # no host scalars
        host = asnumpy(a)
        host[0, 0] = 7.0                                   # a copy, as from a GPU
        assert isinstance(host, np.ndarray) and float(a[0, 0]) == 0.0
        scatter_add(a, to_device(np.array([1, 1]), "strict"), to_device(np.ones((2, 3)), "strict"))
        np.testing.assert_array_equal(asnumpy(a), [[0, 1, 2], [5, 6, 7]])
        with pytest.raises(ValueError, match="built in"):
            register_backend("cuda", StrictArray, strict, to_host=asnumpy,
                             from_host=strict.asarray)
    finally:
        strict_backend.unregister()
    assert "strict" not in devices() and device_of(a) == "cpu"
    with pytest.raises(ValueError, match="device must be one of"):
        nplstm.Linear(2, 2, device="strict")
