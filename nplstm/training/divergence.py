"""The divergence guard: when to stop a run whose loss has left the realm of learning.

A step is refused (before its update) when

    the loss or the gradient norm is not finite, or
    loss > K · max(first loss of the run, trivial loss),        K = 10

``first loss``: the loss of the run's first step (stored in the checkpoint, so a resumed run
keeps the original run's, and the rule does not depend on where it resumed); ``trivial
loss``: what a model that learned nothing scores — ln V for the char-LM (the uniform guess),
1/6 for the adding problem (always predicting 1).  A healthy run starts near the trivial
loss and goes down (no step of the default runs has a loss above their first: 4.544 for
charlm, ln V = 4.564; 1.075 for adding, 1/6 trivial; limits 45.6 and 10.7); a learning rate
that blows the weights up sends the loss far past it at once, often still finite: resumed
with lr 1e30 and no clipping, a tiny char-LM's next loss is 3.7e29 with OpenBLAS's SkylakeX
kernel and NaN with its Haswell kernel (how far before inf depends on the BLAS rounding).
K = 10 lies far from both: no healthy curve comes near it, an explosion leaves it behind.
"""

from __future__ import annotations

import math

__all__ = ["DivergenceGuard", "EXPLOSION_FACTOR"]

EXPLOSION_FACTOR = 10.0


class DivergenceGuard:
    """``guard.problem(loss, grad_norm)``: None for a healthy step, else what went wrong.

    The first finite loss it sees becomes ``first_loss`` unless one is given (resume)."""

    def __init__(self, trivial_loss: float, first_loss: float | None = None,
                 factor: float = EXPLOSION_FACTOR):
        self.trivial_loss, self.first_loss, self.factor = trivial_loss, first_loss, factor

    def limit(self) -> float:
        """K · max(first loss, trivial loss): the largest loss still taken for learning."""
        first = self.trivial_loss if self.first_loss is None else self.first_loss
        return self.factor * max(first, self.trivial_loss)

    def problem(self, loss: float, grad_norm: float = 0.0) -> str | None:
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            return f"loss {loss}, gradient norm {grad_norm} (not finite)"
        if self.first_loss is None:
            self.first_loss = float(loss)
        if loss > self.limit():
            return (f"loss {loss:.4g} exploded (above {self.factor:g} × max(first loss "
                    f"{self.first_loss:.4g}, trivial loss {self.trivial_loss:.4g}) = "
                    f"{self.limit():.4g})")
        return None
