"""Wan2.1 models for ReCo: configs, checkpoint key layouts, offline loading, text embeddings, tiny models.

diffusers and transformers are imported only when a model is built or loaded.
"""

from .configs import load_shipped_config, recognise_transformer, recognise_vae, shipped_config_names
from .keys import (
    convert_transformer_to_diffusers,
    convert_transformer_to_original,
    convert_vae_to_diffusers,
    convert_vae_to_original,
    to_comfy_transformer_state_dict,
    to_comfy_vae_state_dict,
)
from .latents import denormalize_latents, normalize_latents, vae_latent_stats
from .loading import cast_model, load_transformer, load_vae
from .saving import save_transformer, save_vae
from .text import TextEncoder, load_text_encoder, make_word_tokenizer, pad_embeddings, save_word_tokenizer

__all__ = [
    "TextEncoder",
    "cast_model",
    "convert_transformer_to_diffusers",
    "convert_transformer_to_original",
    "convert_vae_to_diffusers",
    "convert_vae_to_original",
    "denormalize_latents",
    "load_shipped_config",
    "load_text_encoder",
    "load_transformer",
    "load_vae",
    "make_word_tokenizer",
    "normalize_latents",
    "pad_embeddings",
    "recognise_transformer",
    "recognise_vae",
    "save_transformer",
    "save_vae",
    "save_word_tokenizer",
    "shipped_config_names",
    "to_comfy_transformer_state_dict",
    "to_comfy_vae_state_dict",
    "vae_latent_stats",
]
