"""The ``nplstm`` command (also ``python -m nplstm``): the only code that parses flags, prints
or exits.

Modules: ``main`` (the parser and the dispatch), ``train`` (train, sample), ``gradcheck``,
``bench``, ``interop`` (convert, inspect), ``visualize``, ``exercise``, ``progress`` (the
training progress bar).
"""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
