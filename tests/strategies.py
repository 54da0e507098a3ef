"""Hypothesis strategies shared by the tests: sizes (with size-1 edges), seeds, lengths, and
the module configurations of tests/torch_reference.py."""

from hypothesis import strategies as st

size = st.integers(min_value=1, max_value=8)
small_size = st.integers(min_value=1, max_value=4)
seed = st.integers(min_value=0, max_value=2**32 - 1)


@st.composite
def lengths_or_none(draw, T, B):
    """None, or per-sequence lengths in [1, T] (ties, T and 1 included by the shrinker)."""
    if draw(st.booleans()):
        return None
    return draw(st.lists(st.integers(1, T), min_size=B, max_size=B))


@st.composite
def module_configs(draw, kind="lstm", *, max_size=6, max_T=7, max_batch=4,
                   dropouts=(0.0, 0.3)):
    """A config of torch_reference.make_inputs / run_nplstm / run_torch: an ``"lstm"`` (with
    proj_size), an ``"rnn"`` (with nonlinearity) or a ``"gru"`` (gru_reference's) of sizes in [1, max_size], T in [1, max_T],
    1 to 3 layers, unbatched or B in [1, max_batch]; lengths only when batched (torch packs
    batched input only); dropout drawn from ``dropouts`` when there are layers to drop."""
    H, T = draw(st.integers(1, max_size)), draw(st.integers(1, max_T))
    num_layers = draw(st.integers(1, 3))
    batch = draw(st.one_of(st.none(), st.integers(1, max_batch)))
    config = {"kind": kind, "input_size": draw(st.integers(1, max_size)), "hidden_size": H,
              "num_layers": num_layers, "bias": draw(st.booleans()),
              "batch_first": draw(st.booleans()), "bidirectional": draw(st.booleans()),
              "dropout": draw(st.sampled_from(dropouts)) if num_layers > 1 else 0.0,
              "T": T, "batch": batch, "state": draw(st.booleans()),
              "lengths": None if batch is None else draw(lengths_or_none(T, batch)),
              "dstate": draw(st.booleans())}
    if kind == "lstm":
        config["proj_size"] = draw(st.integers(0, H - 1))
    elif kind == "rnn":
        config["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    return config


@st.composite
def layer_cases(draw, *, unbatched=False):
    """One sequence layer and direction: T, B, I, H in [1, 4] (B None, unbatched, only with
    ``unbatched``), a projection 0 ≤ proj < H, bias, a given state, lengths (one per row, one
    unbatched), reverse, and a seed for its arrays."""
    T, I, H = draw(small_size), draw(small_size), draw(small_size)
    B = draw(st.one_of(st.none(), small_size) if unbatched else small_size)
    return dict(T=T, B=B, I=I, H=H, proj=draw(st.integers(0, H - 1)), bias=draw(st.booleans()),
                state=draw(st.booleans()), lengths=draw(lengths_or_none(T, B or 1)),
                reverse=draw(st.booleans()), seed=draw(seed))
