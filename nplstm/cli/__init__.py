"""The ``nplstm`` command (also ``python -m nplstm``): the only code that parses flags, prints
or exits.

Modules: ``main`` (the parser, the dispatch, visualize), ``train`` (train, sample, the
training progress bar), ``gradcheck``, ``bench``, ``interop`` (convert, inspect),
``exercise``.
"""

from .main import build_parser, main

__all__ = ["main", "build_parser"]
