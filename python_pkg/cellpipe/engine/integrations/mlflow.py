"""Log cellpipe runs to MLflow tracking: ``cellpipe run --mlflow [URI]`` and ``cellpipe mlflow-log RUN``.

A run is logged from what the store recorded once it has settled, so a run logged
afterwards (``mlflow-log``) is logged exactly as one logged by ``run --mlflow``:

- one MLflow run per cellpipe run, in the experiment named by ``--mlflow-experiment``,
  ``$MLFLOW_EXPERIMENT_NAME`` or ``[tool.cellpipe] mlflow-experiment`` (default: the
  pipeline's name), named after the cellpipe run id, with the run's parameters, every
  numeric metric, the output notebook of each executed step (``notebooks/STEP.ipynb``)
  and the ``out:`` files (``outputs/PATH``); status FINISHED, FAILED or KILLED for a
  run that succeeded, failed or was interrupted;
- one nested MLflow run per step that executed or was restored from the cache, with
  the parameters the step reads, its metrics, its output notebook and log (executed
  steps), and tags saying cached or executed, its state and its cache key;
- tags linking back: ``cellpipe.run_id`` (``cellpipe show RUN``), ``cellpipe.state``,
  ``cellpipe.store``, the git commit (``mlflow.source.git.commit``).

Where runs go (:mod:`~cellpipe.engine.integrations.mlflow_target`): the tracking URI of
``--mlflow``, ``$MLFLOW_TRACKING_URI`` or ``[tool.cellpipe] mlflow``, else ``sqlite:///<root>/mlflow.db``.
In a local SQLite store a new experiment keeps its
artifacts next to the database, in ``mlartifacts/<experiment>/`` (not in the working directory).

MLflow is imported here only, and only when logging is asked for. A failure of MLflow (a
server that does not answer, a refused request) raises :class:`TrackingError`; ``cellpipe
run`` turns it into one warning and never into a failed or changed cellpipe run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cellpipe.core.digest import is_digest
from cellpipe.engine.history import find_run, settled, settled_steps
from cellpipe.engine.integrations.mlflow_target import (
    EXTRA,
    MlflowMissing,
    Target,
    default_uri,
    require_mlflow,
    resolve,
)
from cellpipe.engine.store import CorruptObject, Store
from cellpipe.errors import CellpipeError, UsageError

__all__ = ["EXTRA", "MlflowMissing", "Target", "default_uri", "require_mlflow", "resolve", "TrackingError",
           "Logged", "log_run", "log_finished", "run_params", "run_metrics"]

#: where a local SQLite store's new experiments keep their artifacts, next to the database
ARTIFACTS_DIR = "mlartifacts"
#: a cellpipe run's state -> its MLflow run's status
RUN_STATUS = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
#: a step's state -> its MLflow run's status (steps in other states get no MLflow run)
STEP_STATUS = {"done": "FINISHED", "cached": "FINISHED", "failed": "FAILED", "check_failed": "FAILED",
               "interrupted": "KILLED"}
#: MLflow's limits: a param value's and a tag value's length; items in one log_batch call
MAX_PARAM, MAX_TAG, BATCH = 6000, 5000, 100


class TrackingError(CellpipeError):
    """MLflow refused or could not be reached; the cellpipe run itself is untouched."""

    def __init__(self, uri: str, run_id: str, reason: str) -> None:
        self.uri, self.run_id, self.reason = uri, run_id, reason
        super().__init__(f"run {run_id} was not logged to MLflow at {uri} ({reason}). Its cellpipe record is "
                         f"complete. Fix: check the tracking URI or server, then `cellpipe mlflow-log {run_id} "
                         f"--mlflow {uri}`")


@dataclass(frozen=True)
class Logged:
    """What was logged: the MLflow run and experiment, and how much went in."""

    uri: str
    experiment: str
    experiment_id: str
    mlflow_run_id: str
    steps: int
    artifacts: int
    #: this cellpipe run was already logged there: nothing was logged again
    already: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- what a recorded run becomes -------------------------------------------------------------------

_BAD_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")


def _key(name: str) -> str:
    """A name MLflow accepts as a param, metric or tag key."""
    return _BAD_KEY.sub("_", name)[:250] or "_"


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _stem(notebook: str) -> str:
    name = notebook.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def run_params(params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A run's parameters as one flat mapping: ``NAME``, or ``NOTEBOOK.NAME`` (the spelling of
    ``-p``) where notebooks of the pipeline give the same name different values."""
    values: dict[str, list[Any]] = {}
    for per_notebook in params.values():
        for name, value in per_notebook.items():
            values.setdefault(name, []).append(value)
    flat: dict[str, Any] = {}
    for notebook, per_notebook in params.items():
        for name, value in per_notebook.items():
            same = all(v == value for v in values[name])
            flat[name if same else f"{_stem(notebook)}.{name}"] = value
    return flat


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and value == value and abs(value) != float("inf"):
        return float(value)
    return None


def run_metrics(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's metrics as one flat mapping: ``NAME``, or ``STEP.NAME`` where several steps record NAME."""
    counts = Counter(m["name"] for m in metrics)
    return {(m["name"] if counts[m["name"]] == 1 else f"{m['step']}.{m['name']}"): m["value"] for m in metrics}


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


@contextmanager
def _mlflow_calm() -> Iterator[None]:
    """While logging: MLflow's informational log lines hidden, and a server that does not
    answer given up on after one retry and 15 seconds (unless the user set MLflow's variables)."""
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.level, logging.WARNING))
    defaults = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
    added = [name for name in defaults if name not in os.environ]
    for name in added:
        os.environ[name] = defaults[name]
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def log_run(store: Store, run_id: str, target: Target, code_hashes: dict[str, str] | None = None,
            tags: dict[str, str] | None = None) -> Logged:
    """Log the recorded run ``run_id`` (or a unique prefix) of ``store`` to MLflow.

    ``code_hashes`` (step -> the manifest's code hash) adds a ``cellpipe.code_hash`` tag to
    each step; ``tags`` go on the run's MLflow run (a sweep's trial: ``cellpipe.sweep_id``).
    A run already logged to the experiment is not logged again (``already``).
    MLflow's failures raise :class:`TrackingError`; a missing MLflow :class:`MlflowMissing`.
    """
    run = settled(find_run(store, run_id))
    if run["state"] == "running":
        raise UsageError(f"run {run['id']} is still running. Fix: log it once it has finished")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MlflowMissing() from exc
    logger = _RunLogger(store, run, target, code_hashes or {}, tags or {})
    with _mlflow_calm():
        try:
            return logger.log(MlflowClient(tracking_uri=target.uri))
        except CellpipeError:
            raise
        except KeyboardInterrupt:
            logger.abandon("KILLED", "interrupted while logging")
            raise
        except Exception as exc:  # MLflow's errors: not ours to classify further
            reason = _reason(exc)
            logger.abandon("FAILED", reason)
            raise TrackingError(target.shown, run["id"], reason) from exc


#: words of an error that mean the server was not reached (MLflow wraps requests' errors in text)
_UNREACHED = ("Max retries exceeded", "NewConnectionError", "Connection refused", "Name or service not known",
              "timed out", "ConnectTimeout")


def _reason(exc: BaseException) -> str:
    """MLflow's error in a few words."""
    text = str(exc)
    if isinstance(exc, ConnectionError | TimeoutError) or any(word in text for word in _UNREACHED):
        return "the tracking server did not answer"
    if "filesystem tracking backend" in text:
        return ("MLflow refuses a file store such as ./mlruns: use a sqlite:///FILE.db URI or a server, or set "
                "MLFLOW_ALLOW_FILE_STORE=true")
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:200]}{'...' if len(first) > 200 else ''}"


def log_finished(store: Store, run_id: str, target: Target, code_hashes: dict[str, str] | None = None,
                 tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Log a run that has just finished, never raising for MLflow's sake: what was logged
    (``logged: true``), or ``logged: false`` and the ``warning`` to show once."""
    try:
        logged = log_run(store, run_id, target, code_hashes, tags)
    except CellpipeError as exc:  # MLflow failed or is gone: the run stands
        return {"uri": target.shown, "logged": False, "warning": str(exc)}
    return {**logged.to_dict(), "logged": True}


class _RunLogger:
    """One recorded run logged through one MLflow client."""

    def __init__(self, store: Store, run: dict[str, Any], target: Target, code_hashes: dict[str, str],
                 tags: dict[str, str]) -> None:
        self.store, self.run, self.target, self.code_hashes, self.tags = store, run, target, code_hashes, tags
        self.steps = settled_steps(run, store.db.step_runs(run["id"]))
        self.metrics = store.db.metrics(run["id"])
        self.artifact_rows = store.db.artifacts(run["id"])
        self.client: Any = None
        self.open_runs: list[str] = []  # MLflow runs created and not yet terminated
        self.artifacts = 0
        self.missing: list[str] = []  # out: files the store no longer holds

    # -- the experiment ----------------------------------------------------------------
    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                raise UsageError(f"the MLflow experiment {name!r} at {self.target.shown} is deleted. Fix: "
                                 "restore it in MLflow, or log to another with --mlflow-experiment NAME")
            return str(found.experiment_id)
        return str(self.client.create_experiment(name, artifact_location=self._artifact_location(name)))

    def _artifact_location(self, experiment: str) -> str | None:
        """Next to a local SQLite database; elsewhere MLflow's own default."""
        uri = self.target.uri
        if not uri.startswith("sqlite:///") or uri.startswith("sqlite:///:memory:"):
            return None
        database = Path(uri[len("sqlite:///"):].split("?", 1)[0]).absolute()  # relative: to the working folder
        return (database.parent / ARTIFACTS_DIR / _key(experiment).replace(" ", "_").replace("/", "_")).as_uri()

    def _already(self, experiment_id: str) -> str | None:
        found = self.client.search_runs(
            [experiment_id], filter_string=f"tags.`cellpipe.run_id` = '{self.run['id']}' "
                                           "and tags.`cellpipe.kind` = 'run'", max_results=1)
        return found[0].info.run_id if found else None

    # -- logging -------------------------------------------------------------------------
    def log(self, client: Any) -> Logged:
        self.client = client
        run = self.run
        name = self.target.experiment or run["pipeline"]
        experiment_id = self._experiment(name)
        earlier = self._already(experiment_id)
        if earlier is not None:
            return Logged(self.target.shown, name, experiment_id, earlier, 0, 0, already=True)
        parent = self._start(experiment_id, run["id"], run["started"], self._run_tags())
        self._batch(parent, run_params(run["params"] or {}), run_metrics(self.metrics), {},
                    run.get("finished") or run["started"])
        logged_steps = 0
        with self._staging() as staging:
            for step in self.steps:
                if step["state"] not in STEP_STATUS:
                    continue
                self._log_step(experiment_id, parent, step, staging)
                logged_steps += 1
            self._upload(parent, staging / "run")
        if self.missing:
            self.client.set_tag(parent, "cellpipe.missing_outputs", _text(", ".join(self.missing), MAX_TAG))
        self._finish(parent, RUN_STATUS.get(run["state"], "FAILED"), run.get("finished"))
        return Logged(self.target.shown, name, experiment_id, parent, logged_steps, self.artifacts)

    @contextmanager
    def _staging(self) -> Iterator[Path]:
        """A scratch folder in the store's folder (the files are hard links to its objects and run
        folders there: no copy of a large output), else in the system's temporary folder."""
        try:
            scratch = tempfile.TemporaryDirectory(prefix=".mlflow-", dir=self.store.folder)
        except OSError:
            scratch = tempfile.TemporaryDirectory(prefix="cellpipe-mlflow-")
        with scratch as tmp:
            yield Path(tmp)

    def _run_tags(self) -> dict[str, str]:
        run = self.run
        skipped = [s["step"] for s in self.steps if s["state"] not in STEP_STATUS]
        tags = {
            "cellpipe.kind": "run", "cellpipe.run_id": run["id"], "cellpipe.pipeline": run["pipeline"],
            "cellpipe.state": run["state"], "cellpipe.store": self.store.storage.url,
            "cellpipe.root": run["root"], "cellpipe.notebooks": ", ".join(run["notebooks"] or []),
            "cellpipe.command": " ".join(["cellpipe", *(run["argv"] or [])]),
            "mlflow.source.name": ", ".join(run["notebooks"] or []), "mlflow.source.type": "LOCAL",
            "mlflow.note.content": (f"cellpipe run {run['id']} of {', '.join(run['notebooks'] or [])}: "
                                    f"{run['state']}. See it with `cellpipe show {run['id']}`."),
        }
        if skipped:
            tags["cellpipe.skipped_steps"] = ", ".join(skipped)
        tags.update(self.tags)
        if run.get("git_commit"):
            tags["mlflow.source.git.commit"] = run["git_commit"]
            tags["cellpipe.git_commit"] = run["git_commit"]
        if run.get("git_dirty") is not None:
            tags["cellpipe.git_dirty"] = str(bool(run["git_dirty"])).lower()
        return tags

    def _log_step(self, experiment_id: str, parent: str, step: dict[str, Any], staging: Path) -> None:
        name = step["step"]
        cached = step["state"] == "cached" or bool(step.get("cached_from"))
        parts = step.get("parts") or {}
        tags = {
            "mlflow.parentRunId": parent, "cellpipe.kind": "step", "cellpipe.run_id": self.run["id"],
            "cellpipe.step": name, "cellpipe.notebook": step["notebook"], "cellpipe.state": step["state"],
            "cellpipe.cached": str(cached).lower(),
        }
        if step.get("cached_from"):
            tags["cellpipe.cached_from"] = step["cached_from"]
        if step.get("key"):
            tags["cellpipe.step_key"] = step["key"]
        if name in self.code_hashes:
            tags["cellpipe.code_hash"] = self.code_hashes[name]
        error = step.get("error")
        if error:
            tags["cellpipe.error"] = _text(error.get("message") if isinstance(error, dict) else error, MAX_TAG)
        outputs = (parts.get("produces") or {}).get("files") or []
        if outputs:
            tags["cellpipe.outputs"] = _text(", ".join(outputs), MAX_TAG)
        started = step.get("started") or self.run["started"]
        child = self._start(experiment_id, name, started, tags)
        metrics = {m["name"]: m["value"] for m in self.metrics if m["step"] == name}
        self._batch(child, parts.get("params") or {}, metrics, {}, step.get("finished") or started)
        folder = staging / "steps" / name
        if not cached:  # the notebook and log of an execution of this run
            self._stage(step.get("output_notebook"), folder / f"{name}.ipynb")
            self._stage(step.get("output_notebook"), staging / "run" / "notebooks" / f"{name}.ipynb")
            self._stage(step.get("log"), folder / f"{name}.log")
        self._stage_outputs(step, outputs, staging / "run" / "outputs")
        self._upload(child, folder)
        self._finish(child, STEP_STATUS[step["state"]], step.get("finished"))

    # -- artifacts -------------------------------------------------------------------------
    def _stage(self, source: str | None, dest: Path) -> None:
        """Link (or copy) a file of the run folder into the staging folder, when it is there."""
        if not source:
            return
        path = Path(source)
        if not path.is_file():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:
            shutil.copyfile(path, dest)

    def _stage_outputs(self, step: dict[str, Any], declared: list[str], dest: Path) -> None:
        """The step's ``out:`` files as the store holds them (the work tree may have changed since)."""
        rows = {r["name"]: r for r in self.artifact_rows if r["step"] == step["step"] and r["kind"] == "file"}
        for rel in declared:
            row = rows.get(rel)
            if row is None:
                continue
            listing = self._tree(step, rel, row["hash"])
            files = {rel: row["hash"]} if listing is None else {
                f"{rel.rstrip('/')}/{sub}": digest for sub, digest in listing.items()}
            for path, digest in files.items():
                out = dest / path.strip("/")
                out.parent.mkdir(parents=True, exist_ok=True)
                try:
                    self.store.objects.materialize(digest, out, link=True)
                except CorruptObject:  # gone or damaged in the store (`cellpipe doctor` says more)
                    self.missing.append(path)

    def _tree(self, step: dict[str, Any], rel: str, digest: str) -> dict[str, str] | None:
        """A folder output's listing (path inside it -> digest); None for a file. The step's
        cache entry says which; without one, the object is a listing when it parses as one."""
        entry = self.store.db.cache_get(step["key"]) if step.get("key") else None
        art = ((entry or {}).get("outputs") or {}).get("files", {}).get(rel) if entry else None
        if isinstance(art, dict) and art.get("hash") == digest:
            return art.get("files") if art.get("kind") == "tree" else None
        size = self.store.objects.size(digest)
        if size is None or size > 1 << 20:
            return None
        try:
            listing = json.loads(self.store.objects.read_bytes(digest))
        except (OSError, ValueError, CorruptObject):
            return None
        if isinstance(listing, dict) and listing and all(
                isinstance(k, str) and isinstance(v, str) and is_digest(v) for k, v in listing.items()):
            return listing
        return None

    def _upload(self, mlflow_run: str, folder: Path) -> None:
        if folder.is_dir() and any(folder.iterdir()):
            self.client.log_artifacts(mlflow_run, str(folder))
            self.artifacts += sum(1 for p in folder.rglob("*") if p.is_file())

    # -- MLflow calls --------------------------------------------------------------------
    def _start(self, experiment_id: str, name: str, started: float, tags: dict[str, str]) -> str:
        created = self.client.create_run(experiment_id, start_time=_ms(started), run_name=name,
                                         tags={k: _text(v, MAX_TAG) for k, v in tags.items()})
        run_id = str(created.info.run_id)
        self.open_runs.append(run_id)
        return run_id

    def _batch(self, mlflow_run: str, params: dict[str, Any], metrics: dict[str, Any], tags: dict[str, str],
               when: float) -> None:
        from mlflow.entities import Metric, Param, RunTag

        stamp = _ms(when) or int(time.time() * 1000)
        items: list[Any] = [Param(_key(k), _text(v, MAX_PARAM)) for k, v in params.items()]
        for name, value in metrics.items():
            number = _numeric(value)
            if number is not None:
                items.append(Metric(_key(name), number, stamp, 0))
            else:  # a text or a list: kept as a tag
                items.append(RunTag(_key(f"cellpipe.metric.{name}"), _text(value, MAX_TAG)))
        items += [RunTag(_key(k), _text(v, MAX_TAG)) for k, v in tags.items()]
        for start in range(0, len(items), BATCH):
            chunk = items[start:start + BATCH]
            self.client.log_batch(mlflow_run, metrics=[i for i in chunk if isinstance(i, Metric)],
                                  params=[i for i in chunk if isinstance(i, Param)],
                                  tags=[i for i in chunk if isinstance(i, RunTag)])

    def _finish(self, mlflow_run: str, status: str, finished: float | None) -> None:
        self.client.set_terminated(mlflow_run, status, end_time=_ms(finished))
        self.open_runs.remove(mlflow_run)

    def abandon(self, status: str, reason: str) -> None:
        """After a failure: end the MLflow runs left open, saying why (best effort)."""
        for mlflow_run in list(self.open_runs):
            try:
                self.client.set_tag(mlflow_run, "cellpipe.incomplete", _text(reason, MAX_TAG))
                self.client.set_terminated(mlflow_run, status)
            except Exception:  # noqa: BLE001 - the server is gone: nothing more to do
                break
