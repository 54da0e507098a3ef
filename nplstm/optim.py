"""Stochastic gradient descent as torch.optim.SGD, global-norm clipping, learning-rate schedules.

SGD's update of one parameter p with gradient g (torch's rule, dampening 0):

    g ← g + λ p                          weight decay λ
    b ← g                   (first step) momentum buffer
    b ← μ b + g             (later)
    g ← g + μ b  (nesterov)   or   g ← b
    p ← p − lr g

Schedules are functions of the step alone, never of a run's total length, so a run extended
with ``--resume`` follows exactly the curve an uninterrupted run would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .backend import asnumpy, check_not_masked, describe_value, device_of, dtype_name, \
    get_array_module, is_array, to_device
from .checks import check_int, check_real, shape_str
from .nn import Module, Parameter, StateDictKeyError

__all__ = ["SGD", "clip_grad_norm", "grad_norm", "ConstantLR", "CosineLR", "make_schedule"]


class SGD:
    """``SGD(params, lr, momentum=0, nesterov=False, weight_decay=0)``; ``step()`` updates in place.

    params  ``model.parameters()`` (any iterable of ``Parameter``, a generator too)
    lr      a positive finite number; ``opt.lr = value`` is checked the same way (a NaN or
            negative learning rate would silently ruin the weights at the next step)
    The momentum buffers are the optimizer's state: ``state_dict()`` / ``load_state_dict()``
    save and restore them exactly (with the learning rate), for checkpoints.
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.params = _parameter_list(params, "SGD")
        if not self.params:
            raise TypeError("params must be a non-empty list of nplstm Parameters "
                            "(model.parameters())")
        self.lr = lr                                     # checked by the property
        self.momentum = check_real("momentum", momentum, minimum=0)
        self.weight_decay = check_real("weight_decay", weight_decay, minimum=0)
        if nesterov and momentum == 0:
            raise ValueError("nesterov momentum needs momentum > 0")
        self.nesterov = bool(nesterov)
        self.buffers = [None] * len(self.params)     # momentum buffers b, created on first step

    @property
    def lr(self) -> float:
        """The learning rate: a positive finite float (assignments are checked)."""
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = check_real("lr", value, minimum=0, strict=True)

    def zero_grad(self):
        for p in self.params:
            p.grad.fill(0)

    def step(self):
        """One update of every parameter from its ``.grad`` (torch's rule, module docstring).

        The settings are checked first (cheap): momentum or weight_decay assigned a NaN or a
        negative value since the constructor is refused before any parameter changes.
        """
        check_real("momentum", self.momentum, minimum=0)
        check_real("weight_decay", self.weight_decay, minimum=0)
        for k, p in enumerate(self.params):
            dtype = p.data.dtype.type
            g = p.grad
            if self.weight_decay:
                g = g + dtype(self.weight_decay) * p.data            # g + λ p
            if self.momentum:
                b = self.buffers[k]
                if b is None:
                    b = self.buffers[k] = g.copy()                   # b = g
                else:
                    b *= dtype(self.momentum)                        # b = μ b + g
                    b += g
                g = g + dtype(self.momentum) * b if self.nesterov else b
            p.data -= dtype(self.lr) * g                             # p − lr g

    def state_dict(self) -> dict:
        """``{"lr": float, "buffers": [array or None]}`` (host copies)."""
        return {"lr": self.lr,
                "buffers": [None if b is None else asnumpy(b).copy() for b in self.buffers]}

    def load_state_dict(self, state) -> None:
        """Restore ``state_dict()``'s ``{"lr": float, "buffers": [array or None]}``.

        Everything is checked before anything changes: state must be a mapping with exactly
        those keys (``StateDictKeyError``, a ``KeyError``, otherwise), lr a positive finite
        number, buffers a list with one entry per parameter, each None or an array (NumPy,
        CuPy) of its parameter's shape and dtype holding finite values.
        """
        if not isinstance(state, Mapping):
            raise TypeError("SGD.load_state_dict: state must be a mapping "
                            '{"lr": float, "buffers": [array or None]} such as '
                            f"opt.state_dict(), got {type(state).__name__}")
        missing = [k for k in ("lr", "buffers") if k not in state]
        unexpected = [k for k in state if k not in ("lr", "buffers")]
        if missing or unexpected:
            raise StateDictKeyError(f"SGD.load_state_dict: missing key(s) {missing}, "
                                    f"unexpected key(s) {unexpected}; the state holds "
                                    '"lr" and "buffers" (opt.state_dict())')
        check_real("lr", state["lr"], minimum=0, strict=True)
        buffers = state["buffers"]
        if not isinstance(buffers, (list, tuple)):
            raise TypeError("SGD.load_state_dict: buffers must be a list of arrays or None, "
                            f"got {type(buffers).__name__}")
        if len(buffers) != len(self.params):
            raise ValueError(f"optimizer state has {len(buffers)} buffers, "
                             f"this optimizer has {len(self.params)} parameters")
        device = device_of(self.params[0].data)
        restored = [None if b is None else _checked_buffer(k, b, p, device)
                    for k, (p, b) in enumerate(zip(self.params, buffers))]
        self.buffers = restored
        self.lr = state["lr"]


def _checked_buffer(k, b, p, device):
    """Momentum buffer ``k`` as a copy on ``device``: an array of p's shape and dtype, finite."""
    if not is_array(b):
        raise TypeError(f"SGD.load_state_dict: buffers[{k}] must be an array (NumPy or CuPy) "
                        f"or None, got {describe_value(b)}")
    check_not_masked(f"SGD.load_state_dict: buffers[{k}]", b)
    if tuple(b.shape) != tuple(p.shape) or b.dtype != p.dtype:
        raise ValueError(f"optimizer buffer {k} has shape {shape_str(b.shape)} and dtype "
                         f"{dtype_name(b.dtype)}, its parameter {shape_str(p.shape)} and "
                         f"{p.dtype.name}")
    if not bool(get_array_module(b).isfinite(b).all()):
        raise ValueError(f"optimizer buffer {k} holds non-finite values (NaN or inf): a "
                         "momentum buffer from a diverged run would carry them into the weights")
    return to_device(np.array(asnumpy(b)), device)


def _parameter_list(params, where) -> list:
    """``params`` (``model.parameters()``, any iterable of Parameters) as a list; a Module,
    a non-iterable or a non-Parameter element is a ``TypeError`` saying what to pass."""
    if isinstance(params, Module):
        raise TypeError(f"{where}: params must be the module's parameters, not the "
                        f"{type(params).__name__} itself: pass model.parameters()")
    if isinstance(params, Parameter) or is_array(params) or not hasattr(params, "__iter__"):
        raise TypeError(f"{where}: params must be an iterable of nplstm Parameters "
                        f"(model.parameters()), got {type(params).__name__}")
    params = list(params)
    for k, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(f"{where}: params must hold nplstm Parameters (model.parameters()), "
                            f"but element {k} is {describe_value(p)}")
    return params


def grad_norm(params) -> float:
    """The global L2 norm of all gradients, ‖(g_1, …, g_n)‖ = √(Σ_k ‖g_k‖²), as a float."""
    params = _parameter_list(params, "grad_norm")
    norms = [float(get_array_module(p.grad).linalg.norm(p.grad.reshape(-1))) for p in params]
    return math.sqrt(sum(n * n for n in norms))


def clip_grad_norm(params, max_norm) -> float:
    """Scale all gradients by min(1, max_norm / (‖g‖ + 1e-6)) in place; return ‖g‖ before.

    torch.nn.utils.clip_grad_norm_'s rule on the global norm.  A non-finite norm is returned
    unchanged and nothing is scaled (the trainer stops on it).
    """
    check_real("max_norm", max_norm, minimum=0, strict=True)
    params = _parameter_list(params, "clip_grad_norm")
    total = grad_norm(params)
    coef = max_norm / (total + 1e-6)
    if math.isfinite(total) and coef < 1.0:
        for p in params:
            p.grad *= p.grad.dtype.type(coef)
    return total


class ConstantLR:
    """lr(step) = base_lr."""

    def __init__(self, base_lr):
        self.base_lr = check_real("base_lr", base_lr, minimum=0, strict=True)

    def __call__(self, step: int) -> float:
        return self.base_lr


class CosineLR:
    """Linear warm-up, then a cosine from base_lr down to min_lr over ``decay_steps``:

        lr(s) = base · (s + 1) / W                                   s < W
        lr(s) = min + ½ (base − min) (1 + cos(π · min(1, (s − W) / D)))   s ≥ W

    W = warmup_steps, D = decay_steps (its own horizon: after W + D steps lr stays at min).
    """

    def __init__(self, base_lr, decay_steps, warmup_steps=0, min_lr=0.0):
        self.base_lr = check_real("base_lr", base_lr, minimum=0, strict=True)
        self.min_lr = check_real("min_lr", min_lr, minimum=0)
        self.decay_steps = check_int("decay_steps", decay_steps, minimum=1)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / self.decay_steps)
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))


def make_schedule(name: str, lr: float, *, decay_steps=None, warmup_steps=0, min_lr=0.0):
    """"constant" or "cosine" (which needs its own ``decay_steps``)."""
    if name == "constant":
        return ConstantLR(lr)
    if name == "cosine":
        if decay_steps is None:
            raise ValueError("the cosine schedule needs decay_steps (--lr-decay-steps)")
        return CosineLR(lr, decay_steps, warmup_steps, min_lr)
    raise ValueError(f"schedule must be 'constant' or 'cosine', got {name!r}")

