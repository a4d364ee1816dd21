"""Human-readable output for the run and store commands (rich tables, a live
progress display). Formatting only: the data comes from the runner and store."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from cellpipe.model import RunState, StepState

STATE_STYLE = {
    StepState.PENDING: "dim", StepState.RUNNING: "cyan", StepState.CACHED: "green", StepState.DONE: "bold green",
    StepState.FAILED: "bold red", StepState.SKIPPED: "yellow", StepState.INTERRUPTED: "magenta",
    StepState.CHECK_FAILED: "bold red",
}
#: states whose step carries an error to show
ERROR_STATES = (StepState.FAILED, StepState.CHECK_FAILED)


def make_console(stderr: bool = False) -> Console:
    """A console that does not wrap lines; wide tables when output is not a terminal."""
    console = Console(stderr=stderr, soft_wrap=True)
    if not console.is_terminal:
        console = Console(stderr=stderr, soft_wrap=True, width=200)
    return console


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _when(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


class Progress:
    """Live table of step states on a terminal; one line per change otherwise."""

    def __init__(self, console: Console, steps: list[str], quiet: bool = False) -> None:
        self.console = console
        self.steps = steps
        self.quiet = quiet
        self.states: dict[str, Any] = {}
        self.live: Live | None = None
        self._printed: dict[str, str] = {}  # step -> its last line (a repeat says nothing new)

    def __enter__(self) -> Progress:
        if self.console.is_terminal and not self.quiet:
            # rebuilt on every refresh, so a running step's time keeps ticking
            self.live = Live(console=self.console, refresh_per_second=4, transient=False,
                             get_renderable=self._table)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.__exit__(*exc)

    def _table(self) -> Table:
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("step")
        table.add_column("state")
        table.add_column("time", justify="right")
        table.add_column("")
        for name in self.steps:
            st = self.states.get(name)
            state = st.state if st else StepState.PENDING
            note = ""
            if st is not None:
                if st.state in ERROR_STATES and st.error:
                    note = st.error.get("message", "")[:100]
                elif st.state in (StepState.RUNNING, StepState.SKIPPED) or (
                        st.state == StepState.CACHED and "stale" in st.reason):
                    note = st.reason if st.state != StepState.RUNNING else (st.reason or "")
                elif st.state == StepState.DONE:
                    note = st.reason
            table.add_row(name, f"[{STATE_STYLE.get(state, '')}]{state}[/]",
                          _seconds(st.seconds if st else None), note)
        return table

    def update(self, st: Any) -> None:
        self.states[st.name] = st
        if self.live is not None:
            self.live.refresh()
        elif not self.quiet or st.state in (*ERROR_STATES, StepState.INTERRUPTED):
            if st.state == StepState.PENDING:
                return
            extra = ""
            if st.state in ERROR_STATES and st.error:
                extra = f"  {st.error.get('message', '')}"
            elif st.reason and st.state != StepState.DONE:
                extra = f"  ({st.reason})"
            elif st.state == "done":
                extra = f"  {_seconds(st.seconds)} ({st.reason})" if st.reason else f"  {_seconds(st.seconds)}"
            line = f"{st.name}: [{STATE_STYLE.get(st.state, '')}]{st.state}[/]{extra}"
            if self._printed.get(st.name) == line:
                return  # e.g. submitted, then started in its kernel: one "running" line
            self._printed[st.name] = line
            self.console.print(line, highlight=False)


def failure_lines(result: Any) -> list[str]:
    lines = []
    for st in result.steps.values():
        if st.state == StepState.CHECK_FAILED and st.error:
            lines += check_lines(st.name, st.error)
            if st.output_notebook:
                lines.append(f"  output notebook: {st.output_notebook}")
        elif st.state == "failed" and st.error:
            err = st.error
            where = ""
            if err.get("notebook") and err.get("cell"):
                where = f" in {err['notebook']} cell {err['cell']}"
            elif err.get("role") in ("load", "save"):
                where = " while " + ("loading its inputs" if err["role"] == "load" else "saving its outputs")
            lines.append(f"step {st.name} failed{where}: {err.get('message')}")
            if err.get("line"):
                lines.append(f"  at {err['notebook']} cell {err['cell']}, line {err['line']}: {err.get('code') or ''}")
            lines.extend(f"  | {line}" for line in err.get("traceback") or [])
            for attempt in err.get("attempts") or []:
                lines.append(f"  attempt {attempt['attempt']} failed: {attempt['message']}")
            if st.output_notebook:
                lines.append(f"  output notebook: {st.output_notebook}")
        for warning in st.warnings:
            lines.append(f"step {st.name}: warning: {warning}")
    return lines


def check_lines(step: str, error: dict[str, Any]) -> list[str]:
    """``step S check failed in NB cell N:`` and one line per failed check."""
    where = f" in {error['notebook']} cell {error['cell']}" if error.get("notebook") and error.get("cell") else ""
    checks = error.get("checks") or []
    failed = [c for c in checks if not c.get("passed")]
    lines = [f"step {step} check failed{where}: {len(failed)} of {len(checks)} check{'s' * (len(checks) != 1)} failed"]
    for c in failed:
        line = f" line {c['line']}" if c.get("line") else ""
        lines.append(f"  FAIL{line}: {c.get('message')}")
    return lines


def print_summary(console: Console, result: Any, quiet: bool) -> None:
    counts: dict[str, int] = {}
    for st in result.steps.values():
        counts[st.state] = counts.get(st.state, 0) + 1
    for line in failure_lines(result):
        console.print(line, style="red" if " failed" in line or "FAIL" in line else "yellow", highlight=False)
    if quiet and result.state == RunState.SUCCEEDED:
        return
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    console.print(f"run {result.run_id} {result.state}: {summary}", highlight=False)


def runs_table(runs: list[dict[str, Any]], metrics: dict[str, list[dict[str, Any]]],
               checks: dict[str, list[dict[str, Any]]] | None = None) -> Table:
    table = Table(box=None, header_style="bold")
    for col in ("run", "started", "state", "pipeline", "params", "metrics", "checks", "commit"):
        table.add_column(col)
    for run in runs:
        params = {k: v for nb in (run["params"] or {}).values() for k, v in nb.items()}
        mets = ", ".join(f"{m['name']}={_fmt(m['value'])}" for m in metrics.get(run["id"], []))
        commit = (run.get("git_commit") or "")[:8] + ("*" if run.get("git_dirty") else "")
        made = (checks or {}).get(run["id"]) or []
        failed = [c for c in made if not c.get("passed")]
        steps = ", ".join(dict.fromkeys(c["step"] for c in failed))
        summary = f"{len(failed)} failed ({steps})" if failed else f"{len(made)} passed" if made else ""
        table.add_row(run["id"], _when(run["started"]), run["state"], run["pipeline"],
                      ", ".join(f"{k}={_fmt(v)}" for k, v in params.items()), mets, summary, commit)
    return table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value) if not isinstance(value, str) else value


def show(console: Console, run: dict[str, Any], steps: list[dict[str, Any]], artifacts: list[dict[str, Any]],
         metrics: list[dict[str, Any]]) -> None:
    commit = run.get("git_commit") or "not a git repository"
    if run.get("git_dirty"):
        commit += " (uncommitted changes)"
    console.print(f"run {run['id']}  {run['state']}  pipeline {run['pipeline']}", highlight=False)
    console.print(f"started {_when(run['started'])}  finished {_when(run.get('finished'))}  commit {commit}",
                  highlight=False)
    console.print(f"python {run['env'].get('python')}  root {run['root']}", highlight=False)
    for nb, params in (run["params"] or {}).items():
        if params:
            console.print(f"parameters of {nb}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in params.items()),
                          highlight=False)
    table = Table(box=None, header_style="bold")
    for col in ("step", "state", "time", "metrics", "output notebook / error"):
        table.add_column(col)
    by_step: dict[str, list[str]] = {}
    for m in metrics:
        by_step.setdefault(m["step"], []).append(f"{m['name']}={_fmt(m['value'])}")
    for st in steps:
        secs = (st["finished"] - st["started"]) if st.get("finished") and st.get("started") else None
        note = st.get("output_notebook") or ""
        if st.get("cached_from"):
            note = f"cached from run {st['cached_from']}"
        if st.get("error"):
            err = st["error"]
            where = f"{err.get('notebook')} cell {err.get('cell')}: " if err.get("cell") else ""
            note = where + str(err.get("message"))
        table.add_row(st["step"], st["state"], _seconds(secs), ", ".join(by_step.get(st["step"], [])), note)
    console.print(table)
    for st in steps:
        if st["state"] == StepState.CHECK_FAILED and st.get("error"):
            for line in check_lines(st["step"], st["error"]):
                console.print(line, style="red", highlight=False)
        elif st.get("checks"):
            n = len(st["checks"])
            console.print(f"step {st['step']}: {n} check{'s' * (n != 1)} passed", style="green", highlight=False)
    if artifacts:
        art = Table(box=None, header_style="bold", title="artifacts", title_justify="left")
        for col in ("step", "kind", "name", "hash", "bytes"):
            art.add_column(col)
        for a in artifacts:
            art.add_row(a["step"], a["kind"], a["name"], a["hash"][:12], str(a.get("size") or ""))
        console.print(art)


def timings_table(steps: list[dict[str, Any]]) -> Table:
    """Each step's timing breakdown (seconds), a cached step marked as such, and the totals."""
    from cellpipe.engine.timings import COLUMNS, totals

    table = Table(box=None, header_style="bold", show_footer=True, footer_style="bold")
    total = totals(steps)
    table.add_column("step", footer="total")
    table.add_column("state", footer=f"{total['executed']} ran, {total['cached']} cached")
    for col in COLUMNS:
        table.add_column(col, justify="right", footer=f"{total[col]:.3f}")
    for st in steps:
        timings = st.get("timings")
        if timings and timings.get("cached"):
            cells = ["cached", *([""] * (len(COLUMNS) - 1))]
        elif timings:
            cells = [f"{float(timings.get(col) or 0.0):.3f}" for col in COLUMNS]
        else:  # not executed (skipped), or recorded by a cellpipe that did not time its steps
            cells = [""] * len(COLUMNS)
        table.add_row(st["step"], st["state"], *cells)
    return table
