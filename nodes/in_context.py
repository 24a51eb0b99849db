"""ReCoInContext: the [source | target] canvas, its VACE context and the LATENT to sample."""

from __future__ import annotations

import logging

import comfy.latent_formats
import node_helpers
import torch
from comfy_api.latest import io

from ..reco_core import checks, layout, reference as ref
from ..reco_core.frames import RESIZE_MODES, fit_clip, fit_image
from ..reco_core.lengths import SHORT_CLIP_MODES, ClipPlan, plan_clip
from .common import CATEGORY, MAX_RESOLUTION, advanced, check_image, first_image
from .previews import NOTES_KEY

logger = logging.getLogger(__name__)

SOURCE_KEY = "reco_source"  # the raw source latent, for ReCo Sampler's background lock (core samplers keep it)
FRAMES_KEY = "reco_frames"  # the source's own frames: ReCo Decode trims the padded ones
REFERENCE_KEY = "reco_reference_frames"  # latent frames in front of the clip (ReCo_ref): ReCo Decode drops them
SOURCE_SIZE_KEY = "reco_source_size"  # (width, height) of the source as given: a region MASK must have it
RESIZE_KEY = "reco_resize_mode"  # how the source was fitted: a region MASK is fitted the same way


def prepare_source(source: torch.Tensor, width: int, height: int, length: int, resize_mode: str,
                   short_clip: str = "pad") -> tuple[torch.Tensor, ClipPlan]:
    """Check the settings against the source, then fit it to the per-half size and the model's length (a short
    clip padded with its last frame, or sampled shorter): (frames, plan)."""
    checks.check_half_size(width, height)
    plan = plan_clip(source.shape[0], length, short_clip)
    return fit_clip(source, plan.frames, plan.length, width, height, resize_mode), plan


def canvas_latent(source_latent: torch.Tensor, keep_source: bool, lead_frames: int = 0) -> dict:
    """The LATENT to sample: zeros for the whole canvas, or, with keep_source, the source half held by a
    noise_mask (core samplers re-noise it to every step's sigma and restore it at the end). `lead_frames`
    latent frames in front (ReCo_ref's reference frame) are generated freely."""
    canvas = layout.join_latent(torch.zeros_like(source_latent), torch.zeros_like(source_latent))
    lead = canvas.new_zeros(*canvas.shape[:2], lead_frames, *canvas.shape[3:])
    if not keep_source:
        return {"samples": torch.cat([lead, canvas], dim=2), SOURCE_KEY: source_latent}
    samples = layout.join_latent(source_latent, torch.zeros_like(source_latent))
    noise_mask = layout.half_mask((1, 1, *canvas.shape[2:]), "target")
    noise_mask = torch.cat([torch.ones(1, 1, lead_frames, *canvas.shape[3:]), noise_mask], dim=2)
    return {"samples": torch.cat([lead, samples], dim=2), "noise_mask": noise_mask, SOURCE_KEY: source_latent}


def reference_frame(vae, image: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ReCo_ref's frame for core's VACE conditioning: (vace_frames [1, 32, 1, h, 2w], vace_mask [1, 64, 1, h, 2w]).

    Core keeps raw latents and normalises vace_frames itself, so the reactive half is the raw latent whose
    normalised value is zero (what core's WanVaceToVideo gives its reference image)."""
    latent = vae.encode(ref.reference_canvas(image, width, height))
    reactive = comfy.latent_formats.Wan21().process_out(torch.zeros_like(latent))
    mask = latent.new_zeros(latent.shape[0], layout.VAE_STRIDE ** 2, *latent.shape[2:])
    return torch.cat([latent, reactive], dim=1), mask


class ReCoInContext(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoInContext",
            display_name="ReCo In-Context Edit",
            category=CATEGORY,
            description="Lays the source beside a blank target ([source | target], twice as wide), gives the model "
                        "the VACE context [source | grey] with mask [0 | 1], and returns the conditioning and "
                        "the canvas LATENT for any sampler. With a reference image (ReCo_ref) it puts "
                        "[white | reference] in front as one more frame. Decode the result with ReCo Decode.",
            inputs=[
                io.Conditioning.Input("positive", tooltip="The edit instruction, e.g. \"remove the dog\" (CLIP Text Encode with the umt5 encoder)."),
                io.Conditioning.Input("negative", tooltip="The negative prompt (the authors': Wan's standard one without \"style, works, paintings\")."),
                io.Vae.Input("vae", tooltip="The Wan2.1 VAE."),
                io.Image.Input("source", tooltip="The clip to edit (frames from Load Video / Get Video Components)."),
                io.Int.Input("width", default=832, min=16, max=MAX_RESOLUTION, step=16,
                             tooltip="Width of each half (the canvas is twice as wide). Multiple of 16."),
                io.Int.Input("height", default=480, min=16, max=MAX_RESOLUTION, step=16,
                             tooltip="Height of the clip. Multiple of 16."),
                io.Int.Input("length", default=81, min=1, max=MAX_RESOLUTION, step=4,
                             tooltip="Frames the model samples, of the form 4n+1 (81 = 5 s at 16 fps, the authors'). "
                                     "A longer source gives its first frames; a shorter one is padded (see short_clip)."),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="VACE strength: how strongly the source context steers the model."),
                io.Boolean.Input("keep_source", default=False,
                                 tooltip="Hold the source half at the (re-noised) source at every step instead of "
                                         "denoising it too. Off reproduces the paper; on can keep the edit closer "
                                         "to the source."),
                io.Image.Input("first_frame", optional=True,
                               tooltip="Optional: your own edit of the first frame; ReCo propagates it through the clip."),
                io.Image.Input("reference", optional=True,
                               tooltip="Optional, ReCo_ref: an image of the object (or look) to add, for the ReCo_ref "
                                       "LoRA (ReCo_ref_rank256). It is fitted on white and put in front of the clip as "
                                       "one more frame; ReCo Decode drops that frame again. Use region off."),
                advanced(io.Combo.Input("resize_mode", options=list(RESIZE_MODES), default="crop", optional=True,
                                        tooltip="How a source of another size is fitted: crop the centre, pad with "
                                                "grey, stretch, or nearest (stretch with nearest-neighbour "
                                                "sampling, exactly the authors' script).")),
                advanced(io.Combo.Input("short_clip", options=list(SHORT_CLIP_MODES), default="pad", optional=True,
                                        tooltip="A source shorter than length: pad repeats its last frame up to "
                                                "length (the authors' way) and ReCo Decode trims the padded frames; "
                                                "shorten samples the longest 4n+1 length it holds (faster).")),
            ],
            outputs=[
                io.Conditioning.Output(display_name="positive"),
                io.Conditioning.Output(display_name="negative"),
                io.Latent.Output(display_name="latent", tooltip="The canvas to sample, 2x width wide."),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, vae, source, width, height, length, strength, keep_source,
                first_frame=None, reference=None, resize_mode="crop", short_clip="pad") -> io.NodeOutput:
        check_image(source, "source", "the clip's frames")
        for name, image in (("first_frame", first_frame), ("reference", reference)):
            if image is not None:
                check_image(image, name, "an image")
        checks.check_range(strength, 0.0, 10.0, name="strength")
        source_size = (int(source.shape[2]), int(source.shape[1]))
        source, plan = prepare_source(source, width, height, length, resize_mode, short_clip)
        reference = None if reference is None else ref.reference_image(reference)
        edited_first = first_image(first_frame)
        if edited_first is not None:
            edited_first = fit_image(edited_first, width, height, resize_mode)
        context = layout.vace_context(source, first_frame=edited_first)
        latents = layout.encode_vace_context(context, vae.encode)
        vace_frames = torch.cat([latents.inactive, latents.reactive], dim=1)
        vace_mask = latents.mask
        lead = 0
        if reference is not None:
            frame, frame_mask = reference_frame(vae, reference, width, height)
            vace_frames = torch.cat([frame.to(vace_frames), vace_frames], dim=2)
            vace_mask = torch.cat([frame_mask.to(vace_mask), vace_mask], dim=2)
            lead = ref.REFERENCE_FRAMES
        values = {"vace_frames": [vace_frames], "vace_mask": [vace_mask], "vace_strength": [strength]}
        positive = node_helpers.conditioning_set_values(positive, values, append=True)
        negative = node_helpers.conditioning_set_values(negative, values, append=True)
        latent = canvas_latent(latents.source_latent, keep_source, lead)
        latent[FRAMES_KEY] = plan.frames
        latent[REFERENCE_KEY] = lead
        latent[SOURCE_SIZE_KEY] = source_size
        latent[RESIZE_KEY] = resize_mode
        notes = [note for note in (plan.note(), reference_note(lead)) if note]
        for note in notes:
            logger.info("ReCo In-Context Edit: %s", note)
        return io.NodeOutput(positive, negative, latent, ui={NOTES_KEY: notes})


def reference_note(lead: int) -> str | None:
    if not lead:
        return None
    return "reference image: sampled as one more latent frame in front of the clip (ReCo_ref); ReCo Decode drops it."
