# %% [markdown]
# # 1. The LSTM cell by hand: forward, backward, and the checker
#
# One LSTM step takes an input $x$ and the previous state $(h, c)$ and returns the next state
# $(h', c')$. nplstm writes it as torch does, with the four gates stacked along one axis of
# size $4H$ in the order $i, f, g, o$:
#
# $$
# \begin{aligned}
# z &= x W_{ih}^\top + b_{ih} + h W_{hh}^\top + b_{hh} = [\,z_i \mid z_f \mid z_g \mid z_o\,] \\
# i &= \sigma(z_i), \quad f = \sigma(z_f), \quad g = \tanh(z_g), \quad o = \sigma(z_o) \\
# c' &= f \odot c + i \odot g \\
# h' &= o \odot \tanh(c')
# \end{aligned}
# $$
#
# This notebook reads the textbook version of that step in `nplstm/functional/reference.py`,
# runs it, redoes it by hand, walks the backward pass, checks it with `nplstm.gradcheck`, and
# then does the same with the fast functions (`nplstm.functional`) and the module
# (`nplstm.LSTMCell`, torch's API).
#
# Shapes: $B$ batch, $I$ input size, $H$ hidden size.

# %%
import inspect

import numpy as np

import nplstm
from nplstm import functional as F
from nplstm.functional import reference as R

B, I, H = 3, 4, 5
rng = np.random.default_rng(0)
bound = 1 / np.sqrt(H)                       # torch's init: U(-1/√H, 1/√H)
x = rng.standard_normal((B, I))
h = rng.standard_normal((B, H))              # a nonzero state: zeros would hide mistakes
c = rng.standard_normal((B, H))
weight_ih = rng.uniform(-bound, bound, (4 * H, I))
weight_hh = rng.uniform(-bound, bound, (4 * H, H))
bias_ih = rng.uniform(-bound, bound, 4 * H)
bias_hh = rng.uniform(-bound, bound, 4 * H)
print({name: a.shape for name, a in dict(x=x, h=h, c=c, weight_ih=weight_ih,
                                          weight_hh=weight_hh, bias_ih=bias_ih).items()})

# %% [markdown]
# ## The forward step, as the reference writes it
#
# `reference.lstm_step_forward` is the equations above, one line each, with the shape of every
# array at the end of its line. It returns the new state and a *cache*: what the backward pass
# will need (the gates after their nonlinearity, $\tanh(c')$, the inputs).

# %%
print(inspect.getsource(R.lstm_step_forward))

# %%
(h1, c1), cache = R.lstm_cell_forward(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
print("h' =\n", h1.round(4))
print("cache fields:", cache._fields)

# %% [markdown]
# ### The six equations, by hand
#
# The same step written out again in plain NumPy. The sigmoid is computed as
# $\sigma(z) = \tfrac12(\tanh(z/2) + 1)$, which never overflows and keeps the dtype.

# %%
def sigmoid(z):
    return np.tanh(z / 2) / 2 + 1 / 2

z = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh      # (B, 4H)
z_i, z_f, z_g, z_o = np.split(z, 4, axis=1)                   # (B, H) each
i, f, g, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_g), sigmoid(z_o)
c_next = f * c + i * g                                        # c' = f ⊙ c + i ⊙ g
h_next = o * np.tanh(c_next)                                  # h' = o ⊙ tanh(c')

print("max |h' by hand - reference| =", np.abs(h_next - h1).max())
print("max |c' by hand - reference| =", np.abs(c_next - c1).max())
print("mean forget gate f =", f.mean().round(3), " (σ of something near 0: about ½)")

# %% [markdown]
# ## The backward step: derivatives through the outputs
#
# **Try it first.** This section is the answer to the exercise `lstm_cell_backward`:
# `nplstm exercise start lstm_cell_backward` writes its file (the task, the shapes and the
# forward, no backward), and `nplstm exercise check lstm_cell_backward` grades it and says
# where it is wrong. Come back once yours passes.
#
# Backpropagation receives $\partial L/\partial h'$ and $\partial L/\partial c'$ (written
# `dh`, `dc`) and undoes the forward line by line, in reverse. Each derivative of a
# nonlinearity is written through its *output*, which the cache holds:
# $\sigma'(z) = \sigma(z)(1-\sigma(z))$ and $\tanh'(z) = 1 - \tanh^2(z)$.
#
# $$
# \begin{aligned}
# \bar c &= dc + dh \odot o \odot (1 - \tanh^2 c') && \text{the total } \partial L/\partial c' \\
# do &= dh \odot \tanh c', \quad df = \bar c \odot c, \quad di = \bar c \odot g, \quad dg = \bar c \odot i \\
# dz &= [\, di \odot i(1-i) \mid df \odot f(1-f) \mid dg \odot (1-g^2) \mid do \odot o(1-o) \,] \\
# dx &= dz\, W_{ih}, \quad dh_{prev} = dz\, W_{hh}, \quad dc_{prev} = \bar c \odot f \\
# dW_{ih} &= dz^\top x, \quad dW_{hh} = dz^\top h, \quad db_{ih} = db_{hh} = \textstyle\sum_b dz
# \end{aligned}
# $$

# %% [markdown]
# `reference.lstm_step_backward` writes these lines, one each, in
# `nplstm/functional/reference.py`. The upstream gradients are random (seeded): an all-ones
# `dh` would hide a transposed or mixed-up term. Redo the backward by hand and compare.

# %%
dh = rng.standard_normal((B, H))
dc = rng.standard_normal((B, H))
grads = R.lstm_cell_backward(dh, dc, cache)

tanh_c = np.tanh(c_next)
dc_total = dc + dh * o * (1 - tanh_c**2)
do, df, di, dg = dh * tanh_c, dc_total * c, dc_total * g, dc_total * i
dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)],
                    axis=1)                                              # (B, 4H)
by_hand = {"x": dz @ weight_ih, "h_prev": dz @ weight_hh, "c_prev": dc_total * f,
           "weight_ih": dz.T @ x, "weight_hh": dz.T @ h, "bias_ih": dz.sum(axis=0)}
for name, value in by_hand.items():
    difference = np.abs(value - getattr(grads, name)).max()
    print(f"{name:10s} max |by hand - reference| = {difference:.1e}")

# %% [markdown]
# ## Is the backward right? `nplstm.gradcheck`
#
# Agreeing with our own second derivation proves little. The checker compares the backward with
# **central differences** of the forward. It projects the outputs on random directions $u$,
# $L = \langle u_h, h' \rangle + \langle u_c, c' \rangle$, calls the backward once with
# `doutput = (u_h, u_c)`, and compares every gradient element with
#
# $$ \frac{\partial L}{\partial x_j} \approx \frac{L(x + \varepsilon e_j) - L(x - \varepsilon e_j)}{2\varepsilon},
# \qquad \varepsilon = 10^{-6} \text{ in float64}. $$
#
# It wants `forward(*inputs) -> (output, cache)` and `backward(doutput, cache) -> one gradient
# per input`.

# %%
def reference_forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return R.lstm_cell_forward(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)

def reference_backward(doutput, cache):
    dh, dc = doutput
    return R.lstm_cell_backward(dh, dc, cache)          # a CellGrads: one field per input

inputs = [x, h, c, weight_ih, weight_hh, bias_ih, bias_hh]
names = ["x", "h", "c", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
report = nplstm.gradcheck(reference_forward, reference_backward, inputs, names=names)
print(report)

# %% [markdown]
# Every row passes: `err/tol` (the worst error over its tolerance) is far below 1. The
# absolute errors, about $10^{-10}$, are the accuracy of a central difference in float64
# (notebook 3 shows why); relative errors are larger only at elements whose gradient is
# tiny, which is why the checker judges by `err/tol`. The check cost two forward calls per
# input element.

# %% [markdown]
# ## The fast path: `nplstm.functional`
#
# `F.lstm_cell_forward` / `F.lstm_cell_backward` have the same signatures and results, written
# for speed (the gate math in one kernel per backend, buffers reused). The reference is their
# oracle:

# %%
(h1_fast, c1_fast), fast_cache = F.lstm_cell_forward(x, (h, c), weight_ih, weight_hh,
                                                     bias_ih, bias_hh)
fast_grads = F.lstm_cell_backward(dh, dc, fast_cache)
print("max |h' fast - reference| =", np.abs(h1_fast - h1).max())
for name in names:
    if name in ("h", "c"):
        name += "_prev"
    print(f"{name:10s} max |fast - reference| = "
          f"{np.abs(getattr(fast_grads, name) - getattr(grads, name)).max():.1e}")

# %%
def fast_forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return F.lstm_cell_forward(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)

def fast_backward(doutput, cache):
    return F.lstm_cell_backward(*doutput, cache)

print(nplstm.gradcheck(fast_forward, fast_backward, inputs, names=names))

# %% [markdown]
# ## The module: `nplstm.LSTMCell`, torch's API
#
# `nplstm.LSTMCell(input_size, hidden_size)` owns its parameters (`weight_ih`, `weight_hh`,
# `bias_ih`, `bias_hh`, named as in torch), `cell(x, (h, c))` runs one step and records it, and
# `cell.backward(dh, dc)` undoes the latest recorded step: it returns
# `dx, (dh_prev, dc_prev)` and *adds* the parameter gradients into each `.grad`, as torch
# accumulates. Load our weights into it and compare:

# %%
cell = nplstm.LSTMCell(I, H, dtype="float64", seed=0)
for name, value in dict(weight_ih=weight_ih, weight_hh=weight_hh,
                        bias_ih=bias_ih, bias_hh=bias_hh).items():
    getattr(cell, name).data = value.copy()
print(cell, [name for name, _ in cell.named_parameters()])

h1_cell, c1_cell = cell(x, (h, c))
cell.zero_grad()
dx_cell, (dh_prev_cell, dc_prev_cell) = cell.backward(dh, dc)
print("max |h' cell - reference|       =", np.abs(h1_cell - h1).max())
print("max |dx cell - reference|       =", np.abs(dx_cell - grads.x).max())
print("max |dc_prev cell - reference|  =", np.abs(dc_prev_cell - grads.c_prev).max())
print("max |weight_hh.grad - reference| =", np.abs(cell.weight_hh.grad - grads.weight_hh).max())

# %% [markdown]
# The module can be checked too: a forward that loads the (perturbed) parameters into the cell
# and runs it, and a backward that returns the input gradients and a copy of each `.grad`.

# %%
def cell_forward(x, h, c, *parameters):
    for p, value in zip(cell.parameters(), parameters):
        p.data = value
    cell.clear_tape()                 # the checker calls forward many times, backward once
    return cell(x, (h, c)), None

def cell_backward(doutput, _):
    cell.zero_grad()
    dx, (dh_prev, dc_prev) = cell.backward(*doutput)
    return [dx, dh_prev, dc_prev] + [p.grad.copy() for p in cell.parameters()]

report = nplstm.gradcheck(cell_forward, cell_backward, inputs, names=names)
print("LSTMCell passes:", report.passed, "| worst err/tol:",
      f"{max(row.worst_ratio for row in report.inputs):.1e}",
      "| forward calls:", report.n_evaluations)

# %% [markdown]
# ## What to take away
#
# - The forward is six lines; the backward is the same lines undone in reverse, each
#   derivative taken through a saved output ($\sigma' = s(1-s)$, $\tanh' = 1 - t^2$).
# - The cell state gets its gradient along two paths, through $h'$ and directly; $dc_{prev} =
#   \bar c \odot f$: the forget gate decides how much of it flows one step further back
#   (notebook 2 follows it through time).
# - A backward is believed when a **finite-difference check** says so, with random upstream
#   gradients, random biases and nonzero states. Notebook 3 shows how to read a failing one.
