"""Run one exported step inside its container: the task end of an export.

A KFP component or an Argo template carries the step's compiled notebook and a
``task.json`` (see :meth:`~cellpipe.engine.export.plan.TaskSpec.task_json`). This
module lays out a scratch copy of the project in which the step runs as it does
under ``cellpipe run``: the ``in:`` files at their places, each input variable in
its producer's artifact folder; it runs the notebook with papermill; then it
hands the step's variables, ``out:`` files, metrics and executed notebook to the
engine's artifact paths. It uses neither the runner nor the store.

Argo runs it as ``python -m cellpipe.engine.export.task --asset DIR ...``; KFP
components call :func:`run_kfp_task`.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cellpipe._version import __version__
from cellpipe.errors import CellpipeError

#: what a variable's artifact folder holds besides the value: how to read it back
ENTRY = "cellpipe-entry.json"


class TaskFailed(CellpipeError):
    """The step's notebook failed; the message names the source notebook's cell."""

    exit_code = 1


def _restore_ints(value: Any, like: Any) -> Any:
    """KFP carries list and dict parameters as protobuf values, whose numbers are
    all floats: give back ints where the default had them (or had nothing to say)."""
    if isinstance(value, float) and value.is_integer() and not isinstance(like, float):
        return int(value)
    if isinstance(value, list):
        first = like[0] if isinstance(like, list) and like else None
        return [_restore_ints(v, like[i] if isinstance(like, list) and i < len(like) else first)
                for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _restore_ints(v, like.get(k) if isinstance(like, dict) else None) for k, v in value.items()}
    return value


def coerce(value: Any, param: dict[str, Any], from_text: bool = False) -> Any:
    """A parameter's value as the notebook expects it.

    ``from_text``: the engine passes every value as text (Argo); strings stay as
    they are, everything else (and an optional string) is read as JSON.
    """
    kind, optional, default = param["kind"], param["optional"], param["default"]
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    if from_text and isinstance(value, str):
        if kind == "str" and not optional:
            return value
        try:
            value = json.loads(value)
        except ValueError:
            if kind != "str":
                raise
    if value is None:
        return None
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind in ("list", "dict"):
        return _restore_ints(value, default)
    return value


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)


def _source_cell(nb_path: Path, cell_index: int | None) -> str:
    """``notebook cell N`` of the source cell behind a cell of the step notebook."""
    if cell_index is None:
        return "the step notebook"
    try:
        cells = json.loads(nb_path.read_text(encoding="utf-8"))["cells"]
        source = cells[cell_index]["metadata"]["cellpipe"]["source"]
        return f"{source['notebook']} cell {source['number']}"
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return f"cell {cell_index + 1} of the step notebook"


def run_task(
    asset: str | Path,
    parameters: dict[str, Any],
    var_inputs: dict[str, str],
    file_inputs: dict[str, str],
    var_outputs: dict[str, str],
    file_outputs: dict[str, str],
    notebook_out: str | None = None,
    from_text: bool = False,
) -> dict[str, Any]:
    """Run the step described in ``asset``; return its metrics.

    Inputs and outputs map a variable name, or a file's path relative to the
    pipeline root, to the path the engine gives for that artifact. A variable's
    artifact is a folder (the value's file and :data:`ENTRY`); a file's is the
    file (or folder) itself.
    """
    import papermill

    asset = Path(asset)
    spec = json.loads((asset / "task.json").read_text(encoding="utf-8"))
    step = spec["step"]
    if spec.get("cellpipe_version") != __version__:
        warnings.warn(f"step '{step}' was exported by cellpipe {spec.get('cellpipe_version')} and runs "
                      f"with cellpipe {__version__}; rebuild the image or export again if it fails",
                      stacklevel=2)
    params = {p["notebook_name"]: p for p in spec["parameters"]}
    unknown = sorted(set(parameters) - set(params))
    if unknown:
        raise CellpipeError(f"step '{step}' has no parameter {', '.join(unknown)}")
    values = {name: coerce(parameters[name], params[name], from_text) for name in params if name in parameters}

    scratch = Path(tempfile.mkdtemp(prefix=f"cellpipe-{step}-"))
    try:
        project, artifacts = scratch / "project", scratch / "artifacts"
        project.mkdir()
        if (asset / "project").is_dir():
            shutil.copytree(asset / "project", project, dirs_exist_ok=True)
        for path in spec["file_inputs"]:
            if path not in file_inputs:
                raise CellpipeError(f"step '{step}' reads {path} (in:), but the task was given no such input")
            _copy(Path(file_inputs[path]), project / path)
        records: dict[str, dict[str, Any]] = {}
        for var, producer in spec["var_inputs"]:
            folder = Path(var_inputs[var])
            entry = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
            _copy(folder / entry["file"], artifacts / producer / entry["file"])
            records.setdefault(producer, {"step": producer, "variables": {}, "metrics": {}})
            records[producer]["variables"][var] = entry
        for producer, record in records.items():
            (artifacts / producer / "_outputs.json").write_text(json.dumps(record, indent=1), encoding="utf-8")

        workdir = project / Path(spec["notebook"]).parent
        workdir.mkdir(parents=True, exist_ok=True)
        executed = scratch / f"{step}.ipynb"
        logger = logging.getLogger("papermill")
        if not logger.handlers and not logging.getLogger().handlers:
            logger.addHandler(logging.StreamHandler(sys.stdout))
            logger.setLevel(logging.INFO)
        try:
            papermill.execute_notebook(
                str(asset / "step.ipynb"), str(executed),
                parameters={**values, "cellpipe_artifacts": str(artifacts), "cellpipe_workdir": str(workdir)},
                cwd=str(workdir), log_output=True, progress_bar=False,
            )
        except papermill.PapermillExecutionError as exc:
            if notebook_out:
                _copy(executed, Path(notebook_out))
            where = _source_cell(executed, exc.cell_index)
            raise TaskFailed(f"step '{step}' failed in {where}: {exc.ename}: {exc.evalue}") from exc
        finally:
            if notebook_out and executed.exists():
                _copy(executed, Path(notebook_out))

        record = json.loads((artifacts / step / "_outputs.json").read_text(encoding="utf-8"))
        for var in spec["var_outputs"]:
            entry = record["variables"][var]
            dest = Path(var_outputs[var])
            _copy(artifacts / step / entry["file"], dest / entry["file"])
            (dest / ENTRY).write_text(json.dumps(entry, indent=1, sort_keys=True), encoding="utf-8")
        for path in spec["file_outputs"]:
            _copy(project / path, Path(file_outputs[path]))
        return dict(record.get("metrics", {}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_kfp_task(
    asset: str,
    parameters: dict[str, Any],
    var_inputs: dict[str, Any],
    file_inputs: dict[str, Any],
    var_outputs: dict[str, Any],
    file_outputs: dict[str, Any],
    notebook: Any,
    metrics: Any = None,
) -> None:
    """The body of a KFP component: KFP artifacts in, KFP artifacts and metrics out."""
    found = run_task(
        asset, parameters,
        {k: a.path for k, a in var_inputs.items()}, {k: a.path for k, a in file_inputs.items()},
        {k: a.path for k, a in var_outputs.items()}, {k: a.path for k, a in file_outputs.items()},
        notebook_out=notebook.path,
    )
    notebook.metadata["format"] = "ipynb"
    for path, artifact in file_outputs.items():
        artifact.metadata["path"] = path
    for artifact in var_outputs.values():
        entry = json.loads((Path(artifact.path) / ENTRY).read_text(encoding="utf-8"))
        artifact.metadata.update({"format": entry.get("format"), "type": entry.get("type")})
    if metrics is not None:
        for name, value in found.items():
            if isinstance(value, (int, float)):  # bools too: KFP metrics are numbers
                metrics.log_metric(name, float(value))
            else:
                print(f"metric {name} = {value!r} is not a number; KFP records numbers only")


def _pairs(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--{what} {item!r}: write KEY=VALUE")
        out[key] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cellpipe.engine.export.task``: how an Argo template runs a step."""
    parser = argparse.ArgumentParser(prog="python -m cellpipe.engine.export.task",
                                     description="Run one exported cellpipe step (used inside containers).")
    parser.add_argument("--asset", required=True, help="the folder holding task.json and step.ipynb")
    parser.add_argument("--param", action="append", metavar="NAME=VALUE")
    parser.add_argument("--input-var", action="append", metavar="VAR=PATH")
    parser.add_argument("--input-file", action="append", metavar="FILE=PATH")
    parser.add_argument("--output-var", action="append", metavar="VAR=PATH")
    parser.add_argument("--output-file", action="append", metavar="FILE=PATH")
    parser.add_argument("--notebook", metavar="PATH", help="where the executed notebook goes")
    parser.add_argument("--metrics-dir", metavar="DIR", help="one file per metric, and metrics.json")
    args = parser.parse_args(argv)
    try:
        metrics = run_task(
            args.asset, _pairs(args.param, "param"), _pairs(args.input_var, "input-var"),
            _pairs(args.input_file, "input-file"), _pairs(args.output_var, "output-var"),
            _pairs(args.output_file, "output-file"), notebook_out=args.notebook, from_text=True,
        )
    except CellpipeError as exc:
        print(f"cellpipe: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.metrics_dir:
        folder = Path(args.metrics_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for name, value in metrics.items():
            (folder / name).write_text(json.dumps(value), encoding="utf-8")
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True), encoding="utf-8")
    print("metrics: " + json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
