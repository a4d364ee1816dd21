"""Benchmark: the scheduler's own cost, on pipelines of trivial steps.

Run by hand, never as a test:

    python bench/bench_chain.py [--repeat 5]
    python bench/bench_chain.py --a /path/to/old/python_pkg --b python_pkg --pairs 5   # A B A B

Prints (medians of --repeat runs, each fresh one in a new folder and store):
  chain50_fresh / fanout50_fresh   a 50-step chain / fan-out of trivial steps, fresh
  chain50_noop / fanout50_noop     the same again, nothing changed
  step_overhead                    median over executed steps of wall time minus the
                                   step's own cells (from `cellpipe show --json` timings)
  runner_peak_rss_chain100 / _fanout100   the runner process's peak RSS, 100 steps, fresh
With --a/--b, each figure is measured alternately with each package first on
PYTHONPATH (A B A B ...) and the medians are printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import as_installed

PY = sys.executable


def synthetic(folder: Path, steps: int, shape: str) -> str:
    """A notebook of ``steps`` one-line steps: a chain (each reads the previous) or a
    fan-out (one root, every other step reads it)."""
    cells = []
    for i in range(steps):
        if shape == "chain":
            src = "x0 = 0" if i == 0 else f"x{i} = x{i - 1} + 1"
        else:
            src = "root = list(range(100))" if i == 0 else f"y{i} = sum(root) + {i}"
        cells.append({"cell_type": "code", "execution_count": None, "id": f"c{i}", "outputs": [],
                      "metadata": {"tags": [f"step:s{i:03d}"]}, "source": src})
    nb = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{shape}.ipynb").write_text(json.dumps(nb))
    return f"{shape}.ipynb"


def cellpipe(folder: Path, env: dict[str, str], *argv: str) -> tuple[float, str, int]:
    """Wall time, stdout and peak RSS (kB) of ``python -m cellpipe.cli ARGV`` in ``folder``."""
    start = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "cellpipe.cli", *argv], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def watch() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"cellpipe {' '.join(argv)} failed in {folder}:\n{out[-2000:]}\n{err[-2000:]}")
    return elapsed, out, peak[0]


def overheads(folder: Path, env: dict[str, str], run_id: str) -> list[float]:
    """Each executed step's recorded time minus the time its own cells took (as
    papermill records them in its output notebook; works with any cellpipe version)."""
    _, out, _ = cellpipe(folder, env, "show", run_id, "--json")
    found = []
    for step in json.loads(out)["steps"]:
        if step["cached_from"] or not step.get("output_notebook"):
            continue
        nb = json.loads(Path(step["output_notebook"]).read_text())
        own = sum((c["metadata"].get("papermill") or {}).get("duration") or 0.0 for c in nb["cells"]
                  if (c["metadata"].get("cellpipe") or {}).get("role") in ("step", "shared", "check", "checks"))
        found.append(step["finished"] - step["started"] - own)
    return found


def once(tmp: Path, env: dict[str, str]) -> dict[str, float]:
    """Every figure once, each pipeline in a new folder (a fresh store)."""
    figures: dict[str, float] = {}
    steps_overhead: list[float] = []
    for shape in ("chain", "fanout"):
        folder = tmp / f"{shape}50"
        shutil.rmtree(folder, ignore_errors=True)
        nb = synthetic(folder, 50, shape)
        figures[f"{shape}50_fresh"], out, _ = cellpipe(folder, env, "run", nb, "--json")
        summary = json.loads(out)
        assert {s["state"] for s in summary["steps"]} == {"done"}, summary
        steps_overhead += overheads(folder, env, summary["run"])
        figures[f"{shape}50_noop"], out, _ = cellpipe(folder, env, "run", nb, "--json")
        assert {s["state"] for s in json.loads(out)["steps"]} == {"cached"}
    figures["step_overhead"] = statistics.median(steps_overhead)
    for shape in ("chain", "fanout"):
        folder = tmp / f"{shape}100"
        shutil.rmtree(folder, ignore_errors=True)
        nb = synthetic(folder, 100, shape)
        _, _, peak = cellpipe(folder, env, "run", nb, "--json")
        figures[f"runner_peak_rss_{shape}100"] = peak / 1024
    return figures


def _env(package: Path | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if package is not None:
        env["PYTHONPATH"] = str(package.resolve())
    return env


def _unit(key: str) -> str:
    return "MB" if "rss" in key else "s"


def main() -> None:
    as_installed()
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (without --a/--b)")
    parser.add_argument("--a", type=Path, help="the 'before' package folder (holds cellpipe/)")
    parser.add_argument("--b", type=Path, help="the 'after' package folder")
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.a is None and args.b is None:
            runs = []
            for i in range(args.repeat):
                runs.append(once(tmp, _env(None)))
                print(f"round {i + 1}: " + ", ".join(f"{k} {v:.3f}" for k, v in runs[-1].items()), flush=True)
            print()
            for key in runs[0]:
                print(f"{key.ljust(28)} {statistics.median(r[key] for r in runs):9.3f} {_unit(key)}")
            return
        if args.a is None or args.b is None:
            raise SystemExit("--a and --b go together")
        pairs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        for i in range(args.pairs):
            for label, package in (("A", args.a), ("B", args.b)):
                pairs[label].append(once(tmp, _env(package)))
                print(f"pair {i + 1} {label}: " + ", ".join(f"{k} {v:.3f}" for k, v in pairs[label][-1].items()),
                      flush=True)
        print(f"\n{'figure'.ljust(28)} {'A (before)':>11} {'B (after)':>11}  B/A   (medians of {args.pairs} pairs)")
        for key in pairs["A"][0]:
            a = statistics.median(r[key] for r in pairs["A"])
            b = statistics.median(r[key] for r in pairs["B"])
            print(f"{key.ljust(28)} {a:11.3f} {b:11.3f}  {b / a if a else float('nan'):.2f}  {_unit(key)}")


if __name__ == "__main__":
    main()
