"""Is forward a function?  Two evaluations at the same point must agree.

Finite differences compare L(x + εv) with L(x − εv) and divide by 2ε ≈ 1e-6: a forward that
draws something fresh on every call (a dropout mask, noise, a random initial state) moves L
by O(1) between the two calls, and the "derivative" is that change times 10⁶ — a report of
nonsense.  So the checker evaluates forward twice at the base point and compares every
float output, element by element:

    max |out₁ − out₂| ≤ nondet_tol          (default 0: a deterministic forward is exact)

and otherwise raises ``NondeterministicForwardError`` (a ``ValueError``) saying by how much
and where.  The cost is one extra forward per check, not one per element.

The backward is checked the same way (``NondeterministicBackwardError``): a fresh forward,
then the backward with the same doutput, each gradient compared with the first call's.  Its
bound allows the round-off of a sum taken in another order — a GPU scatter-add with atomics
(the embedding's backward on CuPy) is a function up to that — so it is, per gradient,

    nondet_tol + 8·u·√m·max |g|      (u the gradient's unit round-off, m the problem size)

far below what a backward drawing noise or accumulating into a buffer it never resets
changes (a fraction of the gradient itself).
"""

from __future__ import annotations

import numpy as np

__all__ = ["NondeterministicForwardError", "NondeterministicBackwardError",
           "check_deterministic", "FORWARD_FIX", "BACKWARD_FIX"]

FORWARD_FIX = ("fix the randomness inside forward (draw the dropout mask or noise once, "
               "outside forward, or reseed it with a fixed seed on every call) and make sure "
               "forward does not modify its inputs or keep state between calls")
BACKWARD_FIX = ("a backward must be a function of (doutput, cache): make sure it draws "
                "nothing at random, keeps no state between calls (an accumulator it does not "
                "reset, a cache it consumes) and does not modify doutput, and that forward "
                "returns the same cache for the same inputs")


class NondeterministicForwardError(ValueError):
    """forward returned different outputs for the same inputs; no gradient check is possible."""


class NondeterministicBackwardError(ValueError):
    """backward returned different gradients for the same doutput at the same inputs."""


def check_deterministic(first, second, paths, nondet_tol, who="forward", *,
                        error=NondeterministicForwardError, fix=FORWARD_FIX, limit=""):
    """Compare two evaluations' float64 outputs (lists, None for unprojected leaves).

    first, second  float64 host arrays per leaf of forward's output (None: not compared)
    paths          a name per leaf ("forward's output[0]")
    nondet_tol     the largest absolute difference accepted
    limit          how the message names that bound (default "nondet_tol=…")
    """
    if len(first) != len(second):
        raise error(
            f"{who} is not deterministic: its output has {len(first)} entries in one call "
            f"and {len(second)} in another at the same inputs; {fix}")
    worst, where = 0.0, ""
    for a, b, path in zip(first, second, paths):
        if a is None or b is None:
            continue
        if a.shape != b.shape:
            raise error(
                f"{who} is not deterministic: {path} has shape {a.shape} in one call and "
                f"{b.shape} in another at the same inputs; {fix}")
        if a.size == 0:
            continue
        same = (a == b) | (np.isnan(a) & np.isnan(b))     # equal infs and NaNs agree
        with np.errstate(invalid="ignore", over="ignore"):   # inf − inf: NaN, then inf
            diff = np.where(same, 0.0, np.nan_to_num(np.abs(a - b), nan=np.inf))
        k = np.unravel_index(int(np.argmax(diff)), diff.shape)
        if diff[k] > worst:
            index = f"[{', '.join(str(int(i)) for i in k)}]" if k else ""
            worst, where = float(diff[k]), f"{path}{index}: {float(a[k])!r} then {float(b[k])!r}"
    if worst > nondet_tol:
        bound = limit or f"nondet_tol={nondet_tol:g}"
        raise error(
            f"{who} is not deterministic: two calls at the same inputs differ by up to "
            f"{worst:.3g} (at {where}), more than {bound}. Its "
            f"derivatives cannot be checked: {fix}; or pass a larger "
            "nondet_tol if the difference is harmless round-off")
