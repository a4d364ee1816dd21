"""Kernels forked from cellpipe's fork server behave as ordinary kernels, and a
run leaves no process behind whatever kills it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cellpipe.engine.executors.procs import leftovers
from conftest import write_notebook

pytestmark = pytest.mark.kernel

#: steps whose printed output depends on what the process inherited or imported
#: before the kernel existed: it must not depend on how the kernel was started
EQUIVALENCE = [
    ("import os, signal, subprocess, sys\nimport numpy as np\nimport pandas as pd", ("imports",)),
    ("wide = pd.DataFrame(np.arange(60).reshape(2, 30))\nprint(wide)\nwide", ("step:pandas_display",)),
    ("print(pd.get_option('display.max_columns'), pd.get_option('display.width'))\n"
     "pd.reset_option('display.max_columns')\nprint(pd.get_option('display.max_columns'))\n"
     "print(np.arange(2000))\nprint(np.get_printoptions()['threshold'])\nn = 1", ("step:defaults",)),
    ("!echo hello\nout = !echo captured\nprint(out)\n"
     "print(subprocess.run(['sh', '-c', 'exit 3']).returncode)\n"
     "print(subprocess.run(['sh', '-c', 'echo via-shell'], capture_output=True, text=True).stdout)",
     ("step:shell",)),
    ("print({s.name: str(signal.getsignal(s)) for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE,"
     " signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM)})\n"
     "print(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))", ("step:signals",)),
    ("print(os.getcwd() == os.path.dirname(os.path.abspath('flow.ipynb')))\n"
     "print(sys.path[0] != os.getcwd(), os.path.basename(sys.argv[0]), sys.argv[1])\n"
     "print(sorted(k for k in os.environ if k.startswith(('CELLPIPE_FORK_', 'PYTHON'))))\n"
     "print(os.environ.get('PROC_TEST_VALUE'))\n"
     "print(sys.stdin.isatty(), sys.__stdout__.isatty())\n"
     "print(os.get_inheritable(0), os.get_inheritable(1), os.get_inheritable(2))", ("step:process",)),
    ("import warnings\nprint(len(warnings.filters) > 0, __name__, type(get_ipython()).__name__)\n"
     "print(sys.flags.isolated, sys.flags.no_site)", ("step:interpreter",)),
]


def run_cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cellpipe.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def step_outputs(run_folder: Path) -> dict[str, list[str]]:
    """Each step's cell outputs as text, in order (the runtime's own cells dropped),
    one entry per cell: how a stream is cut into messages depends on timing."""
    found: dict[str, list[str]] = {}
    for path in sorted(run_folder.glob("*.ipynb")):
        nb = json.loads(path.read_text())
        texts = []
        for cell in nb["cells"]:
            role = ((cell.get("metadata") or {}).get("cellpipe") or {}).get("role")
            if role in ("load", "save", "parameters"):
                continue
            if cell.get("cell_type") != "code":
                continue
            shown = ""
            for out in cell.get("outputs") or []:
                text = out.get("text") or (out.get("data") or {}).get("text/plain") or out.get("evalue") or ""
                shown += "".join(text) if isinstance(text, list) else text
            if shown:
                texts.append(shown)
        found[path.stem] = texts
    return found


def run_folder_of(project: Path, summary: dict) -> Path:
    return Path(summary["run_folder"])


def test_a_steps_outputs_are_byte_identical_with_fork_kernels_and_ordinary_kernels(tmp_path: Path) -> None:
    # Given one notebook run once with forked kernels and once with ordinary ones
    outputs = {}
    for fork in ("1", "0"):
        project = tmp_path / f"fork{fork}"
        write_notebook(project / "flow.ipynb", EQUIVALENCE)
        done = run_cli("run", "flow.ipynb", "--json", cwd=project,
                       env={"CELLPIPE_FORK": fork, "PROC_TEST_VALUE": "from the user's shell"})
        assert done.returncode == 0, done.stderr + done.stdout
        summary = json.loads(done.stdout)
        outputs[fork] = step_outputs(run_folder_of(project, summary))
    # Then every step printed exactly the same bytes
    assert outputs["1"].keys() == outputs["0"].keys()
    for step in outputs["0"]:
        assert outputs["1"][step] == outputs["0"][step], step
    # and what they printed is what a kernel gives: pandas' kernel default, shell commands that work
    assert "[2 rows x 30 columns]" in outputs["1"]["pandas_display"][0]
    assert outputs["1"]["defaults"][0].startswith("20 ")
    assert "".join(outputs["1"]["shell"]) == "hello\r\n['captured']\n3\nvia-shell\n\n"
    assert "'SIGCHLD': '0'" in outputs["1"]["signals"][0]  # SIG_DFL: no reaper inherited
    assert "from the user's shell" in "".join(outputs["1"]["process"])


def test_a_long_project_path_does_not_stop_the_fork_server(tmp_path: Path) -> None:
    # Given a project deeper than an AF_UNIX socket path can be (107 bytes)
    project = tmp_path / ("deep-folder-" * 12) / "project"
    assert len(str(project / ".cellpipe")) > 110
    write_notebook(project / "flow.ipynb", [("import pandas as pd\na = 1", ("step:a",)), ("b = a + 1", ("step:b",))])
    # When it runs with fork kernels
    done = run_cli("run", "flow.ipynb", "--json", cwd=project, env={"CELLPIPE_FORK": "1"})
    # Then the steps run, and no fork-server failure was reported
    assert done.returncode == 0, done.stderr
    assert "fork server" not in done.stderr


def test_when_the_fork_server_dies_the_pool_falls_back_to_ordinary_kernels_and_says_why(tmp_path: Path) -> None:
    from cellpipe.engine.executors.forkserver import ForkServer
    from cellpipe.engine.executors.local import KernelPool, _shutdown

    # Given a fork server killed while a pool of several kernels is starting
    server = ForkServer(str(tmp_path), [])
    assert server.wait()
    os.killpg(server.proc.pid, signal.SIGKILL)
    pool = KernelPool("python3", 3, warm=False, server=server)
    try:
        # Then every kernel the pool hands out works (ordinary ones)
        kernels = [pool.take() for _ in range(4)]
        for km in kernels:
            assert km.is_alive()
            _shutdown(km)
        assert pool.spec is None
    finally:
        pool.close()
        server.close()


def test_a_forked_kernel_that_cannot_start_says_why_and_the_server_serves_on(tmp_path: Path) -> None:
    from cellpipe.engine.executors.forkserver import ForkServer, request_kernel
    from cellpipe.engine.executors.local import _shutdown, _start_kernel

    server = ForkServer(str(tmp_path), [])
    assert server.wait()
    try:
        # Given a request whose connection file the kernel cannot read
        broken = tmp_path / "kernel-broken.json"
        broken.write_text("{ not json")
        # Then the request fails at once with the kernel's own reason (no wait for a timeout)
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="could not start"):
            request_kernel(server.address, str(broken), dict(os.environ), str(tmp_path), (0, 1, 2))
        assert time.monotonic() - started < 30
        # And the server still forks kernels that work, through jupyter_client's kernel manager
        km = _start_kernel("python3", False, server.kernel_spec(), address=server.address)
        try:
            assert km.is_alive()
            assert km.provisioner.pid != server.proc.pid
            client = km.client()
            client.start_channels()
            printed: list[str] = []
            reply = client.execute_interactive(
                "import os; print(os.getppid())", timeout=60,
                output_hook=lambda msg: printed.append(msg["content"].get("text", "")))
            assert reply["content"]["status"] == "ok"
            # a child of the fork server (no launcher process in between), in a process group of its own
            assert "".join(printed).strip() == str(server.proc.pid)
            assert os.getpgid(km.provisioner.pid) == km.provisioner.pid
            client.stop_channels()
        finally:
            _shutdown(km)
        assert not km.is_alive()
    finally:
        server.close()


def test_the_fork_servers_stderr_is_reported_when_it_dies(tmp_path: Path, caplog) -> None:
    from cellpipe.engine.executors.forkserver import ForkServer

    server = ForkServer(str(tmp_path), [])
    assert server.wait()
    server.proc.kill()  # as the OOM killer would
    server.proc.wait()
    with caplog.at_level("WARNING", logger="cellpipe"):
        server.report("died")
    assert "fork server died (exit code -9)" in caplog.text
    server.close()


def test_a_notebook_whose_kernel_is_not_installed_is_stopped_before_anything_runs(tmp_path: Path) -> None:
    # Given a notebook saved with a kernel this machine does not have
    write_notebook(tmp_path / "flow.ipynb", [("a = 1", ("step:a",))], metadata={
        "kernelspec": {"name": "conda-env-ds-py", "display_name": "Python [conda env:ds]", "language": "python"}})
    for command in ("validate", "run"):
        done = run_cli(command, "flow.ipynb", cwd=tmp_path)
        # Then validate and run exit 2, naming the kernel and the fix
        assert done.returncode == 2, command
        text = done.stdout + done.stderr
        assert "CP004" in text and "'conda-env-ds-py'" in text and "is not installed" in text
        assert "ipykernel install" in text
    assert not (tmp_path / ".cellpipe" / "runs").exists()


def test_a_step_runs_in_the_notebooks_kernel_when_it_is_installed(tmp_path: Path) -> None:
    # Given a kernelspec of its own, naming this interpreter with a marker in its environment
    kernels = tmp_path / "jupyter" / "kernels" / "other-env"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Other env", "language": "python", "env": {"WHICH_KERNEL": "other-env"}}))
    project = tmp_path / "project"
    write_notebook(project / "flow.ipynb", [("import os\nprint(os.environ.get('WHICH_KERNEL'))\na = 1", ("step:a",))],
                   metadata={"kernelspec": {"name": "other-env", "display_name": "Other env", "language": "python"}})
    done = run_cli("run", "flow.ipynb", "--json", cwd=project, env={"JUPYTER_PATH": str(tmp_path / "jupyter")})
    assert done.returncode == 0, done.stderr
    # Then the step ran in that kernel
    assert step_outputs(Path(json.loads(done.stdout)["run_folder"]))["a"] == ["other-env\n"]


SLOW = [
    ("import time, subprocess", ("imports",)),
    ("a = 1\ntime.sleep(120)", ("step:a",)),
    ("b = 2\nchild = subprocess.Popen(['sleep', '300'])\ntime.sleep(120)", ("step:b",)),
]


def wait_running(store: Path, count: int, timeout: float = 90) -> None:
    import sqlite3

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (store / "cellpipe.db").exists():
            db = sqlite3.connect(store / "cellpipe.db", timeout=10)
            try:
                n = db.execute("SELECT count(*) FROM step_runs WHERE state='running'").fetchone()[0]
            except sqlite3.OperationalError:
                n = 0
            finally:
                db.close()
            if n >= count:
                return
        time.sleep(0.2)
    raise AssertionError("the steps never ran")


@pytest.mark.parametrize("fork", ["1", "0"])
@pytest.mark.parametrize("target", ["runner", "group"])
def test_sigkill_of_a_run_leaves_no_process_behind(tmp_path: Path, fork: str, target: str) -> None:
    # Given a run with two steps running, one of which started a process of its own
    write_notebook(tmp_path / "slow.ipynb", SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "cellpipe.cli", "run", "slow.ipynb", "-j", "2", "-q"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "CELLPIPE_FORK": fork}, start_new_session=True)
    store = tmp_path / ".cellpipe"
    wait_running(store, 2)
    # (the step's own process carries the run's mark, as everything the run started does)
    deadline = time.monotonic() + 60
    while not any(p.command.startswith("sleep") for p in leftovers(store)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert any(p.command.startswith("sleep") for p in leftovers(store)), leftovers(store)
    # When the runner (or its whole process group) is killed with SIGKILL
    if target == "runner":
        proc.kill()
    else:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Then within 5 seconds every kernel it started is gone
    deadline = time.monotonic() + 5
    while leftovers(store) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = leftovers(store)
    if fork == "1":
        assert left == []
    # (an ordinary kernel dies with its run; what its step started is stopped by the next run)
    assert all(p.command.startswith("sleep") for p in left), left
    # And `runs` tells the dead run from a live one at once
    runs = run_cli("runs", "--json", cwd=tmp_path)
    assert [(r["state"], r["alive"]) for r in json.loads(runs.stdout)] == [("interrupted", False)]
    # And the next run stops what was left, and says so
    write_notebook(tmp_path / "slow.ipynb", [("a = 1", ("step:a",))])
    done = run_cli("run", "slow.ipynb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert leftovers(store) == []
    if left:
        assert re.search(r"stopped \d+ process(es)? left running by run", done.stderr)
