"""Finite differences of the projected loss L(inputs) = Σ_k ⟨u_k, out_k⟩, in float64.

    central      D(ε)  = (L(x + ε v) − L(x − ε v)) / 2ε              error O(ε²)
    Richardson   R(ε)  = (4·D(ε/2) − D(ε)) / 3                          error O(ε⁴)

v is a unit vector e_j (one element: ``mode="full"`` / ``"sampled"``) or a random unit
direction (``mode="directional"``).  Every evaluation works on private float64 copies; the
caller's arrays are never written.
"""

from __future__ import annotations

import numpy as np

from .arrays import flatten, like, to_host64
from .outputs import forward_pair

__all__ = ["ProjectedLoss", "PYTHON_FLOAT", "as_caller_value"]

PYTHON_FLOAT = float        # the ``devices`` entry of a Python float input


def as_caller_value(a, device):
    """A float64 host value as forward takes it: a Python float for ``PYTHON_FLOAT``, a fresh
    array on ``device``'s backend for an array (a copy: forward may not reach the checker's
    own copies), ``a`` itself for inputs that are not differentiated."""
    if device is PYTHON_FLOAT:
        return float(a)
    if device is None:
        return a
    return like(np.array(a, copy=True), device)


class ProjectedLoss:
    """L(args) = Σ_k ⟨u_k, out_k⟩ for float64 host arguments; counts its evaluations.

    forward     the caller's forward(*inputs) -> (output, cache)
    inputs64    float64 host copies of the float inputs (others passed through unchanged)
    devices     the caller's original array for each float input (its backend is reused),
                ``PYTHON_FLOAT`` for a Python float input (forward gets a Python float),
                None for the others
    directions  u_k (float64 host arrays, None for outputs that are not projected)
    """

    def __init__(self, forward, inputs64, devices, directions, progress=None):
        self.forward = forward
        self.inputs64 = inputs64
        self.devices = devices
        self.directions = directions
        self.progress = progress
        self.evaluations = 0

    def output(self, args):
        """forward's output at ``args`` (float64 host arrays, moved to the inputs' backends);
        not counted as an evaluation."""
        output, _ = forward_pair(self.forward(*[as_caller_value(a, dev)
                                                for a, dev in zip(args, self.devices)]))
        return output

    def outputs(self, args) -> list:
        """float64 host copies of forward's projected outputs at ``args`` (None for the
        others); not counted as an evaluation.  ValueError if the output's structure or a
        shape differs from the one at the inputs (the directions')."""
        flat, _ = flatten(self.output(args))
        if len(flat) != len(self.directions):
            raise ValueError(f"forward's output has {len(flat)} entries at a perturbed point "
                             f"but {len(self.directions)} at the inputs: forward must return "
                             "the same structure on every call")
        values = []
        for k, (u, o) in enumerate(zip(self.directions, flat)):
            value = None if u is None else to_host64(o)
            if value is not None and value.shape != u.shape:
                raise ValueError(f"forward's output entry {k} has shape {value.shape} at a "
                                 f"perturbed point but {u.shape} at the inputs: forward must "
                                 "return the same shapes on every call")
            values.append(value)
        return values

    def __call__(self, args) -> float:
        """L(args) = Σ_k ⟨u_k, out_k⟩; counted in ``evaluations`` (and the progress bar)."""
        values = self.outputs(args)
        self.evaluations += 1
        if self.progress is not None:
            self.progress.update(1)
        return sum(float(np.dot(u.ravel(), v.ravel()))
                   for u, v in zip(self.directions, values) if u is not None)

    def along(self, k, v, eps, richardson=False) -> float:
        """The difference quotient of L along ``v`` (shaped like input k), ≈ ⟨∂L/∂x_k, v⟩."""
        if not richardson:
            return self._central(k, v, eps)
        return (4.0 * self._central(k, v, eps / 2) - self._central(k, v, eps)) / 3.0

    def element(self, k, flat_index, eps, richardson=False) -> float:
        """The difference quotient along e_j, j = ``flat_index`` of input k: ≈ ∂L/∂x_k[j]."""
        def central(step):
            args = list(self.inputs64)
            x = args[k].copy()
            args[k] = x
            flat = x.reshape(-1)
            original = flat[flat_index]
            flat[flat_index] = original + step
            up = flat[flat_index] - original        # the step actually taken, after rounding
            plus = self(args)
            flat[flat_index] = original - step
            down = original - flat[flat_index]
            minus = self(args)
            return (plus - minus) / (up + down)

        if not richardson:
            return central(eps)
        return (4.0 * central(eps / 2) - central(eps)) / 3.0

    def one_sided(self, k, v, step, at=None) -> tuple:
        """The forward and backward one-sided quotients along ``v`` (shaped like input k):
        ((L(x + step·v) − L(x)) / step, (L(x) − L(x − step·v)) / step).  ``at`` is L(x) if
        known.  They differ by ≈ step·vᵀ∇²L v where L is smooth, by the jump of the slope
        (independent of step) at a kink."""
        base = self(list(self.inputs64)) if at is None else at
        args = list(self.inputs64)
        args[k] = self.inputs64[k] + step * v
        plus = self(args)
        args[k] = self.inputs64[k] - step * v
        minus = self(args)
        return (plus - base) / step, (base - minus) / step

    def _central(self, k, v, step) -> float:
        args = list(self.inputs64)
        args[k] = self.inputs64[k] + step * v
        plus = self(args)
        args[k] = self.inputs64[k] - step * v
        minus = self(args)
        return (plus - minus) / (2 * step)
