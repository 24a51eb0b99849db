"""ReCoInContext: the [source | target] canvas, its VACE context and the LATENT to sample."""

from __future__ import annotations

import node_helpers
import torch
from comfy_api.latest import io

from ..reco_core import checks, layout
from ..reco_core.frames import RESIZE_MODES, fit_length, resize_frames
from .common import CATEGORY, MAX_RESOLUTION, advanced, first_image


def prepare_source(source: torch.Tensor, width: int, height: int, length: int, resize_mode: str) -> torch.Tensor:
    """Check the settings against the source, then fit it to the per-half size and `length` frames."""
    checks.check_half_size(width, height)
    checks.check_length(length)
    checks.check_source_frames(source.shape[0], length)
    return resize_frames(fit_length(source[..., :3], length), width, height, resize_mode)


SOURCE_KEY = "reco_source"  # the raw source latent, for ReCo Sampler's background lock (core samplers keep it)


def canvas_latent(source_latent: torch.Tensor, keep_source: bool) -> dict:
    """The LATENT to sample: zeros for the whole canvas, or, with keep_source, the source half held by a
    noise_mask (core samplers re-noise it to every step's sigma and restore it at the end)."""
    canvas = layout.join_latent(torch.zeros_like(source_latent), torch.zeros_like(source_latent))
    if not keep_source:
        return {"samples": canvas, SOURCE_KEY: source_latent}
    samples = layout.join_latent(source_latent, torch.zeros_like(source_latent))
    noise_mask = layout.half_mask((1, 1, *canvas.shape[2:]), "target")
    return {"samples": samples, "noise_mask": noise_mask, SOURCE_KEY: source_latent}


class ReCoInContext(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoInContext",
            display_name="ReCo In-Context Edit",
            category=CATEGORY,
            description="Lays the source beside a blank target ([source | target], twice as wide), gives the model "
                        "the VACE context [source | grey] with mask [0 | 1], and returns the conditioning and "
                        "the canvas LATENT for any sampler. Decode the result with ReCo Decode.",
            inputs=[
                io.Conditioning.Input("positive", tooltip="The edit instruction, e.g. \"remove the dog\" (CLIP Text Encode with the umt5 encoder)."),
                io.Conditioning.Input("negative", tooltip="The negative prompt (Wan's standard one works well)."),
                io.Vae.Input("vae", tooltip="The Wan2.1 VAE."),
                io.Image.Input("source", tooltip="The clip to edit (frames from Load Video / Get Video Components)."),
                io.Int.Input("width", default=832, min=16, max=MAX_RESOLUTION, step=16,
                             tooltip="Width of each half (the canvas is twice as wide). Multiple of 16."),
                io.Int.Input("height", default=480, min=16, max=MAX_RESOLUTION, step=16,
                             tooltip="Height of the clip. Multiple of 16."),
                io.Int.Input("length", default=81, min=1, max=MAX_RESOLUTION, step=4,
                             tooltip="Frames to edit, of the form 4n+1 (81 = 5 s at 16 fps). The source must have at least this many."),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="VACE strength: how strongly the source context steers the model."),
                io.Boolean.Input("keep_source", default=False,
                                 tooltip="Hold the source half at the (re-noised) source at every step instead of "
                                         "denoising it too. Off reproduces the paper; on can keep the edit closer "
                                         "to the source."),
                io.Image.Input("first_frame", optional=True,
                               tooltip="Optional: your own edit of the first frame; ReCo propagates it through the clip."),
                advanced(io.Combo.Input("resize_mode", options=list(RESIZE_MODES), default="crop", optional=True,
                                        tooltip="How a source of another size is fitted: crop the centre, pad with "
                                                "grey, or stretch.")),
            ],
            outputs=[
                io.Conditioning.Output(display_name="positive"),
                io.Conditioning.Output(display_name="negative"),
                io.Latent.Output(display_name="latent", tooltip="The canvas to sample, 2x width wide."),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, vae, source, width, height, length, strength, keep_source,
                first_frame=None, resize_mode="crop") -> io.NodeOutput:
        source = prepare_source(source, width, height, length, resize_mode)
        edited_first = first_image(first_frame)
        if edited_first is not None:
            edited_first = resize_frames(edited_first.unsqueeze(0), width, height, resize_mode)[0]
        context = layout.vace_context(source, first_frame=edited_first)
        latents = layout.encode_vace_context(context, vae.encode)
        vace_frames = torch.cat([latents.inactive, latents.reactive], dim=1)
        values = {"vace_frames": [vace_frames], "vace_mask": [latents.mask], "vace_strength": [strength]}
        positive = node_helpers.conditioning_set_values(positive, values, append=True)
        negative = node_helpers.conditioning_set_values(negative, values, append=True)
        return io.NodeOutput(positive, negative, canvas_latent(latents.source_latent, keep_source))
