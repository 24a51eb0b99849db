"""Training checkpoints: written atomically (a temporary folder renamed into place), found again on resume.

A checkpoint folder `checkpoints/step-000250/` holds the LoRA weights (safetensors), the optimizer
state and the RNG states (torch.save of plain tensors and numbers, read back with weights_only) and
`state.json` (the step). A folder is complete exactly when its final name exists.
"""

from __future__ import annotations

import json
import pickle
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ..errors import ReCoInputError
from ..fsutil import give_default_mode, make_temp_dir, replace_folder, save_safetensors

PREFIX = "step-"
NAME = re.compile(rf"^{PREFIX}(?P<step>\d+)$")


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
    final = folder / f"{PREFIX}{step:06d}"
    staging = make_temp_dir(folder, final.name)
    try:
        save_safetensors(lora, staging / "lora.safetensors")
        torch.save({"optimizer": optimizer_state, "rng": rng_state()}, staging / "training_state.pt")
        (staging / "state.json").write_text(json.dumps({"step": step, **(extra or {})}, indent=2))
        give_default_mode(staging)
        replace_folder(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if keep:
        for old in list_checkpoints(folder)[:-keep]:
            shutil.rmtree(old.path, ignore_errors=True)
    return Checkpoint(final, step)


def list_checkpoints(folder: Path) -> list[Checkpoint]:
    """Complete checkpoints under `folder`, oldest first. Half-written temporary folders, and folders named
    otherwise than step-NNNNNN (a renamed copy such as step-000250.bak), are not checkpoints."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = NAME.match(path.name)
        if match and path.is_dir() and (path / "state.json").is_file():
            found.append(Checkpoint(path, int(match["step"])))
    return sorted(found, key=lambda c: c.step)


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    found = list_checkpoints(folder)
    return found[-1] if found else None


class DamagedCheckpoint(ReCoInputError):
    """A checkpoint file that cannot be resumed from; `path` is the file (or folder) at fault."""

    def __init__(self, path: Path, problem: str, fix: str = "It is damaged."):
        self.path = path
        super().__init__(str(path), problem, fix)


def load_checkpoint(checkpoint: Checkpoint) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """(LoRA weights, optimizer state, training state incl. RNG) of a checkpoint; `DamagedCheckpoint` naming
    the file when one of them cannot be used."""
    state = _read_state(checkpoint)
    lora = _read_lora(checkpoint.lora_path)
    training = _read_training_state(checkpoint.path / "training_state.pt")
    return lora, training["optimizer"], {**state, "rng": training["rng"]}


def load_latest(folder: Path) -> tuple[Checkpoint, tuple] | None:
    """The newest checkpoint under `folder` and what `load_checkpoint` reads from it, or None when there is
    none. A damaged newest checkpoint raises naming the damaged file and offering the newest one that reads."""
    found = list_checkpoints(folder)
    if not found:
        return None
    try:
        return found[-1], load_checkpoint(found[-1])
    except DamagedCheckpoint as damaged:
        raise DamagedCheckpoint(damaged.path, damaged.problem, _fallback(found[:-1], found[-1])) from None


def _fallback(older: list[Checkpoint], damaged: Checkpoint) -> str:
    for checkpoint in reversed(older):
        try:
            load_checkpoint(checkpoint)
        except DamagedCheckpoint:
            continue
        return (f"To resume from {checkpoint.path.name} (step {checkpoint.step}), the newest checkpoint that reads, "
                f"delete {damaged.path} (or move it out of {damaged.path.parent}) and resume again.")
    return (f"No earlier checkpoint reads: delete {damaged.path.parent} to start over, or start a new run in "
            "another folder.")


def _read_state(checkpoint: Checkpoint) -> dict:
    path = checkpoint.path / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedCheckpoint(path, f"is not readable JSON ({_first_line(error)})") from None
    step = state.get("step") if isinstance(state, dict) else None
    if isinstance(step, bool) or not isinstance(step, int):
        raise DamagedCheckpoint(path, "does not say which step it is (no whole-number \"step\")")
    if step != checkpoint.step:
        raise DamagedCheckpoint(checkpoint.path, f"holds step {step} (its state.json) but is named for step "
                                f"{checkpoint.step}: the folder was renamed",
                                f"Rename it back to {PREFIX}{step:06d}, or delete it.")
    return state


def _read_lora(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DamagedCheckpoint(path, "is missing")
    try:
        lora = load_file(str(path))
    except Exception as error:  # safetensors raises several types for missing, truncated and damaged files
        raise DamagedCheckpoint(path, f"is damaged or cut short ({_first_line(error)})") from None
    if not lora:
        raise DamagedCheckpoint(path, "holds no weights")
    broken = [key for key, value in lora.items() if not bool(torch.isfinite(value).all())]
    if broken:
        raise DamagedCheckpoint(path, f"holds NaN or infinite weights (e.g. {broken[0]}): training diverged before "
                                "it was saved")
    return lora


def _read_training_state(path: Path) -> dict:
    if not path.is_file():
        raise DamagedCheckpoint(path, "is missing")
    try:
        training = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only" in str(error).lower():
            raise DamagedCheckpoint(path, "holds more than plain tensors and numbers (refused: loading it could "
                                    "run code)", "It was not written by this trainer; delete it.") from None
        raise DamagedCheckpoint(path, f"is damaged or cut short ({_first_line(error)})") from None
    except RecursionError:
        raise DamagedCheckpoint(path, "nests its contents too deep to be read") from None
    except Exception as error:  # a truncated zip, a missing file: torch raises RuntimeError, OSError, EOFError...
        raise DamagedCheckpoint(path, f"is damaged or cut short ({_first_line(error)})") from None
    rng = training.get("rng") if isinstance(training, dict) else None
    if not isinstance(training, dict) or not isinstance(training.get("optimizer"), dict) or not isinstance(rng, dict) \
            or not all(isinstance(rng.get(key), kind) for key, kind in
                       (("torch", torch.Tensor), ("numpy", torch.Tensor), ("python", list))):
        raise DamagedCheckpoint(path, "does not hold the optimizer and random-number states this trainer writes")
    return training


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]
