"""Mutation score per module from mutmut's results (``make mutation`` prints it).

Reads ``mutants/**/*.py.meta`` (mutmut 3): exit code 0 means the tests still passed with the
mutant in place (survived); any failing exit code means a test caught it (killed). Mutants
listed in ``EQUIVALENT`` cannot change behaviour and are justified there; they are left out of
the score.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name → why no test can kill it (the mutant behaves exactly like the original)
EQUIVALENT: dict[str, str] = {}


def main() -> int:
    rows = []
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = str(meta.relative_to(ROOT / "mutants")).removesuffix(".meta")
        counted = {k: v for k, v in codes.items() if k not in EQUIVALENT}
        survived = sorted(k for k, v in counted.items() if v == 0)
        untested = sorted(k for k, v in counted.items() if v is None or v == 33)
        killed = len(counted) - len(survived) - len(untested)
        rows.append((module, len(codes), killed, survived, untested))
    if not rows:
        print("no mutmut results under mutants/: run `make mutation`", file=sys.stderr)
        return 2
    print(
        f"{'module':40} {'mutants':>8} {'killed':>7} {'survived':>9} {'no tests':>9} {'score':>6}"
    )
    total = killed_total = 0
    for module, count, killed, survived, untested in rows:
        scored = killed + len(survived) + len(untested)
        total += scored
        killed_total += killed
        score = 100 * killed / scored if scored else 100.0
        print(f"{module:40} {count:8} {killed:7} {len(survived):9} {len(untested):9} {score:5.1f}%")
    print(f"{'all':40} {'':8} {killed_total:7} {'':9} {'':9} {100 * killed_total / total:5.1f}%")
    print(f"equivalent mutants left out (justified in {Path(__file__).name}): {len(EQUIVALENT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
