"""Files in and out at the bottom of the library: atomic writes and nplstm checkpoints.

    atomic_write(path, write)            write(file) on a temporary file, then a rename
    save_checkpoint(path, step=..., model=..., optimizer=..., state=..., **meta)
    load_checkpoint(path) -> {"model": ..., "step": ..., ...}   (also ``nplstm.load_checkpoint``)

Modules: ``atomic`` (atomic writes), ``checkpoint`` (writing; reading, every member and
array verified), ``checkpoint_format`` (the layout), ``zip_limits`` (the rule every zip nplstm
reads follows: no record named twice, compressed records within ``max_ratio`` of their size;
the memory and time per file).
"""

from .atomic import atomic_write, atomic_write_bytes
from .checkpoint import load_checkpoint, save_checkpoint
from .checkpoint_format import FORMAT, CheckpointError

__all__ = ["save_checkpoint", "load_checkpoint", "CheckpointError", "atomic_write",
           "atomic_write_bytes", "FORMAT"]
