"""The server's REST API against generated requests: whatever a client sends,
the answer is 2xx or 4xx with an IError body, never a 500.

Hypothesis runs in a worker thread (its test function is synchronous) while the
server runs on the test's event loop. Runs are only requested in ways that must
be refused (a missing or damaged notebook, an unknown parameter): starting
kernels is the runner's tests' business.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import fuzz_profiles
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nb_strategies import PATHS, json_values, notebook_files, notebooks

pytest_plugins = ["pytest_jupyter.jupyter_server"]

SAVED = "fz/saved.ipynb"
WEIRD = ["", " ", "missing.ipynb", "../outside.ipynb", "/etc/passwd", "loop.ipynb", "fz", "fz/", ".", "..",
         "a" * 300 + ".ipynb", "x/" * 200 + "nb.ipynb", "nb\x00.ipynb", "%2e%2e/x", "\ud800.ipynb", "C:\\x.ipynb",
         *PATHS]
path_values = st.one_of(st.just(SAVED), st.sampled_from(WEIRD), st.text(max_size=20), json_values)
text_args = st.one_of(st.sampled_from(["0", "-1", "1", "100", str(10**30), "9" * 5000, "²", "1.5", "", "nan",
                                       "{}", "[]", '{"n": 1}', "{" * 3000]), st.text(max_size=20))


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, tuple[str, ...], str | None, dict[str, str] | None]:
    """(method, path parts under /cellpipe, body, query arguments)."""
    kind = draw(st.integers(0, 10))
    if kind == 10:  # export: kinds, outputs and images of every sort (the compiled pipeline is not run)
        body = {"path": draw(path_values), "kind": draw(st.sampled_from(["kfp", "argo", "KFP", ""]) | json_values),
                "output": draw(path_values | st.none()), "image": draw(st.text(max_size=30) | json_values)}
        return "POST", ("export",), draw(raw_bodies(body)), None
    if kind <= 2:  # analyze, unsaved content or saved file
        body: Any = {"path": draw(path_values)}
        if draw(st.booleans()):
            body["content"] = draw(notebooks() | json_values)
        return "POST", ("analyze",), draw(raw_bodies(body)), None
    if kind == 3:
        body = {"path": draw(path_values), "output": draw(path_values)}
        return "POST", ("compile",), draw(raw_bodies(body)), None
    if kind == 4:  # a run that must be refused
        body = {"path": draw(st.sampled_from(WEIRD)), "params": draw(json_values), "force": draw(json_values),
                "only": draw(json_values), "from": draw(json_values)}
        if draw(st.booleans()):
            body = {"path": SAVED, "params": {"zz_no_such_parameter": 1}}
        return "POST", ("runs",), draw(raw_bodies(body)), None
    if kind == 5:
        params = draw(st.dictionaries(st.sampled_from(["limit", "path"]), text_args, max_size=2))
        return "GET", ("runs",), None, params
    if kind == 6:
        params = draw(st.dictionaries(st.sampled_from(["path", "params"]), text_args | st.just(SAVED), max_size=2))
        return "GET", ("status",), None, params
    run_id = draw(st.text(min_size=1, max_size=12) | st.sampled_from(["latest", "..", "0" * 40]))
    if kind == 7:
        return draw(st.sampled_from(["GET", "DELETE"])), ("runs", run_id), None, None
    if kind == 8:
        return "GET", ("runs", run_id, "diff", draw(st.text(min_size=1, max_size=12))), None, None
    return "GET", ("runs", run_id, "steps", draw(st.text(min_size=1, max_size=12)), "notebook"), None, None


@st.composite
def raw_bodies(draw: st.DrawFn, body: Any) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.text(max_size=40))
    if kind == 1:
        return '{"path": ' + "[" * draw(st.integers(500, 20_000)) + "]}"
    if kind == 2:
        return '{"path": "nb.ipynb", "n": ' + "9" * 5000 + "}"
    if kind == 3:
        return json.dumps(draw(json_values))
    return json.dumps(body)


async def test_the_server_answers_anything_with_2xx_or_4xx(jp_fetch, jp_root_dir, jp_serverapp):
    loop = asyncio.get_running_loop()
    root = Path(jp_root_dir)
    (root / "fz").mkdir()
    (root / "loop.ipynb").symlink_to(root / "loop2.ipynb")
    (root / "loop2.ipynb").symlink_to(root / "loop.ipynb")

    def fetch(method: str, parts: tuple[str, ...], body: str | None, params: dict[str, str] | None):
        async def call():
            kwargs: dict[str, Any] = {"method": method, "raise_error": False}
            if body is not None or method == "POST":
                kwargs["body"] = body.encode("utf-8", "surrogatepass") if body is not None else b""
            response = await jp_fetch("cellpipe", *parts, params=params, **kwargs)
            return response.code, response.body

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=120)

    @settings(max_examples=fuzz_profiles.examples(20, 1_000),
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(saved=notebook_files(), request=requests())
    def check(saved: bytes, request) -> None:
        (root / SAVED).write_bytes(saved)
        method, parts, body, params = request
        code, reply = fetch(method, parts, body, params)
        assert code < 500, (code, reply[:2000])
        if code >= 400:
            assert json.loads(reply)["message"], reply

    try:
        await asyncio.to_thread(check)
    finally:
        jp_serverapp.web_app.settings["cellpipe_runs"].stop_all()


@pytest.mark.parametrize(("method", "parts", "body", "params", "status"), [
    ("POST", ("analyze",), '{"path": ' + "[" * 100_000 + "]}", None, 400),
    ("POST", ("analyze",), '{"path": "nb.ipynb", "n": ' + "9" * 5000 + "}", None, 400),
    ("POST", ("analyze",), '{"path": "loop.ipynb"}', None, 404),
    ("POST", ("analyze",), json.dumps({"path": "a" * 300 + ".ipynb"}), None, 404),
    ("GET", ("status",), None, {"path": "loop.ipynb"}, 404),
    ("GET", ("status",), None, {"path": "x", "params": "[" * 5_000}, 400),
    ("GET", ("runs",), None, {"limit": str(10**30)}, 200),
    ("GET", ("runs",), None, {"limit": "9" * 5000}, 200),
    ("GET", ("runs",), None, {"limit": "²"}, 400),
    ("POST", ("compile",), '{"path": "x/\\ud800/nb.ipynb", "output": "build"}', None, 400),
    ("POST", ("analyze",), '{"path": "\\ud800.ipynb"}', None, 400),
    ("POST", ("export",), json.dumps({"path": "loop.ipynb", "kind": "kfp"}), None, 404),
    ("POST", ("export",), json.dumps({"path": "x.ipynb", "kind": ["kfp"]}), None, 400),
    ("POST", ("export",), '{"path": "x.ipynb", "kind": "argo", "n": ' + "9" * 5000 + "}", None, 400),
])
async def test_inputs_that_once_gave_a_500(jp_fetch, jp_root_dir, method, parts, body, params, status):
    root = Path(jp_root_dir)
    (root / "loop.ipynb").symlink_to(root / "loop2.ipynb")
    (root / "loop2.ipynb").symlink_to(root / "loop.ipynb")
    kwargs: dict[str, Any] = {"method": method, "raise_error": False}
    if body is not None:
        kwargs["body"] = body
    response = await jp_fetch("cellpipe", *parts, params=params, **kwargs)
    assert response.code == status, response.body[:500]
    if status >= 400:
        assert json.loads(response.body)["message"]
