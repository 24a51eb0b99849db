"""Saving the Wan transformer and VAE as one safetensors file each, atomically, with their config in the metadata.

The default layout is the original Wan names ComfyUI's UNETLoader and VAELoader read; `loading` reads every
layout back.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any, Mapping

import torch

from ..errors import ReCoInputError
from ..fsutil import save_safetensors
from . import configs
from . import keys as wan_keys
from .checkpoints import METADATA_CONFIG_KEY, METADATA_LAYOUT_KEY
from .loading import cast_state_dict

LAYOUTS = ("comfy", "original", "diffusers")


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


def _save(model, path, layout: str, metadata: Mapping | None, dtype: torch.dtype | None, to_original) -> None:
    """The one writer: check the layout, cast, rename to the original layout unless "diffusers", write atomically
    with the config in the metadata. `to_original(state_dict, config)` gives the original Wan names."""
    _check_layout(layout)
    config = model_config_dict(model)
    state_dict = model.state_dict()
    if dtype is not None:
        state_dict = cast_state_dict(state_dict, dtype)
    if layout != "diffusers":
        state_dict = to_original(state_dict, config)
    save_safetensors(state_dict, path, _metadata(config, layout, metadata))


def _transformer_to_original(state_dict, config):
    _warn_if_comfy_cannot_read(config)
    return wan_keys.to_comfy_transformer_state_dict(state_dict)


def save_transformer(model, path: str | os.PathLike, layout: str = "comfy", metadata: Mapping | None = None,
                     dtype: torch.dtype | None = None) -> None:
    """Write the transformer as one safetensors file, atomically, with its config in `reco_config`.

    `layout="comfy"` (same as "original") writes the original Wan names that ComfyUI's UNETLoader
    reads; "diffusers" writes the module names as they are. `dtype` casts floating tensors.
    """
    _save(model, path, layout, metadata, dtype, _transformer_to_original)


def save_vae(vae, path: str | os.PathLike, layout: str = "comfy", metadata: Mapping | None = None,
             dtype: torch.dtype | None = None) -> None:
    """Write the VAE as one safetensors file, atomically, with its config in `reco_config`.

    "comfy" / "original" writes the original Wan2.1 names (ComfyUI's VAELoader, `Wan2.1_VAE.pth`).
    """
    _save(vae, path, layout, metadata, dtype,
          lambda state_dict, config: wan_keys.convert_vae_to_original(state_dict, config["num_res_blocks"]))
