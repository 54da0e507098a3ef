"""The gradient-check toolkit: finite differences in three modes, and the adjoint test.

    nplstm.gradcheck(forward, backward, inputs, mode="full" | "directional" | "sampled")
    nplstm.adjoint_check(jvp, vjp, inputs)
    nplstm.jvpcheck(forward, jvp, inputs)           a JVP against differences of forward
    nplstm.hvpcheck(grad, hvp, inputs, mode=...)    H v against differences of a gradient
    Layout(axes=..., tags=...)      labels for the report's breakdown (gate, layer, time, …)

Modules, one job each: ``core`` (gradcheck), ``differences`` (the projected loss and its
difference quotients), ``tolerances`` (defaults, derived; the pass rule), ``layout`` (groups
of elements), ``report`` (rows, breakdown, text, JSON), ``adjoint`` (the dot-product test),
``settings`` (every setting validated up front), ``outputs`` (what forward and backward
return, checked; scalar outputs), ``determinism`` (forward and backward called twice must
agree), ``misuse`` (a forward writing to its inputs; two outputs read as a cache),
``kinks`` (one-sided differences of failing elements), ``jvpcheck``, ``hvpcheck``.
"""

from .adjoint import adjoint_check
from .core import MODES, gradcheck
from .hvpcheck import hvpcheck
from .jvpcheck import jvpcheck
from .determinism import NondeterministicBackwardError, NondeterministicForwardError
from .misuse import MutatingForwardError
from .layout import GroupStats, Layout, blocks
from .report import GradcheckError, GradcheckReport, InputReport

__all__ = ["gradcheck", "adjoint_check", "jvpcheck", "hvpcheck", "GradcheckReport",
           "InputReport", "GradcheckError",
           "NondeterministicForwardError", "NondeterministicBackwardError",
           "MutatingForwardError", "Layout", "GroupStats", "blocks", "MODES"]
