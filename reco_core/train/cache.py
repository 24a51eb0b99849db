"""Latents and instruction embeddings, computed once per pair and kept on disk keyed by content.

A pair's cache entry holds the canvas latent x0 = encode([source | target]), the VACE control for
the plain and the first-frame mode, the latent edit mask of one half and the instruction
embeddings. The key hashes the files' bytes, the instruction, the training size and the encoders'
identity, so changing any of them makes a new entry and nothing stale is ever reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from safetensors.torch import load_file

from .. import layout
from ..fsutil import save_safetensors
from ..losses import difference_mask
from ..masks import pixel_to_latent_mask
from .config import DataConfig
from .data import PairPlan, load_clips

CACHE_VERSION = "1"


class Encoders(Protocol):
    """What the cache needs from the models: a video encoder, a text encoder and an identity."""

    identity: str

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [T, H, W, C] in 0..1 -> normalised latent [1, 16, F, h, w]."""

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Instructions -> embeddings [B, 512, D] (zero-padded)."""

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latent [1, 16, F, h, w] -> frames [T, H, W, C] in 0..1 (for sample edits)."""


@dataclass
class CachedPair:
    latent: torch.Tensor  # [16, F, h, 2w]
    control: torch.Tensor  # [96, F, h, 2w]
    control_first_frame: torch.Tensor  # [96, F, h, 2w]
    mask: torch.Tensor  # [1, F, h, w] latent edit mask of one half
    text: torch.Tensor  # [L, D], trailing zero rows removed
    is_style: bool
    name: str = ""


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for item in paths:
        digest.update(item.name.encode())
        with open(item, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
    return digest.hexdigest()


def cache_key(plan: PairPlan, config: DataConfig, encoders_identity: str) -> str:
    record = plan.record
    parts = {
        "version": CACHE_VERSION, "encoders": encoders_identity, "instruction": record.instruction,
        "task": record.task, "size": plan.bucket, "fps": config.fps, "resize": config.resize_mode,
        "mask_rule": [config.mask_threshold, config.mask_dilate, config.mask_window],
        "source": file_digest(record.source), "target": file_digest(record.target),
        "mask": file_digest(record.mask) if record.mask else None,
        "style": is_style(plan, config),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def is_style(plan: PairPlan, config: DataConfig) -> bool:
    return (plan.record.task or "") in config.style_tasks


def pixel_edit_mask(clips, plan: PairPlan, config: DataConfig) -> torch.Tensor:
    """The edit region of one half [T, H, W]: the mask video, else derived from the pixels; all ones for style."""
    if is_style(plan, config):
        return torch.ones(clips.source.shape[:3])
    if clips.mask is not None:
        return clips.mask
    return difference_mask(clips.source, clips.target, config.mask_threshold, config.mask_dilate, config.mask_window)


def _trim_text(embeddings: torch.Tensor) -> torch.Tensor:
    used = embeddings.abs().sum(-1) > 0
    length = int(used.nonzero().max()) + 1 if used.any() else 1
    return embeddings[:length]


def encode_pair(plan: PairPlan, config: DataConfig, encoders: Encoders, grey_latents: dict | None = None) -> CachedPair:
    """Encode one pair for training (the heavy part: three VAE passes of the canvas and the text).

    `grey_latents` memoises the plain-grey reactive video across pairs (see `layout.encode_vace_context`).
    """
    clips = load_clips(plan, config)
    latent = encoders.encode_video(layout.build_canvas(clips.source, clips.target))[0]
    plain = layout.encode_vace_context(layout.vace_context(clips.source), encoders.encode_video, grey_latents)
    first = layout.vace_context(clips.source, first_frame=clips.target[0])
    inactive_first = encoders.encode_video(first.inactive_reactive()[0])
    first_control = layout.VaceLatents(inactive_first, plain.reactive, first.mask_channels().unsqueeze(0)).control()
    mask = pixel_to_latent_mask(pixel_edit_mask(clips, plan, config)).unsqueeze(0)
    text = _trim_text(encoders.encode_text([plan.record.instruction])[0])
    return CachedPair(latent.float(), plain.control()[0].float(), first_control[0].float(), mask.float(),
                      text.float(), is_style(plan, config), plan.record.name)


def save_cached(pair: CachedPair, path: Path) -> None:
    tensors = {"latent": pair.latent, "control": pair.control, "control_first_frame": pair.control_first_frame,
               "mask": pair.mask, "text": pair.text}
    save_safetensors(tensors, path, metadata={"is_style": str(pair.is_style), "name": pair.name})


def load_cached(path: Path) -> CachedPair:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    tensors = load_file(str(path))
    return CachedPair(tensors["latent"], tensors["control"], tensors["control_first_frame"], tensors["mask"],
                      tensors["text"], metadata.get("is_style") == "True", metadata.get("name", ""))


def build_cache(plans: list[PairPlan], config: DataConfig, encoders: Encoders, cache_dir: Path,
                progress: Callable[[int, int], None] | None = None,
                cancel: Callable[[], bool] | None = None) -> list[Path]:
    """Make sure every pair is cached; returns the cache file of each plan, in order."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths, grey_latents = [], {}
    for index, plan in enumerate(plans):
        if cancel is not None and cancel():
            from ..errors import CancelledError

            raise CancelledError("cancelled while caching latents")
        path = cache_dir / f"{cache_key(plan, config, encoders.identity)}.safetensors"
        if not path.is_file():
            save_cached(encode_pair(plan, config, encoders, grey_latents), path)
        paths.append(path)
        if progress is not None:
            progress(index + 1, len(plans))
    return paths
