"""A character-level LSTM language model, trained by hand-written backprop (about 40 s).

Embedding → LSTM → Linear, softmax cross-entropy, truncated BPTT over 32 parallel streams of
the text with the hidden state carried from batch to batch, SGD with momentum and clipping.
This is the loop `nplstm train` runs, written out with the library's pieces.

    python examples/char_lm.py [--text FILE] [--steps N]     (writes char_lm_loss.png)
"""

import argparse
import time

import numpy as np

import nplstm
from nplstm import functional as F
from nplstm.training.data import CharCorpus, StreamBatches, bigram_baseline, default_corpus_text
from nplstm.optim import SGD, clip_grad_norm
from nplstm.training.plots import MATPLOTLIB_MISSING, saved_figure

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", help="a UTF-8 text file (default: the stdlib's docstrings)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--out", default="char_lm_loss.png", help="where to write the plot")
    args = parser.parse_args(argv)

    text = open(args.text, encoding="utf-8").read() if args.text else default_corpus_text()
    corpus = CharCorpus.from_text(text)                     # vocabulary; eval = the last 10%
    V, E, H, B, T = corpus.vocab_size, 32, args.hidden, 32, 64
    batches = StreamBatches(corpus.train, B, T, "train")   # inputs/targets (T, B), next char

    embedding = nplstm.Embedding(V, E, seed=1)
    lstm = nplstm.LSTM(E, H, seed=2)
    head = nplstm.Linear(H, V, seed=3)
    params = embedding.parameters() + lstm.parameters() + head.parameters()
    optimizer = SGD(params, lr=1.0, momentum=0.9)

    state, losses, started = None, [], time.perf_counter()
    for step in range(args.steps):
        inputs, targets = batches.batch(step)
        if step % len(batches) == 0:
            state = None                                    # the streams start over
        # forward: tokens (T, B) → x (T, B, E) → h (T, B, H) → logits (T·B, V) → loss
        x = embedding(inputs)
        h, state = lstm(x, state)                           # state is carried, not backpropagated
        logits = head(h).reshape(-1, V)
        loss, cache = F.cross_entropy_forward(logits, targets.reshape(-1))
        # backward, in reverse order; each module adds into its parameters' .grad
        optimizer.zero_grad()
        dlogits = F.cross_entropy_backward(1.0, cache).logits
        dh = head.backward(dlogits.reshape(T, B, V))
        dx, _ = lstm.backward(dh)
        embedding.backward(dx)
        clip_grad_norm(params, 1.0)
        optimizer.step()
        losses.append(float(loss))
        if step % 50 == 0:
            print(f"step {step:4d}  loss {float(loss):.3f}")

    # eval: the whole eval split as one stream, under no_grad (nothing recorded)
    with nplstm.no_grad():
        logits = head(lstm(embedding(corpus.eval[:-1, None]))[0]).reshape(-1, V)
        eval_loss = float(F.cross_entropy_forward(logits, corpus.eval[1:])[0])
    print(f"{args.steps} steps in {time.perf_counter() - started:.0f} s: eval {eval_loss:.3f} "
          f"nats/char, add-k bigram {bigram_baseline(corpus):.3f}")

    # sample 200 characters, temperature 0.8
    rng, token, state, out = np.random.default_rng(0), corpus.encode("The")[:, None], None, []
    with nplstm.no_grad():
        for _ in range(200):
            h, state = lstm(embedding(token), state)
            z = head(h[-1, 0]).astype(np.float64) / 0.8
            p = np.exp(z - z.max())
            token = np.array([[rng.choice(V, p=p / p.sum())]])
            out.append(int(token[0, 0]))
    print("The" + corpus.decode(out))

    with saved_figure(args.out, figsize=(6, 3.5)) as ax:
        if ax is None:
            print(f"{MATPLOTLIB_MISSING}: no plot")
            return
        ax.plot(losses, lw=0.8, label="train (per batch)")
        ax.axhline(eval_loss, color="C1", ls="--", label=f"eval {eval_loss:.3f}")
        ax.set(xlabel="step", ylabel="cross-entropy (nats/char)", title="char-level LSTM")
        ax.legend()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
