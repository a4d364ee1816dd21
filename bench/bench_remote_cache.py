"""Benchmark: a second machine's first run of the example with the shared cache warm,
against a cold run (nothing cached anywhere).

    python bench/bench_remote_cache.py [--repeat 3] [--remote s3|file]

A "machine" is a fresh checkout of the example in a folder of its own, with its own
HOME and an empty store. One checkout first runs with ``--push`` to fill the shared
cache; then cold (A: no shared cache) and warm (B: ``--cache-from URL``) first runs
alternate, A B A B …, so that the machine's load drifts over both alike. The shared
cache is a real S3 endpoint on 127.0.0.1 (moto's server, through s3fs) or a folder
(file://). Prints each wall time, the medians, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "example_notebooks" / "breast_cancer.ipynb"


def machine(tmp: Path, name: str) -> tuple[Path, dict[str, str]]:
    """A fresh checkout of the example with a HOME of its own."""
    folder = tmp / name / "project"
    folder.mkdir(parents=True)
    shutil.copy(EXAMPLE, folder / EXAMPLE.name)
    home = tmp / name / "home"
    home.mkdir()
    return folder, {"HOME": str(home), "USER": name, "JUPYTER_RUNTIME_DIR": str(home / "runtime")}


def run(folder: Path, env: dict[str, str], *extra: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "cellpipe.cli", "run", EXAMPLE.name, "--json", *extra]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=folder, env={**os.environ, **env}, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)} in {folder}")
    return elapsed, json.loads(proc.stdout)


def states(summary: dict) -> str:
    found: dict[str, int] = {}
    for step in summary["steps"]:
        found[step["state"]] = found.get(step["state"], 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(found.items()))


def start_s3() -> tuple[object, str, dict[str, str]]:
    """moto's S3 server on a free port, a bucket on it, and the variables s3fs reads."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    os.environ.update(env)
    import s3fs

    s3fs.S3FileSystem(skip_instance_cache=True).mkdir("bench")
    return server, "s3://bench/cache", env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="pairs of cold/warm runs (default 3)")
    parser.add_argument("--remote", choices=("s3", "file"), default="s3")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "python_pkg"), os.environ.get("PYTHONPATH")]))
    tmp = Path(tempfile.mkdtemp(prefix="cellpipe-bench-remote-"))
    server = None
    try:
        if args.remote == "s3":
            server, url, extra_env = start_s3()
        else:
            url, extra_env = f"file://{tmp / 'shared'}", {}
        folder, env = machine(tmp, "filler")
        seconds, summary = run(folder, {**env, **extra_env}, "--cache-from", url, "--push")
        print(f"fill the shared cache ({args.remote}): {seconds:6.2f} s  ({states(summary)})")
        cold: list[float] = []
        warm: list[float] = []
        for i in range(args.repeat):
            folder, env = machine(tmp, f"cold{i}")
            seconds, summary = run(folder, {**env, **extra_env})
            cold.append(seconds)
            print(f"A cold first run          : {seconds:6.2f} s  ({states(summary)})")
            folder, env = machine(tmp, f"warm{i}")
            seconds, summary = run(folder, {**env, **extra_env}, "--cache-from", url)
            warm.append(seconds)
            print(f"B warm shared cache        : {seconds:6.2f} s  ({states(summary)})")
        mc, mw = statistics.median(cold), statistics.median(warm)
        print(f"median cold {mc:.2f} s, warm {mw:.2f} s: {mc / mw:.1f}x faster with the shared cache warm "
              f"({args.repeat} pairs, A B A B, {os.cpu_count()} cores)")
        print(json.dumps({"remote": args.remote, "cold": cold, "warm": warm, "median_cold": mc, "median_warm": mw}))
    finally:
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
