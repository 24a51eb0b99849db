"""Teaching the ReCo-Shapes base to edit, before its ReCo LoRA: flow matching on ReCo canvases.

A large pretrained video model comes to ReCo able to copy a clip across the seam and to follow words;
its ReCo LoRA then only has to turn that into editing. A transformer of three million weights trained
from nothing on a CPU has neither, and a LoRA alone never got it there (the instruction did not steer
the previous build at all). So the base itself is trained on the same [source | target] canvases the
LoRA sees (the trainer's latent cache, read as it is), with the whole transformer trainable:

- edits: x0 = encode([source | target]), VACE context [source | grey] with mask [0 | 1], the instruction;
- copies (`identity_share`): x0 = [source | source] with no words, so that the unconditional branch of
  classifier-free guidance means "change nothing" and guidance pushes only along the edit;
- first-frame mode (`first_frame_share`): the edited first frame shown in the context, as ReCo trains it.

The loss is ReCo's flow-matching loss plus its masked term (the edit region counted once more).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from reco_core.engine.schedule import shift_sigmas
from reco_core.layout import build_canvas, join_latent, split_latent, vace_context
from reco_core.masks import pixel_to_latent_mask
from reco_core.train.cache import load_cached
from reco_core.train.schedule import warmup_cosine
from .compact_text import CompactText, compact_cross_attention, compact_text_from_rows
from reco_core.shapes.tasks import TASKS, make_pair


@dataclass
class EditPretrainConfig:
    steps: int = 3000
    batch_size: int = 8
    learning_rate: float = 1.5e-3
    final_learning_rate: float = 5e-5
    warmup: int = 100
    weight_decay: float = 0.01
    identity_share: float = 0.15
    first_frame_share: float = 0.1
    masked_weight: float = 1.0
    shift: float = 3.0
    seed: int = 0


@dataclass
class EditPool:
    """Cached edit pairs stacked in memory: latents [N, 16, F, h, 2w], controls [N, 96, F, h, 2w] (plain and
    first-frame), half masks [N, 1, F, h, w] and each instruction's embedding rows."""

    latents: torch.Tensor
    controls: torch.Tensor
    first_frame_controls: torch.Tensor
    masks: torch.Tensor
    texts: list[torch.Tensor]
    empty_text: torch.Tensor  # the rows of "" (the unconditional prompt)


def encode_edit_pool(vae, text_encoder, seeds: list[int], world, tasks: tuple[str, ...] = TASKS,
                     encode_batch: int = 16, progress: Callable[[int, int], None] | None = None) -> EditPool:
    """Render, encode and embed the edit pairs of `seeds` (tasks in turn) in memory: the cheap way to many
    single-frame pairs. Clips for the LoRA go through the trainer's cache instead (`load_edit_pool`)."""
    from reco_core.engine.codec import encode_frames
    from .text_encoder import trimmed_embeddings

    latents, controls, masks, instructions = [], [], [], []
    grey = None
    for first in range(0, len(seeds), encode_batch):
        pairs = [make_pair(seed, tasks[(first + i) % len(tasks)], world)
                 for i, seed in enumerate(seeds[first : first + encode_batch])]
        canvases = [build_canvas(p.source, p.target) for p in pairs]
        contexts = [vace_context(p.source).inactive_reactive()[0] for p in pairs]
        encoded = encode_frames(vae, torch.stack(canvases + contexts))
        if grey is None:
            grey = encode_frames(vae, vace_context(pairs[0].source).inactive_reactive()[1])[0]
        latents.append(encoded[: len(pairs)])
        for pair, inactive in zip(pairs, encoded[len(pairs) :]):
            mask = vace_context(pair.source).mask_channels()
            controls.append(torch.cat([inactive, grey, mask.to(inactive)]))
            masks.append(pixel_to_latent_mask(pair.mask).unsqueeze(0))
            instructions.append(pair.instruction)
        if progress is not None:
            progress(min(first + encode_batch, len(seeds)), len(seeds))
    texts = trimmed_embeddings(text_encoder, instructions + [""])
    controls = torch.stack(controls)
    return EditPool(torch.cat(latents), controls, controls, torch.stack(masks), texts[:-1], texts[-1])


def load_edit_pool(cache_paths: list[Path], empty_text: torch.Tensor) -> EditPool:
    pairs = [load_cached(path) for path in cache_paths]
    return EditPool(torch.stack([p.latent for p in pairs]), torch.stack([p.control for p in pairs]),
                    torch.stack([p.control_first_frame for p in pairs]), torch.stack([p.mask for p in pairs]),
                    [p.text for p in pairs], empty_text)


@dataclass
class EditBatch:
    latent: torch.Tensor
    control: torch.Tensor
    mask: torch.Tensor  # [B, 1, F, h, w]: the edit region of one half (zero for copies)
    text: CompactText


def sample_edit_batch(pool: EditPool, config: EditPretrainConfig, generator: torch.Generator) -> EditBatch:
    """1. pairs; 2. some become copies of their source (no words, no edit region); 3. some show the edited first frame."""
    index = torch.randint(pool.latents.shape[0], (config.batch_size,), generator=generator)
    copy = torch.rand(config.batch_size, generator=generator) < config.identity_share
    first = (torch.rand(config.batch_size, generator=generator) < config.first_frame_share) & ~copy
    latent = pool.latents[index]
    source, _ = split_latent(latent)
    latent = torch.where(copy.view(-1, 1, 1, 1, 1), join_latent(source, source), latent)
    control = torch.where(first.view(-1, 1, 1, 1, 1), pool.first_frame_controls[index], pool.controls[index])
    mask = pool.masks[index] * (~copy).float().view(-1, 1, 1, 1, 1)
    rows = [pool.empty_text if is_copy else pool.texts[i] for i, is_copy in zip(index.tolist(), copy.tolist())]
    return EditBatch(latent, control, mask, compact_text_from_rows(rows))


def edit_flow_loss(transformer, batch: EditBatch, config: EditPretrainConfig, generator: torch.Generator,
                   cross_attention: dict) -> torch.Tensor:
    """ReCo's L_fm + masked_weight * L_M at shifted uniform noise levels (see reco_core.losses)."""
    x0 = batch.latent
    noise = torch.randn(x0.shape, generator=generator)
    sigma = shift_sigmas(torch.rand(x0.shape[0], generator=generator).clamp(1e-3, 1.0), config.shift)
    view = sigma.view(-1, 1, 1, 1, 1)
    x_t = (1 - view) * x0 + view * noise
    cross_attention["bias"] = batch.text.bias
    velocity = transformer(hidden_states=x_t, timestep=sigma * 1000, encoder_hidden_states=batch.text.text,
                           control_hidden_states=batch.control, return_dict=False)[0].float()
    target = noise - x0
    loss = F.mse_loss(velocity, target)
    if config.masked_weight:
        region = join_latent(batch.mask, batch.mask)
        loss = loss + config.masked_weight * F.mse_loss(velocity * region, target * region)
    return loss


def edit_pretrain(transformer, pool: EditPool, config: EditPretrainConfig,
                  progress: Callable[[int, int, dict], None] | None = None,
                  cancel: Callable[[], bool] | None = None) -> list[dict]:
    """Train the whole transformer in place for `config.steps` AdamW steps; returns the per-step log."""
    from reco_core.errors import CancelledError

    generator = torch.Generator().manual_seed(config.seed)
    transformer.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(transformer.parameters(), lr=config.learning_rate, betas=(0.9, 0.99),
                                  weight_decay=config.weight_decay)
    log = []
    with compact_cross_attention(transformer) as cross_attention:
        for step in range(config.steps):
            if cancel is not None and cancel():
                raise CancelledError(f"edit pretraining cancelled at step {step}")
            started = time.time()
            for group in optimizer.param_groups:
                group["lr"] = warmup_cosine(step, config.steps, config.warmup, config.learning_rate,
                                            config.final_learning_rate)
            loss = edit_flow_loss(transformer, sample_edit_batch(pool, config, generator), config, generator,
                                  cross_attention)
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
