"""The real app for targets 5-6 and the live browser figure: app.py as a subprocess on 127.0.0.1,
and gradio_client clients that call its /predict."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from maskdet.bench.paths import APP_FILE
from maskdet.core.faces import YUNET_ENV
from maskdet.core.predictor import MODEL_ENV
from maskdet.bench.localserver import free_port, wait_until_answering
from maskdet.core.numerics import PRECISION_ENV

STARTUP_PREFIX = "maskdet-startup"


class AppServer:
    """app.py as a subprocess on 127.0.0.1; records start-up stamps printed by the app."""

    def __init__(self, model: Path, detector: Path, precision: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, MODEL_ENV: str(model), YUNET_ENV: str(detector), PRECISION_ENV: precision,
               "GRADIO_SERVER_PORT": str(self.port), "GRADIO_TEMP_DIR": str(workdir / "gradio-tmp"),
               "GRADIO_ANALYTICS_ENABLED": "False", "MASKDET_STARTUP_LOG": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("GRADIO_SERVER_NAME", None)
        self.lines: list[str] = []
        self.started = time.time()
        self.process = subprocess.Popen([sys.executable, str(APP_FILE)], cwd=workdir, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def stamps(self) -> dict[str, float]:
        """Seconds since spawn at which the app printed each start-up stage."""
        found = {}
        for line in list(self.lines):
            parts = line.split()
            if len(parts) == 3 and parts[0] == STARTUP_PREFIX:
                found[parts[1]] = float(parts[2]) - self.started
        return found

    def wait_serving(self) -> float:
        """Seconds since spawn until the page answers."""
        wait_until_answering(self.url, self.process, lambda: "\n".join(self.lines[-30:]))
        return time.time() - self.started

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def call_predict(client, photo: Path):
    """One /predict call with the app's defaults (threshold 0.6, opacity 0.45, Grad-CAM on)."""
    from gradio_client import handle_file

    return client.predict(handle_file(str(photo)), 0.6, 0.45, True, api_name="/predict")


def new_client(url: str):
    """A gradio_client for the local app. It opens a new httpx client per HTTP call, and with
    ssl_verify on each one loads the CA bundle: ~100 ms of CPU per request here, taken from the
    2 cores the server needs. The app is plain HTTP on 127.0.0.1, so there is nothing to verify."""
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=False)


def requests_per_second(clients: list, photos: list[Path], per_client: int) -> float:
    """Throughput of the given clients sending `per_client` requests each at once, each client its own
    photo (distinct photos, as from distinct users, so no two results are byte-identical files)."""
    def run(client_and_photo) -> None:
        client, photo = client_and_photo
        for _ in range(per_client):
            call_predict(client, photo)

    start = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(run, zip(clients, photos)))
    return len(clients) * per_client / (time.perf_counter() - start)
