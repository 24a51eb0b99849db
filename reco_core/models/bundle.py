"""Loading the three components of an edit model at once, from files: transformer, VAE and text encoder.

Names of models that ship in the package ("shapes") are resolved above, in `reco_core.bundled`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ReCoInputError
from .loading import load_transformer, load_vae
from .text import load_text_encoder


def require_file(path: str, input_name: str, what: str) -> Path:
    """Check that a model path exists before anything heavy starts."""
    if not path:
        raise ReCoInputError(input_name, "is not set", f"Give the {what} (a file or a diffusers folder).")
    if not Path(path).exists():
        raise ReCoInputError(input_name, f"{path} does not exist", f"Give the path of the {what}.")
    return Path(path)


def check_components(transformer: str, vae: str, text_encoder: str | None) -> None:
    require_file(transformer, "--model", "Wan2.1 VACE model")
    require_file(vae, "--vae", "Wan2.1 VAE")
    if text_encoder:
        require_file(text_encoder, "--text-encoder", "UMT5 text encoder folder")


def load_components(transformer: str, vae: str, text_encoder: str | None, *, dtype: torch.dtype = torch.bfloat16,
                    device: str = "cpu"):
    """(transformer, vae, text encoder or None), loaded offline from local files."""
    check_components(transformer, vae, text_encoder)
    model = load_transformer(transformer, dtype=dtype, device=device, input_name="--model")
    autoencoder = load_vae(vae, dtype=torch.float32, device=device, input_name="--vae")
    encoder = load_text_encoder(text_encoder, dtype=dtype, device=device, input_name="--text-encoder") if text_encoder else None
    return model, autoencoder, encoder
