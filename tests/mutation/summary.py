"""Counts per function from the JSON lines of mutate.py (duplicate ids: the last one wins).

    python tests/mutation/summary.py tests/mutation/results-*.jsonl
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict


def main(paths):
    latest = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    latest[record["id"]] = record
    per_function = defaultdict(Counter)
    for record in latest.values():
        per_function[record["id"].split("#")[0]][record["verdict"]] += 1
    print(f"| function | mutants | killed | survived |\n|---|---:|---:|---:|")
    total = Counter()
    for name in sorted(per_function):
        c = per_function[name]
        total.update(c)
        print(f"| `{name}` | {c['killed'] + c['survived']} | {c['killed']} | {c['survived']} |")
    print(f"| all | {total['killed'] + total['survived']} | {total['killed']} | "
          f"{total['survived']} |")
    print("\nsurvivors:")
    for record in sorted(latest.values(), key=lambda r: (r["id"].split("#")[0],
                                                         int(r["id"].split("#")[1]))):
        if record["verdict"] == "survived":
            print(f"{record['id']} | {record['file']}:{record['line']} | {record['mutation']} | "
                  f"`{record['before']}` → `{record['after']}`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
