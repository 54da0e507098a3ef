"""The library's pieces as checkable pairs, for ``nplstm.gradcheck`` and the tests.

The checker (``nplstm.gradcheck``) is generic; everything it needs to know about LSTMs (and
the plain RNN) is here.  Modules, one job each: ``pairs`` (forward/backward pairs and JVPs),
``layouts`` (the groups of each input's elements for the report's breakdown),
``random_cases`` (random inputs), ``cases`` (the random configurations ``nplstm gradcheck``
runs), ``gauss_newton`` (an independent reference for the Gauss-Newton product, for
``nplstm.hvpcheck``; imported as ``nplstm.selfcheck.gauss_newton``).
"""

from .cases import WHAT, build_cases
from .layouts import cell_layouts, module_layouts, parse_parameter_name, sequence_layouts
from .pairs import (CELL_NAMES, RNN_SEQUENCE_NAMES, SEQUENCE_NAMES, cell_jvp, cell_pair,
                    cross_entropy_pair, embedding_pair, linear_pair, module_pair, mse_pair,
                    rnn_sequence_pair, sequence_jvp, sequence_pair)
from .random_cases import (random_cell_case, random_lstm_case, random_rnn_case,
                           random_rnn_sequence_case, random_sequence_case)

__all__ = ["cell_pair", "sequence_pair", "module_pair", "cell_jvp", "sequence_jvp",
           "linear_pair", "embedding_pair", "cross_entropy_pair", "mse_pair",
           "cell_layouts", "sequence_layouts", "module_layouts", "parse_parameter_name",
           "random_cell_case", "random_sequence_case", "random_lstm_case", "build_cases",
           "rnn_sequence_pair", "random_rnn_sequence_case", "random_rnn_case",
           "CELL_NAMES", "SEQUENCE_NAMES", "RNN_SEQUENCE_NAMES", "WHAT"]
