"""``nplstm visualize``: a look inside a trained char-LM run (nplstm.visualize).

Writes RUN/cells.html and RUN/gates.png and says so on stdout; a note on stderr names the
characters of --text that were skipped (outside the run's vocabulary).  Every refusal is one
line on stderr and exit status 2.
"""

from __future__ import annotations

import sys

from ..training.plots import MATPLOTLIB_MISSING

__all__ = ["add_parser", "run_visualize"]


def add_parser(sub, positive_int) -> None:
    """The ``visualize`` subcommand; ``positive_int`` the argparse type of counts."""
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
    visualize.add_argument("--chars", type=positive_int, default=2000, metavar="N",
                           help="characters of the text to show (default: 2000)")
    visualize.add_argument("--cells", type=positive_int, default=5, metavar="K",
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
