"""Shipped model configs, and recognising a checkpoint's config from its tensor shapes.

Real Wan checkpoints carry no config. Everything but the number of attention heads can be read
from the tensor shapes; the real models use a head size of 128, so `heads = dim / 128`. Tiny or
custom models (other head sizes) must say their head count: through an explicit config, or the
`reco_config` JSON that `save_transformer` / `save_vae` write into the safetensors metadata.
"""

from __future__ import annotations

import copy
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import torch

from ..errors import ReCoInputError
from . import keys as wan_keys

CONFIG_DIR = Path(__file__).with_name("configs")
REAL_HEAD_DIM = 128
TRANSFORMER_CONFIG_NAMES = ("wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-vace-1.3b", "wan2.1-vace-14b")
VAE_CONFIG_NAMES = ("wan2.1-vae",)
TEXT_ENCODER_CONFIG_NAMES = ("umt5-xxl-encoder",)

# Config entries that only describe the architecture; used to match a recognised config.
_TRANSFORMER_ARCH_KEYS = (
    "patch_size", "num_attention_heads", "attention_head_dim", "in_channels", "out_channels",
    "text_dim", "freq_dim", "ffn_dim", "num_layers", "cross_attn_norm", "qk_norm", "image_dim",
    "added_kv_proj_dim", "vace_layers", "vace_in_channels",
)
_VAE_ARCH_KEYS = (
    "base_dim", "decoder_base_dim", "z_dim", "dim_mult", "num_res_blocks", "attn_scales",
    "temperal_downsample", "is_residual", "in_channels", "out_channels", "latents_mean", "latents_std",
)
# Entries the weights cannot tell; an explicit config may override them.
_TRANSFORMER_DEFAULTS = {"eps": 1e-6, "rope_max_seq_len": 1024}


@lru_cache(maxsize=None)
def _read_config(name: str) -> dict:
    path = CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(shipped_config_names())
        raise ReCoInputError("config", f"no shipped config named {name!r}", f"use one of: {known}")
    return json.loads(path.read_text(encoding="utf-8"))


def shipped_config_names() -> tuple[str, ...]:
    """Names of the configs shipped in `reco_core/models/configs/`."""
    return TRANSFORMER_CONFIG_NAMES + VAE_CONFIG_NAMES + TEXT_ENCODER_CONFIG_NAMES


def load_shipped_config(name: str) -> dict[str, Any]:
    """A fresh copy of a shipped config (diffusers `config.json` format)."""
    return copy.deepcopy(_read_config(name))


def _normalised(value):
    return list(value) if isinstance(value, tuple) else value


def _matches(config: Mapping, reference: Mapping, arch_keys) -> bool:
    return all(_normalised(config.get(k)) == _normalised(reference.get(k)) for k in arch_keys)


def _not_supported(what: str, fix: str):
    return ReCoInputError("model", what, fix)


# What `keys.identify_checkpoint` found -> (description, where it belongs).
_KIND_HELP = {
    "wan transformer": ("a Wan diffusion transformer", "load it as the diffusion model (load_transformer)"),
    "wan vae": ("the Wan2.1 VAE", "load it as the VAE (load_vae), not as the diffusion model"),
    "wan2.2 vae": ("the Wan2.2 VAE, which ReCo does not support", "use the Wan2.1 VAE"),
    "other vae": ("an image VAE of another model family", "use the Wan2.1 VAE (wan_2.1_vae.safetensors)"),
    "lora": ("a LoRA", "load the base Wan2.1-VACE model here and apply the LoRA with the LoRA loader"),
    "text encoder": ("a text encoder", "load it as the text encoder, or use ComfyUI's CLIP loader"),
    "clip vision": ("a CLIP vision model", "ReCo does not use one; remove it"),
    "unknown": ("not a Wan checkpoint", "check that the file is a Wan2.1 model"),
}


def require_kind(state_dict: Mapping, expected: str, input_name: str) -> None:
    """Raise a ReCoInputError saying what the checkpoint is when it is not `expected`."""
    kind = wan_keys.identify_checkpoint(state_dict)
    if kind == expected:
        return
    description = _KIND_HELP[kind][0]
    if kind == "unknown":
        sample = ", ".join(list(state_dict)[:3]) or "no tensors"
        description = f"{description} (first keys: {sample})"
    raise ReCoInputError(input_name, f"this file is {description}, not {_KIND_HELP[expected][0]}",
                         _KIND_HELP[kind][1])


def _missing_key_error(input_name: str, error: KeyError) -> ReCoInputError:
    return ReCoInputError(input_name, f"the checkpoint lacks {error.args[0]!r}, so it is incomplete",
                          "re-download or re-export the file")


# ----------------------------------------------------------------------------------------------
# Transformer
# ----------------------------------------------------------------------------------------------


def _block_count(state_dict: Mapping, prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    indices = {int(m.group(1)) for k in state_dict if (m := pattern.match(k))}
    if not indices:
        return 0
    count = max(indices) + 1
    if len(indices) != count:
        missing = sorted(set(range(count)) - indices)
        raise _not_supported(
            f"the checkpoint's {prefix} are not numbered 0..{count - 1} (missing {missing})",
            "the file is incomplete or was saved with pruned blocks; re-export it",
        )
    return count


def even_vace_layers(num_layers: int, num_vace_blocks: int) -> list[int] | None:
    """VACE block positions as Wan / ComfyUI place them: evenly spaced from layer 0."""
    step = num_layers // num_vace_blocks
    layers = list(range(0, num_layers, step)) if step else []
    return layers if len(layers) == num_vace_blocks else None


def _check_supported(state_dict: Mapping, in_channels: int) -> None:
    if "scaled_fp8" in state_dict or any(k.endswith(".scale_weight") for k in state_dict):
        raise _not_supported(
            "this is a ComfyUI 'scaled fp8' checkpoint, whose per-layer scales reco_core does not apply",
            "use the fp16 or bf16 file of the same model",
        )
    if any(k.startswith("condition_embedder.image_embedder.") or ".attn2.add_k_proj." in k for k in state_dict):
        raise _not_supported(
            "this is a Wan image-to-video (I2V/FLF2V) transformer, which ReCo does not support",
            "use Wan2.1-VACE-1.3B (or 14B), or a Wan2.1 text-to-video model",
        )
    if any(k.startswith("motion_encoder.") or k.startswith("face_adapter.") for k in state_dict):
        raise _not_supported(
            "this is a Wan-Animate transformer, which ReCo does not support",
            "use Wan2.1-VACE-1.3B (or 14B), or a Wan2.1 text-to-video model",
        )
    if in_channels != 16:
        family = {36: "an image-to-video (I2V) model", 48: "Wan2.2 TI2V-5B (48-channel latents)"}
        what = family.get(in_channels, f"a model with {in_channels} input channels")
        raise _not_supported(
            f"this transformer takes {in_channels} latent channels, i.e. {what}; ReCo needs 16 (Wan2.1 VAE)",
            "use Wan2.1-VACE-1.3B (or 14B), or a Wan2.1 text-to-video model",
        )


def _transformer_shape_config(state_dict: Mapping) -> dict[str, Any]:
    """Every transformer config entry readable from shapes (diffusers layout), except the heads."""
    patch = state_dict["patch_embedding.weight"].shape
    dim, in_channels, patch_size = patch[0], patch[1], list(patch[2:])
    _check_supported(state_dict, in_channels)
    num_layers = _block_count(state_dict, "blocks")
    if num_layers == 0:
        raise _not_supported("the checkpoint has no transformer blocks", "re-export the full model")
    config = dict(
        patch_size=patch_size,
        in_channels=in_channels,
        out_channels=state_dict["proj_out.weight"].shape[0] // math.prod(patch_size),
        text_dim=state_dict["condition_embedder.text_embedder.linear_1.weight"].shape[1],
        freq_dim=state_dict["condition_embedder.time_embedder.linear_1.weight"].shape[1],
        ffn_dim=state_dict["blocks.0.ffn.net.0.proj.weight"].shape[0],
        num_layers=num_layers,
        cross_attn_norm="blocks.0.norm2.weight" in state_dict,
        qk_norm="rms_norm_across_heads" if "blocks.0.attn1.norm_q.weight" in state_dict else None,
        image_dim=None,
        added_kv_proj_dim=None,
        pos_embed_seq_len=None,
    )
    config["_dim"] = dim
    if "vace_patch_embedding.weight" in state_dict:
        config["vace_in_channels"] = state_dict["vace_patch_embedding.weight"].shape[1]
        config["_num_vace_blocks"] = _block_count(state_dict, "vace_blocks")
    return config


def _resolve_heads(dim: int, given: Mapping) -> tuple[int, int]:
    heads, head_dim = given.get("num_attention_heads"), given.get("attention_head_dim")
    if not heads and not head_dim:
        if dim % REAL_HEAD_DIM:
            raise ReCoInputError(
                "model",
                f"the transformer width {dim} is not a multiple of {REAL_HEAD_DIM}, the head size of every real "
                "Wan model, so the number of attention heads cannot be read from the weights",
                "pass config={'num_attention_heads': N}, or save the model with reco_core's save_transformer, "
                "which stores its config in the file",
            )
        return dim // REAL_HEAD_DIM, REAL_HEAD_DIM
    heads = heads or dim // head_dim
    head_dim = head_dim or dim // heads
    if heads * head_dim != dim:
        raise ReCoInputError(
            "config",
            f"num_attention_heads {heads} x attention_head_dim {head_dim} = {heads * head_dim}, "
            f"but the checkpoint's width is {dim}",
            "fix the config so that heads x head_dim equals the model width",
        )
    return heads, head_dim


def recognise_transformer(state_dict: Mapping[str, torch.Tensor], config: Mapping | None = None) -> tuple[str, dict]:
    """Recognise a Wan / Wan-VACE transformer from tensor shapes; returns (name, diffusers config).

    `state_dict` may be in either layout, with or without a wrapper prefix; only shapes are read,
    so meta tensors work. `config` (an explicit config, or the file's `reco_config` metadata)
    overrides what the shapes say; it is needed for the head count of custom models whose width is
    not a multiple of 128, and for VACE block positions that are not evenly spaced. The name is a
    shipped config's name when the architecture matches one, else "custom-t2v" / "custom-vace".
    """
    given = dict(config or {})
    state_dict = wan_keys.select_transformer_keys(state_dict)
    require_kind(state_dict, "wan transformer", "model")
    state_dict = wan_keys.convert_transformer_to_diffusers(state_dict)
    try:
        shapes = _transformer_shape_config(state_dict)
    except KeyError as error:
        raise _missing_key_error("model", error) from None
    dim = shapes.pop("_dim")
    num_vace_blocks = shapes.pop("_num_vace_blocks", None)
    shapes["num_attention_heads"], shapes["attention_head_dim"] = _resolve_heads(dim, given)
    if num_vace_blocks is not None:
        vace_layers = given.get("vace_layers") or even_vace_layers(shapes["num_layers"], num_vace_blocks)
        if vace_layers is None:
            raise ReCoInputError(
                "model",
                f"{num_vace_blocks} VACE blocks cannot be spaced evenly over {shapes['num_layers']} layers, "
                "so their positions cannot be read from the weights",
                "pass config={'vace_layers': [...]}",
            )
        shapes["vace_layers"] = list(vace_layers)
    overrides = {k: v for k, v in given.items() if not k.startswith("_")}
    merged = {**_TRANSFORMER_DEFAULTS, **overrides, **shapes}
    if num_vace_blocks is None:
        merged.pop("vace_layers", None)
        merged.pop("vace_in_channels", None)
    merged["_class_name"] = "WanVACETransformer3DModel" if num_vace_blocks is not None else "WanTransformer3DModel"
    return _transformer_name(merged), merged


def _transformer_name(config: Mapping) -> str:
    for name in TRANSFORMER_CONFIG_NAMES:
        if _matches(config, _read_config(name), _TRANSFORMER_ARCH_KEYS):
            return name
    return "custom-vace" if "vace_layers" in config else "custom-t2v"


# ----------------------------------------------------------------------------------------------
# VAE
# ----------------------------------------------------------------------------------------------


def _indexed_entries(state_dict: Mapping, prefix: str) -> dict[int, dict[str, torch.Tensor]]:
    entries: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            entries.setdefault(int(index), {})[rest] = value
    return entries


def _vae_levels(state_dict: Mapping) -> tuple[list[list[dict]], list[dict]]:
    """Encoder residual blocks grouped per level, and the downsamplers between levels."""
    levels: list[list[dict]] = [[]]
    downsamplers: list[dict] = []
    for _, entry in sorted(_indexed_entries(state_dict, "encoder.down_blocks.").items()):
        if any(k.startswith(("resample.", "time_conv.")) for k in entry):
            downsamplers.append(entry)
            levels.append([])
        elif "conv1.weight" in entry:
            levels[-1].append(entry)
        else:
            raise _not_supported(
                "the VAE has attention blocks inside its encoder levels (attn_scales), which Wan2.1's VAE has not",
                "use the Wan2.1 VAE (Wan2.1_VAE.pth or ComfyUI's wan_2.1_vae.safetensors)",
            )
    return levels, downsamplers


def _vae_shape_config(state_dict: Mapping) -> dict[str, Any]:
    conv_in = state_dict["encoder.conv_in.weight"].shape
    base_dim = conv_in[0]
    levels, downsamplers = _vae_levels(state_dict)
    blocks_per_level = {len(level) for level in levels}
    if len(blocks_per_level) != 1:
        raise _not_supported("the VAE's encoder levels hold different numbers of residual blocks",
                             "use the Wan2.1 VAE")
    decoder_dim = state_dict["decoder.conv_out.weight"].shape[1]
    return {
        "base_dim": base_dim,
        "decoder_base_dim": None if decoder_dim == base_dim else decoder_dim,
        "z_dim": state_dict["post_quant_conv.weight"].shape[0],
        "dim_mult": [level[-1]["conv1.weight"].shape[0] // base_dim for level in levels],
        "num_res_blocks": blocks_per_level.pop(),
        "attn_scales": [],
        "temperal_downsample": ["time_conv.weight" in d for d in downsamplers],
        "dropout": 0.0,
        "is_residual": False,
        "in_channels": conv_in[1],
        "out_channels": state_dict["decoder.conv_out.weight"].shape[0],
        "patch_size": None,
        "scale_factor_temporal": 2 ** sum("time_conv.weight" in d for d in downsamplers),
        "scale_factor_spatial": 2 ** len(downsamplers),
    }


def recognise_vae(state_dict: Mapping[str, torch.Tensor], config: Mapping | None = None) -> tuple[str, dict]:
    """Recognise a Wan VAE from tensor shapes; returns (name, diffusers config).

    Either layout and a wrapper prefix are accepted. The latent statistics (`latents_mean` /
    `latents_std`) are not in the weights: they come from `config` (or `reco_config` metadata),
    else from the Wan2.1 VAE when the latent has its 16 channels.
    """
    given = {k: v for k, v in (config or {}).items() if not k.startswith("_")}
    state_dict = wan_keys.select_vae_keys(state_dict)
    require_kind(state_dict, "wan vae", "vae")
    state_dict = wan_keys.convert_vae_to_diffusers(state_dict)
    try:
        shapes = _vae_shape_config(state_dict)
    except KeyError as error:
        raise _missing_key_error("vae", error) from None
    merged = {**given, **shapes}
    wan21 = _read_config("wan2.1-vae")
    for stat in ("latents_mean", "latents_std"):
        if stat in given:
            merged[stat] = list(given[stat])
        elif shapes["z_dim"] == len(wan21[stat]):
            merged[stat] = list(wan21[stat])
        else:
            raise ReCoInputError(
                "vae",
                f"the VAE has {shapes['z_dim']} latent channels and carries no latent statistics ({stat})",
                "pass config={'latents_mean': [...], 'latents_std': [...]} or save it with save_vae",
            )
    merged["_class_name"] = "AutoencoderKLWan"
    name = "wan2.1-vae" if _matches(merged, wan21, _VAE_ARCH_KEYS) else "custom-vae"
    return name, merged
