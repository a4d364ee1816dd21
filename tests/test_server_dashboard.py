"""The runs dashboard's endpoints through a real server (pytest-jupyter): the
runs table with parameters, metrics, checks and sweeps; runs side by side; the
lineage of an artifact and of a file. Runs are real (kernels): marked ``kernel``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import write_notebook
from test_server import finished, wait_for_run

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FLOW = [
    ("n = 3", ("parameters",)),
    ("values = list(range(n))", ("step:load",)),
    ("total = sum(values)\nopen('total.txt', 'w').write(str(total))", ("step:total", "out:total.txt")),
    ("total", ("metrics",)),
]


def cli(root, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.kernel
async def test_the_dashboard_lists_runs_with_params_metrics_and_sweeps_compares_and_traces(api, jp_root_dir):
    # Given a pipeline run once through the API (n=4) and swept from the command line over n=2,5
    write_notebook(jp_root_dir / "flow" / "flow.ipynb", FLOW)
    write_notebook(jp_root_dir / "other" / "other.ipynb", FLOW)
    code, body = await api("POST", "runs", body={"path": "flow/flow.ipynb", "params": {"n": 4}})
    assert code == 202, body
    single = body["run_id"]
    assert (await wait_for_run(api, single, finished))["run"]["state"] == "succeeded"
    swept = cli(jp_root_dir / "flow", "sweep", "flow.ipynb", "-p", "n=2,5", "--json")
    assert swept.returncode == 0, swept.stderr
    sweep_id = json.loads(swept.stdout)["sweep"]
    # ... and another pipeline in another folder, run from the command line
    assert cli(jp_root_dir / "other", "run", "other.ipynb").returncode == 0

    # When the dashboard of the pipeline is asked for
    code, board = await api("GET", "dashboard", params={"path": "flow/flow.ipynb"})
    # Then it has the three runs, newest first, with their parameters, metrics and sweep
    assert code == 200, board
    assert board["scope"] == "pipeline"
    runs = board["runs"]
    assert len(runs) == 3
    assert runs[-1]["run"]["id"] == single and runs[-1]["sweep"] is None
    by_n = {r["run"]["params"]["flow.ipynb"]["n"]: r for r in runs}
    assert sorted(by_n) == [2, 4, 5]
    assert {n: [m["value"] for m in r["run"]["metrics"]] for n, r in by_n.items()} == {2: [1], 4: [6], 5: [10]}
    assert {n: (r["sweep"], r["trial"]) for n, r in by_n.items()} == {
        2: (sweep_id, 0), 4: (None, None), 5: (sweep_id, 1)}
    assert [(s["id"], s["kind"], s["trials"]) for s in board["sweeps"]] == [(sweep_id, "grid", 2)]
    assert all(r["project"] == "flow" and r["run"]["state"] == "succeeded" for r in runs)

    # When every pipeline under the root is asked for
    code, everything = await api("GET", "dashboard", params={"scope": "all"})
    # Then the other folder's run is there too
    assert code == 200
    assert sorted(r["project"] for r in everything["runs"]) == ["flow", "flow", "flow", "other"]
    assert everything["scope"] == "all"

    # When three runs are compared
    ids = [by_n[2]["run"]["id"], by_n[4]["run"]["id"], by_n[5]["run"]["id"]]
    code, compared = await api("GET", "compare", params=[("run", i) for i in ids])
    # Then each parameter, metric and artifact has one value per run, flagged where they differ
    assert code == 200, compared
    assert [r["id"] for r in compared["runs"]] == ids
    assert compared["params"] == [{"name": "flow.ipynb:n", "values": [2, 4, 5], "changed": True}]
    assert compared["metrics"] == [{"name": "total.total", "values": [1, 6, 10], "changed": True}]
    arts = {(a["step"], a["kind"], a["name"]): a for a in compared["artifacts"]}
    assert arts[("total", "file", "total.txt")]["changed"] is True
    assert all(v is not None and len(v["hash"]) > 10 for v in arts[("total", "file", "total.txt")]["values"])
    # ... and the same run twice differs nowhere
    code, same = await api("GET", "compare", params=[("run", single), ("run", single)])
    assert code == 200 and not any(r["changed"] for r in same["params"] + same["metrics"] + same["artifacts"])

    # When a run's artifacts are listed and one is traced
    code, listed = await api("GET", "runs", single, "artifacts")
    assert code == 200
    assert ("total", "file", "total.txt") in {(a["step"], a["kind"], a["name"]) for a in listed["artifacts"]}
    code, traced = await api("GET", "trace", params={"run": single, "step": "total", "name": "total.txt"})
    # Then the lineage names the run, the step, its code key, parameters and inputs
    assert code == 200, traced
    assert (traced["run"], traced["step"], traced["notebook"]) == (single, "total", "flow.ipynb")
    assert traced["code_key"] and traced["code_cells"]
    assert "values" in (traced["input_variables"] or {})
    assert traced["hash"] == arts[("total", "file", "total.txt")]["values"][1]["hash"]

    # When the file on disk is traced (the last sweep trial wrote it: n=5)
    code, traced = await api("GET", "trace", params={"path": "flow/total.txt"})
    assert code == 200, traced
    assert traced["run"] == by_n[5]["run"]["id"] and traced["path"] == "flow/total.txt"
    assert traced["output_notebook"] and traced["output_notebook"].startswith("flow/.cellpipe/")

    # A file no run made, an unknown run or step, and a bad compare are refused with the reason
    (jp_root_dir / "flow" / "notes.txt").write_text("mine")
    code, reply = await api("GET", "trace", params={"path": "flow/notes.txt"})
    assert code == 404 and "no recorded run produced" in reply["message"]
    code, reply = await api("GET", "trace", params={"run": single, "step": "nowhere"})
    assert code == 404 and "has no step 'nowhere'" in reply["message"]
    code, reply = await api("GET", "compare", params=[("run", single)])
    assert code == 400 and "2 to" in reply["message"]
    code, reply = await api("GET", "compare", params=[("run", single), ("run", "no-such-run")])
    assert code == 404


async def test_the_dashboard_endpoints_refuse_paths_outside_the_root_and_requests_without_a_token(
        api, jp_root_dir):
    # Given a notebook outside the root
    write_notebook(jp_root_dir.parent / "outside.ipynb", FLOW)
    (jp_root_dir.parent / "outside.txt").write_text("x")
    for parts, params in ((("dashboard",), {"path": "../outside.ipynb"}),
                          (("trace",), {"path": "../outside.txt"}),
                          (("trace",), {"path": str(jp_root_dir.parent / "outside.txt")})):
        # When a request names it: Then it is refused
        code, reply = await api("GET", *parts, params=params)
        assert code == 403, (parts, reply)
    for parts, params in ((("dashboard",), None), (("compare",), [("run", "a"), ("run", "b")]),
                          (("runs", "a", "artifacts"), None), (("trace",), {"run": "a", "step": "s"})):
        code, _ = await api("GET", *parts, params=params, headers={"Authorization": ""})
        assert code == 403, parts
    # ... and with nothing run yet, the dashboard is empty rather than an error
    code, board = await api("GET", "dashboard", params={"scope": "all"})
    assert code == 200 and board == {"scope": "all", "runs": [], "sweeps": []}
    code, reply = await api("GET", "dashboard", params={"scope": "everything"})
    assert code == 400
