"""Finite differences of the projected loss L(inputs) = Σ_k ⟨u_k, out_k⟩, in float64.

    central      D(ε)  = (L(x + ε v) − L(x − ε v)) / 2ε              error O(ε²)
    Richardson   R(ε)  = (4·D(ε/2) − D(ε)) / 3                          error O(ε⁴)

v is a unit vector e_j (one element: ``mode="full"`` / ``"sampled"``) or a random unit
direction (``mode="directional"``).  Every evaluation works on private float64 copies; the
caller's arrays are never written.
"""

from __future__ import annotations

import numpy as np

from ..backend import asnumpy
from .arrays import flatten, like

__all__ = ["ProjectedLoss"]


class ProjectedLoss:
    """L(args) = Σ_k ⟨u_k, out_k⟩ for float64 host arguments; counts its evaluations.

    forward     the caller's forward(*inputs) -> (output, cache)
    inputs64    float64 host copies of the float inputs (others passed through unchanged)
    devices     the caller's original array for each float input (its backend is reused),
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

    def __call__(self, args) -> float:
        out, _ = self.forward(*[like(a, dev) if dev is not None else a
                                for a, dev in zip(args, self.devices)])
        self.evaluations += 1
        if self.progress is not None:
            self.progress.update(1)
        flat, _ = flatten(out)
        return sum(float(np.dot(u.ravel(), asnumpy(o).astype(np.float64).ravel()))
                   for u, o in zip(self.directions, flat) if u is not None)

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

    def _central(self, k, v, step) -> float:
        args = list(self.inputs64)
        args[k] = self.inputs64[k] + step * v
        plus = self(args)
        args[k] = self.inputs64[k] - step * v
        minus = self(args)
        return (plus - minus) / (2 * step)
