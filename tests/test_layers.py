"""The package's layers: imports only go down (maskdet/__init__.py lists them), and the layers
under the web app never import gradio. Read from the source with ast, so imports inside functions
count too."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "maskdet"
LAYERS = [  # top to bottom; a module may import its own part and any part of a lower layer
    {"cli"},
    {"web", "bench"},
    {"training"},
    {"evaluation"},
    {"data"},
    {"video"},
    {"core"},
    {"render"},
    {"config"},
]
TOP_LEVEL = {"cli": "cli", "__main__": "cli", "predict": "cli", "config": "config"}
"""The package's own modules: the command line on top, config (and maskdet/__init__.py) at the bottom."""
WITHOUT_GRADIO = {"training", "evaluation", "data", "video", "core", "render", "config"}


def part_of(module: str) -> str:
    """maskdet.core.faces -> core; maskdet.predict -> cli; maskdet -> config."""
    names = module.split(".")
    return TOP_LEVEL.get(names[1], names[1]) if len(names) > 1 else "config"


def layer_of(part: str) -> int:
    return next(index for index, parts in enumerate(LAYERS) if part in parts)


def is_module(dotted: str, root: Path = REPO_ROOT) -> bool:
    path = root.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def module_name(path: Path, root: Path = REPO_ROOT) -> str:
    names = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(names[:-1] if names[-1] == "__init__" else names)


def imports(path: Path, root: Path = REPO_ROOT) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, `from a import b` resolved to a.b when
    b is a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                found.append((node.lineno, whole if is_module(whole, root) else node.module))
    return found


def sources(root: Path = REPO_ROOT) -> list[Path]:
    return sorted((root / "maskdet").rglob("*.py"))


def upward_imports(root: Path = REPO_ROOT) -> list[str]:
    """Every import of a maskdet module from a part at the same layer or a lower one."""
    upward = []
    for path in sources(root):
        source = part_of(module_name(path, root))
        for line, target in imports(path, root):
            if target != "maskdet" and not target.startswith("maskdet."):
                continue
            part = part_of(target)
            if part != source and layer_of(part) <= layer_of(source):
                upward.append(f"{path.relative_to(root)}:{line} ({source}) imports {target} ({part})")
    return upward


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(module_name(path)) for path in sources()}
    assert parts <= set().union(*LAYERS), parts - set().union(*LAYERS)


def test_imports_only_go_down_the_layers():
    upward = upward_imports()
    assert not upward, "\n".join(upward)


def test_the_layers_under_the_web_app_never_import_gradio():
    offenders = [f"{path.relative_to(REPO_ROOT)}:{line} imports {target}"
                 for path in sources() if part_of(module_name(path)) in WITHOUT_GRADIO
                 for line, target in imports(path) if target.split(".")[0] == "gradio"]
    assert not offenders, "\n".join(offenders)


def test_the_check_catches_an_upward_import_and_a_sideways_one(tmp_path):
    for folder, text in [("core", "from maskdet.web import serving\n"), ("data", "def f():\n    import maskdet.training\n"),
                         ("web", "from maskdet.bench import localserver\n"), ("video", "from maskdet.core import faces\n")]:
        (tmp_path / "maskdet" / folder).mkdir(parents=True)
        (tmp_path / "maskdet" / folder / "probe.py").write_text(text)
    assert sorted(line.split(":")[0] for line in upward_imports(tmp_path)) == [
        "maskdet/core/probe.py", "maskdet/data/probe.py", "maskdet/web/probe.py"]
