"""Which cells are interpretable: each unit's correlation with each text feature, held out.

    r[j, k]        Pearson correlation over time of tanh(c_t)[unit j] with feature k
    r1, r2         the same over the first and over the second half of the text
    score[j, k]    min(|r1|, |r2|) where r1 and r2 have the same sign, else 0: a cell must
                   follow its feature in each half on its own, not thanks to one stretch
    a unit's feature: its best score (ties: the larger |r|); units ranked by that score
    (ties: |r|, then the lower unit); ``convincing`` when score >= MIN_R

A constant feature or a constant unit has no correlation; it is taken as 0 (so a feature
that is constant over one half, quotes in one half only say, scores 0).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["MIN_R", "RankedCell", "correlations", "held_out_scores", "rank_cells"]

MIN_R = 0.5          # |r| a shown cell must reach in both halves of the text to be convincing


class RankedCell(NamedTuple):
    """A unit of a layer, the feature it follows best, that correlation over the whole text
    and over each half (in [−1, 1]), and whether it reaches ``MIN_R`` in both halves."""

    unit: int
    feature: str
    r: float
    halves: tuple = (0.0, 0.0)
    convincing: bool = False


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


def held_out_scores(values, features: dict) -> tuple:
    """``(r1, r2, score)``, each (H, F): the correlations over the first ⌊T/2⌋ characters
    and over the rest, and min(|r1|, |r2|) where they agree in sign (else 0)."""
    values = np.asarray(values, dtype=np.float64)                          # (T, H)
    half = values.shape[0] // 2
    r1 = correlations(values[:half], {k: np.asarray(a)[:half] for k, a in features.items()})
    r2 = correlations(values[half:], {k: np.asarray(a)[half:] for k, a in features.items()})
    agree = np.sign(r1) * np.sign(r2) > 0
    return r1, r2, np.where(agree, np.minimum(np.abs(r1), np.abs(r2)), 0.0)


def rank_cells(values, features: dict, k: int, *, min_r: float = MIN_R) -> list:
    """The ``k`` units of ``values`` (T, H) that follow a feature best in both halves of the
    text, best first, as ``RankedCell``s (the rule: this module's docstring)."""
    r = correlations(values, features)                                     # (H, F)
    r1, r2, score = held_out_scores(values, features)                      # (H, F) each
    names, units = list(features), np.arange(r.shape[0])
    best = np.array([np.lexsort((-np.abs(r[j]), -score[j]))[0] for j in units], dtype=int)
    best_score, best_r = score[units, best], np.abs(r[units, best])        # (H,) each
    order = np.lexsort((units, -best_r, -best_score))[:k]
    return [RankedCell(int(j), names[best[j]], float(r[j, best[j]]),
                       (float(r1[j, best[j]]), float(r2[j, best[j]])),
                       bool(best_score[j] >= min_r)) for j in order]
