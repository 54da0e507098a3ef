"""Where nplstm's time goes (fwd+bwd and forward-only): GEMM, elementwise, the rest (Python).

    python benchmarks/profile_lstm.py [--threads N] [--cases "T,B,H;..."] [--repeats R]

For each case the full fwd+bwd of ``functional.lstm_forward`` / ``lstm_backward`` is timed,
then its parts are replayed alone on buffers of the same shapes: every GEMM it runs (the
input projection, T recurrent GEMMs forward and T backward, dX, dW_ih, dW_hh) and every
elementwise kernel call (T ``gates_forward``, the chunked ``backward_factors``, T
``backward_step``); likewise for the forward alone (``nplstm.no_grad()``'s path: the input
projection, T recurrent GEMMs, T ``gates_forward``).  The rest (total − GEMM − elementwise)
is the drivers' Python (loop, views, bookkeeping) and whatever the parts cost more in place
than alone (caches).  Best of R runs each (the minimum is the least disturbed on a shared
machine).  Results are recorded in docs/benchmarks.md.
"""

import argparse
import time

import numpy as np

from nplstm import functional as F
from nplstm.benchmark import DEFAULT_CASES
from nplstm.cli.bench import parse_cases
from nplstm.functional.sequence import _TRANSPOSE_MIN_STEPS, _backward_chunk
from nplstm.kernels import numpy_gates as K


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def profile_case(T, B, H, repeats):
    """{mode: {"total", "gemm", "elementwise", "python"}} in seconds, for fwd+bwd and forward."""
    rng = np.random.default_rng(0)
    u = lambda *s: rng.uniform(-0.1, 0.1, s).astype(np.float32)  # noqa: E731
    x, R = (rng.standard_normal((T, B, H)).astype(np.float32) for _ in range(2))
    wi, wh, bi, bh = u(4 * H, H), u(4 * H, H), u(4 * H), u(4 * H)

    def total():
        _, cache = F.lstm_forward(x, None, wi, wh, bi, bh)
        F.lstm_backward(R, None, None, cache)

    def total_forward():
        F.lstm_forward(x, None, wi, wh, bi, bh, keep_cache=False)

    h, dh = u(B, H), u(B, H)
    z, rec, dz = u(T * B, 4 * H), u(B, 4 * H), u(T * B, 4 * H)
    # the orientation lstm_forward uses: a contiguous copy of W_hhᵀ from T = 40 steps on
    wht = np.ascontiguousarray(wh.T) if T >= _TRANSPOSE_MIN_STEPS else wh.T
    xs = x.reshape(T * B, H)

    def gemms_forward():
        np.matmul(xs, wi.T, out=z)                                  # input projection
        for _ in range(T):
            np.dot(h, wht, out=rec)                                 # forward recurrent

    def gemms():
        gemms_forward()
        for _ in range(T):
            np.dot(rec, wh, out=dh)                                 # backward recurrent
        dz @ wi, dz.T @ xs, dz.T @ xs                               # dX, dW_ih, dW_hh

    # pre-activations z (any moderate values: the kernels' cost does not depend on them)
    gates = rng.uniform(0.05, 0.95, (T, B, 4 * H)).astype(np.float32)
    c, tc = u(T, B, H), np.tanh(u(T, B, H))
    chunk = _backward_chunk(T, B, H)
    factors, gain = u(chunk, B, 4 * H), u(chunk, B, H)
    work, dct, dc = u(B, 4 * H), u(B, H), u(B, H)

    def elementwise_forward():
        for t in range(T):
            np.copyto(work, gates[t])
            K.gates_forward(work, c[t], c[t], tc[t], h)

    def elementwise():
        elementwise_forward()
        for t0 in range(0, T, chunk):
            t1 = min(T, t0 + chunk)
            K.backward_factors(gates[t0:t1], c[t0:t1], tc[t0:t1], factors[:t1 - t0],
                               gain[:t1 - t0])
        for t in range(T):
            K.backward_step(dh, dc, factors[t % chunk], gain[t % chunk],
                            gates[t, :, H:2 * H], work, dct, dc)

    copies = best(lambda: [np.copyto(work, gates[t]) for t in range(T)], repeats)
    result = {}
    for mode, parts in (("fwd+bwd", (total, gemms, elementwise)),
                        ("forward", (total_forward, gemms_forward, elementwise_forward))):
        times = {"total": best(parts[0], repeats), "gemm": best(parts[1], repeats),
                 "elementwise": best(parts[2], repeats) - copies}
        times["python"] = max(0.0, times["total"] - times["gemm"] - times["elementwise"])
        result[mode] = times
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cases", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cases = parse_cases(args.cases) if args.cases else DEFAULT_CASES
    try:
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(args.threads, user_api="blas")
    except ImportError:
        limiter = None
    print(f"float32, {args.threads} thread(s), best of {args.repeats}\n")
    print("| T | B | H=I | mode | total ms | GEMM | elementwise | Python (rest) |")
    print("|---|---|---|---|---|---|---|---|")
    for T, B, H in cases:
        for mode, p in profile_case(T, B, H, args.repeats).items():
            share = {k: 100 * p[k] / p["total"] for k in ("gemm", "elementwise", "python")}
            print(f"| {T} | {B} | {H} | {mode} | {1e3 * p['total']:.1f} | "
                  f"{share['gemm']:.0f}% | {share['elementwise']:.0f}% | "
                  f"{share['python']:.0f}% |", flush=True)
    if limiter is not None:
        limiter.restore_original_limits()


if __name__ == "__main__":
    main()
