"""Pretraining the ReCo-Shapes base: a tiny Wan2.1-VACE transformer learns shapes clips by flow matching.

The base gets the two priors a real Wan2.1-VACE brings to ReCo, at the per-half size:

- text-to-video: a scene caption ("a red circle and a blue square on a slate background, at night"),
  an all-grey VACE context and a mask of ones;
- VACE masked generation: the clip with grey holes as context (mask 1 in the holes) and its
  caption. Holes are random boxes, one shape's own footprint, or a whole half of a double-width
  scene (outpainting, the layout ReCo uses);
- in-context generation: a clip beside itself with the right half as the hole. A large video model
  comes to ReCo able to look across the seam at the same place; this tiny one does not (its ReCo
  LoRA then never learnt to copy the source, and every edit looked alike), so it is taught here,
  and again in a second phase (`in_context_pool`, `in_context_pretraining`) of such canvases only,
  half of them uncaptioned. The captions describe scenes, never edits: what to change for an
  instruction is left to the LoRA.

Clips are 64x64 scenes and 64x128 double-width canvases, 17 frames, a quarter of them styled. They are
encoded once into a pool (`build_pool`); `pretrain` then samples noise levels and modes from it. The
loss is the flow-matching MSE over the whole latent, so the base also learns to reproduce what the
context keeps.

Captions and the text encoder live in `text_encoder.py`, the compact-text cross-attention that speeds
up training in `compact_text.py`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..layout import GREY, build_canvas, vace_mask_channels
from ..models.text import TextEncoder
from ..models.tiny import seeded
from ..train.schedule import warmup_cosine
from .compact_text import CompactText, compact_cross_attention, compact_text_from_rows
from .tasks import STYLES, apply_style, split_seeds
from .text_encoder import scene_caption, trimmed_embeddings
from .world import MAX_SHAPES, WorldConfig, quantize, render_scene, sample_scene

# ----------------------------------------------------------------------------------------------
# The transformer

#: dim 128 (one head of 128, as ComfyUI reads heads = dim // 128), Wan's text width and time-embedding
#: width, 6 blocks with 3 VACE blocks at 0, 2, 4 (evenly spaced from 0, as ComfyUI places them).
TRANSFORMER_CONFIG: dict = {
    "patch_size": [1, 2, 2],
    "num_attention_heads": 1,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 512,
    "num_layers": 6,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
    "vace_layers": [0, 2, 4],
    "vace_in_channels": 96,
}


def build_transformer(seed: int = 0, **overrides):
    """A seeded WanVACETransformer3DModel of the miniature's size. VACE hints start at zero (as in VACE),
    so the untrained branch leaves the base model alone."""
    from diffusers import WanVACETransformer3DModel

    with seeded(seed):
        model = WanVACETransformer3DModel(**{**TRANSFORMER_CONFIG, **overrides})
    with torch.no_grad():
        for block in model.vace_blocks:
            block.proj_out.weight.zero_()
            block.proj_out.bias.zero_()
    return model


# ----------------------------------------------------------------------------------------------
# The pool of encoded clips


#: Hole kinds and their odds, per canvas (single clip or double-width scene).
SINGLE_HOLES = {"box": 0.5, "shape": 0.5}
#: "beside_itself" is a clip beside itself, right half holed: the in-context prior (look across the seam
#: at the same place) that a large pretrained video model brings to ReCo and this tiny one must be taught.
DOUBLE_HOLES = {"beside_itself": 0.6, "right_half": 0.2, "left_half": 0.04, "box": 0.08, "shape": 0.08}
IN_CONTEXT_HOLES = {"beside_itself": 1.0}


@dataclass
class PoolConfig:
    single: int = 80  # 64x64 clips
    double: int = 240  # 64x128 double-width canvases
    frames: int = 17
    height: int = 64
    width: int = 64
    style_share: float = 0.25
    encode_batch: int = 8
    seed: int = 0
    double_holes: dict = field(default_factory=lambda: dict(DOUBLE_HOLES))


def in_context_pool() -> PoolConfig:
    """The second pretraining phase's pool: clips beside themselves only, from their own seeds."""
    return PoolConfig(single=8, double=160, seed=7, double_holes=dict(IN_CONTEXT_HOLES))


#: Train-split seeds reserved for pretraining scenes (single clips, then double-width scenes).
PRETRAIN_SEED_START = 20_000_000
DOUBLE_SEED_OFFSET = 1_000_000


@dataclass
class PoolGroup:
    """Encoded clips of one canvas size: latents [N, 16, F, h, w], VACE controls [N, 96, F, h, w]."""

    latents: torch.Tensor
    controls: torch.Tensor
    captions: list[int]
    text_to_video_control: torch.Tensor  # [96, F, h, w]: all grey, mask all ones


@dataclass
class Pool:
    groups: dict[int, PoolGroup]  # by canvas width in pixels
    captions: list[str]
    embeddings: list[torch.Tensor] = field(default_factory=list)


@dataclass
class RawClip:
    frames: torch.Tensor  # [T, H, W, 3]
    hole: torch.Tensor  # [T, H, W], 1 where the context is grey
    caption: str


def _pick(rng: np.random.Generator, odds: dict[str, float]) -> str:
    names = list(odds)
    return names[int(rng.choice(len(names), p=np.asarray(list(odds.values())) / sum(odds.values())))]


def _box(rng: np.random.Generator, frames: int, height: int, width: int) -> torch.Tensor:
    hole = torch.zeros(frames, height, width)
    h, w = int(rng.integers(16, height - 7)), int(rng.integers(16, min(width, 2 * height) - 7))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    hole[:, top : top + h, left : left + w] = 1
    return hole


def _shape_footprint(coverage: torch.Tensor, rng: np.random.Generator, grow: int = 3) -> torch.Tensor | None:
    """One shape's footprint over the clip, grown by `grow` pixels; None without shapes."""
    if coverage.shape[0] == 0:
        return None
    footprint = (coverage[int(rng.integers(coverage.shape[0]))] > 0).float()
    return F.max_pool2d(footprint.unsqueeze(1), 2 * grow + 1, stride=1, padding=grow).squeeze(1)


def make_hole(kind: str, rng: np.random.Generator, coverage: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    frames, height, width = shape
    hole = torch.zeros(shape)
    if kind == "right_half":
        hole[..., width // 2 :] = 1
    elif kind == "left_half":
        hole[..., : width // 2] = 1
    elif kind == "shape":
        footprint = _shape_footprint(coverage, rng)
        hole = footprint if footprint is not None else _box(rng, frames, height, width)
    else:
        hole = _box(rng, frames, height, width)
    return hole


def random_clip(rng: np.random.Generator, config: PoolConfig, double: bool) -> RawClip:
    """A scene, its hole and its caption. A double-width canvas is one wide scene, or (kind "beside_itself")
    a clip beside itself with the right half as the hole."""
    kind = _pick(rng, config.double_holes if double else SINGLE_HOLES)
    beside_itself = kind == "beside_itself"
    wide = double and not beside_itself
    world = WorldConfig(width=config.width * (2 if wide else 1), height=config.height, num_frames=config.frames)
    scene = sample_scene(rng, world, int(rng.integers(0, MAX_SHAPES + 1)))
    rendered = render_scene(scene, world)
    style = STYLES[int(rng.integers(len(STYLES)))] if rng.random() < config.style_share else None
    frames = quantize(apply_style(rendered.frames, style)) if style else rendered.frames
    if beside_itself:
        frames = build_canvas(frames, frames)
        kind = "right_half"
    hole = make_hole(kind, rng, rendered.coverage, tuple(frames.shape[:3]))
    return RawClip(frames, hole, scene_caption(scene, style))


def _encode_batch(vae, frames: list[torch.Tensor]) -> torch.Tensor:
    """Normalised latents of a batch of same-size clips [T, H, W, 3] -> [B, 16, F, h, w]."""
    from ..engine.codec import encode_frames

    return encode_frames(vae, torch.stack(frames))


def _control(inactive: torch.Tensor, reactive: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    return torch.cat([inactive, reactive, vace_mask_channels(hole)], dim=0)


def build_group(vae, config: PoolConfig, double: bool, captions: dict[str, int],
                progress: Callable[[int, int], None] | None = None) -> PoolGroup:
    """Render, hole and encode the clips of one canvas size (clip and context, in batches)."""
    count = config.double if double else config.single
    start = PRETRAIN_SEED_START + (DOUBLE_SEED_OFFSET if double else 0) + config.seed * 2 * DOUBLE_SEED_OFFSET
    seeds = split_seeds("train", count, start=start)
    width = config.width * (2 if double else 1)
    grey = torch.full((config.frames, config.height, width, 3), GREY)
    grey_latent = _encode_batch(vae, [grey])[0]
    latents, controls, caption_ids = [], [], []
    for first in range(0, count, config.encode_batch):
        clips = [random_clip(np.random.default_rng(seed), config, double)
                 for seed in seeds[first : first + config.encode_batch]]
        contexts = [clip.frames * (1 - clip.hole[..., None]) + GREY * clip.hole[..., None] for clip in clips]
        encoded = _encode_batch(vae, [clip.frames for clip in clips] + contexts)
        latents.append(encoded[: len(clips)])
        for clip, inactive in zip(clips, encoded[len(clips) :]):
            controls.append(_control(inactive, grey_latent, clip.hole))
            caption_ids.append(captions.setdefault(clip.caption, len(captions)))
        if progress is not None:
            progress(min(first + config.encode_batch, count), count)
    everything = torch.ones(config.frames, config.height, width)
    return PoolGroup(torch.cat(latents), torch.stack(controls), caption_ids,
                     _control(grey_latent, grey_latent, everything))


def build_pool(vae, text_encoder: TextEncoder, config: PoolConfig,
               progress: Callable[[str, int, int], None] | None = None) -> Pool:
    """Encode the pretraining clips of both sizes and their captions."""
    captions: dict[str, int] = {"": 0}
    groups = {}
    for double in (False, True):
        width = config.width * (2 if double else 1)
        report = (lambda done, total, w=width: progress(f"{w}px", done, total)) if progress else None
        groups[width] = build_group(vae, config, double, captions, report)
    texts = list(captions)
    return Pool(groups, texts, trimmed_embeddings(text_encoder, texts))


# ----------------------------------------------------------------------------------------------
# Flow-matching pretraining


@dataclass
class PretrainConfig:
    steps: int = 1500
    batch_size: int = 8
    learning_rate: float = 2e-3
    final_learning_rate: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.01
    text_to_video_share: float = 0.2
    caption_dropout: float = 0.1
    double_share: float = 0.75
    shift: float = 3.0
    seed: int = 0


def in_context_pretraining() -> PretrainConfig:
    """The second phase: mostly clips beside themselves, half of them uncaptioned. With the scene named in
    the caption the first phase's base half copies and half draws from the words: the background came
    across the seam, the shapes did not (x0 error on the holed half at sigma 0.8: 0.17, against 0.03 on
    the kept half). Without words to lean on, it learns to copy (0.02)."""
    return PretrainConfig(steps=1500, learning_rate=1e-3, final_learning_rate=1e-4, warmup=50,
                          text_to_video_share=0.05, caption_dropout=0.5, double_share=0.95)


def learning_rate_at(step: int, config: PretrainConfig) -> float:
    return warmup_cosine(step, config.steps, config.warmup, config.learning_rate, config.final_learning_rate)


@dataclass
class PretrainBatch:
    latent: torch.Tensor
    control: torch.Tensor
    text: CompactText


def sample_batch(pool: Pool, config: PretrainConfig, generator: torch.Generator) -> PretrainBatch:
    """1. a canvas size; 2. clips; 3. text-to-video or masked context per clip; 4. captions (some dropped)."""
    widths = sorted(pool.groups)
    double = torch.rand(1, generator=generator).item() < config.double_share
    group = pool.groups[widths[-1] if double else widths[0]]
    index = torch.randint(len(group.captions), (config.batch_size,), generator=generator)
    text_to_video = torch.rand(config.batch_size, generator=generator) < config.text_to_video_share
    control = torch.where(text_to_video.view(-1, 1, 1, 1, 1), group.text_to_video_control.unsqueeze(0),
                          group.controls[index])
    dropped = torch.rand(config.batch_size, generator=generator) < config.caption_dropout
    caption_ids = [0 if drop else group.captions[i] for i, drop in zip(index.tolist(), dropped.tolist())]
    return PretrainBatch(group.latents[index], control, compact_text_from_rows([pool.embeddings[i] for i in caption_ids]))


def flow_matching_step(transformer, batch: PretrainBatch, shift: float, generator: torch.Generator,
                       cross_attention: dict) -> torch.Tensor:
    """MSE between the predicted and the true velocity (noise - x0) at shifted uniform noise levels."""
    from ..engine.schedule import shift_sigmas

    x0 = batch.latent
    noise = torch.randn(x0.shape, generator=generator)
    sigma = shift_sigmas(torch.rand(x0.shape[0], generator=generator).clamp(1e-3, 1.0), shift)
    view = sigma.view(-1, 1, 1, 1, 1)
    x_t = (1 - view) * x0 + view * noise
    cross_attention["bias"] = batch.text.bias
    velocity = transformer(hidden_states=x_t, timestep=sigma * 1000, encoder_hidden_states=batch.text.text,
                           control_hidden_states=batch.control, return_dict=False)[0]
    return F.mse_loss(velocity.float(), noise - x0)


def pretrain(transformer, pool: Pool, config: PretrainConfig,
             progress: Callable[[int, int, dict], None] | None = None) -> list[dict]:
    """Train the whole transformer in place for `config.steps` AdamW steps; returns the per-step log."""
    generator = torch.Generator().manual_seed(config.seed)
    transformer.train()
    optimizer = torch.optim.AdamW(transformer.parameters(), lr=config.learning_rate, betas=(0.9, 0.99),
                                  weight_decay=config.weight_decay)
    log = []
    with compact_cross_attention(transformer) as cross_attention:
        for step in range(config.steps):
            started = time.time()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, config)
            batch = sample_batch(pool, config, generator)
            loss = flow_matching_step(transformer, batch, config.shift, generator, cross_attention)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(transformer.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            row = {"step": step + 1, "loss": float(loss.detach()), "seconds": time.time() - started}
            log.append(row)
            if progress is not None:
                progress(step + 1, config.steps, row)
    transformer.eval()
    return log
