"""Bad input to the release's new entry points: a clear error that changes nothing.

The house pattern of tests/test_bad_inputs.py (its spoil tables and helpers), applied to

    compile_onnxruntime(module, threads=) and fast(x, state, lengths)
             fast's verdict on every spoiled x, state and lengths is module(x, ...)'s: the
             same refusal (type and message) or the same numbers (float32 round-off); the
             module is left exactly as it was
    jvpcheck, hvpcheck, adjoint_check (jvp_report=, vjp_report=)
             every bad setting is refused naming it before forward / jvp / grad is called
             (a count of directions or trials past COUNT_MAX was a run without end)
    functional.gauss_newton
             every spoiled x, params[k], vectors[k], targets, cache is refused naming it,
             and leaves every array given as it was (a vector of another dtype was cast
             silently; None, lists and (B, T) targets reached an AttributeError or wrong math)
    exercises.check(name, namespace, timeout=, isolate=) and load_weights(path, max_ratio=)
             a refused call names the argument and leaves the namespace and the file alone
             (a huge timeout or max_ratio was an OverflowError, a too-long path an OSError)

A refusal is a ``ValueError`` or ``TypeError`` (``WeightFileError``, a ValueError, for a file)
whose message names the argument.  The CLI's counterparts are rows of
tests/test_cli_bad_inputs.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nplstm
from nplstm import functional as F
from nplstm.exercises import check
from nplstm.exercises.solutions import sigmoid_tanh as sigmoid_tanh_solution
from nplstm.functional import gauss_newton as G
from nplstm.gradcheck.contract import COUNT_MAX

from .helpers import rel_error
from .strategies import seed
from .snapshots import assert_unchanged, snapshot
from .test_bad_inputs import (FLOAT_SPOILS, INDEX_SPOILS, LENGTHS_SPOILS, REFUSED, _masked,
                              _names)

pytest.importorskip("onnxruntime")
from nplstm.interop import compile_onnxruntime  # noqa: E402

EXAMPLES = max(2, settings.default.max_examples // 3)      # ci: 10 draws per test
F32 = 1e-4                     # onnxruntime against NumPy in float32: a few roundings apart

# -- spoiled settings: every one must be refused ---------------------------------------------

BAD_NUMBERS = {"None": None, "nan": float("nan"), "inf": float("inf"), "-inf": -float("inf"),
               "negative": -1, "bool": True, "str": "1", "list": [1], "array": np.array([1.0]),
               "complex": 1j}
BAD_COUNTS = {**BAD_NUMBERS, "zero": 0, "float": 2.0, "huge": 2**70, "numpy huge": np.int64(2**62)}


# -- compile_onnxruntime: fast(...) refuses exactly what module(...) refuses -----------------

def _outcome(call):
    """("refused", type, message) or ("ok", result)."""
    try:
        return ("ok", call())
    except REFUSED as err:
        return ("refused", type(err), str(err))


def _leaves(value):
    if isinstance(value, (tuple, list)):
        return [leaf for v in value for leaf in _leaves(v)]
    return [np.asarray(value)]


FAST_LENGTHS_SPOILS = {**LENGTHS_SPOILS,
                       "huge": (lambda a: [2**70] + list(a[1:]), "refused"),   # OverflowError
                       "negative": (lambda a: [-1] + list(a[1:]), "refused"),
                       "none": (lambda a: None, "same")}


def _float32_spoils():
    spoils = dict(FLOAT_SPOILS)
    spoils.pop("float32")                     # the module's own dtype: the valid call
    spoils["float64"] = (lambda a: a.astype(np.float64), "refused")
    spoils["none"] = (lambda a: None, "zeros")
    return spoils


@settings(max_examples=4)                # each compiles two onnxruntime sessions (~1 s)
@given(seed=seed, sizes=st.lists(st.integers(1, 5), min_size=4,
                                                      max_size=4, unique=True),
       kind=st.sampled_from(["LSTM", "RNN"]), batch_first=st.booleans())
def test_fast_refuses_what_the_module_refuses_and_agrees_on_the_rest(seed, sizes, kind,
                                                                     batch_first):
    T, B, I, H = sizes
    rng = np.random.default_rng(seed)
    module = getattr(nplstm, kind)(I, H, dtype="float32", batch_first=batch_first, seed=seed)
    fast = compile_onnxruntime(module, threads=1)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(np.float32)
    states = {n: rng.standard_normal((1, B, H)).astype(np.float32)
              for n in (("h0", "c0") if kind == "LSTM" else ("h0",))}
    lengths = np.array(rng.integers(1, T + 1, B))
    lengths[0] = T

    def call(f, a):
        state = (a["h0"], a["c0"]) if kind == "LSTM" else a["h0"]
        if kind == "LSTM" and a["h0"] is None and a["c0"] is None:
            state = None
        return f(a["x"], state, lengths=a["lengths"]) if f is module else \
            f(a["x"], state, a["lengths"])

    good = dict(x=x, lengths=lengths, **states)
    tried = 0
    for arg in good:
        spoils = FAST_LENGTHS_SPOILS if arg == "lengths" else _float32_spoils()
        for spoil_name, (spoil, _) in spoils.items():
            args = dict(good)
            args[arg] = spoil(good[arg])
            where = f"{kind}: {arg} spoiled by {spoil_name}"
            before = snapshot(module, args)
            got = _outcome(lambda: call(fast, args))
            assert_unchanged(before, snapshot(module, args))
            want = _outcome(lambda: call(module, args))
            # a one-state module's state is named as its argument (state), the LSTM's parts
            # as h0 and c0; either may appear where the pair itself is refused
            named = ("state" if got[0] == "refused" and "state" in got[2]
                     and arg in ("h0", "c0") else arg)
            if spoil_name == "nan":          # onnxruntime would return finite numbers
                assert got[0] == "refused" and got[1] is ValueError, (where, got)
                assert _names(got[2], named) and "NaN" in got[2], (where, got[2])
                assert want[0] == "ok" and any(np.isnan(w).any() for w in _leaves(want[1]))
                tried += 1
                continue
            assert got[0] == want[0], (where, got, want)
            if got[0] == "refused":
                assert got[1:] == want[1:], where
                assert _names(got[2], named), (where, got[2])
            else:
                for g, w in zip(_leaves(got[1]), _leaves(want[1])):
                    assert g.shape == w.shape and g.dtype == np.float32, where
                    assert rel_error(g, w) <= F32, (where, rel_error(g, w))
            tried += 1
    assert tried >= (60 if kind == "LSTM" else 40), tried


@pytest.mark.parametrize("threads, error", [
    *[(v, TypeError) for v in (True, 1.5, "2", [1], np.float64(2.0), float("nan"))],
    *[(v, ValueError) for v in (0, -1, 1025, 2**40, np.int64(2**40))]])
def test_compile_refuses_bad_threads_by_name(threads, error):
    module = nplstm.LSTM(2, 3, dtype="float32", seed=0)
    before = snapshot(module)
    with pytest.raises(error, match=r"^threads must be a positive int <= 1024, got"):
        compile_onnxruntime(module, threads=threads)
    assert_unchanged(before, snapshot(module))


@pytest.mark.parametrize("kind", ["GRU", "RNN"])
@pytest.mark.parametrize("state", ["pair", "one-tuple"])
def test_fast_one_state_module_refuses_an_lstm_style_state_tuple_as_the_module_does(kind, state):
    module = getattr(nplstm, kind)(2, 3, seed=0)
    h0 = np.zeros((1, 1, 3), np.float32)
    given = (h0, h0) if state == "pair" else (h0,)
    x = np.zeros((4, 1, 2), np.float32)
    before = snapshot(module, given)
    with pytest.raises(TypeError, match=r"^state must be one array h0 or None \(a GRU's or an "
                       r"RNN's state is h alone, not an LSTM's \(h, c\) pair\), got tuple"):
        compile_onnxruntime(module)(x, given)
    assert _outcome(lambda: module(x, given))[:2] == ("refused", TypeError)
    assert_unchanged(before, snapshot(module, given))


@pytest.mark.parametrize("path", [None, 3])
@pytest.mark.parametrize("call", ["save_weights", "load_weights", "import_onnx", "export_onnx"])
def test_weight_file_functions_refuse_a_path_that_is_not_one_by_name(call, path, tmp_path,
                                                                      monkeypatch):
    # save_weights, import_onnx and export_onnx let os.fspath say "expected str, bytes or
    # os.PathLike object, not NoneType", naming no argument (load_weights named it)
    from nplstm import interop
    monkeypatch.chdir(tmp_path)
    module = nplstm.GRU(2, 3, seed=0)
    args = {"save_weights": (module.state_dict(), path), "export_onnx": (module, path)}
    with pytest.raises(TypeError) as info:
        getattr(interop, call)(*args.get(call, (path,)))
    assert str(info.value) == f"path must be a str or os.PathLike, got {type(path).__name__}"
    assert not any(tmp_path.iterdir())


# -- jvpcheck, hvpcheck, adjoint_check: settings refused before anything runs ----------------

def _square_problem(calls):
    """f(x) = x², its JVP, gradient (of ½Σx²·2 …) and HVP, each counting its calls."""
    def counted(f):
        def wrapped(*a):
            calls.append(f.__name__)
            return f(*a)
        return wrapped

    @counted
    def forward(x):
        return x ** 2, x

    @counted
    def jvp(t, cache):
        return 2 * cache * t[0]

    @counted
    def grad(x):
        return (2 * x,)

    @counted
    def hvp(v, x):
        return (2 * v[0],)

    @counted
    def adjoint_jvp(inputs, t):
        return inputs[0] ** 2, 2 * inputs[0] * t[0]

    @counted
    def vjp(inputs, u):
        return (2 * inputs[0] * u,)

    return forward, jvp, grad, hvp, adjoint_jvp, vjp


def _checker(name, x, calls, **kwargs):
    forward, jvp, grad, hvp, adjoint_jvp, vjp = _square_problem(calls)
    if name == "jvpcheck":
        return nplstm.jvpcheck(forward, jvp, [x], **kwargs)
    if name == "hvpcheck":
        return nplstm.hvpcheck(grad, hvp, [x], **kwargs)
    return nplstm.adjoint_check(adjoint_jvp, vjp, [x], **kwargs)


REAL_SETTINGS = {"eps": False, "atol": True, "rtol": True, "nondet_tol": False}   # None ok?
SETTINGS = {                 # checker: {setting: bad values}
    "jvpcheck": {**{s: [k for k in BAD_NUMBERS if not (k == "None" and none_ok)]
                    for s, none_ok in REAL_SETTINGS.items() if s != "eps"},
                 "eps": [k for k in BAD_NUMBERS if k != "None"] + ["zero", "huge"],
                 "seed": [k for k in BAD_COUNTS if k != "zero" and "huge" not in k],
                 "directions": list(BAD_COUNTS),
                 "richardson": ["None", "negative", "str", "zero"],
                 "raise_exception": ["None", "negative", "str", "zero"]},
    "hvpcheck": {"eps": [k for k in BAD_NUMBERS if k != "None"] + ["zero", "huge"],
                 "atol": [k for k in BAD_NUMBERS if k != "None"],
                 "directions": list(BAD_COUNTS),
                 "samples": [k for k in BAD_COUNTS if "huge" not in k],   # clamped to the size
                 "mode": ["None", "str", "negative"],
                 "richardson": ["None", "negative", "str", "zero"]},
    "adjoint_check": {"trials": list(BAD_COUNTS),
                      "rtol": [k for k in BAD_NUMBERS if k != "None"],
                      "seed": [k for k in BAD_COUNTS if k != "zero" and "huge" not in k],
                      "raise_exception": ["None", "negative", "str", "zero"],
                      "jvp_report": ["negative", "str", "list", "array"],
                      "vjp_report": ["negative", "str", "list", "array"]},
}
SPOILED_SETTINGS = [(checker, setting, bad) for checker, table in SETTINGS.items()
                    for setting, bads in table.items() for bad in bads]
SETTING_VALUES = {**BAD_COUNTS, "huge": 2**70}


@settings(max_examples=EXAMPLES)
@given(case=st.sampled_from(SPOILED_SETTINGS), shape=st.lists(st.integers(1, 4), min_size=1,
                                                              max_size=3),
       seed=seed)
def test_checkers_refuse_a_bad_setting_by_name_before_calling_anything(case, shape, seed):
    checker, setting, bad = case
    x = np.random.default_rng(seed).standard_normal(shape)
    kept = x.copy()
    calls = []
    with pytest.raises(REFUSED) as info:
        _checker(checker, x, calls, **{setting: SETTING_VALUES[bad]})
    assert _names(str(info.value), setting), (case, str(info.value))
    assert calls == [], f"{checker} called {calls} before refusing {setting}={bad}"
    np.testing.assert_array_equal(x, kept)


def test_every_checker_setting_case_is_tried():
    """The cases above, all of them once (hypothesis samples some)."""
    x = np.ones((2, 3))
    for checker, setting, bad in SPOILED_SETTINGS:
        calls = []
        with pytest.raises(REFUSED) as info:
            _checker(checker, x, calls, **{setting: SETTING_VALUES[bad]})
        assert _names(str(info.value), setting) and calls == [], (checker, setting, bad)
    assert len(SPOILED_SETTINGS) >= 100


@pytest.mark.parametrize("checker, setting", [("jvpcheck", "directions"),
                                              ("hvpcheck", "directions"),
                                              ("adjoint_check", "trials")])
def test_a_count_is_bounded_so_a_check_ends(checker, setting):
    """COUNT_MAX is accepted as a setting; one more is refused (it was a run without end)."""
    with pytest.raises(ValueError, match=rf"^{setting} must be a positive int <= {COUNT_MAX}"):
        _checker(checker, np.ones(2), [], **{setting: COUNT_MAX + 1})


def test_adjoint_check_refuses_reports_given_the_wrong_way_round():
    """A jvpcheck report as vjp_report (or a gradcheck one as jvp_report) would make the
    failing input's note blame the wrong side: refused by name."""
    x = np.random.default_rng(0).standard_normal((2, 3))
    forward, jvp, _, _, adjoint_jvp, vjp = _square_problem([])
    jvp_report = nplstm.jvpcheck(forward, jvp, [x])

    def backward(doutput, cache):
        return (2 * cache * doutput,)
    vjp_report = nplstm.gradcheck(forward, backward, [x])
    for kwargs, named in [(dict(jvp_report=vjp_report, vjp_report=jvp_report), "jvp_report"),
                          (dict(jvp_report=jvp_report, vjp_report=jvp_report), "vjp_report")]:
        with pytest.raises(ValueError, match=rf"^{named} must be a report from"):
            nplstm.adjoint_check(adjoint_jvp, vjp, [x], **kwargs)
    assert nplstm.adjoint_check(adjoint_jvp, vjp, [x], jvp_report=jvp_report,
                                vjp_report=vjp_report).passed


# -- gauss_newton: every argument spoiled -------------------------------------------------------

def _readout_case(rng, T, B, I, H, O, loss):
    n = lambda *shape: rng.standard_normal(shape)               # noqa: E731
    params = (n(4 * H, I), n(4 * H, H), n(4 * H), n(4 * H), n(O, H), n(O))
    targets = rng.integers(0, O, (T, B)) if loss == "cross_entropy" else n(B, O)
    vectors = tuple(n(*p.shape) for p in params)
    return n(T, B, I), params, targets, vectors


def _gn_spoils(kind):
    if kind == "index":
        spoils = dict(INDEX_SPOILS)
        spoils["(B, T)"] = (lambda a: np.ascontiguousarray(a.T), "refused")   # wrong math
        return spoils
    spoils = {k: v for k, v in FLOAT_SPOILS.items() if v[1] in ("refused", "same")}
    spoils["none"] = (lambda a: None, "refused")
    return spoils


@settings(max_examples=max(2, EXAMPLES // 2))       # ~300 spoiled calls each
@given(seed=seed, sizes=st.lists(st.integers(1, 6), min_size=5,
                                                      max_size=5, unique=True),
       loss=st.sampled_from(G.READOUT_LOSSES))
def test_gauss_newton_refuses_every_spoiled_argument_by_name(seed, sizes, loss):
    T, B, I, H, O = sizes
    x, params, targets, vectors = _readout_case(np.random.default_rng(seed), T, B, I, H, O,
                                                loss)
    want = G.gauss_newton_product(x, params, targets, vectors, loss=loss)
    args = {"x": x, "targets": targets,
            **{f"params[{n}]": p for n, p in zip(G.READOUT_NAMES, params)},
            **{f"vectors[{n}]": v for n, v in zip(G.READOUT_NAMES, vectors)}}

    def run(a):
        return G.gauss_newton_product(
            a["x"], tuple(a[f"params[{n}]"] for n in G.READOUT_NAMES), a["targets"],
            tuple(a[f"vectors[{n}]"] for n in G.READOUT_NAMES), loss=loss)

    counts = {"refused": 0, "same": 0}
    for arg, good in args.items():
        kind = "index" if arg == "targets" and loss == "cross_entropy" else "float"
        for spoil_name, (spoil, expectation) in _gn_spoils(kind).items():
            if arg == "targets" and loss == "cross_entropy" and spoil_name == "(B, T)" \
                    and T == B:
                continue
            spoiled = dict(args)
            spoiled[arg] = spoil(good)
            where = f"{loss}: {arg} spoiled by {spoil_name}"
            before = snapshot(spoiled)
            try:
                got = run(spoiled)
            except REFUSED as err:
                assert expectation == "refused", (where, str(err))
                short = arg.split("[")[-1].rstrip("]")     # params[weight_ih] or weight_ih
                assert _names(str(err), arg) or _names(str(err), short), (where, str(err))
                assert_unchanged(before, snapshot(spoiled))
                counts["refused"] += 1
                continue
            assert expectation == "same", f"{where} was accepted"
            for g, w in zip(got, want):
                assert g.dtype == np.float64 and rel_error(g, w) <= 1e-10, where
            counts["same"] += 1
    assert counts["refused"] >= 150 and counts["same"] >= 20, counts


def test_hessian_products_and_readout_backward_refuse_bad_caches_and_tangents():
    rng = np.random.default_rng(0)
    _, ce = F.cross_entropy_forward(rng.standard_normal((4, 3)), np.array([0, 1, 2, 0]))
    _, mse = F.mse_forward(rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    good = rng.standard_normal((4, 3))
    cases = [
        (lambda: G.cross_entropy_hessian_product(None, good), "cache"),
        (lambda: G.cross_entropy_hessian_product(mse, good), "cache"),
        (lambda: G.cross_entropy_hessian_product(ce, good.tolist()), "logits_dot"),
        (lambda: G.cross_entropy_hessian_product(ce, good[:, :2]), "logits_dot"),
        (lambda: G.cross_entropy_hessian_product(ce, good.astype(np.float32)), "logits_dot"),
        (lambda: G.cross_entropy_hessian_product(ce, _masked(good)), "logits_dot"),
        (lambda: G.mse_hessian_product(tuple(mse), good[:2]), "cache"),
        (lambda: G.mse_hessian_product(mse, None), "pred_dot"),
        (lambda: G.mse_hessian_product(mse, good), "pred_dot"),            # (4, 3) ≠ (2, 3)
        (lambda: G.mse_hessian_product(mse, good[:2].astype(np.float16)), "pred_dot"),
        (lambda: G.readout_backward(good, None), "cache"),
        (lambda: G.readout_backward(good, ce), "cache"),
    ]
    for k, (call, name) in enumerate(cases):
        with pytest.raises(REFUSED) as info:
            call()
        assert _names(str(info.value), name), (k, str(info.value))


# -- exercises.check and load_weights ------------------------------------------------------------

CHECK_ARGUMENTS = {
    "name": [None, 1, b"sigmoid_tanh", ["sigmoid_tanh"], "nope", "", "x" * 10**5],
    "namespace": [None, [], "sigmoid_tanh", {}, {"sigmoid_backward": 1, "tanh_backward": 2}],
    "timeout": [0, -1, float("nan"), float("inf"), True, "5", 10**400, 1e300, 2**63, [1]],
    "isolate": [None, 1, 0, "yes", [True]],
}


@settings(max_examples=EXAMPLES)
@given(case=st.sampled_from([(a, v) for a, vs in CHECK_ARGUMENTS.items()
                             for v in range(len(vs))]))
def test_exercise_check_refuses_a_bad_argument_by_name(case):
    arg, index = case
    namespace = dict(vars(sigmoid_tanh_solution))
    kept = dict(namespace)
    call = {"name": "sigmoid_tanh", "namespace": namespace, "timeout": 60, "isolate": False}
    call[arg] = CHECK_ARGUMENTS[arg][index]
    with pytest.raises(REFUSED) as info:
        check(call["name"], call["namespace"], timeout=call["timeout"],
              isolate=call["isolate"])
    message = str(info.value)
    assert _names(message, arg) or (arg == "name" and "unknown exercise" in message), message
    assert len(message) < 1000, len(message)          # a name of 10⁵ characters is cut
    assert namespace == kept


def test_every_exercise_check_case_is_tried():
    for arg, values in CHECK_ARGUMENTS.items():
        for index in range(len(values)):
            test_exercise_check_refuses_a_bad_argument_by_name.hypothesis.inner_test(
                (arg, index))


@pytest.mark.parametrize("path, max_ratio, error, named", [
    *[(p, 2.0, TypeError, "path") for p in (None, 1, b"w.npz", ["w.npz"])],
    ("x" * 5000 + ".npz", 2.0, nplstm.interop.WeightFileError, "File name too long"),
    *[("{file}", r, ValueError, "max_ratio") for r in (0, 0.5, -1, float("nan"),
                                                       float("inf"), 1e400)],
    *[("{file}", r, TypeError, "max_ratio") for r in (True, "2", [2])],
])
def test_load_weights_refuses_a_bad_path_or_max_ratio_by_name(tmp_path, path, max_ratio, error,
                                                              named):
    file = tmp_path / "w.npz"
    np.savez(file, weight=np.ones(3, np.float32))
    kept = (file.read_bytes(), os.stat(file).st_mtime_ns)
    if path == "{file}":
        path = str(file)
    with pytest.raises(error) as info:
        nplstm.load_weights(path, max_ratio=max_ratio)
    assert named in str(info.value) and "\n" not in str(info.value)
    assert len(str(info.value)) < 400
    assert (file.read_bytes(), os.stat(file).st_mtime_ns) == kept


def test_load_weights_takes_a_huge_int_max_ratio_as_no_practical_limit(tmp_path):
    """An int past float64's range is a valid (huge) limit, not an OverflowError; a NumPy
    int is a number as any other (checks.check_real)."""
    file = tmp_path / "w.npz"
    np.savez_compressed(file, weight=np.arange(3, dtype=np.float32))
    for max_ratio in (10**400, np.int64(5)):
        got = nplstm.load_weights(file, max_ratio=max_ratio)
        np.testing.assert_array_equal(got["weight"], np.arange(3, dtype=np.float32))
