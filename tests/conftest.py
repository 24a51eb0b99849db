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


def pytest_terminal_summary(terminalreporter):
    """One line on the real-ComfyUI tests: how many ran, or that they were skipped and why (CI reads it)."""
    counts, reasons = {}, set()
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "nodeid", "").startswith("tests/comfyui/"):
                counts[outcome] = counts.get(outcome, 0) + 1
                if outcome == "skipped" and isinstance(report.longrepr, tuple):
                    reasons.add(report.longrepr[2].removeprefix("Skipped: "))
    if not counts:
        return
    ran = ", ".join(f"{n} {outcome}" for outcome, n in counts.items())
    where = os.environ.get("COMFYUI_PATH", "no COMFYUI_PATH")
    line = f"ComfyUI integration tests ({where}): {ran}"
    if counts.get("skipped") and len(reasons) == 1:
        line += f" (skipped: {next(iter(reasons))})"
    terminalreporter.write_line(line, bold=True)
