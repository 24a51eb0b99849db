"""Shared fixtures: tiny random Wan models built from configs (CPU, no network)."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TINY_TRANSFORMER = dict(
    num_attention_heads=2, attention_head_dim=16, in_channels=16, out_channels=16, text_dim=32,
    freq_dim=32, ffn_dim=64, num_layers=2,
)


@pytest.fixture
def tiny_vace():
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(0)
    return WanVACETransformer3DModel(**TINY_TRANSFORMER, vace_layers=[0, 1], vace_in_channels=96).eval()


@pytest.fixture
def tiny_vace_inputs():
    generator = torch.Generator().manual_seed(1)
    latent = torch.randn(1, 16, 2, 4, 8, generator=generator)
    return dict(
        hidden_states=latent,
        timestep=torch.tensor([500.0]),
        encoder_hidden_states=torch.randn(1, 7, 32, generator=generator),
        control_hidden_states=torch.randn(1, 96, 2, 4, 8, generator=generator),
    )
