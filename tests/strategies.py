"""Hypothesis strategies shared by the tests: sizes (with size-1 edges) and seeds."""

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
