"""Benchmark: `cellpipe run` locally and on a Dask cluster (a scheduler and two workers on this machine).

Run by hand (needs `cellpipe[dask,examples]`):

    python bench/bench_dask.py [--repeat 2] [--fanout 50]

Measures:
  (a) the bundled example pipeline, fresh store each time, local vs Dask, interleaved
      (A B A B ...), medians of --repeat runs each; the Dask cluster is started once,
      outside the timings, as a team's cluster would be;
  (b) the per-step overhead on Dask: each step's time (start on the worker to end)
      minus the same step's time in the local run, median over the steps, and the
      wall-time difference per step;
  (c) a fan-out of --fanout trivial steps reading one value on Dask: wall time (and the
      local run's), and the scheduler's own round trip per task (that many no-op tasks
      submitted at once).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import as_installed

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_notebooks" / "breast_cancer.ipynb"
PY = sys.executable
DASK = str(Path(PY).parent / "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(tmp: Path) -> tuple[str, list[subprocess.Popen]]:
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = open(tmp / "cluster.log", "w")  # noqa: SIM115 - kept open while the cluster runs
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)]
    for n in (1, 2):
        procs.append(subprocess.Popen([DASK, "worker", address, "--nworkers", "1", "--nthreads", "1", "--host",
                                       "127.0.0.1", "--no-dashboard", "--name", f"w{n}"],
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    with Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=120)
    return address, procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run(folder: Path, notebook: str, *args: str) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run([PY, "-m", "cellpipe.cli", "run", notebook, "--json", *args], cwd=folder,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"failed: cellpipe run {notebook} {' '.join(args)}")
    return elapsed, json.loads(proc.stdout)


def fresh(tmp: Path, name: str) -> Path:
    folder = tmp / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / EXAMPLE.name)
    return folder


def fanout_notebook(path: Path, n: int) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [nbformat.v4.new_code_cell("base = 1")]
    cells[0].metadata["tags"] = ["step:root"]
    for i in range(n):
        cell = nbformat.v4.new_code_cell(f"leaf_{i} = base + {i}")
        cell.metadata["tags"] = [f"step:leaf_{i}"]
        cells.append(cell)
    nb.cells = cells
    nbformat.write(nb, str(path))


def scheduler_round_trip(address: str, n: int) -> float:
    """Seconds per no-op task, ``n`` submitted at once and gathered (the scheduler's own cost)."""
    from distributed import Client

    with Client(address, timeout=10, set_as_default=False) as client:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            futures = [client.submit(time.sleep, 0, pure=False) for _ in range(n)]
            client.gather(futures)
            times.append((time.perf_counter() - start) / n)
            del futures
        return statistics.median(times)


def main() -> None:
    as_installed()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--fanout", type=int, default=50)
    parser.add_argument("--skip-example", action="store_true", help="only the fan-out (c)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="cellpipe-bench-dask-") as name:
        tmp = Path(name)
        address, procs = start_cluster(tmp)
        try:
            if not args.skip_example:
                example(tmp, address, args.repeat)
            fanout(tmp, address, args.fanout)
        finally:
            stop_cluster(procs)


def example(tmp: Path, address: str, repeat: int) -> None:
    """(a) and (b)."""
    walls: dict[str, list[float]] = {"local": [], "dask": []}
    steps: dict[str, list[dict[str, float]]] = {"local": [], "dask": []}
    for i in range(repeat):  # A B A B: the machine's load drifts alike for both
        for kind in ("local", "dask"):
            extra = ["--executor", "dask", "--address", address] if kind == "dask" else []
            wall, summary = run(fresh(tmp, f"{kind}{i}"), EXAMPLE.name, *extra)
            walls[kind].append(wall)
            steps[kind].append({s["step"]: s["seconds"] for s in summary["steps"]})
            print(f"  run {i + 1} {kind:5}: {wall:6.1f} s")
    local, dask = statistics.median(walls["local"]), statistics.median(walls["dask"])
    names = list(steps["local"][0])
    per_step = {n: statistics.median(r[n] for r in steps["dask"]) - statistics.median(r[n] for r in steps["local"])
                for n in names}
    print(f"(a) example ({len(names)} steps), median of {repeat}: local {local:.1f} s, "
          f"Dask (scheduler + 2 workers) {dask:.1f} s, ratio {dask / local:.2f}")
    print(f"(b) per-step time on Dask minus local, median over steps: {statistics.median(per_step.values()):+.2f} s "
          f"({', '.join(f'{n} {v:+.1f}' for n, v in per_step.items())}); "
          f"wall difference per step: {(dask - local) / len(names):+.2f} s")


def fanout(tmp: Path, address: str, n: int) -> None:
    """(c)."""
    folder = tmp / "fanout"
    folder.mkdir()
    fanout_notebook(folder / "fan.ipynb", n)
    wall, summary = run(folder, "fan.ipynb", "--executor", "dask", "--address", address)
    busy = sum(s["seconds"] or 0 for s in summary["steps"])
    shutil.rmtree(folder / ".cellpipe")
    local, _ = run(folder, "fan.ipynb")
    print(f"(c) fan-out of {n} trivial steps (+1 root) on Dask: wall {wall:.1f} s, "
          f"{wall / (n + 1):.2f} s per step; step time summed {busy:.1f} s (local, same machine: "
          f"wall {local:.1f} s)", flush=True)
    rt = scheduler_round_trip(address, n)
    print(f"    scheduler round trip per no-op task ({n} at once): {rt * 1000:.1f} ms")


if __name__ == "__main__":
    main()
