"""The panel's Export menu over the REST API (POST /cellpipe/export), through a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import write_notebook

pytest_plugins = ["pytest_jupyter.jupyter_server"]
pytest.importorskip("kfp", reason="install cellpipe[kfp]")
pytest.importorskip("hera", reason="install cellpipe[argo]")

FLOW = [
    ("n = 3", ("parameters",)),
    ("values = list(range(n))", ("step:load",)),
    ("total = sum(values)", ("step:total", "metrics")),
]


async def post(jp_fetch, body: dict) -> tuple[int, dict]:
    response = await jp_fetch("cellpipe", "export", method="POST", body=json.dumps(body), raise_error=False)
    return response.code, json.loads(response.body.decode())


async def test_export_writes_the_file_under_the_root_and_says_where(jp_fetch, jp_root_dir: Path) -> None:
    # Given a tagged notebook in a folder of the server's root
    write_notebook(jp_root_dir / "nb" / "flow.ipynb", FLOW)
    # When the panel asks for each export
    code, kfp_reply = await post(jp_fetch, {"path": "nb/flow.ipynb", "kind": "kfp"})
    assert code == 200, kfp_reply
    code, argo_reply = await post(jp_fetch, {"path": "nb/flow.ipynb", "kind": "argo", "output": "out/wf.yaml",
                                             "image": "registry.local/cp:1"})
    assert code == 200, argo_reply
    # Then the files are where the replies say, relative to the root
    assert kfp_reply == {"path": "build/flow.kfp.yaml", "kind": "kfp", "steps": 2, "parameters": ["n"], "notes": []}
    assert argo_reply["path"] == "out/wf.yaml" and argo_reply["steps"] == 2
    spec = next(yaml.safe_load_all((jp_root_dir / "build" / "flow.kfp.yaml").read_text()))
    assert set(spec["root"]["dag"]["tasks"]) == {"load", "total"}
    workflow = yaml.safe_load((jp_root_dir / "out" / "wf.yaml").read_text())
    assert {t["container"]["image"] for t in workflow["spec"]["templates"] if "container" in t} == {
        "registry.local/cp:1"}


async def test_export_refuses_an_unknown_kind_a_path_outside_the_root_and_a_broken_notebook(
    jp_fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "flow.ipynb", FLOW)
    write_notebook(jp_root_dir / "bad.ipynb", [("x = 1", ("step:a", "after:nowhere"))])
    code, reply = await post(jp_fetch, {"path": "flow.ipynb", "kind": "airflow"})
    assert code == 400 and "unknown exporter 'airflow'" in reply["message"]
    code, reply = await post(jp_fetch, {"path": "flow.ipynb", "kind": "kfp", "output": "../escape.yaml"})
    assert code == 403
    code, reply = await post(jp_fetch, {"path": "bad.ipynb", "kind": "argo"})
    assert code == 400 and reply["diagnostics"][0]["notebook"] == "bad.ipynb"
    assert not (jp_root_dir / "build").exists()
