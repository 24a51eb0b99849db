"""Small helpers shared by the ReCo nodes (ComfyUI side only)."""

from __future__ import annotations

import torch

CATEGORY = "ReCo"
MAX_RESOLUTION = 8192


def advanced(widget):
    """Mark an input as an expert knob (front ends that know the flag fold these away)."""
    widget.extra_dict = {**(widget.extra_dict or {}), "advanced": True}
    return widget


def first_image(image: torch.Tensor | None) -> torch.Tensor | None:
    """An IMAGE batch [B, H, W, C] -> its first frame [H, W, C] (or None)."""
    return None if image is None else image[0, ..., :3]


def decode_frames(vae, latent: torch.Tensor) -> torch.Tensor:
    """Decode a raw video latent [1, 16, F, h, w] with a ComfyUI VAE into frames [T, H, W, 3]."""
    images = vae.decode(latent)
    if images.ndim == 5:
        images = images.reshape(-1, *images.shape[-3:])
    return images[..., :3]
