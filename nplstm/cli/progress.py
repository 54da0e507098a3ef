"""The training run's progress: a tqdm bar on a terminal, plain lines at each eval otherwise."""

from __future__ import annotations

import sys

__all__ = ["Progress"]


class Progress:
    """A tqdm bar on a terminal; plain lines at each eval otherwise."""

    def __init__(self, start: int, total: int, enabled: bool = True):
        """start, total: the steps done and to do (``Trainer(progress=Progress)`` calls it)."""
        self.total, self.enabled = total, enabled
        self.bar = None
        self.last = {}
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm  # noqa: PLC0415

            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def update(self, record: dict):
        self.last = record
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.3g}",
                                 refresh=False)

    def eval(self, step: int, loss: float):
        train = self.last.get("loss", float("nan"))
        line = (f"step {step}/{self.total}  train {train:.4f}  eval {loss:.4f}  "
                f"grad-norm {self.last.get('grad_norm', float('nan')):.3g}  "
                f"{self.last.get('tokens_per_s', 0):,.0f} tok/s")
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        elif self.enabled:
            print(line, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
