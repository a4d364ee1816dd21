"""Benchmark: `cellpipe compile` on a synthetic 100-step, 20-notebook project.

Run by hand:  python bench/bench_compile.py [--notebooks 20] [--steps 5] [--repeat 5]

Each notebook has imports, functions and parameters cells and a chain of steps
that pass DataFrames and models along, with magics, markdown and a `skip` cell;
consecutive notebooks are joined by an `out:`/`in:` file. Reports the median
wall time of the whole command (interpreter start included) and of the
in-process compile, and the step count.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _cell(source: str, *tags: str):
    cell = new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def make_project(folder: Path, notebooks: int, steps: int) -> list[Path]:
    paths = []
    for n in range(notebooks):
        cells = [
            new_markdown_cell(f"# Notebook {n}\nSynthetic exploration notebook."),
            _cell("import os\nimport numpy as np\nimport pandas as pd", "imports"),
            _cell(f"rows = {100 + n}\nalpha: float = 0.5\nname = 'nb{n}'", "parameters"),
            _cell("def norm(x):\n    return (x - x.mean()) / (x.std() + 1e-9)", "functions"),
        ]
        first = f"nb{n}_s0"
        src = "df = pd.DataFrame({'a': np.arange(rows), 'b': np.arange(rows) * alpha})"
        tags = [f"step:{first}"]
        if n:
            src = f"df = pd.read_csv('data/nb{n - 1}.csv')\n" + src
            tags.append(f"in:data/nb{n - 1}.csv")
        cells.append(_cell(src, *tags))
        for s in range(1, steps):
            body = (
                f"%%time\ndf['c{s}'] = norm(df['a']) * {s}\n"
                f"stats_{s} = df.describe()\n"
                f"model_{s} = dict(mean=float(df['b'].mean()))\n"
                f"items_{s} = [i for i in range(3) if (j := i) > 0]"
            )
            if s == steps - 1:
                body += f"\nos.makedirs('data', exist_ok=True)\ndf.to_csv('data/nb{n}.csv', index=False)"
                cells.append(_cell(body, f"step:nb{n}_s{s}", f"out:data/nb{n}.csv"))
            else:
                cells.append(_cell(body, f"step:nb{n}_s{s}"))
            cells.append(new_markdown_cell(f"Step {s} notes."))
            cells.append(_cell(f"print(stats_{s}.head())\n!echo done", "skip"))
        cells.append(_cell(f"score = float(df['c{steps - 1}'].sum())\nprint(score)", "metrics"))
        nb = new_notebook(cells=cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = folder / f"nb{n:02d}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notebooks", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_project(folder, args.notebooks, args.steps)
        rel = [p.name for p in paths]
        cmd = [sys.executable, "-m", "cellpipe.cli", "compile", *rel, "-o", "build"]
        walls = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True)
            walls.append(time.perf_counter() - start)
            if proc.returncode != 0:
                print(proc.stdout, proc.stderr)
                raise SystemExit("compile failed")

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python_pkg"))
        from cellpipe.engine.project import compile_paths, write_build

        inproc = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result, root = compile_paths(paths, root=folder)
            write_build(result.pipeline, folder / "build2", root)
            inproc.append(time.perf_counter() - start)
        steps = len(result.pipeline.steps)
        print(f"notebooks={args.notebooks} steps={steps} repeats={args.repeat}")
        print(f"cellpipe compile (whole command, interpreter start included): median {statistics.median(walls):.3f} s"
              f" (min {min(walls):.3f}, max {max(walls):.3f})")
        print(f"compile + write in process: median {statistics.median(inproc):.3f} s")


if __name__ == "__main__":
    main()
