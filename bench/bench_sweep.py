"""Benchmark: a 12-trial `cellpipe sweep` of the example vs 12 separate fresh `cellpipe run`s.

Run by hand from the repository root (the example needs scikit-learn: the `examples` extra):

    python bench/bench_sweep.py [--rounds 2] [-j 2] [--json OUT.json]

Each round measures, in this order (A B A B ... so that a machine's drift hits both alike):
  A  `cellpipe sweep` over n_estimators=10,20,30 x max_depth=2..5 (12 trials) in a fresh project;
  B  the same 12 parameter sets as 12 `cellpipe run`s, each in a fresh project (no shared cache).
It prints the wall times (median over rounds), the step executions of each (from the runs' JSON
summaries) and how many executions the sweep saved.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import as_installed

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_notebooks" / "breast_cancer.ipynb"
GRID = {"n_estimators": [10, 20, 30], "max_depth": [2, 3, 4, 5]}


def cellpipe(args: list[str], cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "python_pkg")}
    proc = subprocess.run([sys.executable, "-m", "cellpipe.cli", *args, "--json"], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"failed: cellpipe {' '.join(args)}")
    return json.loads(proc.stdout)


def fresh_project(tmp: Path, name: str) -> Path:
    proj = tmp / name
    shutil.rmtree(proj, ignore_errors=True)
    proj.mkdir()
    shutil.copy(EXAMPLE, proj / EXAMPLE.name)
    return proj


def run_sweep(tmp: Path, jobs: int) -> tuple[float, int, dict]:
    proj = fresh_project(tmp, "sweep")
    space = [f"{name}={','.join(map(str, values))}" for name, values in GRID.items()]
    start = time.perf_counter()
    result = cellpipe(["sweep", EXAMPLE.name, "-p", space[0], "-p", space[1],
                       "--optimize", "forest_roc_auc:max", "-j", str(jobs)], proj)
    elapsed = time.perf_counter() - start
    assert len(result["trials"]) == 12, result
    executed = sum(c["executed"] for c in result["steps"].values())
    return elapsed, executed, result["steps"]


def run_separately(tmp: Path, jobs: int) -> tuple[float, int]:
    executed, elapsed = 0, 0.0
    for n, (n_estimators, max_depth) in enumerate(itertools.product(*GRID.values())):
        proj = fresh_project(tmp, f"run{n}")
        start = time.perf_counter()
        summary = cellpipe(["run", EXAMPLE.name, "-p", f"n_estimators={n_estimators}",
                            "-p", f"max_depth={max_depth}", "-j", str(jobs)], proj)
        elapsed += time.perf_counter() - start
        executed += sum(1 for st in summary["steps"] if st["state"] == "done")
        shutil.rmtree(proj)
    return elapsed, executed


def main() -> None:
    as_installed()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds (default 2: A B A B)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="steps at once in each run (default 2)")
    parser.add_argument("--json", metavar="OUT", help="also write the measurements as JSON")
    args = parser.parse_args()
    sweep_times, separate_times = [], []
    sweep_exec = separate_exec = 0
    steps: dict = {}
    with tempfile.TemporaryDirectory(prefix="cellpipe-bench-sweep-") as folder:
        tmp = Path(folder)
        for r in range(args.rounds):
            t, sweep_exec, steps = run_sweep(tmp, args.jobs)
            sweep_times.append(t)
            print(f"round {r + 1} A sweep of 12 trials:    {t:7.1f}s  {sweep_exec} step executions", flush=True)
            t, separate_exec = run_separately(tmp, args.jobs)
            separate_times.append(t)
            print(f"round {r + 1} B 12 separate fresh runs: {t:7.1f}s  {separate_exec} step executions", flush=True)
    a, b = statistics.median(sweep_times), statistics.median(separate_times)
    print()
    print(f"{'':28}{'wall (median)':>14}{'step executions':>17}")
    print(f"{'sweep, 12 trials':28}{a:13.1f}s{sweep_exec:17}")
    print(f"{'12 separate fresh runs':28}{b:13.1f}s{separate_exec:17}")
    print(f"saved: {separate_exec - sweep_exec} of {separate_exec} step executions; "
          f"wall time x{b / a:.2f} ({b - a:.1f}s less)")
    print("per step in the sweep: " + "; ".join(f"{k} executed {v['executed']}x, cached {v['cached']}x"
                                                for k, v in steps.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "sweep_seconds": sweep_times, "separate_seconds": separate_times, "sweep_executions": sweep_exec,
            "separate_executions": separate_exec, "steps": steps, "jobs": args.jobs,
            "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
