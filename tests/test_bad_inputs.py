"""Bad input to every public entry point: a clear error that changes nothing, or the right answer.

Each *entry* builds a valid float64 call (hypothesis draws the sizes, all different from each
other so that a dropped or added axis can never pass for another valid layout, and the
seed); then every argument is spoiled in every way that applies to its kind, one at a time:

    refused  None (where required), a Python list, int / float16 / complex / bool / object /
             big-endian / float32 arrays, one axis more or less, one entry too many, an empty
             axis, a 0-d array; for indices and lengths: floats, bools, out of range
    same     views with negative strides, Fortran order, strided views (for integers also
             int32 and big-endian): accepted, same numbers as the valid call to round-off
    zeros    None where it means zeros (upstream gradients, states): the zeros' result
    nan      a NaN in one element: accepted, and the NaN reaches the outputs (as torch)

A refusal must be a ``ValueError`` or ``TypeError`` (a ``KeyError`` for state-dict keys)
whose message names the argument, and must leave every module (parameter ``.data`` and
``.grad`` bytes, tapes: length and identity of entries, dropout generator), optimizer
(buffers, settings) and input array exactly as before (tests/snapshots.py).  Settings
(sizes, dtype, device, seed, padding_idx, dropout, lr, max_norm, dloss, ignore_index, …) are
tried against a list of odd values and must be accepted exactly when the documented rule
says so.  ``test_the_suite_covers_every_entry_and_kind`` counts what one example tries.
"""

from __future__ import annotations

import math
import re
from typing import Callable, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F
from nplstm.backend import to_device
from nplstm.io import save_checkpoint
from nplstm.optim import SGD, clip_grad_norm

from .helpers import rel_error
from .strategies import seed
from .snapshots import assert_unchanged, snapshot

EXAMPLES = max(2, settings.default.max_examples // 3)      # ci: 10 size draws per entry
REFUSED = (ValueError, TypeError)


# -- how an argument is spoiled --------------------------------------------------------------

def _other_axis_length(a, axis, extra):
    """``a`` with ``extra`` more entries (−len: none left) along ``axis``."""
    if extra < 0:
        return np.take(a, np.arange(0), axis=axis)
    return np.concatenate([a, np.take(a, np.arange(extra), axis=axis)], axis=axis)


def _masked(a):
    """``a`` as a numpy.ma masked array with its first element masked (issue 21 item 15)."""
    a = np.asarray(a)
    return np.ma.masked_array(a, mask=np.arange(a.size).reshape(a.shape) == 0)


def _poison(a):
    a = a.copy()
    a.reshape(-1)[0] = np.nan
    return a


FLOAT_SPOILS = {        # name: (spoil, expectation); applies to float arrays with ndim ≥ 1
    "list": (lambda a: a.tolist(), "refused"),
    "int64": (lambda a: a.astype(np.int64), "refused"),
    "float16": (lambda a: a.astype(np.float16), "refused"),
    "complex128": (lambda a: a.astype(np.complex128), "refused"),
    "bool": (lambda a: a > 0, "refused"),
    "object": (lambda a: a.astype(object), "refused"),
    "big-endian": (lambda a: a.astype(">f8"), "refused"),
    "float32": (lambda a: a.astype(np.float32), "refused"),
    "axis added": (lambda a: a[None], "refused"),
    "axis dropped": (lambda a: a[..., 0], "refused"),
    "one more": (lambda a: _other_axis_length(a, -1, 1), "refused"),
    "empty": (lambda a: _other_axis_length(a, 0, -1), "refused"),
    "0-d": (lambda a: np.asarray(a.reshape(-1)[0]), "refused"),
    "negative strides": (lambda a: a[::-1].copy()[::-1], "same"),
    "fortran order": (lambda a: np.asfortranarray(a), "same"),
    "strided view": (lambda a: np.repeat(a, 2, axis=-1)[..., ::2], "same"),
    "nan": (_poison, "nan"),
    "masked": (_masked, "refused"),
}

INDEX_SPOILS = {        # for integer index arrays (indices, targets)
    "none": (lambda a: None, "refused"),
    "list": (lambda a: a.tolist(), "refused"),
    "float64": (lambda a: a.astype(np.float64), "refused"),
    "bool": (lambda a: a > 0, "refused"),
    "object": (lambda a: a.astype(object), "refused"),
    "too large": (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 0, 10**6, a),
                  "refused"),
    "negative": (lambda a: np.where(np.arange(a.size).reshape(a.shape) == 0, -7, a),
                 "refused"),
    "one more": (lambda a: _other_axis_length(a, -1, 1), "refused"),
    "empty": (lambda a: _other_axis_length(a, 0, -1), "refused"),
    "int32": (lambda a: a.astype(np.int32), "same"),
    "big-endian": (lambda a: a.astype(">i8"), "same"),
    "negative strides": (lambda a: a[::-1].copy()[::-1], "same"),
    "masked": (_masked, "refused"),
}

LENGTHS_SPOILS = {
    "floats": (lambda a: [float(v) for v in a], "refused"),
    "float array": (lambda a: np.asarray(a, np.float64), "refused"),
    "bools": (lambda a: [True] * len(a), "refused"),
    "zero": (lambda a: [0] + list(a[1:]), "refused"),
    "too long": (lambda a: [max(a) + 1] + list(a[1:]), "refused"),
    "one more": (lambda a: list(a) + [1], "refused"),
    "a string": (lambda a: "abc", "refused"),
    "int32 array": (lambda a: np.asarray(a, np.int32), "same"),
    "tuple": (lambda a: tuple(a), "same"),
    "masked": (_masked, "refused"),
}


CACHE_SPOILS = {
    "none": (lambda c: None, "refused"),
    "a plain tuple": (lambda c: tuple(c), "refused"),
    "another function's cache": (lambda c: F.MSECache(np.zeros(2)) if not isinstance(
        c, F.MSECache) else F.LinearCache(np.zeros((1, 1)), np.zeros((1, 1)), False, ()),
        "refused"),
}


class Arg(NamedTuple):
    kind: str = "float"        # "float", "index", "lengths" or "cache"
    none: str = "refused"      # what None means: "refused", "zeros" or "skip" (another call)
    free_lead: bool = False    # any leading axes are valid (Linear's x, Embedding's indices)
    alone: bool = False        # the call's only float array: float32 is a valid call too
    free_last: bool = False    # its last axis sets a size (E, C): one more is another call


def _spoils(arg: Arg):
    table = {"float": FLOAT_SPOILS, "index": INDEX_SPOILS, "lengths": LENGTHS_SPOILS,
             "cache": CACHE_SPOILS}[arg.kind]
    spoils = dict(table)
    if arg.kind == "float" and arg.none != "skip":
        spoils["none"] = (lambda a: None, arg.none)
    if arg.alone:              # computed in float32: close to the float64 result
        spoils["float32"] = (FLOAT_SPOILS["float32"][0], "float32")
    if arg.free_lead:          # another leading axis is another valid call, not a bad one
        spoils = {k: v for k, v in spoils.items() if k not in ("axis added", "axis dropped")}
    if arg.free_last or (arg.free_lead and arg.kind == "index"):
        spoils.pop("one more")
    return spoils


# -- the entries: a valid call, what it changes, how its arguments behave -----------------

class Setup(NamedTuple):
    args: dict                  # the valid call's arguments, by the names errors use
    run: Callable               # run(args) -> result (nested arrays)
    specs: dict                 # name -> Arg for the arguments to spoil
    state: tuple = ()           # modules / optimizers a refused call must leave alone


def _normal(rng):
    """n(*shape): standard normal float64 arrays from ``rng``."""
    return lambda *shape: rng.standard_normal(shape)


def _cell_weights(rng, I, H):
    n = _normal(rng)
    return dict(weight_ih=n(4 * H, I), weight_hh=n(4 * H, H), bias_ih=n(4 * H),
                bias_hh=n(4 * H))


WEIGHTS = {"weight_ih": Arg(), "weight_hh": Arg(), "bias_ih": Arg(), "bias_hh": Arg()}
CACHE = Arg(kind="cache")


def cell_forward(rng, T, B, I, H):
    n = _normal(rng)
    args = dict(x=n(B, I), h=n(B, H), c=n(B, H), **_cell_weights(rng, I, H))

    def run(a):
        state = None if a["h"] is None and a["c"] is None else (a["h"], a["c"])
        return F.lstm_cell_forward(a["x"], state, a["weight_ih"], a["weight_hh"],
                                   a["bias_ih"], a["bias_hh"])[0]
    return Setup(args, run, {"x": Arg(), "h": Arg(), "c": Arg(), **WEIGHTS})


def cell_backward(rng, T, B, I, H):
    n = _normal(rng)
    w = _cell_weights(rng, I, H)
    _, cache = F.lstm_cell_forward(n(B, I), (n(B, H), n(B, H)), *w.values())
    args = dict(dh=n(B, H), dc=n(B, H), cache=cache)
    return Setup(args, lambda a: F.lstm_cell_backward(a["dh"], a["dc"], a["cache"]),
                 {"dh": Arg(none="zeros"), "dc": Arg(none="zeros"), "cache": CACHE})


def cell_jvp(rng, T, B, I, H):
    n = _normal(rng)
    args = dict(x=n(B, I), **_cell_weights(rng, I, H))
    run = lambda a: F.lstm_cell_jvp(a["x"], None, a["weight_ih"], a["weight_hh"],  # noqa: E731
                                    a["bias_ih"], a["bias_hh"],
                                    tangents=F.CellTangents(x=np.ones_like(args["x"])))
    return Setup(args, run, {"x": Arg(), **WEIGHTS})


def _sequence_args(rng, T, B, I, H):
    n = _normal(rng)
    lengths = list(rng.integers(1, T + 1, size=B))
    lengths[0] = T
    return dict(x=n(T, B, I), h0=n(B, H), c0=n(B, H), **_cell_weights(rng, I, H),
                lengths=lengths)


def _run_sequence(a, **kw):
    state = None if a["h0"] is None and a["c0"] is None else (a["h0"], a["c0"])
    return F.lstm_forward(a["x"], state, a["weight_ih"], a["weight_hh"], a["bias_ih"],
                          a["bias_hh"], lengths=a["lengths"], **kw)


def sequence_forward(rng, T, B, I, H):
    args = _sequence_args(rng, T, B, I, H)
    reverse = bool(rng.integers(2))
    return Setup(args, lambda a: _run_sequence(a, reverse=reverse)[0],
                 {"x": Arg(), "h0": Arg(), "c0": Arg(), **WEIGHTS,
                  "lengths": Arg(kind="lengths")})


def sequence_inference(rng, T, B, I, H):
    args = _sequence_args(rng, T, B, I, H)
    return Setup(args, lambda a: _run_sequence(a, keep_cache=False)[0],
                 {"x": Arg(), "h0": Arg(), "c0": Arg(), **WEIGHTS,
                  "lengths": Arg(kind="lengths")})


def sequence_backward(rng, T, B, I, H):
    n = _normal(rng)
    (out, _), cache = _run_sequence(_sequence_args(rng, T, B, I, H))
    args = dict(doutput=n(T, B, H), dh_n=n(B, H), dc_n=n(B, H), cache=cache)
    return Setup(args, lambda a: F.lstm_backward(a["doutput"], a["dh_n"], a["dc_n"], a["cache"]),
                 {"doutput": Arg(none="zeros"), "dh_n": Arg(none="zeros"),
                  "dc_n": Arg(none="zeros"), "cache": CACHE})


def linear_forward(rng, T, B, I, H):
    n = _normal(rng)
    args = dict(x=n(T, B, I), weight=n(H, I), bias=n(H))
    return Setup(args, lambda a: F.linear_forward(a["x"], a["weight"], a["bias"])[0],
                 {"x": Arg(free_lead=True), "weight": Arg(), "bias": Arg(none="skip")})


def linear_backward(rng, T, B, I, H):
    n = _normal(rng)
    _, cache = F.linear_forward(n(B, I), n(H, I), n(H))
    return Setup(dict(dy=n(B, H), cache=cache),
                 lambda a: F.linear_backward(a["dy"], a["cache"]),
                 {"dy": Arg(none="zeros"), "cache": CACHE})


def embedding_forward(rng, T, B, I, H):
    n = _normal(rng)
    V = I + H
    indices = rng.integers(0, V, size=(T, B))
    indices.reshape(-1)[0] = 0                # the row a NaN in weight[0, 0] reaches
    args = dict(indices=indices, weight=n(V, H))
    return Setup(args, lambda a: F.embedding_forward(a["indices"], a["weight"])[0],
                 {"indices": Arg(kind="index", free_lead=True),
                  "weight": Arg(alone=True, free_last=True)})


def embedding_backward(rng, T, B, I, H):
    n = _normal(rng)
    V = I + H
    indices = rng.integers(0, V - 1, size=(B,))          # dy[0] reaches a row: not padding
    _, cache = F.embedding_forward(indices, n(V, H), padding_idx=V - 1)
    return Setup(dict(dy=n(B, H), cache=cache),
                 lambda a: F.embedding_backward(a["dy"], a["cache"]),
                 {"dy": Arg(none="zeros"), "cache": CACHE})


def cross_entropy_forward(rng, T, B, I, H):
    n = _normal(rng)
    args = dict(logits=n(B, I + 1), targets=rng.integers(0, I + 1, size=B))
    return Setup(args, lambda a: F.cross_entropy_forward(a["logits"], a["targets"])[0],
                 {"logits": Arg(alone=True, free_last=True), "targets": Arg(kind="index")})


def mse_forward(rng, T, B, I, H):
    n = _normal(rng)
    return Setup(dict(pred=n(B, I), target=n(B, I)),
                 lambda a: F.mse_forward(a["pred"], a["target"])[0],
                 {"pred": Arg(), "target": Arg()})


def cross_entropy_backward(rng, T, B, I, H):
    _, cache = F.cross_entropy_forward(rng.standard_normal((B, I)), rng.integers(0, I, size=B))
    return Setup(dict(dloss=1.0, cache=cache),
                 lambda a: F.cross_entropy_backward(a["dloss"], a["cache"]), {"cache": CACHE})


def mse_backward(rng, T, B, I, H):
    _, cache = F.mse_forward(rng.standard_normal((B, I)), rng.standard_normal((B, I)))
    return Setup(dict(dloss=0.5, cache=cache),
                 lambda a: F.mse_backward(a["dloss"], a["cache"]), {"cache": CACHE})


def _module_call(module, method):
    """run(args) for a module method: its result and the increments of every ``.grad``."""
    def run(a):
        before = [p.grad.copy() for p in module.parameters()]
        result = getattr(module, method)(**a)
        return result, [p.grad - g for p, g in zip(module.parameters(), before)]
    return run


def cell_module_forward(rng, T, B, I, H):
    n = _normal(rng)
    cell = nplstm.LSTMCell(I, H, dtype="float64", seed=int(rng.integers(100)))
    args = dict(x=n(B, I), state=(n(B, H), n(B, H)))
    return Setup(args, lambda a: cell(**a), {"x": Arg()}, (cell,))


def cell_module_backward(rng, T, B, I, H):
    n = _normal(rng)
    cell = nplstm.LSTMCell(I, H, dtype="float64", seed=int(rng.integers(100)))
    x = n(B, I)
    cell(x)
    cell(x)                       # two equal steps: the reference after an accepted call
    return Setup(dict(dh=n(B, H), dc=n(B, H)), _module_call(cell, "backward"),
                 {"dh": Arg(none="zeros"), "dc": Arg(none="zeros")}, (cell,))


def _lstm(rng, I, H, **kw):
    return nplstm.LSTM(I, H, num_layers=2, dropout=0.3, dtype="float64",
                       seed=int(rng.integers(100)), **kw)


def lstm_module_forward(rng, T, B, I, H):
    n = _normal(rng)
    lstm = _lstm(rng, I, H, bidirectional=bool(rng.integers(2)))
    D = lstm.num_directions
    lengths = list(rng.integers(1, T + 1, size=B))
    lengths[0] = T
    args = dict(x=n(T, B, I), state=None, lengths=lengths)
    spoil = dict(x=Arg(), lengths=Arg(kind="lengths"))   # refused before any dropout draw
    start = lstm.dropout_generator.bit_generator.state

    def run(a):     # every call from the same generator state: the same dropout masks
        lstm.dropout_generator.bit_generator.state = start
        return lstm(**a)
    args_h = dict(args, state=(n(2 * D, B, H), n(2 * D, B, H)))
    return Setup(args_h if rng.integers(2) else args, run, spoil, (lstm,))


def lstm_module_backward(rng, T, B, I, H):
    n = _normal(rng)
    lstm = _lstm(rng, I, H, bidirectional=bool(rng.integers(2)), batch_first=True)
    D = lstm.num_directions
    x = n(B, T, I)
    for _ in range(2):
        lstm.dropout_generator = np.random.default_rng(0)
        lstm(x)
    args = dict(doutput=n(B, T, D * H), dstate=None)
    return Setup(args, _module_call(lstm, "backward"), {"doutput": Arg(none="zeros")}, (lstm,))


def linear_module(rng, T, B, I, H):
    n = _normal(rng)
    lin = nplstm.Linear(I, H, dtype="float64", seed=int(rng.integers(100)))
    return Setup(dict(x=n(T, B, I)), lambda a: lin(**a), {"x": Arg(free_lead=True)}, (lin,))


def linear_module_backward(rng, T, B, I, H):
    n = _normal(rng)
    lin = nplstm.Linear(I, H, dtype="float64", seed=int(rng.integers(100)))
    x = n(B, I)
    lin(x)
    lin(x)
    return Setup(dict(dy=n(B, H)), _module_call(lin, "backward"), {"dy": Arg(none="zeros")},
                 (lin,))


def embedding_module(rng, T, B, I, H):
    emb = nplstm.Embedding(I + H, H, padding_idx=1, dtype="float64", seed=int(rng.integers(9)))
    indices = rng.integers(0, I + H, size=(T, B))
    indices.reshape(-1)[0] = 0
    emb(indices)                      # recorded forwards a refused call must leave alone
    emb(indices)
    return Setup(dict(indices=indices), lambda a: emb(**a),
                 {"indices": Arg(kind="index", free_lead=True)}, (emb,))


def embedding_module_backward(rng, T, B, I, H):
    emb = nplstm.Embedding(I + H, H, padding_idx=1, dtype="float64", seed=int(rng.integers(9)))
    indices = rng.integers(0, I + H, size=(T, B))
    indices.reshape(-1)[0] = 0                          # dy[0, 0] reaches a row: not padding
    emb(indices)
    emb(indices)
    return Setup(dict(dy=rng.standard_normal((T, B, H))), _module_call(emb, "backward"),
                 {"dy": Arg(none="zeros")}, (emb,))


def to_device_entry(rng, T, B, I, H):
    return Setup(dict(a=rng.standard_normal((B, I)), device="cpu"), lambda a: to_device(**a),
                 {"a": Arg(none="refused")})


ENTRIES = {f.__name__: f for f in (
    cell_forward, cell_backward, cell_jvp, sequence_forward, sequence_inference,
    sequence_backward, linear_forward, linear_backward, embedding_forward, embedding_backward,
    cross_entropy_forward, cross_entropy_backward, mse_forward, mse_backward,
    cell_module_forward, cell_module_backward,
    lstm_module_forward, lstm_module_backward, linear_module, linear_module_backward,
    embedding_module, embedding_module_backward, to_device_entry)}

# spoils accepted by design: to_device moves any numeric array as it is (the result must
# then hold exactly the values it was given)
ACCEPTED = {("to_device_entry", "a"): {"int64", "float16", "complex128", "bool", "big-endian",
                                       "float32", "axis added", "axis dropped", "one more",
                                       "empty", "0-d"}}


# -- the checks ------------------------------------------------------------------------------

def _leaves(value):
    """The arrays and numbers inside nested results, in order."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, (tuple, list)):
        return [x for v in value for x in _leaves(v)]
    if value is None:
        return []
    return [np.asarray(value)]


def _names(message: str, name: str) -> bool:
    """``name`` appears in ``message`` as a word of its own ("h", not the h of "shape")."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message) is not None


def _assert_same(got, want, where, dtype=np.float64):
    """Same shapes, ``got`` of ``dtype``, values equal to ``dtype``'s round-off (relative
    64 ε: a few roundings of sums of a few terms, whichever order the BLAS sums in)."""
    got, want = _leaves(got), _leaves(want)
    assert len(got) == len(want), where
    for g, w in zip(got, want):
        expected_dtype = dtype if w.dtype.kind == "f" else w.dtype
        assert g.shape == w.shape and g.dtype == expected_dtype, (where, g.shape, w.shape)
        assert rel_error(g, w) <= 64 * np.finfo(dtype).eps, (where, rel_error(g, w))


def try_spoiled(entry, make, arg, spoil_name, spoil, expectation, draw_args):
    """Build a fresh setup, spoil one argument, run, and check the outcome; returns it."""
    setup = make(np.random.default_rng(draw_args[0]), *draw_args[1:])
    good = setup.args[arg]
    args = dict(setup.args)
    args[arg] = spoil(np.asarray(good) if setup.specs[arg].kind == "lengths" else good)
    if spoil_name in ACCEPTED.get((entry, arg), ()):
        expectation = "same"
    where = f"{entry}: {arg} spoiled by {spoil_name}"
    before = snapshot(*setup.state, args)
    try:
        result = setup.run(args)
    except REFUSED as err:
        assert expectation == "refused", f"{where} was refused ({type(err).__name__}: {err})"
        assert _names(str(err), arg), f"{where}: the message does not name {arg}: {err}"
        assert_unchanged(before, snapshot(*setup.state, args))
        return "refused"
    assert expectation != "refused", f"{where} was accepted"
    if expectation == "nan":
        assert any(np.isnan(leaf).any() for leaf in _leaves(result)), \
            f"{where}: the NaN vanished"
        return "nan"
    if spoil_name in ACCEPTED.get((entry, arg), ()):
        assert result is args[arg] or np.array_equal(result, args[arg]), where
        return "same"
    reference = dict(setup.args)
    if expectation == "zeros":
        reference[arg] = np.zeros_like(good)
    _assert_same(result, setup.run(reference), where,
                 np.float32 if expectation == "float32" else np.float64)
    return expectation


def _sizes():
    """(seed, T, B, I, H): four different sizes in 1 … 6."""
    return st.tuples(seed,
                     st.lists(st.integers(1, 6), min_size=4, max_size=4, unique=True)).map(
        lambda t: (t[0], *t[1]))


def _try_every_spoil(entry, draw_args):
    make = ENTRIES[entry]
    outcomes = {}
    specs = make(np.random.default_rng(draw_args[0]), *draw_args[1:]).specs
    for arg, spec in specs.items():
        for spoil_name, (spoil, expectation) in _spoils(spec).items():
            outcome = try_spoiled(entry, make, arg, spoil_name, spoil, expectation, draw_args)
            outcomes[(arg, spoil_name)] = outcome
    return outcomes


@pytest.mark.parametrize("entry", ENTRIES)
@settings(max_examples=EXAMPLES)
@given(draw_args=_sizes())
def test_every_spoiled_argument_is_refused_clearly_or_computed_right(entry, draw_args):
    _try_every_spoil(entry, draw_args)


def test_the_suite_covers_every_entry_and_kind():
    """How many spoiled calls one example of the suite above makes, by outcome (reported)."""
    counts, total = {}, 0
    for entry in ENTRIES:
        for outcome in _try_every_spoil(entry, (1, 2, 3, 4, 5)).values():
            counts[outcome] = counts.get(outcome, 0) + 1
            total += 1
    assert set(counts) == {"refused", "same", "zeros", "nan", "float32"}
    assert counts["refused"] >= 300 and counts["same"] >= 50, counts


# -- settings: accepted exactly when the documented rule says so ------------------------------

ODD_VALUES = [None, "abc", "", -1, 0, 1, 2, 1.5, 0.5, math.nan, math.inf, -math.inf, True,
              False, [1], (2,), np.int64(2), np.int64(-2), np.float64(0.5), np.bool_(True),
              np.ones(2), 10**30]


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and \
        not isinstance(v, (bool, np.bool_))


RULES = {   # (build with the value, the argument's name, accepted?)
    "LSTMCell input_size": (lambda v: nplstm.LSTMCell(v, 3), "input_size",
                            lambda v: _is_int(v) and v >= 1),
    "LSTM hidden_size": (lambda v: nplstm.LSTM(2, v), "hidden_size",
                         lambda v: _is_int(v) and v >= 1),
    "LSTM num_layers": (lambda v: nplstm.LSTM(2, 3, num_layers=v), "num_layers",
                        lambda v: _is_int(v) and v >= 1),
    "LSTM dropout": (lambda v: nplstm.LSTM(2, 3, dropout=v), "dropout",
                     lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                     and 0 <= v < 1),
    "LSTM proj_size": (lambda v: nplstm.LSTM(2, 3, proj_size=v), "proj_size",
                       lambda v: _is_int(v) and 0 <= v < 3),
    "Linear out_features": (lambda v: nplstm.Linear(2, v), "out_features",
                            lambda v: _is_int(v) and v >= 1),
    "Embedding padding_idx": (lambda v: nplstm.Embedding(3, 2, padding_idx=v), "padding_idx",
                              lambda v: v is None or (_is_int(v) and -3 <= v < 3)),
    "seed": (lambda v: nplstm.LSTM(2, 3, seed=v), "seed",
             lambda v: v is None or (_is_int(v) and v >= 0)
             or isinstance(v, np.random.SeedSequence)),
    "dtype": (lambda v: nplstm.Linear(2, 3, dtype=v), "dtype",
              lambda v: v is None or (isinstance(v, (str, type)) and v in (
                  "float32", "float64", "<f8" if np.little_endian else ">f8", np.float32,
                  np.float64))),
    "device": (lambda v: nplstm.LSTMCell(2, 3, device=v), "device",
               lambda v: isinstance(v, str) and v == "cpu"),
    "SGD lr": (lambda v: SGD(nplstm.Linear(2, 2).parameters(), v), "lr",
               lambda v: _is_real(v) and math.isfinite(v) and v > 0),
    "SGD momentum": (lambda v: SGD(nplstm.Linear(2, 2).parameters(), 0.1, momentum=v),
                     "momentum", lambda v: _is_real(v) and math.isfinite(v) and v >= 0),
    "SGD weight_decay": (lambda v: SGD(nplstm.Linear(2, 2).parameters(), 0.1, weight_decay=v),
                         "weight_decay", lambda v: _is_real(v) and math.isfinite(v) and v >= 0),
    "clip_grad_norm max_norm": (lambda v: clip_grad_norm(nplstm.Linear(2, 2).parameters(), v),
                                "max_norm", lambda v: _is_real(v) and math.isfinite(v) and v > 0),
    "cross_entropy dloss": (lambda v: F.cross_entropy_backward(v, F.cross_entropy_forward(
        np.ones((2, 3)), np.array([0, 2]))[1]), "dloss", _is_real),
    "mse dloss": (lambda v: F.mse_backward(v, F.mse_forward(np.ones(2), np.zeros(2))[1]),
                  "dloss", _is_real),
    "cross_entropy ignore_index": (lambda v: F.cross_entropy_forward(
        np.ones((2, 3)), np.array([0, 2]), ignore_index=v), "ignore_index", _is_int),
    "to_device device": (lambda v: to_device(np.ones(2), v), "device",
                         lambda v: isinstance(v, str) and v == "cpu"),
    "Parameter data": (lambda v: nplstm.Parameter(v), "data",
                       lambda v: isinstance(v, np.ndarray) and v.dtype == np.float64),
    "Module.train mode": (lambda v: nplstm.Linear(2, 2).train(v), "mode",
                          lambda v: isinstance(v, (bool, np.bool_))),
    "cache_bytes_per_step H": (lambda v: F.cache_bytes_per_step(2, 3, v, 4, 8, False), "H",
                               lambda v: _is_int(v) and v >= 1),
}
SIZES = ("input_size", "hidden_size", "num_layers", "out_features")
DTYPE_VALUES = ["float32", "float64", np.float32, np.float64, "float16", ">f4", "<f8" if
                np.little_endian else ">f8", "int32", "complex64", "bool", "nonsense", object]


@pytest.mark.parametrize("rule", RULES)
def test_settings_are_accepted_exactly_by_their_rule(rule):
    build, name, valid = RULES[rule]
    values = ODD_VALUES + (DTYPE_VALUES if name == "dtype" else []) + \
        (["cpu", "cuda", "CPU", "gpu"] if name == "device" else []) + \
        ([np.random.SeedSequence(3)] if name == "seed" else [])
    for value in values:
        expected = valid(value)
        if isinstance(value, str) and value == "cuda":
            continue                  # a RuntimeError without CuPy: tests/test_backend.py
        if name in SIZES and _is_int(value) and value > 99:
            continue                  # a valid size, but too large to allocate
        try:
            built = build(value)
        except REFUSED as err:
            assert not expected, f"{rule} = {value!r} was refused: {err}"
            assert _names(str(err), name), f"{rule} = {value!r}: {err}"
            continue
        assert expected, f"{rule} = {value!r} was accepted"
        if name == "dtype":           # None is the default, float32 (numpy.dtype(None) is not)
            assert built.weight.dtype == (np.float32 if value is None else np.dtype(value))


# -- state dicts and the optimizer ------------------------------------------------------------

STATE_DICT_SPOILS = {   # name: (spoil of a valid state dict, expectation, a word of the error)
    "None": (lambda sd, k: None, "refused", "state_dict"),
    "pairs": (lambda sd, k: list(sd.items()), "refused", "state_dict"),
    "a key missing": (lambda sd, k: {n: v for n, v in sd.items() if n != k}, "refused", "k"),
    "a key more": (lambda sd, k: {**sd, "extra": np.zeros(1)}, "refused", "extra"),
    "prefixed": (lambda sd, k: {"model." + n: v for n, v in sd.items()}, "refused",
                 'select(state_dict, "model.")'),
    "value None": (lambda sd, k: {**sd, k: None}, "refused", "k"),
    "value str": (lambda sd, k: {**sd, k: "abc"}, "refused", "k"),
    "value int": (lambda sd, k: {**sd, k: sd[k].astype(np.int64)}, "refused", "k"),
    "value complex": (lambda sd, k: {**sd, k: sd[k].astype(np.complex128)}, "refused", "k"),
    "value shape": (lambda sd, k: {**sd, k: sd[k][..., :0]}, "refused", "k"),
    "value ragged list": (lambda sd, k: {**sd, k: [[1.0], [1.0, 2.0]]}, "refused", "k"),
    "value float32": (lambda sd, k: {**sd, k: sd[k].astype(np.float32)}, "loaded", None),
    "value big-endian": (lambda sd, k: {**sd, k: sd[k].astype(">f8")}, "loaded", None),
    "value list": (lambda sd, k: {**sd, k: sd[k].tolist()}, "loaded", None),
    "value transposed copy": (lambda sd, k: {**sd, k: np.asfortranarray(sd[k])}, "loaded",
                              None),
}

STATE_MODULES = {"LSTMCell": lambda s: nplstm.LSTMCell(3, 4, dtype="float64", seed=s),
                 "LSTM": lambda s: nplstm.LSTM(3, 4, num_layers=2, bidirectional=True,
                                               proj_size=2, dtype="float64", seed=s),
                 "Linear": lambda s: nplstm.Linear(3, 4, dtype="float64", seed=s),
                 "Embedding": lambda s: nplstm.Embedding(5, 2, dtype="float64", seed=s)}


@pytest.mark.parametrize("module_name", STATE_MODULES)
@settings(max_examples=EXAMPLES)
@given(seeds=st.tuples(st.integers(0, 99), st.integers(0, 99)), key_index=st.integers(0, 99))
def test_load_state_dict_refuses_clearly_and_changes_nothing(module_name, seeds, key_index):
    make = STATE_MODULES[module_name]
    source = make(seeds[1]).state_dict()
    key = list(source)[key_index % len(source)]
    for spoil_name, (spoil, expectation, word) in STATE_DICT_SPOILS.items():
        module = make(seeds[0])
        module(np.zeros((2, 3)) if module_name != "Embedding" else np.array([1]))
        before = snapshot(module)
        bad = spoil(source, key)
        if expectation == "loaded":
            module.load_state_dict(bad)
            for name, p in module.named_parameters():
                want = source[name] if name != key else np.asarray(bad[key], np.float64)
                np.testing.assert_array_equal(p.data, want, err_msg=f"{spoil_name}: {name}")
            continue
        with pytest.raises((KeyError, *REFUSED)) as info:
            module.load_state_dict(bad)
        word = key if word == "k" else word
        assert word in str(info.value), (spoil_name, str(info.value))
        assert_unchanged(before, snapshot(module))


OPTIMIZER_SPOILS = {    # name: (spoil of a valid state, a word of the error)
    "None": (lambda s: None, "state"),
    "pairs": (lambda s: list(s.items()), "state"),
    "no lr": (lambda s: {"buffers": s["buffers"]}, "lr"),
    "no buffers": (lambda s: {"lr": s["lr"]}, "buffers"),
    "a key more": (lambda s: {**s, "momentum": 0.9}, "momentum"),
    "lr nan": (lambda s: {**s, "lr": math.nan}, "lr"),
    "lr negative": (lambda s: {**s, "lr": -1.0}, "lr"),
    "lr str": (lambda s: {**s, "lr": "0.1"}, "lr"),
    "buffers None": (lambda s: {**s, "buffers": None}, "buffers"),
    "buffers short": (lambda s: {**s, "buffers": s["buffers"][:-1]}, "buffers"),
    "a list buffer": (lambda s: {**s, "buffers": [b.tolist() for b in s["buffers"]]},
                      "buffers[0]"),
    "a float32 buffer": (lambda s: {**s, "buffers": [b.astype(np.float32)
                                                     for b in s["buffers"]]}, "buffer 0"),
    "a big-endian buffer": (lambda s: {**s, "buffers": [b.astype(">f8")
                                                        for b in s["buffers"]]}, "buffer 0"),
    "a transposed buffer": (lambda s: {**s, "buffers": [b.T for b in s["buffers"]]},
                            "buffer 0"),
    "a nan buffer": (lambda s: {**s, "buffers": [_poison(b) for b in s["buffers"]]},
                     "buffer 0"),
}


@settings(max_examples=EXAMPLES)
@given(seed=seed)
def test_sgd_refuses_bad_state_and_settings_and_changes_nothing(seed):
    rng = np.random.default_rng(seed)
    model = nplstm.Linear(3, 4, dtype="float64", seed=int(rng.integers(99)))

    def stepped():
        opt = SGD(model.parameters(), 0.1, momentum=0.9, weight_decay=0.01)
        for p in model.parameters():
            p.grad[...] = rng.standard_normal(p.shape)
        opt.step()
        return opt

    saved = stepped().state_dict()
    for spoil_name, (spoil, word) in OPTIMIZER_SPOILS.items():
        opt = stepped()
        before = snapshot(opt, model)
        with pytest.raises((KeyError, *REFUSED)) as info:
            opt.load_state_dict(spoil(saved))
        assert word in str(info.value), (spoil_name, str(info.value))
        assert_unchanged(before, snapshot(opt, model))
    for setting, value in (("lr", math.nan), ("lr", -1.0), ("momentum", math.nan),
                           ("weight_decay", -math.inf), ("momentum", "0.9")):
        opt = stepped()
        before = snapshot(model)
        with pytest.raises(REFUSED, match=setting):
            setattr(opt, setting, value)        # lr: refused here
            opt.step()                          # the others: refused before any update
        assert_unchanged(before, snapshot(model))
    for params, word in ((model, "model.parameters()"), (None, "params"), (3, "params"),
                         ([model.weight, model.weight.data], "element 1"),
                         (model.weight, "params"), (iter([]), "non-empty")):
        with pytest.raises(TypeError, match=re.escape(word)):
            SGD(params, 0.1)


def test_to_device_writes_native_byte_order_on_a_device(device_backend):
    host = np.arange(6.0).reshape(2, 3).astype(">f8")
    moved = to_device(host, device_backend.device)
    assert moved.dtype == np.float64 and moved.dtype.isnative
    np.testing.assert_array_equal(to_device(moved, "cpu"), host)


# -- masked arrays and matrices: refused by name wherever an array comes in (issue 21) --------

def _masked_entries(tmp_path):
    lin = nplstm.Linear(3, 2, dtype="float64", seed=0)
    masked = _masked(np.ones((2, 3)))
    opt = SGD(lin.parameters(), 0.1, momentum=0.9)
    return {
        "load_state_dict": (lambda: lin.load_state_dict(
            {"weight": masked, "bias": np.zeros(2)}), "weight", (lin,)),
        "SGD.load_state_dict": (lambda: opt.load_state_dict(
            {"lr": 0.1, "buffers": [masked, None]}), "buffers[0]", (lin, opt)),
        "save_checkpoint": (lambda: save_checkpoint(tmp_path / "c.npz", step=1,
                                                    model={"w": masked}), "'w'", ()),
        "gradcheck": (lambda: nplstm.gradcheck(
            lambda x: F.linear_forward(x, np.ones((2, 3))),
            lambda d, cache: F.linear_backward(d, cache)[:1], [masked]), "inputs[0]", ()),
        "to_device": (lambda: to_device(masked, "cpu"), "a", ()),
        "save_weights": (lambda: nplstm.save_weights({"w": masked}, tmp_path / "w.npz"),
                         "state_dict['w']", ()),
        "Parameter": (lambda: nplstm.Parameter(masked), "data", ()),
        "matrix x": (lambda: F.linear_forward(np.matrix(np.ones((2, 3))), np.ones((2, 3))),
                     "x", ()),
        "matrix weight": (lambda: F.linear_forward(np.ones((2, 3)),
                                                   np.matrix(np.ones((2, 3)))), "weight", ()),
    }


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")        # numpy.matrix's own
@pytest.mark.parametrize("name", ["load_state_dict", "SGD.load_state_dict", "save_checkpoint",
                                  "gradcheck", "to_device", "save_weights", "Parameter",
                                  "matrix x",
                                  "matrix weight"])
def test_masked_arrays_and_matrices_are_refused_by_name(tmp_path, name):
    call, argument, state = _masked_entries(tmp_path)[name]
    before = snapshot(*state)
    with pytest.raises(TypeError) as caught:
        call()
    message = str(caught.value)
    assert argument in message and ("masked array" in message or "numpy.matrix" in message), \
        message
    assert_unchanged(before, snapshot(*state))
    assert list(tmp_path.iterdir()) == []
