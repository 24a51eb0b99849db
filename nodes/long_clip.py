"""ReCoLongClipEdit: a clip of any length, edited window by window with ComfyUI's own sampling.

The windows are planned by reco_core.windows (the engine uses the same plan). Each window is the graph a user
wires by hand, run by calling the pack's nodes: ReCo In-Context Edit (its canvas and VACE context; from the second
window on, in ReCo's first-frame mode with the edit's frame at the window's start), ReCo Sampler (core's
samplers and schedulers; with region off it is KSampler) and ReCo Decode's decoding. The windows' edits are
blended over the frames they share. One window is sampled at a time, so memory is that of one window.
"""

from __future__ import annotations

import contextlib
import logging

import comfy.model_management
import comfy.samplers
import comfy.utils
import torch
from comfy_api.latest import io

from ..reco_core import checks
from ..reco_core.engine.options import DECODE_MODES
from ..reco_core.errors import ReCoInputError
from ..reco_core.frames import RESIZE_MODES
from ..reco_core.choices import ATTENTION_MODES, REGION_MODES
from ..reco_core.windows import DEFAULT_OVERLAP, WINDOW_MODES, Window, WindowPlan, blend_into, plan_windows, \
    union_into, window_mask
from . import previews
from .common import CATEGORY, MAX_RESOLUTION, advanced, check_image
from .decode import clip_latent, comparison, decode_halves
from .in_context import FRAMES_KEY, ReCoInContext
from .sampler import ReCoSampler

logger = logging.getLogger(__name__)

#: The modes a user picks in the node: "first" (the first window only) is what ReCo In-Context Edit already does.
NODE_WINDOW_MODES = tuple(mode for mode in WINDOW_MODES if mode != "first")


@contextlib.contextmanager
def overall_progress(window: Window, count: int):
    """While one window samples, the sampler's per-step progress (step of steps) is shown as progress over the
    whole clip (window * steps + step of count * steps); ComfyUI's own hook still runs, so cancel still stops
    within a step."""
    hook = comfy.utils.PROGRESS_BAR_HOOK
    if hook is None or count == 1:
        yield
        return

    def clip_hook(value, total, preview, *args, **kwargs):
        return hook(window.index * total + value, count * total, preview, *args, **kwargs)

    comfy.utils.set_progress_bar_global_hook(clip_hook)
    try:
        yield
    finally:
        comfy.utils.set_progress_bar_global_hook(hook)


def check_window_mask(mask, frames: int) -> torch.Tensor:
    """A region MASK for a long clip: one still mask, or one per source frame (sliced per window)."""
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3) or 0 in mask.shape:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ReCoInputError("mask", f"is not a MASK [frames, height, width] (got {shape})",
                             "Connect a MASK (white = edit) of the source's size.")
    mask = mask.reshape(-1, *mask.shape[-2:])
    if 1 < mask.shape[0] < frames:
        raise ReCoInputError("mask", f"has {mask.shape[0]} frames but the source has {frames}",
                             "Give one mask frame per source frame, or a single still mask.")
    return mask


def window_notes(plan: WindowPlan, mode: str, padded: int) -> list[str]:
    notes = []
    if plan.windowed:
        notes.append(plan.note())
        if mode == "chain":
            notes.append("each window after the first starts from the edit's frame where it begins (ReCo's "
                         "first-frame mode).")
    elif padded:
        notes.append(f"source has {plan.frames} frames, fewer than the {plan.length} sampled: padded with {padded} "
                     "copies of its last frame (as the authors do); the edit is trimmed back to "
                     f"{plan.frames} frames.")
    return notes


class ReCoLongClipEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoLongClipEdit",
            display_name="ReCo Long Clip Edit",
            category=CATEGORY,
            description="Edits a clip of any length: cuts it into windows of `length` frames that share `overlap` "
                        "frames, edits each with ReCo (each window after the first starts from the edit's frame "
                        "where it begins, ReCo's first-frame mode, so the edit stays the same across windows), "
                        "blends the shared frames and returns every frame. One window is sampled at a time.",
            inputs=[
                io.Model.Input("model", tooltip="The Wan2.1 VACE model with the ReCo LoRA (any core loader: "
                                                "fp16, fp8, GGUF)."),
                io.Conditioning.Input("positive", tooltip="The edit instruction, e.g. \"remove the dog\" (CLIP Text "
                                                          "Encode with the umt5 encoder)."),
                io.Conditioning.Input("negative", tooltip="The negative prompt (the authors': Wan's standard one "
                                                          "without \"style, works, paintings\")."),
                io.Vae.Input("vae", tooltip="The Wan2.1 VAE."),
                io.Image.Input("source", tooltip="The whole clip to edit (frames from Load Video / Get Video "
                                                 "Components); every frame comes back, so save it at the clip's "
                                                 "own fps."),
                io.Int.Input("width", default=832, min=16, max=MAX_RESOLUTION, step=16,
                             tooltip="Width of each half (the canvas is twice as wide). Multiple of 16."),
                io.Int.Input("height", default=480, min=16, max=MAX_RESOLUTION, step=16,
                             tooltip="Height of the clip. Multiple of 16."),
                io.Int.Input("length", default=81, min=1, max=MAX_RESOLUTION, step=4,
                             tooltip="Frames per window, 4n+1 (81 = 5 s at 16 fps, what ReCo was trained on). A clip "
                                     "no longer than this is one window (a shorter one is padded and trimmed)."),
                io.Int.Input("overlap", default=DEFAULT_OVERLAP, min=1, max=MAX_RESOLUTION,
                             tooltip="Frames neighbouring windows share (at least 1, below length). The next window "
                                     "starts from the edit's first shared frame; the shared frames are cross-faded."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed of every window (1 gives the authors' noise)."),
                io.Int.Input("steps", default=50, min=1, max=10000,
                             tooltip="Sampling steps per window: 50 with euler is the authors' setting."),
                io.Float.Input("cfg", default=5.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance (5, the authors')."),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="euler",
                               tooltip="Any core sampler (euler with scheduler simple and ModelSamplingSD3 shift 5 "
                                       "is the authors' grid)."),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, default="simple",
                               tooltip="Any core scheduler (simple is the authors' grid)."),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="VACE strength: how strongly the source context steers the model."),
                io.Combo.Input("region", options=list(REGION_MODES), default="off",
                               tooltip="off: plain ReCo (the authors'). auto: each window finds its edit region from "
                                       "the model's own estimates and holds the background to the source (ours). "
                                       "mask: use the MASK input, sliced per window."),
                io.Image.Input("first_frame", optional=True,
                               tooltip="Optional: your own edit of the clip's first frame; ReCo propagates it "
                                       "through the first window, and the windows hand it on."),
                io.Image.Input("reference", optional=True,
                               tooltip="Optional, ReCo_ref: an image of the object (or look) to add, given to every "
                                       "window (use the ReCo_ref LoRA and region off)."),
                io.Mask.Input("mask", optional=True,
                              tooltip="With region = mask: where to edit (white), the source's size; one still mask "
                                      "or one per source frame."),
                advanced(io.Combo.Input("windows", options=list(NODE_WINDOW_MODES), default="chain", optional=True,
                                        tooltip="chain: each window after the first starts from the edit's frame "
                                                "where it begins (the edit stays consistent). independent: every "
                                                "window edited on its own, only blended (for comparison).")),
                advanced(io.Float.Input("background", default=0.8, min=0.0, max=1.0, step=0.05, optional=True,
                                        tooltip="With a region: how strongly the background outside it is held to "
                                                "the source during the first part of sampling.")),
                advanced(io.Combo.Input("attention", options=list(ATTENTION_MODES), default="off", optional=True,
                                        tooltip="With a region: keep edit-region tokens from attending to the "
                                                "source's same region (region) or the whole source (source); off "
                                                "(default) leaves attention alone.")),
                advanced(io.Boolean.Input("keep_source", default=False, optional=True,
                                          tooltip="Hold the source half at the re-noised source at every step "
                                                  "instead of denoising it too (off reproduces the paper).")),
                advanced(io.Combo.Input("resize_mode", options=list(RESIZE_MODES), default="crop", optional=True,
                                        tooltip="How a source of another size is fitted: crop the centre, pad with "
                                                "grey, stretch, or nearest (the authors' script).")),
                advanced(io.Combo.Input("decode", options=list(DECODE_MODES), default="canvas", optional=True,
                                        tooltip="canvas: decode the whole [source | target] canvas and crop the "
                                                "edit (the authors' path). target: decode only the target half "
                                                "(faster, slightly different pixels near the seam).")),
            ],
            outputs=[
                io.Image.Output(display_name="edited", tooltip="The edited clip: every source frame, one half wide."),
                io.Image.Output(display_name="comparison", tooltip="Before | after, side by side."),
                io.Mask.Output(display_name="region", tooltip="The edit region used, per frame (empty with region "
                                                              "off)."),
            ],
        )

    @classmethod
    def execute(cls, model, positive, negative, vae, source, width, height, length, overlap, seed, steps, cfg,
                sampler_name, scheduler, strength, region, first_frame=None, reference=None, mask=None,
                windows="chain", background=0.8, attention="off", keep_source=False, resize_mode="crop",
                decode="canvas") -> io.NodeOutput:
        # 1. Check what the windows need before the first one runs.
        check_image(source, "source", "the clip's frames")
        if windows not in NODE_WINDOW_MODES:
            raise ReCoInputError("windows", f"{windows!r} is unknown", f"Use one of: {', '.join(NODE_WINDOW_MODES)}.")
        checks.check_half_size(width, height)
        plan = plan_windows(source.shape[0], length, overlap)
        if mask is not None:
            mask = check_window_mask(mask, source.shape[0])
        if region == "mask" and mask is None:
            raise ReCoInputError("mask", "is missing but region is mask", "Connect a MASK, or set region to auto.")
        # 2. Window by window: in-context canvas, sampling, decoding, blending.
        edited = clip_region = None
        padded = 0
        for window in plan.windows:
            comfy.model_management.throw_exception_if_processing_interrupted()
            logger.info("ReCo Long Clip Edit: window %d of %d (frames %d to %d)", window.index + 1, plan.count,
                        window.start, window.end - 1)
            handed = first_frame if window.index == 0 else (edited[window.start:window.start + 1]
                                                            if windows == "chain" else None)
            frames, window_region, padded = cls.edit_window(
                model, positive, negative, vae, source[window.start:window.end], window, plan.count, length, width,
                height, seed, steps, cfg, sampler_name, scheduler, strength, region, handed, reference,
                window_mask(mask, window), background, attention, keep_source, resize_mode, decode)
            if edited is None:
                edited = frames.new_zeros(plan.frames, *frames.shape[1:])
                clip_region = window_region.new_zeros(plan.frames, *window_region.shape[1:])
            blend_into(edited, window, frames)
            union_into(clip_region, window, window_region)
        notes = window_notes(plan, windows, padded)
        for note in notes:
            logger.info("ReCo Long Clip Edit: %s", note)
        output = io.NodeOutput(edited, comparison(source, edited), clip_region)
        return previews.with_compare_ui(output, notes)

    @staticmethod
    def edit_window(model, positive, negative, vae, frames, window: Window, count: int, length, width, height, seed,
                    steps, cfg, sampler_name, scheduler, strength, region, first_frame, reference, mask, background,
                    attention, keep_source, resize_mode, decode) -> tuple[torch.Tensor, torch.Tensor, int]:
        """One window through the pack's own nodes: (its edited frames, its region MASK, padded frames)."""
        window_positive, window_negative, latent = ReCoInContext.execute(
            positive, negative, vae, frames, width, height, length, strength, keep_source, first_frame=first_frame,
            reference=reference, resize_mode=resize_mode, short_clip="pad").args[:3]
        with overall_progress(window, count):
            sampled, window_region = ReCoSampler.sample(
                model, window_positive, window_negative, latent, seed, steps, cfg, sampler_name, scheduler, region,
                background, attention, mask=mask)
        _, target = decode_halves(vae, clip_latent(sampled), decode, need_source=False)
        kept = int(sampled.get(FRAMES_KEY) or target.shape[0])
        return target[:kept].float().cpu(), window_region[:kept].float().cpu(), target.shape[0] - kept
