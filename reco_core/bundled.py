"""What ships inside the package, resolved in one place above the engine, the trainer and the model loaders.

Today that is the ReCo-Shapes miniature: `--model shapes` (all three parts, no paths), its own edit settings,
and, for training, its base model and generated pairs (`BUNDLE`, handed to `train.Trainer`). Nothing below
this module knows the name "shapes" as more than a word in a config.
"""

from __future__ import annotations

import torch

from .models.bundle import check_components as check_model_files
from .models.bundle import load_components as load_model_files
from .shapes.source import ShapesSource

SHAPES = "shapes"
BUNDLE = ShapesSource()


def check_components(transformer: str, vae: str, text_encoder: str | None) -> None:
    """The model files exist (nothing to check for the bundled miniature)."""
    if transformer != SHAPES:
        check_model_files(transformer, vae, text_encoder)


def edit_defaults(transformer: str) -> dict:
    """The edit settings a model has of its own (EditOptions fields): the miniature's for "shapes" (its size,
    length, sampler and guidance), none for a real Wan model (EditOptions' defaults are the authors')."""
    if transformer == SHAPES:
        from .shapes.model import SHAPES_EDIT_DEFAULTS

        return dict(SHAPES_EDIT_DEFAULTS)
    return {}


def load_components(transformer: str, vae: str, text_encoder: str | None, *, dtype: torch.dtype = torch.bfloat16,
                    device: str = "cpu", bundled_lora: bool = True):
    """(transformer, vae, text encoder or None), loaded offline: the miniature for "shapes" (with its own ReCo
    LoRA unless `bundled_lora` is False, to apply another instead), else the files given."""
    if transformer == SHAPES:
        from .shapes.model import load_shapes_model

        if not bundled_lora:
            return BUNDLE.base_models(dtype, device)
        return load_shapes_model(dtype=dtype, device=device)
    return load_model_files(transformer, vae, text_encoder, dtype=dtype, device=device)


def trainer(config, out_dir, **kwargs):
    """A `train.Trainer` that can train on the bundled miniature and its generated pairs."""
    from .train import Trainer

    return Trainer(config, out_dir, bundle=BUNDLE, **kwargs)
