"""Flow-matching schedules on the Wan sigma grid.

Wan samples sigma from 1 to 0 on a uniform grid warped by the flow shift s:
sigma' = s * sigma / (1 + (s - 1) * sigma). The model sees timestep sigma * 1000 and predicts the
velocity v = noise - x0, so x_t = (1 - sigma) x0 + sigma noise and the one-step estimate of the
clean latent is x0_hat = x_t - sigma v.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ReCoInputError

SAMPLERS = ("unipc", "euler")


def shift_sigmas(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def make_scheduler(sampler: str, steps: int, shift: float):
    """A diffusers scheduler for `sampler` set to `steps` steps on the Wan grid with flow `shift`."""
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    if sampler not in SAMPLERS:
        raise ReCoInputError("sampler", f"{sampler!r} is not available", f"Use one of: {', '.join(SAMPLERS)}.")
    if steps < 1:
        raise ReCoInputError("steps", f"{steps} is not a positive number of steps", "Use 1 or more (30 is the default).")
    if shift <= 0:
        raise ReCoInputError("shift", f"{shift} is not positive", "Use a positive flow shift (5 is the default).")
    if sampler == "unipc":
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                            num_train_timesteps=1000, flow_shift=shift)
        scheduler.set_timesteps(steps)
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
        scheduler.set_timesteps(steps, sigmas=np.linspace(1, 0, steps + 1)[:steps])
    return scheduler


def renoise(clean: torch.Tensor, noise: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
    """x_t = (1 - sigma) * x0 + sigma * noise."""
    return (1 - sigma) * clean + sigma * noise
