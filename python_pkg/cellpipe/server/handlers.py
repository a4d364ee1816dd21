"""The REST API under ``<base_url>/cellpipe/``: thin, authenticated handlers
over the library. Paths are relative to the server's root; anything outside it
is refused. Every body, request and reply, is JSON.

Endpoints
=========

``POST   /cellpipe/analyze``                  {path, content?}           -> 200 IAnalyzeResponse
``POST   /cellpipe/compile``                  {path, output?="build"}    -> 200 ICompileResponse
``POST   /cellpipe/export``                   {path, kind: "kfp"|"argo", output?, image?} -> 200 IExportResponse
``POST   /cellpipe/runs``                     {path, params?, force?, only?, from?} -> 202 IRunStarted
``GET    /cellpipe/runs[?path=P&limit=N]``                               -> 200 IRunsResponse
``GET    /cellpipe/runs/active?path=P``                                  -> 200 IActiveRun
``GET    /cellpipe/runs/<id>``                                           -> 200 IRunDetail
``DELETE /cellpipe/runs/<id>``                                           -> 202 {run_id}
``GET    /cellpipe/runs/<a>/diff/<b>``                                   -> 200 IRunDiff
``GET    /cellpipe/runs/<id>/steps/<step>/notebook``                     -> 200 IStepNotebook
``GET    /cellpipe/status?path=P[&params=JSON]``                         -> 200 IStatusResponse
``POST   /cellpipe/status``                   {path, content?, params?}  -> 200 IStatusResponse
``GET    /cellpipe/dashboard[?path=P&scope=all&limit=N]``                -> 200 IDashboard
``GET    /cellpipe/compare?run=A&run=B[&run=C...]``                      -> 200 ICompareResponse
``GET    /cellpipe/runs/<id>/artifacts``                                 -> 200 IRunArtifacts
``GET    /cellpipe/trace?run=ID&step=S[&name=N&kind=K]`` or ``?path=P``  -> 200 ITrace

Errors: 400 (bad JSON, bad input, a CellpipeError such as an invalid pipeline or
an unknown parameter), 403 (a path outside the root, or no token), 404 (no such
notebook or run). Their body is IError; 500 only for cellpipe's own bugs.

Wire types
==========

Declared once per side with the same names: :mod:`cellpipe.server.wire` (Python
TypedDicts) and ``labextension/src/tokens.ts`` (TypeScript interfaces);
``tests/test_wire.py`` fails when the two drift apart.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from cellpipe.errors import CellpipeError
from cellpipe.server.dashboard import compare, dashboard, run_artifacts, trace_artifact, trace_file
from cellpipe.server.export import export_pipeline
from cellpipe.server.notebooks import analyze, compile_build, step_status
from cellpipe.server.paths import NotFound, PathOutsideRoot
from cellpipe.server.runs import RunRegistry, RunRequest

T = TypeVar("T")


class BadRequest(CellpipeError):
    """The request body or a query argument is not what the endpoint takes."""


def error_status(exc: BaseException) -> int | None:
    """The HTTP status for a domain error; None for anything else (a bug: 500)."""
    if isinstance(exc, PathOutsideRoot):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, CellpipeError):
        return 400
    return None


def domain_errors(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Answer a domain error with its status and an IError body, never a 500."""

    @functools.wraps(method)
    async def wrapper(self: CellpipeHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except Exception as exc:
            status = error_status(exc)
            if status is None:
                raise
            body: dict[str, Any] = {"message": str(exc)}
            diagnostics = getattr(exc, "diagnostics", None)
            if diagnostics is not None:
                body["diagnostics"] = [d.to_dict() for d in diagnostics]
            self.log.info("cellpipe: %s %s -> %s: %s", self.request.method, self.request.path, status, exc)
            self.reply(body, status)

    return wrapper


def positive_int(text: str, name: str) -> int:
    """A query argument that must be a positive whole number."""
    try:
        value = int(text) if text.isascii() and text.isdigit() else 0
    except ValueError:  # more digits than Python converts: as good as no limit
        value = sys.maxsize
    if value < 1:
        raise BadRequest(f"{name!r} must be a positive whole number")
    return value


class CellpipeHandler(APIHandler):
    """Shared plumbing: the root, the run registry, JSON in and out."""

    @property
    def root(self) -> Path:
        return self.settings["cellpipe_root"]

    @property
    def registry(self) -> RunRegistry:
        return self.settings["cellpipe_runs"]

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the request body is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise BadRequest("the request body is JSON nested too deeply") from exc
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        return data

    def query_json(self, name: str) -> Any:
        text = self.get_query_argument(name, None)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise BadRequest(f"the {name!r} argument is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise BadRequest(f"the {name!r} argument is JSON nested too deeply") from exc

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, default=str))

    async def blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Compiling, hashing and SQLite reads run off the event loop."""
        return await asyncio.to_thread(fn, *args)


class AnalyzeHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def post(self) -> None:
        body = self.body()
        self.reply(await self.blocking(analyze, self.root, body.get("path"), body.get("content")))


class CompileHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def post(self) -> None:
        body = self.body()
        self.reply(await self.blocking(compile_build, self.root, body.get("path"), body.get("output") or "build"))


class ExportHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def post(self) -> None:
        body = self.body()
        self.reply(await self.blocking(export_pipeline, self.root, body.get("path"), body.get("kind"),
                                       body.get("output"), body.get("image")))


class RunsHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self) -> None:
        limit = positive_int(self.get_query_argument("limit", "100"), "limit")
        self.reply(await self.blocking(self.registry.list, self.get_query_argument("path", None), limit))

    @tornado.web.authenticated
    @domain_errors
    async def post(self) -> None:
        request = RunRequest.from_json(self.body())
        run_id = await self.blocking(self.registry.start, request)
        self.reply({"run_id": run_id}, 202)


class ActiveRunHandler(CellpipeHandler):
    """Which run is in progress for a notebook: the panel re-attaches to it after a
    reload, a notebook switch, or in a second browser tab."""

    @tornado.web.authenticated
    @domain_errors
    async def get(self) -> None:
        path = self.get_query_argument("path", None)
        if path is None:
            raise BadRequest("name the notebook: runs/active?path=NOTEBOOK")
        self.reply(await self.blocking(self.registry.in_progress, path))


class RunHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self, run_id: str) -> None:
        self.reply(await self.blocking(self.registry.detail, run_id))

    @tornado.web.authenticated
    @domain_errors
    async def delete(self, run_id: str) -> None:
        self.registry.cancel(run_id)
        self.reply({"run_id": run_id}, 202)


class DiffHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self, a: str, b: str) -> None:
        self.reply(await self.blocking(self.registry.diff, a, b))


class StepNotebookHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self, run_id: str, step: str) -> None:
        self.reply(await self.blocking(self.registry.step_notebook, run_id, step))


class StatusHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self) -> None:
        params = self.query_json("params")
        if params is not None and not isinstance(params, dict):
            raise BadRequest("'params' must be a JSON object of NAME: VALUE")
        self.reply(await self.blocking(step_status, self.root, self.get_query_argument("path", None), params))

    @tornado.web.authenticated
    @domain_errors
    async def post(self) -> None:
        """The status of the editor's unsaved notebook (``content``), against ``params``."""
        body = self.body()
        params = body.get("params")
        if params is not None and not isinstance(params, dict):
            raise BadRequest("'params' must be a JSON object of NAME: VALUE")
        self.reply(await self.blocking(step_status, self.root, body.get("path"), params, body.get("content")))


class DashboardHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self) -> None:
        scope = self.get_query_argument("scope", "pipeline")
        if scope not in ("pipeline", "all"):
            raise BadRequest("'scope' must be 'pipeline' or 'all'")
        limit = positive_int(self.get_query_argument("limit", "500"), "limit")
        self.reply(await self.blocking(dashboard, self.registry, self.get_query_argument("path", None),
                                       scope == "all", limit))


class CompareHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self) -> None:
        self.reply(await self.blocking(compare, self.registry, self.get_query_arguments("run")))


class ArtifactsHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self, run_id: str) -> None:
        self.reply(await self.blocking(run_artifacts, self.registry, run_id))


class TraceHandler(CellpipeHandler):
    @tornado.web.authenticated
    @domain_errors
    async def get(self) -> None:
        path = self.get_query_argument("path", None)
        if path is not None:
            self.reply(await self.blocking(trace_file, self.registry, path))
            return
        run_id, step = self.get_query_argument("run", None), self.get_query_argument("step", None)
        if not run_id or not step:
            raise BadRequest("trace takes ?path=FILE, or ?run=RUN&step=STEP[&name=ARTIFACT]")
        self.reply(await self.blocking(trace_artifact, self.registry, run_id, step,
                                       self.get_query_argument("name", None), self.get_query_argument("kind", None)))


class UnknownRouteHandler(CellpipeHandler):
    """Any other path under /cellpipe/: a JSON 404 naming the path, like every other error."""

    async def _unknown(self, path: str) -> None:
        raise NotFound(f"no cellpipe endpoint {self.request.method} /cellpipe/{path}")

    @tornado.web.authenticated
    @domain_errors
    async def get(self, path: str) -> None:
        await self._unknown(path)

    @tornado.web.authenticated
    @domain_errors
    async def post(self, path: str) -> None:
        await self._unknown(path)

    @tornado.web.authenticated
    @domain_errors
    async def put(self, path: str) -> None:
        await self._unknown(path)

    @tornado.web.authenticated
    @domain_errors
    async def delete(self, path: str) -> None:
        await self._unknown(path)


ROUTES: list[tuple[str, type[CellpipeHandler]]] = [
    (r"/cellpipe/analyze", AnalyzeHandler),
    (r"/cellpipe/compile", CompileHandler),
    (r"/cellpipe/export", ExportHandler),
    (r"/cellpipe/runs", RunsHandler),
    (r"/cellpipe/runs/active", ActiveRunHandler),  # before runs/<id>
    (r"/cellpipe/runs/([^/]+)", RunHandler),
    (r"/cellpipe/runs/([^/]+)/diff/([^/]+)", DiffHandler),
    (r"/cellpipe/runs/([^/]+)/steps/([^/]+)/notebook", StepNotebookHandler),
    (r"/cellpipe/runs/([^/]+)/artifacts", ArtifactsHandler),
    (r"/cellpipe/dashboard", DashboardHandler),
    (r"/cellpipe/compare", CompareHandler),
    (r"/cellpipe/trace", TraceHandler),
    (r"/cellpipe/status", StatusHandler),
    (r"/cellpipe/(.*)", UnknownRouteHandler),  # last: anything else under /cellpipe/
]


def setup_handlers(web_app: tornado.web.Application, root: Path, registry: RunRegistry) -> None:
    web_app.settings["cellpipe_root"] = root
    web_app.settings["cellpipe_runs"] = registry
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [(url_path_join(base_url, pattern), handler) for pattern, handler in ROUTES])
