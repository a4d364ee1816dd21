"""Stores anywhere and a shared cache across machines, against a real S3 endpoint:
moto's standalone server on 127.0.0.1, reached through s3fs as a user's s3:// URL is.

The commands run as a user runs them (``python -m cellpipe.cli`` in a process of its
own), so each checkout has its own folder, HOME and USER; when the tests run as root,
one checkout also runs as another real user (uid ``nobody``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellpipe.engine.store import open_storage, redact
from cellpipe.engine.store.backend import redact_argv
from cellpipe.engine.store.objects import CorruptObject, ObjectStore
from conftest import write_notebook

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_notebooks" / "breast_cancer.ipynb"
PACKAGE = REPO / "python_pkg"
#: dummy credentials moto accepts; they exist only in the environment of these tests' processes
ACCESS_KEY = "AKIACELLPIPETEST0001"
SECRET_KEY = "cellpipe-test-secret-" + secrets.token_hex(8)

SMALL = [
    ("import json\nimport os", ("imports",)),
    ("n = 3", ("parameters",)),
    ("values = list(range(1, n + 1))", ("step:load",)),
    ("os.makedirs('out', exist_ok=True)\nwith open('out/total.json', 'w') as fh:\n"
     "    json.dump(sum(values), fh)", ("step:total", "out:out/total.json")),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint (moto's server, over HTTP) on a free port of 127.0.0.1."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request in the test log
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The variables an s3fs user sets, pointing at the endpoint (for this test only)."""
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    """A fresh bucket on the endpoint."""
    import s3fs

    name = f"cellpipe-{secrets.token_hex(4)}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_env["AWS_ENDPOINT_URL"]}, skip_instance_cache=True)
    fs.mkdir(name)
    return name


def cellpipe(cwd: Path, *args: str, env: dict[str, str] | None = None, home: Path | None = None,
             user: str = "", uid: int | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m cellpipe.cli ARGS`` in ``cwd``, as a user would start it."""
    full = {**os.environ, "PYTHONPATH": str(PACKAGE), **(env or {})}
    if home is not None:
        full["HOME"] = str(home)
        full["JUPYTER_RUNTIME_DIR"] = str(home / "runtime")
    if user:
        full["USER"] = full["LOGNAME"] = user
    cmd = [sys.executable, "-m", "cellpipe.cli", *args]
    if uid is not None:
        cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *cmd]
    return subprocess.run(cmd, cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout)


def checkout(folder: Path, notebook: Path = EXAMPLE) -> Path:
    """A fresh copy of the project in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, folder / notebook.name)
    return folder


def steps_of(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {s["step"]: s for s in json.loads(proc.stdout)["steps"]}


def recorded_states(store_db: Path, run_id: str) -> dict[str, tuple[str, str | None]]:
    """Each step's state and cache key as the store recorded them (read straight from SQLite)."""
    with sqlite3.connect(store_db) as conn:
        rows = conn.execute("SELECT step, state, key FROM step_runs WHERE run_id=?", (run_id,)).fetchall()
    return {step: (state, key) for step, state, key in rows}


# -- the storage on S3 ------------------------------------------------------------------------


def test_objects_on_s3_are_written_whole_and_refused_when_corrupt(tmp_path: Path, bucket: str) -> None:
    storage = open_storage(f"s3://{bucket}/store", check=True)
    objects = ObjectStore(storage)
    src = tmp_path / "data.bin"
    src.write_bytes(b"x" * 70_000)
    digest = objects.put_file(src)
    assert objects.has(digest, 70_000)
    assert list(storage.keys("objects")) == [objects.key(digest)]  # no temporary key left
    dest = tmp_path / "back.bin"
    objects.materialize(digest, dest)
    assert dest.read_bytes() == src.read_bytes()
    # When the object's bytes change on S3 behind cellpipe's back
    storage.fs.pipe_file(f"{storage.base}/{objects.key(digest)}", b"y" * 70_000)
    # Then it is named as corrupt and never handed on; the local copy is untouched
    with pytest.raises(CorruptObject, match=f"s3://{bucket}/store/objects/"):
        objects.materialize(digest, dest)
    assert dest.read_bytes() == src.read_bytes()


def test_urls_and_command_lines_are_recorded_without_credentials() -> None:
    url = "s3://AKIAXYZ:topsecret@bucket/prefix?X-Amz-Signature=deadbeef&versionId=1"
    shown = redact(url)
    assert "topsecret" not in shown and "deadbeef" not in shown
    assert shown.startswith("s3://AKIAXYZ:***@bucket/prefix?")
    argv = redact_argv(["run", "nb.ipynb", f"--cache-from={url}", "--store", url])
    assert not any("topsecret" in a or "deadbeef" in a for a in argv)
    assert argv[:2] == ["run", "nb.ipynb"]


# -- the example, two checkouts, one shared cache on S3 ------------------------------------------


@pytest.mark.kernel
def test_a_second_checkout_reuses_every_step_from_the_shared_cache_on_s3(
        tmp_path: Path, bucket: str, s3_env: dict[str, str]) -> None:
    # Given the example checked out by one user, run with its store and the shared cache on S3
    first = checkout(tmp_path / "alice" / "project")
    store_url, cache_url = f"s3://{bucket}/store", f"s3://{bucket}/cache"
    ran = cellpipe(first, "run", EXAMPLE.name, "--json", "--store", store_url, "--cache-from", cache_url,
                   "--push", home=tmp_path / "alice", user="alice")
    a = steps_of(ran)
    assert {s["state"] for s in a.values()} == {"done"}
    assert "pushed run" in ran.stderr
    remote = open_storage(cache_url)
    assert sum(1 for _ in remote.keys("cache")) == len(a)
    # the store itself is on S3 too: objects and run folders there, metadata in the project
    store = open_storage(store_url)
    assert any(True for _ in store.keys("objects")) and any(True for _ in store.keys("runs"))
    assert not (first / ".cellpipe" / "objects").exists()

    # When a teammate checks it out in another folder, with another HOME and USER
    second = checkout(tmp_path / "bob" / "work" / "elsewhere")
    again = cellpipe(second, "run", EXAMPLE.name, "--json", "--cache-from", cache_url,
                     home=tmp_path / "bob", user="bob")
    b = steps_of(again)
    # Then every step is reused from the shared cache: none executed, as the store recorded it
    run_b = json.loads(again.stdout)["run"]
    recorded = recorded_states(second / ".cellpipe" / "cellpipe.db", run_b)
    assert {state for state, _ in recorded.values()} == {"cached"}, recorded
    assert {s["cached_from"] for s in b.values()} == {json.loads(ran.stdout)["run"]}
    # with the same keys, the same metrics and the same output file
    assert {n: s["metrics"] for n, s in b.items()} == {n: s["metrics"] for n, s in a.items()}
    assert (second / "reports" / "metrics.json").read_bytes() == (first / "reports" / "metrics.json").read_bytes()
    # and trace names the run and step that computed the file, elsewhere
    traced = cellpipe(second, "trace", "reports/metrics.json", "--json", home=tmp_path / "bob", user="bob")
    assert traced.returncode == 0, traced.stderr
    info = json.loads(traced.stdout)
    assert (info["run"], info["step"]) == (json.loads(ran.stdout)["run"], "report")
    assert info["parameters"]["n_estimators"] == 200

    # And as another real user (root only: a second uid), in a third folder
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("a second real user needs root and setpriv; the folder/HOME/USER checks above passed")
    nested = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import cellpipe'], check=True)"
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", sys.executable,
                            "-c", nested], env={**os.environ, "PYTHONPATH": str(PACKAGE)},
                           capture_output=True, text=True, cwd="/")
    if probe.returncode != 0:
        pytest.skip(f"uid 65534 cannot start this Python's kernels ({probe.stderr.strip()[-160:]}); "
                    "the folder/HOME/USER checks above passed")
    shared = Path(tempfile.mkdtemp(prefix="cellpipe-other-user-"))
    try:
        os.chmod(shared, 0o777)
        third = checkout(shared / "project")
        for path in (shared, *shared.rglob("*")):
            os.chown(path, 65534, 65534)
        other = cellpipe(third, "run", EXAMPLE.name, "--json", "--cache-from", cache_url, home=shared,
                         user="nobody", uid=65534)
        c = steps_of(other)
        assert {s["state"] for s in c.values()} == {"cached"}, {n: s["reason"] for n, s in c.items()}
        keys_c = recorded_states(third / ".cellpipe" / "cellpipe.db", json.loads(other.stdout)["run"])
        assert {k for _, k in keys_c.values()} == {k for _, k in recorded.values()}
    finally:
        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.kernel
def test_credentials_are_never_printed_nor_stored(tmp_path: Path, bucket: str) -> None:
    # Given the secret key only in the environment, as s3fs reads it
    project = checkout(tmp_path / "p", write_notebook(tmp_path / "src" / "flow.ipynb", SMALL))
    cache_url = f"s3://{bucket}/cache"
    ran = cellpipe(project, "run", "flow.ipynb", "--json", "--store", f"s3://{bucket}/store",
                   "--cache-from", cache_url, "--push")
    assert ran.returncode == 0, ran.stderr
    pushed = cellpipe(project, "push", "--to", cache_url)
    shown = cellpipe(project, "show", json.loads(ran.stdout)["run"], "--json", "--store", f"s3://{bucket}/store")
    # Then neither output holds it
    for proc in (ran, pushed, shown):
        assert SECRET_KEY not in proc.stdout + proc.stderr
    # nor anything in the project's store or in the bucket
    for path in (project / ".cellpipe").rglob("*"):
        if path.is_file():
            assert SECRET_KEY.encode() not in path.read_bytes(), path
    fs = open_storage(f"s3://{bucket}").fs
    for key in fs.find(bucket):
        assert SECRET_KEY.encode() not in fs.cat_file(key), key


# -- file:// URLs, push and pull, a corrupt shared object ----------------------------------------


@pytest.mark.kernel
def test_push_and_pull_move_a_run_through_a_file_url(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    url = f"file://{shared}"
    first = checkout(tmp_path / "a", write_notebook(tmp_path / "src" / "flow.ipynb", SMALL))
    ran = cellpipe(first, "run", "flow.ipynb", "--json")
    run_id = json.loads(ran.stdout)["run"]
    assert ran.returncode == 0, ran.stderr
    pushed = cellpipe(first, "push", "--to", url, "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["run"] == run_id and sorted(json.loads(pushed.stdout)["steps"]) == ["load", "total"]
    assert (shared / "runs" / run_id / "total.ipynb").is_file()

    # When another checkout pulls it
    second = checkout(tmp_path / "b", first / "flow.ipynb")
    pulled = cellpipe(second, "pull", "--from", url, "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["run"] == run_id
    # Then the run is in its store (with its executed notebooks), and running needs no shared cache
    shown = cellpipe(second, "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert {s["state"] for s in json.loads(shown.stdout)["steps"]} == {"done"}
    assert (second / ".cellpipe" / "runs" / run_id / "total.ipynb").is_file()
    again = steps_of(cellpipe(second, "run", "flow.ipynb", "--json"))
    assert {s["state"] for s in again.values()} == {"cached"}
    assert json.loads((second / "out" / "total.json").read_text()) == 6


@pytest.mark.kernel
def test_a_corrupt_shared_object_is_named_dropped_and_recomputed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    first = checkout(tmp_path / "a", write_notebook(tmp_path / "src" / "flow.ipynb", SMALL))
    assert cellpipe(first, "run", "flow.ipynb", "--cache-from", str(shared), "--push").returncode == 0
    # When the shared copy of the file `total` wrote is damaged
    total = (first / "out" / "total.json").read_bytes()
    from cellpipe.core.digest import digest_bytes

    damaged = shared / "objects" / digest_bytes(total)[:2] / digest_bytes(total)[2:]
    os.chmod(damaged, 0o644)
    damaged.write_bytes(b"999")
    second = checkout(tmp_path / "b", first / "flow.ipynb")
    b = steps_of(cellpipe(second, "run", "flow.ipynb", "--json", "--cache-from", str(shared), "--push"))
    # Then the damaged object is named, never used: the step runs here, and the push repairs the cache
    assert b["load"]["state"] == "cached" and b["total"]["state"] == "done"
    assert any("corrupt" in w and str(damaged) in w for w in b["total"]["warnings"]), b["total"]["warnings"]
    assert json.loads((second / "out" / "total.json").read_text()) == 6
    assert damaged.read_bytes() == total
    third = checkout(tmp_path / "c", first / "flow.ipynb")
    c = steps_of(cellpipe(third, "run", "flow.ipynb", "--json", "--cache-from", str(shared)))
    assert {s["state"] for s in c.values()} == {"cached"}


READS = [
    ("with open('data.txt') as fh:\n    text = fh.read()", ("step:read",)),
    ("size = len(text)", ("step:measure",)),
]


@pytest.mark.kernel
def test_a_step_that_reads_an_undeclared_file_is_shared_while_the_file_is_the_same(tmp_path: Path) -> None:
    shared = str(tmp_path / "shared")
    source = write_notebook(tmp_path / "src" / "reads.ipynb", READS)
    projects = {}
    for name, text in (("a", "hello"), ("b", "hello"), ("c", "changed")):
        projects[name] = checkout(tmp_path / name, source)
        (projects[name] / "data.txt").write_text(text)
    a = steps_of(cellpipe(projects["a"], "run", "reads.ipynb", "--json", "--cache-from", shared, "--push"))
    assert a["read"]["state"] == "done"
    # Given the file it read is the same in another checkout: reused
    b = steps_of(cellpipe(projects["b"], "run", "reads.ipynb", "--json", "--cache-from", shared))
    assert (b["read"]["state"], b["measure"]["state"]) == ("cached", "cached")
    # Given it differs: the step runs
    c = steps_of(cellpipe(projects["c"], "run", "reads.ipynb", "--json", "--cache-from", shared))
    assert c["read"]["state"] == "done"


@pytest.mark.kernel
def test_pyproject_names_the_store_and_the_shared_cache(tmp_path: Path) -> None:
    for name in ("a", "b"):
        project = checkout(tmp_path / name, write_notebook(tmp_path / "src" / "flow.ipynb", SMALL))
        (project / "pyproject.toml").write_text(
            f'[tool.cellpipe]\nstore = "state"\nremote = "file://{tmp_path / "shared"}"\n')
    a = steps_of(cellpipe(tmp_path / "a", "run", "flow.ipynb", "--json", "--push"))
    assert {s["state"] for s in a.values()} == {"done"}
    assert (tmp_path / "a" / "state" / "cellpipe.db").is_file() and not (tmp_path / "a" / ".cellpipe").exists()
    # status in the other checkout counts what the shared cache holds, and names the run that computed it
    status = cellpipe(tmp_path / "b", "status", "flow.ipynb", "--json")
    assert status.returncode == 0, status.stderr
    assert [(s["up_to_date"], "in the shared cache" in s["reason"]) for s in json.loads(status.stdout)] == [
        (True, True), (True, True)]
    b = steps_of(cellpipe(tmp_path / "b", "run", "flow.ipynb", "--json"))
    assert {s["state"] for s in b.values()} == {"cached"}


# -- errors ---------------------------------------------------------------------------------------


def test_an_unreachable_endpoint_fails_in_seconds_with_exit_2(tmp_path: Path) -> None:
    project = checkout(tmp_path / "p", write_notebook(tmp_path / "src" / "flow.ipynb", SMALL))
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}"}
    for args in (("run", "flow.ipynb", "--store", "s3://nowhere/store"),
                 ("run", "flow.ipynb", "--cache-from", "s3://nowhere/cache"),
                 ("push", "--to", "s3://nowhere/cache")):
        start = time.monotonic()
        proc = cellpipe(project, *args, env=env, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert "cannot reach the store s3://nowhere/" in proc.stderr and "AWS_ENDPOINT_URL" in proc.stderr
        assert "Traceback" not in proc.stderr and SECRET_KEY not in proc.stderr
        assert time.monotonic() - start < 30


def test_a_missing_optional_dependency_names_the_extra(tmp_path: Path) -> None:
    project = checkout(tmp_path / "p", write_notebook(tmp_path / "src" / "flow.ipynb", SMALL))
    code = ("import sys; sys.modules['s3fs'] = None\n"  # as if s3fs were not installed
            "from cellpipe.cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "run", "flow.ipynb", "--cache-from", "s3://b/cache"],
                          cwd=project, env={**os.environ, "PYTHONPATH": str(PACKAGE)}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "s3fs" in proc.stderr and "pip install 'cellpipe[s3]'" in proc.stderr


def test_push_without_a_shared_cache_is_a_usage_error(tmp_path: Path) -> None:
    project = checkout(tmp_path / "p", write_notebook(tmp_path / "src" / "flow.ipynb", SMALL))
    env = {"CELLPIPE_REMOTE": ""}
    proc = cellpipe(project, "run", "flow.ipynb", "--push", env=env)
    assert proc.returncode == 2 and "--push needs a shared cache" in proc.stderr
    proc = cellpipe(project, "pull", env=env)
    assert proc.returncode == 2 and "no shared cache named" in proc.stderr
