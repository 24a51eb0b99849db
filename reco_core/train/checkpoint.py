"""Training checkpoints: written atomically (a temporary folder renamed into place), found again on resume.

A checkpoint folder `checkpoints/step-000250/` holds the LoRA weights (safetensors), the optimizer
state and the RNG states (torch.save of plain tensors and numbers, read back with weights_only) and
`state.json` (the step). A folder is complete exactly when its final name exists.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ..fsutil import give_default_mode, save_safetensors

PREFIX = "step-"


@dataclass
class Checkpoint:
    path: Path
    step: int

    @property
    def lora_path(self) -> Path:
        return self.path / "lora.safetensors"


def rng_state() -> dict:
    numpy_keys = torch.from_numpy(np.random.get_state()[1].astype(np.int64))
    state = {"torch": torch.get_rng_state(), "numpy": numpy_keys, "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state = list(np.random.get_state())
    numpy_state[1] = state["numpy"].numpy().astype(np.uint32)
    np.random.set_state(tuple(numpy_state))
    random.setstate((3, tuple(int(x) for x in state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, step: int, lora: dict[str, torch.Tensor], optimizer_state: dict,
                    extra: dict | None = None, keep: int = 0) -> Checkpoint:
    """Write checkpoint `step` under `folder` atomically; keep only the newest `keep` (0 keeps all)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{PREFIX}{step:06d}"
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=folder))
    try:
        save_safetensors(lora, staging / "lora.safetensors")
        torch.save({"optimizer": optimizer_state, "rng": rng_state()}, staging / "training_state.pt")
        (staging / "state.json").write_text(json.dumps({"step": step, **(extra or {})}, indent=2))
        if final.exists():
            shutil.rmtree(final)
        give_default_mode(staging)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if keep:
        for old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, step)


def list_checkpoints(folder: Path) -> list[Checkpoint]:
    """Complete checkpoints under `folder`, oldest first (half-written temporary folders are ignored)."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if path.is_dir() and path.name.startswith(PREFIX) and (path / "state.json").is_file():
            found.append(Checkpoint(path, int(path.name[len(PREFIX):])))
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


def load_checkpoint(checkpoint: Checkpoint) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """(LoRA weights, optimizer state, training state incl. RNG) of a checkpoint."""
    lora = load_file(str(checkpoint.lora_path))
    training = torch.load(checkpoint.path / "training_state.pt", map_location="cpu", weights_only=True)
    state = json.loads((checkpoint.path / "state.json").read_text())
    return lora, training["optimizer"], {**state, "rng": training["rng"]}
