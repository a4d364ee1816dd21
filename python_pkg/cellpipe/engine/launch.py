"""Start a run in a process of its own, and be that process.

A long run never lives in the process that asked for it (the Jupyter server,
in jupyter-scheduler's way): :func:`spawn` writes a :class:`LaunchRequest` next
to the run's log and starts ``python -m cellpipe.engine.launch REQUEST.json``
in a session of its own. That process (:func:`main`) resets the signal
dispositions it inherited, compiles the notebooks, runs them, and prints the
run's summary as JSON (the ``--json`` summary of ``cellpipe run``), with the
same exit codes: 0 ok, 1 a step failed, 2 bad input, 130 interrupted.
The caller watches the process and reads the store the run writes as it goes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cellpipe.engine.runstate import EXIT_INTERRUPTED, RunOptions, RunResult, StepStatus
from cellpipe.errors import CellpipeError, PipelineInvalid, UsageError


@dataclass(frozen=True)
class LaunchRequest:
    """A run to start: the notebooks (relative to the process's working folder) and the choices."""

    notebooks: tuple[str, ...]
    #: NAME or NOTEBOOK.NAME -> value, as the user gave them; checked against the pipeline
    params: dict[str, Any] = field(default_factory=dict)
    only: tuple[str, ...] = ()
    from_steps: tuple[str, ...] = ()
    force: bool = False
    store: str | None = None  # a folder or fsspec URL; None: the project's
    run_id: str | None = None
    jobs: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LaunchRequest:
        data = json.loads(text)
        for key in ("notebooks", "only", "from_steps"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


def spawn(request: LaunchRequest, cwd: Path, log: Path, python: str = sys.executable) -> subprocess.Popen:
    """Start the run process; its output (summary and errors) goes to ``log``."""
    from cellpipe.engine.fileutil import atomic_write_bytes

    request_file = log.with_name(log.stem + ".request.json")
    atomic_write_bytes(request_file, request.to_json().encode())
    with open(log, "wb") as out:
        return subprocess.Popen([python, "-m", "cellpipe.engine.launch", str(request_file)], cwd=cwd,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def execute(request: LaunchRequest, argv: Sequence[str] = (),
            on_change: Callable[[StepStatus], None] | None = None) -> RunResult:
    """Compile the request's notebooks and run them in this process."""
    from cellpipe.core.overrides import resolve
    from cellpipe.engine.integrations import mlflow
    from cellpipe.engine.project import compile_paths
    from cellpipe.engine.runner import Runner
    from cellpipe.engine.store import Store
    from cellpipe.engine.store.remote import remote_location

    compiled, root = compile_paths(list(request.notebooks))
    if compiled.errors or compiled.pipeline is None:
        raise PipelineInvalid(compiled.diagnostics)
    pipeline = compiled.pipeline
    options = RunOptions(params=resolve(pipeline, request.params), jobs=request.jobs, only=list(request.only),
                         from_steps=list(request.from_steps), force=request.force, argv=list(argv),
                         run_id=request.run_id, cache_from=remote_location(root))
    tracking = mlflow.resolve(root, None)  # [tool.cellpipe] mlflow: the panel's runs are logged too
    if tracking is not None:
        mlflow.require_mlflow()  # refused before any step runs, as `cellpipe run` does
    store = Store.open(root, request.store)
    try:
        result = Runner(pipeline, root, store, options, on_change=on_change).run()
        if tracking is not None:
            done = mlflow.log_finished(store, result.run_id, tracking, {s.name: s.code_hash for s in pipeline.steps})
            if not done["logged"]:
                print(f"cellpipe: warning: {done['warning']}", file=sys.stderr)
        return result
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The run process: ``python -m cellpipe.engine.launch REQUEST.json``."""
    from cellpipe.engine.executors.procs import reset_signals

    reset_signals()  # a server started with ``nohup ... &`` passes SIGINT on ignored; Cancel sends SIGINT
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if len(args) != 1:
            raise UsageError("usage: python -m cellpipe.engine.launch REQUEST.json")
        try:
            request = LaunchRequest.from_json(Path(args[0]).read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"cannot read the run request {args[0]}: {exc}") from exc
        result = execute(request, argv=["run", *request.notebooks])
    except KeyboardInterrupt:
        print("cellpipe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CellpipeError as exc:
        print(f"cellpipe: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one sentence in the log the caller reads
        print(f"cellpipe: internal error in the run of {', '.join(args)} ({type(exc).__name__}: "
              f"{str(exc)[:300]}). This is a bug in cellpipe, not in your notebooks", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2, default=str), flush=True)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
