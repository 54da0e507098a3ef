"""``select``: the part of a state dict under a prefix, with the prefix stripped.

A torch model's state dict names every tensor by its path in the model
(``encoder.rnn.weight_ih_l0``); an nplstm module wants its own names (``weight_ih_l0``):

    lstm.load_state_dict(select(state_dict, "encoder.rnn."))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["select", "prefixes"]


def select(state_dict: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{name[len(prefix):]: value}`` for every name of ``state_dict`` starting with
    ``prefix``, in the same order.  A prefix without its final dot gets one when that is
    what the names continue with (``"encoder.rnn"`` means ``"encoder.rnn."``).

    Raises ValueError, listing the prefixes that exist, when no name matches, and when
    ``prefix`` is a whole name (that leaves an empty name).
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got "
                        f"{type(state_dict).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str such as 'encoder.rnn.', got "
                        f"{type(prefix).__name__}")
    names = [name for name in state_dict if isinstance(name, str)]
    if prefix and not prefix.endswith(".") and any(n.startswith(prefix + ".") for n in names):
        prefix += "."
    if prefix in state_dict:
        raise ValueError(f"prefix {prefix!r} is a whole name of the state dict, not the "
                         "prefix of a module's names")
    selected = {name[len(prefix):]: value for name, value in state_dict.items()
                if isinstance(name, str) and name.startswith(prefix)}
    if not selected:
        existing = prefixes(names)
        raise ValueError(f"no name in the state dict starts with {prefix!r}; its prefixes "
                         f"are {existing if existing else 'none (every name is top-level)'}")
    return selected


def prefixes(names: Iterable[str]) -> list[str]:
    """Every dotted prefix of ``names``, sorted: ``["encoder.", "encoder.rnn.", …]``."""
    found: set[str] = set()
    for name in names:
        parts = name.split(".")[:-1]
        found.update(".".join(parts[:k]) + "." for k in range(1, len(parts) + 1))
    return sorted(found)
