# %% [markdown]
# # 5. RNN, GRU and LSTM side by side: gradient flow through time, and the adding problem
#
# Notebook 2 showed the tanh RNN's gradient vanishing and the LSTM's cell keeping it alive.
# The **GRU** (Cho et al. 2014; `nplstm.GRU`, torch.nn.GRU's API) gets the same effect with
# one state and no cell. Here the three cells meet on the same inputs: first how
# $\|\partial L/\partial h_t\|$ decays with the distance from the loss, then a task that needs
# memory, the adding problem.
#
# One step of each, in torch's form (`nplstm/functional/reference.py`, derived in
# docs/derivation.md §2 and §7):
#
# | cell | step | state |
# |---|---|---|
# | RNN | $h = \tanh(x W_{ih}^\top + b_{ih} + h_{prev} W_{hh}^\top + b_{hh})$ | $h$ |
# | LSTM | $c = f \odot c_{prev} + i \odot g$, $\; h = o \odot \tanh(c)$ | $h, c$ |
# | GRU | $n = \tanh(x W_{in}^\top + b_{in} + r \odot (h_{prev} W_{hn}^\top + b_{hn}))$, $\; h = (1 - z) \odot n + z \odot h_{prev}$ | $h$ |
#
# with the GRU's reset gate $r = \sigma(x W_{ir}^\top + b_{ir} + h_{prev} W_{hr}^\top + b_{hr})$
# and update gate $z$ likewise; $r, z, n$ are the three blocks of the GRU's $3H$ rows, in that
# order.

# %% [markdown]
# **Question.** Backpropagation through time multiplies the gradient by one step's Jacobian
# $\partial h_t / \partial h_{t-1}$ per step back. For the RNN that is
# $\mathrm{diag}(1 - h_t^2)\, W_{hh}$ (transposed, in the backward): a matrix and a $\tanh'$
# every step. Look at the GRU's last equation: which term of $\partial h_t/\partial h_{t-1}$
# has neither, and when does it keep the gradient alive?
#
# <details><summary>Answer</summary>
#
# $h = (1 - z) \odot n + z \odot h_{prev}$ hands $h_{prev}$ straight to $h$, scaled
# elementwise by $z$: in the backward, `dh_prev = dh * z + (what comes back through W_hh)`.
# Where the update gate stays near 1, that term passes the gradient back almost unchanged, step
# after step — as the LSTM's cell path `dc_prev = dc_total * f` does with the forget gate.
# The GRU's one state plays both the LSTM's $h$ and its $c$.
#
# </details>

# %%
import matplotlib.pyplot as plt
import numpy as np

import nplstm
from nplstm import functional as F
from nplstm.optim import SGD, clip_grad_norm
from nplstm.training.data import adding_problem

CELLS = {"RNN": nplstm.RNN, "GRU": nplstm.GRU, "LSTM": nplstm.LSTM}
COLORS = {"RNN": "k", "GRU": "C3", "LSTM": "C0"}

# %% [markdown]
# ## Your turn: the GRU step (exercise `gru_cell`)
#
# Write `gru_cell_forward`, which returns $h$ and a cache, and `gru_cell_backward`, which
# gets $dh = \partial L/\partial h$ and returns the gradient of every input. Shapes are
# torch's: `W_ih` (3H, I), `W_hh` (3H, H), biases (3H,), blocks in the order r, z, n. Two
# details are torch's and catch many: $r$ multiplies the whole recurrent term
# $h_{prev} W_{hn}^\top + b_{hn}$, bias included (not $h_{prev}$ before the product), and $z$ is
# the share of the *old* state. The check cell grades your functions against nplstm's
# reference and names the mistake; as stored, it checks the unfinished stubs, so it fails.
# (`nplstm exercise start gru_cell` writes the same exercise as a file, with the equations.)

# %%
def sigmoid(a):
    return 0.5 * (1 + np.tanh(0.5 * a))


def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """x (B, I), h_prev (B, H): returns h (B, H) and a cache for gru_cell_backward."""
    raise NotImplementedError("gru_cell_forward: write me")


def gru_cell_backward(dh, cache):
    """dh (B, H): returns dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh, each shaped like its input."""
    raise NotImplementedError("gru_cell_backward: write me")

# %%
from nplstm.exercises import check

result = check("gru_cell", globals())
result

# %% [markdown]
# ## Gradient flow through time
#
# The same random input through the three cells, each at torch's initialisation
# ($U(-1/\sqrt H, 1/\sqrt H)$, seeded). The loss reads only the last step,
# $L = \langle u, h_{T-1} \rangle$, and `backward(..., record=record)` gives
# $\|\partial L/\partial h_t\|$ over the batch at every step.
#
# Then the same with the memory gate opened by its bias, as one does in practice: the LSTM's
# forget gate (`bias_ih_l0[H:2H]`, the second of its four blocks) and the GRU's update gate
# (`bias_ih_l0[H:2H]`, the second of its three) start at $+3$, so $f$ and $z$ start near
# $\sigma(3) \approx 0.95$.

# %% [markdown]
# **Question.** Before running it: rank the three cells by how much gradient reaches 60 steps
# back at their default init. Does opening the gate change the ranking?
#
# <details><summary>Answer</summary>
#
# At the default init, $f$ and $z$ are near $\tfrac12$, so the LSTM's cell path and the GRU's
# direct path halve the gradient per step: both decay geometrically too, though more slowly
# than the RNN, whose factor is the spectral radius of $W_{hh}$ times the mean $\tanh'$. With
# the gates opened the decay per step is about the gate's value, $\approx 0.95$, for both
# the LSTM and the GRU, and their gradients 60 steps back are many orders of magnitude above
# the RNN's. The RNN has no gate to open.
#
# </details>

# %%
T, B, I, H = 100, 8, 16, 32
rng = np.random.default_rng(0)
x = rng.standard_normal((T, B, I))
doutput = np.zeros((T, B, H))
doutput[-1] = rng.standard_normal((B, H))          # L = <u, h_{T-1}>


def gradient_norms(name, gate_bias=0.0):
    """‖∂L/∂h_t‖ for t = 0 … T−1, for cell ``name`` with its memory gate's bias raised."""
    net = CELLS[name](I, H, dtype="float64", seed=1)
    if name != "RNN":
        net.bias_ih_l0.data[H:2 * H] += gate_bias     # LSTM: forget gate; GRU: update gate
    net(x)
    record = {}
    net.backward(doutput, None, record=record)
    return record[(0, 0)]["dh"]


norms = {(name, bias): gradient_norms(name, bias)
         for name in CELLS for bias in ((0.0,) if name == "RNN" else (0.0, 3.0))}
for (name, bias), dh in norms.items():
    print(f"{name:4} gate bias +{bias:.0f}: ‖∂L/∂h‖ 60 steps back / at T−1 = "
          f"{dh[T - 61] / dh[-1]:.1e}")

# %%
steps_back = T - 1 - np.arange(T)
fig, ax = plt.subplots(figsize=(7.5, 4.5))
for (name, bias), dh in norms.items():
    style = "-" if bias == 0 else "--"
    label = name if name == "RNN" else f"{name}, gate bias +{bias:.0f}"
    ax.semilogy(steps_back, dh, style, color=COLORS[name], label=label)
ax.set_xlabel("steps back from the loss (T − 1 − t)")
ax.set_ylabel("‖∂L/∂h_t‖ over the batch")
ax.set_title(f"BPTT through T = {T} steps, H = {H}: the loss reads the last step only",
             fontsize=10)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# The GRU's per-step factor is its update gate, as the LSTM's is its forget gate: for the
# opened GRU, the median ratio $\|\partial L/\partial h_{t-1}\| / \|\partial L/\partial h_t\|$
# against the median $z_t$ (read from the reference forward's cache):

# %%
from nplstm.functional import reference as R

gru = nplstm.GRU(I, H, dtype="float64", seed=1)
gru.bias_ih_l0.data[H:2 * H] += 3.0
weights = [getattr(gru, name + "_l0").data
           for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
_, cache = R.gru_forward(x, None, *weights)
z = np.stack([step.z for step in cache.steps])        # (T, B, H)
dh = norms[("GRU", 3.0)]
print(f"median step-back factor {np.median(dh[:-1] / dh[1:]):.2f} | median z_t "
      f"{np.median(z):.2f}")

# %% [markdown]
# ## The adding problem
#
# Each input step is (value, marker): values $U(0, 1)$, the marker 1 at exactly two steps,
# one in each half of the sequence (`nplstm.training.data.adding_problem`). The target is the
# sum of the two marked values, read by a linear layer from the last hidden state. Predicting
# the mean, 1, scores MSE $1/6 \approx 0.167$: to do better, a cell must carry the first
# marked value across at least half the sequence.
#
# The three cells train the same way: $H = 16$, batches of 32 sequences of $T = 20$ steps, SGD
# with momentum (lr 0.5, momentum 0.9), gradients clipped to norm 1, 700 steps, the default
# init (no gate bias), the same seeds; every 25 steps the MSE on 500 held-out sequences.
# This is a small run, to finish in seconds: `nplstm train --task adding` and
# `examples/adding_problem.py` run longer sequences.

# %% [markdown]
# **Question.** Which would you expect to beat the baseline first, and which not at all, in
# 700 steps?
#
# <details><summary>Answer</summary>
#
# The gated cells: at $T = 20$ their gradient reaches the first marker (a distance of 10 to
# 20 steps) with enough strength to learn from, and both learn to hold a value by setting
# their gate. The RNN's gradient from the loss to the first marker has shrunk by its per-step
# factor ten to twenty times over; in the stored run it never gets clearly below the
# baseline, and with this learning rate its loss jumps (clipping bounds each step, not the
# curvature). Which of the two gated cells is first depends on the seeds and the learning
# rate; in the stored run the GRU is.
#
# </details>

# %%
T_ADD, B_ADD, H_ADD, STEPS, EVERY = 20, 32, 16, 700, 25
x_eval, y_eval = adding_problem(np.random.default_rng(12345), 500, T_ADD, dtype="float64")


def last_hidden(state):
    return state[0][0] if isinstance(state, tuple) else state[0]       # LSTM: (h_n, c_n)


def train_adding(name):
    net = CELLS[name](2, H_ADD, dtype="float64", seed=0)
    head = nplstm.Linear(H_ADD, 1, dtype="float64", seed=1)
    params = net.parameters() + head.parameters()
    optimizer = SGD(params, lr=0.5, momentum=0.9)
    curve = []
    for step in range(1, STEPS + 1):
        x_batch, y_batch = adding_problem(np.random.default_rng([0, step]), B_ADD, T_ADD,
                                          dtype="float64")
        _, state = net(x_batch)
        loss, cache = F.mse_forward(head(last_hidden(state)), y_batch)
        optimizer.zero_grad()
        dh_last = head.backward(F.mse_backward(1.0, cache).pred)[None]    # (1, B, H)
        net.backward(None, (dh_last, None) if name == "LSTM" else dh_last)
        clip_grad_norm(params, 1.0)
        optimizer.step()
        if step % EVERY == 0:
            with nplstm.no_grad():
                _, state = net(x_eval)
                curve.append(float(F.mse_forward(head(last_hidden(state)), y_eval)[0]))
    return net, head, curve


trained = {name: train_adding(name) for name in CELLS}
for name, (_, _, curve) in trained.items():
    below = next((EVERY * (k + 1) for k, mse in enumerate(curve) if mse < 0.05), None)
    print(f"{name:4} final eval MSE {curve[-1]:.3f} | first below 0.05 at step {below}")

# %%
fig, ax = plt.subplots(figsize=(7.5, 4))
steps = EVERY * np.arange(1, STEPS // EVERY + 1)
for name, (_, _, curve) in trained.items():
    ax.semilogy(steps, curve, "-o", markersize=3, color=COLORS[name], label=name)
ax.axhline(1 / 6, color="grey", linestyle=":", label="predict the mean (1/6)")
ax.set_xlabel("training step")
ax.set_ylabel("eval MSE")
ax.set_title(f"The adding problem, T = {T_ADD}, H = {H_ADD}", fontsize=10)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The RNN spends most of the run far *above* the baseline: the gradient reaching the first
# marker is too weak to learn from, while the one from the last few steps is strong, and with
# momentum it throws the weights around. With lr 0.2 (try it: `train_adding` reads
# `optimizer = SGD(params, lr=0.5, …)`) it settles at the baseline, predicting the mean, and
# stays there. The GRU and the LSTM leave the baseline once they have learned to hold the
# first value.
#
# ## Where the gradient goes on the adding problem
#
# The loss reads the last hidden state only, so all that any earlier step learns arrives
# through BPTT. On a held-out batch, $\|\partial L/\partial h_t\|$ of each trained model:
# the first marker sits somewhere in steps 0 … 9, so what reaches there decides whether the
# first value can be learned.

# %% [markdown]
# **Question.** A trained GRU that solves the task: what should its update gate do at the
# steps between the two markers, and what does that do to the curve below?
#
# <details><summary>Answer</summary>
#
# Keep the state: $z \approx 1$ after the first marker, so $h$ carries the marked value
# unchanged to the end. The same $z$ is the per-step factor of the backward's direct path, so
# the gradient stays nearly flat going back over those steps, instead of decaying
# geometrically as the RNN's does.
#
# </details>

# %%
x_probe, y_probe = adding_problem(np.random.default_rng(7), 64, T_ADD, dtype="float64")
fig, ax = plt.subplots(figsize=(7.5, 4))
for name, (net, head, _) in trained.items():
    _, state = net(x_probe)
    loss, cache = F.mse_forward(head(last_hidden(state)), y_probe)
    net.zero_grad()
    dh_last = head.backward(F.mse_backward(1.0, cache).pred)[None]
    record = {}
    net.backward(None, (dh_last, None) if name == "LSTM" else dh_last, record=record)
    dh = record[(0, 0)]["dh"]
    ax.semilogy(np.arange(T_ADD), dh / dh[-1], "-o", markersize=3, color=COLORS[name],
                label=name)
    print(f"{name:4} ‖∂L/∂h_0‖ / ‖∂L/∂h_T−1‖ = {dh[0] / dh[-1]:.1e}")
ax.axvspan(-0.5, T_ADD / 2 - 0.5, color="grey", alpha=0.1, label="first marker's half")
ax.set_xlabel("time step t")
ax.set_ylabel("‖∂L/∂h_t‖ / ‖∂L/∂h_T−1‖")
ax.set_title("Gradient reaching each step, trained models, a held-out batch", fontsize=10)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## What to take away
#
# - All three cells multiply the gradient by one Jacobian per step back. The RNN's is a
#   matrix times $\tanh'$ every step, and nothing in it can be learned to stay near 1.
# - The LSTM and the GRU each have a path back that is an **elementwise product with a
#   gate**: $f$ along the LSTM's cell, $z$ along the GRU's state. Where the gate is near 1
#   the gradient survives; the network sets the gate, so it decides where to remember.
# - The GRU does it with one state and two gates (3H rows of weights, against the LSTM's 4H):
#   fewer parameters and less work per step, for a cell that is often as good.
# - Torch's GRU differs from the original paper in one place, $r$ multiplying
#   $h_{prev} W_{hn}^\top + b_{hn}$; a GRU read from a file must be computed the way it was
#   trained (ONNX says which by `linear_before_reset`, Keras by `reset_after`).
#
# Derivations: docs/derivation.md §7 (the GRU's backward line by line), §3.7 (exploding
# gradients and clipping). Exercises: `gru_cell`, `rnn_step`, `lstm_cell_backward`.
