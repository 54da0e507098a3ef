"""Adapters that turn the library's pieces into checkable pairs, and ``nplstm gradcheck``.

The checker (``nplstm.gradcheck``) is generic; everything it needs to know about LSTMs is
here: the ``forward(*inputs) -> (output, cache)`` / ``backward(doutput, cache) -> grads``
pairs, the ``jvp(inputs, tangents)`` functions for ``adjoint_check``, and the ``Layout`` of
each input (the gate blocks of a 4H axis, the time axis, the layer and direction parsed from
names like ``weight_ih_l1_reverse``) from which reports break errors down.  The test suite
uses the same adapters.
"""

from __future__ import annotations

import re

import numpy as np

from . import functional as F
from .gradcheck import Layout, blocks
from .kernels import GATE_NAMES
from .nn import LSTM

__all__ = ["cell_pair", "sequence_pair", "module_pair", "cell_jvp", "sequence_jvp",
           "linear_pair", "embedding_pair", "cross_entropy_pair", "mse_pair",
           "cell_layouts", "sequence_layouts", "module_layouts", "parse_parameter_name",
           "random_cell_case", "random_sequence_case", "random_lstm_case", "run_selfcheck",
           "CELL_NAMES", "SEQUENCE_NAMES", "WHAT"]

CELL_NAMES = ("x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
SEQUENCE_NAMES = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
WHAT = ("cell", "lstm", "linear", "embedding", "loss")
_PARAMETER = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(\d+)(_reverse)?$")


# ---- pairs: forward(*inputs) -> (output, cache), backward(doutput, cache) -> grads ----------

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


# ---- JVPs for adjoint_check: jvp(inputs, tangents) -> (output, output_tangent) -------------

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


# ---- layouts: what each input's axes mean ----------------------------------------------------

def _gate_layout(four_h, **tags) -> Layout:
    """A parameter whose axis 0 stacks the gates [i | f | g | o]."""
    return Layout(axes={0: {"gate": blocks(GATE_NAMES, four_h)}}, tags=tags)


def cell_layouts(H) -> dict:
    """Layouts of ``CELL_NAMES``: the gate blocks of the weights and biases."""
    return {name: _gate_layout(4 * H) for name in ("weight_ih", "weight_hh", "bias_ih",
                                                   "bias_hh")}


def sequence_layouts(T, H, time_axis=0) -> dict:
    """Layouts of ``SEQUENCE_NAMES``: gate blocks, and the time steps of x."""
    layouts = cell_layouts(H)
    layouts["x"] = Layout(axes={time_axis: {"time": list(range(T))}})
    return layouts


def parse_parameter_name(name):
    """(parameter, layer, direction) of a torch LSTM name: weight_ih_l1_reverse →
    ("weight_ih", 1, "reverse"); None for other names."""
    m = _PARAMETER.match(name)
    if m is None:
        return None
    return m.group(1), int(m.group(2)), "reverse" if m.group(3) else "forward"


def module_layouts(module: LSTM, T) -> dict:
    """Layouts of ``module_pair``'s inputs: gates, layer and direction of every parameter
    (parsed from its name), the time steps of x, the layer and direction of h0/c0 rows."""
    layouts = {}
    for name, p in module.named_parameters():
        parsed = parse_parameter_name(name)
        if parsed is None:
            continue
        kind, layer, direction = parsed
        if kind == "weight_hr":
            layouts[name] = Layout(tags={"layer": layer, "direction": direction})
        else:
            layouts[name] = _gate_layout(p.data.shape[0], layer=layer, direction=direction)
    D = module.num_directions
    rows = range(module.num_layers * D)
    by_row = {"layer": [k // D for k in rows],
              "direction": ["reverse" if k % D else "forward" for k in rows]}
    layouts["h0"] = layouts["c0"] = Layout(axes={0: by_row})
    layouts["x"] = Layout(axes={1 if module.batch_first else 0: {"time": list(range(T))}})
    return layouts


# ---- random cases -----------------------------------------------------------------------------

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


# ---- nplstm gradcheck ---------------------------------------------------------------------------

def run_selfcheck(what="all", seed=0, cases=4, quiet=False, *, mode="full", dtype="float64",
                  layers=None, bidirectional=None, proj_size=None, lengths=None,
                  as_json=False, progress=False) -> int:
    """Check the chosen parts on ``cases`` random configurations each; 0 if all pass.

    mode           "full", "directional", "sampled" (finite differences) or "adjoint"
                   (JVP against backward; cell and lstm only)
    dtype          "float64" or "float32" (float32 backwards against float64 differences)
    layers, bidirectional, proj_size, lengths
                   fix the LSTM's configuration (None: varied over the cases); ``lengths``
                   a list of per-sequence lengths (it fixes B and T = max(lengths))
    as_json        print one JSON document instead of tables
    """
    from .selfcheck_cases import build_cases  # noqa: PLC0415

    results = []
    for title, config, run in build_cases(what, seed, cases, mode, dtype, layers,
                                          bidirectional, proj_size, lengths):
        rep = run(progress)
        results.append((title, config, rep))
        if not quiet and not as_json:
            print(f"\n== {title}\n{rep}")
    failed = [title for title, _, rep in results if not rep.passed]
    if as_json:
        import json  # noqa: PLC0415

        print(json.dumps({"passed": not failed, "mode": mode, "dtype": dtype,
                          "checks": [{"title": t, "config": c, "report": r.to_dict()}
                                     for t, c, r in results]}, indent=1))
        return 1 if failed else 0
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    for title in failed:
        print(f"FAILED: {title}")
    return 1 if failed else 0

