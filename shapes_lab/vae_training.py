"""The ReCo-Shapes VAE: a small diffusers AutoencoderKLWan trained on shapes clips.

1. `train_vae` teaches it to reconstruct short crops of shapes clips (L1 + MSE, a light KL). The
   crops mix what the edit model will ever encode: plain scenes, styled scenes, [source | target]
   canvases across the seam, and VACE contexts with grey holes. It starts as a block-average colour
   codec that is per-frame in time (`vae_init`), learns single frames first, then 17-frame clips.
2. `match_wan_statistics` folds a per-channel affine map into the encoder's last conv (`quant_conv`)
   and its inverse into the decoder's first conv (`post_quant_conv`), so the raw latents carry the
   real Wan2.1 per-channel mean and std. Normalised latents are then identical in diffusers and in
   ComfyUI, whose Wan21 latent format hard-codes those statistics.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from reco_core.layout import GREY, build_canvas
from reco_core.train.schedule import warmup_cosine
from reco_core.shapes.model import HEIGHT, model_world
from reco_core.shapes.tasks import STYLES, TASKS, apply_style, make_pair, split_seeds
from reco_core.shapes.world import WorldConfig, quantize, render_background, render_scene, sample_scene

#: Seeds of the train split reserved for VAE crops (the LoRA data starts at 0).
VAE_SEED_START = 10_000_000


@dataclass
class VAETrainConfig:
    """Two phases: single frames first (cheap; the spatial path and the first-frame path), then clips."""

    image_steps: int = 2500
    image_batch_size: int = 8
    image_crop: int = 32
    steps: int = 800
    batch_size: int = 2
    frames: int = 17  # the clip length the model edits: shorter training clips drift on later frames
    crop: int = 32
    learning_rate: float = 5e-4
    final_learning_rate: float = 3e-5
    warmup: int = 50
    l1_weight: float = 0.1
    kl_weight: float = 1e-4
    size: int = HEIGHT  # per-half size the scenes are drawn at (the model's), before cropping
    seed: int = 0

    @property
    def total_steps(self) -> int:
        return self.image_steps + self.steps

    def phase(self, step: int) -> tuple[int, int, int]:
        """(batch size, frames, crop) at `step`."""
        if step < self.image_steps:
            return self.image_batch_size, 1, self.image_crop
        return self.batch_size, self.frames, self.crop


# ----------------------------------------------------------------------------------------------
# Training crops


#: Shapes per training scene. More than the world's three: the VAE cares about pixels, not meaning,
#: and crops with shape edges and saturated colours in them are what it learns slowest.
VAE_SHAPES = (1, 9)


def _scene_clip(rng: np.random.Generator, frames: int, width: int, height: int) -> torch.Tensor:
    config = WorldConfig(width=width, height=height, num_frames=frames)
    return render_scene(sample_scene(rng, config, int(rng.integers(*VAE_SHAPES))), config).frames


def _grey_hole(clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A VACE context: grey over a random box, or over the right half (ReCo's [source | grey])."""
    holed = clip.clone()
    _, height, width, _ = clip.shape
    if rng.random() < 0.5:
        holed[:, :, width // 2 :] = GREY
    else:
        h, w = int(rng.integers(8, height)), int(rng.integers(8, width))
        top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        holed[:, top : top + h, left : left + w] = GREY
    return holed


def random_training_clip(rng: np.random.Generator, frames: int, size: int) -> torch.Tensor:
    """One uncropped clip [T, size, W, 3] of a kind drawn at random (see the module doc)."""
    kind = rng.choice(["scene", "styled", "canvas", "context"], p=[0.35, 0.25, 0.2, 0.2])
    if kind == "canvas":
        seed = split_seeds("train", 1, start=VAE_SEED_START + int(rng.integers(1_000_000)))[0]
        world = WorldConfig(width=size, height=size, num_frames=frames)
        pair = make_pair(seed, TASKS[int(rng.integers(len(TASKS)))], world)
        return build_canvas(pair.source, pair.target)
    clip = _scene_clip(rng, frames, 2 * size if rng.random() < 0.5 else size, size)
    if kind == "styled":
        return quantize(apply_style(clip, STYLES[int(rng.integers(len(STYLES)))]))
    if kind == "context":
        return _grey_hole(clip, rng)
    return clip


def random_crop(clip: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    _, height, width, _ = clip.shape
    top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
    return clip[:, top : top + size, left : left + size]


def training_batch(rng: np.random.Generator, batch_size: int, frames: int, crop: int, size: int) -> torch.Tensor:
    """[B, 3, T, crop, crop] in -1..1."""
    crops = [random_crop(random_training_clip(rng, frames, size), crop, rng) for _ in range(batch_size)]
    return torch.stack(crops).permute(0, 4, 1, 2, 3) * 2 - 1


# ----------------------------------------------------------------------------------------------
# Training


def learning_rate_at(step: int, config: VAETrainConfig) -> float:
    return warmup_cosine(step, config.total_steps, config.warmup, config.learning_rate, config.final_learning_rate)


def vae_loss(vae, video: torch.Tensor, l1_weight: float, kl_weight: float) -> dict[str, torch.Tensor]:
    """Reconstruction of a sampled latent (MSE + `l1_weight` x L1, in -1..1), plus `kl_weight` x the mean KL
    per latent value. MSE leads: with L1 alone the model lingers for long at the blurry mean image."""
    posterior = vae.encode(video).latent_dist
    recon = vae.decode(posterior.sample()).sample
    l1 = (recon - video).abs().mean()
    mse = (recon - video).pow(2).mean()
    kl = 0.5 * (posterior.mean.pow(2) + posterior.var - 1.0 - posterior.logvar).mean()
    return {"loss": mse + l1_weight * l1 + kl_weight * kl, "l1": l1, "mse": mse, "kl": kl}


def train_vae(vae, config: VAETrainConfig, progress: Callable[[int, int, dict], None] | None = None) -> list[dict]:
    """Train in place for `config.total_steps` AdamW steps; returns the per-step log."""
    rng = np.random.default_rng([config.seed, 1])
    torch.manual_seed(config.seed)
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.learning_rate, weight_decay=0.0)
    log = []
    for step in range(config.total_steps):
        started = time.time()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        terms = vae_loss(vae, training_batch(rng, *config.phase(step), config.size), config.l1_weight,
                         config.kl_weight)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        row = {"step": step + 1, **{k: float(v.detach()) for k, v in terms.items()}, "seconds": time.time() - started}
        log.append(row)
        if progress is not None:
            progress(step + 1, config.total_steps, row)
    vae.eval()
    return log


# ----------------------------------------------------------------------------------------------
# Latent statistics


@torch.no_grad()
def raw_latent_means(vae, clips: list[torch.Tensor]) -> torch.Tensor:
    """Posterior means of clips [T, H, W, 3] in 0..1, each [16, F, h, w], concatenated on the last axis."""
    means = []
    for clip in clips:
        video = clip.permute(3, 0, 1, 2).unsqueeze(0) * 2 - 1
        means.append(vae.encode(video).latent_dist.mode()[0].flatten(1))
    return torch.cat(means, dim=1)


def latent_statistics(vae, clips: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (mean, std) of the raw latents of `clips`, each [16]."""
    values = raw_latent_means(vae, clips)
    return values.mean(dim=1), values.std(dim=1)


@torch.no_grad()
def match_wan_statistics(vae, mean: torch.Tensor, std: torch.Tensor) -> None:
    """Re-parametrise so raw latents have the config's (Wan2.1) statistics, leaving decodes unchanged.

    With a = wan_std / std and b = wan_mean - a * mean, the encoder's mean becomes a * mu + b and its
    log-variance gains 2 log a (folded into `quant_conv`); `post_quant_conv` undoes the map first.
    Normalised latents (mu' - wan_mean) / wan_std equal (mu - mean) / std exactly, up to rounding.
    """
    z_dim = vae.config.z_dim
    wan_mean = torch.tensor(vae.config.latents_mean, dtype=torch.float64)
    wan_std = torch.tensor(vae.config.latents_std, dtype=torch.float64)
    scale = wan_std / std.double()
    shift = wan_mean - scale * mean.double()
    quant = vae.quant_conv
    weight, bias = quant.weight.double(), quant.bias.double()
    weight[:z_dim] *= scale.view(-1, 1, 1, 1, 1)
    bias[:z_dim] = scale * bias[:z_dim] + shift
    bias[z_dim:] += 2 * torch.log(scale)
    quant.weight.copy_(weight.float())
    quant.bias.copy_(bias.float())
    post = vae.post_quant_conv
    weight, bias = post.weight.double(), post.bias.double()
    matrix = weight[:, :, 0, 0, 0]  # [out, in]
    bias = bias - matrix @ (shift / scale)
    weight = weight / scale.view(1, -1, 1, 1, 1)
    post.weight.copy_(weight.float())
    post.bias.copy_(bias.float())


# ----------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class ReconstructionClip:
    """A clip and where its background shows (no shape covers the pixel), [T, H, W] bool."""

    frames: torch.Tensor
    background: torch.Tensor


def evaluation_clips(count: int, config: WorldConfig | None = None, seed: int = 0) -> list[ReconstructionClip]:
    """Test-split-seeded scenes (at the model's size by default) with their background masks, half of them styled."""
    config = config or model_world()
    clips = []
    for index, scene_seed in enumerate(split_seeds("test", count, start=VAE_SEED_START + seed)):
        rng = np.random.default_rng(scene_seed)
        scene = sample_scene(rng, config, int(rng.integers(1, 4)))
        rendered = render_scene(scene, config, render_background(scene.background, config))
        frames = rendered.frames
        if index % 2:
            frames = quantize(apply_style(frames, STYLES[index // 2 % len(STYLES)]))
        clips.append(ReconstructionClip(frames, rendered.coverage.sum(0) == 0))
    return clips


def psnr(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor | None = None) -> float:
    error = (a.double() - b.double()).pow(2)
    mse = float(error[where].mean() if where is not None else error.mean())
    return 60.0 if mse == 0 else min(60.0, 10 * math.log10(1 / mse))


@torch.no_grad()
def reconstruct(vae, frames: torch.Tensor) -> torch.Tensor:
    """Encode (posterior mode) and decode frames [T, H, W, 3] in 0..1."""
    video = frames.permute(3, 0, 1, 2).unsqueeze(0) * 2 - 1
    decoded = vae.decode(vae.encode(video).latent_dist.mode()).sample
    return ((decoded[0].clamp(-1, 1) + 1) / 2).permute(1, 2, 3, 0)


def reconstruction_scores(vae, clips: list[ReconstructionClip]) -> dict[str, float]:
    """Mean PSNR (dB) over whole frames and over background pixels of the clips."""
    whole, background = [], []
    for clip in clips:
        decoded = reconstruct(vae, clip.frames)
        whole.append(psnr(decoded, clip.frames))
        background.append(psnr(decoded, clip.frames, clip.background.unsqueeze(-1).expand_as(clip.frames)))
    return {"psnr": float(np.mean(whole)), "background_psnr": float(np.mean(background))}
