"""The small runtime that compiled step notebooks import.

It runs inside the step's kernel: it changes into the source notebook's
folder, loads the step's inputs, and at the end saves its outputs and metrics
into ``<artifacts>/<step>/`` with a record (``_outputs.json``) written last, so a
step that did not finish leaves no record that claims it did.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

from cellpipe.engine.checks import (  # noqa: F401 - the checks a notebook calls as cellpipe.runtime.check_...
    CheckFailed,
    begin_checks,
    check,
    check_drift,
    check_metric,
    check_no_nulls,
    check_range,
    check_rows,
    check_schema,
    end_checks,
    set_context,
)
from cellpipe.engine.checks import results as check_results
from cellpipe.engine.fileutil import atomic_write
from cellpipe.engine.serialize import SerializationError, fingerprint, load_value, save_value
from cellpipe.errors import ArtifactError

RECORD = "_outputs.json"


def enter_workdir(workdir: str | None) -> None:
    """Run the step in its source notebook's folder, as Jupyter would."""
    if workdir:
        os.chdir(workdir)
        if "" not in sys.path and workdir not in sys.path:
            sys.path.insert(0, workdir)


def given_parameters(namespace: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The parameters whose value in ``namespace`` is not their default: those
    given with ``-p`` (kept while the parameters cell runs again with the defaults)."""
    given = {}
    for name, default in defaults.items():
        try:
            same = name in namespace and bool(namespace[name] == default) and type(namespace[name]) is type(default)
        except Exception:  # noqa: BLE001 - a value that cannot be compared is taken as given
            same = False
        if name in namespace and not same:
            given[name] = namespace[name]
    return given


def read_record(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / RECORD).read_text())
    except FileNotFoundError:
        return None


def load_inputs(
    step: str,
    artifacts: str,
    inputs: dict[str, str],
    guard: list[str],
    namespace: dict[str, Any],
) -> dict[str, Any]:
    """Load each input variable from its producer's folder into ``namespace``."""
    set_context(step, artifacts)
    base = Path(artifacts)
    records: dict[str, dict[str, Any]] = {}
    loaded: dict[str, str | None] = {}
    entries: dict[str, tuple[Path, dict[str, Any]]] = {}
    for var, producer in inputs.items():
        folder = base / producer
        if producer not in records:
            record = read_record(folder)
            if record is None:
                raise ArtifactError(
                    f"step '{step}' needs `{var}` from step '{producer}', but '{folder}' holds no "
                    f"finished output of '{producer}'",
                    fix=f"run step '{producer}' first with the same cellpipe_artifacts folder "
                    "(`cellpipe run` does this for you)",
                )
            records[producer] = record
        entry = records[producer].get("variables", {}).get(var)
        if entry is None:
            raise ArtifactError(
                f"step '{producer}' did not save `{var}`, which step '{step}' needs",
                fix="compile the pipeline again: the step notebooks are older than the source notebook",
            )
        entries[var] = (folder, entry)
    # a value may need another one to load (a model fitted with a formula that calls a
    # notebook function evaluates it again when it is unpickled): what fails is tried
    # again once the others are in the namespace. load_value is called from here
    # directly: statsmodels looks for the formula's names a fixed number of frames up.
    failed: dict[str, Exception] = {}
    read_only = set(guard)
    for attempt in range(2):
        for var in list(entries) if attempt == 0 else list(failed):
            folder, entry = entries[var]
            try:
                # an input the analysis took as read-only is mapped, not read (copy-on-write)
                namespace[var] = load_value(folder, entry, mmap=var in read_only)
                failed.pop(var, None)
            except Exception as exc:  # noqa: BLE001 - reported below, once no retry helps
                failed[var] = exc
        if not failed:
            break
    for var, error in failed.items():
        folder, entry = entries[var]
        missing = re.search(r"name '([A-Za-z_][A-Za-z0-9_]*)' is not defined", str(error))
        fix = (f"`{var}` refers to `{missing.group(1)}` when it is loaded, and step '{step}' does not "
               f"have it: define `{missing.group(1)}` in a cell tagged `functions` (or `imports`), so "
               "that every step has it" if missing else f"run step '{inputs[var]}' again")
        raise ArtifactError(
            f"could not load `{var}` (made by step '{inputs[var]}') from {folder / entry['file']}: "
            f"{type(error).__name__}: {error}",
            fix=fix,
        ) from error
    adopt_functions(inputs, namespace)
    objects: dict[str, Any] = {}
    for var in inputs:
        objects[var] = namespace[var]
        loaded[var] = fingerprint(namespace[var])
    return {
        "step": step,
        "artifacts": artifacts,
        "fingerprints": loaded,
        "objects": objects,
        "guard": list(guard),
        "inputs": dict(inputs),
    }


def _notebook_function(value: Any) -> bool:
    return isinstance(value, types.FunctionType) and value.__module__ == "__main__"


def adopt_functions(names: Any, namespace: dict[str, Any]) -> None:
    """Make functions defined in another step's notebook code look up names here.

    A function defined in a notebook reads its free names from the notebook's
    namespace when it is called: Run All gives it the values of that moment. A
    function loaded from another step carries the values it saw there instead,
    so it is rebuilt on this step's namespace (the analysis makes the names it
    reads inputs of this step). A name it saw there that this step does not
    have is kept as it was, so that the function does not fail where Run All
    would not have.
    """
    todo = [n for n in names if _notebook_function(namespace.get(n))]
    done: set[str] = set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        func = namespace[name]
        for key, value in func.__globals__.items():
            if key.startswith("__") or key in namespace:
                continue
            namespace[key] = value
            if _notebook_function(value):
                todo.append(key)
        rebuilt = types.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__, func.__closure__)
        rebuilt.__kwdefaults__ = func.__kwdefaults__
        rebuilt.__dict__.update(func.__dict__)
        rebuilt.__qualname__ = func.__qualname__
        rebuilt.__doc__ = func.__doc__
        rebuilt.__annotations__ = func.__annotations__
        rebuilt.__module__ = func.__module__
        namespace[name] = rebuilt


def _metric_value(value: Any) -> float | int | bool | str | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        return _metric_value(value.item())
    if isinstance(value, str) and len(value) <= 200:
        return value
    return None


def save_outputs(
    ctx: dict[str, Any],
    outputs: dict[str, list[str]],
    metrics: list[str],
    files: list[str],
    root: str,
    namespace: dict[str, Any],
) -> dict[str, Any]:
    """Save the step's output variables and metrics; check its declared files."""
    step = ctx["step"]
    folder = Path(ctx["artifacts"]) / step
    missing = [f for f in files if not (Path(root) / f).exists()]
    if missing:
        raise ArtifactError(
            f"step '{step}' declares `out:` {', '.join(missing)} but did not write "
            + ("it" if len(missing) == 1 else "them"),
            fix="write the file in the step, or correct the `out:` path (relative to the notebook's folder)",
        )
    variables: dict[str, Any] = {}
    for var, consumers in sorted(outputs.items()):
        users = ", ".join(f"'{c}'" for c in consumers)
        if var not in namespace:
            raise ArtifactError(
                f"step '{step}' did not define `{var}`, which step {users} uses",
                fix=f"make sure step '{step}' always assigns `{var}` (not only in one branch of an `if`)",
            )
        try:
            variables[var] = save_value(namespace[var], folder, var)
        except OSError as exc:  # the disk is full (or over quota, or a file size limit)
            raise ArtifactError(
                f"variable `{var}` made by step '{step}' could not be saved to {folder}: "
                f"{exc.strerror or exc} (the disk holding cellpipe's store is full or the file is over a limit); "
                "nothing half-written was kept",
                fix="free space on that disk, or put the store on a larger one (--store DIR or CELLPIPE_STORE)",
            ) from exc
        except SerializationError as exc:
            kind = type(namespace[var]).__name__
            raise ArtifactError(
                f"variable `{var}` (a {kind}) made by step '{step}' and used by step {users} cannot be "
                f"saved: {exc.reason}",
                fix=f"create `{var}` inside step {users} instead of passing it, or build it in a "
                "`functions` cell so every step makes its own",
            ) from exc

    # an input the analysis took as read-only: the object loaded, whatever the
    # name holds now (a step that rebinds `df = df.join(...)` did not change it)
    changed: list[str] = []
    objects = ctx.get("objects", {})
    for var, before in ctx.get("fingerprints", {}).items():
        if before is None or var not in objects or var not in ctx.get("guard", ()):
            continue
        if fingerprint(objects[var]) != before:
            changed.append(var)
            if var not in outputs:
                # saved, so that the steps after this one can get the changed value
                try:
                    variables[var] = save_value(objects[var], folder, var)
                except SerializationError:
                    pass

    recorded: dict[str, Any] = {}
    skipped: list[str] = []
    for name in metrics:
        if name in namespace:
            value = _metric_value(namespace[name])
            if value is None:
                skipped.append(name)
            else:
                recorded[name] = value
    record = {
        "step": step,
        "variables": variables,
        "metrics": recorded,
        "metrics_not_scalar": skipped,
        "changed_inputs": changed,
        "input_fingerprints": {k: v for k, v in ctx.get("fingerprints", {}).items() if v},
        "files_opened": files_opened(stop=True),
        "checks": check_results(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / RECORD, lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str)))
    if recorded:
        print("metrics: " + ", ".join(f"{k}={v}" for k, v in recorded.items()))
    return record


# -- files the step opens without declaring them -------------------------------
#
# Kale and papermill notebooks never declare files, so the step's kernel records
# what it opens: Python's audit hook on ``open`` (builtin ``open``, ``os.open``,
# pathlib, and so pandas, numpy, joblib, pickle...) plus wrappers around the
# pyarrow functions that open files in C++ (``rules.NATIVE_FILE_FUNCTIONS``).
# Only files under the project root, or under a path the step names itself, count;
# the interpreter's, site-packages' and cellpipe's own files never do.

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
_SKIP_PARTS = ("__pycache__", ".ipynb_checkpoints", ".cellpipe", ".git")


class _FileWatch:
    """The files one step opened, relative to the project root (absolute when
    outside it and named by the step)."""

    def __init__(self, root: str, ignore: list[str], named: list[str]) -> None:
        self.root = os.path.join(root, "")
        self.ignore = tuple(os.path.join(p, "") for p in ignore)
        self.named = tuple(named)
        self.read: dict[str, None] = {}
        self.written: dict[str, None] = {}

    def key(self, path: Any) -> str | None:
        try:
            path = os.fspath(path)
        except TypeError:
            return None
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not path or "://" in path:
            return None
        full = os.path.abspath(path)
        if full.startswith(self.ignore):
            return None
        if full.startswith(self.root):
            key = full[len(self.root):].replace(os.sep, "/")
            if any(part in _SKIP_PARTS for part in key.split("/")):
                return None
            return key
        if any(full == n or full.startswith(os.path.join(n, "")) for n in self.named):
            return full
        return None

    def see(self, path: Any, write: bool) -> None:
        key = self.key(path)
        if key is None:
            return
        if write:
            self.written[key] = None
        elif key not in self.written:
            self.read[key] = None

    def renamed(self, src: Any, dst: Any) -> None:
        key = self.key(src)
        if key is not None:
            self.written.pop(key, None)
        self.see(dst, True)


_WATCH: _FileWatch | None = None
_HOOKED = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """The audit hook: cheap for every other event, never raises."""
    if event == "open":
        watch = _WATCH
        if watch is not None and not isinstance(args[0], int):
            try:
                flags = args[2]
                watch.see(args[0], isinstance(flags, int) and bool(flags & _WRITE_FLAGS))
            except Exception:  # noqa: BLE001 - a hook that raises would fail the user's open()
                pass
    elif event == "os.rename":
        watch = _WATCH
        if watch is not None:
            try:
                watch.renamed(args[0], args[1])
            except Exception:  # noqa: BLE001
                pass


def _native_wrapper(mode: str, position: int, keyword: str):
    def wrapper(wrapped, instance, args, kwargs):  # noqa: ARG001 - wrapt's signature
        watch = _WATCH
        if watch is not None:
            try:
                target = kwargs[keyword] if keyword in kwargs else args[position] if len(args) > position else None
                fs = kwargs.get("filesystem")
                write = mode == "w"
                if mode == "mode":
                    how = kwargs["mode"] if "mode" in kwargs else args[position + 1] if len(args) > position + 1 else "r"
                    write = any(c in str(how) for c in "wax+")
                if fs is None or type(fs).__name__ == "LocalFileSystem":
                    for path in target if isinstance(target, (list, tuple)) else (target,):
                        if isinstance(path, (str, os.PathLike)):
                            watch.see(path, write)
            except Exception:  # noqa: BLE001 - tracking never breaks the user's call
                pass
        return wrapped(*args, **kwargs)

    return wrapper


def _wrap_native_functions() -> None:
    """Wrap pyarrow's C++ file openers, now or when their module is first imported."""
    import wrapt

    from cellpipe.core.rules import NATIVE_FILE_FUNCTIONS

    def patcher(functions: dict[str, tuple[str, int, str]]):
        def patch(module: Any) -> None:
            for name, (mode, position, keyword) in functions.items():
                try:
                    wrapt.wrap_function_wrapper(module, name, _native_wrapper(mode, position, keyword))
                except (AttributeError, ImportError, TypeError):
                    continue  # not in this pyarrow version
        return patch

    for module, functions in NATIVE_FILE_FUNCTIONS.items():
        wrapt.register_post_import_hook(patcher(functions), module)


def _interpreter_folders() -> list[str]:
    import site

    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    try:
        folders.update(site.getsitepackages())
        folders.add(site.getusersitepackages())
    except AttributeError:  # a virtualenv's old site.py
        pass
    return [os.path.abspath(f) for f in folders if f]


def watch_files(root: str, artifacts: str | None = None, named: list[Any] | tuple[Any, ...] = ()) -> None:
    """Record the files the step opens from now on (see :func:`files_opened`).

    ``root`` is the project root (relative paths: from the working directory);
    files outside it count only under ``named`` (absolute or ``~`` paths the step
    names: literal strings of its code, string parameter values).
    """
    global _WATCH, _HOOKED
    top = os.path.abspath(root)
    ignore = [f for f in _interpreter_folders() if not (top == f or top.startswith(os.path.join(f, "")))]
    if artifacts:
        ignore.append(os.path.abspath(artifacts))
    paths = [os.path.abspath(os.path.expanduser(n)) for n in named
             if isinstance(n, str) and n.startswith(("/", "~")) and "\n" not in n]
    _WATCH = _FileWatch(top, ignore, [p for p in paths if p != os.sep])
    if not _HOOKED:
        sys.addaudithook(_audit)  # audit hooks cannot be removed: one per kernel, switched by _WATCH
        _HOOKED = True
        _wrap_native_functions()


def files_opened(stop: bool = False) -> dict[str, list[str]]:
    """The files opened since :func:`watch_files`: ``read`` (not written by the
    step before) and ``written``; ``stop`` ends the watch."""
    global _WATCH
    watch = _WATCH
    if stop:
        _WATCH = None
    if watch is None:
        return {"read": [], "written": []}
    return {"read": [p for p in watch.read if p not in watch.written], "written": list(watch.written)}
