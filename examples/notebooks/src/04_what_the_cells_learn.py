# %% [markdown]
# # 4. What the cells learn
#
# A character-level language model reads text one character at a time and predicts the next:
#
# $$ h_t, c_t = \text{LSTM}(e(x_t), h_{t-1}, c_{t-1}), \qquad
#    p(x_{t+1} \mid x_{\le t}) = \operatorname{softmax}(h_t W^\top + b), $$
#
# trained to minimise the cross-entropy $-\frac1T \sum_t \log p(x_{t+1} \mid x_{\le t})$ in
# nats per character. Nobody tells a cell what to track; some cells end up following
# something readable in the text anyway (Karpathy, Johnson & Fei-Fei 2015, "Visualizing and
# understanding recurrent networks": cells that track quotes, line length, indentation).
#
# Here we train a small model for a few seconds with `nplstm train`, then look inside it with
# `nplstm visualize`, both called from Python through `nplstm.cli.main`, exactly as on the
# command line. The text is nplstm's default: the docstrings of Python's standard library.
# A model this small and this briefly trained is a sketch of the effect, not the full picture;
# train longer (`--steps 2000 --hidden 256`) and the cells get cleaner.

# %%
from pathlib import Path

from IPython.display import HTML, Image, display

from nplstm.cli import main

RUN = Path("runs") / "notebook04"     # relative to the notebook; runs/ is git-ignored

# %% [markdown]
# ## Train
#
# 150 steps of SGD with momentum and truncated BPTT (32 characters per sequence, 16
# sequences per batch), a 64-unit LSTM, seeded: the same numbers on every run. `--overwrite`
# starts afresh if the run exists. Watch the evaluation loss fall below the bigram baseline
# (a model that only knows the previous character).

# %%
status = main(["train", "--steps", "150", "--hidden", "64", "--seq-len", "32",
               "--batch-size", "16", "--eval-every", "50", "--checkpoint-every", "150",
               "--seed", "0", "--out", str(RUN), "--overwrite"])
print("exit status:", status)

# %% [markdown]
# ## Look inside
#
# `nplstm visualize --out RUN` runs a text (by default the run's evaluation split, text the
# model did not train on) through the trained model and writes two files into the run:
#
# - `cells.html`: the text coloured, character by character, by the activation of a few cells
#   (`--cells K` per layer), chosen as those that best follow simple features of the text;
# - `gates.png`: how often each gate unit is saturated (near 0 or near 1).
#
# `--chars` keeps the page short enough to embed here.

# %%
status = main(["visualize", "--out", str(RUN), "--chars", "400", "--cells", "3"])
print("exit status:", status)

# %%
display(HTML((RUN / "cells.html").read_text(encoding="utf-8")))

# %% [markdown]
# ### Reading `cells.html`
#
# Each row is one cell: every character is coloured by that cell's value $\tanh(c_t)$ (or
# $h_t$) *after* reading the character, one colour for positive, another for negative, pale
# for near 0. Look for a cell whose colour changes at the same kind of place every time: at
# spaces (a word boundary), after a newline, inside quotes or brackets. A cell that is
# switched on by an opening character and stays on until the closing one is *remembering*:
# its forget gate is near 1 and its input gate near 0 in between, the behaviour notebook 2
# showed keeps gradients alive.

# %%
display(Image(filename=str(RUN / "gates.png")))

# %% [markdown]
# ### Reading `gates.png`
#
# A gate unit is *saturated* when it is almost always near 0 or near 1: it acts as a switch
# rather than a dial. Right after initialisation every gate sits near $\sigma(0) = \tfrac12$;
# training moves many of them out to the edges. Forget-gate units saturated near 1 are the
# long memories; input-gate units near 0 keep a cell from being overwritten; a unit stuck
# at one edge for every character does nothing useful and is a sign of too large a learning
# rate or too small a model. With more training the fraction of saturated units grows.
#
# Try it yourself on your own text:
#
# ```
# nplstm train --text my.txt --steps 2000 --out runs/mine
# nplstm visualize --out runs/mine --cells 8
# ```
