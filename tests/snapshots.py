"""Snapshots of everything a refused call must leave alone: modules, tapes, optimizers, inputs.

    before = snapshot(module, optimizer, inputs)
    ... a call that raises ...
    assert_unchanged(before, snapshot(module, optimizer, inputs))

A snapshot holds the bytes of every parameter's ``.data`` and ``.grad``, every (sub-)module's
tape (its length and the identity of its entries), an LSTM's dropout generator state, an
optimizer's buffers and settings, and the bytes of any arrays nested in ``inputs`` (a call may
not modify its arguments either).
"""

import numpy as np

from nplstm import Module
from nplstm.backend import asnumpy, is_array
from nplstm.optim import SGD


def _array_state(a):
    host = np.asarray(asnumpy(a))
    return (host.dtype.str, host.shape, host.tobytes())


def _nested_arrays(value, path="inputs"):
    """[(path, array state)] for every array inside tuples, lists, dicts and NamedTuples."""
    if is_array(value):
        return [(path, _array_state(value))]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _nested_arrays(v, f"{path}[{k!r}]")]
    if isinstance(value, (tuple, list)):
        return [s for k, v in enumerate(value) for s in _nested_arrays(v, f"{path}[{k}]")]
    return []


def _all_modules(module: Module):
    """The module and its sub-modules, depth first (walked here, not by the code under test)."""
    yield module
    for m in module._modules.values():
        yield from _all_modules(m)


def _module_state(module: Module):
    state = []
    for name, p in module.named_parameters():
        state.append((f"{name}.data", _array_state(p.data)))
        state.append((f"{name}.grad", _array_state(p.grad)))
    for k, m in enumerate(_all_modules(module)):
        state.append((f"module {k} tape", tuple(map(id, m._tape))))
        gen = getattr(m, "dropout_generator", None)
        if gen is not None:
            state.append((f"module {k} dropout_generator", repr(gen.bit_generator.state)))
    return state, [list(m._tape) for m in _all_modules(module)]   # keeps the entries alive


def _optimizer_state(opt: SGD):
    state = [(name, repr(getattr(opt, name)))      # repr: a NaN setting equals itself
             for name in ("lr", "momentum", "weight_decay", "nesterov")]
    state.append(("buffers", tuple(map(id, opt.buffers))))
    state += [(f"buffer {k}", None if b is None else _array_state(b))
              for k, b in enumerate(opt.buffers)]
    return state, list(opt.buffers)


def snapshot(*things):
    """A comparable record of the modules, optimizers and nested arrays in ``things``."""
    state, alive = [], []
    for k, thing in enumerate(things):
        if isinstance(thing, Module):
            s, keep = _module_state(thing)
        elif isinstance(thing, SGD):
            s, keep = _optimizer_state(thing)
        else:
            s, keep = _nested_arrays(thing, f"argument {k}"), thing
        state.append(s)
        alive.append(keep)
    return state, alive


def assert_unchanged(before, after):
    """Every recorded item of ``before`` equals ``after``'s (naming the first that differs)."""
    for items_before, items_after in zip(before[0], after[0]):
        assert len(items_before) == len(items_after)
        for (name, b), (_, a) in zip(items_before, items_after):
            assert a == b, f"{name} changed"
