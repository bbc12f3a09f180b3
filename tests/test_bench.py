"""Smoke run of the benchmark (`--quick`): every figure is measured and printed; no timing is asserted."""

from __future__ import annotations

import json

import pytest

from maskdet import bench

pytestmark = pytest.mark.slow

EXPECTED_ROWS = [
    "T1 full VGG16 224px: bare forward -> pred+Grad-CAM",
    "T1 full VGG16 224px: naive -> one-pass pred+Grad-CAM",
    "T1 full VGG16 224px: (pred+Grad-CAM) / bare forward",
    "T1 shipped model (bfloat16): bare forward -> pred+Grad-CAM",
    "T1 shipped model (bfloat16): naive -> one-pass pred+Grad-CAM",
    "T1 shipped model (bfloat16): (pred+Grad-CAM) / bare forward",
    "T2 faces found in the 8-face photo",
    "T2 classify+Grad-CAM per face at 8 faces / one face",
    "T2 (info) the same in float32",
    "T2 forward passes for the 8-face photo",
    "T2 whole photo per face at 8 faces / one-face photo",
    "T2 graph traces",
    "T3 full VGG16 224px",
    "T4 640x480 photo, 1 face, end to end",
    "T5 python app.py -> first /predict served",
    "T5 (info) request latency",
    "T6 requests/s: 1 client -> 4 concurrent clients",
    "T6 server RSS",
    "L1 live engine fps, 640x480, 1 face, heatmaps off",
    "L1 live engine fps: heatmaps off -> on",
    "L2 fps one Chromium client receives through app.py",
    "L2 median lag, frame sent -> its result shown",
    "L3 video file fps (H.264 in -> H.264 out)",
    "L3 (info) the whole video job",
]
BREAKDOWN_STAGES = {
    "T4": {"decode", "detect", "crop", "classify", "draw"},
    "T5": {"imports", "model_load", "warm_up", "ui_build", "server_up", "first_request"},
    "L1": {"decode", "detect", "classify", "track", "draw", "jpeg"},
}


def test_quick_run_prints_every_row(tiny_model_file, yunet_file, tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench.main(["--quick", "--repeats", "2", "--model", str(tiny_model_file),
                       "--detector", str(yunet_file), "--json", str(out), "--precision", "bfloat16"])
    printed = capsys.readouterr().out
    assert code == 0
    for key in ("served_precision", "native_bfloat16", "physical_cores", "clock_mhz", "clock_source",
                "peak_gflops_avx2", "tf_intra_op_threads"):
        assert f"{key}:" in printed
    table_lines = [line for line in printed.splitlines()
                   if line.startswith(("T", "L")) and line.endswith(("PASS", "FAIL", "info"))]
    for name in EXPECTED_ROWS:
        (line,) = [line for line in table_lines if name in line]
    report = json.loads(out.read_text())
    assert len(report["rows"]) == len(table_lines)
    assert all(row["product"] is not None and row["product"] >= 0 for row in report["rows"])
    faces_row = next(row for row in report["rows"] if row["figure"].startswith("T2 faces found"))
    assert faces_row["product"] == 8
    passes_row = next(row for row in report["rows"] if row["figure"].startswith("T2 forward passes"))
    assert passes_row["product"] == 1
    lag_row = next(row for row in report["rows"] if row["figure"].startswith("L2 median lag"))
    assert 0 < lag_row["product"] < 10_000 and "(0 frames)" not in lag_row["figure"]  # frames were matched
    for prefix, stages in BREAKDOWN_STAGES.items():
        (title,) = [t for t in report["breakdowns"] if t.startswith(prefix)]
        assert stages <= set(report["breakdowns"][title])


def test_missing_model_is_a_clear_error(tmp_path, yunet_file):
    with pytest.raises(SystemExit, match="model file not found"):
        bench.main(["--quick", "--model", str(tmp_path / "absent.keras"), "--detector", str(yunet_file)])


def test_cpu_isa_reruns_the_same_command_with_the_limit(monkeypatch, tmp_path):
    from maskdet.bench import cli
    from maskdet.bench.machine import CPU_ISA_LIMITS

    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 7)
    for name in CPU_ISA_LIMITS["avx2"]:
        monkeypatch.delenv(name, raising=False)
    argv = ["--quick", "--cpu-isa", "avx2", "--model", str(tmp_path / "m.keras")]
    assert cli.main(argv) == 7  # the child's exit status
    (cmd, env), = calls
    assert cmd[-len(argv):] == argv and cmd[1:4] == ["-m", "maskdet", "bench"]
    assert all(env[name] == value for name, value in CPU_ISA_LIMITS["avx2"].items())
    for name, value in CPU_ISA_LIMITS["avx2"].items():
        monkeypatch.setenv(name, value)
    assert cli.limited_rerun("avx2", argv) is None  # the child runs the benchmark itself


def test_the_avx2_limit_reaches_onednn_and_opencv():
    import os
    import subprocess
    import sys

    from maskdet.bench.machine import CPU_ISA_LIMITS

    probe = ("import cv2, tensorflow as tf; tf.nn.conv2d(tf.ones([1, 8, 8, 4]), tf.ones([3, 3, 4, 4]), 1, 'SAME'); "
             "print('opencv:', cv2.getCPUFeaturesLine())")
    env = {**os.environ, **CPU_ISA_LIMITS["avx2"], "ONEDNN_VERBOSE": "1"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    isa = [line for line in text.splitlines() if "onednn_verbose" in line and ",isa:" in line]
    assert isa and all("AVX-512" not in line and "AMX" not in line for line in isa), isa
    features = next(line for line in text.splitlines() if line.startswith("opencv:"))
    assert "AVX512-SKX" not in features.replace("AVX512-SKX?", "")  # absent, or disabled ("?")


def test_float32_batching_reports_the_floor_a_full_speed_batch_would_reach(tiny_model_file, yunet_file, tmp_path):
    from maskdet.bench.batching_rows import batching_rows
    from maskdet.bench.photos import group_photo
    from maskdet.bench.report import Report
    from maskdet.core.model import load_model
    from maskdet.core.predictor import Predictor

    predictor = Predictor(tiny_model_file, yunet_file, download_detector=False, precision="float32")
    report = Report({}, quick=True)
    batching_rows(report, predictor, load_model(tiny_model_file), group_photo(tmp_path, predictor.detector),
                  reps=2, warm=1, full_rate=100.0)
    rows = {row.figure.split(":")[0]: row for row in report.rows}
    floor = rows["T2 (info) floor"].product
    measured = next(row for name, row in rows.items() if name.startswith("T2 classify+Grad-CAM per face")).product
    assert 0 < floor < measured  # a tiny model batches far below the full VGG16's rate


def test_explain_flops_add_the_backward_pass_above_the_first_heatmap_layer():
    import keras

    from maskdet.bench.model_rows import explain_flops, model_flops

    image = keras.Input((8, 8, 3))
    first = keras.layers.Conv2D(4, 3, padding="same", name="first")(image)  # 2*64*9*3*4 = 13,824
    second = keras.layers.Conv2D(4, 3, padding="same", name="second")(first)  # 2*64*9*4*4 = 18,432
    logits = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(second))  # 2*4*2 = 16
    model = keras.Model(image, logits)
    assert model_flops(model) == 13_824 + 18_432 + 16
    assert explain_flops(model, "first") == model_flops(model) + 18_432 + 16
    assert explain_flops(model, "second") == model_flops(model) + 16
