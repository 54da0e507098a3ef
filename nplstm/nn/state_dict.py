"""Missing and unexpected keys of ``load_state_dict``: torch's wording, and the fix.

When a prefix explains the mismatch, the message says how to load: the state dict of a
bigger model (keys ``encoder.rnn.weight_ih_l0``, …) through
``nplstm.interop.select(state_dict, "encoder.rnn.")``; a sub-module's state dict into the
container through ``module.rnn.load_state_dict(state_dict)``.
"""

from __future__ import annotations

from ..checks import printable_name

__all__ = ["StateDictKeyError", "key_mismatch_message"]


class StateDictKeyError(KeyError):
    """``load_state_dict`` found missing or unexpected keys.  A ``KeyError`` (as before) whose
    message prints as written: ``str(KeyError(...))`` would show its repr, newlines escaped."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


_KEYS_SHOWN = 12      # a key-mismatch message lists at most this many keys of each kind
_KEY_LIMIT = 500      # and this much of one key (keys may come from a file: escaped, cut)


def _key_list(keys) -> str:
    shown = ", ".join(f'"{printable_name(k, _KEY_LIMIT)}"' for k in keys[:_KEYS_SHOWN])
    more = len(keys) - _KEYS_SHOWN
    return shown + (f", … ({more} more)" if more > 0 else "")


def key_mismatch_message(module_name, own, given, missing, unexpected) -> str:
    """torch's wording for missing/unexpected keys, plus the fix when a prefix explains them."""
    lines = [f"Error(s) in loading state_dict for {module_name}:"]
    if missing:
        lines.append(f"\tMissing key(s) in state_dict: {_key_list(missing)}.")
    if unexpected:
        lines.append(f"\tUnexpected key(s) in state_dict: {_key_list(unexpected)}.")
    given = [k for k in given if isinstance(k, str)]
    # the dict's keys are prefix + this module's names: a bigger model's (or wrapper's) dict
    extra = _prefixes(outer=given, inner=own)
    if extra:
        extra = [printable_name(p, _KEY_LIMIT) for p in extra]
        calls = " or ".join(f'nplstm.interop.select(state_dict, "{p}")' for p in extra)
        lines.append(f'\tThe state dict\'s keys carry the prefix "{extra[0]}" that this '
                     f"module's names lack: load {calls} instead.")
    # this module's names are prefix + the dict's keys: the dict is one sub-module's
    inner = _prefixes(outer=own, inner=given)
    if inner:
        p = inner[0]
        lines.append(f'\tThis module\'s names carry the prefix "{p}" that the state dict\'s '
                     f"keys lack (it holds the sub-module {p[:-1]}): load it with "
                     f"module.{p[:-1]}.load_state_dict(state_dict), or add the prefix: "
                     f'{{"{p}" + k: v for k, v in state_dict.items()}}.')
    return "\n".join(lines)


def _prefixes(outer, inner, most=3) -> list:
    """Prefixes p ending in "." with p + k in ``outer`` for every key k of ``inner``."""
    outer_set = set(outer)
    found = {o[:-len(k)] for o in outer for k in inner
             if len(o) > len(k) and o.endswith(k) and o[-len(k) - 1] == "."}
    return sorted(p for p in found if inner and all(p + k in outer_set for k in inner))[:most]
