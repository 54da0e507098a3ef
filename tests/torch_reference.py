"""Run torch and nplstm on one configuration; shared by the fixture script and the parity tests.

A *config* is a JSON-able dict describing a case:

    cell:  {"kind": "cell", "input_size": I, "hidden_size": H, "bias": bool,
            "batch": B or None (unbatched), "state": bool (h0, c0 given, else None),
            "steps": S (a Python loop of S cell calls), "dc": bool (upstream dc on every step)}
    lstm:  {"kind": "lstm", "input_size": I, "hidden_size": H, "num_layers": L, "bias": bool,
            "batch_first": bool, "bidirectional": bool, "proj_size": P, "dropout": p,
            "T": T, "batch": B or None (unbatched (T, I)), "state": bool,
            "lengths": [B ints] or None (packed), "dstate": bool (upstream dh_n, dc_n)}
    rnn:   the lstm keys without proj_size, plus "nonlinearity": "tanh" or "relu" (torch.nn.RNN:
           no cell state, so no c0, c_n, dc_n)

``make_inputs(config, seed)`` draws every input from ``numpy.random.default_rng(seed)``
(weights and nonzero biases U(−1, 1), states, inputs and upstream gradients standard normal)
and returns flat keys ``param/<torch name>`` and ``in/<name>``.  ``run_torch`` and
``run_nplstm`` take those and return the same keys: ``out/<name>`` (forward results) and
``grad/<name>`` (gradients of the loss Σ⟨out, dout⟩ + Σ⟨h_n, dh_n⟩ + Σ⟨c_n, dc_n⟩ with
respect to the inputs, the given states and every parameter by torch's name).  Everything is
float64.  torch is imported only inside the functions that run it.
"""

from __future__ import annotations

import json

import numpy as np

from .helpers import rel_error

__all__ = ["cell_param_shapes", "lstm_param_shapes", "make_inputs", "params_of", "run_torch",
           "run_nplstm", "run_nplstm_inference", "compare",
           "config_to_array", "config_from_array", "CELL_TOL", "LSTM_TOL", "RNN_TOL"]

CELL_TOL = 1e-12   # max|a − b| / max|b| for LSTMCell results
LSTM_TOL = 1e-10   # and for LSTM results
RNN_TOL = 1e-12    # and for RNN results


# -- configs and inputs (NumPy only) ---------------------------------------------------------

def cell_param_shapes(config) -> dict:
    """torch.nn.LSTMCell's parameter names and shapes, in its order."""
    I, H = config["input_size"], config["hidden_size"]
    shapes = {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H)}
    if config["bias"]:
        shapes.update(bias_ih=(4 * H,), bias_hh=(4 * H,))
    return shapes


def lstm_param_shapes(config) -> dict:
    """torch.nn.LSTM's (or, for kind "rnn", torch.nn.RNN's) parameter names and shapes, in
    its order."""
    I, H, P = config["input_size"], config["hidden_size"], config.get("proj_size", 0)
    G = 1 if config["kind"] == "rnn" else 4          # gate blocks stacked on axis 0
    D = 2 if config["bidirectional"] else 1
    real_P = P or H
    shapes = {}
    for layer in range(config["num_layers"]):
        layer_input = I if layer == 0 else real_P * D
        for suffix in [f"_l{layer}"] + ([f"_l{layer}_reverse"] if D == 2 else []):
            shapes[f"weight_ih{suffix}"] = (G * H, layer_input)
            shapes[f"weight_hh{suffix}"] = (G * H, real_P)
            if config["bias"]:
                shapes[f"bias_ih{suffix}"] = (G * H,)
                shapes[f"bias_hh{suffix}"] = (G * H,)
            if P:
                shapes[f"weight_hr{suffix}"] = (real_P, H)
    return shapes


def _nonzero_uniform(rng, shape):
    """U(−1, 1) with no exact zeros (a zero bias or weight could hide a bug)."""
    a = rng.uniform(-1.0, 1.0, size=shape)
    a[a == 0] = 0.5
    return a


def make_inputs(config, seed) -> dict:
    """Every input of a case, drawn from ``default_rng(seed)``: ``param/*`` and ``in/*``."""
    rng = np.random.default_rng(seed)
    kind = config["kind"]
    shapes = cell_param_shapes(config) if kind == "cell" else lstm_param_shapes(config)
    data = {f"param/{name}": _nonzero_uniform(rng, shape) for name, shape in shapes.items()}
    normal = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    B = config["batch"]
    b = () if B is None else (B,)
    H = config["hidden_size"]
    if kind == "cell":
        S, I = config["steps"], config["input_size"]
        data["in/x"] = normal(S, *b, I)
        if config["state"]:
            data["in/h0"] = normal(*b, H)
            data["in/c0"] = normal(*b, H)
        data["in/dh"] = normal(S, *b, H)
        if config["dc"]:
            data["in/dc"] = normal(S, *b, H)
        return data
    if kind not in ("lstm", "rnn"):
        raise ValueError(f"unknown kind {kind!r}")
    cell_state = kind == "lstm"
    T, I = config["T"], config["input_size"]
    P = config.get("proj_size", 0) or H
    LD = config["num_layers"] * (2 if config["bidirectional"] else 1)
    D = 2 if config["bidirectional"] else 1
    if B is None:
        x_shape, out_shape = (T, I), (T, D * P)
    elif config["batch_first"]:
        x_shape, out_shape = (B, T, I), (B, T, D * P)
    else:
        x_shape, out_shape = (T, B, I), (T, B, D * P)
    data["in/x"] = normal(*x_shape)
    if config["state"]:
        data["in/h0"] = normal(LD, *b, P)
        if cell_state:
            data["in/c0"] = normal(LD, *b, H)
    data["in/dout"] = normal(*out_shape)
    if config["dstate"]:
        data["in/dh_n"] = normal(LD, *b, P)
        if cell_state:
            data["in/dc_n"] = normal(LD, *b, H)
    return data


def params_of(data) -> dict:
    """``{torch name: array}`` from the ``param/*`` keys, in their order."""
    return {k[len("param/"):]: v for k, v in data.items() if k.startswith("param/")}


def config_to_array(config) -> np.ndarray:
    """A config as a 0-d unicode array (JSON), loadable with ``allow_pickle=False``."""
    return np.array(json.dumps(config, sort_keys=True))


def config_from_array(a) -> dict:
    return json.loads(str(a[()]))


# -- comparison ---------------------------------------------------------------------------------

def compare(got: dict, expected: dict) -> dict:
    """``{key: rel_error}`` (tests/helpers.py) over ``expected``'s ``out/*`` and ``grad/*`` keys.

    Raises ``AssertionError`` naming the keys when the two dicts do not hold the same keys.
    """
    want = {k for k in expected if k.startswith(("out/", "grad/"))}
    have = {k for k in got if k.startswith(("out/", "grad/"))}
    assert want == have, f"keys differ: missing {sorted(want - have)}, " \
                         f"unexpected {sorted(have - want)}"
    return {k: rel_error(got[k], expected[k]) for k in sorted(want)}


# -- torch ---------------------------------------------------------------------------------------

def run_torch(config, data) -> dict:
    """torch's results (``out/*``, ``grad/*``) for a config and its inputs (float64)."""
    import torch

    with torch.random.fork_rng():   # torch's own init is overwritten; leave its RNG alone
        if config["kind"] == "cell":
            return _run_torch_cell(torch, config, data)
        if config["kind"] == "rnn":
            return _run_torch_rnn(torch, config, data)
        return _run_torch_lstm(torch, config, data)


def _leaf(torch, a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _load_torch_params(torch, module, data):
    module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params_of(data).items()},
                           strict=True)


def _torch_results(module, outputs, leaves):
    res = {f"out/{k}": v.detach().numpy().copy() for k, v in outputs.items()}
    for name, t in leaves.items():
        res[f"grad/{name}"] = t.grad.detach().numpy().copy()
    for name, p in module.named_parameters():
        res[f"grad/{name}"] = p.grad.detach().numpy().copy()
    return res


def _torch_inputs(torch, config, data):
    """x, the leaves whose gradients are compared, and the initial state (or None): (h0, c0),
    or h0 alone for an RNN."""
    x = _leaf(torch, data["in/x"])
    leaves = {"x": x}
    state = None
    if config["state"]:
        leaves["h0"] = _leaf(torch, data["in/h0"])
        if config["kind"] == "rnn":
            return x, leaves, leaves["h0"]
        leaves["c0"] = _leaf(torch, data["in/c0"])
        state = (leaves["h0"], leaves["c0"])
    return x, leaves, state


def _run_torch_cell(torch, config, data):
    cell = torch.nn.LSTMCell(config["input_size"], config["hidden_size"], bias=config["bias"],
                             dtype=torch.float64)
    _load_torch_params(torch, cell, data)
    x, leaves, state = _torch_inputs(torch, config, data)
    hs, cs = [], []
    for s in range(config["steps"]):
        state = cell(x[s], state)
        hs.append(state[0])
        cs.append(state[1])
    h, c = torch.stack(hs), torch.stack(cs)
    loss = (h * torch.from_numpy(data["in/dh"])).sum()
    if config["dc"]:
        loss = loss + (c * torch.from_numpy(data["in/dc"])).sum()
    loss.backward()
    return _torch_results(cell, {"h": h, "c": c}, leaves)


def _run_torch_lstm(torch, config, data):
    return _run_torch_sequence(torch, torch.nn.LSTM, config, data,
                               proj_size=config["proj_size"])


def _run_torch_rnn(torch, config, data):
    return _run_torch_sequence(torch, torch.nn.RNN, config, data,
                               nonlinearity=config["nonlinearity"])


def _run_torch_sequence(torch, module_class, config, data, **extra):
    """torch.nn.LSTM or torch.nn.RNN (``module_class``, with its own ``extra`` arguments) in
    eval mode on the case's input, packed when the case has lengths; then the backward of
    Σ⟨out, dout⟩ (+ Σ⟨h_n, dh_n⟩ (+ Σ⟨c_n, dc_n⟩) with dstate)."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    module = module_class(config["input_size"], config["hidden_size"],
                          num_layers=config["num_layers"], bias=config["bias"],
                          batch_first=config["batch_first"], dropout=config["dropout"],
                          bidirectional=config["bidirectional"], dtype=torch.float64, **extra)
    _load_torch_params(torch, module, data)
    module.eval()                   # dropout masks cannot match: compare without them
    x, leaves, state = _torch_inputs(torch, config, data)
    if config["lengths"] is None:
        out, final = module(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(config["lengths"], dtype=torch.int64),
                                      batch_first=config["batch_first"], enforce_sorted=False)
        out_packed, final = module(packed, state)
        out, _ = pad_packed_sequence(out_packed, batch_first=config["batch_first"],
                                     total_length=config["T"])
    outputs = {"output": out, "h_n": final} if config["kind"] == "rnn" else \
        {"output": out, "h_n": final[0], "c_n": final[1]}
    loss = (out * torch.from_numpy(data["in/dout"])).sum()
    if config["dstate"]:
        for name in list(outputs)[1:]:
            loss = loss + (outputs[name] * torch.from_numpy(data[f"in/d{name}"])).sum()
    loss.backward()
    return _torch_results(module, outputs, leaves)


# -- nplstm --------------------------------------------------------------------------------------

def run_nplstm(config, data) -> dict:
    """nplstm's results, same keys as ``run_torch``: module forward, then module backward."""
    if config["kind"] == "cell":
        return _run_nplstm_cell(config, data)
    if config["kind"] == "rnn":
        return _run_nplstm_rnn(config, data)
    return _run_nplstm_lstm(config, data)


def _add(a, b):
    """a + b where None means zeros (None + None stays None)."""
    if a is None:
        return b
    return a if b is None else a + b


def _nplstm_param_grads(module):
    return {f"grad/{name}": p.grad.copy() for name, p in module.named_parameters()}


def _run_nplstm_cell(config, data):
    import nplstm

    cell = nplstm.LSTMCell(config["input_size"], config["hidden_size"], bias=config["bias"],
                           dtype="float64", seed=0)
    cell.load_state_dict(params_of(data))
    x = data["in/x"]
    S = config["steps"]
    state = (data["in/h0"], data["in/c0"]) if config["state"] else None
    hs, cs = [], []
    for s in range(S):
        state = cell(x[s], state)
        hs.append(state[0])
        cs.append(state[1])
    dh, dc = data["in/dh"], data.get("in/dc")
    dx = np.empty_like(x)
    dh_next = dc_next = None        # ∂L/∂h, ∂L/∂c of step s from step s + 1
    for s in reversed(range(S)):
        dx[s], (dh_next, dc_next) = cell.backward(_add(dh[s], dh_next),
                                                  _add(None if dc is None else dc[s], dc_next))
    res = {"out/h": np.stack(hs), "out/c": np.stack(cs), "grad/x": dx}
    if config["state"]:
        res["grad/h0"], res["grad/c0"] = dh_next, dc_next
    res.update(_nplstm_param_grads(cell))
    return res


def _build_nplstm_module(config, data):
    """nplstm.LSTM (or, for kind "rnn", nplstm.RNN) with the case's parameters, in eval mode,
    and its initial state: (h0, c0), h0 alone for an RNN, or None."""
    import nplstm

    common = dict(num_layers=config["num_layers"], bias=config["bias"],
                  batch_first=config["batch_first"], dropout=config["dropout"],
                  bidirectional=config["bidirectional"], dtype="float64", seed=0)
    rnn = config["kind"] == "rnn"
    if rnn:
        module = nplstm.RNN(config["input_size"], config["hidden_size"],
                            nonlinearity=config["nonlinearity"], **common)
    else:
        module = nplstm.LSTM(config["input_size"], config["hidden_size"],
                             proj_size=config["proj_size"], **common)
    module.load_state_dict(params_of(data))
    module.eval()
    state = None
    if config["state"]:
        state = data["in/h0"] if rnn else (data["in/h0"], data["in/c0"])
    return module, state


def run_nplstm_inference(config, data) -> dict:
    """The module's forward alone under ``nplstm.no_grad()`` (the cache-free path): ``out/*``."""
    import nplstm

    module, state = _build_nplstm_module(config, data)
    with nplstm.no_grad():
        output, final = module(data["in/x"], state, lengths=config["lengths"])
    if config["kind"] == "rnn":
        return {"out/output": output, "out/h_n": final}
    return {"out/output": output, "out/h_n": final[0], "out/c_n": final[1]}


def _run_nplstm_lstm(config, data):
    lstm, state = _build_nplstm_module(config, data)
    output, (h_n, c_n) = lstm(data["in/x"], state, lengths=config["lengths"])
    dstate = (data["in/dh_n"], data["in/dc_n"]) if config["dstate"] else None
    dx, (dh0, dc0) = lstm.backward(data["in/dout"], dstate)
    res = {"out/output": output, "out/h_n": h_n, "out/c_n": c_n, "grad/x": dx}
    if config["state"]:
        res["grad/h0"], res["grad/c0"] = dh0, dc0
    res.update(_nplstm_param_grads(lstm))
    return res


def _run_nplstm_rnn(config, data):
    rnn, h0 = _build_nplstm_module(config, data)
    output, h_n = rnn(data["in/x"], h0, lengths=config["lengths"])
    dx, dh0 = rnn.backward(data["in/dout"], data["in/dh_n"] if config["dstate"] else None)
    res = {"out/output": output, "out/h_n": h_n, "grad/x": dx}
    if config["state"]:
        res["grad/h0"] = dh0
    res.update(_nplstm_param_grads(rnn))
    return res

