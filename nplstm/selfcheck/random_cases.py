"""Random inputs for the pairs: nonzero states and biases, weights of torch's scale."""

from __future__ import annotations

import numpy as np

from ..nn import LSTM, RNN

__all__ = ["random_cell_case", "random_sequence_case", "random_lstm_case",
           "random_rnn_sequence_case", "random_rnn_case"]


def random_cell_case(rng, B, I, H, bias=True, state=True, unbatched=False, dtype=np.float64):
    """Random inputs for ``cell_pair``: nonzero state and biases, weights of torch's scale."""
    bound = 1.0 / np.sqrt(H)
    draw = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    uniform = lambda *shape: rng.uniform(-bound, bound, shape).astype(dtype)  # noqa: E731
    lead = () if unbatched else (B,)
    x = draw(*lead, I)
    h, c = (draw(*lead, H), draw(*lead, H)) if state else (None, None)
    biases = (uniform(4 * H), uniform(4 * H)) if bias else (None, None)
    return [x, h, c, uniform(4 * H, I), uniform(4 * H, H), *biases]


def random_sequence_case(rng, T, B, I, H, proj_size=0, bias=True, dtype=np.float64):
    """Random inputs for ``sequence_pair`` / ``sequence_jvp`` (``SEQUENCE_NAMES``)."""
    P = proj_size or H
    bound = 1.0 / np.sqrt(H)
    draw = lambda *shape: rng.standard_normal(shape).astype(dtype)  # noqa: E731
    uniform = lambda *shape: rng.uniform(-bound, bound, shape).astype(dtype)  # noqa: E731
    biases = (uniform(4 * H), uniform(4 * H)) if bias else (None, None)
    return [draw(T, B, I), draw(B, P), draw(B, H), uniform(4 * H, I), uniform(4 * H, P),
            *biases, uniform(P, H) if proj_size else None]


def random_lstm_case(rng, T, B, I, H, layers=1, bidirectional=False, proj_size=0,
                     bias=True, state=True, dtype="float64"):
    """A random ``LSTM`` module and inputs (x, h0, c0, *parameters) for ``module_pair``."""
    module = LSTM(I, H, layers, bias=bias, bidirectional=bidirectional, proj_size=proj_size,
                  dtype=dtype, seed=int(rng.integers(2**31)))
    D = 2 if bidirectional else 1
    P = proj_size or H
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((layers * D, B, P)).astype(dtype) if state else None
    c0 = rng.standard_normal((layers * D, B, H)).astype(dtype) if state else None
    return module, [x, h0, c0] + [p.data for p in module.parameters()]


def random_rnn_sequence_case(rng, T, B, I, H, bias=True, dtype=np.float64):
    """Random inputs for ``rnn_sequence_pair`` (``RNN_SEQUENCE_NAMES``)."""
    bound = 1.0 / np.sqrt(H)
    uniform = lambda *shape: rng.uniform(-bound, bound, shape).astype(dtype)  # noqa: E731
    biases = (uniform(H), uniform(H)) if bias else (None, None)
    return [rng.standard_normal((T, B, I)).astype(dtype),
            rng.standard_normal((B, H)).astype(dtype), uniform(H, I), uniform(H, H), *biases]


def random_rnn_case(rng, T, B, I, H, layers=1, bidirectional=False, nonlinearity="tanh",
                    bias=True, state=True, dtype="float64"):
    """A random ``RNN`` module and inputs (x, h0, *parameters) for ``module_pair``."""
    module = RNN(I, H, layers, nonlinearity=nonlinearity, bias=bias,
                 bidirectional=bidirectional, dtype=dtype, seed=int(rng.integers(2**31)))
    D = 2 if bidirectional else 1
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((layers * D, B, H)).astype(dtype) if state else None
    return module, [x, h0] + [p.data for p in module.parameters()]
