"""One LSTM step, forward and backward, with real numbers: prints docs/worked_example.md.

    python examples/worked_example.py > docs/worked_example.md
    python examples/worked_example.py --out docs/worked_example.md

I = H = 2, B = 1, small round weights.  The forward and the final gradients come from the
textbook layer ``nplstm.functional.reference`` (``lstm_cell_forward``, ``lstm_cell_backward``);
the intermediate gradients (do, dc, df, …, dz) are the lines of ``lstm_step_backward``
written out again here so that each can be printed, and the script checks that they lead to
the reference's own results.  Every number is printed with 4 significant digits; a value
that lies within 1e-9 (relative) of a rounding boundary is refused (``ambiguous``), so the
page cannot depend on how a machine's BLAS rounds the last bit.  tests/test_worked_example.py
regenerates the page (byte for byte) and checks its gradients with ``nplstm.gradcheck``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from nplstm.functional import reference as R
from nplstm.kernels.layout import GATE_NAMES, split_gates
from nplstm.io import atomic_write_bytes

GATES = {"i": "input gate", "f": "forget gate", "g": "candidate cell", "o": "output gate"}


def example_inputs() -> dict:
    """The step's inputs (float64, batched, B = 1): x (1, 2), h_prev (1, 2), c_prev (1, 2),
    weight_ih (8, 2), weight_hh (8, 2), bias_ih (8,), bias_hh (8,), and the upstream
    gradients dh = ∂L/∂h (1, 2), dc = ∂L/∂c (1, 2).  Rows of the weights: i1 i2 f1 f2 g1 g2
    o1 o2 (gate, unit)."""
    a = lambda rows: np.array(rows, dtype=np.float64)            # noqa: E731
    return {
        "x": a([[1.0, -0.5]]),
        "h_prev": a([[0.3, -0.2]]),
        "c_prev": a([[0.5, -1.0]]),
        "weight_ih": a([[0.5, -0.3], [0.2, 0.4],      # i
                        [0.6, 0.1], [-0.2, 0.7],      # f
                        [-0.4, 0.8], [0.3, -0.6],     # g
                        [0.7, 0.2], [-0.5, 0.3]]),    # o
        "weight_hh": a([[0.1, 0.4], [-0.3, 0.2],
                        [0.5, -0.1], [0.2, 0.3],
                        [0.6, 0.2], [-0.1, -0.4],
                        [0.3, -0.2], [0.4, 0.1]]),
        "bias_ih": a([0.1, -0.2, 0.5, 0.4, 0.0, 0.1, -0.1, 0.2]),
        "bias_hh": a([0.2, 0.1, 0.3, -0.2, 0.1, -0.3, 0.2, 0.1]),
        "dh": a([[0.8, -0.6]]),
        "dc": a([[0.2, 0.5]]),
    }


def step(values: dict) -> dict:
    """Forward and backward of the step: every intermediate, named as in reference.py,
    each a float64 array (the batch axis of B = 1 dropped: (H,), (4H,), (4H, I), …)."""
    v = values
    weights = (v["weight_ih"], v["weight_hh"], v["bias_ih"], v["bias_hh"])
    (h, c), cache = R.lstm_cell_forward(v["x"], (v["h_prev"], v["c_prev"]), *weights)
    grads = R.lstm_cell_backward(v["dh"], v["dc"], cache)
    z = v["x"] @ v["weight_ih"].T + v["bias_ih"] + v["h_prev"] @ v["weight_hh"].T + v["bias_hh"]
    i, f, g, o, tanh_c = cache.i, cache.f, cache.g, cache.o, cache.tanh_c
    # lstm_step_backward, line by line
    do = v["dh"] * tanh_c                                   # h = o ⊙ tanh(c)
    dc_total = v["dc"] + v["dh"] * o * (1 - tanh_c * tanh_c)   # all of ∂L/∂c
    df, dc_prev = dc_total * v["c_prev"], dc_total * f      # c = f ⊙ c_prev + i ⊙ g
    di, dg = dc_total * g, dc_total * i
    dz_o, dz_g = do * o * (1 - o), dg * (1 - g * g)         # σ' = s(1 − s), tanh' = 1 − t²
    dz_f, dz_i = df * f * (1 - f), di * i * (1 - i)
    dz = np.concatenate([dz_i, dz_f, dz_g, dz_o], axis=-1)
    # the written-out lines must lead where the reference goes
    for mine, theirs in ((dz[0], grads.bias_ih), (dc_prev, grads.c_prev),
                         (z, np.concatenate(split_gates(z), axis=-1))):
        if not np.allclose(mine, theirs, rtol=1e-12, atol=1e-15):
            raise AssertionError("the written-out backward disagrees with reference.py")
    row = lambda a: a[0]                                    # noqa: E731  (1, n) → (n,)
    out = {"z": row(z), "tanh_c": row(tanh_c), "c": row(c), "h": row(h),
           "do": row(do), "dc_total": row(dc_total), "df": row(df), "di": row(di), "dg": row(dg),
           "dz": row(dz)}
    out.update({k: row(a) for k, a in zip(GATE_NAMES, (i, f, g, o))})
    out.update({f"z_{k}": row(a) for k, a in zip(GATE_NAMES, split_gates(z))})
    out.update({f"dz_{k}": row(a) for k, a in zip(GATE_NAMES, (dz_i, dz_f, dz_g, dz_o))})
    out.update(dx=row(grads.x), dh_prev=row(grads.h_prev), dc_prev=row(grads.c_prev),
               dweight_ih=grads.weight_ih, dweight_hh=grads.weight_hh,
               dbias_ih=grads.bias_ih, dbias_hh=grads.bias_hh)
    return out


def number(value: float) -> str:
    """``value`` to 4 significant digits, plain notation ("0.4502", "-1.250", "0").

    ``ValueError`` if the value lies within 1e-9 (relative) of a rounding boundary: then the
    last printed digit could depend on the last bit of the arithmetic."""
    value = float(value)
    if value == 0:
        return "0"
    exponent = int(np.floor(np.log10(abs(value))))
    scaled = abs(value) / 10.0 ** (exponent - 3)            # in [1000, 10000)
    if abs(scaled - np.floor(scaled) - 0.5) < 1e-9 * scaled:
        raise ValueError(f"ambiguous: {value!r} is at a rounding boundary of 4 digits")
    rounded = float(f"{value:.4g}")                         # 4 significant digits
    exponent = int(np.floor(np.log10(abs(rounded))))       # 9.99996 rounds to 10.00
    return f"{rounded:.{max(0, 3 - exponent)}f}"


def vector(a) -> str:
    """A vector (n,) as ``(a, b, …)``."""
    return "(" + ", ".join(number(x) for x in np.ravel(a)) + ")"


def inputs(a) -> str:
    """A vector of round inputs as written: ``(1, -0.5)``."""
    return "(" + ", ".join(weight(x) for x in np.ravel(a)) + ")"


def weight(value: float) -> str:
    """A round weight as it was written (``0.5``, ``-0.3``)."""
    return f"{float(value):g}"


def matrix_table(name: str, a, columns) -> list:
    """A weight or its gradient (4H, n) as a Markdown table, rows labelled gate and unit."""
    H = a.shape[0] // 4
    lines = [f"| {name} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for k, gate in enumerate(GATE_NAMES):
        for unit in range(H):
            cells = " | ".join(number(x) for x in a[k * H + unit])
            lines.append(f"| {gate}{unit + 1} | {cells} |")
    return lines


def unit_table(rows) -> list:
    """Rows of (equation, values (H,)) as a table with a column per unit."""
    lines = ["| quantity | unit 1 | unit 2 |", "|---|---|---|"]
    lines += [f"| {label} | " + " | ".join(number(x) for x in values) + " |"
              for label, values in rows]
    return lines


def z_i1_sum(v: dict) -> str:
    """z_i of unit 1 written out as the sum it is, from the round inputs."""
    products = [(w, a) for w, a in zip(v["weight_ih"][0], v["x"][0])]
    products += [(v["bias_ih"][0], None)]
    products += [(w, a) for w, a in zip(v["weight_hh"][0], v["h_prev"][0])]
    products += [(v["bias_hh"][0], None)]
    text = ""
    for w, a in products:
        term = weight(abs(w)) + ("" if a is None else f"·({weight(a)})")
        text += ("- " if w < 0 else "+ ") + term + " " if text else \
            ("-" if w < 0 else "") + term + " "
    return text.rstrip()


def page(v: dict, s: dict) -> str:
    """The Markdown page of the worked example."""
    L = []
    add = L.extend
    add(["# A worked example: one LSTM step with numbers", "",
         "<!-- generated by examples/worked_example.py: do not edit by hand; regenerate with",
         "     python examples/worked_example.py --out docs/worked_example.md -->", "",
         "One step of the textbook layer [`nplstm/functional/reference.py`]"
         "(../nplstm/functional/reference.py), forward and backward, with input size",
         "I = 2, hidden size H = 2, batch B = 1 and small round weights, every intermediate "
         "value printed",
         "to 4 significant digits. The names are reference.py's (and "
         "[derivation.md](derivation.md)'s):",
         "`h_prev, c_prev` the state in, `h, c` the state out, `z` the pre-activations, "
         "`i, f, g, o` the gates,",
         "`dX` = ∂L/∂X, `dc_total` all of ∂L/∂c.",
         "Vectors are the one row of the batch, written (unit 1, unit 2).", "",
         "tests/test_worked_example.py regenerates this page and checks every gradient on it "
         "against finite",
         "differences (`nplstm.gradcheck`), so the numbers are right, not only stable.", "",
         "## 1. The inputs", "",
         "```text",
         f"x = {inputs(v['x'])}        h_prev = {inputs(v['h_prev'])}        "
         f"c_prev = {inputs(v['c_prev'])}",
         "```", "",
         "The weights are stored as torch stores them: `weight_ih` (4H, I) = (8, 2) and "
         "`weight_hh` (4H, H) = (8, 2),",
         "rows stacked by gate in the order i, f, g, o (row `f2` is the forget gate of "
         "unit 2); the biases are (8,).", ""])
    table = ["| row | weight_ih[:, 0] | weight_ih[:, 1] | weight_hh[:, 0] | weight_hh[:, 1] "
             "| bias_ih | bias_hh |", "|---|---|---|---|---|---|---|"]
    for r in range(8):
        cells = [weight(v["weight_ih"][r, 0]), weight(v["weight_ih"][r, 1]),
                 weight(v["weight_hh"][r, 0]), weight(v["weight_hh"][r, 1]),
                 weight(v["bias_ih"][r]), weight(v["bias_hh"][r])]
        table.append(f"| {GATE_NAMES[r // 2]}{r % 2 + 1} | " + " | ".join(cells) + " |")
    add(table + [""])
    add(["The loss is whatever comes after the step; all the step needs from it are the "
         "upstream gradients",
         "", "```text",
         f"dh = ∂L/∂h = {inputs(v['dh'])}        dc = ∂L/∂c = {inputs(v['dc'])}",
         "```", "",
         "(for example L = ⟨dh, h⟩ + ⟨dc, c⟩, the loss the test's finite differences "
         "use).", ""])
    # forward
    add(["## 2. Forward", "",
         "```text",
         "z = x @ weight_ih.T + b_ih + h_prev @ weight_hh.T + b_hh   # (B, 4H) pre-activations",
         "z_i, z_f, z_g, z_o = split_gates(z)",
         "```", "",
         "For unit 1 of the input gate (row i1):", "", "```text",
         f"z_i (unit 1) = {z_i1_sum(v)} = {number(s['z_i'][0])}",
         "```", "",
         f"and all of z = {vector(s['z'])}, four blocks of H = 2:", ""])
    add(unit_table([(f"z_{k}", s[f"z_{k}"]) for k in GATE_NAMES]) + [""])
    add(["Then the gates, the new cell state and the new hidden state:", ""])
    rows = [(f"{k} = {'tanh' if k == 'g' else 'σ'}(z_{k}) ({GATES[k]})", s[k])
            for k in GATE_NAMES]
    rows += [("c = f ⊙ c_prev + i ⊙ g", s["c"]),
             ("tanh(c)  (`tanh_c`)", s["tanh_c"]),
             ("h = o ⊙ tanh(c)", s["h"])]
    add(unit_table(rows) + [""])
    c0, f0, i0, g0 = v["c_prev"][0][0], s["f"][0], s["i"][0], s["g"][0]
    add(["For unit 1: "
         f"c = {number(f0)}·{weight(c0)} + {number(i0)}·({number(g0)}) = "
         f"{number(s['c'][0])}, and h = {number(s['o'][0])}·tanh({number(s['c'][0])})"
         f" = {number(s['h'][0])}.", ""])
    # backward
    add(["## 3. Backward", "",
         "`lstm_step_backward` undoes the forward line by line, last line first; each row "
         "names the forward",
         "line it undoes. Derivatives are written through the gates' outputs: σ′ = s(1 − s), "
         "tanh′ = 1 − t².", "",
         "### 3.1 Through h = o ⊙ tanh(c) and c = f ⊙ c_prev + i ⊙ g", ""])
    add(unit_table([
        ("do = dh ⊙ tanh(c)", s["do"]),
        ("dc_total = dc + dh ⊙ o ⊙ (1 − tanh²(c))  (all of ∂L/∂c)", s["dc_total"]),
        ("df = dc_total ⊙ c_prev", s["df"]),
        ("dc_prev = dc_total ⊙ f  (∂L/∂c_prev, to the previous step)", s["dc_prev"]),
        ("di = dc_total ⊙ g", s["di"]),
        ("dg = dc_total ⊙ i", s["dg"])]) + [""])
    add(["The second line is where the two routes to c meet: `dc` from after the step "
         f"{inputs(v['dc'])} plus",
         "the route through h, dh ⊙ o ⊙ (1 − tanh²(c)) = "
         f"{vector(s['dc_total'] - v['dc'][0])}. The cell state's "
         "gradient goes back to the previous step",
         "multiplied by f only (`dc_prev = dc_total ⊙ f`): no weight matrix, no squashing "
         "derivative.", "",
         "### 3.2 Through the gates' nonlinearities", ""])
    add(unit_table([
        ("dz_o = do ⊙ o ⊙ (1 − o)", s["dz_o"]),
        ("dz_g = dg ⊙ (1 − g²)", s["dz_g"]),
        ("dz_f = df ⊙ f ⊙ (1 − f)", s["dz_f"]),
        ("dz_i = di ⊙ i ⊙ (1 − i)", s["dz_i"])]) + [""])
    add(["so dz = [dz_i | dz_f | dz_g | dz_o] =", "", "```text",
         vector(s["dz"]), "```", "",
         "### 3.3 Through z = x @ weight_ih.T + b_ih + h_prev @ weight_hh.T + b_hh", "",
         "```text",
         f"dx      = dz @ weight_ih = {vector(s['dx'])}",
         f"dh_prev = dz @ weight_hh = {vector(s['dh_prev'])}",
         f"dbias_ih = dbias_hh = Σ_b dz = {vector(s['dbias_ih'])}",
         "```", "",
         "`dweight_ih = dz.T @ x` and `dweight_hh = dz.T @ h_prev`: each row is that row's `dz` "
         "times the input it multiplied", ""])
    add(matrix_table("row", np.concatenate([s["dweight_ih"], s["dweight_hh"]], axis=1),
                     ["dweight_ih[:, 0]", "dweight_ih[:, 1]", "dweight_hh[:, 0]",
                      "dweight_hh[:, 1]"]) + [""])
    add(["## 4. Check it yourself", "", "```console",
         "$ python examples/worked_example.py            # prints this page",
         "```", "",
         "Change a weight in `example_inputs()` and regenerate: the test compares every "
         "gradient printed",
         "here with central differences of L = ⟨dh, h⟩ + ⟨dc, c⟩ "
         "(`nplstm.gradcheck`, float64).", ""])
    return "\n".join(L)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the page here (default: stdout)")
    args = parser.parse_args(argv)
    values = example_inputs()
    text = page(values, step(values))
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_bytes(Path(args.out), text.encode("utf-8"))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
