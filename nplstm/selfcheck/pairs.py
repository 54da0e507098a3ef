"""Checkable pairs: the library's pieces as ``forward(*inputs) -> (output, cache)`` /
``backward(doutput, cache) -> grads``, and the ``jvp(inputs, tangents)`` functions of
``adjoint_check``, over inputs named ``CELL_NAMES`` / ``SEQUENCE_NAMES``.  ``nplstm
gradcheck`` and the test suite check the library through them."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..nn import LSTM, RNN

__all__ = ["cell_pair", "sequence_pair", "rnn_sequence_pair", "module_pair", "cell_jvp",
           "sequence_jvp", "linear_pair", "embedding_pair", "cross_entropy_pair", "mse_pair",
           "CELL_NAMES", "SEQUENCE_NAMES", "RNN_SEQUENCE_NAMES"]

CELL_NAMES = ("x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
SEQUENCE_NAMES = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
RNN_SEQUENCE_NAMES = ("x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")


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


def rnn_sequence_pair(lengths=None, reverse=False, nonlinearity="tanh"):
    """(forward, backward) of ``rnn_forward`` (one layer, one direction), ``RNN_SEQUENCE_NAMES``."""
    def forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
        return F.rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                             nonlinearity=nonlinearity, lengths=lengths, reverse=reverse)

    def backward(doutput, cache):
        output_grad, dh_n = doutput
        return F.rnn_backward(output_grad, dh_n, cache)

    return forward, backward


def module_pair(module, lengths=None, dropout_seed=None):
    """(forward, backward, names) checking an ``LSTM``'s (or ``RNN``'s) forward/backward as a
    function of (x, h0, c0, *parameters) (an RNN: (x, h0, *parameters)).  With
    ``dropout_seed`` the dropout masks repeat every call.

    Inputs of another dtype than the module's (the float64 differences of a float32 module)
    run through a twin module of that dtype with the same configuration.
    """
    rnn = isinstance(module, RNN)
    state_names = ["h0"] if rnn else ["h0", "c0"]
    names = ["x", *state_names] + [name for name, _ in module.named_parameters()]
    twins = {module.dtype: module}

    def forward(x, *rest):
        states, values = rest[:len(state_names)], rest[len(state_names):]
        m = twins.get(x.dtype) or twins.setdefault(x.dtype, _twin(module, x.dtype))
        for p, v in zip(m.parameters(), values):
            p.data = v
        if dropout_seed is not None:
            m.dropout_generator = np.random.default_rng(dropout_seed)
        m.clear_tape()
        state = None if states[0] is None else (states[0] if rnn else tuple(states))
        return m(x, state, lengths=lengths), m

    def backward(doutput, m):
        output_grad, dstate = doutput
        m.zero_grad()
        dx, dinitial = m.backward(output_grad, dstate)
        return [dx, *([dinitial] if rnn else dinitial)] + [p.grad.copy()
                                                          for p in m.parameters()]

    return forward, backward, names


def _twin(module, dtype):
    """A module configured like ``module`` (an LSTM or an RNN), of another dtype."""
    common = dict(num_layers=module.num_layers, bias=module.bias,
                  batch_first=module.batch_first, dropout=module.dropout,
                  bidirectional=module.bidirectional, dtype=dtype, device=module.device)
    if isinstance(module, RNN):
        twin = RNN(module.input_size, module.hidden_size, nonlinearity=module.nonlinearity,
                   **common)
    else:
        twin = LSTM(module.input_size, module.hidden_size, proj_size=module.proj_size,
                    **common)
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
