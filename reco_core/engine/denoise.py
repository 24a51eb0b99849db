"""The flow-matching denoising loop, shared by the edit pipeline, training samples and the benchmark.

The loop knows nothing about text or VACE: it calls a velocity function and a diffusers scheduler,
optionally pulls parts of the canvas toward the re-noised source (keep-source, background lock),
reports every step (progress, the x0 estimate for previews) and checks for cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from ..errors import CancelledError
from ..losses import one_step_x0
from .schedule import renoise


@dataclass
class StepInfo:
    """What a step callback sees. `model_input` is what the model was given at this step."""

    step: int
    total: int
    sigma: float
    timestep: torch.Tensor
    model_input: torch.Tensor
    velocity: torch.Tensor
    x0: torch.Tensor
    latents: torch.Tensor  # after the scheduler step


class Anchor(Protocol):
    """Where, and how strongly, the canvas is pulled toward the re-noised `clean` latent."""

    clean: torch.Tensor

    def weight(self, step: int, total: int) -> torch.Tensor | float:
        """Weight in 0..1 (broadcastable to the latents) before model call `step`; `step == total` is the end."""


@dataclass
class FixedAnchor:
    """A constant anchor: `mask` is 1 where the latent must equal the (re-noised) clean latent."""

    clean: torch.Tensor
    mask: torch.Tensor

    def weight(self, step: int, total: int) -> torch.Tensor:
        return self.mask


VelocityFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def pull_to_anchor(latents: torch.Tensor, anchor: Anchor, noise: torch.Tensor, sigma: float, step: int,
                   total: int) -> torch.Tensor:
    """Blend the latents toward the anchor's clean latent re-noised to `sigma` with the run's noise."""
    weight = anchor.weight(step, total)
    if isinstance(weight, float) and weight == 0.0:
        return latents
    target = renoise(anchor.clean, noise, sigma)
    return latents + (target - latents) * weight


def denoise(
    velocity: VelocityFn,
    noise: torch.Tensor,
    scheduler,
    *,
    anchor: Anchor | None = None,
    callback: Callable[[StepInfo], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Sample from `noise` (sigma 1) to a clean latent on `scheduler`'s grid.

    Each step: 1. stop if `cancel()` says so; 2. pull toward the anchor; 3. predict the velocity;
    4. estimate x0; 5. take the scheduler step; 6. report. After the last step the anchored region is
    set to the clean anchor (its weight at `step == total`).
    """
    latents = noise.clone()
    sigmas = scheduler.sigmas
    timesteps = scheduler.timesteps
    total = len(timesteps)
    for step, timestep in enumerate(timesteps):
        if cancel is not None and cancel():
            raise CancelledError(f"cancelled before step {step + 1} of {total}")
        sigma = float(sigmas[step])
        if anchor is not None:
            latents = pull_to_anchor(latents, anchor, noise, sigma, step, total)
        model_input = latents
        predicted = velocity(model_input, timestep, step).float()
        x0 = one_step_x0(model_input, predicted, sigma)
        latents = scheduler.step(predicted, timestep, model_input, return_dict=False)[0]
        if callback is not None:
            callback(StepInfo(step, total, sigma, timestep, model_input, predicted, x0, latents))
        if progress is not None:
            progress(step + 1, total)
    if anchor is not None:
        latents = pull_to_anchor(latents, anchor, noise, 0.0, total, total)
    return latents
