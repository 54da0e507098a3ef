"""Ready-made gradient checks of the library's own backward passes (``nplstm gradcheck``).

Also the adapters that turn the library's pieces into the ``forward(*inputs) -> (output,
cache)`` / ``backward(doutput, cache) -> grads`` pairs that ``nplstm.gradcheck`` takes; the
test suite uses the same adapters.
"""

from __future__ import annotations

import numpy as np

from . import functional as F
from .gradcheck import gradcheck
from .nn import LSTM

__all__ = ["cell_pair", "sequence_pair", "module_pair", "random_cell_case",
           "random_lstm_case", "run_selfcheck"]

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
    (x, h0, c0, *parameters).  With ``dropout_seed`` the dropout masks repeat every call."""
    names = ["x", "h0", "c0"] + [name for name, _ in module.named_parameters()]
    params = module.parameters()

    def forward(x, h0, c0, *values):
        for p, v in zip(params, values):
            p.data = v
        if dropout_seed is not None:
            module.dropout_generator = np.random.default_rng(dropout_seed)
        module.clear_tape()
        state = None if h0 is None else (h0, c0)
        return module(x, state, lengths=lengths), module

    def backward(doutput, module_):
        output_grad, dstate = doutput
        module_.zero_grad()
        dx, (dh0, dc0) = module_.backward(output_grad, dstate)
        return [dx, dh0, dc0] + [p.grad.copy() for p in params]

    return forward, backward, names


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


def run_selfcheck(what="all", seed=0, cases=4, quiet=False) -> int:
    """Check the cell and the LSTM on ``cases`` random configurations each; 0 if all pass."""
    rng = np.random.default_rng(seed)
    results = []

    def report(title, rep):
        results.append((title, rep.passed))
        if not quiet:
            print(f"\n== {title}\n{rep}")

    if what in ("cell", "all"):
        forward, backward = cell_pair()
        for k in range(cases):
            B, I, H = (int(v) for v in rng.integers(1, 7, size=3))
            bias, state, unbatched = k % 2 == 0, k % 4 != 3, k % 3 == 2
            inputs = random_cell_case(rng, B, I, H, bias, state, unbatched)
            title = (f"lstm_cell  B={'-' if unbatched else B} I={I} H={H} "
                     f"bias={bias} state={state}")
            report(title, gradcheck(forward, backward, inputs, names=CELL_NAMES,
                                    raise_exception=False))
    if what in ("lstm", "all"):
        for k in range(cases):
            T, B, I, H = (int(v) for v in rng.integers(1, 5, size=4))
            layers = 1 + k % 2
            bidirectional, proj = k % 2 == 1, (1 if k % 4 == 2 and H > 1 else 0)
            lengths = rng.integers(1, T + 1, size=B) if k % 2 == 0 else None
            module, inputs = random_lstm_case(rng, T, B, I, H, layers, bidirectional, proj)
            forward, backward, names = module_pair(module, lengths=lengths)
            title = (f"LSTM  T={T} B={B} I={I} H={H} layers={layers} "
                     f"bidirectional={bidirectional} proj_size={proj} lengths="
                     f"{None if lengths is None else lengths.tolist()}")
            report(title, gradcheck(forward, backward, inputs, names=names,
                                    raise_exception=False))
    failed = [title for title, ok in results if not ok]
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    for title in failed:
        print(f"FAILED: {title}")
    return 1 if failed else 0
