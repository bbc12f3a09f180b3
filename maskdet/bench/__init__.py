"""Speed benchmark: the product's path against a naive baseline, measured in one run.

Run it as `maskdet bench` (or `python -m maskdet bench`) (options: maskdet.bench.cli). One module a job:

- cli: the command line; measures every figure in order, prints the table, writes --json.
- report: a row of the table, the report, and how it is printed and saved.
- timing, machine: median timings; the machine's cores, clock, fp32 peak and other load.
- paths, photos: the repository's files the benchmark uses; the test photos made from them.
- baseline: the naive recipe and the bare forward pass the product is compared with.
- model_rows, batching_rows: targets 1, 3, 4 and target 2, in this process; layer_profile: T2 layer by
  layer (`--layers`, oneDNN's own timings in a child process).
- app_server, app_rows: app.py as a subprocess and its clients; targets 5 and 6 against it.
- stream, live, live_browser: the live and video figures L1-L3 on a generated stream.
- localserver, synthvideo: helpers the benchmark and the tests share (the one launcher of app.py on a
  free loopback port; generated test videos).

Layer: top, beside maskdet.web (which it starts as a subprocess, never imports); may import
training, evaluation, data, video, core, render and config.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from typing import Optional  # noqa: E402

__all__ = ["command", "main"]


def main(argv: Optional[list[str]] = None) -> int:
    """The benchmark (maskdet.bench.cli.main), imported when it runs: the helpers in this package
    (localserver, synthvideo) stay light to import."""
    from maskdet.bench.cli import main as run

    return run(argv)


def command(argv: Optional[list[str]] = None) -> int:
    """`maskdet bench`: the benchmark with the app's runtime settings, so that the in-process
    figures use the same kernels."""
    from maskdet.core.predictor import assume_frozen_weights

    assume_frozen_weights()
    return main(argv)
