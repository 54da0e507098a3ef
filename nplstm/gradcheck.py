"""Check a hand-written backward against central finite differences, and say where it is wrong.

    report = gradcheck(forward, backward, inputs)

``forward(*inputs) -> (output, cache)``; ``backward(doutput, cache) -> grads``, one gradient
per input in order (None for inputs that are not differentiated).  ``output`` may be an array
or a nested tuple/list of arrays (``doutput`` then has the same structure).

The checker projects the outputs onto fixed random directions u (seeded), L = Σ_k ⟨u_k, out_k⟩,
so the backward is called once with doutput = u and must return ∇L.  Every element j of every
float input is then perturbed on a float64 copy (the caller's arrays are never modified):

    numeric_j = (L(x + ε e_j) − L(x − ε e_j)) / 2ε              (error O(ε²) + O(u_64·|L|/ε))

and compared with the analytic value: an element passes when
|analytic − numeric| ≤ atol + rtol·|numeric|.  Inputs that are not float arrays (None,
integer lengths, Python numbers) are passed through unchanged and not checked.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from .backend import asnumpy, get_array_module

__all__ = ["gradcheck", "GradcheckReport", "InputReport", "GradcheckError"]

# Defaults by the dtype of the analytic gradients.  float64: the differences are accurate
# to ~1e-9 absolute for |L| ≲ 10 with ε = 1e-6, so a relative error of 1e-5 in any gradient
# element of size ≳ 1e-3 is seen.  float32: the backward itself carries rounding errors of
# ~1e-6 relative to the sizes it sums, so the bar sits at 1e-3 relative.
_DEFAULT_TOLERANCES = {np.dtype(np.float64): (1e-8, 1e-6), np.dtype(np.float32): (1e-4, 1e-3)}


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when a gradient is wrong; ``.report`` holds the details."""

    def __init__(self, report: "GradcheckReport"):
        super().__init__("gradient check failed\n" + str(report))
        self.report = report


@dataclass
class InputReport:
    """How one input's analytic gradient compares with the numeric one."""

    name: str
    shape: tuple
    checked: bool                     # False for inputs that are not float arrays
    passed: bool = True
    n_checked: int = 0                # elements compared
    n_failed: int = 0                 # elements over tolerance
    max_abs_error: float = 0.0
    max_abs_index: tuple = ()
    max_rel_error: float = 0.0        # |a − n| / max(|a|, |n|), 0 where both are 0
    max_rel_index: tuple = ()
    worst_index: tuple = ()           # the element furthest over (or closest to) tolerance
    worst_analytic: float = 0.0
    worst_numeric: float = 0.0
    note: str = ""

    def row(self) -> list:
        if not self.checked:
            return [self.name, _fmt_shape(self.shape), "-", "-", "-", "-", "-", "-",
                    self.note or "not checked"]
        return [self.name, _fmt_shape(self.shape), f"{self.max_abs_error:.2e}",
                f"{self.max_rel_error:.2e}", _fmt_index(self.worst_index),
                f"{self.worst_analytic:.6e}", f"{self.worst_numeric:.6e}",
                f"{self.n_failed}/{self.n_checked}", "ok" if self.passed else "FAIL"]


@dataclass
class GradcheckReport:
    """The outcome of ``gradcheck``: ``.passed``, one ``InputReport`` per input."""

    passed: bool
    inputs: list = field(default_factory=list)
    eps: float = 0.0
    atol: float = 0.0
    rtol: float = 0.0

    _HEADER = ["input", "shape", "max abs err", "max rel err", "worst at", "analytic",
               "numeric", "failed", "result"]

    def __getitem__(self, name) -> InputReport:
        for r in self.inputs:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["inputs"] = [asdict(r) for r in self.inputs]
        return d

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        rows = [self._HEADER] + [r.row() for r in self.inputs]
        widths = [max(len(str(row[k])) for row in rows) for k in range(len(self._HEADER))]
        lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"{verdict}: |analytic - numeric| <= atol + rtol*|numeric| with "
                     f"atol={self.atol:g}, rtol={self.rtol:g}, eps={self.eps:g}")
        return "\n".join(lines)


def gradcheck(forward, backward, inputs, *, eps=1e-6, atol=None, rtol=None, seed=0,
              names=None, raise_exception=True) -> GradcheckReport:
    """Compare ``backward`` with central differences of ``forward``; see the module docstring.

    inputs           a sequence of arguments for ``forward``; float arrays are checked
    eps              the finite-difference step (in float64)
    atol, rtol       per-element tolerance; defaults depend on the gradients' dtype
                     (float64: 1e-8, 1e-6; float32: 1e-4, 1e-3)
    seed             seeds the random output projection u
    names            a name per input for the report (default: input0, input1, …)
    raise_exception  raise ``GradcheckError`` (with the report) on failure; else return it
    """
    inputs = list(inputs)
    names = list(names) if names is not None else [f"input{k}" for k in range(len(inputs))]
    if len(names) != len(inputs):
        raise ValueError(f"names must have one entry per input ({len(inputs)}), "
                         f"got {len(names)}")
    differentiable = [_is_float_array(a) for a in inputs]
    if not any(differentiable):
        raise ValueError("gradcheck needs at least one float array among the inputs")

    output, cache = forward(*inputs)
    outputs, rebuild = _flatten(output)
    rng = np.random.default_rng(seed)
    directions = [None if o is None else rng.standard_normal(o.shape) for o in outputs]
    doutput = rebuild([None if o is None else
                       _like(d.astype(o.dtype), o) for o, d in zip(outputs, directions)])
    grads = list(backward(doutput, cache))
    if len(grads) < len(inputs):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(inputs)} inputs")

    analytic_dtype = next(a.dtype for a, ok in zip(inputs, differentiable) if ok)
    default_atol, default_rtol = _DEFAULT_TOLERANCES.get(analytic_dtype, (1e-8, 1e-6))
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None else rtol

    inputs64 = [asnumpy(a).astype(np.float64) if ok else a
                for a, ok in zip(inputs, differentiable)]
    devices = [a if ok else None for a, ok in zip(inputs, differentiable)]

    def loss(args):
        """L = Σ ⟨u_k, out_k⟩ in float64 for float64 host arguments."""
        out, _ = forward(*[_like(a, dev) if dev is not None else a
                           for a, dev in zip(args, devices)])
        flat, _ = _flatten(out)
        return sum(float(np.dot(u.ravel(), asnumpy(o).astype(np.float64).ravel()))
                   for u, o in zip(directions, flat) if o is not None)

    reports = []
    for k, (name, ok) in enumerate(zip(names, differentiable)):
        a = inputs[k]
        if not ok:
            reports.append(InputReport(name, tuple(np.shape(a)) if a is not None else (),
                                       checked=False, note=_why_skipped(a)))
            continue
        g = grads[k]
        if g is None:
            raise ValueError(f"backward returned None for {name}, a float input; "
                             "pass it as a non-float value if it is not differentiable")
        g = asnumpy(g).astype(np.float64)
        if g.shape != a.shape:
            raise ValueError(f"backward's gradient for {name} has shape {g.shape}, "
                             f"but the input has shape {a.shape}")
        numeric = _central_differences(loss, inputs64, k, eps)
        reports.append(_compare(name, g, numeric, atol, rtol))

    report = GradcheckReport(all(r.passed for r in reports), reports, eps, atol, rtol)
    if not report.passed and raise_exception:
        raise GradcheckError(report)
    return report


def _central_differences(loss, args, k, eps):
    """∂L/∂args[k], element by element, on a private float64 copy of args[k]."""
    args = list(args)
    x = args[k].copy()
    args[k] = x
    flat = x.reshape(-1)
    numeric = np.empty(flat.size)
    for j in range(flat.size):
        original = flat[j]
        flat[j] = original + eps
        plus = loss(args)
        flat[j] = original - eps
        minus = loss(args)
        flat[j] = original
        numeric[j] = (plus - minus) / (2 * eps)
    return numeric.reshape(x.shape)


def _compare(name, analytic, numeric, atol, rtol) -> InputReport:
    """Element-by-element comparison of one input's gradients."""
    abs_err = np.abs(analytic - numeric)
    scale = np.maximum(np.abs(analytic), np.abs(numeric))
    rel_err = np.divide(abs_err, scale, out=np.zeros_like(abs_err), where=scale > 0)
    ratio = abs_err / (atol + rtol * np.abs(numeric))       # > 1: over tolerance
    r = InputReport(name, analytic.shape, checked=True)
    r.n_checked = analytic.size
    r.n_failed = int((ratio > 1).sum())
    r.passed = r.n_failed == 0
    if analytic.size:
        unravel = lambda flat_index: tuple(int(v) for v in np.unravel_index(  # noqa: E731
            flat_index, analytic.shape))
        r.max_abs_index = unravel(np.argmax(abs_err))
        r.max_abs_error = float(abs_err[r.max_abs_index])
        r.max_rel_index = unravel(np.argmax(rel_err))
        r.max_rel_error = float(rel_err[r.max_rel_index])
        r.worst_index = unravel(np.argmax(ratio))
        r.worst_analytic = float(analytic[r.worst_index])
        r.worst_numeric = float(numeric[r.worst_index])
    return r


def _is_float_array(a) -> bool:
    return hasattr(a, "dtype") and hasattr(a, "shape") and np.dtype(a.dtype).kind == "f"


def _why_skipped(a) -> str:
    if a is None:
        return "None"
    if hasattr(a, "dtype"):
        return f"{np.dtype(a.dtype).name}: not differentiable"
    return f"{type(a).__name__}: not an array"


def _like(host_array, reference):
    """``host_array`` on ``reference``'s backend (a no-op for NumPy)."""
    return get_array_module(reference).asarray(host_array)


def _flatten(output):
    """Flatten nested tuples/lists of arrays; return (list, function rebuilding the nesting)."""
    if isinstance(output, (tuple, list)):
        parts = [_flatten(o) for o in output]
        sizes = [len(p[0]) for p in parts]
        flat = [a for p in parts for a in p[0]]

        def rebuild(values):
            out, start = [], 0
            for (_, sub), n in zip(parts, sizes):
                out.append(sub(values[start:start + n]))
                start += n
            return tuple(out)

        return flat, rebuild
    return [output], lambda values: values[0]


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _fmt_index(index) -> str:
    return "[" + ", ".join(map(str, index)) + "]"
