"""Which cells are interpretable: each unit's correlation with each text feature.

    r[j, k] = Pearson correlation over time of tanh(c_t)[unit j] with feature k
    score_j = max_k |r[j, k]|;  the K units of highest score, each named by its best feature

A constant feature or a constant unit has no correlation; it is taken as 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["RankedCell", "correlations", "rank_cells"]


class RankedCell(NamedTuple):
    """A unit of a layer, the feature it follows best and that correlation (in [−1, 1])."""

    unit: int
    feature: str
    r: float


def correlations(values, features: dict) -> np.ndarray:
    """(H, F) Pearson correlations of ``values`` (T, H) with each of ``features``' (T,)
    arrays, in the dict's order; 0 where either side is constant."""
    values = np.asarray(values, dtype=np.float64)                          # (T, H)
    table = np.stack(list(features.values()), axis=1).astype(np.float64)   # (T, F)
    centred_v = values - values.mean(axis=0)                               # (T, H)
    centred_f = table - table.mean(axis=0)                                 # (T, F)
    norms = np.outer(np.linalg.norm(centred_v, axis=0), np.linalg.norm(centred_f, axis=0))
    covariance = centred_v.T @ centred_f                                   # (H, F)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(norms > 0, covariance / np.where(norms > 0, norms, 1), 0.0)
    return np.clip(r, -1.0, 1.0)


def rank_cells(values, features: dict, k: int) -> list:
    """The ``k`` units of ``values`` (T, H) best correlated with a feature, best first,
    as ``RankedCell``s (ties: the lower unit first)."""
    r = correlations(values, features)                                     # (H, F)
    names = list(features)
    best = np.abs(r).argmax(axis=1)                                        # (H,)
    score = np.abs(r)[np.arange(r.shape[0]), best]                         # (H,)
    order = np.lexsort((np.arange(r.shape[0]), -score))[:k]
    return [RankedCell(int(j), names[best[j]], float(r[j, best[j]])) for j in order]
