"""The gradient-check toolkit, and the library's pieces as checkable pairs.

    nplstm.gradcheck(forward, backward, inputs, mode="full" | "directional" | "sampled")
    nplstm.hvpcheck(grad, hvp, inputs, mode=...)    H v against differences of a gradient
    nplstm.jvpcheck(forward, jvp, inputs)           a JVP against differences of forward
    nplstm.adjoint_check(jvp, vjp, inputs)          a JVP against a backward, exactly
    Layout(axes=..., tags=...)      labels for the report's breakdown (gate, layer, time, …)

Modules, one job each: ``core`` (gradcheck and hvpcheck: the modes), ``jvpcheck`` (jvpcheck
and adjoint_check), ``differences`` (difference quotients, tolerances, kinks), ``contract``
(settings, inputs and returns checked), ``misuse`` (a forward that is not a function, writes
to its inputs, or returns two outputs as (output, cache)), ``report`` (rows, layouts and
their breakdown, text, JSON) and ``library_pairs`` (the LSTM, RNN, GRU, layers and losses as
pairs, layouts and random cases).
"""

from .core import MODES, gradcheck, hvpcheck
from .jvpcheck import adjoint_check, jvpcheck
from .library_pairs import (CELL_NAMES, RNN_SEQUENCE_NAMES, SEQUENCE_NAMES, cell_jvp,
                            cell_layouts, cell_pair, cross_entropy_pair, embedding_pair,
                            gauss_newton_hvp, linear_pair, model_gradient, module_layouts,
                            module_pair, mse_pair, parse_parameter_name, random_cell_case,
                            random_lstm_case, random_rnn_case, random_rnn_sequence_case,
                            random_sequence_case, rnn_sequence_pair, sequence_jvp,
                            sequence_layouts, sequence_pair)
from .library_pairs import (GRU_CELL_NAMES, GRU_SEQUENCE_NAMES, gru_cell_jvp, gru_cell_layouts,
                            gru_cell_pair, gru_sequence_jvp, gru_sequence_layouts,
                            gru_sequence_pair, random_gru_case, random_gru_cell_case,
                            random_gru_sequence_case)
from .misuse import (MutatingForwardError, NondeterministicBackwardError,
                     NondeterministicForwardError)
from .report import GradcheckError, GradcheckReport, GroupStats, InputReport, Layout, blocks

__all__ = ["gradcheck", "adjoint_check", "jvpcheck", "hvpcheck", "GradcheckReport",
           "InputReport", "GradcheckError", "NondeterministicForwardError",
           "NondeterministicBackwardError", "MutatingForwardError", "Layout", "GroupStats",
           "blocks", "MODES",
           "cell_pair", "sequence_pair", "rnn_sequence_pair", "module_pair", "cell_jvp",
           "sequence_jvp", "linear_pair", "embedding_pair", "cross_entropy_pair", "mse_pair",
           "cell_layouts", "sequence_layouts", "module_layouts", "parse_parameter_name",
           "random_cell_case", "random_sequence_case", "random_lstm_case",
           "random_rnn_sequence_case", "random_rnn_case", "model_gradient", "gauss_newton_hvp",
           "CELL_NAMES", "SEQUENCE_NAMES", "RNN_SEQUENCE_NAMES",
           "gru_cell_pair", "gru_sequence_pair", "gru_cell_jvp", "gru_sequence_jvp",
           "gru_cell_layouts", "gru_sequence_layouts", "random_gru_cell_case",
           "random_gru_sequence_case", "random_gru_case", "GRU_CELL_NAMES", "GRU_SEQUENCE_NAMES"]
