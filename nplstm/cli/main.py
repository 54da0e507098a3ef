"""The ``nplstm`` command (also ``python -m nplstm``): train, sample, gradcheck, bench,
convert, inspect, visualize and exercise: the parser, the dispatch, and the small commands.

``nplstm visualize`` (nplstm.visualize) writes RUN/cells.html and RUN/gates.png and says so
on stdout; a note on stderr names the characters of --text that were skipped (outside the
run's vocabulary).  Every refusal is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .. import __version__
from ..checks import check_int
from ..training.plots import MATPLOTLIB_MISSING
from . import exercise as cli_exercise, interop as cli_interop, train as cli_train

__all__ = ["main", "build_parser"]


def build_parser():
    """The ``nplstm`` parser and its subcommands' parsers (``sub.choices[name]``)."""
    parser = cli_train.OneLineParser(
        prog="nplstm", description="torch's LSTM on plain NumPy/CuPy arrays, "
        "with every backward written by hand")
    parser.add_argument("--version", action="version", version=f"nplstm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli_train.add_parsers(sub)
    cli_interop.add_parsers(sub)
    _add_visualize_parser(sub)
    cli_exercise.add_parser(sub)

    check = sub.add_parser("gradcheck", help="check the library's backward passes against "
                           "finite differences (or JVPs) and print a table per check",
                           description="Check nplstm's hand-written backward passes (cell, "
                           "LSTM, RNN, GRU cell and layer, linear, embedding, loss) on random configurations "
                           "against central finite differences in float64 (or the adjoint "
                           "test of the JVPs), and print a table per check: the worst error "
                           "of each input and where. Exit status 0 when every check passes, "
                           "1 otherwise.")
    check.add_argument("--what", choices=["cell", "lstm", "rnn", "gru", "linear", "embedding",
                                          "loss", "all"],
                       default="all", help="which part to check (default: all)")
    check.add_argument("--mode", choices=["full", "directional", "sampled", "adjoint"],
                       default="full", help="every element (full), random directions, random "
                       "elements, or the adjoint test of the JVP against the backward "
                       "(cell, lstm and gru) (default: full)")
    check.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                       help="dtype of the checked backward; float32 is compared with float64 "
                       "differences at float32 tolerances (default: float64)")
    check.add_argument("--layers", type=_positive_int, default=None,
                       help="LSTM (and RNN, GRU) layers (default: varied)")
    check.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                       help="LSTM (and RNN, GRU) bidirectional or not (default: varied)")
    check.add_argument("--proj-size", type=_non_negative_int, default=None,
                       help="LSTM projection size (default: varied)")
    check.add_argument("--lengths", type=_lengths, default=None,
                       help="LSTM (and RNN, GRU) per-sequence lengths, e.g. 4,2,3 "
                       "(sets B and T = max)")
    check.add_argument("--seed", type=_non_negative_int, default=0,
                       help="seed of the random cases (default: 0)")
    check.add_argument("--cases", type=_positive_int, default=4,
                       help="random configurations per part (default: 4)")
    check.add_argument("--json", action="store_true",
                       help="print one JSON document (every report) instead of tables")
    check.add_argument("--quiet", action="store_true", help="print only the summary")

    bench = sub.add_parser("bench", help="time nplstm.LSTM (GRU) against torch.nn.LSTM (GRU) "
                           "on the CPU",
                           description="Time nplstm.LSTM's (or GRU's) forward and "
                           "forward+backward against torch.nn.LSTM's (GRU's) (with and without oneDNN) on this CPU: "
                           "one worker process per runner, interleaved rounds, medians "
                           "(docs/benchmarks.md). Without torch, nplstm alone.")
    bench.add_argument("--threads", default=None,
                       help="thread counts for torch and NumPy's BLAS, one table each, "
                       "e.g. 2,1 (default: all cores)")
    bench.add_argument("--repeats", type=_repeats, default=None,
                       help="interleaved timed rounds per case and mode; the median is "
                       "reported (default: 1 to 15, until ~1.5 s are spent; use 15 to quote)")
    bench.add_argument("--cases", default=None,
                       help="cases as T,B,H;T,B,H;... (default: the standard set)")
    bench.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="dtype of the timed LSTMs (default: float32)")
    bench.add_argument("--runtime", choices=["onnxruntime"], default=None,
                       help="also time the LSTM compiled for this runtime "
                       "(nplstm.interop.compile_onnxruntime): a column in the forward "
                       "tables and a streaming table (default: none)")
    bench.add_argument("--forward-only", action="store_true",
                       help="time the forward (and streaming) only, not fwd+bwd")
    bench.add_argument("--cell", default=None,
                       help="lstm, gru (nplstm.GRU against torch.nn.GRU) or lstm,gru (both "
                       "in the same rounds, and a table comparing their ratios) "
                       "(default: lstm)")

    return parser, sub


def main(argv=None) -> int:
    """Run one ``nplstm`` command; its exit status.

    Ctrl-C is one line and status 130, SIGTERM one line and status 143 (a file being written
    is left as it was, its temporary file removed); a closed stdout (``nplstm inspect F |
    head -1``) ends the command quietly with status 0, as the reader has read enough.
    """
    previous = _on_sigterm_raise()
    try:
        code = _run(argv)
        sys.stdout.flush()                 # a pipe closed early raises here, not at exit
        return code
    except KeyboardInterrupt:
        return _stopped("interrupted (Ctrl-C)", 130)
    except Terminated:
        return _stopped("terminated (SIGTERM)", 143)
    except BrokenPipeError:
        _discard_stdout()
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM, raised where the process is (a BaseException, as KeyboardInterrupt, so that
    ``except Exception`` does not swallow it and cleanups such as atomic_write's run)."""


def _raise_terminated(signum, frame):
    raise Terminated


def _on_sigterm_raise():
    """Make SIGTERM raise ``Terminated`` unless someone set a handler; the previous handler
    (to restore), or None when it was left alone (another thread, a handler already set)."""
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return None
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, AttributeError, OSError):     # not the main thread; no SIGTERM
        return None


def _stopped(why: str, code: int) -> int:
    try:
        print(f"nplstm: {why}", file=sys.stderr)
    except (OSError, ValueError):          # stderr closed too
        pass
    return code


def _discard_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush of what is still
    buffered cannot fail ("Exception ignored … BrokenPipeError") after a reader left."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):      # no real file descriptor (tests)
        pass


def _run(argv) -> int:
    parser, sub = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("train", "sample"):
        run = cli_train.run_train if args.command == "train" else cli_train.run_sample
        return run(args, sub.choices[args.command].error)
    if args.command == "visualize":
        return run_visualize(args, sub.choices["visualize"].error)
    if args.command in ("convert", "inspect"):
        return cli_interop.run(args, sub.choices[args.command].error)
    if args.command == "exercise":
        return cli_exercise.run(args)
    if args.command == "gradcheck":
        from .gradcheck import run_selfcheck  # noqa: PLC0415

        if args.mode == "adjoint" and args.what in ("rnn", "linear", "embedding", "loss"):
            sub.choices["gradcheck"].error(f"--mode adjoint needs a JVP, which only cell, lstm "
                                           f"and gru have; got --what {args.what}")
        return run_selfcheck(args.what, seed=args.seed, cases=args.cases, quiet=args.quiet,
                             mode=args.mode, dtype=args.dtype, layers=args.layers,
                             bidirectional=args.bidirectional, proj_size=args.proj_size,
                             lengths=args.lengths, as_json=args.json,
                             progress=sys.stderr.isatty())
    from .bench import (check_runtime, parse_cases, parse_cells, parse_threads,  # noqa: PLC0415
                        run_bench)

    try:
        cases = parse_cases(args.cases)
        threads = parse_threads(args.threads)
        cells = parse_cells(args.cell)
        check_runtime(args.runtime, args.dtype, cells)
    except ValueError as err:
        sub.choices["bench"].error(str(err))
    return run_bench(cases, threads=threads, repeats=args.repeats, dtype=args.dtype,
                     runtime=args.runtime, forward_only=args.forward_only, cells=cells)


def _int_at_least(minimum: int, wording: str, maximum: int | None = None):
    """An argparse type: an integer in [``minimum``, ``maximum``] (``checks.check_int``),
    refused in one line, ``expected {wording}``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wording}, got {text[:60]!r}") from None
        try:
            return check_int("value", value, minimum=minimum, maximum=maximum)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {wording}, got {value}") from None

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")
_repeats = _int_at_least(1, "an integer in [1, 1000]", maximum=1000)   # rounds: finite time


def _lengths(text: str) -> list:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected lengths like 4,2,3, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"lengths must be positive integers, got {text!r}")
    return values


# --- nplstm visualize ----------------------------------------------------------------------

def _add_visualize_parser(sub) -> None:
    visualize = sub.add_parser(
        "visualize", help="colour a text by a trained char-LM's cells and plot its gates' "
        "saturation (RUN/cells.html, RUN/gates.png)",
        description="Run a text through a char-LM run's model (best.npz, else "
        "checkpoint.npz) and write RUN/cells.html (the text coloured by the cells that best "
        "follow simple features of it, per layer) and RUN/gates.png (how often each gate "
        "unit is saturated). Characters of --text outside the run's vocabulary are skipped.")
    visualize.add_argument("--out", required=True, metavar="RUN",
                           help="the run's directory (the --out of nplstm train)")
    visualize.add_argument("--text", default=None, metavar="FILE",
                           help="a UTF-8 text file to show (default: the run's eval split, "
                           "the last 10%% of its training text)")
    visualize.add_argument("--chars", type=_positive_int, default=2000, metavar="N",
                           help="characters of the text to show (default: 2000)")
    visualize.add_argument("--cells", type=_positive_int, default=5, metavar="K",
                           help="cells shown per layer (default: 5)")


def _skipped_note(skipped: dict) -> str:
    total = sum(skipped.values())
    listed = ", ".join(f"{ch!r} ×{n}" for ch, n in sorted(skipped.items(),
                                                         key=lambda kv: (-kv[1], kv[0]))[:10])
    more = ", …" if len(skipped) > 10 else ""
    return (f"note: skipped {total} character(s) outside the run's vocabulary: "
            f"{listed}{more}")


def run_visualize(args, error) -> int:
    """Run ``nplstm visualize``; ``error(message)`` exits with status 2."""
    from ..visualize import VisualizeError, visualize_run  # noqa: PLC0415

    try:
        result = visualize_run(args.out, text=args.text, chars=args.chars, cells=args.cells)
    except VisualizeError as err:
        error(str(err))
    except OSError as err:                    # a full disk, a read-only RUN: one line
        error(f"cannot write in {args.out}: {err.strerror or err}")
    if result.skipped:
        print(_skipped_note(result.skipped), file=sys.stderr)
    print(f"wrote {result.page} ({result.chars} characters)")
    if result.figure is None:
        print(f"note: gates.png skipped: {MATPLOTLIB_MISSING}", file=sys.stderr)
    else:
        print(f"wrote {result.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
