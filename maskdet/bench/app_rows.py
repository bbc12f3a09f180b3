"""Targets 5 and 6 against the real app.py subprocess: start-up time with its per-stage breakdown,
throughput with 1 and 4 concurrent clients, and memory growth over many requests."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from maskdet.bench.app_server import AppServer, call_predict, new_client, requests_per_second
from maskdet.bench.photos import one_face_photo
from maskdet.bench.report import Report, Row
from maskdet.bench.timing import median_ms

STARTUP_REQUESTS = 6
"""Requests sent by `startup_timings`: the first one and five more for the steady latency."""


def app_rows(report: Report, model: Path, detector: Path, precision: str, photo: Path, quick: bool,
             memory_requests: int = 200) -> None:
    """Targets 5 and 6 against the real app.py subprocess: start-up (median of several cold
    starts), then throughput and memory on the last server started."""
    starts = 1 if quick else 3
    timings = []
    with tempfile.TemporaryDirectory(prefix="maskdet-bench-app-") as tmp:
        for attempt in range(starts):
            server = AppServer(model, detector, precision, Path(tmp))
            try:
                timings.append(startup_timings(server, photo))
                if attempt == starts - 1:
                    _throughput_rows(report, server, photo, STARTUP_REQUESTS, quick, memory_requests)
            finally:
                server.stop()
    _startup_rows(report, timings)


def startup_timings(server: AppServer, photo: Path) -> dict[str, float]:
    """Seconds from spawn to each start-up stage, plus the steady request latency (ms)."""
    serving_s = server.wait_serving()
    client = new_client(server.url)
    connected_s = time.time() - server.started
    call_predict(client, photo)
    first_s = time.time() - server.started
    steady_ms = median_ms(lambda: call_predict(client, photo), STARTUP_REQUESTS - 1, 0)
    return {**server.stamps(), "server_up": serving_s, "client_connected": connected_s,
            "first_request": first_s, "steady_ms": steady_ms}


def _startup_rows(report: Report, timings: list[dict[str, float]]) -> None:
    """Target 5 rows and the per-stage breakdown, medians over the starts."""
    median = {key: statistics.median(t[key] for t in timings) for key in timings[0]}
    steady_ms = median.pop("steady_ms")
    ordered = sorted(median.items(), key=lambda item: item[1])
    report.breakdowns[f"T5 start-up, s (time spent in each stage, median of {len(timings)} starts)"] = {
        stage: at - (ordered[i - 1][1] if i else 0.0) for i, (stage, at) in enumerate(ordered)}
    report.add(Row("T5 python app.py -> first /predict served, s", None, median["first_request"], "s",
                   "product <= 20 s", gate="product", limit=20.0))
    report.add(Row("T5 (info) request latency: later requests -> first request, ms", steady_ms,
                   (median["first_request"] - median["client_connected"]) * 1000, "ms"))


def _throughput_rows(report: Report, server: AppServer, photo: Path, served: int, quick: bool,
                     memory_requests: int = 200) -> None:
    """Target 6: throughput with 1 and 4 clients; memory after 10 and after `memory_requests` requests."""
    per_round, rounds = (3, 1) if quick else (15, 2)
    photos = [photo] + [one_face_photo(photo.parent, variant) for variant in range(1, 4)]
    # The same five users (sessions) throughout, as people using the app: each session's kept
    # result (webview.KeptResults, there for redraws without a model call) exists before the first
    # figure and is replaced after, so growth between the figures is a leak, not a store filling.
    # Requests 7-10 come from the 4 concurrent clients, so one-off per-thread allocations (request
    # threads, their TensorFlow and oneDNN scratch) are in the 10-request figure as in the last.
    solo, group = [new_client(server.url)], [new_client(server.url) for _ in range(4)]
    solo_warm_up = max(1, 10 - served - len(group))
    requests_per_second(solo, photos, solo_warm_up)
    requests_per_second(group, photos, 1)
    served += solo_warm_up + len(group)
    rss_10 = server.rss_mb()
    single, four = [], []
    for _ in range(rounds):  # alternated, so that drift in the machine's speed hits both alike
        single.append(requests_per_second(solo, photos, per_round))
        four.append(requests_per_second(group, photos, per_round))
    served += 5 * per_round * rounds
    rest = -(-max(0, (20 if quick else memory_requests) - served) // 4)
    if rest:
        requests_per_second(group, photos, rest)
        served += 4 * rest
    rss_end = server.rss_mb()
    report.add(Row("T6 requests/s: 1 client -> 4 concurrent clients", statistics.median(single),
                   statistics.median(four), "req/s", "ratio >= 1.5",
                   limit=1.5, compare=">="))
    report.add(Row(f"T6 server RSS: after 10 -> after {served} requests, MiB", rss_10, rss_end, "MiB",
                   "ratio <= 1.1", limit=1.1))
