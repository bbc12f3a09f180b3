"""Facts about the machine the benchmark runs on: cores, clock, SIMD, TF threads, the fp32 peak,
and the share of the CPU other processes used during the run."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import tensorflow as tf

from maskdet.core.predictor import FROZEN_WEIGHTS_ENV
from maskdet.core.numerics import ONEDNN_ISA_ENV, cpu_flags, native_bfloat16

FLOP_PER_CYCLE_AVX2 = 32
"""fp32 FLOP per cycle and core with AVX2 and two FMA units: 2 units x 8 lanes x 2 (multiply + add)."""
FLOP_PER_CYCLE_AVX512 = 64
"""The same with two 512-bit FMA units (reported for information when the CPU has AVX-512F)."""


def cpu_clock_mhz() -> tuple[float, str]:
    """(MHz, where it came from): lscpu's max, else its base, else /proc/cpuinfo's 'cpu MHz'."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        lscpu = ""
    for key in ("CPU max MHz", "CPU MHz"):
        match = re.search(rf"^{key}:\s*([\d.]+)", lscpu, re.MULTILINE)
        if match and float(match.group(1)) > 0:
            return float(match.group(1)), f"lscpu '{key}'"
    cpuinfo = Path("/proc/cpuinfo").read_text()
    values = [float(v) for v in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.MULTILINE)]
    return max(values), "/proc/cpuinfo 'cpu MHz' (lscpu reports no max/base MHz on this machine)"


def physical_cores() -> int:
    """Cores available to this process (affinity), counting one per physical core when SMT is on."""
    logical = len(os.sched_getaffinity(0))
    siblings = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list")
    per_core = len(siblings.read_text().strip().replace("-", ",").split(",")) if siblings.is_file() else 1
    return max(1, logical // per_core)


def machine_facts() -> dict:
    """Cores, clock and its source, SIMD flags, TF thread settings and the fp32 peak."""
    mhz, clock_source = cpu_clock_mhz()
    flags = cpu_flags()
    cores = physical_cores()
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpus_in_affinity": len(os.sched_getaffinity(0)),
        "physical_cores": cores,
        "clock_mhz": mhz,
        "clock_source": clock_source,
        "avx2_fma": "avx2" in flags and "fma" in flags,
        "avx512f": "avx512f" in flags,
        "native_bfloat16": native_bfloat16(flags),
        "tf_version": tf.__version__,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1 (TF default on x86 Linux)"),
        "instruction_set_limit": instruction_set_limit(),
        "onednn_frozen_weights": os.environ.get(FROZEN_WEIGHTS_ENV, "unset"),
        "peak_gflops_avx2": cores * mhz / 1000 * FLOP_PER_CYCLE_AVX2,
        "peak_gflops_avx512": cores * mhz / 1000 * FLOP_PER_CYCLE_AVX512 if "avx512f" in flags else None,
    }


OPENCV_DISABLE_ENV = "OPENCV_CPU_DISABLE"
CPU_ISA_LIMITS: dict[str, dict[str, str]] = {
    "avx2": {ONEDNN_ISA_ENV: "AVX2", OPENCV_DISABLE_ENV: "AVX512-SKX"},
}
"""--cpu-isa NAME: the environment that keeps oneDNN (the classifier) and OpenCV (YuNet, image
decoding) to that instruction set, so a newer CPU stands in for an older one (same clock and caches,
so an estimate). TensorFlow's own kernels are built for a baseline below AVX2 and need no limit."""


def instruction_set_limit() -> str:
    """What this process's kernels are limited to, as the environment says ("none" when unlimited)."""
    limits = [f"{name}={os.environ[name]}" for name in (ONEDNN_ISA_ENV, OPENCV_DISABLE_ENV) if os.environ.get(name)]
    return ", ".join(limits) or "none"


def busy_cpu_seconds() -> float:
    """CPU-seconds the whole machine has been busy since boot (/proc/stat, all processes)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU-seconds used by this process and its finished children (the app server)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def other_load_share(start: tuple[float, float, float]) -> float:
    """Share of the machine's CPU that other processes used since `start` (wall, busy, own)."""
    wall, busy, own = time.time() - start[0], busy_cpu_seconds() - start[1], own_cpu_seconds() - start[2]
    return max(0.0, busy - own) / (wall * len(os.sched_getaffinity(0)))


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    match = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    return match.group(1).strip() if match else "unknown"
