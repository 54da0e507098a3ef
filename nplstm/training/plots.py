"""PNG plots of a training run from OUT/metrics.jsonl (needs matplotlib: ``nplstm[plot]``)."""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from pathlib import Path

from ..io import atomic_write
from .run_dir import damage_note, read_log

__all__ = ["read_metrics", "plot_run", "matplotlib_pyplot", "saved_figure", "PLOT_EXTRA_NOTE",
           "MATPLOTLIB_MISSING", "layer_label"]

MATPLOTLIB_MISSING = "matplotlib is not installed (pip install 'nplstm[plot]')"
PLOT_EXTRA_NOTE = ("plots skipped: matplotlib is not installed "
                   "(pip install 'nplstm[plot]'); the numbers are in metrics.jsonl")


def matplotlib_pyplot():
    """``matplotlib.pyplot`` with the file-only Agg backend, or None when not installed."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    return plt


@contextmanager
def saved_figure(path, figsize=(7, 4.5), dpi=110, **subplots):
    """``with saved_figure("out.png") as ax:`` draw on ``ax`` (``subplots``: passed on to
    ``plt.subplots``, e.g. ``ncols=2``); on exit the figure is laid out, written to ``path``
    atomically and closed.  Without matplotlib ``ax`` is None and nothing is written
    (``MATPLOTLIB_MISSING`` says why)."""
    plt = matplotlib_pyplot()
    if plt is None:
        yield None
        return
    fig, ax = plt.subplots(figsize=figsize, **subplots)
    try:
        yield ax
        fig.tight_layout()
        image_format = Path(path).suffix[1:].lower() or "png"
        atomic_write(path, lambda f: fig.savefig(f, format=image_format, dpi=dpi))
    finally:
        plt.close(fig)


def read_metrics(path, on_damaged=None) -> dict:
    """``{"train": [records], "eval": [records], "through_time": [records]}`` from a
    metrics.jsonl file (run_dir.read_log).  Damaged lines are skipped and reported in one line
    to ``on_damaged(line)`` (default: ``warnings.warn``)."""
    lines, damaged = read_log(path)
    if damaged:
        note = damage_note(path, damaged)
        if on_damaged is None:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
        else:
            on_damaged(note)
    runs = {"train": [], "eval": [], "through_time": []}
    for record, _ in lines:
        runs[record["split"]].append(record)
    return runs


def plot_run(out_dir, title: str = "", baseline: float | None = None,
             on_damaged=None, loss_label: str = "loss") -> list:
    """Write OUT/loss.png (train and eval loss, y axis ``loss_label``: what the loss is and its
    unit), OUT/grad_norm.png and, when recorded, OUT/grad_through_time.png; return their paths
    (an empty list without matplotlib).  Damaged lines of the log are skipped
    (``read_metrics``)."""
    if matplotlib_pyplot() is None:
        return []
    out_dir = Path(out_dir)
    runs = read_metrics(out_dir / "metrics.jsonl", on_damaged)
    train, evals = runs["train"], runs["eval"]
    paths = [out_dir / "loss.png", out_dir / "grad_norm.png"]
    steps = [r["step"] for r in train]
    with saved_figure(paths[0], figsize=(7, 4)) as ax:
        ax.plot(steps, [r["loss"] for r in train], lw=0.6, alpha=0.35, color="C0")
        ax.plot(steps, _moving_average([r["loss"] for r in train]), color="C0", label="train")
        ax.plot([r["step"] for r in evals], [r["loss"] for r in evals], "o-", color="C1",
                label="eval")
        if baseline is not None:
            ax.axhline(baseline, ls="--", color="gray", label=f"bigram baseline {baseline:.3f}")
        ax.set(xlabel="step", ylabel=loss_label, title=title or "loss")
        ax.legend()
    with saved_figure(paths[1], figsize=(7, 4)) as ax:
        ax.semilogy(steps, [r["grad_norm"] for r in train], lw=0.8)
        ax.set(xlabel="step", ylabel="‖∇L‖ (before clipping)", title="gradient norm")
    if runs["through_time"]:
        paths.append(out_dir / "grad_through_time.png")
        _plot_through_time(runs["through_time"], paths[-1])
    return paths


def _plot_through_time(records, path):
    """‖∂L/∂h_t‖ (and an LSTM's ‖∂L/∂c_t‖) against t for the first and the last recorded
    batch (the top layer, forward direction): how far back the loss reaches, and how that
    changes."""
    key = max(k for k in records[0] if k.startswith("l") and k.endswith("d0"))
    records = [r for r in records if key in r]
    names = [n for n in ("dh", "dc") if n in records[0][key]]
    with saved_figure(path, figsize=(5 * len(names), 3.8), ncols=len(names), sharex=True,
                      squeeze=False) as axes:
        axes = axes[0]                                      # one row of len(names) panels
        for record, style in ((records[0], "--"), (records[-1], "-")):
            for ax, name in zip(axes, names):
                symbol = name[1:]
                norms = record[key][name]
                ax.semilogy(range(len(norms)), norms, style, label=f"step {record['step']}")
                ax.set(xlabel="time step t", ylabel=f"‖∂L/∂{symbol}_t‖",
                       title=f"gradient reaching {symbol}_t ({layer_label(key)})")
        for ax in axes:
            ax.legend()


def layer_label(key: str) -> str:
    """"layer 1" for the run log's key "l0d0" (layer 0, direction 0): layers counted from 1,
    as ``nplstm visualize`` names them; ", reverse" for direction 1."""
    match = re.fullmatch(r"l(\d+)d([01])", key)
    if match is None:
        raise ValueError(f"key must look like 'l0d0' (layer, direction), got {key!r}")
    layer, direction = int(match.group(1)), int(match.group(2))
    return f"layer {layer + 1}" + (", reverse" if direction else "")


def _moving_average(values, window: int = 25):
    out, total = [], 0.0
    for k, v in enumerate(values):
        total += v
        if k >= window:
            total -= values[k - window]
        out.append(total / min(k + 1, window))
    return out
