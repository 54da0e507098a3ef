"""PNG plots of a training run from OUT/metrics.jsonl (needs matplotlib: ``nplstm[plot]``)."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["read_metrics", "plot_run", "matplotlib_pyplot", "PLOT_EXTRA_NOTE"]

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


def read_metrics(path) -> dict:
    """``{"train": [records], "eval": [records]}`` from a metrics.jsonl file."""
    runs = {"train": [], "eval": []}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        runs.setdefault(record.get("split"), []).append(record)
    return runs


def plot_run(out_dir, title: str = "", baseline: float | None = None) -> list:
    """Write OUT/loss.png (train and eval loss) and OUT/grad_norm.png; return their paths,
    or an empty list when matplotlib is missing."""
    plt = matplotlib_pyplot()
    if plt is None:
        return []
    out_dir = Path(out_dir)
    runs = read_metrics(out_dir / "metrics.jsonl")
    train, evals = runs["train"], runs["eval"]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in train]
    ax.plot(steps, [r["loss"] for r in train], lw=0.6, alpha=0.35, color="C0")
    ax.plot(steps, _moving_average([r["loss"] for r in train]), color="C0", label="train")
    ax.plot([r["step"] for r in evals], [r["loss"] for r in evals], "o-", color="C1",
            label="eval")
    if baseline is not None:
        ax.axhline(baseline, ls="--", color="gray", label=f"bigram baseline {baseline:.3f}")
    ax.set(xlabel="step", ylabel="loss", title=title or "loss")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "loss.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(steps, [r["grad_norm"] for r in train], lw=0.8)
    ax.set(xlabel="step", ylabel="‖∇L‖ (before clipping)", title="gradient norm")
    fig.tight_layout()
    paths.append(out_dir / "grad_norm.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def _moving_average(values, window: int = 25):
    out, total = [], 0.0
    for k, v in enumerate(values):
        total += v
        if k >= window:
            total -= values[k - window]
        out.append(total / min(k + 1, window))
    return out
