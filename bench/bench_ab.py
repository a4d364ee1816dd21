"""Two versions of cellpipe side by side: ``bench_run.py`` alternately with each
version's package first on PYTHONPATH (A B A B ...), medians per figure.

    python bench/bench_ab.py --a /path/to/old/checkout/python_pkg --b python_pkg --pairs 3

For "before and after" figures of a change measured in one session on one machine.
Ploomber is skipped (``bench_run.py`` compares with it on its own).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from _common import as_installed

HERE = Path(__file__).resolve().parent
LINE = re.compile(r"^(\w+)\s+([0-9.]+) (s|MB)$")


def one(package: Path, extra: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(package.resolve())}
    proc = subprocess.run([sys.executable, str(HERE / "bench_run.py"), "--repeat", "1", "--skip-ploomber", *extra],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench_run.py failed with {package}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    figures = {}
    for line in proc.stdout.splitlines():
        match = LINE.match(line.strip())
        if match:
            figures[match[1]] = float(match[2])
    return figures


def main() -> None:
    as_installed()
    parser = argparse.ArgumentParser()
    parser.add_argument("--a", type=Path, required=True, help="the 'before' package folder (holds cellpipe/)")
    parser.add_argument("--b", type=Path, required=True, help="the 'after' package folder")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    extra = ["--skip-synthetic"] if args.skip_synthetic else []
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    for i in range(args.pairs):
        for label, package in (("A", args.a), ("B", args.b)):
            runs[label].append(one(package, extra))
            print(f"pair {i + 1} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[label][-1].items()),
                  flush=True)
    keys = [k for k in runs["A"][0] if all(k in r for r in runs["A"] + runs["B"])]
    print(f"\n{'figure'.ljust(28)} {'A (before)':>11} {'B (after)':>11}  B/A   (medians of {args.pairs})")
    for key in keys:
        a = statistics.median(r[key] for r in runs["A"])
        b = statistics.median(r[key] for r in runs["B"])
        print(f"{key.ljust(28)} {a:11.3f} {b:11.3f}  {b / a if a else float('nan'):.2f}")


if __name__ == "__main__":
    main()
