"""The package as people install it: every subpackage is in the wheel, the shipped model travels
inside it, and its `maskdet` command runs from another folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

from tests.conftest import EXAMPLES, REPO_ROOT


def test_pyproject_lists_every_subpackage():
    listed = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"maskdet." + init.parent.name for init in (REPO_ROOT / "maskdet").glob("*/__init__.py")}
    assert found | {"maskdet", "maskdet.models"} == listed


@pytest.mark.slow
def test_the_wheel_carries_the_model_and_its_command_runs_from_another_folder(tmp_path, yunet_file):
    pytest.importorskip("setuptools")
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    source = tmp_path / "source"  # a copy of what the wheel is built from: no build files in the checkout
    shutil.copytree(REPO_ROOT / "maskdet", source / "maskdet", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ["pyproject.toml", "README.md", "models/maskdet_vgg16.keras", "models/metrics.json",
                 "models/MODEL_CARD.md"]:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", str(source), "--no-deps", "--no-build-isolation", "-w", str(wheels)],
                   check=True, timeout=300, cwd=tmp_path)
    (wheel,) = wheels.glob("maskdet-*.whl")
    assert "maskdet/models/maskdet_vgg16.keras" in zipfile.ZipFile(wheel).namelist()
    subprocess.run(pip + ["install", "--no-deps", "--target", str(target), str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target), "MASKDET_YUNET_PATH": str(yunet_file)}
    env.pop("MASKDET_MODEL", None)
    code = ("import sys; from maskdet.cli import main; from maskdet.core import predictor; "
            "print(predictor.DEFAULT_MODEL_PATH); sys.exit(main())")
    run = subprocess.run([sys.executable, "-c", code, "predict", str(EXAMPLES / "astronaut_mask.jpg"), "--no-cam"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    model_path, verdict = run.stdout.splitlines()[:2]
    assert model_path == str(target / "maskdet" / "models" / "maskdet_vgg16.keras")
    assert "astronaut_mask.jpg: 1 face: 1 with mask" in verdict
    assert (target / "bin" / "maskdet").is_file()
