"""Start-up helpers for running app.py on this machine (benchmark and tests): a free loopback
port, and waiting until the server answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from typing import Callable

START_TIMEOUT_S = 180.0


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answering(url: str, process: subprocess.Popen, output: Callable[[], str],
                         timeout: float = START_TIMEOUT_S) -> None:
    """Poll `url` until it answers; if the process exits first, raise with what it printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode} during start-up:\n{output()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"app did not start within {timeout:.0f} s")
