"""Process helpers shared by the multi-process tests (127.0.0.1 only)."""

import pathlib
import socket
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1."""
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def start(command, env):
    """Start `command` from the repository root in its own process group
    (so that it can be killed as a whole), output merged into stdout."""
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
