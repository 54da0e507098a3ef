"""Pure functions on arrays: ``out, cache = f_forward(...)``, ``grads = f_backward(d, cache)``.

No state and no classes needed: the modules in ``nplstm.nn`` compose these.  Two layers of
the same math: ``reference`` (the textbook equations, what to read first) and the fast
functions below (``cell``, ``sequence``), tested against it.  Modules: ``inputs`` (the
boundary checks), ``packing`` (lengths and reverse as a re-indexing), ``jvp``
(forward-mode derivatives), ``linear`` and ``losses``; ``gauss_newton`` (an LSTM with a
linear readout: its loss, gradient and Gauss-Newton-vector product); ``rnn`` (the
plain tanh/ReLU RNN layer, for comparison); ``gru`` (torch's GRU cell and layer).
"""

from .cell import CellCache, CellGrads, lstm_cell_backward, lstm_cell_forward
from .jvp import (CellTangents, GRUCellTangents, GRUTangents, SequenceTangents, gru_cell_jvp,
                  gru_jvp, lstm_cell_jvp, lstm_jvp)
from .linear import (EmbeddingCache, EmbeddingGrads, LinearCache, LinearGrads,
                     embedding_backward, embedding_forward, linear_backward, linear_forward)
from .losses import (CrossEntropyCache, CrossEntropyGrads, MSECache, MSEGrads,
                     cross_entropy_backward, cross_entropy_forward, mse_backward, mse_forward)
from .gauss_newton import (READOUT_NAMES, cross_entropy_hessian_product, gauss_newton_product,
                           mse_hessian_product, readout_backward, readout_forward,
                           readout_loss_and_grad)
from .rnn import RNNCache, RNNGrads, rnn_backward, rnn_forward
from .gru import (GRUCache, GRUCellCache, GRUCellGrads, GRUGrads, gru_backward,
                  gru_cell_backward, gru_cell_forward, gru_forward)
from .sequence import (SequenceCache, SequenceGrads, cache_bytes_per_step, join_directions,
                       lstm_backward, lstm_forward)
from . import reference  # the textbook layer: the equations as code, the oracle of the above

__all__ = [
    "lstm_cell_forward", "lstm_cell_backward", "CellCache", "CellGrads",
    "lstm_forward", "lstm_backward", "SequenceCache", "SequenceGrads", "cache_bytes_per_step",
    "join_directions",
    "rnn_forward", "rnn_backward", "RNNCache", "RNNGrads",
    "gru_cell_forward", "gru_cell_backward", "GRUCellCache", "GRUCellGrads",
    "gru_forward", "gru_backward", "GRUCache", "GRUGrads",
    "gru_cell_jvp", "gru_jvp", "GRUCellTangents", "GRUTangents",
    "lstm_cell_jvp", "lstm_jvp", "CellTangents", "SequenceTangents",
    "linear_forward", "linear_backward", "LinearCache", "LinearGrads",
    "embedding_forward", "embedding_backward", "EmbeddingCache", "EmbeddingGrads",
    "cross_entropy_forward", "cross_entropy_backward", "CrossEntropyCache", "CrossEntropyGrads",
    "mse_forward", "mse_backward", "MSECache", "MSEGrads",
    "gauss_newton_product", "readout_forward", "readout_backward", "readout_loss_and_grad",
    "cross_entropy_hessian_product", "mse_hessian_product", "READOUT_NAMES",
    "reference",
]
