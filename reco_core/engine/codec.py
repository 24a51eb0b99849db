"""Frames <-> normalised latents with a diffusers Wan VAE (the encoding every part of the engine shares).

Normalisation follows diffusers' Wan pipelines: z = (mu - mean) / std with the VAE config's
per-channel statistics, encoding takes the distribution's mode, decoding clamps to [-1, 1].
"""

from __future__ import annotations

import torch

from ..models.latents import denormalize_latents, normalize_latents


def encode_frames(vae, frames: torch.Tensor) -> torch.Tensor:
    """Frames [T, H, W, C] or [B, T, H, W, C] in 0..1 -> normalised latents [B, 16, F, H/8, W/8] (float32)."""
    if frames.ndim == 4:
        frames = frames.unsqueeze(0)
    parameter = next(vae.parameters())
    video = (frames[..., :3].permute(0, 4, 1, 2, 3) * 2 - 1).to(parameter.device, parameter.dtype)
    with torch.no_grad():
        latents = vae.encode(video).latent_dist.mode().float()
    return normalize_latents(latents, vae)


def decode_latents(vae, latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents [1, 16, F, h, w] -> frames [T, H, W, C] in 0..1 (float32, on the CPU)."""
    parameter = next(vae.parameters())
    with torch.no_grad():
        raw = denormalize_latents(latents.to(parameter.device, torch.float32), vae)
        video = vae.decode(raw.to(parameter.dtype), return_dict=False)[0]
    return ((video.float().clamp(-1, 1) + 1) / 2)[0].permute(1, 2, 3, 0).cpu()
