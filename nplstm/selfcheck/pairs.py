"""Checkable pairs: the library's pieces as ``forward(*inputs) -> (output, cache)`` /
``backward(doutput, cache) -> grads``, and the ``jvp(inputs, tangents)`` functions of
``adjoint_check``, over inputs named ``CELL_NAMES`` / ``SEQUENCE_NAMES``.  ``nplstm
gradcheck`` and the test suite check the library through them."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..nn import LSTM

__all__ = ["cell_pair", "sequence_pair", "module_pair", "cell_jvp", "sequence_jvp",
           "linear_pair", "embedding_pair", "cross_entropy_pair", "mse_pair",
           "CELL_NAMES", "SEQUENCE_NAMES"]

CELL_NAMES = ("x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
SEQUENCE_NAMES = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def cell_pair():
    """(forward, backward) of ``lstm_cell_forward`` over inputs ``CELL_NAMES``."""
    def forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        state = None if h is None else (h, c)
        return F.lstm_cell_forward(x, state, weight_ih, weight_hh, bias_ih, bias_hh)

    def backward(doutput, cache):
        dh, dc = doutput
        return F.lstm_cell_backward(dh, dc, cache)

    return forward, backward


def sequence_pair(lengths=None, reverse=False):
    """(forward, backward) of ``lstm_forward`` (one layer, one direction), ``SEQUENCE_NAMES``."""
    def forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
        state = None if h0 is None else (h0, c0)
        return F.lstm_forward(x, state, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr,
                              lengths=lengths, reverse=reverse)

    def backward(doutput, cache):
        output_grad, (dh_n, dc_n) = doutput
        return F.lstm_backward(output_grad, dh_n, dc_n, cache)

    return forward, backward


def module_pair(module: LSTM, lengths=None, dropout_seed=None):
    """(forward, backward, names) checking ``module``'s forward/backward as a function of
    (x, h0, c0, *parameters).  With ``dropout_seed`` the dropout masks repeat every call.

    Inputs of another dtype than the module's (the float64 differences of a float32 module)
    run through a twin module of that dtype with the same configuration.
    """
    names = ["x", "h0", "c0"] + [name for name, _ in module.named_parameters()]
    twins = {module.dtype: module}

    def forward(x, h0, c0, *values):
        m = twins.get(x.dtype) or twins.setdefault(x.dtype, _twin(module, x.dtype))
        for p, v in zip(m.parameters(), values):
            p.data = v
        if dropout_seed is not None:
            m.dropout_generator = np.random.default_rng(dropout_seed)
        m.clear_tape()
        state = None if h0 is None else (h0, c0)
        return m(x, state, lengths=lengths), m

    def backward(doutput, m):
        output_grad, dstate = doutput
        m.zero_grad()
        dx, (dh0, dc0) = m.backward(output_grad, dstate)
        return [dx, dh0, dc0] + [p.grad.copy() for p in m.parameters()]

    return forward, backward, names


def _twin(module: LSTM, dtype) -> LSTM:
    twin = LSTM(module.input_size, module.hidden_size, module.num_layers, module.bias,
                module.batch_first, module.dropout, module.bidirectional, module.proj_size,
                dtype=dtype, device=module.device)
    return twin.train(module.training) or twin


def linear_pair():
    """(forward, backward) of ``linear_forward`` over (x, weight, bias)."""
    return F.linear_forward, lambda dy, cache: F.linear_backward(dy, cache)


def embedding_pair():
    """(forward, backward) of ``embedding_forward`` over (indices, weight)."""
    def backward(dy, cache):
        return None, F.embedding_backward(dy, cache).weight

    return F.embedding_forward, backward


def cross_entropy_pair(ignore_index=-100):
    """(forward, backward) of ``cross_entropy_forward`` over (logits, targets)."""
    def forward(logits, targets):
        return F.cross_entropy_forward(logits, targets, ignore_index)

    def backward(dloss, cache):
        return F.cross_entropy_backward(dloss, cache).logits, None

    return forward, backward


def mse_pair():
    """(forward, backward) of ``mse_forward`` over (pred, target)."""
    return F.mse_forward, lambda dloss, cache: F.mse_backward(dloss, cache)


def cell_jvp(inputs, tangents):
    """``lstm_cell_jvp`` over inputs ``CELL_NAMES``."""
    x, h, c, weight_ih, weight_hh, bias_ih, bias_hh = inputs
    state = None if h is None else (h, c)
    return F.lstm_cell_jvp(x, state, weight_ih, weight_hh, bias_ih, bias_hh,
                           tangents=F.CellTangents(*tangents))


def sequence_jvp(lengths=None, reverse=False):
    """``lstm_jvp`` over inputs ``SEQUENCE_NAMES`` (one layer, one direction)."""
    def jvp(inputs, tangents):
        x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr = inputs
        state = None if h0 is None else (h0, c0)
        return F.lstm_jvp(x, state, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr,
                          lengths=lengths, reverse=reverse,
                          tangents=F.SequenceTangents(*tangents))

    return jvp
