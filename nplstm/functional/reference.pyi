# The types of nplstm/functional/reference.py, kept here so that the textbook code stays as
# learners read it (docs/derivation.md quotes its lines by number).  tests/test_typing.py
# checks that every function here has the parameters, in order and with the defaults, of
# the one in reference.py.
from typing import Any, NamedTuple, Optional

from ..backend import Array
from .grads import CellGrads, GRUCellGrads, GRUGrads, SequenceGrads

__all__ = ["lstm_cell_forward", "lstm_cell_backward", "lstm_forward", "lstm_backward",
           "lstm_step_forward", "lstm_step_backward", "sigmoid", "reverse_within_lengths",
           "StepCache", "LoopCache", "gru_cell_forward", "gru_cell_backward", "gru_forward",
           "gru_backward", "gru_step_forward", "gru_step_backward", "GRUStepCache",
           "GRULoopCache"]

class StepCache(NamedTuple):
    x: Array
    h_prev: Array
    c_prev: Array
    i: Array
    f: Array
    g: Array
    o: Array
    tanh_c: Array
    weight_ih: Array
    weight_hh: Array
    has_bias: bool
    unbatched: bool

class LoopCache(NamedTuple):
    steps: list[StepCache]
    hidden: list[Array]
    weight_hr: Optional[Array]
    lengths: Array
    reverse: bool
    unbatched: bool

def sigmoid(z: Array) -> Array: ...
def lstm_step_forward(x: Array, h_prev: Array, c_prev: Array, weight_ih: Array,
                      weight_hh: Array, bias_ih: Optional[Array], bias_hh: Optional[Array]
                      ) -> tuple[tuple[Array, Array], StepCache]: ...
def lstm_step_backward(dh: Array, dc: Array, cache: StepCache) -> tuple[CellGrads, Array]: ...
def lstm_cell_forward(x: Array, state: Optional[tuple[Array, Array]], weight_ih: Array,
                      weight_hh: Array, bias_ih: Optional[Array] = None,
                      bias_hh: Optional[Array] = None
                      ) -> tuple[tuple[Array, Array], StepCache]: ...
def lstm_cell_backward(dh: Optional[Array], dc: Optional[Array], cache: StepCache
                       ) -> CellGrads: ...
def reverse_within_lengths(a: Array, lengths: Array) -> Array: ...
def lstm_forward(x: Array, state: Optional[tuple[Array, Array]], weight_ih: Array,
                 weight_hh: Array, bias_ih: Optional[Array] = None,
                 bias_hh: Optional[Array] = None, weight_hr: Optional[Array] = None, *,
                 lengths: Any = None, reverse: bool = False, keep_cache: bool = True
                 ) -> tuple[tuple[Array, tuple[Array, Array]], Optional[LoopCache]]: ...
def lstm_backward(doutput: Optional[Array], dh_n: Optional[Array], dc_n: Optional[Array],
                  cache: LoopCache, *, record: Optional[dict[str, Any]] = None
                  ) -> SequenceGrads: ...

class GRUStepCache(NamedTuple):
    x: Array
    h_prev: Array
    r: Array
    z: Array
    n: Array
    gh_n: Array
    weight_ih: Array
    weight_hh: Array
    has_bias: bool
    unbatched: bool

class GRULoopCache(NamedTuple):
    steps: list[GRUStepCache]
    lengths: Array
    reverse: bool
    unbatched: bool

def gru_step_forward(x: Array, h_prev: Array, weight_ih: Array, weight_hh: Array,
                     bias_ih: Optional[Array], bias_hh: Optional[Array]
                     ) -> tuple[Array, GRUStepCache]: ...
def gru_step_backward(dh: Array, cache: GRUStepCache) -> GRUCellGrads: ...
def gru_cell_forward(x: Array, state: Optional[Array], weight_ih: Array, weight_hh: Array,
                     bias_ih: Optional[Array] = None, bias_hh: Optional[Array] = None
                     ) -> tuple[Array, GRUStepCache]: ...
def gru_cell_backward(dh: Optional[Array], cache: GRUStepCache) -> GRUCellGrads: ...
def gru_forward(x: Array, state: Optional[Array], weight_ih: Array, weight_hh: Array,
                bias_ih: Optional[Array] = None, bias_hh: Optional[Array] = None, *,
                lengths: Any = None, reverse: bool = False, keep_cache: bool = True
                ) -> tuple[tuple[Array, Array], Optional[GRULoopCache]]: ...
def gru_backward(doutput: Optional[Array], dh_n: Optional[Array], cache: GRULoopCache, *,
                 record: Optional[dict[str, Any]] = None) -> GRUGrads: ...
