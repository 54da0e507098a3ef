"""What an input's axes mean, so that a report can break its errors down by group.

The checker itself knows nothing about LSTMs.  A caller (an adapter such as
``nplstm.selfcheck``) describes each input with a ``Layout``:

    Layout(axes={0: {"gate": blocks(("i", "f", "g", "o"), 4 * H)}},
           tags={"layer": 1, "direction": "reverse"})

``axes`` maps an axis to one or more *keys*, each with one label per index along that axis
(a (4H, I) weight: the gate of each row; a (T, B, I) input: the time step of each slice);
``tags`` label the whole input (the layer and direction a parameter belongs to).  The report
then gives, for every key and label, the worst error over all inputs that carry that key:
the worst gate block, the worst layer, the worst time step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Layout", "GroupStats", "blocks", "group_stats", "merge_groups"]


def blocks(names, size: int) -> list:
    """Labels of an axis of ``size`` split into len(names) equal consecutive blocks.

    blocks(("i", "f", "g", "o"), 8) == ["i", "i", "f", "f", "g", "g", "o", "o"]
    """
    if size % len(names):
        raise ValueError(f"an axis of size {size} does not split into {len(names)} equal "
                         f"blocks {tuple(names)}")
    n = size // len(names)
    return [name for name in names for _ in range(n)]


@dataclass(frozen=True)
class Layout:
    """Labels for one input: ``axes`` {axis: {key: labels along it}}, ``tags`` {key: label}."""

    axes: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)

    def check(self, name: str, shape: tuple) -> None:
        """ValueError unless every axis exists and every label list fits its axis
        (TypeError for an axis that is not an int, keys not in a dict, labels not a list)."""
        if not isinstance(self.axes, dict) or not isinstance(self.tags, dict):
            raise TypeError(f"layouts[{name!r}]: axes and tags must be dicts, got "
                            f"{type(self.axes).__name__} and {type(self.tags).__name__}")
        for axis, keyed in self.axes.items():
            if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
                raise TypeError(f"layouts[{name!r}] labels axis {axis!r}: an axis must be "
                                "an int")
            if not isinstance(keyed, dict) or not all(
                    isinstance(labels, (list, tuple, np.ndarray)) for labels in keyed.values()):
                raise TypeError(f"layouts[{name!r}]: axis {axis} must map to "
                                f"{{key: list of labels}}, got {keyed!r}")
            if not -len(shape) <= axis < len(shape):
                raise ValueError(f"layouts[{name!r}] labels axis {axis}, but {name} has shape "
                                 f"{tuple(shape)}")
            for key, labels in keyed.items():
                if len(labels) != shape[axis]:
                    raise ValueError(f"layouts[{name!r}]: {len(labels)} {key!r} labels for "
                                     f"axis {axis} of size {shape[axis]}")

    def keys(self) -> list:
        """Every key this layout labels, axis keys first."""
        out = [k for keyed in self.axes.values() for k in keyed]
        return out + [k for k in self.tags if k not in out]

    def partitions(self, shape):
        """For each axis key: (key, [(label, index tuple selecting that group)])."""
        for axis, keyed in self.axes.items():
            for key, labels in keyed.items():
                groups = []
                for label in dict.fromkeys(labels):          # distinct, in order
                    positions = np.flatnonzero(np.asarray(labels, dtype=object) == label)
                    index = [slice(None)] * len(shape)
                    index[axis] = positions
                    groups.append((label, tuple(index)))
                yield key, groups


@dataclass
class GroupStats:
    """The worst error among the elements (or directions) of one group."""

    worst_ratio: float = 0.0     # max |analytic − numeric| / tolerance; > 1 fails
    max_abs_error: float = 0.0
    n_checked: int = 0
    n_failed: int = 0
    where: str = ""              # the input (and element) holding the worst ratio

    def add(self, other: "GroupStats") -> None:
        """Fold another group's statistics into this one."""
        if other.worst_ratio >= self.worst_ratio and other.n_checked:
            self.worst_ratio, self.where = other.worst_ratio, other.where
        self.max_abs_error = max(self.max_abs_error, other.max_abs_error)
        self.n_checked += other.n_checked
        self.n_failed += other.n_failed


def _stats(ratio, abs_err, where) -> GroupStats:
    """Statistics of arrays holding NaN at unchecked elements."""
    checked = ~np.isnan(ratio)
    n = int(checked.sum())
    if not n:
        return GroupStats()
    r = np.where(checked, ratio, -np.inf)
    k = np.unravel_index(int(np.argmax(r)), r.shape)
    return GroupStats(float(r[k]), float(np.nanmax(abs_err)), n, int((r > 1).sum()),
                      where(tuple(int(v) for v in k)))


def group_stats(name, layout: Layout, ratio, abs_err) -> dict:
    """{key: {label: GroupStats}} for one input; NaN marks unchecked elements.

    ``ratio`` and ``abs_err`` have the input's shape; the worst element of a group is named
    by its index in the whole input (``name[i, j]``).
    """
    out = {}
    for key, groups in layout.partitions(ratio.shape):
        out[key] = {}
        for label, index in groups:
            positions = [np.arange(n) for n in ratio.shape]
            for axis, sel in enumerate(index):
                if not isinstance(sel, slice):
                    positions[axis] = sel
            grid = np.ix_(*positions)

            def where(k, grid=grid):
                full = tuple(int(g.reshape(-1)[i]) for g, i in zip(grid, k))
                return f"{name}[{', '.join(map(str, full))}]"

            out[key][label] = _stats(ratio[grid], abs_err[grid], where)
    whole = _stats(ratio, abs_err, lambda k: f"{name}[{', '.join(map(str, k))}]")
    for key, label in layout.tags.items():
        out.setdefault(key, {})[label] = whole
    return out


def merge_groups(per_input: list) -> dict:
    """Fold the {key: {label: GroupStats}} of several inputs into one, key by key."""
    merged = {}
    for groups in per_input:
        for key, by_label in groups.items():
            target = merged.setdefault(key, {})
            for label, stats in by_label.items():
                target.setdefault(label, GroupStats()).add(stats)
    return merged
