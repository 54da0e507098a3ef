"""Does a surviving mutant change a number?  Same seeded cases through the original and the
mutant, every result compared.

    python tests/mutation/battery.py --ids sequence.lstm_backward#57,losses.cross_entropy_backward#9

For each mutant: its module is written into a scratch copy of the package (never into the
worktree), and ``python battery.py --root <copy> --dump <file>`` runs there in a fresh
process, as it does on the unmutated copy; the two dumps are compared: every gradient,
record and output (float64 and float32, batched and unbatched, with and without bias,
lengths, reverse, projection, one and several backward chunks, each backward called twice
on the same cache, the NumPy kernels called directly).  A mutant whose every number agrees
to 1e-12 (relative) and whose dtypes, shapes and error messages agree is reported as
"same numbers" (a candidate equivalent, to be argued for in docs/mutation.md); any
difference is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _cases(results):
    """Fill ``results`` {name: array, dtype string or error text} on the imported nplstm."""
    import numpy as np

    from nplstm import functional as F
    from nplstm import workspace
    from nplstm.functional import reference as R
    from nplstm.functional import sequence
    from nplstm.kernels import numpy_gates as K

    take = workspace._Pool.take

    def poisoned_take(pool, nbytes):        # as tests/conftest.py: reused memory reads NaN
        block = take(pool, nbytes)
        block.fill(0xFF)
        return block

    workspace.MIN_BYTES = 0
    workspace._Pool.take = poisoned_take

    def put(name, value):
        if value is None:
            results[name] = "None"
        elif isinstance(value, dict):
            for k, v in value.items():
                put(f"{name}.{k}", v)
        elif isinstance(value, tuple) and hasattr(value, "_fields"):
            for k in value._fields:
                put(f"{name}.{k}", getattr(value, k))
        else:
            a = np.asarray(value)
            results[name] = a.copy()
            results[name + ".dtype"] = str(a.dtype)

    def attempt(name, thunk):
        try:
            thunk()
        except Exception as error:          # an error is a result too
            results[name + ".error"] = f"{type(error).__name__}: {error}"

    rng = np.random.default_rng(20261128)

    def r(*shape, dtype=np.float64):
        return rng.standard_normal(shape).astype(dtype)

    # -- the kernels, called directly ------------------------------------------------------
    def kernels():
        for shape in ((3, 5), (4, 2, 5)):
            lead, H = shape[:-1], shape[-1]
            gates = np.concatenate([rng.uniform(0.05, 0.95, lead + (H,)),
                                    rng.uniform(0.05, 0.95, lead + (H,)),
                                    rng.uniform(-0.9, 0.9, lead + (H,)),
                                    rng.uniform(0.05, 0.95, lead + (H,))], axis=-1)
            c_prev, tanh_c = r(*lead, H), np.tanh(r(*lead, H))
            factors, dc_gain = np.full(lead + (4 * H,), 7.0), np.full(lead + (H,), 7.0)
            K.backward_factors(gates, c_prev, tanh_c, factors, dc_gain)
            put(f"k{len(shape)}.factors", factors)
            put(f"k{len(shape)}.dc_gain", dc_gain)
            out = np.full(lead + (4 * H,), 7.0)
            K.gate_derivatives(gates, out)
            put(f"k{len(shape)}.gate_derivatives", out)
            s = np.full(lead + (H,), 7.0)
            K.sigmoid_derivative(gates[..., :H], s)
            put(f"k{len(shape)}.sigmoid_derivative", s)
            K.tanh_derivative(tanh_c, s)
            put(f"k{len(shape)}.tanh_derivative", s)
            if len(shape) == 2:
                B = shape[0]
                dh, dc = r(B, H), r(B, H)
                dgates, dc_total, dc_prev = (np.full(lead + (n * H,), 7.0) for n in (4, 1, 1))
                K.backward_step(dh, dc, factors, dc_gain, gates[:, H:2 * H], dgates, dc_total,
                                dc_prev)
                put("k.step", {"dgates": dgates, "dc_total": dc_total, "dc_prev": dc_prev})
                # in place, as the cell and the driver call it
                dc2, f2 = dc.copy(), factors.copy()
                K.backward_step(dh, dc2, f2, dc_gain, gates[:, H:2 * H], f2, dc_total, dc2)
                put("k.step_in_place", {"dgates": f2, "dc_prev": dc2})
    attempt("kernels", kernels)

    # -- the cell, fast and reference -----------------------------------------------------
    for layer_name, layer in (("cell", F), ("ref", R)):
        for dtype in (np.float64, np.float32):
            for B, bias, unbatched, given in ((3, True, False, "both"), (2, False, False, "dh"),
                                              (1, True, True, "dc"), (4, True, False, "both")):
                I, H = 4, 5
                name = f"{layer_name}.{np.dtype(dtype).name}.B{B}{bias}{unbatched}{given}"

                def cell(layer=layer, dtype=dtype, B=B, bias=bias, unbatched=unbatched,
                         given=given, name=name):
                    lead = () if unbatched else (B,)
                    w = (r(4 * H, I, dtype=dtype), r(4 * H, H, dtype=dtype),
                         r(4 * H, dtype=dtype) if bias else None,
                         r(4 * H, dtype=dtype) if bias else None)
                    x, h, c = (r(*lead, I, dtype=dtype), r(*lead, H, dtype=dtype),
                               r(*lead, H, dtype=dtype))
                    (h1, c1), cache = layer.lstm_cell_forward(x, (h, c), *w)
                    put(name + ".h1", h1)
                    put(name + ".c1", c1)
                    dh = r(*lead, H, dtype=dtype) if given in ("both", "dh") else None
                    dc = r(*lead, H, dtype=dtype) if given in ("both", "dc") else None
                    put(name + ".grads", layer.lstm_cell_backward(dh, dc, cache))
                    put(name + ".again", layer.lstm_cell_backward(dh, dc, cache))
                attempt(name, cell)

    # -- the sequence, fast and reference -------------------------------------------------
    configs = [  # T, B, I, H, P, lengths, reverse, bias, chunk elements, unbatched, upstream
        (5, 3, 4, 5, None, None, False, True, None, False, "all"),
        (5, 3, 4, 5, None, [5, 2, 4], True, True, None, False, "all"),
        (6, 3, 2, 5, 3, [6, 1, 4], False, True, None, False, "all"),
        (6, 3, 2, 5, 3, [3, 6, 4], True, False, None, False, "out"),
        (7, 2, 3, 4, None, [7, 3], False, True, 2 * 5 * 4 * 2, False, "all"),   # 2-step chunks
        (7, 2, 3, 4, 2, None, True, True, 3 * 5 * 4 * 2, False, "n"),        # 3-step chunks
        (5, 4, 3, 4, None, [2, 5, 1, 5], True, True, 5 * 4 * 4, False, "all"),  # 1-step chunks
        (8, 3, 3, 2, None, [8, 5, 7], True, True, 3 * 3 * 5 * 2, False, "all"),  # 3, 3, 2 steps
        (4, 1, 3, 4, 2, None, False, True, None, True, "all"),
        (1, 2, 3, 4, None, None, False, True, None, False, "all"),
    ]
    for k, (T, B, I, H, P, lengths, reverse, bias, chunk, unbatched, up) in enumerate(configs):
        for dtype in (np.float64, np.float32):
            for layer_name, layer in (("seq", F), ("refseq", R)):
                name = f"{layer_name}{k}.{np.dtype(dtype).name}"

                def seq(layer=layer, dtype=dtype, name=name, T=T, B=B, I=I, H=H, P=P,
                        lengths=lengths, reverse=reverse, bias=bias, chunk=chunk,
                        unbatched=unbatched, up=up):
                    saved = sequence._BACKWARD_CHUNK_ELEMENTS
                    if chunk is not None:
                        sequence._BACKWARD_CHUNK_ELEMENTS = chunk
                    try:
                        Q = P or H
                        lead = () if unbatched else (B,)
                        w = (r(4 * H, I, dtype=dtype), r(4 * H, Q, dtype=dtype),
                             r(4 * H, dtype=dtype) if bias else None,
                             r(4 * H, dtype=dtype) if bias else None,
                             None if P is None else r(P, H, dtype=dtype))
                        x = r(T, *lead, I, dtype=dtype)
                        h0, c0 = r(*lead, Q, dtype=dtype), r(*lead, H, dtype=dtype)
                        (out, (hn, cn)), cache = layer.lstm_forward(
                            x, (h0, c0), *w, lengths=lengths, reverse=reverse)
                        put(name + ".out", {"output": out, "h_n": hn, "c_n": cn})
                        dout = r(T, *lead, Q, dtype=dtype) if up in ("all", "out") else None
                        dhn = r(*lead, Q, dtype=dtype) if up in ("all", "n") else None
                        dcn = r(*lead, H, dtype=dtype) if up in ("all", "n") else None
                        record = {}
                        put(name + ".grads",
                            layer.lstm_backward(dout, dhn, dcn, cache, record=record))
                        put(name + ".record", record)
                        put(name + ".again", layer.lstm_backward(dout, dhn, dcn, cache))
                    finally:
                        sequence._BACKWARD_CHUNK_ELEMENTS = saved
                attempt(name, seq)

    # -- Linear, Embedding, the losses ------------------------------------------------------
    for dtype in (np.float64, np.float32):
        dn = np.dtype(dtype).name

        def linear(dtype=dtype, dn=dn):
            for bias in (True, False):
                x, w = r(2, 3, 4, dtype=dtype), r(5, 4, dtype=dtype)
                y, cache = F.linear_forward(x, w, r(5, dtype=dtype) if bias else None)
                dy = r(2, 3, 5, dtype=dtype)
                put(f"linear.{dn}.{bias}", F.linear_backward(dy, cache))
                put(f"linear.{dn}.{bias}.again", F.linear_backward(dy, cache))
        attempt(f"linear.{dn}", linear)

        def embedding(dtype=dtype, dn=dn):
            for padding_idx in (None, 2, -1):
                idx = np.array([[0, 2, 3], [3, 3, 1]])
                w = r(4, 3, dtype=dtype)
                y, cache = F.embedding_forward(idx, w, padding_idx=padding_idx)
                dy = r(2, 3, 3, dtype=dtype)
                put(f"embedding.{dn}.{padding_idx}", F.embedding_backward(dy, cache))
                put(f"embedding.{dn}.{padding_idx}.again", F.embedding_backward(dy, cache))
        attempt(f"embedding.{dn}", embedding)

        def losses(dtype=dtype, dn=dn):
            for targets in ([0, 2, 1, 4], [0, -100, 3, -100], [-100, -100, -100, -100]):
                z = r(4, 5, dtype=dtype)
                loss, cache = F.cross_entropy_forward(z, np.array(targets))
                put(f"ce.{dn}.{targets}.loss", loss)
                for dloss in (1.0, 0.37, np.asarray(2.5, dtype=dtype)):
                    put(f"ce.{dn}.{targets}.{dloss}", F.cross_entropy_backward(dloss, cache))
                    put(f"ce.{dn}.{targets}.{dloss}.again",
                        F.cross_entropy_backward(dloss, cache))
            for shape in ((3, 4), (), (5,)):
                p, y = r(*shape, dtype=dtype), r(*shape, dtype=dtype)
                loss, cache = F.mse_forward(p, y)
                put(f"mse.{dn}.{shape}.loss", loss)
                for dloss in (1.0, 0.37, np.asarray(2.5, dtype=dtype)):
                    put(f"mse.{dn}.{shape}.{dloss}", F.mse_backward(dloss, cache))
                    put(f"mse.{dn}.{shape}.{dloss}.again", F.mse_backward(dloss, cache))
        attempt(f"losses.{dn}", losses)


def differences(a: dict, b: dict, rtol=1e-12) -> list[str]:
    """What differs between two dumps (empty: the same numbers)."""
    import numpy as np

    out = []
    for key in sorted(set(a) | set(b)):
        if key not in a or key not in b:
            out.append(f"{key}: only in the {'original' if key in a else 'mutant'}"
                       + (f" ({b.get(key) or a.get(key)})" if key.endswith(".error") else ""))
            continue
        x, y = a[key], b[key]
        if isinstance(x, str) or isinstance(y, str):
            if x != y:
                out.append(f"{key}: {x!r} != {y!r}")
        elif x.shape != y.shape:
            out.append(f"{key}: shape {x.shape} != {y.shape}")
        else:
            same_nan = np.isnan(x) == np.isnan(y)
            scale = max(1.0, float(np.nanmax(np.abs(x))) if x.size and not np.isnan(x).all()
                        else 1.0)
            diff = np.where(np.isnan(x) | np.isnan(y), 0, np.abs(x.astype(np.float64) - y))
            if not same_nan.all() or (diff.size and diff.max() > rtol * scale):
                worst = float(diff.max()) if diff.size else 0.0
                out.append(f"{key}: max |difference| {worst:.3g}"
                           + ("" if same_nan.all() else " (NaN where the other has none)"))
    return out


def _dump(root: Path, dump: Path):
    """Run the cases on the nplstm under ``root`` in a fresh process; pickle the results."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OPENBLAS_NUM_THREADS="1")
    code = (f"import sys; sys.path.insert(0, {str(root)!r}); "
            "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()"
            " and 'editable' not in type(f).__module__.lower()]; "
            f"sys.pycache_prefix = {tempfile.mkdtemp(prefix='nplstm-bat-pyc-')!r}; "
            f"sys.path.insert(0, {str(HERE)!r}); import battery; battery._main_dump({str(root)!r}, "
            f"{str(dump)!r})")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the battery failed to run: {proc.stderr[-2000:]}")


def _main_dump(root, dump):
    import nplstm
    assert Path(nplstm.__file__).resolve().is_relative_to(Path(root).resolve()), nplstm.__file__
    results = {}
    _cases(results)
    Path(dump).write_bytes(pickle.dumps(results))


def main(argv=None):
    sys.path.insert(0, str(HERE))
    import mutate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", required=True, help="comma-separated mutant ids")
    parser.add_argument("--out", help="JSON lines of the verdicts")
    args = parser.parse_args(argv)
    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    everything = {m.id: m for path in mutate.TARGETS for m in mutate.enumerate_mutants(path, None)}
    scratch = Path(tempfile.mkdtemp(prefix="nplstm-bat-"))
    mutate._make_scratch(scratch)
    _dump(scratch, scratch / "original.pkl")
    original = pickle.loads((scratch / "original.pkl").read_bytes())
    errors = [k for k in original if k.endswith(".error")]
    if errors:
        raise SystemExit(f"the unmutated package fails the battery: {errors}")
    verdicts = []
    for mutant_id in ids:
        m = everything[mutant_id]
        source = (ROOT / m.path).read_text()
        text, after = m.mutated_source(source)
        try:
            (scratch / m.path).write_text(text)
            _dump(scratch, scratch / "mutant.pkl")
        finally:
            (scratch / m.path).write_text(source)
        diff = differences(original, pickle.loads((scratch / "mutant.pkl").read_bytes()))
        verdict = "changes numbers" if diff else "same numbers"
        print(f"{verdict:16} {m.id:40} {m.description}: {m.before} -> {after}")
        for line in diff[:6]:
            print(f"        {line}")
        if len(diff) > 6:
            print(f"        … {len(diff) - 6} more")
        verdicts.append({"id": m.id, "verdict": verdict, "differences": diff[:20]})
    if args.out:
        with open(args.out, "a") as f:
            for v in verdicts:
                f.write(json.dumps(v) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
