# %% [markdown]
# # 2. Backpropagation through time and vanishing gradients: LSTM against a tanh RNN
#
# A recurrent network applies the same step $T$ times. Its backward pass, **backpropagation
# through time** (BPTT), runs the step's backward $T$ times in reverse, carrying the gradient
# of the state from step $t$ to step $t-1$. Whatever the step's backward multiplies that
# gradient by, it multiplies by again at every step back: the gradient reaching far into the
# past is a product of $T$ factors.
#
# **A tanh RNN** (`nplstm.RNN`, torch.nn.RNN's API):
# $h_t = \tanh(a_t)$, $a_t = x_t W_{ih}^\top + b_{ih} + h_{t-1} W_{hh}^\top + b_{hh}$, so
#
# $$ \frac{\partial L}{\partial h_{t-1}} = \Big(\frac{\partial L}{\partial h_t} \odot (1 - h_t^2)\Big)\, W_{hh},
# \qquad \Big\|\frac{\partial L}{\partial h_{t-1}}\Big\| \le \|W_{hh}\|_2 \, \max|1-h_t^2| \, \Big\|\frac{\partial L}{\partial h_t}\Big\|. $$
#
# Over many steps the product of these Jacobians shrinks like $\rho^k$, with $\rho$ about the
# spectral radius of $W_{hh}$ times the average $\tanh'$. With torch's init
# $U(-1/\sqrt H, 1/\sqrt H)$ the spectral radius is about $1/\sqrt 3 \approx 0.58$ and
# $\tanh' \le 1$: the gradient shrinks geometrically.
#
# **An LSTM** carries a second state, the cell $c_t = f_t \odot c_{t-1} + i_t \odot g_t$. Along
# the cell, the step back is
#
# $$ \frac{\partial L}{\partial c_{t-1}} = dc_{total,t} \odot f_t
# \qquad (dc_{total,t} \text{ all of } \partial L/\partial c_t), $$
#
# an **elementwise** product with the forget gate, no matrix and no $\tanh'$. Where $f_t \approx 1$
# the gradient passes through unchanged.
#
# We measure $\|\partial L/\partial h_t\|$ (and $\|\partial L/\partial c_t\|$) for every $t$ with
# the `record=` argument of `backward`: `record[(layer, direction)]["dh"]` is the norm over the
# batch at each time step.

# %%
import matplotlib.pyplot as plt
import numpy as np

import nplstm
from nplstm.functional import reference as R

T, B, I, H = 100, 8, 16, 32
rng = np.random.default_rng(0)
x = rng.standard_normal((T, B, I))                  # (T, B, I)
u = rng.standard_normal((B, H))                     # the loss reads the last step only:
doutput = np.zeros((T, B, H))                       #   L = <u, h_{T-1}>
doutput[-1] = u

# %% [markdown]
# ## Your turn: one step of the tanh RNN (exercise `rnn_step`)
#
# Before measuring, write the step whose backward this notebook multiplies $T$ times:
# `rnn_step_forward` returns $h = \tanh(x W_{ih}^\top + b_{ih} + h_{prev} W_{hh}^\top + b_{hh})$
# and a cache; `rnn_step_backward` gets $dh = \partial L/\partial h$ and returns the gradient
# of every input. Shapes are torch's: `W_ih` (H, I), `W_hh` (H, H), biases (H,). Then run the
# check cell; it grades your two functions against `nplstm.RNN`'s own step and names the
# mistake. As stored, the notebook checks the unfinished stubs, so the check fails.

# %%
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """x (B, I), h_prev (B, H): returns h (B, H) and a cache for rnn_step_backward."""
    raise NotImplementedError("rnn_step_forward: write me")


def rnn_step_backward(dh, cache):
    """dh (B, H): returns dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh, each shaped like its input."""
    raise NotImplementedError("rnn_step_backward: write me")

# %%
from nplstm.exercises import check

result = check("rnn_step", globals())
result

# %% [markdown]
# **Question.** From your `rnn_step_backward`: what does one step back multiply
# $\partial L/\partial h$ by, and when does that shrink it?
#
# <details><summary>Answer</summary>
#
# `dh_prev = (dh * (1 - h**2)) @ W_hh`: elementwise by $\tanh' = 1 - h^2 \le 1$, then by the
# matrix $W_{hh}$. Its norm is at most $\|W_{hh}\|_2 \max(1 - h^2)$ times that of `dh`;
# below 1 at every step, the gradient shrinks geometrically with the number of steps back.
#
# </details>

# %% [markdown]
# ## The tanh RNN
#
# `nplstm.RNN(input_size, hidden_size, nonlinearity="tanh")` has torch's parameters
# (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`) and init
# $U(-1/\sqrt H, 1/\sqrt H)$. `output, h_n = rnn(x)` runs it; `rnn.backward(doutput, dh_n,
# record=...)` returns `dx, dh0`.

# %%
rnn = nplstm.RNN(I, H, nonlinearity="tanh", dtype="float64", seed=1)
output, h_n = rnn(x)
record = {}
dx, dh0 = rnn.backward(doutput, None, record=record)
rnn_dh = record[(0, 0)]["dh"]                       # (T,) ‖∂L/∂h_t‖ over the batch

W_hh = rnn.weight_hh_l0.data
print("spectral radius of W_hh =", np.abs(np.linalg.eigvals(W_hh)).max().round(2),
      "| mean tanh' = mean(1 − h_t²) =", (1 - output**2).mean().round(2))
print("‖∂L/∂h_t‖ at 0, 10, 50 steps back:", [f"{rnn_dh[T - 1 - k]:.1e}" for k in (0, 10, 50)])
print("median factor per step back:", np.median(rnn_dh[:-1] / rnn_dh[1:]).round(2))

# %% [markdown]
# ## The LSTM, and its forget gate
#
# The same input through an `nplstm.LSTM` of the same size. At initialisation the forget gate
# is $f = \sigma(z_f)$ with $z_f$ near 0, so $f \approx \tfrac12$: the cell path halves the
# gradient at every step. A common trick (Gers et al. 2000; Jozefowicz et al. 2015) is to
# start the forget gate's bias at $+1$ or more, so $f$ starts near $\sigma(1) = 0.73$ or above
# and the cell remembers. The forget gate's rows are the second block of $4H$:
# `bias_ih_l0[H:2H]`.

# %%
def lstm_gradient_norms(forget_bias):
    lstm = nplstm.LSTM(I, H, dtype="float64", seed=1)
    lstm.bias_ih_l0.data[H:2 * H] += forget_bias          # the forget gate's block
    lstm(x)
    record = {}
    lstm.backward(doutput, None, record=record)
    return lstm, record[(0, 0)]["dh"], record[(0, 0)]["dc"]

runs = {bias: lstm_gradient_norms(bias) for bias in (0.0, 1.0, 3.0)}

def forget_gates(lstm):
    """f_t of every step (T, B, H), from the reference forward's cache."""
    weights = [getattr(lstm, name + "_l0").data
               for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    _, cache = R.lstm_forward(x, None, *weights)
    return np.stack([step.f for step in cache.steps])

for bias, (lstm, dh, dc) in runs.items():
    f = forget_gates(lstm)
    print(f"forget bias +{bias:.0f}: mean f = {f.mean():.2f} | ‖∂L/∂c_t‖ 50 steps back / at T−1"
          f" = {dc[T - 51] / dc[-1]:.1e} | per step: {(dc[T - 51] / dc[-1]) ** (1 / 50):.2f}")

# %%
steps_back = T - 1 - np.arange(T)
fig, ax = plt.subplots(figsize=(7.5, 4.5))
ax.semilogy(steps_back, rnn_dh, "k-", label="tanh RNN  ‖∂L/∂h_t‖")
for (bias, (_, dh, dc)), color in zip(runs.items(), ("C0", "C1", "C2")):
    tag = f"LSTM, forget bias +{bias:.0f}"
    ax.semilogy(steps_back, dh, "-", color=color, label=f"{tag}  ‖∂L/∂h_t‖")
    ax.semilogy(steps_back, dc, "--", color=color, label=f"{tag}  ‖∂L/∂c_t‖")
ax.set_xlabel("steps back from the loss (T − 1 − t)")
ax.set_ylabel("gradient norm over the batch")
ax.set_title(f"BPTT through T = {T} steps, H = {H}: the loss reads the last step only",
             fontsize=10)
ax.set_ylim(1e-30, 1e2)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=7, loc="lower left")
plt.show()

# %% [markdown]
# ## What the plot says
#
# - The **tanh RNN**'s gradient falls by a roughly constant factor per step (a straight line on
#   the log scale): about the spectral radius of $W_{hh}$ times the average $\tanh'$,
#   $0.64 \times 0.84 \approx 0.54$ here. A few dozen steps back the gradient is negligible,
#   and nothing there can be learned from this loss.
# - The **LSTM** at its default init (forget bias 0, $f \approx \tfrac12$) also decays
#   geometrically, but per step by about the average forget gate. The cell path multiplies by
#   $f_t$, not by a matrix.
# - **Raising the forget bias** opens the gate: with $+3$ ($f \approx 0.95$) the gradient
#   reaching 50 steps back is many orders of magnitude larger than the RNN's. The decay is
#   controlled by a gate the network *learns*: where it needs to remember, training pushes
#   $f_t$ towards 1 and the gradient path stays open; where it needs to forget, $f_t \to 0$
#   cuts it.
# - $\|\partial L/\partial h_t\|$ follows $\|\partial L/\partial c_t\|$ once a few steps back:
#   the gradient reaching $h_t$ mostly comes through the gates from the cell's.
#
# The per-step factor of the cell gradient follows the forget gate, as
# $\partial L/\partial c_{t-1} = dc_{total,t} \odot f_t$ says; it is a little above the median
# $f_t$, because the gradient also reaches $c_{t-1}$ through $h_{t-1}$ and the gates, and
# because the elements with larger $f$ keep more of the norm. Step by step:

# %%
for bias, (lstm, _, dc) in runs.items():
    f = forget_gates(lstm)                              # (T, B, H)
    ratio = dc[:-1] / dc[1:]                            # ‖∂L/∂c_{t−1}‖ / ‖∂L/∂c_t‖
    print(f"forget bias +{bias:.0f}: median step-back factor of ‖∂L/∂c‖ = {np.median(ratio):.2f}"
          f" | median f_t = {np.median(f):.2f}")

# %% [markdown]
# **Question.** With forget bias $+3$, $f \approx 0.95$. About how much of
# $\partial L/\partial c_t$ reaches 50 steps back along the cell alone, and how does that
# compare with the RNN's factor of about 0.5 per step?
#
# <details><summary>Answer</summary>
#
# $0.95^{50} \approx 0.08$, against $0.5^{50} \approx 10^{-15}$ for the RNN: the cell path
# multiplies by the forget gate elementwise, so an open gate keeps the gradient alive over
# dozens of steps. The printed step-back factors above are that $f_t$.
#
# </details>

# %% [markdown]
# Vanishing is the common failure; the opposite, **exploding** gradients, happens when the
# per-step factor exceeds 1 (large recurrent weights, a ReLU RNN). It is handled by clipping
# the global gradient norm, which `nplstm train` does (`--clip`). Truncated BPTT, which
# `nplstm train` also uses (`--seq-len`), simply stops the product after a fixed number of
# steps. Both are derived, with the library's code, in docs/derivation.md §3.6–3.7, and
# practised in the exercise `truncated_bptt` (`nplstm exercise start truncated_bptt`).
