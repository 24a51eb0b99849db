"""Module names of the Wan / Wan-VACE linears a LoRA can target, in the two naming schemes.

The canonical name is the original Wan one (what the ReCo release, DiffSynth and ComfyUI use):
`blocks.3.self_attn.q`, `vace_blocks.0.ffn.2`. diffusers renames the same modules
(`blocks.3.attn1.to_q`, `vace_blocks.0.ffn.net.2`); kohya/musubi flattens the canonical name with
underscores (`blocks_3_self_attn_q`).
"""

from __future__ import annotations

import re

# (canonical suffix, diffusers suffix) inside a block or a VACE block.
_BLOCK_RENAMES = (
    ("self_attn.q", "attn1.to_q"),
    ("self_attn.k", "attn1.to_k"),
    ("self_attn.v", "attn1.to_v"),
    ("self_attn.o", "attn1.to_out.0"),
    ("cross_attn.q", "attn2.to_q"),
    ("cross_attn.k", "attn2.to_k"),
    ("cross_attn.v", "attn2.to_v"),
    ("cross_attn.o", "attn2.to_out.0"),
    ("cross_attn.k_img", "attn2.add_k_proj"),
    ("cross_attn.v_img", "attn2.add_v_proj"),
    ("ffn.0", "ffn.net.0.proj"),
    ("ffn.2", "ffn.net.2"),
    ("before_proj", "proj_in"),
    ("after_proj", "proj_out"),
)
# Top-level linears outside the blocks.
_TOP_RENAMES = (
    ("head.head", "proj_out"),
    ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    ("time_projection.1", "condition_embedder.time_proj"),
)

_BLOCK = re.compile(r"^(vace_blocks|blocks)\.(\d+)\.(.+)$")
_TO_DIFFUSERS_BLOCK = dict(_BLOCK_RENAMES)
_TO_CANONICAL_BLOCK = {d: c for c, d in _BLOCK_RENAMES}
_TO_DIFFUSERS_TOP = dict(_TOP_RENAMES)
_TO_CANONICAL_TOP = {d: c for c, d in _TOP_RENAMES}

# Canonical names flattened with "_" are ambiguous ("self_attn" holds an underscore), so the kohya
# spelling is parsed against the known vocabulary instead of by splitting.
_KOHYA_BLOCK = re.compile(
    r"^(vace_blocks|blocks)_(\d+)_(self_attn_(?:q|k|v|o)|cross_attn_(?:q|k|v|o|k_img|v_img)|ffn_(?:0|2)"
    r"|before_proj|after_proj)$"
)
_KOHYA_TOP = {c.replace(".", "_"): c for c, _ in _TOP_RENAMES}


class UnknownModuleError(KeyError):
    """A LoRA names a module that does not exist in Wan / Wan-VACE."""


def is_canonical(name: str) -> bool:
    match = _BLOCK.match(name)
    if match:
        return match.group(3) in _TO_DIFFUSERS_BLOCK
    return name in _TO_DIFFUSERS_TOP


def canonical_to_diffusers(name: str) -> str:
    match = _BLOCK.match(name)
    if match and match.group(3) in _TO_DIFFUSERS_BLOCK:
        return f"{match.group(1)}.{match.group(2)}.{_TO_DIFFUSERS_BLOCK[match.group(3)]}"
    if name in _TO_DIFFUSERS_TOP:
        return _TO_DIFFUSERS_TOP[name]
    raise UnknownModuleError(name)


def diffusers_to_canonical(name: str) -> str:
    match = _BLOCK.match(name)
    if match and match.group(3) in _TO_CANONICAL_BLOCK:
        return f"{match.group(1)}.{match.group(2)}.{_TO_CANONICAL_BLOCK[match.group(3)]}"
    if name in _TO_CANONICAL_TOP:
        return _TO_CANONICAL_TOP[name]
    raise UnknownModuleError(name)


def canonical_to_kohya(name: str) -> str:
    return name.replace(".", "_")


def kohya_to_canonical(flat: str) -> str:
    flat = flat.lstrip("_")  # Wan-Fun writes "lora_unet__blocks_0_..."
    match = _KOHYA_BLOCK.match(flat)
    if match:
        kind, index, rest = match.groups()
        for canonical, _ in _BLOCK_RENAMES:
            if canonical.replace(".", "_") == rest:
                return f"{kind}.{index}.{canonical}"
    if flat in _KOHYA_TOP:
        return _KOHYA_TOP[flat]
    raise UnknownModuleError(flat)


def looks_diffusers(name: str) -> bool:
    """True when a module name uses diffusers' spelling (attn1/to_q/ffn.net/condition_embedder)."""
    if is_canonical(name):
        return False
    try:
        diffusers_to_canonical(name)
    except UnknownModuleError:
        return False
    return True


def block_kind(name: str) -> str:
    """"dit" for main blocks, "vace" for VACE blocks, "other" for top-level modules."""
    if name.startswith("vace_blocks."):
        return "vace"
    if name.startswith("blocks."):
        return "dit"
    return "other"


def block_index(name: str) -> int | None:
    match = _BLOCK.match(name)
    return int(match.group(2)) if match else None
