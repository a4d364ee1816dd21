"""Checks: the gates of a pipeline.

A cell tagged ``check`` (or ``pipeline-check``) holds checks: each failed
``assert`` in it and each failed :func:`check` call is gathered, and when the
cell ends with any failed, the step ends ``check_failed`` with every message;
its downstream steps are blocked and ``cellpipe run`` exits 3 (a crash exits 1).
A :func:`check` call outside a check cell fails its step at once, also as a check.

Data checks: :func:`check_no_nulls`, :func:`check_range`, :func:`check_rows`,
:func:`check_schema` (equal to a stored reference), :func:`check_drift` (a
two-sample Kolmogorov-Smirnov test against a baseline run's data). Model checks:
:func:`check_metric` (not worse than a baseline run's by more than a tolerance).
Each returns whether it passed. The baseline is the newest earlier run in which
this step passed, unless ``baseline="RUN_ID"`` names one.

This module runs inside the step's kernel; the runner reads what it found from
the output notebook (a display of type :data:`MIME`).
"""

from __future__ import annotations

import ast
import json
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cellpipe.errors import CellpipeError

#: the display type that carries a cell's check results to the runner
MIME = "application/vnd.cellpipe.checks+json"


class CheckFailed(CellpipeError):
    """One or more checks failed; ``failures`` holds each one's record."""

    exit_code = 3

    def __init__(self, failures: list[dict[str, Any]]) -> None:
        self.failures = failures
        lines = [f"- {f['message']}" for f in failures]
        count = len(failures)
        super().__init__(f"{count} check{'s' * (count != 1)} failed:\n" + "\n".join(lines))


# -- gathering the checks of one cell ------------------------------------------------

_GATHER: dict[str, Any] | None = None  # {"cell": number, "results": [...]} while a check cell runs
_CONTEXT: dict[str, Any] = {}  # step, notebook, artifacts: set when the step loads its inputs
_RESULTS: list[dict[str, Any]] = []  # every check of the step so far, passed ones included


def set_context(step: str, artifacts: str | None, notebook: str | None = None) -> None:
    """Tell the checks which step they run in and where its run's artifacts are."""
    _CONTEXT.update(step=step, artifacts=artifacts, notebook=notebook)
    _RESULTS.clear()


def results() -> list[dict[str, Any]]:
    """Every check the step made so far (the runtime records them with its outputs)."""
    return list(_RESULTS)


class _AssertsToChecks(ast.NodeTransformer):
    """``assert test, msg`` at the cell's level (loops and ``if`` blocks included,
    function bodies not) -> a recorded check, so that one failed assert does not
    hide the next."""

    def visit_FunctionDef(self, node: ast.AST) -> ast.AST:
        return node

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_ClassDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        module = ast.Call(func=ast.Name("__import__", ast.Load()),
                          args=[ast.Constant("cellpipe.engine.checks")],
                          keywords=[ast.keyword("fromlist", ast.List([ast.Constant("record_assert")], ast.Load()))])
        message: ast.expr = ast.Constant(None)
        if node.msg is not None:
            message = ast.Lambda(ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                               defaults=[]), node.msg)
        call = ast.Call(func=ast.Attribute(module, "record_assert", ast.Load()),
                        args=[node.test, message, ast.Constant(ast.unparse(node.test)), ast.Constant(node.lineno)],
                        keywords=[])
        return ast.copy_location(ast.Expr(call), node)


_TRANSFORMER = _AssertsToChecks()


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - compiled steps run in IPython kernels
        return None
    return get_ipython()


def begin_checks(cell: int | None = None) -> None:
    """Start gathering the checks of the next cell (the compiled step calls it)."""
    global _GATHER
    _GATHER = {"cell": cell, "results": []}
    shell = _shell()
    if shell is not None and _TRANSFORMER not in shell.ast_transformers:
        shell.ast_transformers.append(_TRANSFORMER)


def end_checks() -> list[dict[str, Any]]:
    """Stop gathering; raise :class:`CheckFailed` when any check of the cell failed."""
    global _GATHER
    shell = _shell()
    if shell is not None and _TRANSFORMER in shell.ast_transformers:
        shell.ast_transformers.remove(_TRANSFORMER)
    gathered, _GATHER = _GATHER, None
    results = list(gathered["results"]) if gathered else []
    _publish(results)
    failures = [r for r in results if not r["passed"]]
    if failures:
        raise CheckFailed(failures)
    return results


def _publish(results: list[dict[str, Any]]) -> None:
    if not results:
        return
    failed = sum(1 for r in results if not r["passed"])
    text = f"checks: {len(results) - failed} passed, {failed} failed"
    for r in results:
        text += f"\n  {'ok  ' if r['passed'] else 'FAIL'} {r['message']}"
    try:
        from IPython.display import display
    except ImportError:  # pragma: no cover
        print(text)
        return
    display({MIME: {"checks": results}, "text/plain": text}, raw=True)


def _record(passed: bool, message: str, name: str | None = None, line: int | None = None,
            details: dict[str, Any] | None = None) -> bool:
    result: dict[str, Any] = {"name": name or "check", "passed": passed, "message": message}
    if _GATHER is not None and _GATHER.get("cell") is not None:
        result["cell"] = _GATHER["cell"]
    if line is not None:
        result["line"] = line
    if details:
        result["details"] = details
    _RESULTS.append(result)
    if _GATHER is not None:
        _GATHER["results"].append(result)
    elif not passed:  # a check outside a check cell stops the step at once, as a check
        _publish([result])
        raise CheckFailed([result])
    return passed


def record_assert(condition: Any, message: Callable[[], Any] | None, source: str, line: int) -> bool:
    """An ``assert`` of a check cell, rewritten (see :class:`_AssertsToChecks`)."""
    passed = bool(condition)
    text = f"assert {source}"
    if not passed and message is not None:
        text = f"{message()} (assert {source})"
    return _record(passed, text, "assert", line)


def check(condition: Any, message: str = "", *, name: str | None = None) -> bool:
    """A check: passes when ``condition`` is true; ``message`` says what was expected."""
    passed = bool(condition)
    return _record(passed, message or ("check passed" if passed else "check failed"), name or "check")


# -- data checks ------------------------------------------------------------------------------


def _columns(data: Any, columns: Iterable[str] | str | None) -> list[tuple[str, Any]]:
    """(label, values) of each column asked for (all columns when None)."""
    if isinstance(columns, str):
        columns = [columns]
    if hasattr(data, "columns"):  # a DataFrame
        wanted = list(data.columns) if columns is None else list(columns)
        missing = [c for c in wanted if c not in data.columns]
        if missing:
            raise KeyError(", ".join(map(str, missing)))
        return [(str(c), data[c]) for c in wanted]
    return [(str(getattr(data, "name", None) or "values"), data)]


def _nulls(values: Any) -> int:
    try:
        import pandas as pd

        return int(pd.isna(pd.Series(list(values)) if not hasattr(values, "isna") else values).sum())
    except ImportError:  # pragma: no cover - pandas is a dependency
        return sum(1 for v in values if v is None or (isinstance(v, float) and math.isnan(v)))


def check_no_nulls(data: Any, columns: Iterable[str] | str | None = None) -> bool:
    """No missing values (None, NaN, NaT) in these columns (all when None)."""
    try:
        cols = _columns(data, columns)
    except KeyError as exc:
        return _record(False, f"no nulls: column {exc.args[0]} is missing", "no_nulls")
    bad = {label: n for label, values in cols if (n := _nulls(values))}
    if bad:
        total = len(data)
        text = ", ".join(f"{label} has {n} of {total}" for label, n in bad.items())
        return _record(False, f"no nulls: {text} values missing", "no_nulls", details={"nulls": bad})
    return _record(True, f"no nulls in {', '.join(label for label, _ in cols)}", "no_nulls")


def check_range(data: Any, columns: Iterable[str] | str | None = None, min: float | None = None,  # noqa: A002
                max: float | None = None) -> bool:  # noqa: A002
    """Every value of these columns within ``[min, max]`` (nulls are not counted)."""
    try:
        cols = _columns(data, columns)
    except KeyError as exc:
        return _record(False, f"range: column {exc.args[0]} is missing", "range")
    problems = []
    for label, values in cols:
        import pandas as pd

        series = pd.Series(values).dropna() if not hasattr(values, "dropna") else values.dropna()
        outside = 0
        if min is not None:
            outside += int((series < min).sum())
        if max is not None:
            outside += int((series > max).sum())
        if outside:
            problems.append(f"{label} has {outside} value{'s' * (outside != 1)} outside [{min}, {max}] "
                            f"(seen {series.min()} to {series.max()})")
    if problems:
        return _record(False, "range: " + "; ".join(problems), "range")
    return _record(True, f"range: {', '.join(label for label, _ in cols)} within [{min}, {max}]", "range")


def check_rows(data: Any, min: int | None = None, max: int | None = None) -> bool:  # noqa: A002
    """The number of rows is within ``[min, max]``."""
    n = len(data)
    ok = (min is None or n >= min) and (max is None or n <= max)
    return _record(ok, f"rows: {n} row{'s' * (n != 1)}, expected between {min} and {max}", "rows")


def _schema(data: Any) -> dict[str, str]:
    if hasattr(data, "dtypes") and hasattr(data, "columns"):
        return {str(c): str(t) for c, t in data.dtypes.items()}
    return {str(getattr(data, "name", None) or "values"): str(getattr(data, "dtype", type(data).__name__))}


def check_schema(data: Any, reference: str | os.PathLike[str], update: bool = False) -> bool:
    """Columns and dtypes equal to the reference schema in the JSON file
    ``reference`` (relative to the notebook's folder). A missing reference is
    written from ``data`` (and the check passes); ``update=True`` rewrites it."""
    path = Path(reference)
    schema = _schema(data)
    if update or not path.exists():
        from cellpipe.engine.fileutil import atomic_write

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps({"columns": schema}, indent=1) + "\n"))
        return _record(True, f"schema: recorded {len(schema)} columns as the reference in {path}", "schema")
    try:
        expected = json.loads(path.read_text())["columns"]
    except (OSError, ValueError, KeyError, TypeError):
        return _record(False, f"schema: the reference {path} is not a schema file; delete it to record it again",
                       "schema")
    problems = []
    missing = [c for c in expected if c not in schema]
    extra = [c for c in schema if c not in expected]
    changed = [f"{c} is {schema[c]}, expected {expected[c]}" for c in expected if c in schema and schema[c] != expected[c]]
    if missing:
        problems.append("missing columns " + ", ".join(missing))
    if extra:
        problems.append("unexpected columns " + ", ".join(extra))
    problems += changed
    if problems:
        return _record(False, f"schema differs from {path}: " + "; ".join(problems), "schema",
                       details={"expected": expected, "found": schema})
    return _record(True, f"schema: {len(schema)} columns as in {path}", "schema")


# -- checks against a baseline run -------------------------------------------------------------


def _open_store() -> tuple[Any, str | None]:
    """The store of the run this step is part of (read-only), and the run's id."""
    from cellpipe.engine.store import STORE_ENV, Store

    artifacts = _CONTEXT.get("artifacts")
    candidates = []
    run_id = None
    if artifacts:
        folder = Path(artifacts).resolve()
        run_id = folder.parent.name
        candidates.append(folder.parent.parent.parent)  # <store>/runs/<run>/artifacts
    if os.environ.get(STORE_ENV):
        candidates.append(Path(os.environ[STORE_ENV]))
    for folder in candidates:
        if (folder / "cellpipe.db").exists():
            return Store(folder, readonly=True), run_id
    return None, run_id


def _baseline(baseline: str | None, what: str) -> tuple[Any, dict[str, Any] | None, str]:
    """(store, the baseline run, a note when there is none)."""
    from cellpipe.engine.values import baseline_run

    store, run_id = _open_store()
    if store is None:
        return None, None, f"{what}: no cellpipe store found for a baseline (run the step with `cellpipe run`)"
    step = _CONTEXT.get("step") or ""
    run = baseline_run(store, step, _CONTEXT.get("notebook"), chosen=baseline, exclude=run_id)
    if run is None:
        store.close()
        if baseline:
            return None, None, f"{what}: the baseline run {baseline} is not in the store"
        return None, None, f"{what}: no earlier run of step '{step}' passed; nothing to compare with yet"
    return store, run, ""


def check_drift(data: Any, name: str, columns: Iterable[str] | str | None = None, baseline: str | None = None,
                alpha: float = 0.01, step: str | None = None) -> bool:
    """No distribution drift: each numeric column of ``data`` against variable
    ``name`` as the baseline run recorded it (made by ``step``, or any step), by
    a two-sample Kolmogorov-Smirnov test; a column drifts when p < ``alpha``."""
    try:
        from scipy.stats import ks_2samp
    except ImportError:
        return _record(False, "drift: the drift test needs scipy, which is not installed in the step's "
                              "environment; install it (pip install scipy)", "drift")
    store, run, note = _baseline(baseline, f"drift of {name}")
    if run is None:
        return _record(not baseline, note, "drift")
    try:
        from cellpipe.engine.values import run_variable

        found = run_variable(store, run["id"], name, step)
    finally:
        store.close()
    if found is None:
        return _record(False, f"drift of {name}: the baseline run {run['id']} recorded no variable `{name}`"
                              " (only variables passed between steps are recorded)", "drift")
    reference, _maker = found
    try:
        now_cols = dict(_columns(data, columns))
        ref_cols = dict(_columns(reference, list(now_cols) if hasattr(reference, "columns") else None))
    except KeyError as exc:
        return _record(False, f"drift of {name}: column {exc.args[0]} is missing in the baseline run "
                              f"{run['id']}", "drift")
    drifted: dict[str, Any] = {}
    tested = []
    for label, values in now_cols.items():
        ref = ref_cols.get(label, next(iter(ref_cols.values())) if len(ref_cols) == 1 else None)
        if ref is None:
            continue
        a, b = _numeric(values), _numeric(ref)
        if a is None or b is None or not len(a) or not len(b):
            continue
        result = ks_2samp(a, b)
        tested.append(label)
        if result.pvalue < alpha:
            drifted[label] = {"statistic": float(result.statistic), "pvalue": float(result.pvalue)}
    if drifted:
        text = ", ".join(f"{c} (KS statistic {d['statistic']:.3f}, p={d['pvalue']:.2g})" for c, d in drifted.items())
        return _record(False, f"drift of {name} against run {run['id']}: {text} < alpha {alpha}", "drift",
                       details={"baseline": run["id"], "columns": drifted})
    return _record(True, f"no drift of {name} against run {run['id']} ({len(tested)} column"
                         f"{'s' * (len(tested) != 1)} tested)", "drift")


def _numeric(values: Any) -> Any:
    import numpy as np
    import pandas as pd

    series = pd.Series(np.asarray(values).ravel()) if not hasattr(values, "dropna") else values
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    return series.dropna().to_numpy(dtype=float)


def check_metric(name: str, value: float, baseline: str | None = None, tolerance: float = 0.0,
                 higher_is_better: bool = True) -> bool:
    """Model check: ``value`` of metric ``name`` is not worse than the baseline
    run's by more than ``tolerance`` (absolute)."""
    store, run, note = _baseline(baseline, f"metric {name}")
    if run is None:
        return _record(not baseline, note, "metric")
    try:
        from cellpipe.engine.values import run_metric

        before = run_metric(store, run["id"], name)
    finally:
        store.close()
    if not isinstance(before, (int, float)):
        return _record(False, f"metric {name}: the baseline run {run['id']} recorded no number for it", "metric")
    worse = (before - value) if higher_is_better else (value - before)
    ok = worse <= tolerance
    direction = "higher" if higher_is_better else "lower"
    text = (f"metric {name} = {value:.6g}, baseline run {run['id']} had {before:.6g} ({direction} is better, "
            f"tolerance {tolerance:g})")
    return _record(ok, text if ok else f"{text}: worse by {worse:.6g}", "metric",
                   details={"baseline": run["id"], "value": value, "baseline_value": before})
