"""`cellpipe run --executor dask`: steps as tasks on a real Dask cluster.

The fixture starts a real `dask scheduler` and two `dask worker --nworkers 1
--nthreads 1` processes on 127.0.0.1 (free ports, each in a process group of its
own, always torn down; every process they start carries a marker in its
environment, so that a leftover, a kernel included, is found).
Run just these with ``python -m pytest -q -p no:xdist tests/test_dask.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from cellpipe.cli import main
from conftest import write_notebook

pytest.importorskip("distributed")

pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_notebooks" / "breast_cancer.ipynb"
DASK = str(Path(sys.executable).parent / "dask")
MARK = "CELLPIPE_TEST_DASK_CLUSTER"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def marked(token: str) -> list[psutil.Process]:
    """The live processes that carry this cluster's marker (workers, nannies, kernels)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


@dataclass
class Cluster:
    address: str
    token: str
    procs: list[subprocess.Popen]

    def workers(self) -> dict[str, int]:
        """Worker address -> the pid of its worker process."""
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as client:
            return client.run(os.getpid)

    def running(self, step: str) -> int:
        """The pid of the worker process running the task of ``step``."""
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as client:
            where = [w for w, keys in client.processing().items() if any(f"-{step}-" in str(k) for k in keys)]
            assert len(where) == 1, client.processing()
            return client.run(os.getpid, workers=where)[where[0]]


@contextmanager
def dask_cluster(tmp: Path) -> Iterator[Cluster]:
    """A scheduler and two single-threaded workers on 127.0.0.1, stopped at the end, whatever happens."""
    from distributed import Client

    token = uuid.uuid4().hex
    env = {**os.environ, MARK: token, "CELLPIPE_DASK_KERNEL_IDLE": "5"}  # a gone client's idle kernels: 5 s
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp / "dask-logs"
    logs.mkdir(exist_ok=True)
    procs: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        with open(logs / f"{name}.log", "w") as log:
            procs.append(subprocess.Popen([DASK, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True, cwd=tmp))

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
        for n in (1, 2):
            start(f"worker{n}", "worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                  "--no-dashboard", "--name", f"w{n}")
        with Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=120)
        yield Cluster(address, token, procs)
    finally:
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        deadline = time.monotonic() + 15
        while marked(token) and time.monotonic() < deadline:
            time.sleep(0.2)
        for proc in marked(token):  # leftovers fail the test below, but do not outlive it
            proc.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with dask_cluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c
    assert marked(c.token) == [], "processes of the cluster outlived it"


def run_json(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["run", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def states(summary: dict) -> dict[str, str]:
    return {s["step"]: s["state"] for s in summary["steps"]}


def command(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:  # gone meanwhile
        return ""


def gone(pid: int, timeout: float = 15) -> bool:
    """Whether the process ``pid`` ends (or is a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def no_kernel_left(token: str, timeout: float = 15) -> list[str]:
    """The kernels (and fork servers) of the cluster still there after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        kernels = [cmd for cmd in map(command, marked(token))
                   if "ipykernel" in cmd or "executors.forkserver" in cmd or "forklaunch" in cmd]
        if not kernels or time.monotonic() > deadline:
            return kernels
        time.sleep(0.2)


# -- the example, local and on the cluster --------------------------------------------------


def test_the_example_on_two_workers_gives_the_local_artifacts_and_metrics(
        cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    # Given the example pipeline, run locally
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    monkeypatch.chdir(tmp_path)
    code, local = run_json(capsys, EXAMPLE.name)
    assert code == 0, local
    # When it runs again on the cluster (forced: nothing cached)
    code, dask = run_json(capsys, EXAMPLE.name, "--executor", "dask", "--address", cluster.address, "--force")
    # Then every step ran there, on both workers, with each output notebook in the run folder
    assert code == 0, dask
    assert set(states(dask).values()) == {"done"}
    workers = {s["reason"].removeprefix("running on ") for s in dask["steps"]}
    assert workers == set(cluster.workers()), workers
    for step in dask["steps"]:
        assert Path(step["output_notebook"]).is_file()
        assert Path(step["output_notebook"]).parent == Path(dask["run_folder"])
    # and the artifacts and metrics are the local run's, hash for hash
    capsys.readouterr()
    assert main(["diff", local["run"], dask["run"], "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert not diff["metrics"] and not diff["artifacts"] and not diff["params"], diff
    assert {s["step"]: s["metrics"] for s in dask["steps"]} == {s["step"]: s["metrics"] for s in local["steps"]}
    assert json.loads((tmp_path / "reports" / "metrics.json").read_text())["best_model"]
    # And run once more on the cluster, every step is a cache hit
    code, again = run_json(capsys, EXAMPLE.name, "--executor", "dask", "--address", cluster.address)
    assert code == 0 and set(states(again).values()) == {"cached"}, again
    assert no_kernel_left(cluster.token) == []


# -- failures and the cache, as locally ------------------------------------------------------

FLOW = [
    ("import os\nimport time", ("imports",)),
    ("values = list(range(10))", ("step:load",)),
    ("total = sum(values)\nraise ValueError('bad input')", ("step:bad", "metrics")),
    ("doubled = [v * 2 for v in values]\nos.makedirs('out', exist_ok=True)\n"
     "open('out/doubled.txt', 'w').write(str(doubled))", ("step:good", "out:out/doubled.txt")),
    ("result = total + 1", ("step:after_bad",)),
]


def test_a_failing_step_and_a_cache_hit_behave_as_in_a_local_run(
        cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    results = {}
    for executor in ("local", "dask"):
        folder = tmp_path / executor
        write_notebook(folder / "flow.ipynb", FLOW)
        monkeypatch.chdir(folder)
        extra = ["--executor", "dask", "--address", cluster.address] if executor == "dask" else []
        results[executor] = run_json(capsys, "flow.ipynb", "-j", "2", *extra)
    code, summary = results["dask"]
    # a failing step fails the run (exit 1), names its source cell; its downstream is skipped
    assert code == results["local"][0] == 1
    assert states(summary) == states(results["local"][1]) == {
        "load": "done", "bad": "failed", "good": "done", "after_bad": "skipped"}
    bad = next(s for s in summary["steps"] if s["step"] == "bad")
    assert "ValueError: bad input" in bad["error"]["message"] and bad["error"]["cell"] == 3
    assert (tmp_path / "dask" / "out" / "doubled.txt").read_text() == str([v * 2 for v in range(10)])
    # fixed and run again: what finished is a cache hit, an out: file that went is restored
    (tmp_path / "dask" / "out" / "doubled.txt").unlink()
    nb = json.loads((tmp_path / "dask" / "flow.ipynb").read_text())
    nb["cells"][2]["source"] = "total = sum(values)"
    (tmp_path / "dask" / "flow.ipynb").write_text(json.dumps(nb))
    code, again = run_json(capsys, "flow.ipynb", "--executor", "dask", "--address", cluster.address)
    assert code == 0, again
    assert states(again) == {"load": "cached", "bad": "done", "good": "cached", "after_bad": "done"}
    assert (tmp_path / "dask" / "out" / "doubled.txt").read_text() == str([v * 2 for v in range(10)])


# -- a worker that dies, an interrupt ----------------------------------------------------------


def slow_flow(marker: Path, seconds: int = 120) -> list:
    return [
        ("import os\nimport time", ("imports",)),
        ("values = list(range(5))", ("step:load",)),
        (f"open({str(marker)!r}, 'w').write(f'{{os.getpid()}} {{os.getppid()}}')\ntime.sleep({seconds})\n"
         "slow = 1", ("step:slow",)),
        ("quick = sum(values)", ("step:quick",)),
        ("after = slow + 1", ("step:after_slow",)),
    ]


def start_run(folder: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cellpipe.cli", "run", "flow.ipynb", "--json", *args],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 180) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while not (marker.exists() and marker.read_text().strip()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the slow step never started"
        time.sleep(0.2)
    kernel, worker = map(int, marker.read_text().split())
    return kernel, worker


def test_a_worker_killed_mid_step_fails_that_step_and_the_run_goes_on(tmp_path: Path) -> None:
    with dask_cluster(tmp_path) as cluster:
        project = tmp_path / "project"
        marker = tmp_path / "slow.pid"
        write_notebook(project / "flow.ipynb", slow_flow(marker))
        proc = start_run(project, "-j", "2", "--executor", "dask", "--address", cluster.address)
        try:
            kernel, _ = wait_for(marker, proc)
            os.kill(cluster.running("slow"), signal.SIGKILL)  # the worker dies mid-step (its nanny starts another)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        summary = json.loads(out)
        assert proc.returncode == 1, err
        assert states(summary) == {"load": "done", "slow": "failed", "quick": "done", "after_slow": "skipped"}
        slow = next(s for s in summary["steps"] if s["step"] == "slow")
        assert "worker" in slow["error"]["message"] and "died" in slow["error"]["message"]
        assert gone(kernel)
        # the store stays consistent, and the run resumes from what finished
        doctor = subprocess.run([sys.executable, "-m", "cellpipe.cli", "doctor", "--json"], cwd=project,
                                capture_output=True, text=True)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        nb = json.loads((project / "flow.ipynb").read_text())
        nb["cells"][2]["source"] = "slow = 1"
        (project / "flow.ipynb").write_text(json.dumps(nb))
        again = subprocess.run([sys.executable, "-m", "cellpipe.cli", "run", "flow.ipynb", "--json", "--executor",
                                "dask", "--address", cluster.address], cwd=project, capture_output=True, text=True,
                               timeout=300)
        assert again.returncode == 0, again.stderr
        assert states(json.loads(again.stdout)) == {"load": "cached", "slow": "done", "quick": "cached",
                                                     "after_slow": "done"}
        assert no_kernel_left(cluster.token) == []
    assert marked(cluster.token) == []


def test_ctrl_c_leaves_no_task_and_no_kernel_behind(cluster: Cluster, tmp_path: Path) -> None:
    from distributed import Client

    marker = tmp_path / "slow.pid"
    write_notebook(tmp_path / "flow.ipynb", slow_flow(marker))
    proc = start_run(tmp_path, "-j", "2", "--executor", "dask", "--address", cluster.address)
    try:
        kernel, _ = wait_for(marker, proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert states(json.loads(out))["slow"] == "interrupted"
    assert no_kernel_left(cluster.token) == []
    assert gone(kernel)
    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        deadline = time.monotonic() + 10
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(client.processing().values())


def test_a_run_killed_outright_leaves_no_task_and_no_kernel_on_the_cluster(cluster: Cluster, tmp_path: Path) -> None:
    from distributed import Client

    marker = tmp_path / "slow.pid"
    write_notebook(tmp_path / "flow.ipynb", slow_flow(marker))
    proc = start_run(tmp_path, "--executor", "dask", "--address", cluster.address)
    try:
        kernel, _ = wait_for(marker, proc)
        proc.kill()  # SIGKILL: no clean-up of its own; the scheduler sees its client go
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert no_kernel_left(cluster.token) == []
    assert gone(kernel)
    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        deadline = time.monotonic() + 10
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(client.processing().values())


# -- a local cluster, and the errors ------------------------------------------------------------


def test_without_an_address_a_local_cluster_runs_the_steps_and_goes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", [FLOW[0], FLOW[1], FLOW[3]])
    monkeypatch.chdir(tmp_path)
    before = set(children())
    code, summary = run_json(capsys, "flow.ipynb", "--executor", "dask")
    assert code == 0, summary
    assert states(summary) == {"load": "done", "good": "done"}
    assert all(s["reason"].startswith("running on tcp://127.0.0.1:") for s in summary["steps"])
    assert (tmp_path / "out" / "doubled.txt").read_text() == str([v * 2 for v in range(10)])
    deadline = time.monotonic() + 15
    while set(children()) - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(children()) - before == set()


def children() -> list[str]:
    """This process's children, but multiprocessing's resource tracker (it lives as long as we do)."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" not in cmd:
            found.append(f"{proc.pid} {cmd}")
    return found


def test_an_unreachable_scheduler_is_a_usage_error_within_seconds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", [FLOW[0], FLOW[1]])
    monkeypatch.chdir(tmp_path)
    start = time.monotonic()
    address = f"tcp://someone:s3cret@127.0.0.1:{free_port()}"
    code = main(["run", "flow.ipynb", "--executor", "dask", "--address", address])
    assert time.monotonic() - start < 10
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:" in err and "Fix:" in err
    assert "Traceback" not in err and "s3cret" not in err  # credentials are never printed


def test_a_missing_distributed_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", [FLOW[0], FLOW[1]])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: importing it fails
    assert main(["run", "flow.ipynb", "--executor", "dask"]) == 2
    assert "pip install 'cellpipe[dask]'" in capsys.readouterr().err


def test_an_address_without_the_dask_executor_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    write_notebook(tmp_path / "flow.ipynb", [FLOW[0], FLOW[1]])
    monkeypatch.chdir(tmp_path)
    assert main(["run", "flow.ipynb", "--address", "tcp://127.0.0.1:8786"]) == 2
    assert "--executor dask" in capsys.readouterr().err
