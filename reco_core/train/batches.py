"""Batches for the trainer: size buckets, a seeded order per epoch, and per-micro-step randomness.

Everything random is derived from (seed, step, rank), so a resumed run draws exactly what an
uninterrupted one would have drawn.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from ..models.text import pad_embeddings
from .cache import CachedPair
from .data import PairPlan


@dataclass
class Batch:
    latent: torch.Tensor  # [B, 16, F, h, 2w]
    control: torch.Tensor  # [B, 96, F, h, 2w]
    mask: torch.Tensor  # [B, 1, F, h, w]
    text: torch.Tensor  # [B, 512, D]
    is_style: list[bool]


def micro_step_generator(seed: int, micro_step: int, rank: int) -> torch.Generator:
    digest = hashlib.sha256(f"{seed}:{micro_step}:{rank}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def bucket_batches(plans: list[PairPlan], batch_size: int) -> list[list[int]]:
    """Pair indices grouped by size bucket, in batches of `batch_size` (one epoch, unshuffled)."""
    buckets: dict[tuple, list[int]] = {}
    for index, plan in enumerate(plans):
        buckets.setdefault(plan.bucket, []).append(index)
    return [members[i : i + batch_size] for members in buckets.values() for i in range(0, len(members), batch_size)]


def batch_at(batches: list[list[int]], global_batch: int, seed: int) -> list[int]:
    """The `global_batch`-th batch of the run: epochs visit `batches` in an order seeded by (seed + epoch)."""
    epoch, position = divmod(global_batch, len(batches))
    order = torch.randperm(len(batches), generator=torch.Generator().manual_seed(seed + epoch))
    return batches[int(order[position])]


def collate(pairs: list[CachedPair], generator: torch.Generator, first_frame_probability: float, device) -> Batch:
    """Cached pairs as one batch; each pair uses its first-frame control with `first_frame_probability`."""
    first_frame = torch.rand(len(pairs), generator=generator) < first_frame_probability
    controls = [p.control_first_frame if first else p.control for p, first in zip(pairs, first_frame.tolist())]
    text = torch.cat([pad_embeddings(p.text.unsqueeze(0)) for p in pairs])
    return Batch(torch.stack([p.latent for p in pairs]).to(device), torch.stack(controls).to(device),
                 torch.stack([p.mask for p in pairs]).to(device), text.to(device), [p.is_style for p in pairs])
