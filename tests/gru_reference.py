"""Run torch and nplstm on one GRU configuration; shared by make_gru_fixtures.py and test_gru.py.

A *config* is a JSON-able dict (the LSTM's, tests/torch_reference.py, with GRU kinds):

    gru_cell: {"kind": "gru_cell", "input_size": I, "hidden_size": H, "bias": bool,
               "batch": B or None (unbatched), "state": bool (h0 given, else None),
               "steps": S (a Python loop of S cell calls, upstream dh on every step)}
    gru:      {"kind": "gru", "input_size": I, "hidden_size": H, "num_layers": L,
               "bias": bool, "batch_first": bool, "bidirectional": bool, "dropout": p,
               "T": T, "batch": B or None (unbatched (T, I)), "state": bool,
               "lengths": [B ints] or None (packed), "dstate": bool (upstream dh_n)}

``make_inputs(config, seed)`` draws every input from ``numpy.random.default_rng(seed)``
(weights and nonzero biases U(−1, 1), states, inputs and upstream gradients standard
normal): keys ``param/<torch name>`` and ``in/<name>``.  ``run_torch`` and ``run_nplstm``
return ``out/<name>`` (forward results) and ``grad/<name>`` (gradients of
Σ⟨out, dout⟩ + Σ⟨h_n, dh_n⟩, or Σ_s ⟨h_s, dh_s⟩ for the cell loop, with respect to x, the
given state and every parameter).  Everything is float64; torch is imported only inside
``run_torch``.
"""

from __future__ import annotations

import numpy as np

from .torch_reference import _nonzero_uniform, params_of

__all__ = ["GRU_TOL", "param_shapes", "make_inputs", "run_torch", "run_nplstm",
           "run_nplstm_inference"]

GRU_TOL = 1e-12    # max|a − b| / max|b| for GRUCell and GRU results


def param_shapes(config) -> dict:
    """torch.nn.GRUCell's / torch.nn.GRU's parameter names and shapes, in its order (the
    three blocks [r | z | n] stacked on axis 0)."""
    I, H = config["input_size"], config["hidden_size"]
    if config["kind"] == "gru_cell":
        layers = [(I, [""])]
    else:
        D = 2 if config["bidirectional"] else 1
        layers = [(I if k == 0 else D * H,
                   [f"_l{k}"] + ([f"_l{k}_reverse"] if D == 2 else []))
                  for k in range(config["num_layers"])]
    shapes = {}
    for layer_input, suffixes in layers:
        for suffix in suffixes:
            shapes[f"weight_ih{suffix}"] = (3 * H, layer_input)
            shapes[f"weight_hh{suffix}"] = (3 * H, H)
            if config["bias"]:
                shapes[f"bias_ih{suffix}"] = (3 * H,)
                shapes[f"bias_hh{suffix}"] = (3 * H,)
    return shapes


def make_inputs(config, seed) -> dict:
    """Every input of a case, drawn from ``default_rng(seed)``: ``param/*`` and ``in/*``."""
    rng = np.random.default_rng(seed)
    data = {f"param/{name}": _nonzero_uniform(rng, shape)
            for name, shape in param_shapes(config).items()}
    normal = lambda *shape: rng.standard_normal(shape)  # noqa: E731
    B, I, H = config["batch"], config["input_size"], config["hidden_size"]
    b = () if B is None else (B,)
    if config["kind"] == "gru_cell":
        S = config["steps"]
        data["in/x"] = normal(S, *b, I)
        if config["state"]:
            data["in/h0"] = normal(*b, H)
        data["in/dh"] = normal(S, *b, H)
        return data
    T = config["T"]
    D = 2 if config["bidirectional"] else 1
    LD = config["num_layers"] * D
    if B is None:
        x_shape, out_shape = (T, I), (T, D * H)
    elif config["batch_first"]:
        x_shape, out_shape = (B, T, I), (B, T, D * H)
    else:
        x_shape, out_shape = (T, B, I), (T, B, D * H)
    data["in/x"] = normal(*x_shape)
    if config["state"]:
        data["in/h0"] = normal(LD, *b, H)
    data["in/dout"] = normal(*out_shape)
    if config["dstate"]:
        data["in/dh_n"] = normal(LD, *b, H)
    return data


# -- torch ---------------------------------------------------------------------------------------

def run_torch(config, data) -> dict:
    """torch's results (``out/*``, ``grad/*``) for a config and its inputs (float64)."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    def leaf(a):
        return torch.tensor(a, dtype=torch.float64, requires_grad=True)

    with torch.random.fork_rng():   # torch's own init is overwritten; leave its RNG alone
        I, H = config["input_size"], config["hidden_size"]
        if config["kind"] == "gru_cell":
            module = torch.nn.GRUCell(I, H, bias=config["bias"], dtype=torch.float64)
        else:
            module = torch.nn.GRU(I, H, num_layers=config["num_layers"], bias=config["bias"],
                                  batch_first=config["batch_first"], dropout=config["dropout"],
                                  bidirectional=config["bidirectional"], dtype=torch.float64)
        module.load_state_dict({k: torch.from_numpy(v.copy())
                                for k, v in params_of(data).items()}, strict=True)
        module.eval()               # dropout masks cannot match: compare without them
        leaves = {"x": leaf(data["in/x"])}
        if config["state"]:
            leaves["h0"] = leaf(data["in/h0"])
        h = leaves.get("h0")
        if config["kind"] == "gru_cell":
            hs = []
            for s in range(config["steps"]):
                h = module(leaves["x"][s], h)
                hs.append(h)
            outputs = {"h": torch.stack(hs)}
            loss = (outputs["h"] * torch.from_numpy(data["in/dh"])).sum()
        else:
            if config["lengths"] is None:
                out, h_n = module(leaves["x"], h)
            else:
                packed = pack_padded_sequence(
                    leaves["x"], torch.tensor(config["lengths"], dtype=torch.int64),
                    batch_first=config["batch_first"], enforce_sorted=False)
                out_packed, h_n = module(packed, h)
                out, _ = pad_packed_sequence(out_packed, batch_first=config["batch_first"],
                                             total_length=config["T"])
            outputs = {"output": out, "h_n": h_n}
            loss = (out * torch.from_numpy(data["in/dout"])).sum()
            if config["dstate"]:
                loss = loss + (h_n * torch.from_numpy(data["in/dh_n"])).sum()
        loss.backward()
        res = {f"out/{k}": v.detach().numpy().copy() for k, v in outputs.items()}
        res.update({f"grad/{k}": t.grad.numpy().copy() for k, t in leaves.items()})
        res.update({f"grad/{k}": p.grad.numpy().copy() for k, p in module.named_parameters()})
        return res


# -- nplstm --------------------------------------------------------------------------------------

def build_module(config, data):
    """nplstm.GRUCell or nplstm.GRU with the case's parameters (eval mode for the GRU)."""
    import nplstm

    I, H = config["input_size"], config["hidden_size"]
    if config["kind"] == "gru_cell":
        module = nplstm.GRUCell(I, H, bias=config["bias"], dtype="float64", seed=0)
    else:
        module = nplstm.GRU(I, H, num_layers=config["num_layers"], bias=config["bias"],
                            batch_first=config["batch_first"], dropout=config["dropout"],
                            bidirectional=config["bidirectional"], dtype="float64", seed=0)
        module.eval()
    module.load_state_dict(params_of(data))
    return module


def run_nplstm(config, data) -> dict:
    """nplstm's results, same keys as ``run_torch``: module forward, then module backward."""
    module = build_module(config, data)
    h0 = data["in/h0"] if config["state"] else None
    if config["kind"] == "gru_cell":
        x, dh = data["in/x"], data["in/dh"]
        h, hs = h0, []
        for s in range(config["steps"]):
            h = module(x[s], h)
            hs.append(h)
        dx = np.empty_like(x)
        dh_next = None                  # ∂L/∂h_s reaching step s from step s + 1
        for s in reversed(range(config["steps"])):
            dx[s], dh_next = module.backward(dh[s] if dh_next is None else dh[s] + dh_next)
        res = {"out/h": np.stack(hs), "grad/x": dx}
        if config["state"]:
            res["grad/h0"] = dh_next
    else:
        output, h_n = module(data["in/x"], h0, lengths=config["lengths"])
        dx, dh0 = module.backward(data["in/dout"], data["in/dh_n"] if config["dstate"]
                                  else None)
        res = {"out/output": output, "out/h_n": h_n, "grad/x": dx}
        if config["state"]:
            res["grad/h0"] = dh0
    res.update({f"grad/{k}": p.grad.copy() for k, p in module.named_parameters()})
    return res


def run_nplstm_inference(config, data) -> dict:
    """The GRU's forward alone under ``nplstm.no_grad()`` (the cache-free path): ``out/*``."""
    import nplstm

    module = build_module(config, data)
    with nplstm.no_grad():
        output, h_n = module(data["in/x"], data["in/h0"] if config["state"] else None,
                             lengths=config["lengths"])
    return {"out/output": output, "out/h_n": h_n}
