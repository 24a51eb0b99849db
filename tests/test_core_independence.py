"""reco_core is plain torch/diffusers: it never imports ComfyUI (nor the pack's nodes/, which do)."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "reco_core"
#: Top-level modules of a ComfyUI install (and the pack's own ComfyUI front end).
COMFYUI_MODULES = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "comfy_config", "folder_paths", "server",
                   "execution", "node_helpers", "latent_preview", "nodes", "app", "comfyui_version"}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level names of every absolute import in `path`, wherever it sits (module level or in a function)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_core_module_imports_comfyui():
    offenders = {str(path.relative_to(CORE)): sorted(imported_top_levels(path) & COMFYUI_MODULES)
                 for path in sorted(CORE.rglob("*.py"))}
    assert len(offenders) > 50  # the walk found the package
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import folder_paths\n    from comfy.utils import ProgressBar\n")
    assert imported_top_levels(sample) == {"folder_paths", "comfy"}


def test_importing_every_core_module_loads_no_comfyui():
    script = f"""
import importlib, pkgutil, sys
import reco_core
for module in pkgutil.walk_packages(reco_core.__path__, "reco_core."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in {sorted(COMFYUI_MODULES)!r})
print(loaded)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=CORE.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def relative_imports(path: Path) -> set[str]:
    """The reco_core subpackages `path` imports relatively (its own package's siblings by name)."""
    package = path.relative_to(CORE).parts[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = ([] if node.level > 1 else [package]) + (node.module or "").split(".")
            found.add(parts[0] if node.module else (node.names[0].name if node.level > 1 else package))
    return found


def test_the_trainer_and_the_model_loaders_never_import_the_miniature():
    """The arrows run down: reco_core.bundled resolves "shapes" above train/ and models/."""
    for package in ("train", "models", "engine"):
        for path in sorted((CORE / package).rglob("*.py")):
            assert "shapes" not in relative_imports(path), path


def test_the_installed_package_never_reaches_into_the_build_tooling():
    """shapes_lab (the miniature's build and studies) reads configs/ and writes docs/: repository only."""
    users = sorted(str(path.relative_to(CORE)) for path in CORE.rglob("*.py") if "shapes_lab" in imported_top_levels(path))
    assert users == []
    from reco_core.fsutil import tomllib

    project = tomllib.loads((CORE.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["reco_core*"]
