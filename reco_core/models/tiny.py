"""Tiny Wan models with random weights, for tests and for the project's own small models.

Every builder takes a seed and gives the same weights for the same seed on every run, without
touching the global random state.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

TINY_VOCABULARY = (
    "a", "an", "the", "add", "remove", "replace", "change", "make", "turn", "into", "with", "to", "of",
    "and", "in", "on", "it", "its", "cat", "dog", "person", "car", "hat", "tree", "sky", "background",
    "red", "blue", "green", "style", "snow", "painting", "wearing", "small", "large",
)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's CPU generator seeded, restoring the global state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def tiny_transformer_config(vace: bool = True, **overrides) -> dict:
    """A 2-layer Wan (or Wan-VACE) transformer config: 2 heads of 16, text width 32, FFN 64.

    The head size is not 128, so files of this model need the stored `reco_config` (which
    `save_transformer` writes) or an explicit config to reload; ComfyUI cannot run it.
    """
    config = dict(
        patch_size=[1, 2, 2], num_attention_heads=2, attention_head_dim=16, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=32, ffn_dim=64, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
    )
    if vace:
        config.update(vace_layers=[0, 1], vace_in_channels=96)
    config.update(overrides)
    return config


def tiny_vae_config(**overrides) -> dict:
    """A Wan VAE config with base width 8 and the real block layout (dim_mult [1,2,4,4], 2 res blocks).

    reco_core's own key converter handles any layout, but the real layout is kept so that the
    files also load with diffusers' `convert_wan_vae_to_diffusers`, which hard-codes its indices.
    Latent statistics are the real Wan2.1 ones (16 channels).
    """
    from .configs import load_shipped_config

    config = {k: v for k, v in load_shipped_config("wan2.1-vae").items() if not k.startswith("_")}
    config.update(base_dim=8)  # 4 is slower on CPU: oneDNN likes channels in multiples of 8
    config.update(overrides)
    return config


def tiny_text_encoder_config(vocab_size: int, **overrides) -> dict:
    """A 2-layer UMT5 encoder config of width 32 (the tiny transformer's text_dim)."""
    config = dict(
        vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, feed_forward_proj="gated-gelu",
        is_encoder_decoder=False, use_cache=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        dropout_rate=0.0,
    )
    config.update(overrides)
    return config


def build_tiny_transformer(seed: int = 0, vace: bool = True, **overrides):
    """A seeded random tiny WanVACETransformer3DModel (or WanTransformer3DModel), fp32, eval mode."""
    from .loading import transformer_class

    config = tiny_transformer_config(vace=vace, **overrides)
    with seeded(seed):
        model = transformer_class(config)(**config)
    return model.eval()


def build_tiny_vae(seed: int = 0, **overrides):
    """A seeded random tiny AutoencoderKLWan, fp32, eval mode."""
    from diffusers import AutoencoderKLWan

    with seeded(seed):
        vae = AutoencoderKLWan(**tiny_vae_config(**overrides))
    return vae.eval()


def build_tiny_text_encoder(seed: int = 0, vocabulary=TINY_VOCABULARY):
    """A seeded random tiny UMT5 encoder with a word-level tokenizer over `vocabulary` (a TextEncoder)."""
    from transformers import UMT5Config, UMT5EncoderModel

    from .text import TextEncoder, make_word_tokenizer

    tokenizer = make_word_tokenizer(list(vocabulary))
    with seeded(seed):
        model = UMT5EncoderModel(UMT5Config(**tiny_text_encoder_config(len(tokenizer))))
    return TextEncoder(model.eval(), tokenizer)
