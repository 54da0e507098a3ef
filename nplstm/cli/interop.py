"""``nplstm convert IN OUT`` and ``nplstm inspect FILE``: weight files from the command line.

    nplstm convert model.pt model.safetensors            any of .pt/.pth, .safetensors, .npz,
    nplstm convert model.pt encoder.onnx --prefix encoder.rnn.   .onnx out; also .keras,
    nplstm inspect model.pt                               .weights.h5, .onnx in

``--max-ratio R`` (both commands) is load_weights's ``max_ratio``: how far a compressed zip
record may unpack (``none``: no limit, for a file you trust).

Errors (a damaged or unsafe file, an unknown suffix, weights no LSTM or GRU fits for .onnx, an OUT
that exists without ``--force``, a bad ``--max-ratio``) exit with status 2 and one line; OUT is written atomically,
so a failed or interrupted convert leaves it as it was.  Notes about a file that loads
(float16 converted, NaN, a state dict picked from a checkpoint) go to stderr as ``note: …``.

Everything a file can name (tensor names, messages quoting them) is printed through
``checks.printable_name``: control characters escaped, long names cut, so the output of
``inspect`` stays within a small multiple of the file's size and cannot draw on the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..checks import one_line, printable_name, printable_text, quoted_name
from ..io.zip_limits import DEFAULT_MAX_RATIO, checked_max_ratio

__all__ = ["add_parsers", "run"]

_READ = ".pt, .pth, .safetensors, .npz, .keras, .weights.h5, .onnx"
_WRITE = (".pt", ".pth", ".safetensors", ".npz", ".onnx")
_NAME_COLUMN = 48            # inspect pads names to at most this width
_NAME_SHOWN = 160            # and shows at most this much of one (then "…(N characters)")
_MESSAGE_LIMIT = 1000        # an error or note line, at most


def add_parsers(sub) -> None:
    convert = sub.add_parser(
        "convert", help="convert weights between .pt, .safetensors, .npz and .onnx "
        "(also reads .keras, .weights.h5)",
        description=f"Read IN ({_READ}) and write its weights to OUT, whose suffix picks the "
        f"format ({', '.join(_WRITE)}). For .onnx, the weights must be one nplstm.LSTM's, "
        "GRU's or GRUCell's "
        "(pick it with --prefix). torch is never needed.")
    convert.add_argument("input", metavar="IN", help="the weight file to read")
    convert.add_argument("output", metavar="OUT", help="the file to write (atomically); "
                         "refused if it exists, unless --force")
    convert.add_argument("--force", action="store_true", help="replace OUT if it exists "
                         "(it keeps its permission bits)")
    convert.add_argument("--key", default=None, help="the entry of a torch checkpoint dict "
                         "that holds the state dict (e.g. model)")
    convert.add_argument("--prefix", default=None, help="keep only the weights under this "
                         "prefix, with it stripped (e.g. encoder.rnn.)")
    _add_max_ratio(convert)
    inspect = sub.add_parser(
        "inspect", help="list a weight file's names, shapes and dtypes, and the nplstm "
        "modules its weights fit",
        description=f"Read FILE ({_READ}) and list its weights (name, shape, dtype), then the "
        "nplstm modules they fit, with the arguments that build each. Nothing is written.")
    inspect.add_argument("file", metavar="FILE", help=f"a weight file ({_READ})")
    inspect.add_argument("--key", default=None, help="the entry of a torch checkpoint dict "
                         "that holds the state dict")
    _add_max_ratio(inspect)


def _add_max_ratio(parser) -> None:
    parser.add_argument("--max-ratio", type=_max_ratio, default=DEFAULT_MAX_RATIO,
                        metavar="R", help="a compressed zip record (.npz, .keras, .pt) may "
                        "unpack to at most R times its compressed size (+ 1 MiB); a number "
                        f">= 1, or 'none' for a file you trust (default: {DEFAULT_MAX_RATIO})")


def _max_ratio(text: str):
    """--max-ratio: a finite number >= 1, or "none" (no limit), as load_weights's max_ratio."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 1 or 'none', got "
                                          f"{quoted_name(text, 40)}") from None
    try:
        return checked_max_ratio(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 1 or 'none', got "
                                          f"{quoted_name(text, 40)}") from None


def run(args, error) -> int:
    """Run ``convert`` or ``inspect``; ``error(message)`` exits with status 2."""
    from ..interop import WeightFileError  # noqa: PLC0415

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = _convert(args) if args.command == "convert" else _inspect(args)
        for warning in caught:
            print(f"note: {one_line(warning.message, _MESSAGE_LIMIT)}", file=sys.stderr)
        return code
    except BrokenPipeError:                # stdout closed by its reader: cli.main's to end
        raise
    except (WeightFileError, ValueError, TypeError, KeyError, ImportError, OSError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        error(one_line(message, _MESSAGE_LIMIT))
    return 2


def _convert(args) -> int:
    from ..interop import select  # noqa: PLC0415

    output = Path(args.output)
    if not any(output.name.lower().endswith(s) for s in _WRITE):
        raise ValueError(f"OUT must end in {', '.join(_WRITE)}, got {args.output!r}")
    if output.is_dir():
        raise ValueError(f"OUT {args.output} exists (a folder); convert writes a file: "
                         "choose another OUT")
    if os.path.lexists(output) and not args.force:
        raise ValueError(f"OUT {args.output} exists (a file); convert never replaces a "
                         "file unasked: pass --force to replace it, or choose another OUT")
    state_dict = _read(Path(args.input), key=args.key, max_ratio=args.max_ratio)
    if args.prefix:
        state_dict = select(state_dict, args.prefix)
    if output.suffix.lower() == ".onnx":
        _write_onnx(state_dict, output)
    else:
        from ..interop import save_weights  # noqa: PLC0415

        save_weights(state_dict, output)
    print(f"wrote {len(state_dict)} tensors to {printable_text(str(output), _MESSAGE_LIMIT)}")
    return 0


def _inspect(args) -> int:
    from ..interop import describe  # noqa: PLC0415

    path = Path(args.file)
    state_dict = _read(path, key=args.key, max_ratio=args.max_ratio)
    total = sum(a.nbytes for a in state_dict.values())
    print(f"{printable_text(str(path), _MESSAGE_LIMIT)}: {len(state_dict)} tensors, "
          f"{_count(state_dict)} numbers, {total} bytes")
    names = {name: printable_name(name, _NAME_SHOWN) for name in state_dict}
    width = min(max((len(shown) for shown in names.values()), default=4), _NAME_COLUMN)
    for name, array in state_dict.items():     # a longer name widens its own line only
        print(f"  {names[name]:{width}s}  {str(array.shape):16s} {array.dtype}")
    print("fits:")
    for fit in describe(state_dict):
        print(f"  {fit}")
    return 0


def _read(path: Path, *, key, max_ratio) -> dict:
    """The state dict of any readable file: load_weights, or for .onnx its LSTM and GRU nodes
    (one: its names; several: prefixed 0., 1., … in graph order; an .onnx file has no
    compressed records, so ``max_ratio`` does not apply to it)."""
    if path.suffix.lower() != ".onnx":
        from ..interop import load_weights  # noqa: PLC0415

        return load_weights(path, key=key, max_ratio=max_ratio)
    if key is not None:
        raise ValueError("--key picks an entry of a torch checkpoint dict; an .onnx file has none")
    from ..interop.onnx_import import import_onnx  # noqa: PLC0415  (extra: onnx)

    modules = import_onnx(path)
    if len(modules) == 1:
        return modules[0].state_dict()
    return {f"{k}.{name}": value for k, module in enumerate(modules)
            for name, value in module.state_dict().items()}


def _write_onnx(state_dict: dict, output: Path) -> None:
    """Build the one nplstm.LSTM, GRU or GRUCell the weights fit and export it, atomically."""
    from ..interop import describe  # noqa: PLC0415
    from ..interop.onnx_export import export_onnx  # noqa: PLC0415  (extra: onnx)
    from ..io import atomic_write_bytes  # noqa: PLC0415

    fits = describe(state_dict)
    lstms = [fit for fit in fits if fit.kind in ("LSTM", "ReverseLSTM", "GRU", "GRUCell",
                                                 "ReverseGRU")]
    if len(lstms) != 1 or len(fits) != 1:
        found = "; ".join(str(fit) for fit in fits)
        raise ValueError(f"an .onnx OUT needs the weights of exactly one nplstm.LSTM, GRU or "
                         f"GRUCell (pick one with --prefix); found {found}")
    floats = [a.dtype for a in state_dict.values()]
    dtype = np.float64 if np.dtype(np.float64) in floats else np.float32
    lstm = lstms[0].build(dtype=dtype)
    lstm.load_state_dict(state_dict)
    with tempfile.TemporaryDirectory() as scratch:
        written = Path(scratch) / output.name
        export_onnx(lstm, written)
        data = written.read_bytes()
    atomic_write_bytes(output, data)


def _count(state_dict: dict) -> int:
    return sum(int(a.size) for a in state_dict.values())
