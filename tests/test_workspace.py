"""nplstm.workspace: reused memory is handed out again only when nothing refers to it, and the
drivers' numbers do not depend on it.

The autouse fixture of conftest.py is active here too: every size is pooled and each block
handed out is filled with 0xFF bytes, so an array that wrongly shared a live block would be
overwritten with NaN and the checks below would see it.
"""

import multiprocessing
import os
import threading
import time

import numpy as np
import pytest

import nplstm
from nplstm import functional as F
from nplstm import workspace

from .helpers import rel_error


def address(a):
    return a.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def empty_pool():
    workspace.clear()
    yield
    workspace.set_enabled(True)
    workspace.clear()


KEEPERS = {
    "a slice": lambda a: a[1:],
    "a slice of a slice, reshaped": lambda a: a[1:][::2].reshape(-1),
    "a dtype view": lambda a: a.view(np.uint8),
    "a memoryview": memoryview,
    "np.frombuffer of a memoryview": lambda a: np.frombuffer(memoryview(a), dtype=a.dtype),
    "as_strided": lambda a: np.lib.stride_tricks.as_strided(a, shape=(2,), strides=(8,)),
    "a transpose": lambda a: a.reshape(2, -1).T,
}


@pytest.mark.parametrize("make", KEEPERS.values(), ids=KEEPERS.keys())
def test_a_block_is_busy_while_anything_made_from_it_lives(make):
    a = workspace.empty((1000,), np.float64)
    a[:] = np.arange(1000)
    kept = make(a)
    start = address(a)
    del a
    b = workspace.empty((1000,), np.float64)          # poisoned: must be other memory
    assert address(b) != start
    np.testing.assert_array_equal(np.asarray(workspace_values(kept)),
                                  np.asarray(workspace_values(make(np.arange(1000.0)))))
    del b, kept
    c = workspace.empty((1000,), np.float64)
    assert address(c) == start                         # idle again: reused


def workspace_values(kept):
    """The numbers behind what KEEPERS made (a memoryview read back as an array)."""
    return np.frombuffer(kept, dtype=np.float64) if isinstance(kept, memoryview) else kept


def test_live_arrays_never_share_memory_and_zeros_are_zeros():
    live = [workspace.empty((100,), np.float32) for _ in range(5)]
    for k, a in enumerate(live):
        a[:] = k
    addresses = {address(a) for a in live}
    assert len(addresses) == 5
    for k, a in enumerate(live):
        np.testing.assert_array_equal(a, np.full(100, k, np.float32))
    del live[2]
    z = workspace.zeros((100,), np.float32)            # the freed block, NaN-poisoned, zeroed
    assert address(z) in addresses
    np.testing.assert_array_equal(z, np.zeros(100, np.float32))
    assert z.dtype == np.float32 and z.shape == (100,)


def test_a_block_serves_requests_down_to_four_fifths_of_its_size():
    a = workspace.empty((1000,), np.uint8)
    start = address(a)
    del a
    b = workspace.empty((800,), np.uint8)             # 1000 ≤ 5/4 · 800: reused
    assert address(b) == start
    del b
    c = workspace.empty((799,), np.uint8)             # 1000 > 5/4 · 799: new memory
    assert address(c) != start


def test_the_pool_never_holds_more_than_its_peak_and_clear_gives_idle_blocks_back():
    a, b = workspace.empty((3000,), np.uint8), workspace.empty((1000,), np.uint8)
    assert workspace.stats() == {"blocks": 2, "busy_bytes": 4000, "idle_bytes": 0,
                                 "peak_busy_bytes": 4000}
    del a
    c = workspace.empty((2000,), np.uint8)    # 3000 > 5/4 · 2000: a new block, and 6000
    assert workspace.stats() == {"blocks": 2, "busy_bytes": 3000, "idle_bytes": 0,
                                 "peak_busy_bytes": 4000}   # held > the peak: 3000 released
    del b, c
    d = workspace.empty((100,), np.uint8)     # 3100 held ≤ 4000: the idle blocks stay
    assert workspace.stats() == {"blocks": 3, "busy_bytes": 100, "idle_bytes": 3000,
                                 "peak_busy_bytes": 4000}
    workspace.clear()
    assert workspace.stats() == {"blocks": 1, "busy_bytes": 100, "idle_bytes": 0,
                                 "peak_busy_bytes": 100}
    del d


def test_no_more_than_max_idle_blocks_are_kept(monkeypatch):
    monkeypatch.setattr(workspace, "MAX_IDLE_BLOCKS", 3)
    arrays = [workspace.empty((100 * (k + 1),), np.uint8) for k in range(6)]
    del arrays
    keep = workspace.empty((10,), np.uint8)           # triggers the release
    stats = workspace.stats()
    assert stats["busy_bytes"] == 10 and stats["blocks"] == 4   # 3 idle + the busy one
    del keep


def test_disabled_or_small_or_other_backends_allocate_as_usual(monkeypatch):
    workspace.set_enabled(False)
    a = workspace.empty((10, 10), np.float64)
    assert a.flags.owndata and workspace.stats()["blocks"] == 0
    workspace.set_enabled(True)
    monkeypatch.setattr(workspace, "MIN_BYTES", 4 << 20)
    small = workspace.zeros((10, 10), np.float32)
    assert small.flags.owndata and small.dtype == np.float32
    np.testing.assert_array_equal(small, 0)
    with pytest.raises(TypeError, match="enabled must be True or False, got int"):
        workspace.set_enabled(1)

    calls = []

    class OtherBackend:                               # CuPy keeps its own memory pool
        def empty(self, shape, dtype):
            calls.append(("empty", shape, dtype))
            return np.empty(shape, dtype)

        zeros = empty

    monkeypatch.setattr(workspace, "MIN_BYTES", 0)
    workspace.empty((3, 4), np.float32, OtherBackend())
    workspace.zeros((2,), np.float64, OtherBackend())
    assert calls == [("empty", (3, 4), np.dtype(np.float32)),
                     ("empty", (2,), np.dtype(np.float64))]
    assert workspace.stats()["blocks"] == 0


def test_threads_never_get_the_same_live_block():
    errors = []

    def work(k):
        for _ in range(300):
            a = workspace.empty((64,), np.float64)
            a[:] = k
            b = workspace.empty((64,), np.float64)    # poisons whatever block it takes
            b[:] = -1
            if not (a == k).all():
                errors.append(k)
            del a, b

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.fork")
def test_a_fork_waits_for_a_thread_inside_the_pool_and_the_child_can_allocate():
    inside, leave = threading.Event(), threading.Event()

    def thread_in_the_pool():               # as if another thread were half-way in take()
        with workspace._POOL.lock:
            inside.set()
            leave.wait(timeout=30)

    def child():
        workspace.empty((64,), np.float64)

    holder = threading.Thread(target=thread_in_the_pool)
    holder.start()
    inside.wait(timeout=30)
    threading.Timer(0.3, leave.set).start()  # the fork below must wait for this
    start = time.perf_counter()
    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    waited = time.perf_counter() - start
    process.join(timeout=30)
    hung = process.is_alive()
    if hung:
        process.kill()
        process.join()
    holder.join()
    assert waited >= 0.2 and not hung and process.exitcode == 0


def test_disabling_lets_go_of_busy_blocks_too():
    busy = workspace.empty((1000,), np.uint8)
    workspace.set_enabled(False)
    assert workspace.stats()["blocks"] == 0          # busy's block lives on in busy alone
    busy[:] = 7
    np.testing.assert_array_equal(busy, 7)


def _sequence(rng, T, B, I, H, P):
    n = lambda *s: rng.standard_normal(s)  # noqa: E731
    u = lambda *s: rng.uniform(-0.5, 0.5, s)  # noqa: E731
    return (n(T, B, I), (n(B, P), n(B, H)), u(4 * H, I), u(4 * H, P), u(4 * H), u(4 * H),
            u(P, H))


@pytest.mark.parametrize("reverse", [False, True])
def test_interleaved_sequence_passes_give_the_numbers_of_fresh_memory(reverse):
    """Two forwards with their caches alive, then their backwards in the other order: the
    same numbers as with the workspace off (every pooled block NaN-poisoned when taken)."""
    rng = np.random.default_rng(3)
    T, B, I, H, P = 6, 4, 3, 5, 2
    inputs = [_sequence(rng, T, B, I, H, P) for _ in range(2)]
    lengths = [6, 2, 5, 1]
    upstream = [rng.standard_normal((T, B, P)) for _ in range(2)]

    def run():
        passes = [F.lstm_forward(x, s, *w, lengths=lengths, reverse=reverse)
                  for x, s, *w in inputs]
        grads = [F.lstm_backward(dy, None, None, cache)
                 for dy, (_, cache) in reversed(list(zip(upstream, passes)))]
        return [np.concatenate([np.ravel(a) for a in (out, h, c)]) for (out, (h, c)), _ in
                passes] + [np.concatenate([np.ravel(g) for g in grad if g is not None])
                           for grad in grads]

    pooled = run()
    workspace.set_enabled(False)
    fresh = run()
    for a, b in zip(pooled, fresh):
        assert not np.isnan(a).any()
        assert rel_error(a, b) < 1e-14


def test_module_training_steps_give_the_numbers_of_fresh_memory():
    """A bidirectional two-layer LSTM (concatenated outputs, summed input gradients)."""
    def run():
        lstm = nplstm.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
        rng = np.random.default_rng(0)
        results = []
        for _ in range(2):
            x = rng.standard_normal((5, 2, 3))
            out, _ = lstm(x)
            dx, _ = lstm.backward(rng.standard_normal(out.shape))
            results += [out.copy(), dx.copy()]
        return results + [p.grad.copy() for p in lstm.parameters()]

    pooled = run()
    workspace.set_enabled(False)
    for a, b in zip(pooled, run()):
        assert not np.isnan(a).any()
        assert rel_error(a, b) < 1e-14
