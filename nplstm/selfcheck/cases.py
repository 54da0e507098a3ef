"""The random configurations ``nplstm gradcheck`` checks, one generator per part.

Each case is (title, config, run): ``run(progress) -> report`` performs the check.  Sizes
are drawn from a seeded generator; options the user fixed (layers, proj_size, …) are kept.
"""

from __future__ import annotations

import numpy as np

from ..gradcheck import adjoint_check, gradcheck
from .layouts import cell_layouts, module_layouts
from .pairs import (CELL_NAMES, SEQUENCE_NAMES, cell_jvp, cell_pair, cross_entropy_pair,
                    embedding_pair, linear_pair, module_pair, mse_pair, sequence_jvp,
                    sequence_pair)
from .random_cases import (random_cell_case, random_lstm_case, random_rnn_case,
                           random_sequence_case)

__all__ = ["build_cases", "WHAT"]

# the parts nplstm gradcheck checks
WHAT = ("cell", "lstm", "rnn", "linear", "embedding", "loss")

_FD_ONLY = ("rnn", "linear", "embedding", "loss")          # no JVP: no adjoint mode


def build_cases(what, seed, cases, mode, dtype, layers, bidirectional, proj_size, lengths):
    """Yield (title, config, run) for every part in ``what`` ("all" or one of ``WHAT``)."""
    parts = WHAT if what == "all" else (what,)
    if mode == "adjoint":
        parts = [p for p in parts if p not in _FD_ONLY] if what == "all" else parts
        if any(p in _FD_ONLY for p in parts):
            raise ValueError(f"--mode adjoint needs a JVP, which only cell and lstm have; "
                             f"got --what {what}")
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)

    def fd(forward, backward, inputs, names, layouts=None):
        return lambda progress: gradcheck(forward, backward, inputs, names=names, mode=mode,
                                          layouts=layouts, seed=seed, progress=progress,
                                          raise_exception=False)

    for part in parts:
        for k in range(cases):
            config = {"what": part, "dtype": dt.name, "mode": mode}
            if part == "cell":
                B, I, H = (int(v) for v in rng.integers(1, 7, size=3))
                bias, state, unbatched = k % 2 == 0, k % 4 != 3, k % 3 == 2
                inputs = random_cell_case(rng, B, I, H, bias, state, unbatched, dt)
                config.update(B=None if unbatched else B, I=I, H=H, bias=bias, state=state)
                if mode == "adjoint":
                    run = _adjoint(cell_jvp, cell_pair(), inputs, CELL_NAMES, seed)
                else:
                    run = fd(*cell_pair(), inputs, CELL_NAMES, cell_layouts(H))
            elif part == "lstm":
                config.update(_lstm_config(rng, k, layers, bidirectional, proj_size, lengths))
                if mode == "adjoint":
                    yield from _lstm_adjoint_cases(rng, config, dt, seed)
                    continue
                c = config
                module, inputs = random_lstm_case(rng, c["T"], c["B"], c["I"], c["H"],
                                                  c["layers"], c["bidirectional"],
                                                  c["proj_size"], dtype=dt.name)
                forward, backward, names = module_pair(module, lengths=c["lengths"])
                run = fd(forward, backward, inputs, names, module_layouts(module, c["T"]))
            elif part == "rnn":
                # the LSTM's sizes and options, without a projection; tanh and relu alternate
                c = _lstm_config(rng, k, layers, bidirectional, 0, lengths)
                del c["proj_size"]
                c["nonlinearity"] = ("tanh", "relu")[k // 2 % 2]
                config.update(c)
                module, inputs = random_rnn_case(rng, c["T"], c["B"], c["I"], c["H"],
                                                 c["layers"], c["bidirectional"],
                                                 c["nonlinearity"], dtype=dt.name)
                forward, backward, names = module_pair(module, lengths=c["lengths"])
                run = fd(forward, backward, inputs, names, module_layouts(module, c["T"]))
            elif part == "linear":
                N, I, O = (int(v) for v in rng.integers(1, 7, size=3))
                bias = k % 2 == 0
                inputs = [rng.standard_normal((N, I)).astype(dt),
                          rng.standard_normal((O, I)).astype(dt),
                          rng.standard_normal(O).astype(dt) if bias else None]
                config.update(N=N, I=I, O=O, bias=bias)
                run = fd(*linear_pair(), inputs, ["x", "weight", "bias"])
            elif part == "embedding":
                V, E, N = (int(v) for v in rng.integers(1, 7, size=3))
                indices = rng.integers(0, V, size=(N, 2))        # repeats: gradients add up
                inputs = [indices, rng.standard_normal((V, E)).astype(dt)]
                config.update(V=V, E=E, indices_shape=[N, 2])
                run = fd(*embedding_pair(), inputs, ["indices", "weight"])
            else:                                                # loss: both losses
                N, C = (int(v) for v in rng.integers(1, 7, size=2))
                if k % 2 == 0:
                    targets = rng.integers(0, C, size=N)
                    targets[0] = -100                            # one ignored row
                    if N == 1:
                        targets[0] = 0
                    inputs = [rng.standard_normal((N, C)).astype(dt), targets]
                    config.update(loss="cross_entropy", N=N, C=C)
                    run = fd(*cross_entropy_pair(), inputs, ["logits", "targets"])
                else:
                    inputs = [rng.standard_normal((N, C)).astype(dt) for _ in range(2)]
                    config.update(loss="mse", shape=[N, C])
                    run = fd(*mse_pair(), inputs, ["pred", "target"])
            yield _title(config), config, run


def _lstm_config(rng, k, layers, bidirectional, proj_size, lengths):
    """Sizes and options of one LSTM case: the user's where given, else varied with k."""
    T, B, I, H = (int(v) for v in rng.integers(1, 5, size=4))
    if lengths is not None:
        lengths = [int(v) for v in lengths]
        T, B = max(lengths), len(lengths)
    elif k % 2 == 0:
        lengths = [int(v) for v in rng.integers(1, T + 1, size=B)]
    layers = (1 + k % 2) if layers is None else layers
    bidirectional = (k % 2 == 1) if bidirectional is None else bidirectional
    if proj_size is None:
        proj_size = 1 if k % 4 == 2 and H > 1 else 0
    H = max(H, proj_size + 1)
    return dict(T=T, B=B, I=I, H=H, layers=layers, bidirectional=bidirectional,
                proj_size=proj_size, lengths=lengths)


def _lstm_adjoint_cases(rng, config, dt, seed):
    """Adjoint checks of one layer (the functional sequence), each direction asked for."""
    c = config
    directions = (False, True) if c["bidirectional"] else (False,)
    for reverse in directions:
        inputs = random_sequence_case(rng, c["T"], c["B"], c["I"], c["H"], c["proj_size"],
                                      dtype=dt)
        cfg = dict(config, layers=1, reverse=reverse)
        run = _adjoint(sequence_jvp(c["lengths"], reverse), sequence_pair(c["lengths"], reverse),
                       inputs, SEQUENCE_NAMES, seed)
        yield _title(cfg), cfg, run


def _adjoint(jvp, pair, inputs, names, seed):
    return lambda progress: adjoint_check(jvp, pair, inputs, names=names, seed=seed,
                                          raise_exception=False)


def _title(config) -> str:
    skip = ("what", "mode")
    return config["what"] + "  " + " ".join(f"{k}={v}" for k, v in config.items()
                                            if k not in skip)
