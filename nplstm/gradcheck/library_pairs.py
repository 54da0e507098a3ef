"""The library's pieces as checkable pairs: everything the generic checker needs to know
about LSTMs (and the plain RNN and the GRU), for ``nplstm gradcheck``, the tests and the examples.

    cell_pair(), sequence_pair(lengths, reverse), rnn_sequence_pair(...), module_pair(m),
    linear_pair(), embedding_pair(), cross_entropy_pair(), mse_pair()
                              forward(*inputs) -> (output, cache), backward(doutput, cache)
    cell_jvp, sequence_jvp(lengths, reverse)      jvp(inputs, tangents) for adjoint_check
    cell_layouts(H), sequence_layouts(T, H), module_layouts(m, T)   the report's groups
    random_*_case(rng, ...)                       random inputs (nonzero states and biases)
    model_gradient, gauss_newton_hvp              an independent Gauss-Newton reference
    gru_cell_pair(), gru_sequence_pair(lengths, reverse), gru_cell_jvp, gru_sequence_jvp(…),
    gru_cell_layouts(H), random_gru_*_case         the same for the GRU (module_pair and
                                                  module_layouts take a GRU as they take an RNN)

The inputs are named ``CELL_NAMES``, ``SEQUENCE_NAMES``, ``RNN_SEQUENCE_NAMES``,
``GRU_CELL_NAMES``, ``GRU_SEQUENCE_NAMES`` (a module's: x, its initial state, then its
parameters' names).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..functional.gauss_newton import ReadoutCache
from ..kernels import GATE_NAMES, GRU_GATE_NAMES
from ..nn import GRU, LSTM, RNN
from .report import Layout, blocks

CELL_NAMES = ("x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
SEQUENCE_NAMES = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
RNN_SEQUENCE_NAMES = ("x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
_PARAMETER = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


# ---- pairs and JVPs ----

def cell_pair():
    """(forward, backward) of ``lstm_cell_forward`` over inputs ``CELL_NAMES``."""
    def forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        state = None if h is None else (h, c)
        return F.lstm_cell_forward(x, state, weight_ih, weight_hh, bias_ih, bias_hh)

    return forward, lambda doutput, cache: F.lstm_cell_backward(*doutput, cache)


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
    """(forward, backward) of ``rnn_forward`` (one layer, one direction),
    ``RNN_SEQUENCE_NAMES``."""
    def forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
        return F.rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh,
                             nonlinearity=nonlinearity, lengths=lengths, reverse=reverse)

    return forward, lambda doutput, cache: F.rnn_backward(*doutput, cache)


def module_pair(module, lengths=None, dropout_seed=None):
    """(forward, backward, names) checking an ``LSTM``'s (or ``RNN``'s) forward/backward as
    a function of (x, h0, c0, *parameters) (an RNN: (x, h0, *parameters)).  With
    ``dropout_seed`` the dropout masks repeat every call.  Inputs of another dtype than the
    module's (the float64 differences of a float32 module) run through a twin module of
    that dtype with the same configuration."""
    rnn = isinstance(module, (RNN, GRU))           # one state, h0
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
        m.zero_grad()
        dx, dinitial = m.backward(*doutput)
        return [dx, *([dinitial] if rnn else dinitial)] + [p.grad.copy()
                                                          for p in m.parameters()]

    return forward, backward, names


def _twin(module, dtype):
    """A module configured like ``module`` (an LSTM, RNN or GRU), of another dtype."""
    common = dict(num_layers=module.num_layers, bias=module.bias,
                  batch_first=module.batch_first, dropout=module.dropout,
                  bidirectional=module.bidirectional, dtype=dtype, device=module.device)
    if isinstance(module, RNN):
        twin = RNN(module.input_size, module.hidden_size, nonlinearity=module.nonlinearity,
                   **common)
    elif isinstance(module, GRU):
        twin = GRU(module.input_size, module.hidden_size, **common)
    else:
        twin = LSTM(module.input_size, module.hidden_size, proj_size=module.proj_size,
                    **common)
    return twin.train(module.training) or twin


def linear_pair():
    """(forward, backward) of ``linear_forward`` over (x, weight, bias)."""
    return F.linear_forward, lambda dy, cache: F.linear_backward(dy, cache)


def embedding_pair():
    """(forward, backward) of ``embedding_forward`` over (indices, weight)."""
    return F.embedding_forward, lambda dy, cache: (None, F.embedding_backward(dy, cache).weight)


def cross_entropy_pair(ignore_index=-100):
    """(forward, backward) of ``cross_entropy_forward`` over (logits, targets)."""
    def forward(logits, targets):
        return F.cross_entropy_forward(logits, targets, ignore_index)

    return forward, lambda dloss, cache: (F.cross_entropy_backward(dloss, cache).logits, None)


def mse_pair():
    """(forward, backward) of ``mse_forward`` over (pred, target)."""
    return F.mse_forward, lambda dloss, cache: F.mse_backward(dloss, cache)


def cell_jvp(inputs, tangents):
    """``lstm_cell_jvp`` over inputs ``CELL_NAMES``."""
    x, h, c, weight_ih, weight_hh, bias_ih, bias_hh = inputs
    return F.lstm_cell_jvp(x, None if h is None else (h, c), weight_ih, weight_hh, bias_ih,
                           bias_hh, tangents=F.CellTangents(*tangents))


def sequence_jvp(lengths=None, reverse=False):
    """``lstm_jvp`` over inputs ``SEQUENCE_NAMES`` (one layer, one direction)."""
    def jvp(inputs, tangents):
        x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr = inputs
        return F.lstm_jvp(x, None if h0 is None else (h0, c0), weight_ih, weight_hh, bias_ih,
                          bias_hh, weight_hr, lengths=lengths, reverse=reverse,
                          tangents=F.SequenceTangents(*tangents))

    return jvp


# ---- layouts: the gate blocks of a 4H axis, time steps, layer and direction ----

def _gate_layout(four_h, names=GATE_NAMES, **tags) -> Layout:
    return Layout(axes={0: {"gate": blocks(names, four_h)}}, tags=tags)


def cell_layouts(H) -> dict:
    """Layouts of ``CELL_NAMES``: the gate blocks of the weights and biases."""
    return {name: _gate_layout(4 * H) for name in ("weight_ih", "weight_hh", "bias_ih",
                                                   "bias_hh")}


def sequence_layouts(T, H, time_axis=0) -> dict:
    """Layouts of ``SEQUENCE_NAMES``: gate blocks, and the time steps of x."""
    return {**cell_layouts(H), "x": Layout(axes={time_axis: {"time": list(range(T))}})}


def parse_parameter_name(name):
    """(parameter, layer, direction) of a torch LSTM name: weight_ih_l1_reverse →
    ("weight_ih", 1, "reverse"); None for other names."""
    m = _PARAMETER.match(name)
    return None if m is None else (m.group(1), int(m.group(2)),
                                   "reverse" if m.group(3) else "forward")


def module_layouts(module, T) -> dict:
    """Layouts of ``module_pair``'s inputs (an ``LSTM``'s, ``RNN``'s or ``GRU``'s): gates (an
    LSTM's i, f, g, o; a GRU's r, z, n), layer and direction of every parameter, the time
    steps of x, the layer and direction of the rows of h0 (and c0)."""
    gru = isinstance(module, GRU)
    gates = not isinstance(module, RNN)
    layouts = {}
    for name, p in module.named_parameters():
        if (parsed := parse_parameter_name(name)) is not None:
            kind, layer, direction = parsed
            layouts[name] = _gate_layout(p.data.shape[0], GRU_GATE_NAMES if gru else GATE_NAMES,
                                         layer=layer, direction=direction) \
                if gates and kind != "weight_hr" else \
                Layout(tags={"layer": layer, "direction": direction})
    D = module.num_directions
    rows = range(module.num_layers * D)
    by_row = {"layer": [k // D for k in rows],
              "direction": ["reverse" if k % D else "forward" for k in rows]}
    for state in ("h0", "c0") if gates and not gru else ("h0",):
        layouts[state] = Layout(axes={0: by_row})
    layouts["x"] = Layout(axes={1 if module.batch_first else 0: {"time": list(range(T))}})
    return layouts


# ---- random inputs: nonzero states and biases, weights of torch's scale ----

def _draws(rng, H, dtype):
    bound = 1.0 / np.sqrt(H)
    return (lambda *shape: rng.standard_normal(shape).astype(dtype),
            lambda *shape: rng.uniform(-bound, bound, shape).astype(dtype))


def random_cell_case(rng, B, I, H, bias=True, state=True, unbatched=False, dtype=np.float64):
    """Random inputs for ``cell_pair`` (``CELL_NAMES``)."""
    draw, uniform = _draws(rng, H, dtype)
    lead = () if unbatched else (B,)
    x = draw(*lead, I)
    h, c = (draw(*lead, H), draw(*lead, H)) if state else (None, None)
    biases = (uniform(4 * H), uniform(4 * H)) if bias else (None, None)
    return [x, h, c, uniform(4 * H, I), uniform(4 * H, H), *biases]


def random_sequence_case(rng, T, B, I, H, proj_size=0, bias=True, dtype=np.float64):
    """Random inputs for ``sequence_pair`` / ``sequence_jvp`` (``SEQUENCE_NAMES``)."""
    P = proj_size or H
    draw, uniform = _draws(rng, H, dtype)
    biases = (uniform(4 * H), uniform(4 * H)) if bias else (None, None)
    return [draw(T, B, I), draw(B, P), draw(B, H), uniform(4 * H, I), uniform(4 * H, P),
            *biases, uniform(P, H) if proj_size else None]


def random_rnn_sequence_case(rng, T, B, I, H, bias=True, dtype=np.float64):
    """Random inputs for ``rnn_sequence_pair`` (``RNN_SEQUENCE_NAMES``)."""
    draw, uniform = _draws(rng, H, dtype)
    biases = (uniform(H), uniform(H)) if bias else (None, None)
    return [draw(T, B, I), draw(B, H), uniform(H, I), uniform(H, H), *biases]


def random_lstm_case(rng, T, B, I, H, layers=1, bidirectional=False, proj_size=0,
                     bias=True, state=True, dtype="float64"):
    """A random ``LSTM`` and inputs (x, h0, c0, *parameters) for ``module_pair``."""
    module = LSTM(I, H, layers, bias=bias, bidirectional=bidirectional, proj_size=proj_size,
                  dtype=dtype, seed=int(rng.integers(2**31)))
    return module, _module_inputs(rng, module, T, B, (proj_size or H, H), state, dtype)


def random_rnn_case(rng, T, B, I, H, layers=1, bidirectional=False, nonlinearity="tanh",
                    bias=True, state=True, dtype="float64"):
    """A random ``RNN`` and inputs (x, h0, *parameters) for ``module_pair``."""
    module = RNN(I, H, layers, nonlinearity=nonlinearity, bias=bias,
                 bidirectional=bidirectional, dtype=dtype, seed=int(rng.integers(2**31)))
    return module, _module_inputs(rng, module, T, B, (H,), state, dtype)


def _module_inputs(rng, module, T, B, state_sizes, state, dtype):
    rows = module.num_layers * module.num_directions
    x = rng.standard_normal((T, B, module.input_size)).astype(dtype)
    states = [rng.standard_normal((rows, B, n)).astype(dtype) if state else None
              for n in state_sizes]
    return [x, *states] + [p.data for p in module.parameters()]


# ---- the GRU: its cell and one layer, with their JVPs ----

GRU_CELL_NAMES = ("x", "h", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
GRU_SEQUENCE_NAMES = ("x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")


def gru_cell_pair():
    """(forward, backward) of ``gru_cell_forward`` over inputs ``GRU_CELL_NAMES``."""
    return F.gru_cell_forward, lambda dh, cache: F.gru_cell_backward(dh, cache)


def gru_sequence_pair(lengths=None, reverse=False):
    """(forward, backward) of ``gru_forward`` (one layer, one direction),
    ``GRU_SEQUENCE_NAMES``; the output is (output, h_n)."""
    def forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh):
        return F.gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, lengths=lengths,
                             reverse=reverse)

    return forward, lambda doutput, cache: F.gru_backward(*doutput, cache)


def gru_cell_jvp(inputs, tangents):
    """``gru_cell_jvp`` over inputs ``GRU_CELL_NAMES``."""
    return F.gru_cell_jvp(*inputs, tangents=F.GRUCellTangents(*tangents))


def gru_sequence_jvp(lengths=None, reverse=False):
    """``gru_jvp`` over inputs ``GRU_SEQUENCE_NAMES`` (one layer, one direction)."""
    def jvp(inputs, tangents):
        return F.gru_jvp(*inputs, lengths=lengths, reverse=reverse,
                         tangents=F.GRUTangents(*tangents))

    return jvp


def gru_cell_layouts(H) -> dict:
    """Layouts of ``GRU_CELL_NAMES``: the r, z, n blocks of the weights and biases."""
    return {name: _gate_layout(3 * H, GRU_GATE_NAMES) for name in ("weight_ih", "weight_hh",
                                                                  "bias_ih", "bias_hh")}


def gru_sequence_layouts(T, H) -> dict:
    """Layouts of ``GRU_SEQUENCE_NAMES``: the r, z, n blocks, and the time steps of x."""
    return {**gru_cell_layouts(H), "x": Layout(axes={0: {"time": list(range(T))}})}


def random_gru_cell_case(rng, B, I, H, bias=True, state=True, unbatched=False,
                         dtype=np.float64):
    """Random inputs for ``gru_cell_pair`` (``GRU_CELL_NAMES``)."""
    draw, uniform = _draws(rng, H, dtype)
    lead = () if unbatched else (B,)
    biases = (uniform(3 * H), uniform(3 * H)) if bias else (None, None)
    return [draw(*lead, I), draw(*lead, H) if state else None, uniform(3 * H, I),
            uniform(3 * H, H), *biases]


def random_gru_sequence_case(rng, T, B, I, H, bias=True, dtype=np.float64):
    """Random inputs for ``gru_sequence_pair`` / ``gru_sequence_jvp``."""
    draw, uniform = _draws(rng, H, dtype)
    biases = (uniform(3 * H), uniform(3 * H)) if bias else (None, None)
    return [draw(T, B, I), draw(B, H), uniform(3 * H, I), uniform(3 * H, H), *biases]


def random_gru_case(rng, T, B, I, H, layers=1, bidirectional=False, bias=True, state=True,
                    dtype="float64"):
    """A random ``GRU`` and inputs (x, h0, *parameters) for ``module_pair``."""
    module = GRU(I, H, layers, bias=bias, bidirectional=bidirectional, dtype=dtype,
                 seed=int(rng.integers(2**31)))
    return module, _module_inputs(rng, module, T, B, (H,), state, dtype)


# ---- an independent reference for F.gauss_newton_product, for hvpcheck ----
#
# At θ₀ let z₀ = z(θ₀) be the network's output and H₀ the loss's Hessian in z there, written
# out as dense matrices (cross-entropy: per valid row (diag(p) − p pᵀ)/M; MSE: 2/K · I), not
# through the library's ``*_hessian_product``.  q(θ) = ½ (z(θ) − z₀)ᵀ H₀ (z(θ) − z₀) has
# gradient ∇q(θ) = J(θ)ᵀ H₀ (z(θ) − z₀) (the forward, then the library's backward, each
# checked by gradcheck) and Hessian at θ₀ J₀ᵀ H₀ J₀ + Σ_i [H₀ (z₀ − z₀)]_i ∇²z_i = G, the
# residual killing the second-derivative term.  So differences of ∇q at θ₀ are G v + O(ε²),
# computed without the JVP and the loss-Hessian product ``gauss_newton_product`` uses:
#
#     nplstm.hvpcheck(model_gradient(x, params, targets, loss),
#                     gauss_newton_hvp(x, targets, loss), list(params))
#
# H₀ is dense, (N, C, C) for the cross-entropy: meant for the small problems of a check.

def dense_loss_hessian(cache: ReadoutCache) -> Any:
    """H₀ as dense blocks: (N, C, C) for cross-entropy, a scalar for MSE."""
    if cache.loss == "cross_entropy":
        p, _, valid, count = cache.loss_cache
        blocks = np.einsum("nc,cd->ncd", p, np.eye(p.shape[1])) - np.einsum("nc,nd->ncd", p, p)
        return blocks * valid[:, :, None] / max(count, 1)
    return 2.0 / cache.loss_cache.diff.size


def model_gradient(x: np.ndarray, params0: Sequence[np.ndarray], targets: np.ndarray,
                   loss: str) -> Callable[..., tuple[Any, ...]]:
    """grad(*params) -> ∇q(params) for hvpcheck, in the parameters' dtype."""
    _, cache0 = F.readout_forward(x, params0, targets, loss=loss)
    H0, z0 = dense_loss_hessian(cache0), cache0.z

    def grad(*params: np.ndarray) -> tuple[Any, ...]:
        dtype = params[0].dtype
        y = targets if loss == "cross_entropy" else targets.astype(dtype)
        _, cache = F.readout_forward(x.astype(dtype), params, y, loss=loss)
        r = cache.z - z0.astype(dtype)
        dz = np.einsum("ncd,nd->nc", H0.astype(dtype), r) if loss == "cross_entropy" \
            else H0 * r
        return F.readout_backward(dz.astype(r.dtype), cache)

    return grad


def gauss_newton_hvp(x: np.ndarray, targets: np.ndarray,
                     loss: str) -> Callable[..., tuple[Any, ...]]:
    """hvp(vectors, *params) -> G v, the library's product, for hvpcheck."""
    return lambda vectors, *params: F.gauss_newton_product(x, params, targets, vectors,
                                                           loss=loss)
