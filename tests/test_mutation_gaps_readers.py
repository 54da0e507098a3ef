"""Tests written for the mutants of the readers and the grader that the rest of the suite let
live (issue 21; docs/mutation.md, "The readers and the grader").

Each test names the mutant (``module.function#k`` of tests/mutation/mutate.py) it was written
for.  Expected values come from an independent source: Python's own ``pickle``, torch where
it is installed, or the definition written out, never from the function under test.
"""

import collections
import io
import pickle

import numpy as np
import pytest

from nplstm.interop.torch_zip import pickle_state_dict


# -- interop/torch_zip.py: writing data.pkl ------------------------------------------------

class _RecordingUnpickler(pickle.Unpickler):
    """Python's unpickler, with torch's globals as plain records: a tensor is the tuple of
    its ``_rebuild_tensor_v2`` arguments, a storage its persistent id."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda *args: args
        return f"{module}.{name}"

    def persistent_load(self, pid):
        return pid


@pytest.mark.parametrize("shape", [(2**31,), (3, 2**31 + 5), (2**20, 2**20), (0, 2**33)])
def test_sizes_past_two_to_the_31_are_written_as_pythons_pickle_reads_them(shape):
    """numel, shape and strides of 2**31 or more go out as LONG1 integers that Python's
    pickle reads back exactly (no array is made: only the opcodes).  Written for
    ``(bit_length + 8) // 8`` → ``* 8`` bytes (torch_pickle_write._emit_int, #10; now in
    torch_zip): a 320-byte
    LONG1 whose length does not fit its one length byte, so writing a tensor of 2**31
    elements or more raised."""
    data = pickle_state_dict([("w", shape, np.dtype(np.float32))])
    state = _RecordingUnpickler(io.BytesIO(data)).load()
    pid, offset, got_shape, stride, requires_grad, hooks = state["w"]
    numel = int(np.prod(shape, dtype=object))
    assert pid == ("storage", "torch.FloatStorage", "0", "cpu", numel)
    assert (offset, got_shape, requires_grad, hooks) == (0, shape, False, {})
    # C order, a size-0 axis counted as 1 (as torch writes it)
    assert stride == tuple(int(np.prod([max(n, 1) for n in shape[k + 1:]], dtype=object))
                           for k in range(len(shape)))


# -- interop/torch_zip.py: the archive's folder ----------------------------------------------

def _torch_file_with(tmp_path, extra: str):
    """A torch file (save_weights) with one more record named ``extra``."""
    import zipfile
    import nplstm
    path = tmp_path / "w.pt"
    nplstm.save_weights({"w": np.arange(3.0, dtype=np.float32)}, path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(extra, b"hello")
    return path


@pytest.mark.parametrize("extra", ["other/note.txt", "x/y/data.pkl", "note.txt"])
def test_a_record_outside_the_archives_folder_is_refused_as_torch_refuses_it(tmp_path, extra):
    """torch reads an archive only when every record is in the folder of its first record
    ("file in archive is not in a subdirectory"); nplstm refuses such a file too, naming the
    record, instead of reading the arrays beside it.  Written for ``and`` → ``or`` in
    torch_zip._archive_folder (#4), which refused only some of these (as "not a torch
    archive") while the reader accepted them all."""
    from nplstm.interop import WeightFileError, load_weights
    path = _torch_file_with(tmp_path, extra)
    with pytest.raises(WeightFileError, match=f"outside.*'{extra}'"):
        load_weights(path)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="not in a subdirectory"):
        torch.load(path, weights_only=True)


def test_more_records_inside_the_archives_folder_are_read_as_torch_reads_them(tmp_path):
    """A record torch does not know, inside the archive's folder, is left alone by both."""
    from nplstm.interop import load_weights
    path = _torch_file_with(tmp_path, "archive/extra/thing")
    np.testing.assert_array_equal(load_weights(path)["w"], np.arange(3.0, dtype=np.float32))
    torch = pytest.importorskip("torch")
    assert torch.load(path, weights_only=True)["w"].tolist() == [0.0, 1.0, 2.0]


# -- interop/files.py: bfloat16 in safetensors -----------------------------------------------

def test_bfloat16_tensors_around_other_tensors_are_each_read_at_their_own_offsets(tmp_path):
    """Two bfloat16 tensors with a float32 one between them (and stored in the other order
    from their names): each is read from its own data_offsets.  Written for the deleted
    ``f.seek(start + begin)`` (files._read_safetensors_bfloat16#10): reading on from where
    the previous tensor ended gave the float32 tensor's bytes as the second bfloat16."""
    import warnings
    pytest.importorskip("safetensors")
    from nplstm.interop import load_weights
    from .test_interop_limits import safetensors_file
    # float32 values whose low 16 bits are 0: bfloat16 is their high half, exactly
    first = np.array([1.5, -2.25, 3.0], np.float32)
    second = np.array([[0.5], [-65280.0]], np.float32)
    middle = np.array([7.0, 8.0, 9.0, 10.0], np.float32)

    def bf16(values):
        return (values.view(np.uint32) >> 16).astype("<u2").tobytes()

    path = safetensors_file(tmp_path / "mixed.safetensors", {
        "z_second": ("BF16", second.shape, bf16(second)),
        "m_middle": ("F32", middle.shape, middle.astype("<f4").tobytes()),
        "a_first": ("BF16", first.shape, bf16(first))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = load_weights(path)
    assert sorted(got) == ["a_first", "m_middle", "z_second"]
    for name, want in [("a_first", first), ("z_second", second), ("m_middle", middle)]:
        assert got[name].dtype == np.float32 and got[name].shape == want.shape
        assert got[name].tobytes() == want.tobytes(), name


# -- checks.printable_name (was interop/shown.py) -----------------------------------------

@pytest.mark.parametrize("text, want", [
    ("lstm.weight_ih_l0", "lstm.weight_ih_l0"),
    ("a\nb", "a\\nb"),                                  # a newline cannot start a forged line
    ("\x1b[2Jfits: yes", "\\x1b[2Jfits: yes"),           # nor an escape clear the screen
    ("it's\t", "it's\\t"),
    (7, "7"),
])
def test_shown_escapes_what_is_not_printable_and_adds_nothing(text, want):
    """The text escaped as repr escapes it, without repr's quotes.  Written for
    ``repr(text)[1:-1]`` → ``[0:-1]`` (shown.shown#9, the helper folded into
    checks.printable_name since): an opening quote and no closing one in every message
    naming a key with a newline or an escape."""
    from nplstm.checks import printable_name
    assert printable_name(text) == want


def test_shown_cuts_at_its_limit():
    from nplstm.checks import printable_name
    assert printable_name("x" * 120) == "x" * 120
    assert printable_name("x" * 121) == "x" * 120 + "…(121 characters)"
    assert printable_name("\n" * 10, limit=5) == "\\n\\n…(10 characters)"


# -- interop/keras_layers.py: names in a bare .weights.h5 ------------------------------------

def test_unnamed_lstm_groups_of_a_bare_weights_file_are_named_by_their_last_path_part(tmp_path):
    """Two LSTM layers whose groups carry no ``vars`` name attribute (Keras writes one; a
    file written by another tool may not): each is prefixed with the last part of its h5
    path.  Written for ``path.rsplit("/", 1)[-1]`` → ``[-2]`` and ``[-0]``
    (keras_layers._h5_name#8, #9): "/layers" for both layers."""
    h5py = pytest.importorskip("h5py")
    from nplstm.interop.keras import read_keras_weights
    from .test_interop_keras import _write_lstm
    rng = np.random.default_rng(3)
    path = tmp_path / "two.weights.h5"
    with h5py.File(path, "w") as f:
        kernels = {name: _write_lstm(f.create_group(f"layers/{name}"), rng, 3, 4)["0"][()]
                   for name in ("lstm", "lstm_1")}
    state = read_keras_weights(path)
    assert sorted(state) == sorted(f"{name}.{kind}_l0" for name in ("lstm", "lstm_1")
                                   for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    for name, kernel in kernels.items():
        np.testing.assert_array_equal(state[f"{name}.weight_ih_l0"], kernel.T)


def test_a_mask_in_a_model_without_an_lstm_is_not_blamed(tmp_path):
    """A mask matters only to the LSTM layers after it: a model with a Masking layer and no
    LSTM is refused for having no LSTM, not for its mask.  Written for ``found and not
    group_path`` → ``found or not group_path`` (keras_layers.layers_from_config#68): the
    mask sentence ("Keras's LSTM layers after a mask keep their state …") for a model
    that has none."""
    pytest.importorskip("h5py")
    from nplstm.interop import WeightFileError
    from nplstm.interop.keras import read_keras_weights
    from .test_interop_keras import _keras_file
    layers = [{"class_name": "Masking", "config": {"name": "pad_mask", "mask_value": 0.0}},
              {"class_name": "Dense", "config": {"name": "dense", "units": 2}}]
    path = _keras_file(tmp_path, layers, lambda f: f.create_group("layers/dense"))
    with pytest.raises(WeightFileError, match="holds no Keras LSTM layer") as caught:
        read_keras_weights(path)
    assert "masks time steps" not in str(caught.value)


# -- interop/onnx_import.py: what counts as stored -------------------------------------------

def test_a_weight_computed_by_a_node_with_a_value_attribute_is_not_taken_as_stored(tmp_path):
    """W made by ConstantOfShape (an operator with a ``value`` attribute, like Constant's,
    but whose output is that value broadcast to a computed shape) is not a stored W: it is
    refused by name, as any computed weight is.  Written for ``op_type == 'Constant' and
    node.output`` → ``or`` (onnx_import._stored_tensors#1): the one-element ``value`` was
    taken for W itself (then refused only for its shape)."""
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper
    from nplstm.interop import UnsupportedModelError
    from nplstm.interop.onnx_import import import_onnx
    from .test_interop_onnx import _lstm_model, _save
    model, weights = _lstm_model()
    kept = [t for t in model.graph.initializer if t.name != "W"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + [numpy_helper.from_array(
        np.array(weights["W"].shape, np.int64), "W_shape")])
    model.graph.node.insert(0, helper.make_node(
        "ConstantOfShape", ["W_shape"], ["W"],
        value=numpy_helper.from_array(np.array([0.25], np.float64))))
    path = _save(model, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(path))
    with pytest.raises(UnsupportedModelError, match="its W \\('W'\\) is not stored in the file"):
        import_onnx(path)


def test_a_w_without_its_direction_axis_is_refused_with_its_input_size_left_open(tmp_path):
    """A 2-D W (4H, I), missing ONNX's direction axis: the message gives the shape W must
    have, (D, 4H, -1), the -1 standing for any input size, and the shape it has.  Written for
    ``-1`` → ``-0`` there (onnx_import._lstm_from_node#56): "(1, 16, 0)", an input size of
    0, which no LSTM has."""
    pytest.importorskip("onnx")
    from onnx import numpy_helper
    from nplstm.interop import WeightFileError
    from nplstm.interop.onnx_import import import_onnx
    from .test_interop_onnx import _lstm_model, _save
    model, weights = _lstm_model()
    kept = [t for t in model.graph.initializer if t.name != "W"]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + [numpy_helper.from_array(weights["W"][0], "W")])
    path = _save(model, tmp_path / "m.onnx")
    with pytest.raises(WeightFileError, match=r"W must be float64 of shape \(1, 16, -1\) for "
                                              r"direction 'forward', got float64 \(16, 3\)"):
        import_onnx(path)


# -- interop/reverse_lstm.py -----------------------------------------------------------------

@pytest.mark.parametrize("steps", [3, 5])
def test_a_reverse_lstm_refuses_a_doutput_of_other_steps_by_name(steps):
    """With lengths, a doutput of T ± 1 steps is refused as LSTM.backward refuses it (a
    ValueError naming doutput), and the tape is left for a right retry.  Written for
    ``doutput is not None and shape == output_shape`` → ``or`` (reverse_lstm.ReverseLSTM
    .backward#8): every doutput was flipped by the time index, so T + 1 steps were cut to
    T and accepted, and T − 1 steps gave NumPy's IndexError."""
    from nplstm.interop import ReverseLSTM
    rng = np.random.default_rng(4)
    T, B, I, H = 4, 3, 2, 3
    rev = ReverseLSTM(I, H, dtype="float64", seed=1)
    rev(rng.standard_normal((T, B, I)), lengths=[4, 2, 3])
    with pytest.raises(ValueError, match="doutput"):
        rev.backward(rng.standard_normal((steps, B, H)))
    dx, _ = rev.backward(rng.standard_normal((T, B, H)))
    assert dx.shape == (T, B, I)


def test_a_reverse_lstm_undoes_two_recorded_forwards_latest_first():
    """Two forwards, then two backwards: each backward undoes the latest forward, as two
    fresh modules (same seed) each undoing their one forward do.  Written for
    ``self._tape[-1] = entry`` → ``self._tape[-0]`` (reverse_lstm.ReverseLSTM.backward#17):
    the same with one forward on the tape, but with two it overwrote the first forward's
    entry and left the second one's (entry, flip) pair for the parent's backward."""
    from nplstm.interop import ReverseLSTM
    rng = np.random.default_rng(6)
    T, B, I, H = 4, 3, 2, 3
    xs = [rng.standard_normal((T, B, I)) for _ in range(2)]
    lengths = [[4, 2, 3], [1, 4, 2]]
    douts = [rng.standard_normal((T, B, H)) for _ in range(2)]
    rev = ReverseLSTM(I, H, dtype="float64", seed=1)
    for x, n in zip(xs, lengths):
        rev(x, lengths=n)
    got = [rev.backward(douts[1])[0], rev.backward(douts[0])[0]]
    want, grads = [], []
    for k in (1, 0):
        fresh = ReverseLSTM(I, H, dtype="float64", seed=1)
        fresh(xs[k], lengths=lengths[k])
        want.append(fresh.backward(douts[k])[0])
        grads.append([p.grad for p in fresh.parameters()])
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    for p, g1, g0 in zip(rev.parameters(), *grads):
        np.testing.assert_array_equal(p.grad, g1 + g0)


# -- io/atomic.py, io/checkpoint.py ----------------------------------------------------------

@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"),
                    reason="reads the umask from /proc (Linux)")
def test_the_umask_is_read_from_proc_without_setting_it(monkeypatch):
    """Where /proc tells the umask, it is read there: os.umask (which sets it, racing other
    threads' file creation) is not called.  Written for the negated ``if
    line.startswith('Umask:')`` (atomic._umask#0): the first line's "Name:" failed to
    parse, and the umask was set and reset instead (the same number, by the race-prone
    way)."""
    import os
    from nplstm.io import atomic
    mask = os.umask(0o022)
    os.umask(mask)

    def refuse(value):
        raise AssertionError("os.umask called")
    monkeypatch.setattr(atomic.os, "umask", refuse)
    assert atomic._umask() == mask


@pytest.mark.parametrize("extra, cut", [(0, False), (1, True)])
def test_a_foreign_errors_description_is_cut_only_past_its_limit(extra, cut):
    """``_describe`` keeps a one-line description of exactly ``limit`` characters whole and
    cuts a longer one to ``limit`` + "…(N characters)" (checks.printable_text).  Written for
    ``len(text) <= limit`` → ``<`` (then checkpoint_read._describe#3): a "…" after a
    description that was not cut."""
    from nplstm.io.checkpoint import _describe
    text = "ValueError: " + "x" * (300 - len("ValueError: ") + extra)
    got = _describe(ValueError(text[len("ValueError: "):]))
    assert got == (text[:300] + f"…({len(text)} characters)" if cut else text)


# -- exercises/compare.py --------------------------------------------------------------------

def test_a_gate_block_off_by_exactly_the_tolerance_is_named_wrong():
    """The verdict calls an output wrong when its error is >= the tolerance; the gate-block
    locator agrees at the boundary: a block off by exactly tol·scale is named.  Written for
    ``< tol * scale`` → ``<=`` in compare._gate_blocks (#7): no block was wrong, and the
    sentence read "wrong in gate block ; i, f, g, o right"."""
    from nplstm.exercises.compare import _gate_blocks
    want = np.array([[0.5, -0.5], [1.0, 0.25], [0.5, 0.5], [-0.25, 0.5]])   # (4H, 2), H = 1
    got = want.copy()
    got[1, 0] = 0.75                     # off by 0.25 = tol · scale exactly (scale = 1.0)
    assert _gate_blocks(got, want, 0, 0.25) == "wrong in gate block f (rows H:2H); i, g, o right"


def test_an_alternative_off_by_exactly_the_tolerance_is_not_named():
    """A named mistake is claimed when the answer matches it as a right answer matches the
    reference (relative error < tol); at exactly tol it is not.  Written for ``< tol`` →
    ``<=`` in compare.diagnose's alternatives (#18)."""
    from nplstm.exercises.compare import OutputSpec, diagnose
    from nplstm.exercises.result import REFERENCE_TOLERANCE as tol
    alternative = np.array([1.0, 0.0, 0.5])
    got = np.array([1.0, tol, 0.5])              # relative error tol / 1.0 = tol, exactly
    want = np.array([5.0, -3.0, 2.0])
    spec = OutputSpec("y", ("N",))
    assert diagnose(spec, got, want, [("the named mistake", alternative)]) == ""
    assert diagnose(spec, got, want, [("the named mistake", got.copy())]) == \
        "the named mistake"


def test_agreeing_with_the_reference_but_off_differences_by_exactly_their_tolerance():
    """Right against the reference, and central differences off by exactly
    DIFFERENCES_TOLERANCE: that counts as disagreeing (>=), and the row says so.  Written
    for ``numeric >= DIFFERENCES_TOLERANCE`` → ``>`` in compare._add (#25)."""
    from nplstm.exercises.compare import OutputSpec
    from nplstm.exercises.compare import YOUR_FORWARD, Compared, _add, _forward_differs
    from nplstm.exercises.result import DIFFERENCES_TOLERANCE as tol
    want = np.array([1.0, 0.0, 0.5])
    numeric = np.array([1.0, tol, 0.5])          # relative error exactly tol (scale 1.0)
    rows = {}
    _add(rows, Compared(OutputSpec("y", ("N",)), want.copy(), want, numeric=numeric))
    assert rows["y"].reference == 0.0 and rows["y"].differences == tol
    assert rows["y"].where == _forward_differs(YOUR_FORWARD)


# -- exercises/graders.py --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sigmoid_tanh", "linear", "softmax_cross_entropy",
                                  "lstm_cell_backward", "lstm_bptt"])
def test_a_solutions_report_holds_its_reference_error_and_its_differences_apart(name,
                                                                                tmp_path):
    """The report's two columns: the error against the reference, which a solution meets to
    float64 round-off (it computes the same formulas), and against central differences,
    whose own error is about 1e-10.  Written for ``zip(specs, got, want, numeric, …)`` →
    ``zip(specs, got, numeric, want, …)`` (graders._grade_linear#41): the verdict compared
    against central differences (still under the tolerance for a linear layer) and the
    report showed the two columns exchanged."""
    from nplstm.exercises import grade_here, solution_source
    from nplstm.exercises.result import DIFFERENCES_TOLERANCE
    from .test_exercises import _write
    result = grade_here(_write(tmp_path, name, solution_source(name)), name)
    rows = [row for report in result.reports for row in report.rows]
    assert result.passed and rows
    for row in rows:
        assert row.reference <= 1e-13, (row.name, row.reference)
        assert row.differences is None or 1e-13 < row.differences < DIFFERENCES_TOLERANCE, \
            (row.name, row.differences)


# -- io/checkpoint.py: reading -----------------------------------------------------------------

def test_an_array_named_as_a_bare_section_is_in_no_section(tmp_path):
    """A member named "model/" exactly (the section's name with nothing after it) is in no
    section, and the checkpoint is refused.  Written for ``len(k) > len(s)`` → ``>=``
    (checkpoint_read._recorded_arrays#12): "model/" counted as an array of the model."""
    from .test_io import _assert_refused, _rewrite, _save, format_1_contents
    path = tmp_path / "checkpoint.npz"
    _save(path, format_1_contents())
    _rewrite(path, lambda d, a: (
        a.update({"model/": np.zeros(1)}),
        d["arrays"].update({"model/": {"shape": [1], "dtype": "<f8"}})))
    _assert_refused(path, r"arrays \['model/'\] are in none of the sections")


# -- exercises/mistakes.py -------------------------------------------------------------------

def test_weights_gradient_of_the_last_step_only_is_named_not_summed(tmp_path):
    """A learner whose dW_hh keeps only the first step BPTT walks (t = T−1, the last in
    time) is told it was overwritten instead of summed over t, as one keeping the step
    t = 0 is.  Written for ``steps[-1:]`` → ``steps[0:]`` in mistakes.bptt_gradients (#21):
    the "last step" alternative became the sum (the right answer), so this mistake went
    unnamed."""
    from nplstm.exercises import grade_here
    from .test_exercises import _planted, _report
    path = _planted(tmp_path, "lstm_bptt", "dW_hh += grads.weight_hh",
                    "dW_hh = grads.weight_hh if t == len(caches) - 1 else dW_hh")
    result = grade_here(path, "lstm_bptt")
    rows = {row.name: row for row in _report(result, "lstm_backward").rows}
    assert not rows["dW_hh"].passed
    assert "overwritten instead of summed over t" in rows["dW_hh"].where, rows["dW_hh"].where
    assert all(row.passed for name, row in rows.items() if name != "dW_hh")


# -- exercises/grading.py --------------------------------------------------------------------

@pytest.mark.parametrize("source, words", [
    ("def linear_backward(dy, x, W, b):\n    return dy @@ x\n", "syntax error"),
    ("import numpy as np\nnp.zeros(3) + np.zeros(4)\n", "crashed on import"),
    ("import os\nos._exit(3)\n", "ended without a result (exit status 3)"),
])
def test_a_file_that_fails_in_its_child_is_graded_as_a_whole_with_no_cases(tmp_path, source,
                                                                            words):
    """Graded in a child process, a file that cannot be run gets one result naming the
    exercise and the file, with 0 cases and one sentence.  Written for the GradeResult of a
    file that fails to open in the child (grading._grade_in_a_child#15: path and cases
    exchanged; #16: 1 case instead of 0)."""
    from nplstm.exercises import grade
    path = tmp_path / "linear.py"
    path.write_text(source, encoding="utf-8")
    result = grade(path, "linear", timeout=60)
    assert (result.exercise, result.path, result.cases, result.reports) == \
        ("linear", str(path), 0, [])
    assert not result.passed and words in result.problem and "\n" not in result.problem


def test_grading_in_a_child_closes_its_pipes():
    """The child's pipes are closed by the grader when it is done, not left to the garbage
    collector (Python warns: ResourceWarning, unclosed file).  Written for ``not
    pipe.closed`` → ``pipe.closed`` in grading._stop (#7): no pipe was ever closed."""
    import gc
    import warnings
    from pathlib import Path
    from nplstm.exercises import grade, solution_source
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "linear.py"
        path.write_text(solution_source("linear"), encoding="utf-8")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert grade(path, "linear", timeout=60).passed
            gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], \
        [str(w.message) for w in caught]


def test_only_the_end_of_a_childs_stderr_is_read(tmp_path):
    """Of the child's stderr file only the last _TAIL_BYTES are read (a print in a loop must
    not fill memory).  Written for ``stream.seek(0, os.SEEK_END)`` → ``seek(os.SEEK_END,
    0)`` in grading._tail (#1): the whole file was read."""
    from nplstm.exercises import grading
    data = bytes(range(256)) * 100 + b"\nthe last line\n"
    with open(tmp_path / "stderr.txt", "w+b") as stream:
        stream.write(data)
        tail = grading._tail(stream)
    assert tail == data[-grading._TAIL_BYTES:].decode("utf-8", "replace")


def test_a_child_that_closes_the_wire_gets_time_to_exit_with_its_own_status(tmp_path):
    """A learner's file that closes the grader's pipe and exits a moment later: the grader
    waits for the exit (up to _EXIT_WAIT) and names its status, instead of killing it
    first and naming SIGKILL's.  Written for grading.wait_for_exit's deadline
    ``monotonic() + seconds`` → ``-`` (#4) and ``found is not None`` → ``is None`` (#9):
    neither waited for a child still running."""
    from nplstm.exercises import grade
    path = tmp_path / "linear.py"
    # the wire is the child's private copies of stdin and stdout (fds above 2): closed here
    path.write_text("import os, time\nos.closerange(3, 1024)\ntime.sleep(0.3)\nos._exit(5)\n",
                    encoding="utf-8")
    result = grade(path, "linear", timeout=60)
    assert result.cases == 0 and not result.passed
    assert "ended without a result (exit status 5)" in result.problem, result.problem


# -- exercises/learner.py --------------------------------------------------------------------

def test_a_childs_error_sentence_is_cut_to_its_limit():
    """A learner's error sentence crosses the wire cut to _SENTENCE_LENGTH characters.
    Written for ``sentence[:_SENTENCE_LENGTH]`` → ``[:_SENTENCE_LENGTH + 1]``
    (learner.error_reply#0)."""
    from nplstm.exercises import learner, wire
    n = learner._SENTENCE_LENGTH
    for length in (n - 1, n, n + 1, 3 * n):
        header, arrays = wire.decode(learner.error_reply("é" * length))
        assert header == {"error": "é" * min(length, n)} and arrays == []


# -- exercises/wire.py -----------------------------------------------------------------------

def test_an_objects_names_from_the_child_are_cut_to_their_limit():
    """The type name and dtype a (possibly hostile) child sends for an object are cut to
    _NAME_LENGTH characters on the grader's side.  Written for ``[:_NAME_LENGTH]`` →
    ``[:_NAME_LENGTH + 1]`` in wire.rebuild (#21)."""
    from nplstm.exercises.wire import _NAME_LENGTH, Opaque, rebuild
    n = _NAME_LENGTH
    for length in (n - 1, n, n + 1, 5 * n):
        got = rebuild({"kind": "object", "type": "T" * length, "handle": 7,
                       "dtype": "d" * length}, [])
        assert got == Opaque("T" * min(length, n), 7, "d" * min(length, n))
