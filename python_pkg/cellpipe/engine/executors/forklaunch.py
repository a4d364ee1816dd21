"""What jupyter_client starts as a kernel when cellpipe's fork server is used.

Asks the fork server for a kernel bound to the given connection file (handing
it this process's environment, working directory and standard streams),
forwards interrupt and termination signals to it, and exits when it ends. When
the process that started it dies (a run killed with SIGKILL), it kills the
kernel and exits. Kept to the standard library so that it starts in milliseconds.
"""

import json
import os
import signal
import socket
import sys
import time


def _address(address: str) -> str:
    return "\0" + address[1:] if address.startswith("@") else address


def _ask(address: str, connection_file: str) -> int:
    request = {
        "connection_file": os.path.abspath(connection_file),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "launcher": os.getpid(),
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(_address(address))
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.strip():
        raise SystemExit("cellpipe fork server: no kernel (the server refused or died)")
    return int(json.loads(data)["pid"])


def _kill(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the kernel leads its own group: the step's children go too
    except OSError:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def main(address: str, connection_file: str) -> int:
    parent = os.getppid()
    pid = _ask(address, connection_file)

    def forward(signum, frame):
        if signum == signal.SIGINT:
            try:
                os.kill(pid, signum)  # an interrupt is for the kernel alone
            except OSError:
                pass
            return
        _kill(pid, signum)
        sys.exit(0)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 0
        if os.getppid() != parent:  # the run that started this kernel is gone
            _kill(pid, signal.SIGKILL)
            return 1
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
