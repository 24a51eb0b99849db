"""What the miniature offers the trainer: its base model by name and generated pairs as a data source.

The trainer never imports this package; `reco_core.bundled` hands it a `ShapesSource` (see `train.Trainer`'s
`bundle`), so the arrows run from the top of the house down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch


class ShapesSource:
    """The ReCo-Shapes miniature as a training source: the base (without its ReCo LoRA) and generated pairs."""

    name = "shapes"

    def base_models(self, dtype: torch.dtype, device="cpu"):
        """(transformer, vae, text encoder) of the miniature's base: a LoRA is trained on it, not on the shipped one."""
        from .model import load_shapes_base

        return load_shapes_base(dtype=dtype, device=device)

    def export_pairs(self, folder: Path, count: int, width: int, height: int, frames: int, fps: float,
                     callback: Callable[[int, int], None] | None = None,
                     cancel: Callable[[], bool] | None = None) -> Path:
        """Render `count` training-split pairs into `folder`; returns their JSONL manifest."""
        from .dataset import export_dataset
        from .world import WorldConfig

        world = WorldConfig(width=width, height=height, num_frames=frames, fps=int(fps))
        return export_dataset(folder, "train", count, world, callback=callback, cancel=cancel)
