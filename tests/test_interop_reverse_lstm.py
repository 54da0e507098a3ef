"""ReverseLSTM (nplstm.interop.reverse_lstm): ONNX's reverse-only LSTM as an nplstm.LSTM.

The oracle is the reverse half of nplstm's own bidirectional LSTM (functional
``lstm_forward(reverse=True)``, itself tested against torch): the same weights must give the
same outputs, states and gradients.  On every array backend, results equal NumPy's.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import nplstm
from nplstm.backend import to_device
from nplstm.interop import ReverseLSTM

from .helpers import rel_error
from .strategies import seed, small_size

F64 = 1e-12


@given(batch_first=st.booleans(), unbatched=st.booleans(), with_lengths=st.booleans(),
       T=small_size, B=small_size, seed=seed)
def test_reverse_lstm_is_the_reverse_half_of_a_bidirectional_lstm(batch_first, unbatched,
                                                                 with_lengths, T, B, seed):
    I, H = 3, 2
    bi = nplstm.LSTM(I, H, bidirectional=True, batch_first=batch_first, dtype="float64",
                     seed=seed)
    rev = ReverseLSTM(I, H, batch_first=batch_first, dtype="float64")
    rev.load_state_dict({k: v for k, v in bi.state_dict().items() if k.endswith("_reverse")})
    rng = np.random.default_rng(seed)
    B = 1 if unbatched else B
    lengths = rng.integers(1, T + 1, B) if with_lengths else None
    x_shape = (T, I) if unbatched else ((B, T, I) if batch_first else (T, B, I))
    x = rng.standard_normal(x_shape)
    state = rng.standard_normal((2, 2, H) if unbatched else (2, 2, B, H))
    if unbatched and with_lengths:
        lengths = int(lengths[0])
    output, (h_n, c_n) = rev(x, (state[0][1:], state[1][1:]), lengths=lengths)
    bi_output, (bi_h, bi_c) = bi(x, (state[0], state[1]), lengths=lengths)
    assert rel_error(output, bi_output[..., H:]) <= F64
    assert rel_error(h_n, bi_h[1:]) <= F64 and rel_error(c_n, bi_c[1:]) <= F64

    doutput = rng.standard_normal(output.shape)
    dh_n = rng.standard_normal(h_n.shape)
    dx, (dh0, dc0) = rev.backward(doutput, (dh_n, None))
    bi_doutput = np.concatenate([np.zeros_like(doutput), doutput], axis=-1)
    bi_dx, (bi_dh0, bi_dc0) = bi.backward(bi_doutput, (np.concatenate([0 * dh_n, dh_n]), None))
    assert rel_error(dx, bi_dx) <= F64
    assert rel_error(dh0, bi_dh0[1:]) <= F64 and rel_error(dc0, bi_dc0[1:]) <= F64
    for name, p in rev.named_parameters():
        assert rel_error(p.grad, getattr(bi, name).grad) <= F64


def _reverse_run(device):
    """Forward with lengths and batch_first, then backward, on ``device``; host results."""
    rev = ReverseLSTM(3, 4, batch_first=True, dtype="float64", device=device, seed=5)
    rng = np.random.default_rng(5)
    x, doutput = rng.standard_normal((3, 6, 3)), rng.standard_normal((3, 6, 4))
    output, (h_n, c_n) = rev(to_device(x, device), lengths=[6, 2, 4])
    dx, (dh0, dc0) = rev.backward(to_device(doutput, device))
    return output, h_n, c_n, dx, dh0, dc0, [p.grad for p in rev.parameters()]


def test_reverse_lstm_on_every_backend(backend):
    backend.assert_same(_reverse_run(backend.device), _reverse_run("cpu"))


def test_a_refused_backward_leaves_the_recorded_forward_and_its_flip():
    """A wrongly shaped dstate is refused; the corrected retry gives the gradients a run
    without the refusal gives (the tape entry keeps its time flip)."""
    rng = np.random.default_rng(3)
    T, B, I, H = 4, 3, 2, 3
    x = rng.standard_normal((T, B, I))
    lengths = [4, 2, 3]
    doutput = rng.standard_normal((T, B, H))
    grads = []
    for refuse_first in (False, True):
        rev = ReverseLSTM(I, H, dtype="float64", seed=1)
        rev(x, lengths=lengths)
        if refuse_first:
            try:
                rev.backward(doutput, (rng.standard_normal((1, B, H + 1)), None))
            except ValueError as err:
                assert "dh_n" in str(err)
            else:
                raise AssertionError("a wrongly shaped dh_n was accepted")
            assert len(rev._tape) == 1
        dx, (dh0, dc0) = rev.backward(doutput)
        grads.append([dx, dh0, dc0] + [p.grad.copy() for p in rev.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)
