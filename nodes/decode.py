"""ReCoDecode: the edited target half of a sampled canvas, and a before/after comparison."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..reco_core import layout
from ..reco_core.engine.options import DECODE_MODES
from ..reco_core.errors import ReCoInputError
from ..reco_core.frames import fit_length, resize_frames
from . import previews
from .common import CATEGORY, advanced, check_image, decode_frames, video_latent
from .in_context import FRAMES_KEY, REFERENCE_KEY


def clip_latent(samples: dict) -> torch.Tensor:
    """The sampled canvas latent [1, 16, F, h, 2w] of the clip: without ReCo_ref's reference frame in front."""
    latent = video_latent(samples, "samples", "Connect the LATENT that a sampler made from ReCo In-Context Edit's "
                                              "latent.")
    if latent.shape[-1] % 2:
        raise ReCoInputError("samples", f"is not a ReCo canvas latent (shape {tuple(latent.shape)})",
                             "Connect the LATENT that a sampler made from ReCo In-Context Edit's latent.")
    return latent[:, :, int(samples.get(REFERENCE_KEY) or 0):]


def decode_halves(vae, latent: torch.Tensor, decode: str, need_source: bool) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(source half or None, target half) as frames. "canvas" decodes the whole canvas and crops (the authors'
    path: the decoder's convolutions and attention see across the seam); "target" decodes the target latent."""
    if decode == "canvas":
        return layout.split_canvas(decode_frames(vae, latent))
    source_latent, target_latent = layout.split_latent(latent)
    return (decode_frames(vae, source_latent) if need_source else None), decode_frames(vae, target_latent)


def comparison(source: torch.Tensor, edited: torch.Tensor) -> torch.Tensor:
    """Before/after frames [T, H, 2W, 3]: the source fitted to the edit's size and length, then the edit."""
    frames, height, width = edited.shape[:3]
    source = resize_frames(fit_length(source[..., :3], frames), width, height, "crop")
    return layout.build_canvas(source.to(edited), edited)


def trim_notes(samples: dict, decoded_frames: int, kept: int) -> list[str]:
    notes = []
    if samples.get(REFERENCE_KEY):
        notes.append("the reference frame in front of the clip (ReCo_ref) is dropped before decoding.")
    if kept < decoded_frames:
        notes.append(f"{decoded_frames - kept} padded frames trimmed: the edit has the source's {kept} frames.")
    return notes


class ReCoDecode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoDecode",
            display_name="ReCo Decode",
            category=CATEGORY,
            description="Decodes a sampled ReCo canvas and keeps the target (right) half: the edited clip, with "
                        "the frames that padded a short source trimmed and ReCo_ref's reference frame dropped. "
                        "Also returns a before/after comparison, source on the left, edit on the right.",
            inputs=[
                io.Vae.Input("vae", tooltip="The Wan2.1 VAE."),
                io.Latent.Input("samples", tooltip="The sampled canvas LATENT (from KSampler or ReCo Sampler)."),
                io.Image.Input("source", optional=True,
                               tooltip="Optional: the original clip, for the comparison. Without it the model's "
                                       "source half is decoded instead."),
                advanced(io.Combo.Input("decode", options=list(DECODE_MODES), default="canvas", optional=True,
                                        tooltip="canvas: decode the whole [source | target] canvas and crop the "
                                                "edit (the authors' path). target: decode only the target half, "
                                                "about half the decoding time, slightly different pixels near "
                                                "the seam.")),
            ],
            outputs=[
                io.Image.Output(display_name="edited", tooltip="The edited clip, one half wide."),
                io.Image.Output(display_name="comparison", tooltip="Before | after, side by side."),
            ],
        )

    @classmethod
    def execute(cls, vae, samples, source=None, decode="canvas") -> io.NodeOutput:
        if source is not None:
            check_image(source, "source", "the original clip")
        decoded_source, edited = decode_halves(vae, clip_latent(samples), decode, need_source=source is None)
        decoded = edited.shape[0]
        kept = min(decoded, int(samples.get(FRAMES_KEY) or decoded))
        edited = edited[:kept].contiguous()
        before = decoded_source[:kept] if source is None else source
        return previews.with_compare_ui(io.NodeOutput(edited, comparison(before, edited)),
                                        trim_notes(samples, decoded, kept))
