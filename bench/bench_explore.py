"""Benchmark: an exploration notebook run as a pipeline vs papermill's Run All.

The notebook (``bench/explore.ipynb``, written by this script) has six steps that
pass ~40 MB DataFrames and arrays: generate (200,000 rows x 20 columns), clean,
profile || features (independent), train (a small random forest), evaluate.

    python bench/bench_explore.py [--pairs 5] [--before OLD/python_pkg] [--handoff-only] [--write-only]

Measures A B A B in one session (medians of ``--pairs``): ``cellpipe run`` fresh
(a new project folder and store each time) against ``papermill`` running the same
notebook in one kernel (and, with ``--before``, another cellpipe's run in the same
pairs: before and after a change); wall time and CPU time (this process's children and their
reaped descendants, from ``resource.getrusage(RUSAGE_CHILDREN)``). Then the cost of a
hand-off per step and per MB, timing the runtime's own functions on the notebook's
frames: save, hash (into the store), fingerprint (the in-place-change guard), load;
and what loading each as a read-only input adds to a fresh process's memory.
The hand-off table of another version: ``PYTHONPATH=OLD/python_pkg python
bench/bench_explore.py --handoff-only``. CPU time counts every process of the
command's tree that was reaped (the fork server reaps its kernels).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import as_installed

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "explore.ipynb"
PY = sys.executable
BIN = Path(PY).parent

CELLS: list[tuple[list[str], str]] = [
    (["imports"], """\
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, roc_auc_score"""),
    (["parameters"], "rows = 200_000\nseed = 0"),
    (["step:generate"], """\
rng = np.random.default_rng(seed)
raw = pd.DataFrame(rng.normal(size=(rows, 17)), columns=[f"x{i:02d}" for i in range(17)])
raw["group"] = pd.Categorical(rng.choice(["a", "b", "c", "d"], size=rows))
raw["count"] = rng.integers(0, 100, size=rows)
raw["target"] = (raw["x00"] + 0.5 * raw["x01"] - raw["x02"] + rng.normal(scale=0.5, size=rows) > 0).astype("int64")
raw.loc[rng.choice(rows, size=rows // 50, replace=False), "x03"] = np.nan
raw.shape"""),
    (["step:clean"], """\
clean = raw.copy()
clean["x03"] = clean["x03"].fillna(clean["x03"].median())
clean = clean[(clean["x04"].abs() < 4)].reset_index(drop=True)
clean["x05"] = clean["x05"].clip(-3, 3)
clean.shape"""),
    (["step:profile"], """\
summary = clean.describe()
corr = clean.drop(columns=["group"]).corr()
by_group = clean.groupby("group", observed=True)["target"].mean()
summary.shape, corr.shape"""),
    (["step:features"], """\
numeric = clean.drop(columns=["group", "target"])
dummies = pd.get_dummies(clean["group"], prefix="g", dtype="float64")
X = np.ascontiguousarray(pd.concat([numeric, dummies], axis=1).to_numpy(dtype="float64"))
y = clean["target"].to_numpy()
split = int(len(X) * 0.8)
X.shape"""),
    (["step:train"], """\
model = RandomForestClassifier(n_estimators=6, max_depth=8, max_samples=0.3, n_jobs=1, random_state=0)
model.fit(X[:split], y[:split])"""),
    (["step:evaluate"], """\
proba = model.predict_proba(X[split:])[:, 1]
accuracy = accuracy_score(y[split:], proba > 0.5)
auc = roc_auc_score(y[split:], proba)
accuracy, auc"""),
]


def write_notebook(path: Path = NOTEBOOK) -> Path:
    """Write the six-step exploration notebook (tagged with cellpipe's step tags)."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [new_markdown_cell("# Exploration benchmark\nWritten by `bench/bench_explore.py`; do not edit.",
                               id="about")]
    for i, (tags, source) in enumerate(CELLS):
        cell = new_code_cell(source, id=f"cell-{i}")  # fixed ids: writing it again changes nothing
        cell.metadata["tags"] = tags
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall time, CPU time of the command's process tree (reaped), stdout."""
    cpu0, start = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    cpu = children_cpu() - cpu0
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, cpu, proc.stdout


def fresh(tmp: Path, name: str) -> Path:
    proj = tmp / name
    if proj.exists():
        shutil.rmtree(proj)
    proj.mkdir()
    shutil.copy(NOTEBOOK, proj / NOTEBOOK.name)
    return proj


def run_cellpipe(tmp: Path, package: Path | None = None) -> tuple[float, float]:
    """``cellpipe run`` in a new project (so a new store); ``package``: another
    cellpipe's python_pkg folder (the version before a change)."""
    proj = fresh(tmp, "cellpipe")
    env = {**os.environ, "PYTHONPATH": str(package.resolve())} if package else None
    env = env or {**os.environ}
    env.pop("CELLPIPE_STORE", None)
    wall, cpu, out = timed([PY, "-m", "cellpipe.cli", "run", NOTEBOOK.name, "--json"], proj, env)
    states = {s["state"] for s in json.loads(out)["steps"]}
    if states != {"done"}:
        raise SystemExit(f"cellpipe run did not run every step: {states}")
    return wall, cpu


def run_papermill(tmp: Path) -> tuple[float, float]:
    proj = fresh(tmp, "papermill")
    wall, cpu, _ = timed([str(BIN / "papermill"), NOTEBOOK.name, "out.ipynb", "--no-progress-bar"], proj)
    return wall, cpu


def compare(pairs: int, before: Path | None = None) -> dict[str, float]:
    """A B A B: cellpipe run (and the version ``before``, when given) against Run All."""
    sides = {"cellpipe run": None, **({"cellpipe before": before} if before else {})}
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in (*sides, "Run All")}
    with tempfile.TemporaryDirectory(prefix="cellpipe-explore-") as tmpdir:
        tmp = Path(tmpdir)
        run_papermill(tmp)  # warm the page cache and the imports once, for both sides
        for i in range(pairs):
            for name, package in sides.items():
                figures[name].append(run_cellpipe(tmp, package))
            figures["Run All"].append(run_papermill(tmp))
            print(f"pair {i + 1}: " + "; ".join(f"{name} {v[-1][0]:.2f} s wall {v[-1][1]:.2f} s cpu"
                                                for name, v in figures.items())
                  + f" (load {os.getloadavg()[0]:.1f})", flush=True)
    med = {f"{name}|{what}": statistics.median(v[k] for v in values)
           for name, values in figures.items() for k, what in enumerate(("wall", "cpu"))}
    print(f"\n{'':18}" + "".join(f"{name:>17}" for name in figures)
          + "".join(f"{name + ' / Run All':>26}" for name in sides) + f"   (medians of {pairs} pairs)")
    for what in ("wall", "cpu"):
        base = med[f"Run All|{what}"]
        print(f"{what + ' time (s)':18}" + "".join(f"{med[f'{name}|{what}']:17.2f}" for name in figures)
              + "".join(f"{med[f'{name}|{what}'] / base:26.2f}" for name in sides))
    return med


def step_values() -> dict[str, object]:
    """The values the notebook passes between steps, made by running its code here."""
    namespace: dict[str, object] = {}
    for tags, source in CELLS:
        exec(compile(source, f"<{tags[0]}>", "exec"), namespace)  # noqa: S102 - the benchmark's own code
    return {name: namespace[name] for name in ("raw", "clean", "X", "y")}


RSS_PROBE = """
import json, pathlib, sys
import numpy, pandas, pyarrow
from cellpipe import runtime

def kb(key):
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])

anon, peak = kb("RssAnon:"), kb("VmHWM:")
ns = {}
runtime.load_inputs("use", sys.argv[1], {sys.argv[2]: "make"}, [sys.argv[2]], ns)
print(json.dumps({"anon": (kb("RssAnon:") - anon) / 1024, "peak": max(0, kb("VmHWM:") - peak) / 1024}))
"""


def kernel_memory(values: dict[str, object]) -> None:
    """What loading each value as a read-only input adds to a fresh process's memory:
    its own (anonymous) pages after the load, and its peak (file pages included)."""
    from cellpipe import runtime

    print(f"\n{'value':8}{'MB in memory':>14}{'anon after load':>17}{'peak growth':>13}   (MB; a step that only reads it)")
    with tempfile.TemporaryDirectory(prefix="cellpipe-rss-") as tmpdir:
        for name, value in values.items():
            art = Path(tmpdir) / name
            ctx = runtime.load_inputs("make", str(art), {}, [], {})
            runtime.save_outputs(ctx, {name: ["use"]}, [], [], str(art), {name: value})
            proc = subprocess.run([PY, "-c", RSS_PROBE, str(art), name], capture_output=True, text=True, check=True)
            grown = json.loads(proc.stdout)
            size = value.memory_usage(deep=True).sum() if hasattr(value, "memory_usage") else value.nbytes
            print(f"{name:8}{size / 2**20:14.1f}{grown['anon']:17.1f}{grown['peak']:13.1f}")


def _loader() -> Callable[..., object]:
    """load_value as the runtime calls it for an input the step only reads."""
    from cellpipe.engine.serialize import load_value

    if "mmap" in inspect.signature(load_value).parameters:
        return lambda folder, record: load_value(folder, record, mmap=True)
    return load_value


def handoff(repeat: int = 5) -> None:
    """The cost of handing each value from one step to the next, by part."""
    from cellpipe.engine.serialize import fingerprint, save_value
    from cellpipe.engine.store.objects import ObjectStore

    load_value = _loader()
    values = step_values()
    rows = []
    with tempfile.TemporaryDirectory(prefix="cellpipe-handoff-") as tmpdir:
        tmp = Path(tmpdir)
        store = ObjectStore(tmp / "objects")
        for name, value in values.items():
            times: dict[str, list[float]] = {"save": [], "hash": [], "fingerprint": [], "load": []}
            size = 0
            for i in range(repeat):
                folder = tmp / f"{name}{i}"
                start = time.perf_counter()
                record = save_value(value, folder, name)
                times["save"].append(time.perf_counter() - start)
                size = record["bytes"]
                start = time.perf_counter()
                if "hash" not in record:  # stored by the runner after the step: hashed then
                    store.put_file(folder / record["file"], link=True)
                times["hash"].append(time.perf_counter() - start)
                start = time.perf_counter()
                fingerprint(value)
                times["fingerprint"].append(time.perf_counter() - start)
                start = time.perf_counter()
                loaded = load_value(folder, record)
                fingerprint(loaded)  # the guard fingerprints what it loaded, too
                times["load"].append(time.perf_counter() - start)
                del loaded
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append((name, type(value).__name__, record["format"], size / 1e6, med))
    mb_total = sum(r[3] for r in rows)
    print(f"\n{'value':8}{'type':11}{'format':9}{'MB':>7}{'save':>8}{'hash':>8}{'fprint':>8}{'load':>8}"
          f"{'total':>8}   seconds, medians of {repeat}; load includes the guard's fingerprint of the loaded value")
    sums = {"save": 0.0, "hash": 0.0, "fingerprint": 0.0, "load": 0.0}
    for name, kind, fmt, mb, med in rows:
        total = sum(med.values())
        for k in sums:
            sums[k] += med[k]
        print(f"{name:8}{kind:11}{fmt:9}{mb:7.1f}" + "".join(f"{med[k]:8.3f}" for k in sums) + f"{total:8.3f}")
    print(f"{'per MB (ms)':28}{mb_total:7.1f}" + "".join(f"{1000 * sums[k] / mb_total:8.2f}" for k in sums)
          + f"{1000 * sum(sums.values()) / mb_total:8.2f}")
    print(f"{'per step (s)':28}{mb_total / len(rows):7.1f}" + "".join(f"{sums[k] / len(rows):8.3f}" for k in sums)
          + f"{sum(sums.values()) / len(rows):8.3f}")
    kernel_memory(values)


def main() -> None:
    as_installed()
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--handoff-only", action="store_true")
    parser.add_argument("--before", type=Path, help="another cellpipe's python_pkg folder, measured in the same pairs")
    parser.add_argument("--write-only", action="store_true", help="only (re)write bench/explore.ipynb")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    write_notebook()
    if args.write_only:
        return
    if not args.handoff_only:
        compare(args.pairs, args.before)
    handoff()


if __name__ == "__main__":
    main()
