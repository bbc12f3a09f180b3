"""The one `maskdet` command: every subcommand answers --help, `python -m maskdet` is the same entry
point, `maskdet --help` stays light, and every command the docs show is a real subcommand."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pytest

from maskdet import cli
from tests.conftest import REPO_ROOT

DOCUMENTS = ["README.md", "models/MODEL_CARD.md", "models/metrics.json"]


def document_text(name: str) -> str:
    """A document's text; the README's includes docs/*.md, where its reference sections live."""
    text = (REPO_ROOT / name).read_text()
    if name == "README.md":
        text += "".join(page.read_text() for page in sorted((REPO_ROOT / "docs").glob("*.md")))
    return text


@pytest.mark.parametrize("name", sorted(cli.SUBCOMMANDS))
def test_every_subcommand_answers_help(name, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main([name, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: maskdet {name}")


def test_top_level_help_lists_the_subcommands_and_imports_no_framework():
    code = ("import sys; from maskdet.cli import main; code = main(['--help']); "
            "heavy = {'tensorflow', 'keras', 'gradio', 'cv2'} & set(sys.modules); "
            "sys.exit(code or (1 if heavy else 0))")
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert all(name in run.stdout for name in cli.SUBCOMMANDS)


def test_unknown_or_missing_subcommand_is_an_error(capsys):
    assert cli.main(["nonsense"]) == 2 and "unknown subcommand 'nonsense'" in capsys.readouterr().err
    assert cli.main([]) == 2


def test_python_dash_m_maskdet_runs_a_subcommand():
    run = subprocess.run([sys.executable, "-m", "maskdet", "predict", "--help"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("usage: maskdet predict")


def test_the_console_script_is_declared():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"maskdet": "maskdet.cli:main"}


def test_every_documented_command_is_a_subcommand():
    for name in DOCUMENTS:
        text = document_text(name)
        assert not re.search(r"python3? -m maskdet\.", text), f"{name}: an old module-path command"
        used = set(re.findall(r"python3? -m maskdet ([a-z][a-z-]*)", text))
        assert used and used <= set(cli.SUBCOMMANDS), f"{name}: {used - set(cli.SUBCOMMANDS)}"
