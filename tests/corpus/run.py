"""The equivalence corpus: does ``cellpipe run`` of a split notebook give Run All's outputs?

Each notebook under ``tests/corpus/notebooks/<name>/`` (with the data it reads) is
run top to bottom with papermill twice (the oracle; cells whose outputs differ
between the two Run Alls are reported as nondeterministic and not compared), then
split twice into steps in a copy under a temporary folder (never in the repository):

- ``cells``: every code cell is its own step;
- ``random``: step boundaries drawn with a fixed seed.

Each split is checked with ``cellpipe validate`` and run with ``cellpipe run``; the
per-cell text outputs (stdout, stderr, ``text/plain`` of results and displays, error
names) are read back from the run folder's output notebooks, mapped to source cells
through the compiled cells' metadata, masked (timings, addresses, dates, temporary
paths) and compared with Run All's. Each split ends as one of:

- ``matched``: every cell printed what Run All printed;
- ``refused``: ``cellpipe validate`` reported an error naming a cell (allowed by the contract);
- ``different``: the run succeeded but a cell printed something else (the failures that matter most);
- ``crashed``: the run failed, timed out, or a cell's outputs are missing.

Whole corpus: ``python -m tests.corpus.run --all`` (from the repository root; ``-j N``
runs N notebooks at a time; ``--json FILE`` writes every detail).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

CORPUS = Path(__file__).resolve().parent / "notebooks"
SPLITS = ("cells", "random")
SEED = 20261201
#: Probability that a code cell (after the first) starts a new step in the random split.
BOUNDARY_P = 0.4
#: The fast subset run by tests/test_corpus.py: (notebook, split) pairs.
QUICK_SPLITS = (("ds_functions_free_names", "cells"), ("ds_groupby_merge", "random"))

#: Masks applied to every text output before comparing: (pattern, replacement).
MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    # the kernel's own logger (not the notebook) reporting a message it could not parse
    (re.compile(r"ERROR:tornado\.general:Uncaught exception in ZMQStream callback\n"
                r"Traceback \(most recent call last\):\n(?:[ \t^~].*\n)*\w+: .*\n?"), ""),
    (re.compile(r"CPU times:.*"), "CPU times: <masked>"),
    (re.compile(r"Wall time:.*"), "Wall time: <masked>"),
    (re.compile(r"[\d.]+ [µmnu]?s ± [\d.]+ [µmnu]?s per loop.*"), "<timeit>"),
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0x<addr>"),
    (re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4}\b"), "<date>"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "<time>"),
    (re.compile(r"(/private)?/tmp/[^\s'\"),\]]*"), "<tmp>"),
    (re.compile(r"\bpid[ =:]\s*\d+", re.I), "pid <n>"),
    (re.compile(r"[ \t]+\n"), "\n"),
)


@dataclass
class CellOutputs:
    """What one code cell printed, as compared."""

    stdout: str = ""
    stderr: str = ""
    results: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def render(self) -> str:
        parts = []
        if self.stdout:
            parts.append(f"stdout: {self.stdout!r}")
        if self.stderr:
            parts.append(f"stderr: {self.stderr!r}")
        parts += [f"result: {r!r}" for r in self.results]
        parts += [f"error: {e}" for e in self.errors]
        return "; ".join(parts) or "(no output)"


@dataclass
class SplitResult:
    """How one split of one notebook went."""

    notebook: str
    split: str
    verdict: str  # matched | refused | different | crashed
    steps: int = 0
    detail: str = ""
    cell: int | None = None  # source cell index of the first difference or the refusal
    differing_cells: list[int] = field(default_factory=list)
    differences: dict[int, list[str]] = field(default_factory=dict)  # cell -> [Run All, cellpipe]
    expected: str = ""
    got: str = ""
    warnings: list[str] = field(default_factory=list)
    warned: bool = False  # different, but a validate warning named a cell at or above the difference
    seconds: float = 0.0


@dataclass
class NotebookResult:
    """The oracle's view of a notebook and its splits."""

    notebook: str
    baseline_ok: bool
    baseline_seconds: float = 0.0
    unstable_cells: list[int] = field(default_factory=list)
    baseline_error: str = ""
    splits: list[SplitResult] = field(default_factory=list)


def mask(text: str, work: Path | None = None) -> str:
    """``text`` with timings, addresses, dates and temporary paths replaced by placeholders."""
    if work is not None:
        text = text.replace(str(work), "<work>")
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def cell_outputs(outputs: Iterable[dict[str, Any]], work: Path | None = None) -> CellOutputs:
    """The comparable text of a cell's outputs."""
    got = CellOutputs()
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            text = mask(_text(out.get("text", "")), work)
            if out.get("name") == "stderr":
                got.stderr += text
            else:
                got.stdout += text
        elif kind in ("execute_result", "display_data"):
            plain = out.get("data", {}).get("text/plain")
            if plain is not None:
                got.results.append(mask(_text(plain), work))
        elif kind == "error":
            got.errors.append(str(out.get("ename")))
    return got


def code_cell_indices(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]


def split_notebook(nb: nbformat.NotebookNode, kind: str, name: str, seed: int = SEED) -> int:
    """Tag ``nb``'s code cells in place into steps; return the number of steps."""
    cells = code_cell_indices(nb)
    rng = random.Random(f"{seed}:{name}")
    steps = 0
    for n, i in enumerate(cells):
        tags = [t for t in nb.cells[i].metadata.get("tags", []) if not t.startswith(("step:", "block:"))]
        if n == 0 or kind == "cells" or rng.random() < BOUNDARY_P:
            steps += 1
            tags.insert(0, f"step:s{steps:03d}")
        nb.cells[i].metadata["tags"] = tags
    return steps


def _strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("tags", None) if cell.metadata.get("tags") == [] else None
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _env(fork: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    if not fork:
        env["CELLPIPE_FORK"] = "0"
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return env


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".cellpipe", "__pycache__", ".ipynb_checkpoints"))
    return dest


def run_all(notebook_dir: Path, name: str, work: Path, timeout: int) -> tuple[dict[int, CellOutputs], str]:
    """Run All of the untagged notebook with papermill in a copy of its folder."""
    folder = _copy(notebook_dir, work)
    nb_path = folder / f"{name}.ipynb"
    nbformat.write(_strip(nbformat.read(nb_path, as_version=4)), nb_path)
    out = work.parent / f"{work.name}-out.ipynb"
    error = ""
    for _attempt in range(2):  # a kernel that does not start on a loaded machine gets a second chance
        proc = subprocess.run(
            [sys.executable, "-m", "papermill", str(nb_path), str(out), "--cwd", str(folder), "-k", "python3",
             "--no-progress-bar", "--start-timeout", "300", "--execution-timeout", str(timeout)],
            capture_output=True, text=True, env=_env(), timeout=timeout * 4,
        )
        error = "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["papermill failed"])[-1]
        if "kernel_info" not in error and "Kernel didn't respond" not in error:
            break
    outputs: dict[int, CellOutputs] = {}
    if out.exists():
        done = nbformat.read(out, as_version=4)
        for i in code_cell_indices(done):
            outputs[i] = cell_outputs(done.cells[i].outputs, folder)
    return outputs, error


def _first_error(diagnostics: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    return next((d for d in diagnostics if d.get("severity") == "error"), None)


def run_split(
    notebook_dir: Path, name: str, kind: str, work: Path, expected: dict[int, CellOutputs],
    unstable: set[int], timeout: int, jobs: int, fork: bool = True,
) -> SplitResult:
    """Split a copy of the notebook, validate and run it (in fork kernels, or ordinary
    ones), compare with Run All."""
    start = time.monotonic()
    folder = _copy(notebook_dir, work)
    nb_path = folder / f"{name}.ipynb"
    nb = _strip(nbformat.read(nb_path, as_version=4))
    steps = split_notebook(nb, kind, name)
    nbformat.write(nb, nb_path)
    result = SplitResult(name, kind if fork else f"{kind}/ordinary", "crashed", steps=steps)
    cli = [sys.executable, "-m", "cellpipe.cli"]
    store = work / ".cellpipe"

    check = subprocess.run([*cli, "validate", "--json", str(nb_path)], capture_output=True, text=True,
                           env=_env(), cwd=folder, timeout=300)
    try:
        diagnostics = json.loads(check.stdout).get("diagnostics", [])
    except json.JSONDecodeError:
        result.detail = f"validate printed no JSON (exit {check.returncode}): {check.stderr.strip()[-400:]}"
        return result
    result.warnings = [f"cell {d.get('cell')}: {d.get('message')}" for d in diagnostics
                       if d.get("severity") == "warning"]
    error = _first_error(diagnostics)
    if error is not None:
        result.verdict = "refused"
        result.cell = error.get("cell")
        result.detail = f"{error.get('code')}: {error.get('message')} (fix: {error.get('fix')})"
        result.seconds = time.monotonic() - start
        return result

    try:
        proc = subprocess.run([*cli, "run", "--json", "-j", str(jobs), "--store", str(store), str(nb_path)],
                              capture_output=True, text=True, env=_env(fork), cwd=folder, timeout=timeout)
    except subprocess.TimeoutExpired:
        result.detail = f"cellpipe run timed out after {timeout} s"
        result.seconds = time.monotonic() - start
        return result
    result.seconds = time.monotonic() - start
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        result.detail = f"run printed no JSON (exit {proc.returncode}): {proc.stderr.strip()[-400:]}"
        return result
    for step in summary.get("steps", []):
        result.warnings += [f"step {step['step']}: {w}" for w in step.get("warnings") or []]

    got: dict[int, CellOutputs] = {}
    for step in summary.get("steps", []):
        path = step.get("output_notebook")
        if not path or not Path(path).exists():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            source = cell.metadata.get("cellpipe", {}).get("source")
            if cell.cell_type == "code" and source and source.get("notebook", "").endswith(f"{name}.ipynb"):
                got[int(source["index"])] = cell_outputs(cell.get("outputs", []), folder)

    for i, want in sorted(expected.items()):
        if i in unstable:
            continue
        have = got.get(i)
        if have is None or have != want:
            result.differing_cells.append(i)
            result.differences[i] = [want.render()[:4000],
                                     have.render()[:4000] if have is not None else "(cell did not run)"]
            if result.cell is None:
                result.cell = i
                result.expected, result.got = result.differences[i]
    if proc.returncode != 0:
        failed = [s for s in summary.get("steps", []) if s.get("state") == "failed"]
        first = failed[0] if failed else {}
        result.detail = (f"exit {proc.returncode}: step {first.get('step')}: "
                         f"{(first.get('error') or summary.get('error') or '')}")[:600]
        return result
    if result.cell is None:
        result.verdict = "matched"
    else:
        result.verdict = "different"
        # a validate warning about a cell at or above the first difference told the user beforehand
        result.warned = any(d.get("severity") == "warning" and "repeats the import" not in str(d.get("message"))
                            and isinstance(d.get("cell"), int) and d["cell"] <= result.cell for d in diagnostics)
        result.detail = f"cells {result.differing_cells} differ" + (" (validate warned)" if result.warned else "")
    return result


def check_notebook(name: str, splits: Sequence[str], timeout: int, jobs: int, runs_all: int,
                   keep: Path | None = None, kernels: Sequence[bool] = (True,)) -> NotebookResult:
    """Run All (``runs_all`` times) and every split of one corpus notebook, in fork
    kernels (``True`` in ``kernels``) and/or ordinary ones (``False``)."""
    notebook_dir = CORPUS / name
    tmp = Path(tempfile.mkdtemp(prefix=f"corpus-{name}-", dir=keep))
    try:
        start = time.monotonic()
        expected, error = run_all(notebook_dir, name, tmp / "runall-1", timeout)
        result = NotebookResult(name, baseline_ok=not error, baseline_error=error,
                                baseline_seconds=round(time.monotonic() - start, 1))
        if error:
            return result
        for n in range(2, runs_all + 1):
            again, _ = run_all(notebook_dir, name, tmp / f"runall-{n}", timeout)
            result.unstable_cells += [i for i in expected if again.get(i) != expected[i]
                                      and i not in result.unstable_cells]
        for kind in splits:
            for fork in kernels:
                where = tmp / f"split-{kind}" if fork else tmp / f"split-{kind}-ordinary"
                result.splits.append(run_split(notebook_dir, name, kind, where, expected,
                                               set(result.unstable_cells), timeout, jobs, fork))
        return result
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def corpus_names() -> list[str]:
    return sorted(p.name for p in CORPUS.iterdir() if (p / f"{p.name}.ipynb").exists())


def first_difference(expected: str, got: str, context: int = 80) -> tuple[str, str]:
    """The two texts around the first character where they differ."""
    n = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), min(len(expected), len(got)))
    start = max(0, n - context)
    return (("…" if start else "") + expected[start:n + 2 * context],
            ("…" if start else "") + got[start:n + 2 * context])


def _short(text: str, n: int = 300) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= n else text[:n] + "…"


def report(results: Sequence[NotebookResult], splits: Sequence[str]) -> str:
    """The table and the per-split pass rates."""
    w = max(11, *(len(s) for s in splits))
    lines = [f"{'notebook':32} " + " ".join(f"{s:{w}}" for s in splits) + " notes"]
    for r in results:
        if not r.baseline_ok:
            lines.append(f"{r.notebook:32} Run All failed: {r.baseline_error}")
            continue
        verdicts = {s.split: "diff/warned" if s.verdict == "different" and s.warned else s.verdict for s in r.splits}
        notes = f"nondeterministic cells {r.unstable_cells}" if r.unstable_cells else ""
        lines.append(f"{r.notebook:32} " + " ".join(f"{verdicts.get(s, '-'):{w}}" for s in splits) + " " + notes)
    lines.append("")
    for s in splits:
        rows = [x for r in results for x in r.splits if x.split == s]
        if not rows:
            continue
        counts = {v: sum(1 for x in rows if x.verdict == v) for v in ("matched", "refused", "different", "crashed")}
        warned = sum(1 for x in rows if x.verdict == "different" and x.warned)
        lines.append(f"split {s:{w}}: {counts['matched']}/{len(rows)} matched ({100 * counts['matched'] / len(rows):.0f} %), "
                     f"{counts['refused']} refused, {counts['different'] - warned} silently different, "
                     f"{warned} different after a validate warning, {counts['crashed']} crashed")
    lines.append("")
    for r in results:
        for x in r.splits:
            if x.verdict == "matched":
                continue
            lines.append(f"- {r.notebook} [{x.split}, {x.steps} steps] {x.verdict}: {_short(x.detail, 400)}")
            if x.cell is not None and x.expected + x.got:
                want, have = first_difference(x.expected, x.got)
                lines.append(f"    cell {x.cell} Run All:  {_short(want)}")
                lines.append(f"    cell {x.cell} cellpipe: {_short(have)}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to check (folder names under tests/corpus/notebooks)")
    parser.add_argument("--all", action="store_true", help="check every notebook of the corpus")
    parser.add_argument("--quick", action="store_true", help="check the fast subset")
    parser.add_argument("--split", choices=SPLITS, action="append", help="only this split kind (repeatable)")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="notebooks checked at a time (default 1)")
    parser.add_argument("--step-jobs", type=int, default=2, help="cellpipe run -j (default 2)")
    parser.add_argument("--runs-all", type=int, default=2, help="Run Alls per notebook (default 2)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per run (default 600)")
    parser.add_argument("--kernels", choices=("fork", "ordinary", "both"), default="fork",
                        help="run the splits in fork kernels (cellpipe's default), ordinary ones, or both")
    parser.add_argument("--json", type=Path, help="write every result to this file")
    parser.add_argument("--keep", type=Path, help="keep the work folders under this folder")
    args = parser.parse_args(argv)
    names = corpus_names() if args.all else sorted({n for n, _ in QUICK_SPLITS}) if args.quick else args.names
    if not names:
        parser.error("name notebooks, or use --all or --quick")
    unknown = sorted(set(names) - set(corpus_names()))
    if unknown:
        parser.error(f"not in the corpus: {', '.join(unknown)}")
    kernels = {"fork": (True,), "ordinary": (False,), "both": (True, False)}[args.kernels]
    splits = args.split or list(SPLITS)
    labels = [s if fork else f"{s}/ordinary" for s in splits for fork in kernels]
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    results: dict[str, NotebookResult] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(check_notebook, n, splits, args.timeout, args.step_jobs, args.runs_all, args.keep, kernels): n
                   for n in names}
        for future in concurrent.futures.as_completed(futures):
            r = future.result()
            results[r.notebook] = r
            print(f"{r.notebook}: " + (", ".join(f"{s.split} {s.verdict}" for s in r.splits)
                                       or f"Run All failed: {r.baseline_error}"), file=sys.stderr, flush=True)
            if args.json:  # after each notebook, so that an interrupted run keeps what it found
                done = [asdict(results[n]) for n in names if n in results]
                args.json.write_text(json.dumps(done, indent=1))
    ordered = [results[n] for n in names]
    print(report(ordered, labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
