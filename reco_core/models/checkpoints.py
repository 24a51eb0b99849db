"""Reading Wan weights from whatever a user has, offline: tensors plus the config found next to them.

* one `.safetensors` file in the original Wan / ComfyUI layout (any wrapper prefix) or the diffusers layout,
  with the config `saving` writes into its metadata;
* a diffusers folder (`config.json` + safetensors shards), or a pipeline snapshot holding `transformer/` or `vae/`;
* a legacy pickle (`.pth`, `.pt`, `.ckpt`, `.bin`), read only with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import ReCoInputError
from ..fsutil import SAFETENSORS_SUFFIXES
from . import configs

METADATA_CONFIG_KEY = "reco_config"
METADATA_LAYOUT_KEY = "reco_layout"
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")


@dataclass
class Checkpoint:
    """Tensors read from a file or folder, with the config found next to them (if any)."""

    tensors: dict[str, torch.Tensor]
    label: str
    config: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Reading files
# ----------------------------------------------------------------------------------------------


def _read_safetensors(path: Path, input_name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        return load_file(str(path)), metadata
    except Exception as error:  # safetensors raises its own error types for broken headers
        raise ReCoInputError(
            input_name, f"{path} could not be read as safetensors ({error})",
            "the file is damaged or not a safetensors file; download it again",
        ) from None


def _tensor_dict(obj: Any, path: Path, input_name: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded pickle, looking inside the usual `state_dict` / `model` wrappers."""
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model", "module"):
            if isinstance(obj.get(wrapper), Mapping):
                return _tensor_dict(obj[wrapper], path, input_name)
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise ReCoInputError(input_name, f"{path} holds no tensors", "pass a model checkpoint")


def _read_pickle(path: Path, input_name: str) -> dict[str, torch.Tensor]:
    try:
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as error:
            if "mmap" not in str(error):
                raise
            obj = torch.load(str(path), map_location="cpu", weights_only=True)  # legacy non-zip format
    except pickle.UnpicklingError:
        raise ReCoInputError(
            input_name,
            f"{path} is a pickle that would run code when loaded (torch.load(weights_only=True) refused it)",
            "convert it to safetensors in a trusted environment and load the .safetensors file",
        ) from None
    except Exception as error:
        raise ReCoInputError(input_name, f"{path} could not be read ({error})",
                             "the file is damaged; download it again or convert it to safetensors") from None
    return _tensor_dict(obj, path, input_name)


def _parse_metadata_config(metadata: Mapping[str, str], path: Path, input_name: str) -> dict:
    text = metadata.get(METADATA_CONFIG_KEY)
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        raise ReCoInputError(input_name, f"{path} has a {METADATA_CONFIG_KEY} metadata entry that is not JSON",
                             "re-save the model with save_transformer / save_vae") from None
    return config if isinstance(config, dict) else {}


def _read_file(path: Path, input_name: str) -> Checkpoint:
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        tensors, metadata = _read_safetensors(path, input_name)
        return Checkpoint(tensors, str(path), _parse_metadata_config(metadata, path, input_name))
    if suffix in PICKLE_SUFFIXES:
        return Checkpoint(_read_pickle(path, input_name), str(path))
    raise ReCoInputError(input_name, f"{path} has an unsupported file type {suffix!r}",
                         "use a .safetensors file (or a diffusers folder)")


def _folder_weights(folder: Path) -> list[Path]:
    index = sorted(folder.glob("*.safetensors.index.json"))
    if index:
        weight_map = json.loads(index[0].read_text(encoding="utf-8")).get("weight_map", {})
        return [folder / name for name in sorted(set(weight_map.values()))]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SAFETENSORS_SUFFIXES)
    return files or sorted(p for p in folder.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)


def _read_folder(folder: Path, subfolder: str, input_name: str) -> Checkpoint:
    if not (folder / "config.json").is_file() and (folder / subfolder).is_dir():
        folder = folder / subfolder
    weights = _folder_weights(folder)
    if not weights:
        raise ReCoInputError(
            input_name, f"the folder {folder} holds no weights (.safetensors)",
            f"pass a .safetensors file, a diffusers folder or a snapshot with a {subfolder}/ subfolder",
        )
    tensors: dict[str, torch.Tensor] = {}
    config: dict[str, Any] = {}
    for weight in weights:
        part = _read_file(weight, input_name)
        tensors.update(part.tensors)
        config = config or part.config
    config_file = folder / "config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
    return Checkpoint(tensors, str(folder), config)


def read_checkpoint(path: str | os.PathLike, *, subfolder: str, input_name: str) -> Checkpoint:
    """Read the tensors (and any stored config) of a file or diffusers folder."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ReCoInputError(input_name, f"file not found: {path}",
                             "check the path, or put the file in the matching ComfyUI models folder")
    if path.is_dir():
        return _read_folder(path, subfolder, input_name)
    return _read_file(path, input_name)


def config_argument(config: Mapping | str | os.PathLike | None, input_name: str) -> dict:
    """An explicit `config=`: a dict, a shipped config name, a config.json or a folder holding one."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    if isinstance(config, str) and config in configs.shipped_config_names():
        return configs.load_shipped_config(config)
    path = Path(config)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise ReCoInputError(f"{input_name} config", f"{config} is neither a shipped config name nor a config.json",
                             f"use one of {', '.join(configs.shipped_config_names())} or a path to config.json")
    return json.loads(path.read_text(encoding="utf-8"))
