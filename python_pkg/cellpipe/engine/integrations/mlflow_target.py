"""Where cellpipe logs to MLflow, read without importing MLflow: the tracking URI and the
experiment from the command line, the environment and ``[tool.cellpipe]``.

The tracking URI: ``--mlflow URI``; else ``$MLFLOW_TRACKING_URI``; else ``[tool.cellpipe]
mlflow = "URI"`` (a relative ``sqlite:///`` path there is relative to the project's root);
else ``sqlite:///<root>/mlflow.db``. The experiment: ``--mlflow-experiment``, else
``$MLFLOW_EXPERIMENT_NAME``, else ``[tool.cellpipe] mlflow-experiment``, else (None) the
pipeline's name.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from cellpipe.engine.settings import project_settings, settings_file
from cellpipe.engine.store import redact
from cellpipe.errors import UsageError

#: the one-line fix for a missing MLflow
EXTRA = "pip install 'cellpipe[mlflow]'"
#: the default store's database file, at the project's root (where ``mlflow ui`` looks by default)
DEFAULT_DB = "mlflow.db"


class MlflowMissing(UsageError):
    """``--mlflow`` was asked for and MLflow is not installed."""

    def __init__(self) -> None:
        super().__init__(f"MLflow logging needs MLflow, which is not installed. Fix: {EXTRA}")


@dataclass(frozen=True)
class Target:
    """Where runs are logged: a tracking URI and an experiment (None: the pipeline's name)."""

    uri: str
    experiment: str | None = None

    @property
    def shown(self) -> str:
        """The URI fit to print: a password or token in it replaced by ``***``."""
        head, _, rest = self.uri.partition("://")
        return redact(self.uri) if rest and ("@" in rest.split("/", 1)[0] or "?" in rest) else self.uri


def require_mlflow() -> None:
    """Raise :class:`MlflowMissing` when MLflow cannot be imported (checked without importing it)."""
    try:
        spec = importlib.util.find_spec("mlflow")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise MlflowMissing()


def default_uri(root: Path) -> str:
    """The default tracking store: a SQLite database at the project's root."""
    return f"sqlite:///{root / DEFAULT_DB}"


def _rooted(root: Path, uri: str) -> str:
    """A configured URI with a relative SQLite path made relative to the project's root."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{root / uri[len('sqlite:///'):]}"
    return uri


def resolve(root: Path, flag: str | None, experiment: str | None = None, off: bool = False) -> Target | None:
    """Where the runs of the project at ``root`` are logged; None: not logged.

    ``flag`` is ``--mlflow``: None when not given, ``""`` when given without a URI.
    Without it, ``[tool.cellpipe] mlflow`` (a URI, or true) turns logging on; ``off``
    (``--no-mlflow``) turns it off whatever the settings say.
    """
    if off:
        return None
    settings = project_settings(root)
    configured = settings.get("mlflow")
    if configured is not None and not isinstance(configured, bool) and not (
            isinstance(configured, str) and configured.strip()):
        raise UsageError(f"mlflow in {settings_file(root)} must be a tracking URI or true, not {configured!r}. "
                         'Fix: write mlflow = "sqlite:///mlflow.db" or mlflow = true')
    if flag is None and not configured:
        return None
    if flag:
        uri = flag
    elif os.environ.get("MLFLOW_TRACKING_URI"):
        uri = os.environ["MLFLOW_TRACKING_URI"]
    elif isinstance(configured, str):
        uri = _rooted(root, configured.strip())
    else:
        uri = default_uri(root)
    named = settings.get("mlflow-experiment")
    if named is not None and not (isinstance(named, str) and named.strip()):
        raise UsageError(f"mlflow-experiment in {settings_file(root)} must be an experiment's name, not "
                         f"{named!r}. Fix: write mlflow-experiment = \"my-pipeline\"")
    experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or (named.strip() if named else None)
    return Target(uri, experiment)
