"""Training data: the adding problem, character corpora, stream batches, the bigram baseline."""

import math
from collections import Counter

import numpy as np
import pytest

from nplstm.training.data import (CharCorpus, DataError, StreamBatches, adding_problem, bigram_baseline,
                         default_corpus_text)


def test_adding_problem_has_two_markers_one_per_half_and_the_sum_as_target():
    x, y = adding_problem(np.random.default_rng(0), 500, 20)
    assert x.shape == (20, 500, 2) and y.shape == (500, 1) and x.dtype == np.float32
    markers = x[:, :, 1]
    assert np.array_equal(markers.sum(axis=0), np.full(500, 2.0))
    assert (markers[:10].sum(axis=0) == 1).all() and (markers[10:].sum(axis=0) == 1).all()
    assert np.allclose(y[:, 0], (x[:, :, 0] * markers).sum(axis=0), rtol=1e-6)
    values = x[:, :, 0]
    assert values.min() >= 0 and values.max() < 1


def test_adding_problem_predicting_one_scores_a_sixth():
    _, y = adding_problem(np.random.default_rng(1), 200_000, 4, dtype="float64")
    assert abs(float(((y - 1) ** 2).mean()) - 1 / 6) < 3e-3      # Var(U + U') = 1/6


def test_corpus_vocabulary_and_split():
    corpus = CharCorpus.from_text("abcab" * 20)                   # 100 characters
    assert corpus.chars == "abc" and corpus.vocab_size == 3
    assert len(corpus.train) == 90 and len(corpus.eval) == 10     # eval = the last 10%
    assert corpus.decode(corpus.train[:5]) == "abcab"
    assert np.array_equal(corpus.encode("cab"), [2, 0, 1])
    with pytest.raises(DataError, match="characters not in the training text: 'z'"):
        corpus.encode("az")


def test_stream_batches_continue_each_stream_and_wrap():
    tokens = np.arange(41)
    batches = StreamBatches(tokens, batch_size=2, seq_len=4, split="train")
    # streams: 0..19 and 20..39 (targets one ahead); 5 batches of 4 steps
    assert len(batches) == 5
    x0, y0 = batches.batch(0)
    x1, _ = batches.batch(1)
    assert np.array_equal(x0[:, 0], [0, 1, 2, 3]) and np.array_equal(x0[:, 1], [20, 21, 22, 23])
    assert np.array_equal(y0, x0 + 1)
    assert np.array_equal(x1[:, 0], [4, 5, 6, 7])                  # the stream goes on
    assert np.array_equal(batches.batch(5)[0], x0)                # and starts over
    with pytest.raises(DataError, match="fewer than one batch needs"):
        StreamBatches(np.arange(8), batch_size=2, seq_len=4, split="train")


def test_bigram_baseline_matches_a_direct_count():
    text = "the cat sat on the mat; the dog sat on the log. " * 5 + "the end of it all."
    corpus = CharCorpus.from_text(text)
    train = corpus.decode(corpus.train)
    pairs = Counter(zip(train, train[1:]))
    firsts = Counter(train[:-1])
    V, k = corpus.vocab_size, 0.5
    previous = train[-1] + corpus.decode(corpus.eval[:-1])
    expected = -np.mean([math.log((pairs[(a, b)] + k) / (firsts[a] + k * V))
                         for a, b in zip(previous, corpus.decode(corpus.eval))])
    assert bigram_baseline(corpus, k) == pytest.approx(expected, rel=1e-12)


def test_default_corpus_is_deterministic_ascii_text():
    a, b = default_corpus_text(), default_corpus_text()
    assert a == b and len(a) > 100_000 and a.isascii()
