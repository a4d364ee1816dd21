"""Telling a failed check from a crash, from what the step's output notebook holds.

A ``check`` cell's results reach the runner as a display of type
:data:`cellpipe.engine.checks.MIME` in the failing cell's outputs; a ``CheckFailed``
without it (raised elsewhere), or an ``AssertionError`` the check cell did not
gather (an assert inside a function it called), is a failed check too.
"""

from __future__ import annotations

from typing import Any

from cellpipe.engine.checks import MIME

#: the exception a failed check raises in the step's kernel
CHECK_ERROR = "CheckFailed"


def failed_checks(ename: str, evalue: str, cell: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The check results of a failed step (every result of the cell, passed ones
    included), or None when the step crashed."""
    meta = ((cell or {}).get("metadata") or {}).get("cellpipe") or {}
    source = meta.get("source") or {}
    if ename == CHECK_ERROR:
        for out in (cell or {}).get("outputs") or []:
            data = (out.get("data") or {}).get(MIME)
            if isinstance(data, dict) and isinstance(data.get("checks"), list):
                return [dict(c) for c in data["checks"] if isinstance(c, dict)]
        lines = [line[2:] for line in evalue.splitlines() if line.startswith("- ")]
        return [{"name": "check", "passed": False, "message": m, "cell": source.get("number")}
                for m in lines or [evalue or "check failed"]]
    if ename == "AssertionError" and meta.get("check"):
        return [{"name": "assert", "passed": False, "message": evalue or "assertion failed",
                 "cell": source.get("number")}]
    return None


def checks_message(checks: list[dict[str, Any]]) -> str:
    """One line: how many checks failed, and each failed one's message."""
    failed = [c for c in checks if not c.get("passed")]
    count = len(failed)
    return f"{count} check{'s' * (count != 1)} failed: " + "; ".join(str(c.get("message")) for c in failed)


def run_checks(step_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checks of a run's recorded steps (passed and failed), each with its step's name."""
    out = []
    for row in step_rows:
        for c in row.get("checks") or (row.get("error") or {}).get("checks") or []:
            out.append({"step": row["step"], **c})
    return out
