"""Facts about the machine a benchmark runs on, measured: the GEMM rate, NumPy's SIMD
extensions, the BLAS and its kernel, the per-element cost of exp and tanh."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["gemm_rate", "simd_extensions", "elementwise_ns", "blas_name", "torch_version",
           "GEMM_REPEATS"]

GEMM_REPEATS = 3         # square 2048 GEMMs per rate measurement (before and beside each case)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gemm_rate(dtype="float32", n=2048, repeats=GEMM_REPEATS) -> float:
    """Sustained GEMM rate of NumPy's BLAS in FLOP/s: best of ``repeats`` n×n×n products."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a, b, out=out)                                         # warm-up
    best = min(_time(lambda: np.matmul(a, b, out=out)) for _ in range(repeats))
    return 2.0 * n ** 3 / best


def simd_extensions() -> str:
    """The SIMD extensions NumPy found on this CPU at run time, as ``np.show_runtime()``
    lists them: its compiled-in baseline, and the dispatch targets found and not found."""
    try:
        from numpy._core import _multiarray_umath as umath  # noqa: PLC0415  (NumPy 2)
    except ImportError:
        try:
            from numpy.core import _multiarray_umath as umath  # noqa: PLC0415  (NumPy 1)
        except ImportError:
            return "unknown"
    found = getattr(umath, "__cpu_features__", {})
    baseline = getattr(umath, "__cpu_baseline__", [])
    dispatch = getattr(umath, "__cpu_dispatch__", [])
    present = [name for name in dispatch if found.get(name)]
    missing = [name for name in dispatch if not found.get(name)]
    return (f"baseline {' '.join(baseline) or 'none'}; found {' '.join(present) or 'none'}"
            + (f"; not found {' '.join(missing)}" if missing else ""))


def elementwise_ns(dtype="float32", n=1 << 20, repeats=5) -> dict:
    """Nanoseconds per element of NumPy's exp and tanh on ``n`` values, best of ``repeats``."""
    x = np.random.default_rng(0).uniform(-4, 4, n).astype(dtype)
    out = np.empty_like(x)
    costs = {}
    for name, ufunc in (("exp", np.exp), ("tanh", np.tanh)):
        ufunc(x, out=out)                                            # warm-up
        costs[name] = 1e9 * min(_time(lambda: ufunc(x, out=out)) for _ in range(repeats)) / n
    return costs


def blas_name():
    """NumPy's BLAS, its version and the kernel it runs (OpenBLAS's core type)."""
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            return ", ".join(f"{i.get('internal_api')} {i.get('version')}, kernel "
                             f"{i.get('architecture')}" for i in info)
    try:        # the build's record names the library, not the kernel chosen at run time
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - an older NumPy: no machine-readable config
        name = "BLAS"
    return f"{name}, kernel unknown (pip install threadpoolctl to see it)"


def torch_version():
    """torch's version without importing it here (the workers do), or None."""
    from importlib import metadata  # noqa: PLC0415
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
