"""What jupyter_client starts as a kernel when cellpipe's fork server is used.

Asks the fork server for a kernel bound to the given connection file, forwards
interrupt and termination signals to it, and exits when it ends. Kept to the
standard library so that it starts in milliseconds.
"""

import json
import os
import signal
import socket
import sys
import time


def main(server_path: str, connection_file: str) -> int:
    request = {
        "connection_file": os.path.abspath(connection_file),
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "launcher": os.getpid(),
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(server_path)
        conn.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    pid = json.loads(data)["pid"]

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
        if signum != signal.SIGINT:
            sys.exit(0)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 0
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
