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


def check_image(image, name: str, what: str = "frames") -> None:
    """An IMAGE input must be a batch [frames, height, width, channels] with something in it."""
    from ..reco_core.errors import ReCoInputError

    if not isinstance(image, torch.Tensor) or image.ndim != 4 or 0 in image.shape or image.shape[-1] not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ReCoInputError(name, f"is not an IMAGE [frames, height, width, channels] (got {shape})",
                             f"Connect {what} from Load Video, Get Video Components or Load Image.")


def video_latent(latent, name: str, fix: str = "Connect the LATENT of ReCo In-Context Edit (an image latent cannot "
                                                "hold a clip).") -> torch.Tensor:
    """The samples of a LATENT input that must be a Wan video latent [batch, 16, frames, height, width]."""
    from ..reco_core.errors import ReCoInputError

    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5 or 0 in samples.shape:
        shape = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(samples).__name__
        raise ReCoInputError(name, f"is not a video latent [batch, 16, frames, height, width] (got {shape})", fix)
    return samples
