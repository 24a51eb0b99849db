"""Loading and saving the Wan transformer and VAE, fully offline.

Sources accepted by `load_transformer` / `load_vae`:

* one `.safetensors` file in the original Wan / ComfyUI layout, with or without a wrapper prefix
  (`model.diffusion_model.`, `diffusion_model.`, `model.`, `first_stage_model.`, ...);
* one `.safetensors` file in the diffusers layout (as `save_transformer(layout="diffusers")` writes);
* a diffusers folder (`config.json` + safetensors shards), or a pipeline snapshot folder holding
  `transformer/` or `vae/`;
* a legacy pickle (`.pth`, `.pt`, `.ckpt`, `.bin`), read only with `torch.load(weights_only=True)`.

Models are built on the meta device and the converted tensors are assigned with
`load_state_dict(strict=True, assign=True)`, so nothing is allocated twice and nothing downloads.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import ReCoInputError
from ..fsutil import SAFETENSORS_SUFFIXES, save_safetensors
from . import configs
from . import keys as wan_keys

METADATA_CONFIG_KEY = "reco_config"
METADATA_LAYOUT_KEY = "reco_layout"
PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
LAYOUTS = ("comfy", "original", "diffusers")


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


def _config_argument(config: Mapping | str | os.PathLike | None, input_name: str) -> dict:
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


# ----------------------------------------------------------------------------------------------
# Building models
# ----------------------------------------------------------------------------------------------


def _keeps_fp32(name: str, keep_in_fp32: tuple[str, ...]) -> bool:
    return any(module in name.split(".") for module in keep_in_fp32)


def cast_state_dict(state_dict: Mapping[str, torch.Tensor], dtype: torch.dtype,
                    keep_in_fp32: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Cast floating tensors to `dtype`, except those inside a module named in `keep_in_fp32`."""
    cast = {}
    for name, tensor in state_dict.items():
        if not torch.is_floating_point(tensor):
            cast[name] = tensor
        else:
            cast[name] = tensor.to(torch.float32 if _keeps_fp32(name, keep_in_fp32) else dtype)
    return cast


def _owned(tensor: torch.Tensor, device) -> torch.Tensor:
    """`tensor` on `device` in memory of its own.

    Tensors read from safetensors are views into the file buffer, only 8-byte aligned; CPU
    kernels then take other code paths and the outputs differ in the last bits from a model
    whose weights sit in freshly allocated (64-byte aligned) memory.
    """
    moved = tensor.to(device)
    return moved.clone() if moved.data_ptr() == tensor.data_ptr() else moved


def _fp32_modules(model_class: type, dtype: torch.dtype) -> tuple[str, ...]:
    # diffusers keeps `_keep_in_fp32_modules` in fp32 only for fp16 (not bf16); do the same.
    if dtype != torch.float16:
        return ()
    return tuple(getattr(model_class, "_keep_in_fp32_modules", None) or ())


def cast_model(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Cast parameters and saved buffers the way the loaders do, in place; returns the model.

    Unlike `model.to(dtype)` (and diffusers' `from_single_file`), this leaves the RoPE tables
    (non-persistent fp32 buffers) alone, as diffusers' `from_pretrained` does, and keeps
    `_keep_in_fp32_modules` in fp32 for fp16.
    """
    keep = _fp32_modules(type(model), dtype)
    saved = set(model.state_dict())
    tensors = [*model.named_parameters(), *((n, b) for n, b in model.named_buffers() if n in saved)]
    with torch.no_grad():
        for name, tensor in tensors:
            target = torch.float32 if _keeps_fp32(name, keep) else dtype
            if tensor.is_floating_point() and tensor.dtype != target:
                tensor.data = tensor.data.to(target)
    return model


def _mismatch_report(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = sorted(
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(expected[k].shape)}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    parts = []
    for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if items:
            shown = ", ".join(items[:5]) + (f", ... ({len(items)} in all)" if len(items) > 5 else "")
            parts.append(f"{title}: {shown}")
    return "; ".join(parts)


def build_from_state_dict(model_class: type, config: Mapping, state_dict: Mapping[str, torch.Tensor], *,
                          dtype: torch.dtype, device, label: str, input_name: str, name: str):
    """Instantiate `model_class(config)` on meta, then assign the (diffusers-layout) tensors."""
    import accelerate

    with accelerate.init_empty_weights():
        model = model_class.from_config(dict(config))
    report = _mismatch_report(model, state_dict)
    if report:
        raise ReCoInputError(
            input_name, f"{label} does not match the recognised architecture ({name}): {report}",
            "the file is incomplete or belongs to another model; for a custom model pass its config",
        )
    state_dict = cast_state_dict(state_dict, dtype, _fp32_modules(model_class, dtype))
    state_dict = {k: _owned(v, device) for k, v in state_dict.items()}
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.to(device).eval()


def _with_label(error: ReCoInputError, label: str, input_name: str) -> ReCoInputError:
    return ReCoInputError(input_name, f"{label}: {error.problem}", error.fix)


# ----------------------------------------------------------------------------------------------
# Public loaders
# ----------------------------------------------------------------------------------------------


def transformer_class(config: Mapping) -> type:
    """WanVACETransformer3DModel for VACE configs, else WanTransformer3DModel."""
    from diffusers import WanTransformer3DModel, WanVACETransformer3DModel

    return WanVACETransformer3DModel if "vace_layers" in config else WanTransformer3DModel


def load_transformer(path: str | os.PathLike, *, dtype: torch.dtype = torch.bfloat16, device="cpu",
                     config: Mapping | str | os.PathLike | None = None, input_name: str = "model"):
    """Load a Wan2.1 T2V or VACE transformer; returns a diffusers model in eval mode.

    `config` (a dict, a shipped config name, or a config.json path) overrides what the weights'
    shapes and the file's `reco_config` metadata say.
    """
    checkpoint = read_checkpoint(path, subfolder="transformer", input_name=input_name)
    overrides = {**checkpoint.config, **_config_argument(config, input_name)}
    try:
        state_dict = wan_keys.select_transformer_keys(checkpoint.tensors)
        name, model_config = configs.recognise_transformer(state_dict, overrides)
    except ReCoInputError as error:
        raise _with_label(error, checkpoint.label, input_name) from None
    state_dict = wan_keys.convert_transformer_to_diffusers(state_dict)
    return build_from_state_dict(transformer_class(model_config), model_config, state_dict, dtype=dtype,
                                 device=device, label=checkpoint.label, input_name=input_name, name=name)


def load_vae(path: str | os.PathLike, *, dtype: torch.dtype = torch.float32, device="cpu",
             config: Mapping | str | os.PathLike | None = None, input_name: str = "vae"):
    """Load the Wan2.1 VAE (`Wan2.1_VAE.pth`, `wan_2.1_vae.safetensors`, a diffusers folder); eval mode."""
    from diffusers import AutoencoderKLWan

    checkpoint = read_checkpoint(path, subfolder="vae", input_name=input_name)
    overrides = {**checkpoint.config, **_config_argument(config, input_name)}
    try:
        state_dict = wan_keys.select_vae_keys(checkpoint.tensors)
        name, vae_config = configs.recognise_vae(state_dict, overrides)
    except ReCoInputError as error:
        raise _with_label(error, checkpoint.label, input_name) from None
    state_dict = wan_keys.convert_vae_to_diffusers(state_dict, vae_config["num_res_blocks"])
    return build_from_state_dict(AutoencoderKLWan, vae_config, state_dict, dtype=dtype, device=device,
                                 label=checkpoint.label, input_name=input_name, name=name)


# ----------------------------------------------------------------------------------------------
# Latent normalisation
# ----------------------------------------------------------------------------------------------


def vae_latent_stats(vae) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, std) of the VAE's latents from its config, float32 tensors shaped [1, z_dim, 1, 1, 1].

    `vae` is an AutoencoderKLWan or its config (a mapping with `latents_mean` / `latents_std`).
    """
    config = vae.config if hasattr(vae, "config") else vae
    shape = (1, len(config["latents_mean"]), 1, 1, 1)
    mean = torch.tensor(config["latents_mean"], dtype=torch.float32).view(shape)
    std = torch.tensor(config["latents_std"], dtype=torch.float32).view(shape)
    return mean, std


def normalize_latents(latents: torch.Tensor, vae) -> torch.Tensor:
    """Raw VAE posterior mean -> the model's latent space: `(mu - mean) * (1 / std)`, as diffusers' Wan
    pipelines do (computed in float32, returned in the input dtype)."""
    mean, std = (t.to(latents.device) for t in vae_latent_stats(vae))
    return ((latents.float() - mean) * (1.0 / std)).to(latents.dtype)


def denormalize_latents(latents: torch.Tensor, vae) -> torch.Tensor:
    """The model's latent space -> what `vae.decode` takes: `z / (1 / std) + mean` (float32 inside)."""
    mean, std = (t.to(latents.device) for t in vae_latent_stats(vae))
    return (latents.float() / (1.0 / std) + mean).to(latents.dtype)


# ----------------------------------------------------------------------------------------------
# Saving
# ----------------------------------------------------------------------------------------------


def model_config_dict(model) -> dict[str, Any]:
    """The model's diffusers config as plain JSON-ready data (`_class_name` kept, other `_` keys dropped)."""
    config = {k: v for k, v in dict(model.config).items() if not k.startswith("_")}
    config = json.loads(json.dumps(config, default=list))
    return {"_class_name": type(model).__name__, **config}


def _metadata(config: Mapping, layout: str, extra: Mapping | None) -> dict[str, str]:
    metadata = {METADATA_CONFIG_KEY: json.dumps(config, sort_keys=True), METADATA_LAYOUT_KEY: layout}
    for key, value in (extra or {}).items():
        metadata[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return metadata


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ReCoInputError("layout", f"unknown layout {layout!r}", f"use one of {', '.join(LAYOUTS)}")


def _warn_if_comfy_cannot_read(config: Mapping) -> None:
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    if config["attention_head_dim"] != configs.REAL_HEAD_DIM:
        warnings.warn(f"head size {config['attention_head_dim']} is not 128: ComfyUI will compute "
                      f"num_heads = {dim} // 128 and run this model wrongly; reco_core reloads it fine")
    vace_layers = config.get("vace_layers")
    if vace_layers and list(vace_layers) != configs.even_vace_layers(config["num_layers"], len(vace_layers)):
        warnings.warn(f"VACE layers {list(vace_layers)} are not evenly spaced from 0: ComfyUI places VACE "
                      "blocks evenly and will misplace them; reco_core reloads them from the stored config")


def save_transformer(model, path: str | os.PathLike, layout: str = "comfy", metadata: Mapping | None = None,
                     dtype: torch.dtype | None = None) -> None:
    """Write the transformer as one safetensors file, atomically, with its config in `reco_config`.

    `layout="comfy"` (same as "original") writes the original Wan names that ComfyUI's UNETLoader
    reads; "diffusers" writes the module names as they are. `dtype` casts floating tensors.
    """
    _check_layout(layout)
    config = model_config_dict(model)
    state_dict = model.state_dict()
    if dtype is not None:
        state_dict = cast_state_dict(state_dict, dtype)
    if layout != "diffusers":
        _warn_if_comfy_cannot_read(config)
        state_dict = wan_keys.to_comfy_transformer_state_dict(state_dict)
    save_safetensors(state_dict, path, _metadata(config, layout, metadata))


def save_vae(vae, path: str | os.PathLike, layout: str = "comfy", metadata: Mapping | None = None,
             dtype: torch.dtype | None = None) -> None:
    """Write the VAE as one safetensors file, atomically, with its config in `reco_config`.

    "comfy" / "original" writes the original Wan2.1 names (ComfyUI's VAELoader, `Wan2.1_VAE.pth`).
    """
    _check_layout(layout)
    config = model_config_dict(vae)
    state_dict = vae.state_dict()
    if dtype is not None:
        state_dict = cast_state_dict(state_dict, dtype)
    if layout != "diffusers":
        state_dict = wan_keys.convert_vae_to_original(state_dict, config["num_res_blocks"])
    save_safetensors(state_dict, path, _metadata(config, layout, metadata))
