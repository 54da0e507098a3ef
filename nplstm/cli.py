"""The ``nplstm`` command (also ``python -m nplstm``): gradcheck and bench."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="nplstm", description="torch's LSTM on plain NumPy/CuPy arrays, "
        "with every backward written by hand")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("gradcheck", help="check the library's backward passes against "
                           "finite differences (float64) and print a table per check")
    check.add_argument("--what", choices=["cell", "lstm", "all"], default="all",
                       help="which part to check (default: all)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random cases")
    check.add_argument("--cases", type=_positive_int, default=4,
                       help="random configurations per part (default: 4)")
    check.add_argument("--quiet", action="store_true", help="print only the summary")

    bench = sub.add_parser("bench", help="time nplstm.LSTM against torch.nn.LSTM on the CPU")
    bench.add_argument("--threads", default=None,
                       help="thread counts for torch and NumPy's BLAS, one table each, "
                       "e.g. 2,1 (default: all cores)")
    bench.add_argument("--repeats", type=_positive_int, default=None,
                       help="interleaved timed rounds per case and mode; the median is "
                       "reported (default: 2 to 15, until ~3 s are spent; use 15 to quote)")
    bench.add_argument("--cases", default=None,
                       help="cases as T,B,H;T,B,H;... (default: the standard set)")
    bench.add_argument("--dtype", choices=["float32", "float64"], default="float32")

    args = parser.parse_args(argv)
    if args.command == "gradcheck":
        from .selfcheck import run_selfcheck  # noqa: PLC0415

        return run_selfcheck(args.what, seed=args.seed, cases=args.cases, quiet=args.quiet)
    from .bench import parse_cases, parse_threads, run_bench  # noqa: PLC0415

    try:
        cases = parse_cases(args.cases)
        threads = parse_threads(args.threads)
    except ValueError as err:
        parser.error(str(err))
    return run_bench(cases, threads=args.threads, repeats=args.repeats, dtype=args.dtype)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


if __name__ == "__main__":
    sys.exit(main())
