"""The packaging contract: what pyproject promises is what the code needs, on every Python it names."""

import ast
import re
from pathlib import Path

from reco_core.fsutil import tomllib

ROOT = Path(__file__).resolve().parents[1]
CODE = [*sorted((ROOT / "reco_core").rglob("*.py")), *sorted((ROOT / "nodes").rglob("*.py"))]


def requirement_names(lines) -> dict[str, str]:
    """{normalised package name: marker or ""} of requirement lines."""
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name = re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower().replace("_", "-")
            found[name] = line.split(";", 1)[1].strip() if ";" in line else ""
    return found


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield from ((node.module, alias.name) for alias in node.names)


def test_pyproject_and_requirements_name_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = requirement_names(project["dependencies"])
    required = requirement_names((ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines())
    assert "sentencepiece" in declared  # UMT5's tokenizer
    assert declared.pop("torch") == ""  # ComfyUI brings torch; requirements.txt leaves it to ComfyUI
    assert declared == required


def test_tomllib_is_only_imported_where_python_3_10_gets_tomli():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.10"
    assert "python_version" in requirement_names(project["dependencies"])["tomli"]
    importers = {str(path.relative_to(ROOT)) for path in CODE for module, _ in imports(path) if module == "tomllib"}
    assert importers == {"reco_core/fsutil.py"}


def test_no_private_names_of_the_libraries_are_imported():
    private = sorted(f"{path.relative_to(ROOT)}: {module}.{name}" for path in CODE for module, name in imports(path)
                     if module.split(".")[0] in {"diffusers", "transformers", "peft", "accelerate", "safetensors"}
                     and name is not None and name.startswith("_"))
    assert private == []
