"""``POST /cellpipe/status``: whether each step is stale, for the notebook as the
editor holds it (unsaved content) and against the parameters of the last run,
as the panel shows it. A real server (pytest-jupyter) and real runs (kernels).
"""

from __future__ import annotations

import json

import pytest

from conftest import write_notebook
from test_server import finished, wait_for_run

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FLOW = [
    ("n = 3", ("parameters",)),
    ("values = list(range(n))", ("step:load",)),
    ("total = sum(values)", ("step:total",)),
]


def stale(reply: dict) -> dict[str, str]:
    return {s["step"]: s["reason"] for s in reply["steps"] if not s["up_to_date"]}


@pytest.mark.kernel
async def test_status_of_the_unsaved_notebook_against_the_last_runs_parameters(api, jp_root_dir):
    # Given a pipeline run once with n=5 (its default is 3)
    path = write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    code, body = await api("POST", "runs", body={"path": "flow.ipynb", "params": {"n": 5}})
    assert code == 202, body
    assert (await wait_for_run(api, body["run_id"], finished))["run"]["state"] == "succeeded"
    content = json.loads(path.read_text())

    # When the panel asks with the last run's parameters: nothing is stale
    code, reply = await api("POST", "status", body={"path": "flow.ipynb", "content": content, "params": {"n": 5}})
    assert code == 200, reply
    assert stale(reply) == {}
    # ... against the defaults, both steps are, and the reason names the parameter
    code, reply = await api("POST", "status", body={"path": "flow.ipynb", "content": content})
    assert stale(reply) == {"load": "parameter n changed (5 -> 3)", "total": "upstream step load is stale"}

    # When the editor changes a step's code without saving: that step (and what follows) is stale
    content["cells"][2]["source"] = "total = sum(values) + 1"
    code, reply = await api("POST", "status", body={"path": "flow.ipynb", "content": content, "params": {"n": 5}})
    assert code == 200 and list(stale(reply)) == ["total"], reply

    # When the unsaved notebook has an error, the status is refused with its diagnostics...
    content["cells"][2]["metadata"]["tags"] = ["step:total", "after:nowhere"]
    code, reply = await api("POST", "status", body={"path": "flow.ipynb", "content": content, "params": {"n": 5}})
    assert code == 400 and [d["code"] for d in reply["diagnostics"]] == ["CP104"], reply
    # ... and once fixed (still unsaved), the stale flags are back
    content["cells"][2]["metadata"]["tags"] = ["step:total"]
    code, reply = await api("POST", "status", body={"path": "flow.ipynb", "content": content, "params": {"n": 5}})
    assert code == 200 and list(stale(reply)) == ["total"], reply
    # The saved file was never touched
    assert "".join(json.loads(path.read_text())["cells"][2]["source"]) == "total = sum(values)"


async def test_status_refuses_bad_params_and_paths_outside_the_root(api, jp_root_dir):
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    code, reply = await api("POST", "status", body={"path": "flow.ipynb", "params": [1]})
    assert code == 400 and "'params' must be a JSON object" in reply["message"]
    code, reply = await api("POST", "status", body={"path": "../outside.ipynb", "content": {"cells": []}})
    assert code == 403, reply


def test_the_package_scan_is_kept_in_the_process_and_still_written_to_a_new_store(tmp_path):
    # The status is asked after every edit; before the first run there is no store to cache the scan
    from cellpipe.engine import environment

    first = environment.installed(None)
    assert "ipykernel" in first["versions"]
    # A store created later still gets its cache file, from the scan kept in the process
    cache = tmp_path / "environment.json"
    assert environment.installed(cache) == first
    assert json.loads(cache.read_text())["installed"] == first
