"""Encoders for the training cache built on the diffusers stack (a ComfyUI front end brings its own)."""

from __future__ import annotations

import hashlib

import torch

from ..engine import codec


def module_fingerprint(module: torch.nn.Module, values_per_tensor: int = 64) -> str:
    """A cheap content hash of a model: names, shapes and the first values of every tensor."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(tensor.detach().flatten()[:values_per_tensor].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class DiffusersEncoders:
    """Video through a diffusers AutoencoderKLWan (normalised latents), text through a TextEncoder."""

    def __init__(self, vae, text_encoder):
        self.vae = vae
        self.text_encoder = text_encoder
        text_model = getattr(text_encoder, "model", None)
        text_id = module_fingerprint(text_model) if isinstance(text_model, torch.nn.Module) else "none"
        self.identity = f"vae:{module_fingerprint(vae)}/text:{text_id}"

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        return codec.encode_frames(self.vae, frames)

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        return codec.decode_latents(self.vae, latents)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        if self.text_encoder is None:
            from ..errors import ReCoInputError

            raise ReCoInputError("model.text_encoder", "is not set but instructions must be encoded",
                                 "Point it at the UMT5 text encoder folder.")
        with torch.no_grad():
            return self.text_encoder.encode(texts).float().cpu()
