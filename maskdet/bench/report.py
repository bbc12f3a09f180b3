"""The benchmark's report: a row of the table, the whole report, and how it is printed and saved."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Optional

OTHER_LOAD_WARNING = 0.05
"""Above this share of the CPU used by other processes during the run, the report says so."""


@dataclass
class Row:
    """One line of the table. `gate` says which column the target applies to: ratio or product."""

    figure: str
    baseline: Optional[float]
    product: Optional[float]
    unit: str
    target: str = ""
    gate: str = "ratio"
    limit: Optional[float] = None
    compare: str = "<="

    @property
    def ratio(self) -> Optional[float]:
        if self.baseline in (None, 0) or self.product is None:
            return None
        return self.product / self.baseline

    @property
    def passed(self) -> Optional[bool]:
        value = self.ratio if self.gate == "ratio" else self.product
        if self.limit is None or value is None:
            return None
        return {"<=": value <= self.limit, ">=": value >= self.limit, "==": value == self.limit}[self.compare]


@dataclass
class Report:
    """All rows plus the machine facts and start-up breakdown, printed and optionally saved."""

    machine: dict
    rows: list[Row] = field(default_factory=list)
    breakdowns: dict[str, dict[str, float]] = field(default_factory=dict)
    quick: bool = False
    other_load: float = 0.0

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  measured: {row.figure}", file=sys.stderr, flush=True)


NOTES = (
    "Reading the table: ratio = product / baseline; 'target' names the column it gates. Times are medians,",
    "timed round-robin after a warm-up; 'naive' is the tutorial recipe (model.predict, then a gradient model",
    "run again eagerly under a GradientTape), one call per face.",
    "T3: peak = physical cores x clock x 32 fp32 FLOP/cycle (AVX2, two FMA units), as the target defines it.",
    "The clock is the one the OS reports (see clock_source): under a hypervisor that is the nominal clock,",
    "not the boost clock; on a CPU with AVX-512 (avx512f, unless instruction_set_limit keeps the kernels to",
    "AVX2) the achieved rate can exceed that 'peak', and the AVX-512 row shows the same figure against 64",
    "FLOP/cycle. FLOPs: 2 per multiply-add of every Conv2D and Dense layer, from the layer shapes.",
    "T5/T6: app.py as a subprocess on 127.0.0.1; clients are gradio_client instances in this process.",
    "L1-L3 (maskdet.bench.live): a 640x480 stream with one face. L1 in this process, frame after frame; L2 one",
    "Debian Chromium client of app.py's Live tab, its fake camera playing the stream (lag: frame sent -> its",
    "result shown, on the page's clock, frames recognised by the squares drawn in them); L3 an H.264 file of the",
    "same stream through the Video tab's code. The browser runs on the same cores as the app.",
)


def format_value(value: Optional[float]) -> str:
    """Three significant digits, or '-' for a missing figure."""
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def render(report: Report) -> str:
    """The whole report as text: machine facts, the target table, the breakdowns."""
    lines = ["maskdet benchmark" + (" (--quick smoke run: figures are not meaningful)" if report.quick else "")]
    lines += [f"  {key}: {value}" for key, value in report.machine.items()]
    width = max(len(row.figure) for row in report.rows)
    header = f"{'figure':<{width}}  {'baseline':>9}  {'product':>9}  {'ratio':>7}  {'target':<18}  result"
    lines += ["", header, "-" * len(header)]
    for row in report.rows:
        verdict = {None: "info", True: "PASS", False: "FAIL"}[row.passed]
        lines.append(f"{row.figure:<{width}}  {format_value(row.baseline):>9}  {format_value(row.product):>9}  "
                     f"{format_value(row.ratio):>7}  {row.target or '-':<18}  {verdict}")
    for title, stages in report.breakdowns.items():
        lines += ["", title] + [f"  {stage:<18} {value:8.3g}" for stage, value in stages.items()]
    lines += [""] + list(NOTES)
    if report.other_load > OTHER_LOAD_WARNING:
        lines += ["", f"WARNING: other processes used {report.other_load:.0%} of the CPU during this run; "
                      "the figures are not representative. Rerun on an idle machine."]
    return "\n".join(lines)


def to_json(report: Report) -> dict:
    """The report as JSON-serialisable data (for --json)."""
    rows = [{**asdict(row), "ratio": row.ratio, "passed": row.passed} for row in report.rows]
    return {"machine": report.machine, "rows": rows, "breakdowns": report.breakdowns, "quick": report.quick}
