"""Memory for the sequence driver's large arrays, kept between calls (NumPy only).

Why: glibc's ``malloc`` gives every allocation above its mmap threshold back to the kernel on
``free``, so each call at large sizes faulted its whole cache in again (1.5 of 6.6 s per
fwd+bwd at (100, 128, 1024): docs/benchmarks.md, "Memory kept between calls").

    a = workspace.empty((T, B, 4 * H), np.float32, xp)   # like xp.empty; reused memory
    a = workspace.zeros(shape, dtype, xp)                # like xp.zeros
    workspace.clear()                                    # give the idle memory back
    workspace.stats()                                    # what is held, busy and idle
    workspace.set_enabled(False)                         # plain xp.empty from now on

How it knows a buffer is free: every array handed out is a view of one of the pool's
blocks (1-D uint8 arrays that own their memory), and NumPy makes every view of a view refer
to the owning array directly (``view.base is block``; a memoryview or ``np.frombuffer``
reaches it through the array it was made from).  So a block is idle exactly when the pool's
own reference is the only one left: ``sys.getrefcount`` equal to its value for an
unreferenced block, calibrated once at import.

What it keeps: arrays of at least ``MIN_BYTES`` (smaller ones are cheap for malloc) from
NumPy (CuPy has its own memory pool; other backends allocate as usual).  A request takes the
smallest idle block of its size up to 5/4 of it, else a new one; the least recently used
idle blocks are released whenever the pool holds more than the most that was ever busy at
once, so it never holds more memory than the drivers' own peak, or more than
``MAX_IDLE_BLOCKS`` idle blocks.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from .backend import Array
from .checks import check_bool

__all__ = ["empty", "zeros", "clear", "stats", "set_enabled", "MIN_BYTES"]

MIN_BYTES = 4 << 20        # smaller arrays come from malloc's heap, which reuses them
MAX_IDLE_BLOCKS = 32       # at most this many idle blocks are kept (each scan is O(blocks))
_SLACK = 5 / 4             # a block may serve a request of at least 4/5 of its size


def _refcounts(blocks: list[np.ndarray[Any, Any]]) -> list[int]:
    """sys.getrefcount of each block as seen from here: ``_IDLE_REFS`` for an idle one."""
    return [sys.getrefcount(block) for block in blocks]


class _Pool:
    """Blocks (1-D uint8 arrays owning their memory), least recently used first."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray[Any, Any]] = []
        self.sizes: list[int] = []      # their nbytes
        self.peak_busy = 0              # most bytes ever busy at once
        self.enabled = True
        self.lock = threading.Lock()

    def take(self, nbytes: int) -> np.ndarray[Any, Any]:
        """An idle block of nbytes … 5/4·nbytes (marked most recently used), else a new one;
        then the oldest idle blocks beyond the limits are released."""
        with self.lock:
            blocks, sizes = self.blocks, self.sizes
            idle = [i for i, count in enumerate(_refcounts(blocks)) if count == _IDLE_REFS]
            fits = [i for i in idle if nbytes <= sizes[i] <= nbytes * _SLACK]
            if fits:
                best = min(fits, key=sizes.__getitem__)
                idle.remove(best)
                taken = blocks.pop(best)
                sizes.append(sizes.pop(best))
                idle = [i - (i > best) for i in idle]      # indices after the pop
            else:
                taken = np.empty(nbytes, dtype=np.uint8)
                sizes.append(nbytes)
            blocks.append(taken)
            held, idle_bytes = sum(sizes), sum(sizes[i] for i in idle)
            self.peak_busy = max(self.peak_busy, held - idle_bytes)
            if held > self.peak_busy or len(idle) > MAX_IDLE_BLOCKS:
                self._release(idle, held)
            return taken

    def _release(self, idle: list[int], held: int) -> None:
        """Drop idle blocks (indices ``idle``, oldest first) while the pool holds more than
        ``peak_busy`` bytes or more than ``MAX_IDLE_BLOCKS`` idle blocks."""
        drop: set[int] = set()
        for i in idle:
            if held <= self.peak_busy and len(idle) - len(drop) <= MAX_IDLE_BLOCKS:
                break
            drop.add(i)
            held -= self.sizes[i]
        self.blocks = [b for i, b in enumerate(self.blocks) if i not in drop]
        self.sizes = [n for i, n in enumerate(self.sizes) if i not in drop]

    def clear(self) -> None:
        with self.lock:
            idle = [i for i, count in enumerate(_refcounts(self.blocks))
                    if count == _IDLE_REFS]
            self.peak_busy = 0
            self._release(idle, sum(self.sizes))
            self.peak_busy = sum(self.sizes)

    def forget(self) -> None:
        """Drop every block: busy ones live on in their arrays and are freed with them."""
        with self.lock:
            self.blocks, self.sizes, self.peak_busy = [], [], 0

    def stats(self) -> dict[str, int]:
        with self.lock:
            counts = _refcounts(self.blocks)
            sizes = list(self.sizes)
        busy = [count != _IDLE_REFS for count in counts]
        return {"blocks": len(sizes),
                "busy_bytes": sum(s for s, b in zip(sizes, busy) if b),
                "idle_bytes": sum(s for s, b in zip(sizes, busy) if not b),
                "peak_busy_bytes": self.peak_busy}


def _calibrate() -> int:
    """The count ``_refcounts`` gives for a block that only its list refers to."""
    blocks = [np.empty(1, dtype=np.uint8)]
    idle = _refcounts(blocks)[0]
    view = blocks[0][:]                               # one more reference must show
    if _refcounts(blocks)[0] != idle + 1:
        raise RuntimeError("nplstm.workspace: sys.getrefcount does not count array views "
                           "on this interpreter")
    del view
    return idle


_IDLE_REFS = _calibrate()
_POOL = _Pool()
if hasattr(os, "register_at_fork"):
    # a fork waits until no thread is inside the pool (so the child's lists are in step),
    # and the child starts with a free lock
    os.register_at_fork(before=_POOL.lock.acquire, after_in_parent=_POOL.lock.release,
                        after_in_child=lambda: setattr(_POOL, "lock", threading.Lock()))


def _nbytes(shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    return dtype.itemsize * math.prod(shape)


def _pooled(shape: tuple[int, ...], dtype: np.dtype[Any], xp: Any) -> bool:
    return xp is np and _POOL.enabled and _nbytes(shape, dtype) >= MIN_BYTES


def empty(shape: tuple[int, ...], dtype: npt.DTypeLike, xp: Any = np) -> Array:
    """``xp.empty(shape, dtype)``, from reused memory for NumPy arrays of ≥ MIN_BYTES."""
    dtype = np.dtype(dtype)
    if not _pooled(shape, dtype, xp):
        return xp.empty(shape, dtype=dtype)
    nbytes = _nbytes(shape, dtype)
    return _POOL.take(nbytes)[:nbytes].view(dtype).reshape(shape)


def zeros(shape: tuple[int, ...], dtype: npt.DTypeLike, xp: Any = np) -> Array:
    """``xp.zeros(shape, dtype)``, from reused memory for NumPy arrays of ≥ MIN_BYTES."""
    dtype = np.dtype(dtype)
    if not _pooled(shape, dtype, xp):
        return xp.zeros(shape, dtype=dtype)
    out = empty(shape, dtype, xp)
    out.fill(0)
    return out


def clear() -> None:
    """Release every idle block (busy ones stay until their arrays are gone)."""
    _POOL.clear()


def stats() -> dict[str, int]:
    """{"blocks", "busy_bytes", "idle_bytes", "peak_busy_bytes"} of the pool now."""
    return _POOL.stats()


def set_enabled(enabled: bool) -> None:
    """Switch reuse on (the default) or off; off lets go of every block (the idle ones are
    freed now, the busy ones with their arrays)."""
    _POOL.enabled = enabled = check_bool("enabled", enabled)
    if not enabled:
        _POOL.forget()
