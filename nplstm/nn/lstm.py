"""``LSTMCell`` and ``LSTM``: torch's modules on arrays, composed from ``nplstm.functional``."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..backend import get_array_module, to_device
from ..checks import (add_batch_axis, check_not_empty, check_rank, check_shape,
                      drop_batch_axis, shape_str)
from ..functional.inputs import unpack_state
from ..grad_mode import is_grad_enabled
from .module import Module, check_sizes, generator

__all__ = ["LSTMCell", "LSTM"]


class LSTMCell(Module):
    """torch.nn.LSTMCell on arrays: ``h, c = cell(x, state)``; ``cell.backward(dh, dc)``.

    Parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,), initialised
    U(−1/√H, 1/√H) like torch.  x is (B, I) or unbatched (I,); state (h, c) or None (zeros).
    dtype "float32" (also for None) or "float64"; seed None, an int ≥ 0 or a
    ``numpy.random.SeedSequence``.
    """

    tape_warning_limit = 1000     # one entry per time step: BPTT loops of up to 1000 steps

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *,
                 dtype="float32", device="cpu", seed=None):
        super().__init__(dtype=dtype, device=device)
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        H, I = hidden_size, input_size
        shapes = {"weight_ih": (4 * H, I), "weight_hh": (4 * H, H)}
        if bias:
            shapes.update(bias_ih=(4 * H,), bias_hh=(4 * H,))
        self._init_uniform(shapes, 1.0 / math.sqrt(H), seed)

    def forward(self, x, state=None):
        """One step; records it for ``backward``. Returns (h, c), each (B, H) or (H,)."""
        self._check_input("x", x)
        bias = (self.bias_ih.data, self.bias_hh.data) if self.bias else (None, None)
        (h, c), cache = F.lstm_cell_forward(x, state, self.weight_ih.data, self.weight_hh.data,
                                            *bias)
        self._record(cache)
        return h, c

    def backward(self, dh, dc=None):
        """Undo the most recent recorded step: returns ``dx, (dh_prev, dc_prev)``.

        dh, dc: ∂L/∂h and ∂L/∂c of that step's outputs (None = zeros).  Adds the parameter
        gradients into ``.grad``.
        """
        grads = F.lstm_cell_backward(dh, dc, self._peek())     # validates dh, dc first
        names = ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if self.bias else ())
        self._consume({name: getattr(grads, name) for name in names})
        return grads.x, (grads.h_prev, grads.c_prev)

    def __repr__(self):
        return (f"LSTMCell({self.input_size}, {self.hidden_size}, bias={self.bias}, "
                f"dtype={self.dtype.name}, device={self.device!r})")


class LSTM(Module):
    """torch.nn.LSTM on arrays: ``output, (h_n, c_n) = lstm(x, state, lengths)``.

    Same arguments, defaults, parameter names (``weight_ih_l{k}[_reverse]``, …) and shapes
    as torch.  x is (T, B, I), (B, T, I) with ``batch_first``, or unbatched (T, I); state
    (h0, c0) of shapes (L·D, B, P or H), (L·D, B, H) or None; output (T, B, D·P).
    T, B ≥ 1: empty axes are refused.  dtype "float32" (also for None) or "float64"; seed
    None, an int ≥ 0 or a ``numpy.random.SeedSequence``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, *, dtype="float32",
                 device="cpu", seed=None):
        super().__init__(dtype=dtype, device=device)
        check_sizes(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
                or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(f"proj_size must be a non-negative int, got {proj_size!r}")
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size = {hidden_size}, "
                             f"got {proj_size}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.num_directions = 2 if bidirectional else 1
        H = hidden_size
        P = proj_size or H
        shapes = {}
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else P * self.num_directions
            for suffix in self._suffixes(layer):
                shapes[f"weight_ih{suffix}"] = (4 * H, layer_input)
                shapes[f"weight_hh{suffix}"] = (4 * H, P)
                if bias:
                    shapes[f"bias_ih{suffix}"] = (4 * H,)
                    shapes[f"bias_hh{suffix}"] = (4 * H,)
                if proj_size:
                    shapes[f"weight_hr{suffix}"] = (P, H)
        self._init_uniform(shapes, 1.0 / math.sqrt(H), seed)
        # dropout masks are drawn from this generator (on the host, then moved): reassign it
        # (e.g. numpy.random.default_rng(0)) to make the masks of the next forwards repeat
        self.dropout_generator = generator(seed)

    def _suffixes(self, layer):
        return [f"_l{layer}"] + ([f"_l{layer}_reverse"] if self.bidirectional else [])

    def _layer_weights(self, suffix):
        """(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr) arrays of one layer/direction."""
        get = lambda name: getattr(self, name + suffix).data  # noqa: E731
        bias = (get("bias_ih"), get("bias_hh")) if self.bias else (None, None)
        return (get("weight_ih"), get("weight_hh"), *bias,
                get("weight_hr") if self.proj_size else None)

    def forward(self, x, state=None, lengths=None):
        """Run all layers and directions; records the pass for ``backward``.

        x        (T, B, I), (B, T, I) if batch_first, or unbatched (T, I)
        state    (h0, c0): (L·D, B, P), (L·D, B, H) (unbatched: no B axis), or None
        lengths  (B,) valid lengths in [1, T], or None (see ``functional.lstm_forward``)
        returns  output (T, B, D·P) (batch_first: (B, T, D·P)), (h_n, c_n) shaped like state
        """
        self._check_input("x", x)
        check_rank("x", x, (2, 3), "(B, T, I) or (T, I)" if self.batch_first
                   else "(T, B, I) or (T, I)")
        unbatched = x.ndim == 2
        check_not_empty("x", x, ("T", "I") if unbatched else
                        ("B", "T", "I") if self.batch_first else ("T", "B", "I"))
        xp = get_array_module(x)
        x_tbi = add_batch_axis(True, 1, x) if unbatched else \
            (x.transpose(1, 0, 2) if self.batch_first else x)                     # (T, B, I)
        T, B, I = x_tbi.shape
        if I != self.input_size:
            layout = "(T, I)" if unbatched else ("(B, T, I)" if self.batch_first else "(T, B, I)")
            # the feature size sits on another axis: most likely a layout mix-up
            hint = " (are the axes in the wrong order? check batch_first)" \
                if self.input_size in x.shape[:-1] else ""
            raise ValueError(f"x must have shape {layout} with I = input_size = "
                             f"{self.input_size}, got {shape_str(x.shape)}{hint}")
        h0, c0 = self._check_state(state, B, unbatched, xp)
        if unbatched and lengths is not None:
            lengths = [lengths] if isinstance(lengths, (int, np.integer)) else lengths
        record = is_grad_enabled()
        dropout = self.dropout if self.training and self.num_layers > 1 else 0.0
        P = self.proj_size or self.hidden_size
        D = self.num_directions
        h_n = xp.empty((self.num_layers * D, B, P), dtype=self.dtype)
        c_n = xp.empty((self.num_layers * D, B, self.hidden_size), dtype=self.dtype)
        layer_input, caches, masks = x_tbi, [], []
        for layer in range(self.num_layers):
            mask = None
            if layer and dropout:
                # inverted dropout on the layer's input: y = x ⊙ m / (1 − p), m ~ Bernoulli(1 − p)
                keep = self.dropout_generator.random(layer_input.shape) >= dropout
                mask = to_device((keep / (1.0 - dropout)).astype(self.dtype), self.device)
                layer_input = layer_input * mask
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + direction
                (out, (h_n[k], c_n[k])), cache = F.lstm_forward(
                    layer_input, (h0[k], c0[k]), *self._layer_weights(suffix),
                    lengths=lengths, reverse=direction == 1, keep_cache=record)
                outputs.append(out)
                caches.append(cache)
            masks.append(mask)
            layer_input = outputs[0] if D == 1 else F.join_directions(outputs)   # (T, B, D·P)
        output = layer_input                                              # (T, B, D·P)
        self._record((caches, masks, unbatched, T, B))
        output, h_n, c_n = drop_batch_axis(unbatched, 1, output, h_n, c_n)
        if self.batch_first and not unbatched:
            output = xp.ascontiguousarray(output.transpose(1, 0, 2))
        return output, (h_n, c_n)

    def backward(self, doutput, dstate=None, *, record=None):
        """Undo the most recent recorded forward: returns ``dx, (dh0, dc0)``.

        doutput  shaped like that forward's output (None = zeros); padded steps are ignored
        dstate   (dh_n, dc_n) shaped like (h_n, c_n), either may be None, or None
        record   None, or a dict that receives the per-step gradient norms of every layer
                 and direction: record[(layer, direction)] = {"dh": (T,), "dc": (T,)}
                 (direction 0 forward, 1 reverse; see ``functional.lstm_backward``)
        Adds every parameter's gradient into its ``.grad``; dx is 0 at padded steps.  All
        gradients are computed before the forward is popped and ``.grad`` changes, so a
        refused call (a wrong shape, say) leaves the module as it was.
        """
        if record is not None and not isinstance(record, dict):
            raise TypeError(f"record must be a dict or None, got {type(record).__name__}")
        caches, masks, unbatched, T, B = self._peek()
        xp = get_array_module(caches[0].x)
        D, L = self.num_directions, self.num_layers
        P = self.proj_size or self.hidden_size
        H = self.hidden_size
        dh_n, dc_n = _upstream_state(dstate)
        doutput = self._batched("doutput", doutput, (T, B, D * P), unbatched, batch_axis=1,
                                letters="(T, B, D·P)")
        dh_n = self._batched("dh_n", dh_n, (L * D, B, P), unbatched, batch_axis=1,
                             letters="(L·D, B, P)" if self.proj_size else "(L·D, B, H)")
        dc_n = self._batched("dc_n", dc_n, (L * D, B, H), unbatched, batch_axis=1,
                             letters="(L·D, B, H)")
        dh0 = xp.empty((L * D, B, P), dtype=self.dtype)
        dc0 = xp.empty((L * D, B, H), dtype=self.dtype)
        param_grads = {}            # added into .grad once every layer's backward succeeded
        d_layer_output = doutput
        for layer in reversed(range(L)):
            d_layer_input = None
            for direction, suffix in enumerate(self._suffixes(layer)):
                k = layer * D + direction
                d_out = None if d_layer_output is None else \
                    d_layer_output[..., direction * P:(direction + 1) * P]
                norms = None
                if record is not None:
                    norms = record[(layer, direction)] = {}
                grads = F.lstm_backward(d_out, None if dh_n is None else dh_n[k],
                                        None if dc_n is None else dc_n[k], caches[k],
                                        record=norms)
                dh0[k], dc0[k] = grads.h0, grads.c0
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
                    g = getattr(grads, name)
                    if g is not None:
                        param_grads[name + suffix] = g
                if d_layer_input is None:
                    d_layer_input = grads.x              # ours: the backward made it
                else:
                    d_layer_input += grads.x
            if masks[layer] is not None:
                d_layer_input *= masks[layer]      # y = x ⊙ mask ⇒ dx = dy ⊙ mask
            d_layer_output = d_layer_input
        dx = d_layer_output
        self._consume(param_grads)
        dx, dh0, dc0 = drop_batch_axis(unbatched, 1, dx, dh0, dc0)
        if self.batch_first and not unbatched:
            dx = xp.ascontiguousarray(dx.transpose(1, 0, 2))
        return dx, (dh0, dc0)

    def _check_state(self, state, B, unbatched, xp):
        """(h0, c0) in batched (L·D, B, ·) form, zeros when None; shapes checked as torch's."""
        D, L = self.num_directions, self.num_layers
        P = self.proj_size or self.hidden_size
        if state is None:
            return (xp.zeros((L * D, B, P), dtype=self.dtype),
                    xp.zeros((L * D, B, self.hidden_size), dtype=self.dtype))
        h0, c0 = unpack_state(state, names=("h0", "c0"))
        p_letter = "P" if self.proj_size else "H"
        return (self._batched("h0", h0, (L * D, B, P), unbatched, 1, f"(L·D, B, {p_letter})"),
                self._batched("c0", c0, (L * D, B, self.hidden_size), unbatched, 1,
                              "(L·D, B, H)"))

    def _batched(self, name, a, shape, unbatched, batch_axis, letters):
        """Check ``a`` against ``shape`` (without the batch axis when unbatched, and with the
        batch_first layout for doutput); return it in (.., B, ..) time-major form or None."""
        if a is None:
            return None
        self._check_input(name, a)
        if unbatched:
            short = shape[:batch_axis] + shape[batch_axis + 1:]
            check_shape(name, a, short, letters.replace("B, ", ""), "the forward was unbatched")
            return add_batch_axis(True, batch_axis, a)
        if name == "doutput" and self.batch_first:
            check_shape(name, a, (shape[1], shape[0], shape[2]), "(B, T, D·P)",
                        "batch_first: like the forward's output")
            return a.transpose(1, 0, 2)
        check_shape(name, a, shape, letters, f"L = {self.num_layers}, D = {self.num_directions}")
        return a

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in (
            ("num_layers", self.num_layers), ("bias", self.bias),
            ("batch_first", self.batch_first), ("dropout", self.dropout),
            ("bidirectional", self.bidirectional), ("proj_size", self.proj_size))
            if v != {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                     "bidirectional": False, "proj_size": 0}[k])
        return f"LSTM({self.input_size}, {self.hidden_size}{extra}, dtype={self.dtype.name})"


def _upstream_state(dstate):
    """(dh_n, dc_n) from ``dstate``: None, or a pair whose entries may each be None."""
    if dstate is None:
        return None, None
    if not isinstance(dstate, (tuple, list)) or len(dstate) != 2:
        raise ValueError("dstate must be a pair (dh_n, dc_n), either of which may be None, "
                         f"or None; got {type(dstate).__name__}")
    return tuple(dstate)
