"""Let `import torchvision` work next to a CPU-only torch, for the ComfyUI the integration tests run.

PyPI's Linux torchvision wheels are CUDA builds: with a CPU torch their `_C` extension does not load, and
the import then dies declaring fake kernels for operators that were never defined (torchvision::nms).
ComfyUI imports torchvision at start-up but its Wan path never calls those operators, so declaring their
schemas is enough. `--install` writes this file's hook into the running Python's site-packages (a .pth
line runs it at start-up) when, and only when, torchvision does not import as it is.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import subprocess
import sys
from pathlib import Path

MODULE = "reco_torchvision_cpu_shim"
OPERATORS = ("nms", "qnms")
_LIBRARY = None  # kept alive: the operator schemas live as long as this object


def declare_missing_operators() -> None:
    """Declare torchvision's operator schemas when its compiled extension cannot be loaded."""
    global _LIBRARY
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return
    try:
        torch.ops.load_library(str(Path(next(iter(spec.submodule_search_locations))) / "_C.so"))
        return
    except (OSError, RuntimeError):
        pass
    _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for name in OPERATORS:
        _LIBRARY.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs `declare_missing_operators` once, just before torchvision is first imported."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path.remove(self)
            declare_missing_operators()
        return None


def activate() -> None:
    sys.meta_path.insert(0, _BeforeTorchvision())


def torchvision_imports() -> bool:
    return subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True).returncode == 0


def install() -> None:
    if torchvision_imports():
        return
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    (site / f"{MODULE}.py").write_text(Path(__file__).read_text(encoding="utf-8"), encoding="utf-8")
    (site / f"{MODULE}.pth").write_text(f"import {MODULE}; {MODULE}.activate()\n", encoding="utf-8")
    if not torchvision_imports():
        sys.exit("torchvision does not import even with the operator schemas declared")
    print("torchvision: declared nms/qnms for the CPU-only torch", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] != ["--install"]:
        sys.exit(f"usage: {sys.argv[0]} --install")
    install()
