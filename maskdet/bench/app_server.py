"""The real app for targets 5-6 and the live browser figure: app.py started by
maskdet.bench.localserver (the tests' launcher too), and gradio_client clients that call its /predict."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from maskdet.bench.localserver import start_app, stdout_of
from maskdet.config import STARTUP_LOG_ENV, STARTUP_PREFIX
from maskdet.core.faces import DEFAULT_THRESHOLD
from maskdet.core.numerics import PRECISION_ENV
from maskdet.core.prediction import DEFAULT_OPACITY


class AppServer:
    """app.py on 127.0.0.1 (spawned at construction), printing its start-up stamps."""

    def __init__(self, model: Path, detector: Path, precision: str, workdir: Path) -> None:
        self.app = start_app(model, detector, workdir, **{PRECISION_ENV: precision, STARTUP_LOG_ENV: "1",
                                                          "PYTHONUNBUFFERED": "1"})
        self.url, self.process, self.started = self.app.url, self.app.process, self.app.started

    def stamps(self) -> dict[str, float]:
        """Seconds since spawn at which the app printed each start-up stage."""
        found = {}
        for line in stdout_of(self.app.workdir).splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == STARTUP_PREFIX:
                found[parts[1]] = float(parts[2]) - self.started
        return found

    def wait_serving(self) -> float:
        """Seconds since spawn until the page answers."""
        self.app.wait_serving()
        return time.time() - self.started

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def stop(self) -> None:
        self.app.stop()


def call_predict(client, photo: Path):
    """One /predict call with the app's defaults (threshold, opacity), Grad-CAM on."""
    from gradio_client import handle_file

    return client.predict(handle_file(str(photo)), DEFAULT_THRESHOLD, DEFAULT_OPACITY, True, api_name="/predict")


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
