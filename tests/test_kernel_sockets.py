"""Kernels listen on IPC sockets in a private folder (no TCP port races when
many kernels start at once), and the socket files of kernels that are gone are
swept away."""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

import pytest

from cellpipe.engine.executors import local

pytestmark = pytest.mark.skipif(os.name != "posix", reason="IPC sockets are a POSIX transport")


@pytest.fixture
def private_tmp(monkeypatch):
    import shutil
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="cpk", dir="/tmp"))  # tmp_path may be too long for a socket path
    monkeypatch.setenv("TMPDIR", str(short))
    monkeypatch.setattr(tempfile, "tempdir", None)
    local._sweep_sockets.cache_clear()
    yield short
    local._sweep_sockets.cache_clear()
    shutil.rmtree(short, ignore_errors=True)


@pytest.mark.kernel
def test_a_temp_folder_too_long_for_socket_paths_still_starts_kernels(tmp_path, monkeypatch):
    import tempfile

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(deep))
    monkeypatch.setattr(tempfile, "tempdir", None)
    args = local._sockets()
    assert not args or len(os.fsencode(args["ip"])) + 3 <= 104
    km = local._start_kernel("python3", False)
    try:
        assert km.is_alive()
    finally:
        local._shutdown(km)


@pytest.mark.kernel
def test_kernel_listens_on_private_ipc_sockets_removed_at_shutdown(private_tmp):
    km = local._start_kernel("python3", False)
    try:
        assert km.transport == "ipc"
        folder = os.path.dirname(km.ip)
        assert folder.startswith(str(private_tmp))
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert len(os.listdir(folder)) == 5  # shell, iopub, stdin, control, heartbeat
    finally:
        local._shutdown(km)
    assert os.listdir(folder) == []


def test_tcp_on_request(private_tmp, monkeypatch):
    monkeypatch.setenv("CELLPIPE_KERNEL_TRANSPORT", "tcp")
    assert local._sockets() == {}


def test_a_shared_folder_is_not_used(private_tmp):
    folder = private_tmp / f"cellpipe-kernels-{os.getuid()}"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    assert local._sockets() == {}


def test_stale_sockets_are_swept_live_and_young_ones_kept(private_tmp):
    folder = private_tmp / f"cellpipe-kernels-{os.getuid()}"
    folder.mkdir(mode=0o700)
    old = time.time() - 3600

    def make(name: str, listen: bool) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(folder / name))
        if listen:
            s.listen()
        return s

    stale = make("stale-1", listen=False)
    stale.close()
    live = make("live-1", listen=True)
    young = make("young-1", listen=False)
    young.close()
    for name in ("stale-1", "live-1"):
        os.utime(folder / name, (old, old))
    try:
        args = local._sockets()
        assert args["transport"] == "ipc"
        assert sorted(os.listdir(folder)) == ["live-1", "young-1"]
    finally:
        live.close()
