"""Weight files in and out: torch .pt (without torch), safetensors, .npz, Keras, ONNX.

    sd = nplstm.interop.load_weights("model.pt")          # {name: numpy array}
    lstm.load_state_dict(nplstm.interop.select(sd, "encoder.rnn."))   # GRUs the same way
    nplstm.interop.save_weights(lstm.state_dict(), "lstm.safetensors")
    nplstm.interop.export_onnx(lstm, "lstm.onnx");  nplstm.interop.import_onnx("lstm.onnx")
    fast = nplstm.interop.compile_onnxruntime(lstm);  output, state = fast(x)   # onnxruntime

See docs/interop.md.
"""

from .groups import ModuleFit, describe, infer_gru_config, infer_lstm_config, prefixes, select
from .file_errors import UnsafeFileError, UnsupportedModelError, WeightFileError
from .files import load_weights, save_weights
from .notes import WeightFileWarning
from .onnx_export import export_onnx
from .onnx_import import import_onnx
from .onnxruntime_runner import compile_onnxruntime
from .reverse_lstm import ReverseGRU, ReverseLSTM

__all__ = ["load_weights", "save_weights", "select", "prefixes", "describe", "ModuleFit",
           "infer_lstm_config", "infer_gru_config", "WeightFileError", "UnsafeFileError",
           "UnsupportedModelError", "WeightFileWarning", "ReverseLSTM", "ReverseGRU", "export_onnx", "import_onnx", "compile_onnxruntime"]
