"""``nplstm gradcheck``: check the library's backward passes on random configurations and
print a table per check (the configurations: nplstm/selfcheck/cases.py)."""

from __future__ import annotations

import json

from ..selfcheck import build_cases

__all__ = ["run_selfcheck"]


def run_selfcheck(what="all", seed=0, cases=4, quiet=False, *, mode="full", dtype="float64",
                  layers=None, bidirectional=None, proj_size=None, lengths=None,
                  as_json=False, progress=False) -> int:
    """Check the chosen parts on ``cases`` random configurations each; 0 if all pass.

    mode           "full", "directional", "sampled" (finite differences) or "adjoint"
                   (JVP against backward; cell and lstm only)
    dtype          "float64" or "float32" (float32 backwards against float64 differences)
    layers, bidirectional, proj_size, lengths
                   fix the LSTM's configuration (None: varied over the cases); ``lengths``
                   a list of per-sequence lengths (it fixes B and T = max(lengths))
    as_json        print one JSON document instead of tables
    """
    results = []
    for title, config, run in build_cases(what, seed, cases, mode, dtype, layers,
                                          bidirectional, proj_size, lengths):
        rep = run(progress)
        results.append((title, config, rep))
        if not quiet and not as_json:
            print(f"\n== {title}\n{rep}")
    failed = [title for title, _, rep in results if not rep.passed]
    if as_json:
        print(json.dumps({"passed": not failed, "mode": mode, "dtype": dtype,
                          "checks": [{"title": t, "config": c, "report": r.to_dict()}
                                     for t, c, r in results]}, indent=1))
        return 1 if failed else 0
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed")
    for title in failed:
        print(f"FAILED: {title}")
    return 1 if failed else 0
