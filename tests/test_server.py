"""The Jupyter server extension's REST API, through a real server (pytest-jupyter).

Runs start real processes with real kernels; they are marked ``kernel``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from cellpipe.core.compiler import NotebookSource, compile_notebooks
from cellpipe.engine.store import Store
from cellpipe.server.paths import PathOutsideRoot, confine
from cellpipe.server.records import run_state, step_run
from conftest import write_notebook

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FLOW = [
    ("n = 3", ("parameters",)),
    ("values = list(range(n))", ("step:load",)),
    ("total = sum(values)", ("step:total", "metrics")),
    ("doubled = [v * 2 for v in values]", ("step:double",)),
]
SLOW = [("import time\ntime.sleep(30)\nx = 1", ("step:slow",))]
BROKEN = [("x = 1", ("step:a", "after:nowhere"))]


@pytest.fixture
def registry(jp_serverapp):
    return jp_serverapp.web_app.settings["cellpipe_runs"]


async def wait_for_run(api, run_id: str, done, timeout: float = 120.0) -> dict:
    """Poll GET /cellpipe/runs/<id> until ``done(detail)``."""
    deadline = time.monotonic() + timeout
    while True:
        code, detail = await api("GET", "runs", run_id)
        assert code == 200, detail
        if done(detail):
            return detail
        assert time.monotonic() < deadline, f"run {run_id} did not get there in {timeout}s: {detail}"
        await asyncio.sleep(0.3)


def finished(detail: dict) -> bool:
    return not detail["active"] and detail["run"]["state"] not in ("starting", "running")


# -- paths, without a server ---------------------------------------------------


@pytest.mark.parametrize("path", ["nb.ipynb", "dir/nb.ipynb", "dir/../nb.ipynb", "./nb.ipynb"])
def test_paths_under_the_root_are_accepted(tmp_path, path):
    # Given a root folder / When a path under it is confined / Then it resolves inside the root
    root = tmp_path / "root"
    root.mkdir()
    assert confine(root, path) == (root / path).resolve()


@pytest.mark.parametrize("path", ["../outside.ipynb", "dir/../../outside.ipynb", "/etc/passwd", "link/x.ipynb"])
def test_paths_leaving_the_root_are_refused(tmp_path, path):
    # Given a root with a symlink that leads out of it
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    # When / Then the path is refused
    with pytest.raises(PathOutsideRoot):
        confine(root, path)


def test_a_run_left_running_by_a_dead_process_reads_as_interrupted(tmp_path):
    # Given a record that says running, whose process is gone (killed with SIGKILL)
    run = {"id": "r1", "state": "running", "pid": 12345}
    row = {"step": "s", "notebook": "nb.ipynb", "state": "running", "started": 1.0, "finished": None,
           "output_notebook": str(tmp_path / ".cellpipe" / "runs" / "r1" / "s.ipynb")}
    # When it is read / Then the run and its unfinished step are interrupted
    assert run_state(run, alive=lambda pid: False) == "interrupted"
    assert run_state(run, alive=lambda pid: True) == "running"
    step = step_run(row, tmp_path, "interrupted")
    assert step["state"] == "interrupted" and step["seconds"] is None
    assert step["output_notebook"] == ".cellpipe/runs/r1/s.ipynb"
    assert step_run(row, tmp_path, "running", now=3.5)["seconds"] == 2.5


# -- analyze -------------------------------------------------------------------


async def test_analyze_reports_the_pipeline_and_diagnostics_of_a_saved_notebook(api, jp_root_dir):
    # Given a tagged notebook saved in a folder under the root
    write_notebook(jp_root_dir / "work" / "flow.ipynb", FLOW)
    # When the panel asks for its analysis
    code, body = await api("POST", "analyze", body={"path": "work/flow.ipynb"})
    # Then it gets the manifest, no diagnostics and no step states yet
    assert code == 200, body
    assert body["path"] == "work/flow.ipynb"
    assert body["ok"] is True
    assert [s["name"] for s in body["pipeline"]["steps"]] == ["load", "total", "double"]
    assert body["diagnostics"] == []
    assert body["steps"] == {}
    assert not (jp_root_dir / ".cellpipe").exists()  # asking creates no store


async def test_analyze_uses_the_unsaved_content_from_the_editor(api, jp_root_dir):
    # Given a saved notebook and an edited, unsaved version of it with a bad dependency
    path = write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    content = json.loads(path.read_text())
    content["cells"][3]["metadata"]["tags"] = ["step:double", "after:nowhere"]
    # When the panel sends the unsaved content
    code, body = await api("POST", "analyze", body={"path": "flow.ipynb", "content": content})
    # Then the diagnostics are those of the unsaved content, linked to its cell
    assert code == 200, body
    assert body["ok"] is False
    [problem] = body["diagnostics"]
    assert problem["code"] == "CP104"
    assert problem["cell_number"] == 4 and problem["cell_id"] == "cell-3"


@pytest.mark.parametrize("content", [[1, 2], {"cells": "nope"}, {"nbformat": 4, "cells": [{"source": 1}]}])
async def test_analyze_refuses_content_that_is_not_a_notebook_with_the_analyzers_message(api, content):
    # Given content that is not an nbformat 4 notebook
    expected = compile_notebooks([NotebookSource("nb.ipynb", content)]).diagnostics[0]
    # When it is analyzed
    code, body = await api("POST", "analyze", body={"path": "nb.ipynb", "content": content})
    # Then the answer is a 400 whose message is the analyzer's own
    assert code == 400
    assert body["message"] == expected.message
    assert "not" in body["message"] and "notebook" in body["message"]
    assert body["diagnostics"][0]["code"] == "CP001"


async def test_analyze_of_a_missing_notebook_is_404(api):
    # Given no notebook / When it is analyzed from disk / Then 404
    code, body = await api("POST", "analyze", body={"path": "missing.ipynb"})
    assert code == 404
    assert "missing.ipynb" in body["message"]


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", json.dumps({"content": {}})])
async def test_a_malformed_request_is_400(api, body):
    # Given a body that is not JSON, not an object, or names no path / When posted / Then 400
    code, reply = await api("POST", "analyze", body=body)
    assert code == 400
    assert reply["message"]


# -- paths and authentication ----------------------------------------------------


def _outside_requests(root: Path) -> list[tuple[str, tuple[str, ...], dict | None, dict | None]]:
    outside = str(root.parent / "outside.ipynb")
    requests = []
    for path in ("../outside.ipynb", outside, "escape/outside.ipynb", "link.ipynb"):
        requests += [
            ("POST", ("analyze",), {"path": path}, None),
            ("POST", ("analyze",), {"path": path, "content": {"nbformat": 4, "cells": []}}, None),
            ("POST", ("compile",), {"path": path}, None),
            ("POST", ("runs",), {"path": path}, None),
            ("GET", ("status",), None, {"path": path}),
            ("POST", ("status",), {"path": path, "content": {"nbformat": 4, "cells": []}}, None),
            ("GET", ("runs",), None, {"path": path}),
            ("GET", ("runs", "active"), None, {"path": path}),
        ]
    requests.append(("POST", ("compile",), {"path": "flow.ipynb", "output": "../build"}, None))
    requests.append(("POST", ("compile",), {"path": "flow.ipynb", "output": str(root.parent / "build")}, None))
    return requests


async def test_paths_outside_the_root_are_refused_with_403(api, jp_root_dir, registry):
    # Given a notebook outside the root, a symlinked folder and a symlinked notebook that lead to it
    write_notebook(jp_root_dir.parent / "outside.ipynb", FLOW)
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    (jp_root_dir / "escape").symlink_to(jp_root_dir.parent)
    (jp_root_dir / "link.ipynb").symlink_to(jp_root_dir.parent / "outside.ipynb")
    for method, parts, body, params in _outside_requests(jp_root_dir):
        # When a request names a path outside the root
        code, reply = await api(method, *parts, body=body, params=params)
        # Then it is refused, and nothing was started or written outside
        assert code == 403, (method, parts, body, params, reply)
        assert "outside the server's root" in reply["message"]
    assert registry.runs == {}
    assert not (jp_root_dir.parent / "build").exists()


ROUTES = [
    ("POST", ("analyze",)), ("POST", ("compile",)), ("POST", ("runs",)), ("GET", ("runs",)),
    ("GET", ("runs", "active")), ("GET", ("runs", "some-run")), ("DELETE", ("runs", "some-run")), ("GET", ("runs", "a", "diff", "b")),
    ("GET", ("runs", "a", "steps", "s", "notebook")), ("GET", ("status",)), ("POST", ("status",)),
]


@pytest.mark.parametrize("method, parts", ROUTES)
async def test_every_endpoint_refuses_a_request_without_the_token(api, jp_root_dir, registry, method, parts):
    # Given a notebook the request could act on
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    body = {"path": "flow.ipynb"} if method == "POST" else None
    # When the request carries no token
    code, _ = await api(method, *parts, body=body, params={"path": "flow.ipynb"}, headers={"Authorization": ""})
    # Then it is refused and nothing happens
    assert code == 403
    assert registry.runs == {}
    assert not (jp_root_dir / "build").exists()


# -- compile -------------------------------------------------------------------


async def test_compile_writes_the_manifest_and_step_notebooks_under_the_root(api, jp_root_dir):
    # Given a tagged notebook
    write_notebook(jp_root_dir / "work" / "flow.ipynb", FLOW)
    # When it is compiled into a root-relative folder
    code, body = await api("POST", "compile", body={"path": "work/flow.ipynb", "output": "out/build"})
    # Then the manifest and one notebook per step are written there, named root-relative
    assert code == 200, body
    assert body["output"] == "out/build"
    assert body["files"] == ["out/build/pipeline.json", "out/build/steps/load.ipynb",
                             "out/build/steps/total.ipynb", "out/build/steps/double.ipynb"]
    assert all((jp_root_dir / f).is_file() for f in body["files"])


async def test_compile_defaults_to_build(api, jp_root_dir):
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    code, body = await api("POST", "compile", body={"path": "flow.ipynb"})
    assert code == 200, body
    assert body["output"] == "build" and (jp_root_dir / "build" / "pipeline.json").is_file()


async def test_compile_of_an_invalid_pipeline_is_400_with_its_diagnostics(api, jp_root_dir):
    # Given a notebook with an error
    write_notebook(jp_root_dir / "broken.ipynb", BROKEN)
    # When it is compiled
    code, body = await api("POST", "compile", body={"path": "broken.ipynb"})
    # Then nothing is written, and the answer names the problem
    assert code == 400
    assert "after:nowhere" in body["message"]
    assert [d["code"] for d in body["diagnostics"]] == ["CP104"]
    assert not (jp_root_dir / "build").exists()


@pytest.mark.parametrize("method, parts, body, params", [
    ("POST", ("compile",), {"path": "missing.ipynb"}, None),
    ("POST", ("runs",), {"path": "missing.ipynb"}, None),
    ("GET", ("status",), None, {"path": "missing.ipynb"}),
    ("GET", ("runs", "20990101-000000-0000"), None, None),
    ("DELETE", ("runs", "20990101-000000-0000"), None, None),
    ("GET", ("runs", "20990101-000000-0000", "diff", "20990101-000000-0001"), None, None),
    ("GET", ("runs", "20990101-000000-0000", "steps", "load", "notebook"), None, None),
])
async def test_missing_notebooks_and_runs_are_404(api, method, parts, body, params):
    code, reply = await api(method, *parts, body=body, params=params)
    assert code == 404, reply
    assert reply["message"]


# -- runs ----------------------------------------------------------------------


@pytest.mark.parametrize("value, accepted", [("123", True), (None, True), (123, False)])
async def test_an_optional_string_parameter_takes_text_that_looks_like_a_number(api, jp_root_dir, value, accepted):
    # Given a notebook with an optional string parameter
    write_notebook(jp_root_dir / "tagged.ipynb", [("tag: str | None = None", ("parameters",)),
                                                   ("label = str(tag)", ("step:label",))])
    # When the panel asks with the value the run form sends for what the user typed
    code, reply = await api("GET", "status", params={"path": "tagged.ipynb", "params": json.dumps({"tag": value})})
    # Then text (even "123") and null are taken; a number is refused, naming the types
    if accepted:
        assert code == 200, reply
    else:
        assert code == 400 and "expects string or null" in reply["message"], reply


@pytest.mark.parametrize("body, message", [
    ({"params": {"nope": 1}}, "unknown parameter 'nope'"),
    ({"params": {"n": "three"}}, "parameter 'n' of flow.ipynb expects integer"),
    ({"params": [1]}, "'params' must be an object"),
    ({"only": ["ghost"]}, "unknown step 'ghost'"),
    ({"from": "load"}, "'from' must be a list"),
    ({"force": "yes"}, "'force' must be true or false"),
])
async def test_a_bad_run_request_is_400_before_anything_starts(api, jp_root_dir, registry, body, message):
    # Given a tagged notebook
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    # When a run is asked for with bad input
    code, reply = await api("POST", "runs", body={"path": "flow.ipynb", **body})
    # Then it is refused with the reason, and no process was started
    assert code == 400
    assert message in reply["message"]
    assert registry.runs == {}


async def test_a_run_that_cannot_start_reads_as_failed_with_the_reason(api, jp_root_dir):
    # Given a store held by a run started outside the server (from a terminal)
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    store = Store(jp_root_dir / ".cellpipe")
    store.lock("from-a-terminal")
    try:
        # When a run is started through the API
        code, body = await api("POST", "runs", body={"path": "flow.ipynb"})
        assert code == 202, body
        detail = await wait_for_run(api, body["run_id"], finished, timeout=60)
    finally:
        store.close()
    # Then it failed before writing a record, and says why
    assert detail["run"]["state"] == "failed" and detail["steps"] == []
    assert "in use by run from-a-terminal" in detail["run"]["error"]
    code, runs = await api("GET", "runs", params={"path": "flow.ipynb"})
    assert [(r["id"], r["state"]) for r in runs["runs"]] == [(body["run_id"], "failed")]


@pytest.mark.kernel
async def test_a_run_completes_records_its_steps_and_a_second_run_is_cached(api, jp_root_dir):
    # Given a tagged notebook with three small steps
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    write_notebook(jp_root_dir / "other.ipynb", FLOW)

    # When a run is started through the API
    code, body = await api("POST", "runs", body={"path": "flow.ipynb", "params": {"n": 4}})
    assert code == 202, body
    first = body["run_id"]
    # Then it is visible at once, and finishes with every step done
    code, detail = await api("GET", "runs", first)
    assert code == 200 and detail["run"]["state"] in ("starting", "running", "succeeded")
    detail = await wait_for_run(api, first, finished)
    assert detail["run"]["state"] == "succeeded", json.dumps(detail)
    assert {s["step"]: s["state"] for s in detail["steps"]} == {"load": "done", "total": "done", "double": "done"}
    assert detail["run"]["params"] == {"flow.ipynb": {"n": 4}}
    assert detail["run"]["metrics"] == [{"step": "total", "name": "total", "value": 6}]
    load = next(s for s in detail["steps"] if s["step"] == "load")
    assert load["output_notebook"] == f".cellpipe/runs/{first}/load.ipynb"
    assert (jp_root_dir / load["output_notebook"]).is_file() and load["seconds"] > 0

    # ... its output notebooks can be read through the API (.cellpipe/ is hidden from the contents API)
    code, nb = await api("GET", "runs", first, "steps", "load", "notebook")
    assert code == 200 and nb["path"] == load["output_notebook"] and nb["content"]["cells"]

    # ... the analysis and the status show the steps' last states
    code, analysis = await api("POST", "analyze", body={"path": "flow.ipynb"})
    assert {k: (v["state"], v["run_id"]) for k, v in analysis["steps"].items()} == {
        "load": ("done", first), "total": ("done", first), "double": ("done", first)}
    code, status = await api("GET", "status", params={"path": "flow.ipynb", "params": json.dumps({"n": 4})})
    assert code == 200 and all(s["up_to_date"] for s in status["steps"]), status
    code, status = await api("GET", "status", params={"path": "flow.ipynb"})
    assert not status["steps"][0]["up_to_date"]
    assert status["steps"][0]["reason"] == "parameter n changed (4 -> 3)"

    # ... another notebook with the same step names has no states of its own
    code, analysis = await api("POST", "analyze", body={"path": "other.ipynb"})
    assert analysis["steps"] == {}

    # When the same run is started again
    code, body = await api("POST", "runs", body={"path": "flow.ipynb", "params": {"n": 4}})
    assert code == 202, body
    second = body["run_id"]
    detail = await wait_for_run(api, second, finished)
    # Then every step is cached from the first run, and links to the notebook that made its values
    assert detail["run"]["state"] == "succeeded", json.dumps(detail)
    assert {s["step"]: (s["state"], s["cached_from"]) for s in detail["steps"]} == {
        "load": ("cached", first), "total": ("cached", first), "double": ("cached", first)}
    assert {s["output_notebook"] for s in detail["steps"] if s["step"] == "load"} == {load["output_notebook"]}
    code, analysis = await api("POST", "analyze", body={"path": "flow.ipynb"})
    assert analysis["steps"]["load"] == {"state": "cached", "run_id": second, "error": None,
                                         "output_notebook": load["output_notebook"]}

    # ... both runs are listed for the notebook, newest first, and none for another
    code, runs = await api("GET", "runs", params={"path": "flow.ipynb"})
    assert [r["id"] for r in runs["runs"]] == [second, first]
    code, runs = await api("GET", "runs", params={"path": "other.ipynb"})
    assert runs["runs"] == []
    # ... and they do not differ
    code, diff = await api("GET", "runs", first, "diff", second)
    assert code == 200
    assert diff == {"a": first, "b": second, "params": {}, "metrics": {}, "artifacts": {}}


@pytest.mark.kernel
async def test_delete_cancels_a_running_run(api, jp_root_dir, registry):
    # Given a run whose step sleeps for 30 seconds
    write_notebook(jp_root_dir / "slow.ipynb", SLOW)
    code, body = await api("POST", "runs", body={"path": "slow.ipynb"})
    assert code == 202, body
    run_id = body["run_id"]
    await wait_for_run(api, run_id, lambda d: any(s["state"] == "running" for s in d["steps"]))

    # When another run is asked for meanwhile
    code, reply = await api("POST", "runs", body={"path": "slow.ipynb"})
    # Then it is refused: one run at a time per store
    assert code == 400 and run_id in reply["message"]

    # When the run is cancelled
    started = time.monotonic()
    code, body = await api("DELETE", "runs", run_id)
    assert code == 202, body
    # Then it ends interrupted, well before the step would have finished
    detail = await wait_for_run(api, run_id, finished, timeout=25)
    assert time.monotonic() - started < 25
    assert detail["run"]["state"] == "interrupted", detail
    assert [(s["step"], s["state"]) for s in detail["steps"]] == [("slow", "interrupted")]
    assert registry.get(run_id).process.returncode is not None
    # ... and it cannot be cancelled twice
    code, _ = await api("DELETE", "runs", run_id)
    assert code == 404


@pytest.mark.kernel
async def test_the_run_in_progress_for_a_notebook_is_found_again(api, jp_root_dir, registry):
    # Given a notebook with nothing running
    write_notebook(jp_root_dir / "slow.ipynb", SLOW)
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    code, body = await api("GET", "runs", "active", params={"path": "slow.ipynb"})
    assert (code, body) == (200, {"run": None})
    # When a run of it starts (as a reloaded page, or a second tab, would not know)
    code, body = await api("POST", "runs", body={"path": "slow.ipynb"})
    assert code == 202, body
    run_id = body["run_id"]
    await wait_for_run(api, run_id, lambda d: any(s["state"] == "running" for s in d["steps"]))
    # Then asking which run is in progress for the notebook finds it, with its live steps
    code, body = await api("GET", "runs", "active", params={"path": "slow.ipynb"})
    assert code == 200, body
    assert body["run"]["run"]["id"] == run_id and body["run"]["active"] is True
    assert [(s["step"], s["state"]) for s in body["run"]["steps"]] == [("slow", "running")]
    # ... and so does a registry that did not start it (a restarted server), from the store
    registry.projects.clear()
    live = registry.runs.pop(run_id)
    try:
        code, body = await api("GET", "runs", "active", params={"path": "slow.ipynb"})
        assert code == 200 and body["run"]["run"]["id"] == run_id, body
    finally:
        registry.runs[run_id] = live
    # ... but not for another notebook
    code, body = await api("GET", "runs", "active", params={"path": "flow.ipynb"})
    assert (code, body) == (200, {"run": None})
    # When the run is cancelled and has stopped, nothing is in progress any more
    code, _ = await api("DELETE", "runs", run_id)
    assert code == 202
    await wait_for_run(api, run_id, finished, timeout=25)
    code, body = await api("GET", "runs", "active", params={"path": "slow.ipynb"})
    assert (code, body) == (200, {"run": None})


async def test_the_run_in_progress_needs_a_notebook(api):
    code, body = await api("GET", "runs", "active")
    assert code == 400 and "path" in body["message"]
