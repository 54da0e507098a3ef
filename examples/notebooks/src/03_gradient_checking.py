# %% [markdown]
# # 3. Gradient checking in practice
#
# A hand-written backward is trusted only after a finite-difference check. This notebook looks
# at the two questions that decide whether such a check is worth anything:
#
# 1. **How accurate is a finite difference?** The error of a central difference against the
#    step $\varepsilon$, in float64 and float32: the "V-curve".
# 2. **When a check fails, where is the bug?** Two planted bugs, a wrong gate block in a
#    cell's backward and a wrong time step in a sequence's backward, and how the checker's
#    report, broken down by gate and by time step, points at them.
#
# Reference: `docs/gradcheck.md`, `examples/fd_epsilon.py`.

# %%
import matplotlib.pyplot as plt
import numpy as np

import nplstm
from nplstm.functional import reference as R
from nplstm.gradcheck import cell_layouts, random_cell_case, random_sequence_case, sequence_layouts

# %% [markdown]
# ## 1. The V-curve: truncation against round-off
#
# For a smooth $L$, Taylor's theorem gives the central difference's error:
#
# $$ D(\varepsilon) = \frac{L(x+\varepsilon e_j) - L(x-\varepsilon e_j)}{2\varepsilon}
#    = \frac{\partial L}{\partial x_j} + \underbrace{\frac{\varepsilon^2}{6} L'''}_{\text{truncation}}
#    + \underbrace{O\!\left(\frac{u\,|L|}{\varepsilon}\right)}_{\text{round-off}} $$
#
# where $u$ is the unit round-off of the dtype ($u \approx 1.1\cdot10^{-16}$ in float64,
# $6\cdot10^{-8}$ in float32). Truncation shrinks with $\varepsilon$ (slope $+2$ on a log-log
# plot), round-off grows as $\varepsilon$ shrinks (slope $-1$); the sum is a V whose bottom lies
# near $\varepsilon^* \approx (3u)^{1/3}$, with an error of about $u^{2/3}$.
#
# We measure it on an LSTM cell with $L = \langle u_h, h \rangle + \langle u_c, c \rangle$,
# against the exact gradient of the (checked) backward, for a few elements of `weight_hh`.

# %%
rng = np.random.default_rng(0)
B, I, H = 4, 8, 8
inputs = random_cell_case(rng, B, I, H)    # x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh
u_h, u_c = rng.standard_normal((B, H)), rng.standard_normal((B, H))

def loss(inputs, dtype):
    """L = <u_h, h> + <u_c, c> with the forward evaluated in dtype."""
    x, h_prev, c_prev, *weights = (a.astype(dtype) for a in inputs)
    (h, c), _ = R.lstm_cell_forward(x, (h_prev, c_prev), *weights)
    return float(np.sum(u_h * h, dtype=np.float64) + np.sum(u_c * c, dtype=np.float64))

_, cache = R.lstm_cell_forward(inputs[0], (inputs[1], inputs[2]), *inputs[3:])
exact = R.lstm_cell_backward(u_h, u_c, cache).weight_hh      # (4H, H) the exact gradient
picks = rng.choice(exact.size, 8, replace=False)             # 8 elements of weight_hh

def central_difference(j, eps, dtype):
    def at(step):
        moved = list(inputs)
        moved[4] = inputs[4].copy()
        moved[4].reshape(-1)[j] += step
        return loss(moved, dtype)
    return (at(eps) - at(-eps)) / (2 * eps)

def error(eps, dtype):
    """max over the picked elements of |D(eps) - exact| / max |exact|"""
    return max(abs(central_difference(j, eps, dtype) - exact.reshape(-1)[j]) for j in picks) \
        / np.abs(exact).max()

epsilons = np.logspace(-12, 0, 37)
curves = {dtype: np.array([error(e, dtype) for e in epsilons])
          for dtype in (np.float64, np.float32)}
for dtype, errors in curves.items():
    best = errors.argmin()
    u = np.finfo(dtype).eps / 2
    print(f"{dtype.__name__}: best eps = {epsilons[best]:.0e}, relative error {errors[best]:.1e}"
          f"   (theory: eps* ≈ (3u)^(1/3) = {(3 * u) ** (1 / 3):.0e}, error ≈ u^(2/3) = "
          f"{u ** (2 / 3):.0e})")
at = {e: curves[np.float64][np.argmin(abs(np.log10(epsilons / e)))] for e in (1e-12, 1e-6, 1e-2)}
print("float64 error at eps = 1e-12, 1e-6, 1e-2:", ", ".join(f"{v:.0e}" for v in at.values()))

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
for (dtype, errors), color in zip(curves.items(), ("C0", "C1")):
    u = np.finfo(dtype).eps / 2
    ax.loglog(epsilons, np.maximum(errors, 1e-18), "o-", ms=3, color=color,
              label=dtype.__name__)
    ax.axvline((3 * u) ** (1 / 3), color=color, ls=":", lw=1)
ax.loglog(epsilons[20:], 0.3 * epsilons[20:] ** 2, "k--", lw=0.8, label="slope +2 (truncation)")
ax.loglog(epsilons[:14], 1e-16 / epsilons[:14], "k-.", lw=0.8, label="slope −1 (round-off)")
ax.axvline(1e-6, color="gray", lw=0.8)
ax.text(1.2e-6, 1e-1, "gradcheck's ε", fontsize=8, color="gray")
ax.set_xlabel("step ε")
ax.set_ylabel("max |D(ε) − exact| / max |exact|")
ax.set_title("Central differences of an LSTM cell (dotted: ε* = (3u)^(1/3))", fontsize=10)
ax.grid(True, alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# What the curve says:
#
# - **float64**: at $\varepsilon = 10^{-6}$ (nplstm's default, near the bottom) a difference is
#   good to a few $10^{-10}$ relative, so a backward can be checked to about $10^{-6}$:
#   `gradcheck`'s default `rtol`.
# - **float32**: the bottom is some $10^5$ times higher, near $10^{-5}$, at a much larger
#   $\varepsilon \approx 5\cdot10^{-3}$. A float32 difference cannot tell a right backward
#   from one off by $10^{-5}$. That is why `nplstm.gradcheck` always takes its differences in
#   float64, also when it checks a float32 backward (it re-runs the forward on float64 copies
#   of the inputs).
# - Too small an $\varepsilon$ is as bad as too large: at $10^{-12}$ the float64 difference
#   is off by about $10^{-3}$ (round-off), worse than at $10^{-2}$ (truncation).

# %% [markdown]
# ## 2. A planted bug: one wrong gate block
#
# Here is a copy of the reference cell backward with one mistake, the kind copy-paste makes:
# the forget gate's derivative uses $\tanh' = 1 - t^2$ instead of $\sigma' = s(1-s)$.

# %%
from nplstm.functional.cell import CellGrads

def buggy_step_backward(dh, dc, cache):
    x, h_prev, c_prev, i, f, g, o, tanh_c, weight_ih, weight_hh, has_bias, _ = cache
    do = dh * tanh_c                                   # h = o ⊙ tanh(c)
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c)     # all of ∂L/∂c
    df, dc_prev = dc_total * c_prev, dc_total * f      # c = f ⊙ c_prev + i ⊙ g
    di, dg = dc_total * g, dc_total * i
    dz_o = do * o * (1 - o)                            # o = σ(z_o)
    dz_g = dg * (1 - g * g)                            # g = tanh(z_g)
    dz_f = df * (1 - f * f)                            # BUG: f = σ(z_f), so σ' = f(1 − f)
    dz_i = di * i * (1 - i)                            # i = σ(z_i)
    dz = np.concatenate([dz_i, dz_f, dz_g, dz_o], axis=-1)   # (B, 4H)
    return CellGrads(dz @ weight_ih, dz @ weight_hh, dc_prev, dz.T @ x, dz.T @ h_prev,
                     dz.sum(axis=0), dz.sum(axis=0))

def cell_forward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return R.lstm_cell_forward(x, (h_prev, c_prev), weight_ih, weight_hh, bias_ih, bias_hh)

def buggy_cell_backward(doutput, cache):
    return buggy_step_backward(*doutput, cache)

B, I, H = 3, 4, 5
cell_inputs = random_cell_case(np.random.default_rng(1), B, I, H)
cell_names = ["x", "h_prev", "c_prev", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]

# %% [markdown]
# The checker knows nothing about LSTMs. A **layout** tells it what an input's axes mean:
# `cell_layouts(H)` says that axis 0 of the weights and biases stacks the gate blocks
# $[i \mid f \mid g \mid o]$, each $H$ rows. The report then adds a breakdown: the worst
# `err/tol` per gate block, over every input that has one.

# %%
report = nplstm.gradcheck(cell_forward, buggy_cell_backward, cell_inputs, names=cell_names,
                          layouts=cell_layouts(H), raise_exception=False)
print(report)

# %% [markdown]
# Reading it:
#
# - `c_prev` passes: $dc_{prev} = dc_{total} \odot f$ does not go through $dz$, so the bug is after
#   the split into the direct path and the gates.
# - `x`, `h_prev` and every weight and bias fail: all of them are computed from $dz$.
# - The **gate** line fails for `f` alone. So the error is in the forget gate's block of $dz$:
#   $dz_f = df \odot f(1-f)$, exactly the planted line.
#
# The same report as data, to use in a test:

# %%
print("failed inputs:", report.failed)
gates = report.breakdown()["gate"]
print({gate: f"{stats.worst_ratio:.1e}" for gate, stats in gates.items()})

# %% [markdown]
# ## 3. A planted bug: one wrong time step
#
# Backpropagation through time runs the step backward for $t = T-1, \dots, 0$, carrying
# $\partial L/\partial h_t$ and $\partial L/\partial c_t$ back:
#
# $$ \frac{\partial L}{\partial h_{t}} = \frac{\partial L}{\partial \text{output}_t}
#    + \Big(\frac{\partial L}{\partial h_{t}}\Big)_{\text{from step } t+1}. $$
#
# The planted bug is the classic off-by-one: the loop `range(T - 1, 0, -1)` stops *before*
# step 0.

# %%
def sequence_forward(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh):
    return R.lstm_forward(x, (h0, c0), weight_ih, weight_hh, bias_ih, bias_hh)

def buggy_sequence_backward(doutput, cache):
    doutput_t, (dh, dc) = doutput          # (T, B, H); dh_n, dc_n (B, H)
    steps = cache.steps                    # one StepCache per time step
    T = len(steps)
    dx = np.zeros((T,) + steps[0].x.shape)                   # (T, B, I)
    weight_grads = [0, 0, 0, 0]            # weight_ih, weight_hh, bias_ih, bias_hh
    for t in range(T - 1, 0, -1):          # BUG: the last index is 1, step 0 is never undone
        grads, _ = R.lstm_step_backward(doutput_t[t] + dh, dc, steps[t])
        dx[t], dh, dc = grads.x, grads.h_prev, grads.c_prev
        weight_grads = [total + step for total, step in
                        zip(weight_grads, grads[3:])]         # Σ over t
    return [dx, dh, dc, *weight_grads]

T, B, I, H = 5, 2, 3, 4
sequence_inputs = random_sequence_case(np.random.default_rng(2), T, B, I, H)[:7]  # no weight_hr
sequence_names = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]

report = nplstm.gradcheck(sequence_forward, buggy_sequence_backward, sequence_inputs,
                          names=sequence_names, layouts=sequence_layouts(T, H),
                          raise_exception=False)
print(report)

# %% [markdown]
# Reading it:
#
# - The **time** line (from the layout of `x`, whose axis 0 is time) fails at step 0 alone;
#   steps 1 … 4 pass. Something is wrong at the first step only.
# - `h0` and `c0` fail too: they are the carries out of step 0.
# - All four gate blocks of the weights fail alike: not a gate's derivative, a whole step
#   missing from the sums.
#
# Fixed, the loop runs `range(T - 1, -1, -1)`, which is what `reference.lstm_backward` does;
# it passes:

# %%
def sequence_backward(doutput, cache):
    doutput_t, (dh_n, dc_n) = doutput
    return R.lstm_backward(doutput_t, dh_n, dc_n, cache)[:7]   # no weight_hr

report = nplstm.gradcheck(sequence_forward, sequence_backward, sequence_inputs,
                          names=sequence_names, layouts=sequence_layouts(T, H))
print("passed:", report.passed, "| worst err/tol per time step:",
      {t: f"{s.worst_ratio:.0e}" for t, s in report.breakdown()["time"].items()})

# %% [markdown]
# **Question.** The planted bug of section 2 fails every row except `c_prev`. Which rows would
# fail if the bug were instead `dc_prev = dc * f` (the upstream `dc`, not `dc_total`)?
#
# <details><summary>Answer</summary>
#
# Only `c_prev`: `dc_prev` is the one output that uses that line, and `dz` still gets the
# right `dc_total`. One row failing alone points at the one line that computes it.
#
# </details>

# %% [markdown]
# ## 4. Your turn: the gradients of a linear layer (exercise `linear`)
#
# Write `linear_backward` for $y = x W^\top + b$ ($x$ (N, I), $W$ (O, I), $b$ (O,)): from
# $dy = \partial L/\partial y$, return `dx`, `dW`, `db`, each shaped like what it is the
# gradient of. Then run the check cell: like `gradcheck`, it compares your gradients with
# central differences (and with nplstm's reference), and it names the mistake ("not summed
# over the batch", "transpose?"). As stored, the notebook checks the unfinished stub, so the
# check fails.

# %%
def linear_backward(dy, x, W, b):
    """dy (N, O), x (N, I), W (O, I), b (O,): returns dx (N, I), dW (O, I), db (O,)."""
    raise NotImplementedError("linear_backward: write me")

# %%
from nplstm.exercises import check

result = check("linear", globals())
result

# %% [markdown]
# **Question.** A wrong `db = dy[0]` (one row of `dy`, not the sum over the rows) passes a
# check whose batch has a single row. Why, and what does the checker do about it?
#
# <details><summary>Answer</summary>
#
# With N = 1, `dy[0]` *is* the sum over the rows. A check must use a batch of several rows
# (and random values); the exercise's cases do, and the checker names the mistake "not summed
# over the batch" instead of a misleading factor.
#
# </details>

# %% [markdown]
# ## Rules of thumb
#
# - Check in **float64** with $\varepsilon \approx 10^{-6}$; judge by `err/tol`, not by the
#   relative error of elements whose gradient is nearly 0.
# - Use **random** upstream gradients, biases and states: an all-ones `dh` or a zero state makes
#   some wrong formulas give right numbers.
# - Give the checker **layouts** (gate blocks, time steps, layers, directions): a failure then
#   names the block or the step, not just "`weight_hh` is wrong".
# - For large inputs, `mode="directional"` costs a few forward calls per input (per group)
#   instead of two per element; `nplstm.adjoint_check` compares the backward with a
#   forward-mode derivative and sees errors a finite difference cannot.
