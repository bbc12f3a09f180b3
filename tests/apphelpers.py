"""Start the real app.py as a subprocess on 127.0.0.1 (a free port) and stop it again.

Shared by the end-to-end, robustness, security and load tests so every one of them talks to the
same code path a user reaches: `python app.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from maskdet.bench.localserver import START_TIMEOUT_S, free_port, wait_until_answering

REPO_ROOT = Path(__file__).resolve().parents[1]

APP = REPO_ROOT / "app.py"


@dataclass
class RunningApp:
    """A started app: its URL, process, model, working folder and Gradio temp (upload/cache) folder."""

    url: str
    process: subprocess.Popen
    model: Path
    workdir: Path
    temp_dir: Path

    def output(self) -> str:
        """Everything the app printed so far (stdout, then stderr)."""
        return output_of(self.workdir)


def output_of(workdir: Path) -> str:
    """What the app started in `workdir` printed: stdout, then stderr."""
    return stdout_of(workdir) + stderr_of(workdir)


def stdout_of(workdir: Path) -> str:
    return (workdir / "app.out").read_text(errors="replace")


def stderr_of(workdir: Path) -> str:
    return (workdir / "app.err").read_text(errors="replace")


def app_env(model: Path, detector: Optional[Path], workdir: Path, port: int, **extra: str) -> dict[str, str]:
    """Environment for one app process: tiny model, loopback only, its own temp folder."""
    env = {**os.environ, "MASKDET_MODEL": str(model), "GRADIO_SERVER_PORT": str(port),
           "GRADIO_TEMP_DIR": str(workdir / "tmp"), "GRADIO_ANALYTICS_ENABLED": "False",
           "TF_CPP_MIN_LOG_LEVEL": "2", **extra}
    env.pop("GRADIO_SERVER_NAME", None)
    env.pop("GRADIO_SHARE", None)
    env.pop("MASKDET_YUNET_PATH", None)
    if detector is not None:
        env["MASKDET_YUNET_PATH"] = str(detector)
    return env


def launch(workdir: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start app.py; stdout and stderr go to workdir/app.out and app.err (files never block it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / "app.out", "w") as out, open(workdir / "app.err", "w") as err:
        return subprocess.Popen([sys.executable, str(APP)], cwd=workdir, env=env, stdout=out, stderr=err)


def stop(process: subprocess.Popen) -> None:
    """Terminate the app process (only this one), killing it if it does not exit in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def running_app(model: Path, detector: Optional[Path], workdir: Path, **extra_env: str) -> Iterator[RunningApp]:
    """Run app.py on a free 127.0.0.1 port for the duration of the `with` block."""
    port = free_port()
    process = launch(workdir, app_env(model, detector, workdir, port, **extra_env))
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_answering(url, process, lambda: output_of(workdir))
        yield RunningApp(url, process, model, workdir, workdir / "tmp")
    finally:
        stop(process)


def wait_for_exit(process: subprocess.Popen, timeout: float = START_TIMEOUT_S) -> int:
    """The exit code of an app expected to refuse to start (killed, and an error, if it does not)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process)
        raise


def shot(page, name: str) -> None:
    """With MASKDET_SCREENSHOTS set, save a screenshot of the page there (NAME-KIND.png for the
    phone and desktop pages of the app fixture, NAME.png for other pages)."""
    folder = os.environ.get("MASKDET_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        kind = getattr(page, "kind", None)
        page.screenshot(path=str(Path(folder) / (f"{name}-{kind}.png" if kind else f"{name}.png")))
