"""The survivors of the earlier mutation run (issue 15), re-made by hand: is each killed now?

    python tests/mutation/by_hand.py

The earlier run over the old backward code left four kinds of real gaps.  mutate.py's
operators do not make all of them (a variable replaced by another is not one of its
mutations), so each is written here as a text substitution on the current code and tested
exactly as mutate.py tests a mutant (a scratch copy, a forked pytest, stage-1 files).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutate  # noqa: E402

# (file, text, its replacement, what the old run found, stage-1 pytest arguments)
BY_HAND = [
    ("nplstm/functional/sequence.py", "norms.add(t, dh, dc_total[:n])",
     "norms.add(t, dr, dc_total[:n])",
     'record["dh"] with a projection holds ‖∂L/∂r_t‖, not ‖∂L/∂h_t‖', ["tests/test_reference.py"]),
    ("nplstm/functional/reference.py", "dh_squares.insert(0, (dh_t * dh_t).sum(axis=-1))",
     "dh_squares.insert(0, (dr * dr).sum(axis=-1))",
     'reference record["dh"] with a projection holds ‖∂L/∂r_t‖', ["tests/test_reference.py"]),
    ("nplstm/functional/losses.py", "dlogits = probs.copy()", "dlogits = probs",
     "cross_entropy_backward overwrites its cache: a second backward is wrong",
     ["tests/test_layers.py", "tests/test_nn.py"]),
    ("nplstm/functional/sequence.py",
     "        kernels.backward_factors(gates[t0 + s:t1], c_all[t0 + s - 1:t1 - 1],",
     "        kernels.backward_factors(gates[t0 + s:t1], c_all[s - 1:t1 - t0 - 1],",
     "a chunk other than the first reads the wrong c_{t−1} (only one chunk was tested)",
     ["tests/test_reference.py"]),
    ("nplstm/functional/sequence.py", "    dx = drop_batch_axis(unbatched, 1, dx)  ",
     "    dx = dx  ", "unbatched F.lstm_backward returns dx with a batch axis (never tested)",
     ["tests/test_reference.py"]),
    ("nplstm/functional/sequence.py", "    dh0, dc0 = drop_batch_axis(unbatched, 0, dh0, dc0)",
     "    dh0, dc0 = drop_batch_axis(unbatched, 0, dc0, dh0)",
     "unbatched F.lstm_backward: dh0 and dc0 exchanged", ["tests/test_reference.py"]),
]


def main():
    root = mutate.ROOT
    scratch = mutate._make_scratch(Path(tempfile.mkdtemp(prefix="nplstm-hand-")))
    mutate._prepare_parent()
    extra = [mutate.GAP_TESTS] if (root / mutate.GAP_TESTS).exists() else []
    failures = 0
    for path, old, new, what, tests in BY_HAND:
        source = (root / path).read_text()
        if source.count(old) != 1:
            raise SystemExit(f"{path}: {old!r} is not there exactly once")
        try:
            (scratch / path).write_text(source.replace(old, new))
            status, why, seconds = mutate._run_tests(scratch, extra + tests, 120,
                                                     scratch / "hand.log")
        finally:
            (scratch / path).write_text(source)
        verdict = "survived" if status == "passed" else "killed"
        failures += verdict == "survived"
        print(f"{verdict:8} {what}\n         {old.strip()} -> {new.strip()}\n"
              f"         [{why or 'all passed'}] {seconds:.1f}s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
