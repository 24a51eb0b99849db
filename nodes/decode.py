"""ReCoDecode: the edited target half of a sampled canvas, and a before/after comparison."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..reco_core import layout
from ..reco_core.errors import ReCoInputError
from ..reco_core.frames import fit_length, resize_frames
from . import previews
from .common import CATEGORY, decode_frames


def split_canvas_latent(samples: dict) -> tuple[torch.Tensor, torch.Tensor]:
    latent = samples["samples"]
    if latent.ndim != 5 or latent.shape[-1] % 2:
        raise ReCoInputError("samples", f"is not a ReCo canvas latent (shape {tuple(latent.shape)})",
                             "Connect the LATENT that a sampler made from ReCo In-Context Edit's latent.")
    return layout.split_latent(latent)


def comparison(source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """Before/after frames [T, H, 2W, 3]: the source fitted to the edit's size and length, then the edit."""
    frames, height, width = edited.shape[:3]
    source = resize_frames(fit_length(source[..., :3], frames), width, height, "crop")
    return layout.build_canvas(source.to(edited), edited)


class ReCoDecode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoDecode",
            display_name="ReCo Decode",
            category=CATEGORY,
            description="Decodes only the target (right) half of a sampled ReCo canvas: the edited clip. Also "
                        "returns a before/after comparison, source on the left, edit on the right.",
            inputs=[
                io.Vae.Input("vae", tooltip="The Wan2.1 VAE."),
                io.Latent.Input("samples", tooltip="The sampled canvas LATENT (from KSampler or ReCo Sampler)."),
                io.Image.Input("source", optional=True,
                               tooltip="Optional: the original clip, for the comparison. Without it the model's "
                                       "source half is decoded instead."),
            ],
            outputs=[
                io.Image.Output(display_name="edited", tooltip="The edited clip, one half wide."),
                io.Image.Output(display_name="comparison", tooltip="Before | after, side by side."),
            ],
        )

    @classmethod
    def execute(cls, vae, samples, source=None) -> io.NodeOutput:
        source_latent, target_latent = split_canvas_latent(samples)
        edited = decode_frames(vae, target_latent)
        before = decode_frames(vae, source_latent) if source is None else source
        return previews.with_compare_ui(io.NodeOutput(edited, comparison(before, edited)))
