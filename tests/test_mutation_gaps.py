"""Tests written for the mutants of the backward passes that the rest of the suite let live.

docs/mutation.md lists every mutant (tests/mutation/mutate.py, one ``ast`` mutation at a
time) that survived the suite, and says for each either why it computes the same numbers
(an equivalent mutant) or which test below kills it.  Each test here names the mutants it
was written for; expected values come from independent formulas (NumPy one-liners of the
definitions) or from the reference layer, never from the function under test.
"""

import json
import os

import numpy as np
import pytest

from nplstm import functional as F
from nplstm.functional import sequence

from .helpers import rel_error
from .test_reference import (check_sequence_against_reference, sequence_inputs,
                             sequence_upstream)

TOL = 1e-12            # float64 round-off


def _rng(seed):
    return np.random.default_rng(seed)


# -- sequence._backward_chunk -------------------------------------------------------------

@pytest.mark.parametrize("T, B, H", [(500, 3, 7), (9, 40, 2), (3, 1, 1000), (1000, 64, 1),
                                     (10, 64, 512)])
def test_backward_chunk_is_the_most_steps_whose_factors_fit(T, B, H):
    """S = min(T, ⌊E / (B·5H)⌋) steps (at least 1), E = _BACKWARD_CHUNK_ELEMENTS: the chunk's
    (S, B, 5H) factors fit in E elements, one more step would not (unless S = T).  Written
    for max(1, …) → max(0, …) (sequence._backward_chunk#3): 0 steps, a crash, once one
    step's factors alone exceed E (B·5H = 163840 at B = 64, H = 512)."""
    E = sequence._BACKWARD_CHUNK_ELEMENTS
    S = sequence._backward_chunk(T, B, H)
    assert 1 <= S <= T
    assert S == 1 or S * B * 5 * H <= E
    assert S == T or (S + 1) * B * 5 * H > E


def test_lstm_backward_walks_chunks_of_backward_chunk_steps(monkeypatch):
    """F.lstm_backward computes its factors in chunks of _backward_chunk(T, B, H) steps, the
    last chunk first.  Written for _backward_chunk(B, T, H) in lstm_backward
    (sequence.lstm_backward#32): the same gradients, but chunks sized by the batch (here
    1 step instead of 5; at T = 500, B = 3, H = 7: 3 instead of 500)."""
    T, B, I, H = 12, 2, 3, 3
    monkeypatch.setattr(sequence, "_BACKWARD_CHUNK_ELEMENTS", 5 * B * 5 * H)
    calls, chunk_factors = [], sequence._chunk_factors

    def spy(kernels, gates, c_all, c0_w, tanh_all, t0, t1, factors, dc_gain):
        calls.append((t0, t1))
        return chunk_factors(kernels, gates, c_all, c0_w, tanh_all, t0, t1, factors, dc_gain)

    monkeypatch.setattr(sequence, "_chunk_factors", spy)
    rng = _rng(5)
    inputs = sequence_inputs(rng, T, B, I, H, 0, bias=True, state=True)
    _, cache = F.lstm_forward(*inputs)
    F.lstm_backward(*sequence_upstream(rng, T, B, H, H, ("doutput",)), cache)
    assert calls == [(10, 12), (5, 10), (0, 5)]


def test_a_last_chunk_of_several_steps_but_fewer_than_a_chunk(monkeypatch):
    """T = 8 in chunks of 3 steps: [0, 3), [3, 6) and a last one [6, 8) of two steps.
    tests/test_reference.py's chunked test has T = 7, whose last chunk is one step (or
    whole), and a one-step input broadcasts over an output slice that is too long: the
    slices factors[s : t1 − t0 + 1] and [s : t1 + t0] in _chunk_factors
    (sequence._chunk_factors#45, #47, #50, #52) went unseen; here they raise."""
    T, B, H = 8, 3, 2
    monkeypatch.setattr(sequence, "_BACKWARD_CHUNK_ELEMENTS", 3 * B * 5 * H)
    assert sequence._backward_chunk(T, B, H) == 3
    rng = _rng(4)
    for lengths, reverse, proj in [(None, False, 0), ([8, 5, 7], True, 1)]:
        inputs = sequence_inputs(rng, T, B, 3, H, proj, bias=True, state=True)
        upstream = sequence_upstream(rng, T, B, H, proj or H, ("doutput", "dh_n", "dc_n"))
        check_sequence_against_reference(inputs, upstream, lengths, reverse)


# -- embedding_backward: dy = None and the message of a wrong dy --------------------------

def test_embedding_backward_of_none_is_zeros_and_a_wrong_dy_is_named():
    """dy = None means zeros (every backward's rule), and a dy of the wrong shape is refused
    naming dy, the expected (..., E) and "like the forward's output".  Written for
    check_upstream(..., xp, "like the forward's output") with the last two swapped
    (linear.embedding_backward#5): dy = None then raised an AttributeError."""
    weight = _rng(1).standard_normal((4, 3))
    indices = np.array([[0, 2], [3, 3]])
    _, cache = F.embedding_forward(indices, weight, padding_idx=2)
    grads = F.embedding_backward(None, cache)
    assert grads.weight.shape == (4, 3) and grads.weight.dtype == weight.dtype
    assert not grads.weight.any()
    with pytest.raises(ValueError, match=r"dy.*\(\.\.\., E\).*like the forward's output"):
        F.embedding_backward(np.zeros((2, 2, 4)), cache)


# -- cross_entropy_backward: a second backward on the same cache ----------------------------

def test_cross_entropy_backward_twice_on_one_cache_gives_the_formula_both_times():
    """∂L/∂z = dloss · (softmax(z) − onehot(t)) / M on the valid rows, 0 on the ignored ones,
    computed here from the definition; a second backward on the same cache (another dloss)
    must give it again.  Written for probs.copy() → probs (losses.cross_entropy_backward#8):
    the first backward then overwrote the cache's softmax, and the second was wrong."""
    rng = _rng(2)
    N, C = 6, 4
    logits = 2 * rng.standard_normal((N, C))
    targets = rng.integers(0, C, N)
    targets[[1, 4]] = -100                                  # ignored rows
    _, cache = F.cross_entropy_forward(logits, targets)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)   # (N, C)
    onehot = np.eye(C)[np.where(targets >= 0, targets, 0)]                 # (N, C)
    valid = (targets >= 0)[:, None]
    for dloss in (1.0, 0.37, 1.0):
        want = np.where(valid, dloss * (softmax - onehot) / valid.sum(), 0.0)
        got = F.cross_entropy_backward(dloss, cache).logits
        assert rel_error(got, want) <= TOL


# -- every gradient its own array -------------------------------------------------------------

def _lstm_grads(layer, rng):
    """Cell and sequence gradients of ``layer`` (F or reference), with bias and projection."""
    T, B, I, H, P = 3, 2, 3, 4, 2
    r = rng.standard_normal
    w_cell = (r((4 * H, I)), r((4 * H, H)), r(4 * H), r(4 * H))
    _, cache = layer.lstm_cell_forward(r((B, I)), (r((B, H)), r((B, H))), *w_cell)
    cell = layer.lstm_cell_backward(r((B, H)), r((B, H)), cache)
    w_seq = (r((4 * H, I)), r((4 * H, P)), r(4 * H), r(4 * H), r((P, H)))
    _, cache = layer.lstm_forward(r((T, B, I)), (r((B, P)), r((B, H))), *w_seq)
    seq = layer.lstm_backward(r((T, B, P)), r((B, P)), r((B, H)), cache)
    return cell, seq


@pytest.mark.parametrize("layer", [F, F.reference], ids=["fast", "reference"])
def test_no_two_gradients_share_memory(layer):
    """Each gradient is an array of its own, so scaling or clipping one in place (an
    optimiser, a user) leaves the others alone; bias_ih and bias_hh are equal values but two
    arrays.  Written for dbias.copy() → dbias in F.lstm_backward (sequence.lstm_backward#237),
    which gave one array twice."""
    for grads in _lstm_grads(layer, _rng(3)):
        fields = [(name, a) for name, a in zip(grads._fields, grads) if a is not None]
        assert len(fields) >= 7
        for k, (name, a) in enumerate(fields):
            for other, b in fields[k + 1:]:
                assert not np.shares_memory(a, b), (type(grads).__name__, name, other)


# == issue 24: the forwards of functional/, optim.py and training/ (mutate.py --group
# forwards,optim,training; docs/mutation.md lists the survivors) ===========================

def _tiny_charlm_task(**overrides):
    from nplstm.training.data import CharCorpus
    from nplstm.training.tasks import CharLMTask

    from .helpers import TRAIN_TEXT
    settings = dict(batch_size=4, seq_len=8, embedding_dim=8, hidden_size=16, num_layers=1,
                    dropout=0.0, seed=3, dtype="float64")
    settings.update(overrides)
    return CharLMTask(CharCorpus.from_text(TRAIN_TEXT), **settings)


def test_sgd_weight_decay_steps_as_torch_does():
    """optim.SGD.step#9 (``g = −(g + λ p)``: decay walked uphill).  The reference is torch's
    SGD, plain and with momentum, three steps."""
    torch = pytest.importorskip("torch")
    from nplstm.nn import Parameter
    from nplstm.optim import SGD
    for momentum in (0.0, 0.9):
        rng = _rng(5)
        data, grads = rng.normal(size=(3, 4)), [rng.normal(size=(3, 4)) for _ in range(3)]
        p = Parameter(data.copy())
        opt = SGD([p], lr=0.1, momentum=momentum, weight_decay=0.5)
        t = torch.tensor(data.copy(), requires_grad=True)
        topt = torch.optim.SGD([t], lr=0.1, momentum=momentum, weight_decay=0.5)
        for g in grads:
            p.grad[...] = g
            opt.step()
            t.grad = torch.tensor(g)
            topt.step()
        assert rel_error(p.data, t.detach().numpy()) < TOL, momentum


def test_rnn_output_edited_in_place_leaves_the_backward_as_it_was():
    """rnn.rnn_forward#84 (``output.copy()`` dropped: the caller's output was the cache's
    h_{t−1}, so editing it changed the gradients).  Expected: the backward of an untouched
    forward of the same inputs."""
    rng = _rng(6)
    T, B, I, H = 4, 2, 3, 5
    x, w_ih, w_hh = rng.normal(size=(T, B, I)), rng.normal(size=(H, I)), rng.normal(size=(H, H))
    dout = rng.normal(size=(T, B, H))
    (_, _), clean = F.rnn_forward(x, None, w_ih, w_hh)
    want = F.rnn_backward(dout, None, clean)
    (output, _), cache = F.rnn_forward(x, None, w_ih, w_hh)
    output[...] = 7.0                                     # the caller's array, the caller's edit
    got = F.rnn_backward(dout, None, cache)
    for name in ("x", "weight_ih", "weight_hh"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


@pytest.mark.parametrize("projection", [False, True])
def test_cache_bytes_per_step_are_the_caches_arrays_bytes_per_step(projection):
    """sequence.cache_bytes_per_step#7 (``sizes['hidden'] = H`` deleted: a projection's r_t
    buffer not counted).  Expected: the arrays the forward's cache really holds, / T."""
    rng = _rng(7)
    T, B, I, H, P = 5, 3, 4, 6, (2 if projection else 6)
    x = rng.normal(size=(T, B, I))
    w_hr = rng.normal(size=(P, H)) if projection else None
    _, cache = F.lstm_forward(x, None, rng.normal(size=(4 * H, I)), rng.normal(size=(4 * H, P)),
                              weight_hr=w_hr)
    held = {"gates": cache.gates, "c": cache.c, "tanh_c": cache.tanh_c,
            "output": cache.output, "x": cache.x, "hidden": cache.hidden}
    want = {k: a.nbytes // T for k, a in held.items() if a is not None}
    assert F.cache_bytes_per_step(B, I, H, P, 8, projection) == want


def test_inference_chunks_hold_at_least_the_minimum_rows(monkeypatch):
    """sequence.lstm_forward#68 (``-(-M // B)`` → ``-M // B``: a floor of a negative, so the
    minimum number of GEMM rows per chunk was lost and small chunks ran for large batches'
    sake; the same numbers, slower).  With the limits made small the chunk holds
    ⌈M / B⌉ steps, not the E / (B·4H) steps the element limit alone allows."""
    from nplstm import workspace
    monkeypatch.setattr(sequence, "_INFERENCE_CHUNK_ELEMENTS", 64)     # 2 steps of B·4H = 32
    monkeypatch.setattr(sequence, "_INFERENCE_CHUNK_MIN_ROWS", 6)      # 3 steps of B = 2
    shapes, empty = [], workspace.empty
    monkeypatch.setattr(workspace, "empty",
                        lambda shape, *a, **k: shapes.append(tuple(shape)) or empty(shape, *a, **k))
    rng = _rng(8)
    T, B, I, H = 10, 2, 3, 4
    args = (rng.normal(size=(T, B, I)), None, rng.normal(size=(4 * H, I)),
            rng.normal(size=(4 * H, H)))
    (out, _), cache = F.lstm_forward(*args, keep_cache=False)
    assert cache is None
    chunk = [s[0] for s in shapes if len(s) == 3 and s[1:] == (B, 4 * H)]
    assert chunk == [3]                                   # ⌈6 / 2⌉ steps: ≥ 6 rows per GEMM
    assert np.array_equal(out, F.lstm_forward(*args)[0][0])


class _RecordingProgress:
    """A ``Trainer`` progress factory's object that keeps what it is told."""

    made = []

    def __init__(self, start, total):
        self.updates, self.evals, self.closed = [], [], False
        _RecordingProgress.made.append(self)

    def update(self, record):
        self.updates.append(record)

    def eval(self, step, loss):
        self.evals.append((step, loss))

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 12-step char-LM run with dropout, its progress reporter and its wall time."""
    import time

    from nplstm.training import TrainConfig, Trainer

    from .helpers import TRAIN_TEXT
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "text.txt").write_text(TRAIN_TEXT, encoding="utf-8")
    config = TrainConfig(task="charlm", text=str(folder / "text.txt"), out=str(folder / "run"),
                         steps=12, seq_len=8, hidden=16, batch_size=4, embedding_dim=8,
                         layers=2, dropout=0.5, eval_every=4, checkpoint_every=4)
    _RecordingProgress.made.clear()
    start = time.perf_counter()
    Trainer(config, progress=_RecordingProgress).run()
    seconds = time.perf_counter() - start
    records = [json.loads(s) for s in (folder / "run/metrics.jsonl").read_text().splitlines()]
    return folder / "run", _RecordingProgress.made[-1], records, seconds


def test_the_progress_reporter_is_told_of_every_evaluation(tiny_run):
    """trainer.Trainer._evaluate#6 (``progress.eval`` deleted: the command line's bar never
    showed an eval loss).  Expected: the eval records of metrics.jsonl."""
    _, progress, records, _ = tiny_run
    assert progress.evals == [(r["step"], r["loss"]) for r in records if r["split"] == "eval"]
    assert [r["step"] for r in progress.updates] == list(range(1, 13)) and progress.closed


def test_tokens_per_second_is_positive_and_no_slower_than_the_whole_run(tiny_run):
    """trainer.Trainer._train_step#2, #16 (``t0 = −perf_counter()``: seconds = the sum of two
    clock readings; ``seconds`` negated).  A step's B·T = 32 tokens took no longer than the
    whole run, and no time is negative."""
    _, _, records, seconds = tiny_run
    rates = [r["tokens_per_s"] for r in records if r["split"] == "train"]
    assert len(rates) == 12 and all(rate >= 32 / seconds for rate in rates)


def test_a_model_loaded_for_sampling_is_in_eval_mode(tiny_run):
    """tasks.charlm_from_checkpoint#7 (``task.model.eval()`` deleted: a run trained with
    dropout came back with its dropout on, for any caller of the returned model)."""
    from nplstm.training.tasks import charlm_from_checkpoint
    task, checkpoint = charlm_from_checkpoint(tiny_run[0] / "checkpoint.npz")
    assert checkpoint["step"] == 12
    assert task.model.training is False and task.model.lstm.training is False


def test_the_dropout_stream_of_an_adding_step_is_not_its_data_stream():
    """tasks.AddingTask.train_step#6 (``default_rng([seed, step, 1])`` → ``[seed, step, 0]``,
    which NumPy's SeedSequence pads to the same state as ``[seed, step]``: the dropout
    masks drawn from the very numbers that made the step's data)."""
    from nplstm.training.tasks import AddingTask
    task = AddingTask(batch_size=4, seq_len=6, hidden_size=5, num_layers=2, dropout=0.5, seed=11)
    task.train_step(3)
    bits = task.model.lstm.dropout_generator.bit_generator
    seeds = getattr(bits, "seed_seq", None) or bits._seed_seq     # public from NumPy 1.25 on
    dropout = seeds.generate_state(4)
    data = np.random.SeedSequence([11, 3]).generate_state(4)
    assert not np.array_equal(dropout, data)


def test_no_two_parameters_of_a_char_lm_start_from_the_same_draws():
    """tasks.CharLM.__init__#8 (the LSTM seeded with ``seeds[2]``, the head's: both drawn
    U(−1/√H, 1/√H) from one stream, so their first values were equal)."""
    from nplstm.training.tasks import CharLM
    params = [p.data.ravel() for p in CharLM(7, 5, 6, seed=4).parameters()]
    for a in range(len(params)):
        for b in range(a):
            n = min(params[a].size, params[b].size)
            assert not np.array_equal(params[a][:n], params[b][:n]), (a, b)


def test_the_char_lm_carries_its_state_between_steps_and_starts_over_each_pass():
    """tasks.CharLMTask.train_step#3, #4 (``step % len == 0`` → ``!= 0`` / ``== 1``: the
    state dropped at every step, or at the wrong one).  Expected: step k > 0 of a pass gets
    the (h, c) step k − 1 returned; step 0 of each pass gets None."""
    task = _tiny_charlm_task()
    seen, forward = [], task.model.forward

    def recording_forward(tokens, state=None):
        seen.append(state)
        return forward(tokens, state)

    task.model.forward = recording_forward
    n = len(task.train_batches)
    returned = []
    for step in range(n + 2):
        task.train_step(step)
        returned.append(task.state)
    assert seen[0] is None and seen[n] is None
    for step in (1, 2, n + 1):
        assert all(a is b for a, b in zip(seen[step], returned[step - 1])), step


def test_the_char_lm_eval_loss_is_the_mean_cross_entropy_of_the_eval_split():
    """tasks.CharLMTask.evaluate#1 (the sum started at 1.0, not 0.0).  Expected: the mean of
    −log softmax at the targets, by NumPy, over the same eval batches and carried state."""
    task = _tiny_charlm_task()
    losses, state = [], None
    for k in range(len(task.eval_batches)):
        inputs, targets = task.eval_batches.batch(k)
        logits, state = task.model.eval()(inputs, state)
        z = logits.reshape(-1, logits.shape[-1])
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        losses.append(-log_p[np.arange(len(z)), targets.reshape(-1)])
    assert abs(task.evaluate() - np.concatenate(losses).mean()) < 1e-12


def test_a_short_text_keeps_at_least_one_eval_character():
    """data.CharCorpus.from_text#7 (``max(1, …)`` → ``max(0, …)``: a text whose 10% rounds
    to 0 characters had an empty eval split)."""
    from nplstm.training.data import CharCorpus
    corpus = CharCorpus.from_text("abcab")                   # round(0.5) = 0
    assert corpus.eval.tolist() == [1] and corpus.train.tolist() == [0, 1, 2, 0]


def test_carried_state_that_is_not_an_array_is_named():
    """tasks.check_carried#0 (``a = −arrays[name]``: a list gave Python's "bad operand type
    for unary -", a bool array NumPy's message, instead of naming the carried array)."""
    from nplstm.training.tasks import check_carried
    for bad, got in (([0.0, 1.0], "list"), (np.zeros(2, dtype=bool), "bool")):
        with pytest.raises(TypeError, match=rf"carried state/h must be a float32 array, got {got}"):
            check_carried({"h": bad}, {"h": (2,)}, "float32")


def test_a_refused_or_retried_lock_leaves_no_descriptor_open(tmp_path, monkeypatch):
    """run_dir.RunDir._lock_current_file#15, #18 (``os.close(fd)`` deleted before refusing a
    locked OUT, and before retrying a .lock deleted under its feet: a descriptor leaked each
    time).  Counted in /proc/self/fd."""
    from nplstm.training import run_dir
    if not os.path.isdir("/proc/self/fd") or run_dir.fcntl is None:
        pytest.skip("needs /proc/self/fd and flock")
    out = tmp_path / "run"
    first = run_dir.RunDir(out)
    first.acquire()
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(run_dir.RunLocked):
        run_dir.RunDir(out).acquire()
    assert len(os.listdir("/proc/self/fd")) == before
    real_flock, calls = run_dir.fcntl.flock, []

    def flock_after_first_ends(fd, operation):
        if not calls:
            first.release()                     # the old .lock deleted under its feet
        calls.append(fd)
        return real_flock(fd, operation)

    monkeypatch.setattr(run_dir.fcntl, "flock", flock_after_first_ends)
    second = run_dir.RunDir(out)
    second.acquire()
    assert len(calls) == 2                      # a retry happened
    assert len(os.listdir("/proc/self/fd")) == before     # first's closed, second's held
    second.release()


def test_an_object_reached_twice_gives_its_docstring_once():
    """data._docstrings#1 (``seen.add`` deleted: an alias's docstring taken twice; in the
    default corpus csv, enum, os, typing and six other modules gave repeated passages) and
    #10 (``or`` → ``and``: a private member, or one another module defines, taken)."""
    import types

    from nplstm.training.data import _docstrings
    module = types.ModuleType("corpus_probe", "A module docstring long enough to be kept here.")

    class Reader:
        """A class docstring long enough to be kept by the corpus builder."""

        def read(self):
            """A method docstring long enough to be kept by the corpus builder."""

        again = read                                     # the same function, a second name

    def _private():
        """A private function's docstring, long enough to be kept if it were public."""

    Reader.__module__ = _private.__module__ = "corpus_probe"
    module.Reader, module.Alias = Reader, Reader         # the same class, a second name
    module._private, module.dumps = _private, json.dumps    # private; another module's
    assert _docstrings(module) == [module.__doc__, Reader.__doc__, Reader.read.__doc__]


def test_a_damage_note_shows_three_lines_and_counts_the_rest():
    """run_dir.damage_note#3 (``damaged[:3]`` → ``[:4]``: four lines shown, and "and 2 more"
    of five counted one of them twice)."""
    from nplstm.training.run_dir import damage_note
    damaged = [(n, f"fault {n}") for n in range(1, 6)]
    assert damage_note("m.jsonl", damaged) == (
        "warning: m.jsonl: skipped 5 damaged lines (line 1: fault 1; line 2: fault 2; "
        "line 3: fault 3; and 2 more)")
    assert damage_note("m.jsonl", damaged[:1]) == \
        "warning: m.jsonl: skipped 1 damaged line (line 1: fault 1)"


def test_a_run_record_keeps_a_first_loss_below_one():
    """run_dir.RunRecord.from_meta#4 (``minimum=0`` → 1 for first_loss: a checkpoint of an
    adding run, whose first loss is about 1/6 to 1, was refused on resume)."""
    from nplstm.training.run_dir import RunRecord
    record = RunRecord.from_meta({"first_loss": 0.25, "seconds": 1.5}, step=3)
    assert (record.first_loss, record.seconds) == (0.25, 1.5)


@pytest.mark.parametrize("forward", [F.reference.lstm_forward, F.lstm_jvp, F.lstm_forward],
                         ids=["reference", "jvp", "fast"])
@pytest.mark.parametrize("bad", ["bias_ih", "bias_hh"])
def test_a_bias_of_the_wrong_shape_is_named_by_every_sequence_forward(forward, bad):
    """reference.lstm_forward#2, jvp.lstm_jvp#2 (``check_lstm_weights(…, bias_hh, bias_ih, …)``:
    the weights checked as before, but a wrong bias_ih blamed on bias_hh and the other way
    round; the bad-input tests name them for the fast forward only)."""
    rng = _rng(10)
    T, B, I, H = 3, 2, 4, 5
    biases = {"bias_ih": rng.normal(size=4 * H), "bias_hh": rng.normal(size=4 * H)}
    biases[bad] = rng.normal(size=4 * H + 1)
    with pytest.raises(ValueError, match=rf"^{bad} must have shape \(4H,\)"):
        forward(rng.normal(size=(T, B, I)), None, rng.normal(size=(4 * H, I)),
                rng.normal(size=(4 * H, H)), biases["bias_ih"], biases["bias_hh"])


def test_linear_forward_refuses_a_weight_with_no_outputs():
    """linear.linear_forward#6 (``check_not_empty('weight', …)`` deleted: a (0, I) weight gave
    an empty (N, 0) output; nn.Linear refuses the size before, F.linear_forward did not)."""
    with pytest.raises(ValueError, match=r"^weight must have at least one output \(O ≥ 1\)"):
        F.linear_forward(np.ones((2, 3)), np.zeros((0, 3)))
