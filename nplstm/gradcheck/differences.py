"""The numeric side: difference quotients of the projected loss, the default tolerances and
the pass rule, and the one-sided differences that tell a kink from a wrong gradient.

    L(x) = Σ_k ⟨u_k, out_k(x)⟩                                     (u_k fixed, seeded)
    central      D(ε) = (L(x + εv) − L(x − εv)) / 2ε                   error O(ε²)
    Richardson   R(ε) = (4·D(ε/2) − D(ε)) / 3                          error O(ε⁴)

v is e_j (one element: modes "full" and "sampled") or a random unit direction
("directional").  Every evaluation runs on private float64 copies, moved to the inputs'
backend; the caller's arrays are never written.
"""

from __future__ import annotations

import math

import numpy as np

from .contract import flatten, forward_pair, like, to_host64

FLOAT32_SAFETY = 48.0
MAX_EXAMINED = 8               # failing elements (directions) per input examined for a kink
_U64 = float(np.finfo(np.float64).eps) / 2


class ProjectedLoss:
    """L(args) for float64 host arguments; counts its evaluations (and a progress bar).

    forward     the caller's forward(*inputs) -> (output, cache)
    inputs64    float64 host copies of the float inputs (others passed through unchanged)
    devices     per input: the caller's array (its backend is reused), ``float`` for a
                Python float input (forward gets a Python float), None for the others
    directions  u_k, float64 host arrays (None for outputs that are not projected)
    """

    def __init__(self, forward, inputs64, devices, directions):
        self.forward, self.inputs64, self.devices = forward, inputs64, devices
        self.directions = directions
        self.progress, self.base = None, None     # base: L(x), once a kink is examined
        self.evaluations = 0

    def output(self, args):
        """forward's output at ``args`` (as the caller's values: fresh copies, so that forward
        cannot reach the checker's own); not counted."""
        values = [float(a) if dev is float else a if dev is None else
                  like(np.array(a, copy=True), dev) for a, dev in zip(args, self.devices)]
        return forward_pair(self.forward(*values))[0]

    def outputs(self, args) -> list:
        """float64 host copies of the projected outputs at ``args`` (None for the others), one
        evaluation; ValueError if their structure or a shape differs from the inputs'."""
        flat, _ = flatten(self.output(args))
        if len(flat) != len(self.directions):
            raise ValueError(f"forward's output has {len(flat)} entries at a perturbed point "
                             f"but {len(self.directions)} at the inputs: forward must return "
                             "the same structure on every call")
        values = [None if u is None else to_host64(o) for u, o in zip(self.directions, flat)]
        for k, (u, value) in enumerate(zip(self.directions, values)):
            if value is not None and value.shape != u.shape:
                raise ValueError(f"forward's output entry {k} has shape {value.shape} at a "
                                 f"perturbed point but {u.shape} at the inputs: forward must "
                                 "return the same shapes on every call")
        self.evaluations += 1
        if self.progress is not None:
            self.progress.update(1)
        return values

    def __call__(self, args) -> float:
        return sum(float(np.dot(u.ravel(), v.ravel()))
                   for u, v in zip(self.directions, self.outputs(args)) if u is not None)

    def along(self, k, v, eps, richardson=False, outputs=False):
        """D(ε) (or R(ε)) along ``v``, a direction shaped like input k or a flat index j (e_j):
        ≈ ⟨∂L/∂x_k, v⟩; with ``outputs``, a list of the quotients of each projected output."""
        d = self._central(k, v, eps, outputs)
        if not richardson:
            return d
        half = self._central(k, v, eps / 2, outputs)
        if outputs:
            return [None if a is None else (4.0 * h - a) / 3.0 for a, h in zip(d, half)]
        return (4.0 * half - d) / 3.0

    def one_sided(self, k, v, step) -> tuple:
        """((L(x + step·v) − L(x)) / step, (L(x) − L(x − step·v)) / step)."""
        if self.base is None:
            self.base = self(list(self.inputs64))
        return ((self(self._moved(k, v, step)) - self.base) / step,
                (self.base - self(self._moved(k, v, -step))) / step)

    def _moved(self, k, v, step) -> list:
        args = list(self.inputs64)
        if isinstance(v, (int, np.integer)):           # e_j: only element j moves
            args[k] = self.inputs64[k].copy()
            args[k].reshape(-1)[v] += step
        else:
            args[k] = self.inputs64[k] + step * v
        return args

    def _central(self, k, v, step, outputs):
        up, down = self._moved(k, v, step), self._moved(k, v, -step)
        # along e_j, divide by the step actually taken, after rounding: (x_j + ε) − (x_j − ε)
        width = float(up[k].reshape(-1)[v] - down[k].reshape(-1)[v]) \
            if isinstance(v, (int, np.integer)) else 2 * step
        if outputs:
            return [None if p is None else (p - m) / width
                    for p, m in zip(self.outputs(up), self.outputs(down))]
        return (self(up) - self(down)) / width


def default_tolerances(dtype, *, eps, loss_terms, problem_size, gradient_scale,
                       richardson=False, atol=None, rtol=None) -> tuple[float, float]:
    """(atol, rtol) for an input whose analytic gradient carries ``dtype``'s round-off (the
    lowest precision among input, outputs and gradient); derivation: docs/gradcheck.md §4.

    float64 (u₆₄ = 2⁻⁵³): the difference's own error, ε²/6·L''' + u₆₄·S_L/ε, with
    S_L = ``loss_terms`` = Σ|u_k·out_k|, bounds it: atol = max(1e-8, 8·u₆₄·S_L/ε), rtol = 1e-6
    (Richardson, error ε⁴/30·L⁽⁵⁾ + 3·u₆₄·S_L/ε: 1e-10, 24·u₆₄·S_L/ε and 1e-8).
    float32: the analytic value is a sum of at most m = ``problem_size`` terms whose
    round-off adds like a random walk: rtol = 48·u₃₂·√m, atol = rtol·S, S =
    ``gradient_scale`` = max |numeric|.  The 48 leaves a margin of 10 over the worst
    error/tolerance of 425 random float32 checks; float16 is refused (contract.py).  An
    ``atol`` or ``rtol`` given (not None) replaces its default.
    """
    if richardson:
        da, dr = max(1e-10, 8.0 * 3.0 * _U64 * loss_terms / eps), 1e-8
    else:
        da, dr = max(1e-8, 8.0 * _U64 * loss_terms / eps), 1e-6
    unit = float(np.finfo(np.dtype(dtype)).eps) / 2
    if unit > _U64:
        r32 = FLOAT32_SAFETY * unit * math.sqrt(max(problem_size, 1))
        da, dr = max(da, r32 * gradient_scale), max(dr, r32)
    return (da if atol is None else atol), (dr if rtol is None else rtol)


def error_ratios(analytic, numeric, atol, rtol) -> tuple:
    """(abs_err, rel_err, ratio) elementwise: |a − n|, |a − n| / max(|a|, |n|) (0 where both
    are 0) and |a − n| / (atol + rtol·|n|), which fails over 1 (inf for a ≠ n at a zero
    tolerance).  Where a or n is NaN or ±inf all three are inf: it never passes."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    bad = ~(np.isfinite(analytic) & np.isfinite(numeric))
    a, n = np.where(bad, 0.0, analytic), np.where(bad, 0.0, numeric)
    abs_err = np.abs(a - n)
    big = np.maximum(np.abs(a), np.abs(n))
    rel_err = np.divide(abs_err, big, out=np.zeros_like(abs_err), where=big > 0)
    tol = atol + rtol * np.abs(n)
    ratio = np.divide(abs_err, tol, out=np.where(abs_err > 0, np.inf, 0.0), where=tol > 0)
    return tuple(np.where(bad, np.inf, err) for err in (abs_err, rel_err, ratio))


def finite_max_abs(values) -> float:
    """max |v| over the finite entries (0 if none): a NaN must not make a tolerance inf."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    return float(np.abs(finite).max()) if finite.size else 0.0


def kink_label(loss, k, v, eps, analytic, tol) -> str:
    """Why the failing element (direction) ``v`` of input k cannot be checked, or "".

    At a kink (relu at 0) the central difference averages the slopes of both sides, which no
    analytic value matches.  The one-sided quotients right(h), left(h) (``one_sided``) differ
    by ≈ h·vᵀ∇²L v where L is smooth, which shrinks with h; at a kink by the jump of the
    slope, which does not.  So, with tol the element's tolerance: a jump over tol that stays
    over half at ε/10 is "not differentiable here"; one whose central difference at ε/10
    agrees with analytic is "a kink within eps".  4 evaluations each (Chainer's checker fits
    the two sides instead).
    """
    right, left = loss.one_sided(k, v, eps)
    jump = abs(right - left)
    if not (np.isfinite(jump) and jump > tol):
        return ""
    right10, left10 = loss.one_sided(k, v, eps / 10)
    if abs(right10 - left10) > 0.5 * jump:
        return (f"not differentiable here: the one-sided slopes disagree (left {left:.4g}, "
                f"right {right:.4g}, also at eps/10); check at a point away from the kink")
    if abs((right10 + left10) / 2 - analytic) <= 10 * tol:
        return (f"a kink within eps={eps:g} of here: the difference straddles it (at eps/10 "
                f"it agrees with analytic); use a smaller eps or move the point")
    return ""
