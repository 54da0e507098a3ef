"""torch and nplstm on the non-LSTM pieces: Linear, Embedding, cross-entropy, MSE, and SGD.

Shared by tests/fixtures/make_fixtures.py (which writes layers.npz with torch) and
tests/test_layers.py / tests/test_optim.py (which compare nplstm against it, and against live
torch when it is importable).  A case is a JSON-able config; ``make_inputs(config)`` draws
every array from ``default_rng(config["seed"])`` in float64; ``run_torch`` / ``run_nplstm``
return ``out/*`` and ``grad/*`` keys (the gradients of Σ⟨out, dout⟩ for a random ``dout``, or
of 1.7·loss for the losses; for "sgd", the parameters after each of ``steps`` updates).
"""

from __future__ import annotations

import numpy as np

import nplstm
from nplstm import functional as F
from nplstm.optim import SGD, clip_grad_norm

__all__ = ["CASES", "make_inputs", "run_torch", "run_nplstm"]

CASES = {
    "linear_3d": {"kind": "linear", "lead": [2, 3], "I": 4, "O": 5, "bias": True},
    "linear_nobias": {"kind": "linear", "lead": [1], "I": 1, "O": 3, "bias": False},
    "embedding": {"kind": "embedding", "lead": [3, 4], "V": 6, "E": 3, "padding_idx": None},
    "embedding_pad": {"kind": "embedding", "lead": [7], "V": 4, "E": 2, "padding_idx": 1},
    "cross_entropy": {"kind": "cross_entropy", "N": 9, "C": 5, "ignore": [2, 7]},
    "cross_entropy_c1": {"kind": "cross_entropy", "N": 3, "C": 1, "ignore": []},
    "mse": {"kind": "mse", "shape": [4, 3]},
    "sgd_plain": {"kind": "sgd", "momentum": 0.0, "nesterov": False, "weight_decay": 0.0,
                  "clip": None},
    "sgd_momentum": {"kind": "sgd", "momentum": 0.9, "nesterov": False, "weight_decay": 0.01,
                     "clip": 0.5},
    "sgd_nesterov": {"kind": "sgd", "momentum": 0.8, "nesterov": True, "weight_decay": 0.0,
                     "clip": 100.0},
}
for k, name in enumerate(CASES):
    CASES[name]["seed"] = 3000 + k

SGD_SHAPES = {"a": (3, 4), "b": (5,)}
SGD_STEPS, SGD_LR = 4, 0.3


def make_inputs(config) -> dict:
    rng = np.random.default_rng(config["seed"])
    kind = config["kind"]
    if kind == "linear":
        lead, I, O = config["lead"], config["I"], config["O"]
        data = {"in/x": rng.standard_normal((*lead, I)), "param/weight": rng.uniform(-1, 1, (O, I)),
                "in/dout": rng.standard_normal((*lead, O))}
        if config["bias"]:
            data["param/bias"] = rng.uniform(-1, 1, O)
        return data
    if kind == "embedding":
        lead, V, E = config["lead"], config["V"], config["E"]
        indices = rng.integers(0, V, lead)
        indices.reshape(-1)[0] = config["padding_idx"] or 0     # the padding row is used
        return {"in/indices": indices, "param/weight": rng.standard_normal((V, E)),
                "in/dout": rng.standard_normal((*lead, E))}
    if kind == "cross_entropy":
        N, C = config["N"], config["C"]
        targets = rng.integers(0, C, N)
        targets[config["ignore"]] = -100
        return {"in/logits": 3 * rng.standard_normal((N, C)), "in/targets": targets}
    if kind == "mse":
        shape = config["shape"]
        return {"in/pred": rng.standard_normal(shape), "in/target": rng.standard_normal(shape)}
    if kind == "sgd":
        data = {f"param/{n}": rng.standard_normal(s) for n, s in SGD_SHAPES.items()}
        for step in range(SGD_STEPS):
            for n, s in SGD_SHAPES.items():
                data[f"in/grad{step}/{n}"] = rng.standard_normal(s)
        return data
    raise ValueError(f"unknown kind {kind!r}")


def run_nplstm(config, data) -> dict:
    kind = config["kind"]
    if kind == "linear":
        y, cache = F.linear_forward(data["in/x"], data["param/weight"], data.get("param/bias"))
        g = F.linear_backward(data["in/dout"], cache)
        out = {"out/y": y, "grad/x": g.x, "grad/weight": g.weight}
        if g.bias is not None:
            out["grad/bias"] = g.bias
        return out
    if kind == "embedding":
        y, cache = F.embedding_forward(data["in/indices"], data["param/weight"],
                                       config["padding_idx"])
        return {"out/y": y, "grad/weight": F.embedding_backward(data["in/dout"], cache).weight}
    if kind == "cross_entropy":
        loss, cache = F.cross_entropy_forward(data["in/logits"], data["in/targets"])
        return {"out/loss": loss, "grad/logits": F.cross_entropy_backward(1.7, cache).logits}
    if kind == "mse":
        loss, cache = F.mse_forward(data["in/pred"], data["in/target"])
        g = F.mse_backward(1.7, cache)
        return {"out/loss": loss, "grad/pred": g.pred, "grad/target": g.target}
    params = {n: nplstm.Parameter(data[f"param/{n}"].copy()) for n in SGD_SHAPES}
    opt = SGD(list(params.values()), SGD_LR, momentum=config["momentum"],
              nesterov=config["nesterov"], weight_decay=config["weight_decay"])
    out = {}
    for step in range(SGD_STEPS):
        for n, p in params.items():
            p.grad[...] = data[f"in/grad{step}/{n}"]
        if config["clip"] is not None:
            out[f"out/norm{step}"] = np.array(clip_grad_norm(list(params.values()),
                                                             config["clip"]))
        opt.step()
        out.update({f"out/step{step}/{n}": p.data.copy() for n, p in params.items()})
    return out


def run_torch(config, data) -> dict:
    import torch  # noqa: PLC0415

    t = lambda a, grad=False: torch.tensor(a, requires_grad=grad)  # noqa: E731
    kind = config["kind"]
    if kind == "linear":
        x, w = t(data["in/x"], True), t(data["param/weight"], True)
        b = t(data["param/bias"], True) if config["bias"] else None
        y = torch.nn.functional.linear(x, w, b)
        y.backward(t(data["in/dout"]))
        out = {"out/y": y, "grad/x": x.grad, "grad/weight": w.grad}
        if b is not None:
            out["grad/bias"] = b.grad
    elif kind == "embedding":
        w = t(data["param/weight"], True)
        y = torch.nn.functional.embedding(t(data["in/indices"]), w,
                                          padding_idx=config["padding_idx"])
        y.backward(t(data["in/dout"]))
        out = {"out/y": y, "grad/weight": w.grad}
    elif kind == "cross_entropy":
        z = t(data["in/logits"], True)
        loss = torch.nn.functional.cross_entropy(z, t(data["in/targets"]))
        (1.7 * loss).backward()
        out = {"out/loss": loss, "grad/logits": z.grad}
    elif kind == "mse":
        p, y = t(data["in/pred"], True), t(data["in/target"], True)
        loss = torch.nn.functional.mse_loss(p, y)
        (1.7 * loss).backward()
        out = {"out/loss": loss, "grad/pred": p.grad, "grad/target": y.grad}
    else:
        params = {n: torch.nn.Parameter(t(data[f"param/{n}"])) for n in SGD_SHAPES}
        opt = torch.optim.SGD(list(params.values()), lr=SGD_LR, momentum=config["momentum"],
                              nesterov=config["nesterov"], weight_decay=config["weight_decay"])
        out = {}
        for step in range(SGD_STEPS):
            for n, p in params.items():
                p.grad = t(data[f"in/grad{step}/{n}"])
            if config["clip"] is not None:
                out[f"out/norm{step}"] = torch.nn.utils.clip_grad_norm_(
                    list(params.values()), config["clip"])
            opt.step()
            out.update({f"out/step{step}/{n}": p.detach().clone() for n, p in params.items()})
    return {k: v.detach().numpy() for k, v in out.items()}
