"""ReCoSampler: core sampling with region constraints (auto region or a MASK, background lock, attention).

Built on core's CFGGuider, samplers and schedulers, so every sampler and scheduler works; with region
off it is KSampler. The region logic itself lives in reco_core.region and reco_core.attention; this
file only wires it to core's hook points: a denoise-mask function (background lock), an attention
override with block tags (attention constraint), a model wrapper (which step is running) and the
sampler callback (the auto region, read from the x0 estimate).
"""

from __future__ import annotations

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import torch
from comfy_api.latest import io

from ..reco_core import checks, layout
from ..reco_core.attention import hide_source
from ..reco_core.errors import ReCoInputError
from ..reco_core.frames import fit_region_mask
from ..reco_core.masks import canvas_tokens, latent_to_pixel_mask, pixel_to_latent_mask
from ..reco_core.choices import ATTENTION_MODES, REGION_MODES
from ..reco_core.region import RegionOptions, RegionState, attention_layer_names, auto_region, canvas_lock_mask, \
    lock_weight
from . import previews
from .common import CATEGORY, advanced, video_latent

from .in_context import FRAMES_KEY, REFERENCE_KEY, RESIZE_KEY, SOURCE_KEY, SOURCE_SIZE_KEY

BLOCK_TAG = "reco_block"


class RegionController:
    """Shared state of one ReCoSampler run, read by the hooks installed on the model."""

    def __init__(self, options: RegionOptions, sigmas: torch.Tensor, latent_shape: torch.Size,
                 dit_blocks: int = 0, vace_blocks: int = 0):
        self.state = RegionState(options)
        self.layers = set(attention_layer_names(options.attention_layers, dit_blocks, vace_blocks))
        self.sigmas = [float(s) for s in sigmas]
        self.total = len(self.sigmas) - 1
        self.step = 0
        frames, height, width = latent_shape[2], latent_shape[3], latent_shape[4]
        self.num_tokens = frames * (height // 2) * (width // 2)
        self.tokens = None

    # -------------------------------------------------------------------------------- step tracking

    def step_of(self, sigma: float) -> int:
        return min(range(self.total), key=lambda i: abs(self.sigmas[i] - sigma))

    def set_region(self, region: torch.Tensor) -> None:
        self.state.region = region
        self.tokens = canvas_tokens(region)

    # -------------------------------------------------------------------------------- hooks

    def unet_wrapper(self, previous):
        """Track the running step, then call on: the previous wrapper (another node's) or the model."""
        def wrapper(apply_model, args):
            self.step = self.step_of(float(args["timestep"].flatten()[0]))
            if previous is not None:
                return previous(apply_model, args)
            return apply_model(args["input"], args["timestep"], **args["c"])

        return wrapper

    def denoise_mask(self, previous):
        """The background lock: the target half outside the region is pulled toward the re-noised source."""
        def mask_function(sigma, denoise_mask, extra_options):
            if previous is not None:
                denoise_mask = previous(sigma, denoise_mask, extra_options)
            if self.state.region is None:
                return denoise_mask
            options = self.state.options
            weight = lock_weight(self.step_of(float(sigma.flatten()[0])) / self.total, options.background,
                                 options.release, options.fade)
            pull = canvas_lock_mask(self.state.region.to(denoise_mask), weight, False, denoise_mask[0, 0])
            return denoise_mask * (1 - pull)

        return mask_function

    def attention(self, previous):
        """The attention constraint on canvas self-attention; any other call goes on unchanged."""
        def override(func, q, k, v, heads, transformer_options=None, **kwargs):
            if not self._constrained(q, k, transformer_options):
                if previous is not None:
                    return previous(func, q, k, v, heads, transformer_options=transformer_options, **kwargs)
                return func(q, k, v, heads, transformer_options=transformer_options, **kwargs)
            return self._blocked(q, k, v, heads)

        return override

    def _constrained(self, q, k, transformer_options) -> bool:
        return self.tokens is not None and q.shape[1] == k.shape[1] == self.num_tokens and \
            self.state.attention_active(self.step, self.total) and self._layer_selected(transformer_options)

    def _blocked(self, q, k, v, heads):
        split = [t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v)]  # [B, H, L, D]
        return hide_source(*split, self.tokens, self.state.options.attention).transpose(1, 2).flatten(-2)

    def _layer_selected(self, transformer_options) -> bool:
        """Whether the running layer is chosen: DiT blocks carry their tag; VACE blocks (no hook) carry none."""
        block = (transformer_options or {}).get(BLOCK_TAG)
        if block is None:
            return any(name.startswith("vace_blocks.") for name in self.layers)
        return f"blocks.{block}" in self.layers

    def tag_block(self, index: int):
        def replace(args, extra):
            options = {**args["transformer_options"], BLOCK_TAG: index}
            return extra["original_block"]({**args, "transformer_options": options})

        return replace

    def sampler_callback(self, preview):
        detect = self.state.detect_step(self.total)

        def callback(step, x0, x, total_steps):
            if self.state.options.mode == "auto" and self.state.region is None and step >= detect:
                self.set_region(auto_region(x0[:1].float().cpu(), self.state.options))
            if preview is not None:
                preview(step, x0, x, total_steps)

        return callback


def patched_model(model, controller: RegionController):
    patched = model.clone()
    existing = patched.model_options
    patched.set_model_unet_function_wrapper(controller.unet_wrapper(existing.get("model_function_wrapper")))
    patched.set_model_denoise_mask_function(controller.denoise_mask(existing.get("denoise_mask_function")))
    options = patched.model_options.setdefault("transformer_options", {})
    options["optimized_attention_override"] = controller.attention(options.get("optimized_attention_override"))
    for index in range(len(model.model.diffusion_model.blocks)):
        patched.set_model_patch_replace(controller.tag_block(index), "dit", "double_block", index)
    return patched


def region_from_mask(mask: torch.Tensor, latent_shape: torch.Size, latent_image: dict | None = None) -> torch.Tensor:
    """A user MASK [T or 1, H, W] of the source -> the latent-grid region [F, h, w] of one half.

    The MASK is fitted the way ReCo In-Context Edit fitted the source (its size and resize mode travel in the
    LATENT); a MASK of another size than the source, or too few frames, is refused rather than misplaced."""
    latent_image = latent_image or {}
    frames, height, half_width = latent_shape[2], latent_shape[3], latent_shape[4] // 2
    check_mask(mask, latent_image, (half_width * 8, height * 8))
    pixels = fit_region_mask(mask, 4 * (frames - 1) + 1, half_width * 8, height * 8,
                             latent_image.get(RESIZE_KEY) or "crop", latent_image.get(FRAMES_KEY))
    return pixel_to_latent_mask(pixels)


def check_mask(mask, latent_image: dict, model_size: tuple[int, int]) -> None:
    """A region MASK has the source's size (or the size the model edits at) and one frame or one per frame."""
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3) or 0 in mask.shape:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ReCoInputError("mask", f"is not a MASK [frames, height, width] (got {shape})",
                             "Connect a MASK (white = edit) of the source's size.")
    height, width = int(mask.shape[-2]), int(mask.shape[-1])
    source_size = tuple(latent_image.get(SOURCE_SIZE_KEY) or model_size)
    if (width, height) not in (source_size, model_size):
        raise ReCoInputError("mask", f"is {width}x{height} but the source is {source_size[0]}x{source_size[1]}",
                             f"Give a mask of the source's size ({source_size[0]}x{source_size[1]}); it is fitted "
                             "to the model's size as the source was.")
    frames = 1 if mask.ndim == 2 else int(mask.shape[0])
    used = int(latent_image.get(FRAMES_KEY) or 0)
    if frames != 1 and frames < used:
        raise ReCoInputError("mask", f"has {frames} frames but {used} source frames are edited",
                             "Give one mask frame per source frame, or a single still mask.")


def block_counts(model) -> tuple[int, int]:
    """(DiT blocks, VACE blocks) of core's Wan model inside a ModelPatcher."""
    diffusion_model = model.model.diffusion_model
    return len(diffusion_model.blocks), len(getattr(diffusion_model, "vace_blocks", None) or [])


def attention_block_indices(spec: str, count: int, vace_count: int = 0) -> None:
    """attention_blocks: all, dit, vace, or DiT block numbers below `count` separated by commas."""
    try:
        attention_layer_names((spec or "").strip() or "all", count, vace_count)
    except ValueError:
        raise ReCoInputError("attention_blocks", f"{spec!r} is not all, dit, vace or DiT block numbers 0..{count - 1}",
                             "Write e.g. 0,2,4 (block numbers separated by commas) or all.") from None


def check_fits_context(conditionings: dict, samples: torch.Tensor) -> None:
    """The LATENT must have the frames, height and width of the VACE context in the conditioning: a latent of
    another size would fail deep inside the model."""
    for name, conditioning in conditionings.items():
        for entry in conditioning if isinstance(conditioning, list) else []:
            extra = entry[1] if isinstance(entry, (list, tuple)) and len(entry) > 1 and isinstance(entry[1], dict) else {}
            for frames in extra.get("vace_frames") or []:
                if isinstance(frames, torch.Tensor) and frames.ndim == 5 and frames.shape[2:] != samples.shape[2:]:
                    grid = lambda shape: "x".join(str(int(n)) for n in shape)  # noqa: E731
                    raise ReCoInputError("latent_image", f"is {grid(samples.shape[2:])} (frames x height x width) but "
                                         f"the VACE context in {name} is {grid(frames.shape[2:])}",
                                         "Connect the latent, positive and negative of the same ReCo In-Context "
                                         "Edit node.")


def check_reco_canvas(latent_image: dict, samples: torch.Tensor) -> None:
    """Region sampling needs the canvas of ReCo In-Context Edit: [source | target] with its source latent."""
    source = latent_image.get(SOURCE_KEY)
    if not isinstance(source, torch.Tensor):
        raise ReCoInputError("latent_image", "does not come from ReCo In-Context Edit (it carries no source "
                             "latent)", "Connect ReCo In-Context Edit's latent, or set region to off.")
    lead = int(latent_image.get(REFERENCE_KEY) or 0)
    canvas = samples.shape[:2] + (samples.shape[2] - lead, samples.shape[3], samples.shape[4] // 2)
    if samples.shape[-1] % 2 or tuple(source.shape[1:]) != tuple(canvas[1:]):
        raise ReCoInputError("latent_image", f"is not a ReCo canvas of its source latent (canvas "
                             f"{tuple(samples.shape)}, source {tuple(source.shape)})",
                             "Connect ReCo In-Context Edit's latent directly (or through nodes that keep its size).")


class ReCoSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoSampler",
            display_name="ReCo Sampler",
            category=CATEGORY,
            description="Samples a ReCo canvas with region constraints: finds where the edit happens (or takes "
                        "your MASK), holds the background outside it to the source and keeps edit-region tokens "
                        "from copying the source. With region off it is KSampler.",
            inputs=[
                io.Model.Input("model", tooltip="The Wan2.1 VACE model with the ReCo LoRA."),
                io.Conditioning.Input("positive", tooltip="Positive conditioning from ReCo In-Context Edit."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning from ReCo In-Context Edit."),
                io.Latent.Input("latent_image", tooltip="The canvas LATENT from ReCo In-Context Edit."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed (1 gives the authors' noise)."),
                io.Int.Input("steps", default=50, min=1, max=10000,
                             tooltip="Sampling steps: 50 with euler is the authors' setting; 30 with uni_pc is faster."),
                io.Float.Input("cfg", default=5.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance (5, the authors')."),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="euler",
                               tooltip="Any core sampler. euler with scheduler simple and ModelSamplingSD3 shift 5 "
                                       "gives the authors' exact sigmas; uni_pc is close to their faster diffusers "
                                       "UniPC, not the same solver."),
                io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, default="simple",
                               tooltip="Any core scheduler (simple is the authors' grid)."),
                io.Combo.Input("region", options=list(REGION_MODES), default="off",
                               tooltip="off: plain sampling, the authors' (same as KSampler). auto: find the edit "
                                       "region from the model's own estimates and hold the background to the source "
                                       "(ours; it can cost background fidelity). mask: use the MASK input."),
                io.Float.Input("background", default=0.8, min=0.0, max=1.0, step=0.05,
                               tooltip="How strongly the background outside the region is held to the source "
                                       "during the first part of sampling (0: not at all)."),
                io.Combo.Input("attention", options=list(ATTENTION_MODES), default="off",
                               tooltip="Keep edit-region tokens from attending to the source's same region (region) "
                                       "or to the whole source (source); off (default) leaves attention alone."),
                io.Mask.Input("mask", optional=True,
                              tooltip="With region = mask: where to edit (white), the source's size; one mask or one "
                                      "per frame."),
                advanced(io.Float.Input("release", default=0.7, min=0.0, max=1.0, step=0.05, optional=True,
                                        tooltip="Fraction of the steps the background lock holds before it fades.")),
                advanced(io.Float.Input("detect_at", default=0.2, min=0.0, max=1.0, step=0.05, optional=True,
                                        tooltip="How far into sampling the auto region is read (0..1).")),
                advanced(io.Float.Input("threshold", default=0.0, min=0.0, max=0.99, step=0.01, optional=True,
                                        tooltip="Auto region threshold on the normalised discrepancy; 0 picks it "
                                                "automatically (Otsu).")),
                advanced(io.String.Input("attention_blocks", default="all", optional=True,
                                         tooltip="Blocks with the attention constraint: all, dit, vace, or DiT block "
                                                 "numbers like 0,2,4.")),
                advanced(io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01, optional=True,
                                        tooltip="Denoise strength, as in KSampler.")),
            ],
            outputs=[
                io.Latent.Output(display_name="latent", tooltip="The sampled canvas; decode it with ReCo Decode."),
                io.Mask.Output(display_name="region", tooltip="The edit region used, per frame at the clip's size "
                                                               "(empty with region off)."),
            ],
        )

    @classmethod
    def execute(cls, model, positive, negative, latent_image, seed, steps, cfg, sampler_name, scheduler, region,
                background, attention, mask=None, release=0.7, detect_at=0.2, threshold=0.0, attention_blocks="all",
                denoise=1.0) -> io.NodeOutput:
        result, region_mask = cls.sample(model, positive, negative, latent_image, seed, steps, cfg, sampler_name,
                                         scheduler, region, background, attention, mask, release, detect_at,
                                         threshold, attention_blocks, denoise)
        lead = int(latent_image.get(REFERENCE_KEY) or 0)
        return previews.with_region_ui(io.NodeOutput(result, region_mask), model, region,
                                       preview_latent=result["samples"][:, :, lead:])

    @classmethod
    def sample(cls, model, positive, negative, latent_image, seed, steps, cfg, sampler_name, scheduler, region,
               background, attention, mask=None, release=0.7, detect_at=0.2, threshold=0.0, attention_blocks="all",
               denoise=1.0) -> tuple[dict, torch.Tensor]:
        """The sampling itself, without the viewer's preview files: (the LATENT, the region MASK)."""
        checks.check_range(cfg, 0.0, 100.0, name="cfg")
        checks.check_range(denoise, 0.0, 1.0, name="denoise")
        options = RegionOptions(mode=region, background=background, release=release, attention=attention,
                                attention_layers=attention_blocks.strip() or "all", detect_at=detect_at,
                                threshold=threshold or None).validate()
        samples = comfy.sample.fix_empty_latent_channels(model, video_latent(latent_image, "latent_image"))
        check_fits_context({"positive": positive, "negative": negative}, samples)
        if options.enabled:
            attention_block_indices(attention_blocks, *block_counts(model))
            check_reco_canvas(latent_image, samples)
        if options.mode == "mask" and mask is None:
            raise ReCoInputError("mask", "is missing but region is mask", "Connect a MASK, or set region to auto.")
        if options.enabled and latent_image.get(REFERENCE_KEY):
            raise ReCoInputError("region", f"{region} cannot be combined with a reference image yet",
                                 "Set region to off (the default) when ReCo In-Context Edit has a reference.")
        lead = int(latent_image.get(REFERENCE_KEY) or 0)
        noise = comfy.sample.prepare_noise(samples, seed, latent_image.get("batch_index"))
        sigmas = comfy.samplers.KSampler(model, steps=steps, device=model.load_device, sampler=sampler_name,
                                         scheduler=scheduler, denoise=denoise, model_options=model.model_options).sigmas
        noise_mask = latent_image.get("noise_mask")
        preview = latent_preview.prepare_callback(model, sigmas.shape[-1] - 1)
        controller = None
        if options.enabled:
            controller = RegionController(options, sigmas, samples.shape, *block_counts(model))
            if options.mode == "mask":
                controller.set_region(region_from_mask(mask, samples[:, :, lead:].shape, latent_image))
            source = latent_image[SOURCE_KEY].to(samples)
            samples = layout.join_latent(source, source)  # the background lock pulls toward the source
            if noise_mask is None:
                noise_mask = torch.ones((samples.shape[0], 1, *samples.shape[2:]))
            model = patched_model(model, controller)
            preview = controller.sampler_callback(preview)
        guider = comfy.samplers.CFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        out = guider.sample(noise, samples, comfy.samplers.sampler_object(sampler_name), sigmas,
                            denoise_mask=noise_mask, callback=preview,
                            disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=seed)
        result = latent_image.copy()
        result["samples"] = out.to(comfy.model_management.intermediate_device())
        return result, cls.region_mask(controller, samples[:, :, lead:].shape, latent_image.get(FRAMES_KEY))

    @staticmethod
    def region_mask(controller: RegionController | None, latent_shape: torch.Size,
                    frames_kept: int | None = None) -> torch.Tensor:
        frames, height, half_width = latent_shape[2], latent_shape[3], latent_shape[4] // 2
        length = 4 * (frames - 1) + 1
        if controller is None or controller.state.region is None:
            mask = torch.zeros(length, height * 8, half_width * 8)
        else:
            mask = latent_to_pixel_mask(controller.state.region.cpu(), length)
        return mask[:frames_kept] if frames_kept else mask
