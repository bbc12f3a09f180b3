"""The one launcher of the real app on this machine, for the benchmark and the tests: `python app.py`
as a subprocess on a free 127.0.0.1 port, with its own working and Gradio temp folders, its output
in files (stdout in WORKDIR/app.out, stderr in app.err: files never block it), and stopped again.

Every end-to-end, robustness, security and load test and the benchmark's targets 5-6 talk to the
same code path a user reaches.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from maskdet.bench.paths import APP_FILE

START_TIMEOUT_S = 180.0
TEMP_FOLDER = "tmp"
"""The app's Gradio temp (upload and cache) folder, inside its working folder."""


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


def output_of(workdir: Path) -> str:
    """What the app started in `workdir` printed: stdout, then stderr."""
    return stdout_of(workdir) + stderr_of(workdir)


def stdout_of(workdir: Path) -> str:
    return (workdir / "app.out").read_text(errors="replace")


def stderr_of(workdir: Path) -> str:
    return (workdir / "app.err").read_text(errors="replace")


def app_env(model: Path, detector: Optional[Path], workdir: Path, port: int, **extra: str) -> dict[str, str]:
    """Environment for one app process: this model and detector, loopback only, its own temp folder."""
    from maskdet.core.faces import YUNET_ENV  # here: importing this module stays light (no TensorFlow)
    from maskdet.core.predictor import MODEL_ENV

    env = {**os.environ, MODEL_ENV: str(model), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(workdir / TEMP_FOLDER), "GRADIO_ANALYTICS_ENABLED": "False",
           "TF_CPP_MIN_LOG_LEVEL": "2", **extra}
    env.pop("GRADIO_SERVER_NAME", None)
    env.pop("GRADIO_SHARE", None)
    env.pop(YUNET_ENV, None)
    if detector is not None:
        env[YUNET_ENV] = str(detector)
    return env


def launch(workdir: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start app.py in `workdir`; stdout and stderr go to workdir/app.out and app.err."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "app.out", "w") as out, open(workdir / "app.err", "w") as err:
        return subprocess.Popen([sys.executable, str(APP_FILE)], cwd=workdir, env=env, stdout=out, stderr=err)


def stop(process: subprocess.Popen) -> None:
    """Terminate the app process (only this one), killing it if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for_exit(process: subprocess.Popen, timeout: float = START_TIMEOUT_S) -> int:
    """The exit code of an app expected to refuse to start (killed, and an error, if it does not)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise


@dataclass
class RunningApp:
    """A started app: its URL, process, model, working folder and Gradio temp (upload/cache) folder,
    and when it was spawned (time.time())."""

    url: str
    process: subprocess.Popen
    model: Path
    workdir: Path
    temp_dir: Path
    started: float = field(default_factory=time.time)

    def output(self) -> str:
        """Everything the app printed so far (stdout, then stderr)."""
        return output_of(self.workdir)

    def wait_serving(self) -> None:
        """Return once the page answers; raise with the app's output if it exits first."""
        wait_until_answering(self.url, self.process, self.output)

    def stop(self) -> None:
        stop(self.process)


def start_app(model: Path, detector: Optional[Path], workdir: Path, **extra_env: str) -> RunningApp:
    """Spawn app.py on a free 127.0.0.1 port (not yet answering: see RunningApp.wait_serving)."""
    port = free_port()
    started = time.time()
    process = launch(workdir, app_env(model, detector, workdir, port, **extra_env))
    return RunningApp(f"http://127.0.0.1:{port}/", process, model, workdir, workdir / TEMP_FOLDER, started)


@contextmanager
def running_app(model: Path, detector: Optional[Path], workdir: Path, **extra_env: str) -> Iterator[RunningApp]:
    """Run app.py on a free 127.0.0.1 port for the duration of the `with` block."""
    app = start_app(model, detector, workdir, **extra_env)
    try:
        app.wait_serving()
        yield app
    finally:
        app.stop()
