"""Key layouts of Wan checkpoints: the original Wan / ComfyUI names and the diffusers names.

Two layouts exist for the same weights:

* **original**: what `Wan-Video/Wan2.1` writes and what ComfyUI's `UNETLoader` / `VAELoader`
  read (`blocks.0.self_attn.q.weight`, `head.modulation`, `decoder.upsamples.4.shortcut.weight`);
* **diffusers**: the module names of `WanTransformer3DModel`, `WanVACETransformer3DModel` and
  `AutoencoderKLWan` (`blocks.0.attn1.to_q.weight`, `scale_shift_table`,
  `decoder.up_blocks.1.resnets.0.conv_shortcut.weight`).

Every conversion here is a pure rename: tensors are passed through untouched, so converting in
both directions is lossless. Checkpoints may wrap the keys in a prefix (`model.diffusion_model.`,
a bare `diffusion_model.`, `model.`, `first_stage_model.`, ...); `select_transformer_keys` and
`select_vae_keys` strip it, and also pick one component out of an all-in-one checkpoint.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch

StateDict = Mapping[str, torch.Tensor]

TRANSFORMER_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "transformer.", "model.", "dit.")
VAE_PREFIXES = ("first_stage_model.", "vae.", "model.")

_TRANSFORMER_MARKER = "patch_embedding.weight"
_VAE_MARKERS = ("encoder.conv1.weight", "encoder.conv_in.weight")

# (original, diffusers) for modules outside the blocks.
_TRANSFORMER_TOP_RENAMES = (
    ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    ("time_projection.1", "condition_embedder.time_proj"),
    ("head.head", "proj_out"),
    ("head.modulation", "scale_shift_table"),
    # Image conditioning of the I2V / FLF2V models, so that such files are at least recognised.
    ("img_emb.proj.0", "condition_embedder.image_embedder.norm1"),
    ("img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj"),
    ("img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2"),
    ("img_emb.proj.4", "condition_embedder.image_embedder.norm2"),
    ("img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"),
)

# (original, diffusers) inside `blocks.N.` and `vace_blocks.N.`.
_TRANSFORMER_BLOCK_RENAMES = (
    ("self_attn.q", "attn1.to_q"),
    ("self_attn.k", "attn1.to_k"),
    ("self_attn.v", "attn1.to_v"),
    ("self_attn.o", "attn1.to_out.0"),
    ("self_attn.norm_q", "attn1.norm_q"),
    ("self_attn.norm_k", "attn1.norm_k"),
    ("cross_attn.q", "attn2.to_q"),
    ("cross_attn.k", "attn2.to_k"),
    ("cross_attn.v", "attn2.to_v"),
    ("cross_attn.o", "attn2.to_out.0"),
    ("cross_attn.norm_q", "attn2.norm_q"),
    ("cross_attn.norm_k", "attn2.norm_k"),
    ("cross_attn.k_img", "attn2.add_k_proj"),
    ("cross_attn.v_img", "attn2.add_v_proj"),
    ("cross_attn.norm_k_img", "attn2.norm_added_k"),
    # Wan calls the affine cross-attention norm `norm3`; diffusers calls it `norm2`.
    ("norm3", "norm2"),
    ("norm2", "norm3"),
    ("ffn.0", "ffn.net.0.proj"),
    ("ffn.2", "ffn.net.2"),
    ("modulation", "scale_shift_table"),
    ("before_proj", "proj_in"),
    ("after_proj", "proj_out"),
)

# (original, diffusers) inside a VAE residual block.
_VAE_RESNET_RENAMES = (
    ("residual.0", "norm1"),
    ("residual.2", "conv1"),
    ("residual.3", "norm2"),
    ("residual.6", "conv2"),
    ("shortcut", "conv_shortcut"),
)

# (original, diffusers) directly under `encoder.` / `decoder.`.
_VAE_CODER_RENAMES = (
    ("conv1", "conv_in"),
    ("head.0", "norm_out"),
    ("head.2", "conv_out"),
    ("middle.0", "mid_block.resnets.0"),
    ("middle.1", "mid_block.attentions.0"),
    ("middle.2", "mid_block.resnets.1"),
)

_VAE_TOP_RENAMES = (
    ("conv1", "quant_conv"),
    ("conv2", "post_quant_conv"),
)

_BLOCK_KEY = re.compile(r"^(blocks|vace_blocks)\.(\d+)\.(.+)$")
_INDEXED_KEY = re.compile(r"^(\d+)\.(.+)$")


def _rename_prefix(key: str, renames: Mapping[str, str]) -> str | None:
    """Rename the longest dotted prefix of `key` found in `renames`; None when none matches."""
    parts = key.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in renames:
            return ".".join([renames[head], *parts[cut:]])
    return None


def _table(pairs, to_diffusers: bool) -> dict[str, str]:
    return {o: d for o, d in pairs} if to_diffusers else {d: o for o, d in pairs}


# ----------------------------------------------------------------------------------------------
# Prefixes and components
# ----------------------------------------------------------------------------------------------


def _select_keys(state_dict: StateDict, prefixes: tuple[str, ...], markers: tuple[str, ...]) -> dict:
    for marker in markers:
        if marker in state_dict:
            return dict(state_dict)
    for prefix in prefixes:
        if any(prefix + marker in state_dict for marker in markers):
            return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return dict(state_dict)


def select_transformer_keys(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """The transformer's keys without wrapper prefix (`model.diffusion_model.`, `diffusion_model.`, ...).

    In an all-in-one checkpoint (transformer + VAE + text encoder) only the transformer's keys are
    kept. A dict without any known marker is returned as is.
    """
    return _select_keys(state_dict, TRANSFORMER_PREFIXES, (_TRANSFORMER_MARKER,))


def select_vae_keys(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """The VAE's keys without wrapper prefix (`first_stage_model.`, `vae.`, `model.`)."""
    return _select_keys(state_dict, VAE_PREFIXES, _VAE_MARKERS)


# ----------------------------------------------------------------------------------------------
# What a checkpoint holds
# ----------------------------------------------------------------------------------------------


def identify_checkpoint(state_dict: StateDict) -> str:
    """Name what a state dict holds, for error messages.

    Returns one of "wan transformer", "wan vae", "wan2.2 vae", "other vae", "lora",
    "text encoder", "clip vision", "unknown".
    """
    keys = list(state_dict)
    if any(k.endswith(_TRANSFORMER_MARKER) for k in keys) and any("blocks.0." in k for k in keys):
        return "wan transformer"
    if any("lora_" in k or ".lora." in k or k.endswith(".alpha") for k in keys[:2000]):
        return "lora"
    conv_in = next((state_dict[k] for k in keys if k.endswith(_VAE_MARKERS)), None)
    if conv_in is not None:
        if getattr(conv_in, "ndim", 5) != 5:  # Wan's VAE is 3D (Conv3d); image VAEs are 2D
            return "other vae"
        if any(k.endswith(("decoder.upsamples.0.upsamples.0.residual.2.weight",
                           "encoder.down_blocks.0.resnets.0.conv1.weight")) for k in keys):
            return "wan2.2 vae"
        return "wan vae"
    if any(".SelfAttention." in k or k.endswith("shared.weight") or "token_embedding" in k for k in keys):
        return "text encoder"
    if any("visual." in k or "vision_model." in k for k in keys[:200]):
        return "clip vision"
    return "unknown"


def transformer_layout(state_dict: StateDict) -> str:
    """"original" or "diffusers", from marker keys of an un-prefixed transformer state dict."""
    if "head.modulation" in state_dict or "time_embedding.0.weight" in state_dict:
        return "original"
    if "scale_shift_table" in state_dict or "condition_embedder.time_embedder.linear_1.weight" in state_dict:
        return "diffusers"
    raise KeyError("neither head.modulation nor scale_shift_table found")


def vae_layout(state_dict: StateDict) -> str:
    """"original" or "diffusers", from marker keys of an un-prefixed VAE state dict."""
    if "encoder.conv1.weight" in state_dict:
        return "original"
    if "encoder.conv_in.weight" in state_dict:
        return "diffusers"
    raise KeyError("neither encoder.conv1 nor encoder.conv_in found")


# ----------------------------------------------------------------------------------------------
# Transformer
# ----------------------------------------------------------------------------------------------


def _rename_transformer_key(key: str, to_diffusers: bool) -> str:
    block = _BLOCK_KEY.match(key)
    if block:
        kind, index, rest = block.groups()
        renamed = _rename_prefix(rest, _table(_TRANSFORMER_BLOCK_RENAMES, to_diffusers))
        return f"{kind}.{index}.{renamed if renamed is not None else rest}"
    renamed = _rename_prefix(key, _table(_TRANSFORMER_TOP_RENAMES, to_diffusers))
    return renamed if renamed is not None else key


def _rename_all(state_dict: StateDict, rename) -> dict[str, torch.Tensor]:
    converted = {}
    for key, value in state_dict.items():
        new_key = rename(key)
        if new_key in converted:
            raise ValueError(f"two keys map to {new_key!r}; the checkpoint mixes layouts")
        converted[new_key] = value
    return converted


def convert_transformer_to_diffusers(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """Original / ComfyUI transformer keys -> diffusers keys (prefix stripped; diffusers input kept)."""
    state_dict = select_transformer_keys(state_dict)
    if transformer_layout(state_dict) == "diffusers":
        return dict(state_dict)
    return _rename_all(state_dict, lambda k: _rename_transformer_key(k, to_diffusers=True))


def convert_transformer_to_original(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """Diffusers transformer keys -> original Wan keys (prefix stripped; original input kept)."""
    state_dict = select_transformer_keys(state_dict)
    if transformer_layout(state_dict) == "original":
        return dict(state_dict)
    return _rename_all(state_dict, lambda k: _rename_transformer_key(k, to_diffusers=False))


def to_comfy_transformer_state_dict(state_dict: StateDict, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state dict ComfyUI's UNETLoader reads: original Wan names, optionally under `prefix`.

    ComfyUI detects Wan from `head.modulation` and `patch_embedding.weight`, and VACE from
    `vace_patch_embedding.weight`; it derives `num_heads = dim // 128` and spaces the VACE blocks
    evenly (`range(0, num_layers, num_layers // num_vace_blocks)`).
    """
    return {prefix + k: v for k, v in convert_transformer_to_original(state_dict).items()}


# ----------------------------------------------------------------------------------------------
# VAE
# ----------------------------------------------------------------------------------------------


def infer_vae_num_res_blocks(state_dict: StateDict) -> int:
    """Residual blocks per encoder level, counted before the first downsampler (either layout)."""
    prefix = "encoder.downsamples." if vae_layout(state_dict) == "original" else "encoder.down_blocks."
    entries: dict[int, set[str]] = {}
    for key in state_dict:
        if key.startswith(prefix):
            index, rest = key[len(prefix):].split(".", 1)
            entries.setdefault(int(index), set()).add(rest)
    count = 0
    for index in sorted(entries):
        if any(r.startswith(("resample.", "time_conv.")) for r in entries[index]):
            break
        count += 1
    return count


def _rename_vae_resnet(rest: str, to_diffusers: bool) -> str:
    renamed = _rename_prefix(rest, _table(_VAE_RESNET_RENAMES, to_diffusers))
    return renamed if renamed is not None else rest


def _vae_key_to_diffusers(key: str, num_res_blocks: int) -> str:
    # Decoder levels hold num_res_blocks + 1 residual blocks and then one upsampler.
    stride = num_res_blocks + 2
    if key.startswith(("encoder.", "decoder.")):
        coder, rest = key.split(".", 1)
        if coder == "encoder" and rest.startswith("downsamples."):
            index, inner = _INDEXED_KEY.match(rest[len("downsamples."):]).groups()
            return f"encoder.down_blocks.{index}.{_rename_vae_resnet(inner, True)}"
        if coder == "decoder" and rest.startswith("upsamples."):
            index, inner = _INDEXED_KEY.match(rest[len("upsamples."):]).groups()
            level, slot = divmod(int(index), stride)
            if slot <= num_res_blocks:
                return f"decoder.up_blocks.{level}.resnets.{slot}.{_rename_vae_resnet(inner, True)}"
            return f"decoder.up_blocks.{level}.upsamplers.0.{inner}"
        renamed = _rename_prefix(rest, _table(_VAE_CODER_RENAMES, True))
        if renamed is None:
            return key
        if ".resnets." in renamed:
            head, inner = renamed.split(".resnets.", 1)
            index, inner = _INDEXED_KEY.match(inner).groups()
            renamed = f"{head}.resnets.{index}.{_rename_vae_resnet(inner, True)}"
        return f"{coder}.{renamed}"
    renamed = _rename_prefix(key, _table(_VAE_TOP_RENAMES, True))
    return renamed if renamed is not None else key


def _vae_key_to_original(key: str, num_res_blocks: int) -> str:
    stride = num_res_blocks + 2
    if key.startswith(("encoder.", "decoder.")):
        coder, rest = key.split(".", 1)
        if coder == "encoder" and rest.startswith("down_blocks."):
            index, inner = _INDEXED_KEY.match(rest[len("down_blocks."):]).groups()
            return f"encoder.downsamples.{index}.{_rename_vae_resnet(inner, False)}"
        up = re.match(r"^up_blocks\.(\d+)\.(resnets\.(\d+)|upsamplers\.0)\.(.+)$", rest)
        if coder == "decoder" and up:
            level, _, slot, inner = up.groups()
            if slot is not None:
                return f"decoder.upsamples.{int(level) * stride + int(slot)}.{_rename_vae_resnet(inner, False)}"
            return f"decoder.upsamples.{int(level) * stride + num_res_blocks + 1}.{inner}"
        mid = re.match(r"^mid_block\.resnets\.(\d+)\.(.+)$", rest)
        if mid:
            rest = f"mid_block.resnets.{mid.group(1)}.{_rename_vae_resnet(mid.group(2), False)}"
        renamed = _rename_prefix(rest, _table(_VAE_CODER_RENAMES, False))
        return f"{coder}.{renamed}" if renamed is not None else key
    renamed = _rename_prefix(key, _table(_VAE_TOP_RENAMES, False))
    return renamed if renamed is not None else key


def convert_vae_to_diffusers(state_dict: StateDict, num_res_blocks: int | None = None) -> dict[str, torch.Tensor]:
    """Original Wan2.1 VAE keys (`Wan2.1_VAE.pth`, ComfyUI's `wan_2.1_vae.safetensors`) -> diffusers keys.

    Unlike diffusers' `convert_wan_vae_to_diffusers`, which hard-codes the decoder indices of the
    default layout, this works for any `num_res_blocks` (inferred from the encoder when not given).
    """
    state_dict = select_vae_keys(state_dict)
    if vae_layout(state_dict) == "diffusers":
        return dict(state_dict)
    if num_res_blocks is None:
        num_res_blocks = infer_vae_num_res_blocks(state_dict)
    return _rename_all(state_dict, lambda k: _vae_key_to_diffusers(k, num_res_blocks))


def convert_vae_to_original(state_dict: StateDict, num_res_blocks: int | None = None) -> dict[str, torch.Tensor]:
    """Diffusers `AutoencoderKLWan` keys -> original Wan2.1 VAE keys (what ComfyUI's VAELoader reads)."""
    state_dict = select_vae_keys(state_dict)
    if vae_layout(state_dict) == "original":
        return dict(state_dict)
    if num_res_blocks is None:
        num_res_blocks = infer_vae_num_res_blocks(state_dict)
    return _rename_all(state_dict, lambda k: _vae_key_to_original(k, num_res_blocks))


def to_comfy_vae_state_dict(state_dict: StateDict) -> dict[str, torch.Tensor]:
    """The VAE state dict ComfyUI's VAELoader reads (original Wan2.1 names, no prefix)."""
    return convert_vae_to_original(state_dict)
