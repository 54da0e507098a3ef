"""``nplstm gradcheck``: check the library's backward passes on random configurations and
print a table per check.  Each case is (title, config, run): ``run(progress) -> report``;
sizes are drawn from a seeded generator, options the user fixed (layers, …) are kept."""

from __future__ import annotations

import json

import numpy as np

from ..gradcheck import adjoint_check, gradcheck
from ..gradcheck import library_pairs as P

__all__ = ["run_selfcheck", "build_cases", "WHAT"]

WHAT = ("cell", "lstm", "rnn", "gru", "linear", "embedding", "loss")   # the parts it checks
_FD_ONLY = ("rnn", "linear", "embedding", "loss")                 # no JVP: no adjoint mode


def run_selfcheck(what="all", seed=0, cases=4, quiet=False, *, mode="full", dtype="float64",
                  layers=None, bidirectional=None, proj_size=None, lengths=None,
                  as_json=False, progress=False) -> int:
    """Check the chosen parts on ``cases`` random configurations each; 0 if all pass.

    mode           "full", "directional", "sampled" (finite differences) or "adjoint"
                   (JVP against backward; cell, lstm and gru only)
    dtype          "float64" or "float32" (float32 backwards against float64 differences)
    layers, bidirectional, proj_size, lengths
                   fix the LSTM's configuration (None: varied over the cases); ``lengths``
                   a list of per-sequence lengths (it fixes B and T = max(lengths))
    as_json        print one JSON document instead of tables
    """
    results = []
    for title, config, run in build_cases(what, seed, cases, mode, dtype, layers,
                                          bidirectional, proj_size, lengths):
        rep = run(progress)
        results.append((title, config, rep))
        if not quiet and not as_json:
            print(f"\n== {title}\n{rep}")
    failed = [title for title, _, rep in results if not rep.passed]
    if as_json:
        print(json.dumps({"passed": not failed, "mode": mode, "dtype": dtype,
                          "checks": [{"title": t, "config": c, "report": r.to_dict()}
                                     for t, c, r in results]}, indent=1))
        return 1 if failed else 0
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    for title in failed:
        print(f"FAILED: {title}")
    return 1 if failed else 0


def build_cases(what, seed, cases, mode, dtype, layers, bidirectional, proj_size, lengths):
    """Yield (title, config, run) for every part in ``what`` ("all" or one of ``WHAT``)."""
    parts = WHAT if what == "all" else (what,)
    if mode == "adjoint":
        parts = [p for p in parts if p not in _FD_ONLY] if what == "all" else parts
        if any(p in _FD_ONLY for p in parts):
            raise ValueError(f"--mode adjoint needs a JVP, which only cell, lstm and gru have; "
                             f"got --what {what}")
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)

    def fd(forward, backward, inputs, names, layouts=None):
        return lambda progress: gradcheck(forward, backward, inputs, names=names, mode=mode,
                                          layouts=layouts, seed=seed, progress=progress,
                                          raise_exception=False)

    def adjoint(jvp, pair, inputs, names):
        return lambda progress: adjoint_check(jvp, pair, inputs, names=names, seed=seed,
                                              raise_exception=False)

    for part in parts:
        for k in range(cases):
            config = {"what": part, "dtype": dt.name, "mode": mode}
            if part == "cell":
                B, I, H = (int(v) for v in rng.integers(1, 7, size=3))
                bias, state, unbatched = k % 2 == 0, k % 4 != 3, k % 3 == 2
                inputs = P.random_cell_case(rng, B, I, H, bias, state, unbatched, dt)
                config.update(B=None if unbatched else B, I=I, H=H, bias=bias, state=state)
                run = adjoint(P.cell_jvp, P.cell_pair(), inputs, P.CELL_NAMES) \
                    if mode == "adjoint" else \
                    fd(*P.cell_pair(), inputs, P.CELL_NAMES, P.cell_layouts(H))
            elif part in ("lstm", "rnn"):
                c = _lstm_config(rng, k, layers, bidirectional, proj_size if part == "lstm"
                                 else 0, lengths)
                if part == "rnn":      # the LSTM's options, no projection; tanh, relu alternate
                    del c["proj_size"]
                    c["nonlinearity"] = ("tanh", "relu")[k // 2 % 2]
                config.update(c)
                if mode == "adjoint":              # one layer (the functional sequence), each
                    for reverse in (False, True)[:1 + c["bidirectional"]]:     # direction
                        inputs = P.random_sequence_case(rng, c["T"], c["B"], c["I"], c["H"],
                                                        c["proj_size"], dtype=dt)
                        cfg = dict(config, layers=1, reverse=reverse)
                        yield _title(cfg), cfg, adjoint(
                            P.sequence_jvp(c["lengths"], reverse),
                            P.sequence_pair(c["lengths"], reverse), inputs, P.SEQUENCE_NAMES)
                    continue
                sizes = (rng, c["T"], c["B"], c["I"], c["H"], c["layers"], c["bidirectional"])
                module, inputs = P.random_lstm_case(*sizes, c["proj_size"], dtype=dt.name) \
                    if part == "lstm" else \
                    P.random_rnn_case(*sizes, c["nonlinearity"], dtype=dt.name)
                forward, backward, names = P.module_pair(module, lengths=c["lengths"])
                run = fd(forward, backward, inputs, names, P.module_layouts(module, c["T"]))
            elif part == "gru":
                yield from _gru_cases(rng, k, config, fd, adjoint, mode, dt, layers,
                                      bidirectional, lengths)
                continue
            elif part == "linear":
                N, I, O = (int(v) for v in rng.integers(1, 7, size=3))
                bias = k % 2 == 0
                inputs = [rng.standard_normal((N, I)).astype(dt),
                          rng.standard_normal((O, I)).astype(dt),
                          rng.standard_normal(O).astype(dt) if bias else None]
                config.update(N=N, I=I, O=O, bias=bias)
                run = fd(*P.linear_pair(), inputs, ["x", "weight", "bias"])
            elif part == "embedding":
                V, E, N = (int(v) for v in rng.integers(1, 7, size=3))
                indices = rng.integers(0, V, size=(N, 2))        # repeats: gradients add up
                inputs = [indices, rng.standard_normal((V, E)).astype(dt)]
                config.update(V=V, E=E, indices_shape=[N, 2])
                run = fd(*P.embedding_pair(), inputs, ["indices", "weight"])
            elif k % 2 == 0:                                     # loss: both losses
                N, C = (int(v) for v in rng.integers(1, 7, size=2))
                targets = rng.integers(0, C, size=N)
                targets[0] = -100 if N > 1 else 0                # one ignored row
                config.update(loss="cross_entropy", N=N, C=C)
                run = fd(*P.cross_entropy_pair(), [rng.standard_normal((N, C)).astype(dt),
                                                   targets], ["logits", "targets"])
            else:
                N, C = (int(v) for v in rng.integers(1, 7, size=2))
                config.update(loss="mse", shape=[N, C])
                run = fd(*P.mse_pair(), [rng.standard_normal((N, C)).astype(dt)
                                         for _ in range(2)], ["pred", "target"])
            yield _title(config), config, run


def _gru_cases(rng, k, config, fd, adjoint, mode, dt, layers, bidirectional, lengths):
    """Case k of the GRU: its cell (bias, state and a batch axis alternating), then its layer:
    the module (layers, directions, lengths) or, in adjoint mode, the functional layer of each
    direction (``reverse``) against its JVP."""
    B, I, H = (int(v) for v in rng.integers(1, 7, size=3))
    bias, state, unbatched = k % 2 == 0, k % 4 != 3, k % 3 == 2
    inputs = P.random_gru_cell_case(rng, B, I, H, bias, state, unbatched, dt)
    cfg = dict(config, part="cell", B=None if unbatched else B, I=I, H=H, bias=bias,
               state=state)
    yield _title(cfg), cfg, adjoint(P.gru_cell_jvp, P.gru_cell_pair(), inputs,
                                    P.GRU_CELL_NAMES) if mode == "adjoint" else \
        fd(*P.gru_cell_pair(), inputs, P.GRU_CELL_NAMES, P.gru_cell_layouts(H))
    c = _lstm_config(rng, k, layers, bidirectional, 0, lengths)
    del c["proj_size"]
    c["bias"] = k % 4 < 2
    cfg = dict(config, part="layer", **c)
    if mode == "adjoint":
        for reverse in (False, True)[:1 + c["bidirectional"]]:
            inputs = P.random_gru_sequence_case(rng, c["T"], c["B"], c["I"], c["H"], c["bias"],
                                                dtype=dt)
            one = dict(cfg, layers=1, reverse=reverse)
            yield _title(one), one, adjoint(P.gru_sequence_jvp(c["lengths"], reverse),
                                            P.gru_sequence_pair(c["lengths"], reverse),
                                            inputs, P.GRU_SEQUENCE_NAMES)
        return
    module, inputs = P.random_gru_case(rng, c["T"], c["B"], c["I"], c["H"], c["layers"],
                                       c["bidirectional"], c["bias"], dtype=dt.name)
    forward, backward, names = P.module_pair(module, lengths=c["lengths"])
    yield _title(cfg), cfg, fd(forward, backward, inputs, names,
                               P.module_layouts(module, c["T"]))


def _lstm_config(rng, k, layers, bidirectional, proj_size, lengths):
    """Sizes and options of one LSTM (RNN) case: the user's where given, else varied."""
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


def _title(config) -> str:
    return config["what"] + "  " + " ".join(f"{k}={v}" for k, v in config.items()
                                            if k not in ("what", "mode"))
