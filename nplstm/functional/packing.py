"""Variable lengths and the reverse direction, as one re-indexing of the time and batch axes.

torch's ``pack_padded_sequence(enforce_sorted=False)`` sorts the batch by length, longest
first, so that the sequences still running at step t are a prefix of the batch: step t
processes ``batch_sizes[t]`` rows and leaves the finished ones untouched.  The reverse
direction starts each sequence at its own last valid step: reversing every sequence within
its own length (``reverse-by-lengths``) turns it into a forward pass over the same prefixes.

``SequencePlan`` maps arrays between the caller's order (time t, batch b) and this *work
order* (step s, row r):  work[s, r] = caller[time_index[s, r], order[r]].
For every r, ``time_index[:, r]`` is a permutation of 0..T-1 (padded steps map to padded
steps), so the map is a bijection and ``from_work`` is its exact inverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import get_array_module

__all__ = ["SequencePlan", "make_plan"]


@dataclass(eq=False)
class SequencePlan:
    """How one direction of one layer walks a (T, B, ...) batch; see the module docstring."""

    T: int
    B: int
    batch_sizes: list   # T ints: rows running at each work step (non-increasing)
    last_step: Any      # (B,) host ints: each work row's last valid step (length − 1)
    order: Any          # (B,) xp ints: caller batch index of each work row, or None (identity)
    time_index: Any     # (T, B) xp ints: caller time of each work (step, row), or None
    valid: Any          # (T, B, 1) xp bool: work positions inside their sequence, or None
    reverse: bool       # without lengths, the work order is simply the time-reversed sequence

    @property
    def padded(self) -> bool:
        """True when some sequences are shorter than T (work arrays have padded rows)."""
        return self.order is not None

    def to_work(self, a, zero_padding=False):
        """(T, B, ...) caller order → contiguous work order (padded positions zeroed on request)."""
        if self.order is not None:
            w = a[self.time_index, self.order[None, :]]
            if zero_padding:   # where, not a product: padding may hold NaN, and NaN·0 = NaN
                w = get_array_module(w).where(self.valid, w, 0)
            return w
        return a[::-1].copy() if self.reverse else a

    def from_work(self, w):
        """Work order (T, B, ...) → caller order; inverse of ``to_work``."""
        if self.order is not None:
            a = get_array_module(w).empty_like(w)
            a[self.time_index, self.order[None, :]] = w
            return a
        return w[::-1].copy() if self.reverse else w

    def batch_to_work(self, a):
        """(B, ...) caller order → work order (rows sorted by length)."""
        return a if self.order is None else a[self.order]

    def batch_from_work(self, w):
        """(B, ...) work order → caller order."""
        if self.order is None:
            return w
        a = get_array_module(w).empty_like(w)
        a[self.order] = w
        return a


def make_plan(T: int, B: int, lengths, reverse: bool, xp) -> SequencePlan:
    """The walk for one direction: ``lengths`` is a validated host int64 (B,) array or None."""
    if lengths is None or (lengths == T).all():
        return SequencePlan(T, B, [B] * T, np.full(B, T - 1), None, None, None, reverse)
    order = np.argsort(-lengths, kind="stable")              # longest first, ties keep order
    sorted_lengths = lengths[order]                          # (B,) non-increasing
    steps = np.arange(T)[:, None]                            # (T, 1)
    valid = steps < sorted_lengths[None, :]                  # (T, B)
    if reverse:
        # step s of row r reads time len_r − 1 − s while s < len_r; padding stays in place
        time_index = np.where(valid, sorted_lengths[None, :] - 1 - steps, steps)
    else:
        time_index = np.broadcast_to(steps, (T, B))
    batch_sizes = [int(n) for n in valid.sum(axis=1)]
    return SequencePlan(T, B, batch_sizes, sorted_lengths - 1, xp.asarray(order),
                        xp.asarray(time_index), xp.asarray(valid[:, :, None]), reverse)
