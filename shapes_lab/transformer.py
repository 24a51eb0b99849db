"""The ReCo-Shapes transformer: a Wan2.1-VACE model at toy size that core ComfyUI's UNETLoader reads."""

from __future__ import annotations

import torch

from reco_core.models.tiny import seeded

#: dim 128 (one head of 128, as ComfyUI reads heads = dim // 128), Wan's text width and time-embedding
#: width, 6 blocks with 3 VACE blocks at 0, 2, 4 (evenly spaced from 0, as ComfyUI places them).
TRANSFORMER_CONFIG: dict = {
    "patch_size": [1, 2, 2],
    "num_attention_heads": 1,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 512,
    "num_layers": 6,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
    "vace_layers": [0, 2, 4],
    "vace_in_channels": 96,
}


def build_transformer(seed: int = 0, **overrides):
    """A seeded WanVACETransformer3DModel of the miniature's size. VACE hints start at zero (as in VACE),
    so the untrained branch leaves the base model alone."""
    from diffusers import WanVACETransformer3DModel

    with seeded(seed):
        model = WanVACETransformer3DModel(**{**TRANSFORMER_CONFIG, **overrides})
    with torch.no_grad():
        for block in model.vace_blocks:
            block.proj_out.weight.zero_()
            block.proj_out.bias.zero_()
    return model
