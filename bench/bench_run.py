"""Benchmark: `cellpipe run` side by side with plain scripts, papermill and Ploomber.

Run by hand, in an environment that also has Ploomber (never a test dependency):

    python -m venv bench/.venv
    bench/.venv/bin/pip install -e ".[examples]" ploomber
    bench/.venv/bin/python bench/bench_run.py [--repeat 3] [--skip-ploomber] [--skip-synthetic]

Measures, on the bundled example pipeline (medians of --repeat fresh runs):
  (a) the compiled steps as plain Python scripts, one interpreter each, in order
  (b) papermill (its CLI) running the compiled step notebooks in order
  (c) Ploomber building the same step notebooks (fresh, then with nothing changed)
  (d) cellpipe run (fresh store, then with nothing changed)
plus the per-step overhead of cellpipe above each step's own cells, and on
synthetic notebooks: a 50-step chain of trivial steps (fresh), no-op reruns of a
100-step chain and a 100-step fan-out, and the runner process's peak memory.
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

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_notebooks" / "breast_cancer.ipynb"
PY = sys.executable
BIN = Path(PY).parent


def sh(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return elapsed


def fresh_project(tmp: Path, name: str = "proj") -> Path:
    proj = tmp / name
    if proj.exists():
        shutil.rmtree(proj)
    proj.mkdir()
    shutil.copy(EXAMPLE, proj / EXAMPLE.name)
    return proj


def compiled(proj: Path) -> tuple[list[str], Path]:
    sh([PY, "-m", "cellpipe.cli", "compile", EXAMPLE.name, "-o", "build"], proj)
    manifest = json.loads((proj / "build" / "pipeline.json").read_text())
    return [s["name"] for s in manifest["steps"]], proj / "build"


def as_scripts(steps: list[str], build: Path) -> list[Path]:
    from cellpipe.core.analysis import to_python

    scripts = []
    for name in steps:
        nb = json.loads((build / "steps" / f"{name}.ipynb").read_text())
        code = "\n\n".join(to_python("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code")
        path = build / f"{name}.py"
        path.write_text(code)
        scripts.append(path)
    return scripts


def bench_scripts(tmp: Path) -> float:
    proj = fresh_project(tmp)
    steps, build = compiled(proj)
    scripts = as_scripts(steps, build)
    start = time.perf_counter()
    for script in scripts:
        sh([PY, str(script)], proj)
    return time.perf_counter() - start


def bench_papermill(tmp: Path) -> float:
    proj = fresh_project(tmp)
    steps, build = compiled(proj)
    start = time.perf_counter()
    for name in steps:
        sh([str(BIN / "papermill"), str(build / "steps" / f"{name}.ipynb"), str(build / f"out-{name}.ipynb"),
            "--no-progress-bar"], proj)
    return time.perf_counter() - start


def ploomber_project(tmp: Path) -> Path:
    """The compiled step notebooks as a Ploomber pipeline (its `upstream`/`product`
    parameters added; data still moves through cellpipe's artifact folder)."""
    proj = fresh_project(tmp, "ploomber")
    steps, build = compiled(proj)
    manifest = json.loads((build / "pipeline.json").read_text())
    tasks = []
    for step in manifest["steps"]:
        path = build / "steps" / f"{step['name']}.ipynb"
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if "parameters" in cell["metadata"].get("tags", []):
                upstream = repr(step["depends_on"]) if step["depends_on"] else "None"
                cell["source"] = [f"upstream = {upstream}\nproduct = None\n", *cell["source"]]
        path.write_text(json.dumps(nb))
        tasks.append(
            f"  - source: build/steps/{step['name']}.ipynb\n"
            f"    name: {step['name']}\n"
            f"    product: out/{step['name']}.ipynb\n"
            f"    static_analysis: disable\n"
            f"    params:\n      cellpipe_artifacts: {build / 'artifacts'}\n"
        )
    (proj / "pipeline.yaml").write_text("tasks:\n" + "".join(tasks))
    return proj


def bench_ploomber(tmp: Path) -> tuple[float, float]:
    proj = ploomber_project(tmp)
    fresh = sh([str(BIN / "ploomber"), "build", "--force"], proj)
    noop = sh([str(BIN / "ploomber"), "build"], proj)
    return fresh, noop


def cellpipe_run(proj: Path, notebook: str, *extra: str) -> tuple[float, dict, int]:
    """Wall time, the --json summary and the runner process's peak RSS (kB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "cellpipe.cli", "run", notebook, "--json", *extra], cwd=proj,
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
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    elapsed = time.perf_counter() - start
    watcher.join()
    if proc.returncode != 0:
        print(out[-3000:], err[-3000:])
        raise SystemExit("cellpipe run failed")
    return elapsed, json.loads(out), peak[0]


def step_overheads(summary: dict) -> list[float]:
    """Each executed step's wall time minus the time its own code (its cells and the
    shared imports/functions cells) took."""
    overheads = []
    for step in summary["steps"]:
        if step["state"] != "done":
            continue
        nb = json.loads(Path(step["output_notebook"]).read_text())
        own = sum((c["metadata"].get("papermill") or {}).get("duration") or 0.0 for c in nb["cells"]
                  if (c["metadata"].get("cellpipe") or {}).get("role") in ("step", "shared"))
        overheads.append(step["seconds"] - own)
    return overheads


def synthetic(folder: Path, name: str, steps: int, shape: str) -> str:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = []
    for i in range(steps):
        if shape == "chain":
            src = "x0 = 0" if i == 0 else f"x{i} = x{i - 1} + 1"
        else:  # fan-out: one root, the rest read it
            src = "root = list(range(100))" if i == 0 else f"y{i} = sum(root) + {i}"
        cell = new_code_cell(src)
        cell.metadata["tags"] = [f"step:s{i:03d}"]
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / f"{name}.ipynb")
    return f"{name}.ipynb"


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    as_installed()
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-ploomber", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-example", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        runs = {"scripts": [], "papermill": [], "cellpipe": [], "cellpipe_noop": [], "ploomber": [],
                "ploomber_noop": []}
        overheads: list[float] = []
        peak_example = 0
        for i in range(0 if args.skip_example else args.repeat):
            runs["scripts"].append(bench_scripts(tmp))
            runs["papermill"].append(bench_papermill(tmp))
            if not args.skip_ploomber:
                fresh, noop = bench_ploomber(tmp)
                runs["ploomber"].append(fresh)
                runs["ploomber_noop"].append(noop)
            proj = fresh_project(tmp)
            elapsed, summary, peak = cellpipe_run(proj, EXAMPLE.name)
            runs["cellpipe"].append(elapsed)
            overheads += step_overheads(summary)
            peak_example = max(peak_example, peak)
            noop, summary, _ = cellpipe_run(proj, EXAMPLE.name)
            assert {s["state"] for s in summary["steps"]} == {"cached"}
            runs["cellpipe_noop"].append(noop)
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in runs.items() if v), flush=True)
        for key, values in runs.items():
            if values:
                results[key] = median(values)
        if overheads:
            results["step_overhead_median"] = median(overheads)
            results["runner_peak_rss_mb_example"] = peak_example / 1024

        if not args.skip_synthetic:
            # each synthetic pipeline in a folder (and store) of its own: no step is
            # cached from another pipeline
            syn = tmp / "chain50"
            syn.mkdir()
            chain50 = synthetic(syn, "chain50", 50, "chain")
            results["chain50_fresh"], _, _ = cellpipe_run(syn, chain50)
            for shape in ("chain", "fanout"):
                syn = tmp / f"{shape}100"
                syn.mkdir()
                nb = synthetic(syn, f"{shape}100", 100, shape)
                fresh, _, peak = cellpipe_run(syn, nb)
                results[f"{shape}100_fresh"] = fresh
                results[f"runner_peak_rss_mb_{shape}100"] = peak / 1024
                results[f"{shape}100_noop"] = median([cellpipe_run(syn, nb)[0] for _ in range(args.repeat)])

    print()
    width = max(len(k) for k in results)
    for key, value in results.items():
        unit = " MB" if "rss" in key else " s"
        print(f"{key.ljust(width)}  {value:8.2f}{unit}")
    if "scripts" not in results:
        return
    s = results["scripts"]
    print()
    print(f"example fresh, ratio to plain scripts: cellpipe {results['cellpipe'] / s:.2f}x, "
          f"papermill {results['papermill'] / s:.2f}x" +
          (f", ploomber {results['ploomber'] / s:.2f}x" if "ploomber" in results else ""))


if __name__ == "__main__":
    main()
