"""The Wan VAE's latent space: raw posterior means <-> the normalised latents the transformer works in.

Normalisation follows diffusers' Wan pipelines, `(mu - mean) * (1 / std)` with the VAE config's per-channel
`latents_mean` / `latents_std`; core ComfyUI keeps raw latents, so its front end normalises with these too.
"""

from __future__ import annotations

import torch


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
