"""Shared fixtures: tiny random Wan models built from configs (CPU, no network)."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def tiny_vace():
    from reco_core.models.tiny import build_tiny_transformer

    return build_tiny_transformer(seed=0)


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


@pytest.fixture(scope="module")
def pipe():
    """The engine's pipeline on a tiny random Wan-VACE transformer and VAE (no text encoder: pass `prompt`)."""
    from reco_core.engine.pipeline import ReCoPipeline
    from reco_core.models.tiny import build_tiny_transformer, build_tiny_vae

    return ReCoPipeline(build_tiny_transformer(seed=0), build_tiny_vae(seed=0), device="cpu")


@pytest.fixture
def prompt():
    """Random conditional and unconditional text embeddings of the tiny transformer's width."""
    from reco_core.engine.pipeline import Prompt

    generator = torch.Generator().manual_seed(3)
    return Prompt(torch.randn(1, 6, 32, generator=generator), torch.randn(1, 4, 32, generator=generator))
