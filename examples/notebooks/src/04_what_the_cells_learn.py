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
# Here we train a small model in well under a minute with `nplstm train`, then look inside
# it with `nplstm visualize`, both called from Python through `nplstm.cli.main`, exactly as
# on the command line. The text is nplstm's default: the docstrings of Python's standard library.
# A model this small and this briefly trained is a sketch of the effect, not the full picture;
# train longer (`--steps 2000 --hidden 256`) and the cells get cleaner.

# %%
import html
import tempfile
from pathlib import Path

from IPython.display import HTML, Image, display

from nplstm.cli import main

RUN = Path(tempfile.mkdtemp(prefix="nplstm-notebook04-")) / "run"   # a temporary folder
print("the run goes to", RUN.parent.name, "in the system's temporary directory")

# %% [markdown]
# ## Train
#
# 150 steps of SGD with momentum and truncated BPTT (32 characters per sequence, 16
# sequences per batch), a 64-unit LSTM, seeded: the same losses on every run. The run goes to
# a fresh temporary folder, never inside the repository. Watch the evaluation loss fall below the bigram baseline
# (a model that only knows the previous character).

# %%
status = main(["train", "--steps", "150", "--hidden", "64", "--seq-len", "32",
               "--batch-size", "16", "--eval-every", "50", "--checkpoint-every", "150",
               "--seed", "0", "--out", str(RUN), "--overwrite"])
print("exit status:", status)

# %% [markdown]
# ## Your turn: the loss the model minimises (exercise `softmax_cross_entropy`)
#
# Every training step above ends in a softmax and a cross-entropy over the next character.
# Write `softmax_cross_entropy(logits, targets)`: the mean over the rows of
# $-\log \operatorname{softmax}(z_n)_{t_n}$ and its gradient with respect to the logits
# (work it out on paper first: log and softmax simplify each other). One of the checker's
# cases has logits near 750, where $e^{750}$ is `inf`: make it stable. As stored, the
# notebook checks the unfinished stub, so the check fails.

# %%
import numpy as np


def softmax_cross_entropy(logits, targets):
    """logits (N, C) float64, targets (N,) ints in [0, C): returns loss, dlogits (N, C)."""
    raise NotImplementedError("softmax_cross_entropy: write me")

# %%
from nplstm.exercises import check

result = check("softmax_cross_entropy", globals())
result

# %% [markdown]
# **Question.** The run started near $\ln V$ nats per character. Why that number?
#
# <details><summary>Answer</summary>
#
# An untrained model's logits are all about equal, so its softmax is nearly uniform over the
# $V$ characters of the vocabulary: $p = 1/V$ for the right one, and $-\log(1/V) = \ln V$.
# The bigram baseline printed by `nplstm train` is the next mark to beat.
#
# </details>

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

# %% [markdown]
# `cells.html` is a page of its own, with its own styles; shown in a frame, they stay inside it.

# %%
page = (RUN / "cells.html").read_text(encoding="utf-8")
display(HTML(f'<div><iframe srcdoc="{html.escape(page, quote=True)}" '
             'style="width: 100%; height: 720px; border: 1px solid #ccc"></iframe></div>'))

# %% [markdown]
# ### Reading `cells.html`
#
# Each block is one cell: every character is coloured by that cell's $\tanh(c_t)$ just after
# the model has read it, blue for negative, red for positive, white near 0. The heading names
# the simple feature of the text the cell follows most closely (`in_quotes`, `in_brackets`,
# `line_position`, `indentation`, `word_start`, `in_word`), the correlation $r$ between the
# two over the characters shown, and $r$ over each half of the text on its own: a cell is
# ranked by the weaker half, so it must follow its feature throughout, and one below
# $|r| = 0.5$ in a half is marked *weak*. $r < 0$ means the cell goes down where the feature
# goes up.
#
# After 150 steps the three cells shown follow `in_word`, with $|r|$ between 0.5 and 0.6 in
# each half: the model has learned where words are, the cheapest structure there is, and what
# it needs to guess the next letter (a space, or more of the word). Features that need a long memory, such as being inside
# quotes or the position in a line, take longer training (try `--steps 2000`). A cell that
# switches on at an opening character and stays on until the closing one is *remembering*:
# its forget gate near 1 and its input gate near 0 in between, the path notebook 2 showed
# keeps gradients alive.

# %%
display(Image(filename=str(RUN / "gates.png")))

# %% [markdown]
# ### Reading `gates.png`
#
# One point per gate unit: across the characters read, the fraction of steps the gate was
# nearly closed ($< 0.1$, to the right) and nearly open ($> 0.9$, up). A unit near the origin
# is a *dial*, rarely at either edge; a unit near the dashed diagonal is a *switch*, almost
# always at one edge or the other; top left: mostly open, bottom right: mostly closed.
#
# Right after initialisation every gate sits near $\sigma(0) = \tfrac12$, at the origin.
# After 150 steps most units have moved only part of the way: they are still mostly dials.
# With longer training more units saturate; Karpathy et al. found forget-gate units that stay
# open (top left) for long stretches, the cells that carry information far, and few gates
# that are never saturated. A unit stuck at one edge for every character does nothing useful.

# %% [markdown]
# **Question.** A cell follows `in_quotes` with $r = 0.9$ over the first half of the text and
# $r = 0$ over the second. Is it a quote cell? Where does it rank?
#
# <details><summary>Answer</summary>
#
# Not shown to be: the second half may hold no quotes at all (a constant feature has no
# correlation and scores 0), or the cell may have followed one long quotation by chance. Its
# score is the weaker half, 0, so it ranks below any cell that follows a feature in both
# halves.
#
# </details>

# %% [markdown]
# Try it yourself on your own text:
#
# ```
# nplstm train --text my.txt --steps 2000 --out /tmp/mine
# nplstm visualize --out /tmp/mine --cells 8
# ```
