"""ReCoPipeline: instruction-based video editing on diffusers' Wan VACE model.

One call reads as the authors' inference does: check inputs, fit the source to the per-half size and the
model's 4n+1 length (a short clip padded with its last frame), build the [source | target] canvas and its
VACE context (with ReCo_ref, a reference frame in front), encode, denoise both halves with
classifier-free guidance, decode the whole canvas and crop the target half, and trim the padded frames.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import torch

from .. import checks, layout, reference as ref
from ..errors import ReCoInputError
from ..frames import fit_clip, fit_image, fit_region_mask
from ..lengths import ClipPlan
from ..restore import SizePlan, restore_edit, restore_mask
from ..models.text import TEXT_LENGTH, pad_embeddings
from ..masks import canvas_tokens, latent_to_pixel_mask, pixel_to_latent_mask
from ..region import RegionAnchor, RegionOptions, RegionState, auto_region
from .region_attention import RegionAttention, region_attention, select_layers
from . import codec
from .denoise import Anchor, FixedAnchor, StepInfo, denoise
from .options import EditOptions
from .schedule import make_scheduler


@dataclass
class EditResult:
    """The edit (target half, [T, H, W, C] in 0..1), the source as edited (both trimmed to the source's
    own frames), the sampled canvas latent of the clip (without a reference frame, with padded frames), and
    how the source was fitted (`plan`: padded or cut frames; `size_plan`: resized; `notes()` says it in words).
    With options.output_size "source" the edit and the source come back at the source's own size.
    """

    frames: torch.Tensor
    source: torch.Tensor
    canvas_latent: torch.Tensor
    options: EditOptions
    region: torch.Tensor | None = None  # pixel mask [T, H, W] of the region used, when one was
    plan: ClipPlan | None = None
    size_plan: SizePlan | None = None

    def notes(self, source_name: str = "source") -> list[str]:
        """Sentences on what was done to fit the source (resized, padded, cut); empty when it fit as it was."""
        notes = [self.size_plan.note(self.options.output_size, source_name) if self.size_plan else None,
                 self.plan.note(source_name) if self.plan else None]
        return [note for note in notes if note]

    @property
    def side_by_side(self) -> torch.Tensor:
        return layout.build_canvas(self.source, self.frames)


@dataclass
class Prompt:
    """Instruction embeddings [1, 512, D] for the positive and (optional) negative branch."""

    positive: torch.Tensor
    negative: torch.Tensor | None = None


def model_timestep(timestep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The timestep as the model receives it: in a 16-bit compute dtype it is rounded to that dtype, as the
    authors' pipeline casts it (bf16 steps timesteps above 512 by 4: 995.93 becomes 996)."""
    timestep = timestep.float()
    return timestep.to(dtype).float() if dtype in (torch.bfloat16, torch.float16) else timestep


def guided_velocity(transformer, prompt: Prompt, control: torch.Tensor, cfg: float, vace_strength: float = 1.0):
    """The guided velocity on the canvas: v = v_uncond + cfg * (v_cond - v_uncond) (v_cond alone when cfg is 1
    or there is no negative prompt). Runs in the transformer's dtype on its device, returns float32."""
    parameter = next(transformer.parameters())
    device, dtype = parameter.device, parameter.dtype
    scale = torch.full((len(transformer.config.vace_layers),), float(vace_strength), device=device)
    control = control.to(device, dtype)
    positive = prompt.positive.to(device, dtype)
    negative = None if prompt.negative is None or cfg == 1 else prompt.negative.to(device, dtype)

    def predict(text: torch.Tensor, latents: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        return transformer(
            hidden_states=latents.to(device, dtype),
            timestep=model_timestep(timestep, dtype).expand(latents.shape[0]).to(device),
            encoder_hidden_states=text, control_hidden_states=control, control_hidden_states_scale=scale,
            return_dict=False,
        )[0].float()

    def velocity(latents: torch.Tensor, timestep: torch.Tensor, step: int) -> torch.Tensor:
        with torch.no_grad():
            conditional = predict(positive, latents, timestep)
            if negative is None:
                return conditional
            unconditional = predict(negative, latents, timestep)
        return unconditional + cfg * (conditional - unconditional)

    return velocity


class ReCoPipeline:
    """Edits a clip given an instruction. Components are diffusers models; the text encoder is optional
    (embeddings can be handed in ready-made, which is how ComfyUI's text encoder output plugs in)."""

    def __init__(self, transformer, vae, text_encoder=None, *, device: str | torch.device | None = None,
                 offload: bool = False):
        self.transformer = transformer
        self.vae = vae
        self.text_encoder = text_encoder
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.offload = offload
        if not offload:
            for module in self._modules():
                module.to(self.device)

    # ------------------------------------------------------------------------------------------- memory

    def _modules(self) -> list[torch.nn.Module]:
        modules = [self.transformer, self.vae]
        encoder = getattr(self.text_encoder, "model", None)
        if isinstance(encoder, torch.nn.Module):
            modules.append(encoder)
        return modules

    @contextlib.contextmanager
    def _on_device(self, module) -> Iterator[None]:
        """With model offload, a component visits the compute device only while it works."""
        if not self.offload or not isinstance(module, torch.nn.Module):
            yield
            return
        module.to(self.device)
        try:
            yield
        finally:
            module.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def enable_vae_tiling(self, **kwargs) -> None:
        """Encode/decode in overlapping spatial tiles (less memory; use the same setting for training and edits)."""
        self.vae.enable_tiling(**kwargs)

    def enable_vae_slicing(self) -> None:
        """Encode/decode one clip of a batch at a time."""
        self.vae.enable_slicing()

    # ------------------------------------------------------------------------------------------- text

    def encode_prompt(self, instruction: str, negative_prompt: str | None) -> Prompt:
        if self.text_encoder is None:
            raise ReCoInputError("instruction", "was given as text but the pipeline has no text encoder",
                                 "Load a text encoder (--text-encoder DIR) or pass prompt embeddings.")
        with self._on_device(getattr(self.text_encoder, "model", None)):
            texts = [instruction] + ([negative_prompt] if negative_prompt is not None else [])
            embeddings = self.text_encoder.encode(texts, max_length=TEXT_LENGTH)
        negative = embeddings[1:2] if negative_prompt is not None else None
        return Prompt(embeddings[:1], negative)

    def _check_text_width(self, prompt: Prompt) -> None:
        expected = self.transformer.config.text_dim
        if prompt.positive.shape[-1] != expected:
            raise ReCoInputError("prompt_embeds", f"have width {prompt.positive.shape[-1]} but the model expects "
                                 f"{expected}", "Use the text encoder that belongs to this model (UMT5-XXL for Wan).")

    # ------------------------------------------------------------------------------------------- VAE

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [B?, T, H, W, C] in 0..1 -> normalised latents [B, 16, F, H/8, W/8]."""
        with self._on_device(self.vae):
            return codec.encode_frames(self.vae, frames)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents [1, 16, F, h, w] -> frames [T, H, W, C] in 0..1."""
        with self._on_device(self.vae):
            return codec.decode_latents(self.vae, latents)

    # ------------------------------------------------------------------------------------------- steps

    def check_source(self, source: torch.Tensor) -> None:
        if source.ndim != 4 or source.shape[-1] not in (3, 4):
            raise ReCoInputError("source", f"has shape {tuple(source.shape)}, expected frames [T, H, W, 3]",
                                 "Read the clip with reco_core.video.read_video.")

    def prepare_source(self, source: torch.Tensor, options: EditOptions, plan: ClipPlan | None = None) -> torch.Tensor:
        """Resize the source to the per-half size and fit it to the model's length (cut, or padded with copies
        of its last frame as `plan` says)."""
        self.check_source(source)
        plan = plan or options.plan_clip(source.shape[0])
        return fit_clip(source, plan.frames, plan.length, options.width, options.height, options.resize_mode)

    def vace_conditioning(self, source: torch.Tensor, first_frame: torch.Tensor | None, options: EditOptions):
        """Encode the VACE context [source | grey], mask [0 | 1] -> control [1, 96, F, h, 2w] and the
        clean source latent (the source half of the encoded inactive video)."""
        if first_frame is not None:
            first_frame = fit_image(first_frame, options.width, options.height, options.resize_mode)
        context = layout.vace_context(source, first_frame=first_frame)
        latents = layout.encode_vace_context(context, self.encode_frames)
        return latents.control(), latents.source_latent

    def reference_conditioning(self, reference: torch.Tensor, control: torch.Tensor, options: EditOptions):
        """ReCo_ref: the control with the encoded [white | reference] frame in front (inactive = its latent,
        reactive = zeros, mask = 0), and that frame's noise [1, 16, 1, h, 2w]."""
        canvas = ref.reference_canvas(reference, options.width, options.height)
        latent = self.encode_frames(canvas)
        control = ref.prepend_reference(latent, control, torch.zeros_like(latent))
        return control, ref.reference_noise(tuple(latent.shape), self.device)

    def velocity_fn(self, prompt: Prompt, control: torch.Tensor, options: EditOptions):
        return guided_velocity(self.transformer, prompt, control, options.cfg, options.vace_strength)

    def keep_source_anchor(self, source_latent: torch.Tensor, canvas_shape: torch.Size, lead_frames: int = 0) -> Anchor:
        """Hold the source half at the re-noised source latent at every step (not the `lead_frames` latent
        frames in front of the clip, e.g. a reference frame)."""
        clean = layout.join_latent(source_latent, source_latent)
        mask = layout.half_mask(tuple(canvas_shape), "source", device=source_latent.device)
        if lead_frames:
            clean = torch.cat([clean.new_zeros(*clean.shape[:2], lead_frames, *clean.shape[3:]), clean], dim=2)
            mask[:, :, :lead_frames] = 0
        return FixedAnchor(clean=clean, mask=mask)

    def decode_edit(self, latents: torch.Tensor, options: EditOptions) -> torch.Tensor:
        """The target half of a sampled canvas latent [1, 16, F, h, 2w] as frames [T, H, W, C]: the whole canvas
        decoded then cropped ("canvas", the authors' path), or only the target half's latent ("target")."""
        if options.decode == "canvas":
            return layout.split_canvas(self.decode_latents(latents))[1]
        return self.decode_latents(layout.split_latent(latents)[1])

    # ------------------------------------------------------------------------------------------- call

    def __call__(
        self,
        source: torch.Tensor,
        instruction: str | None = None,
        *,
        options: EditOptions | None = None,
        prompt: Prompt | None = None,
        first_frame: torch.Tensor | None = None,
        reference: torch.Tensor | None = None,
        anchor_fn: Callable | None = None,
        region: RegionOptions | None = None,
        mask: torch.Tensor | None = None,
        callback: Callable[[StepInfo], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
        **overrides,
    ) -> EditResult:
        """Edit `source` frames [T, H, W, C] (0..1) by `instruction` (or ready-made `prompt` embeddings).

        `reference` (an image [H, W, C]) is ReCo_ref's reference for "add this object" edits (use the ReCo_ref
        LoRA with it); `region` constrains sampling to the edit region (found automatically, or given as
        `mask`, a pixel mask [T or 1, H, W] of the source); `anchor_fn(source_latent, canvas_shape)` may return
        a custom anchor instead; `callback` gets every step's StepInfo (progress and the x0 estimate);
        `cancel()` is checked before every step and stops the run with CancelledError.
        """
        # 1. Check inputs before any heavy work.
        options = replace(options or EditOptions(), **overrides).validate()
        region = (region or RegionOptions()).validate()
        if prompt is None and not (instruction or "").strip():
            raise ReCoInputError("instruction", "is empty", 'Say what to change, e.g. "remove the dog".')
        if region.mode == "mask" and mask is None:
            raise ReCoInputError("mask", "is missing but region is \"mask\"", "Give a mask video, or use region auto.")
        if mask is not None:
            checks.check_mask_matches(mask.shape, source.shape)
        if reference is not None:
            reference = ref.reference_image(reference)
            if region.enabled:
                raise ReCoInputError("region", f"{region.mode!r} cannot be combined with a reference image yet",
                                     "Set region to off (the default) when you give a reference image.")
        self.check_source(source)
        plan = options.plan_clip(source.shape[0])
        size_plan = options.plan_size(source.shape[2], source.shape[1])
        original = source
        # 2. Fit the source to the per-half size and the model's length (a short clip is padded).
        source = self.prepare_source(source, options, plan)
        # 3. Text.
        if prompt is None:
            prompt = self.encode_prompt(instruction, options.negative_prompt if options.cfg != 1 else None)
        negative = None if prompt.negative is None else pad_embeddings(prompt.negative)
        prompt = Prompt(pad_embeddings(prompt.positive), negative)
        self._check_text_width(prompt)
        # 4. VACE context [source | grey] with mask [0 | 1] (first frame shown when given).
        control, source_latent = self.vace_conditioning(source, first_frame, options)
        # 5. Noise for the whole canvas; both halves are denoised. ReCo_ref puts its frame in front of both.
        canvas_shape = (1, 16, control.shape[2], control.shape[3], control.shape[4])
        generator = torch.Generator("cpu").manual_seed(options.seed)
        noise = torch.randn(canvas_shape, generator=generator).to(self.device)
        lead = 0
        if reference is not None:
            control, reference_noise = self.reference_conditioning(reference, control, options)
            noise = torch.cat([reference_noise.to(noise), noise], dim=2)
            lead = ref.REFERENCE_FRAMES
        anchor, state = None, RegionState(region)
        if region.mode == "mask":
            state.region = pixel_to_latent_mask(self.prepare_mask(mask, source, options, plan)).to(self.device)
        if anchor_fn is not None:
            anchor = anchor_fn(source_latent.to(self.device), noise.shape)
        elif region.enabled:
            anchor = RegionAnchor(layout.join_latent(source_latent, source_latent).to(self.device), state,
                                  options.keep_source)
        elif options.keep_source:
            anchor = self.keep_source_anchor(source_latent.to(self.device), noise.shape, lead)
        # 6. Denoise with classifier-free guidance (region-aware attention when asked).
        scheduler = make_scheduler(options.sampler, options.steps, options.shift)
        attention = RegionAttention(block=region.attention)
        velocity = self.velocity_fn(prompt, control, options)

        def region_velocity(latents: torch.Tensor, timestep: torch.Tensor, step: int) -> torch.Tensor:
            active = region.enabled and state.attention_active(step, len(scheduler.timesteps))
            attention.tokens = [canvas_tokens(state.region)] if active else None
            return velocity(latents, timestep, step)

        def on_step(info: StepInfo) -> None:
            if region.mode == "auto" and state.region is None and info.step >= state.detect_step(info.total):
                state.region, state.detected_at = auto_region(info.x0, region), info.step
            if callback is not None:
                callback(info)

        layers = select_layers(self.transformer, region.attention_layers) if region.enabled else []
        with self._on_device(self.transformer), region_attention(self.transformer, attention, layers):
            latents = denoise(region_velocity, noise, scheduler, anchor=anchor, callback=on_step, cancel=cancel,
                              progress=progress)
        # 7. Drop the reference frame, decode (the whole canvas, then crop the target), trim the padded frames.
        latents = latents[:, :, lead:]
        frames = self.decode_edit(latents, options)[:plan.frames]
        region_pixels = None
        if state.region is not None:
            region_pixels = latent_to_pixel_mask(state.region.cpu(), plan.length)[:plan.frames]
        source = source[:plan.frames]
        # 8. Back at the source's size when asked, over its own pixels (see reco_core.restore).
        if options.output_size == "source" and size_plan.resized:
            source = original[:plan.frames, ..., :3].float().cpu()
            frames = restore_edit(frames, source, options.resize_mode)
            if region_pixels is not None:
                region_pixels = restore_mask(region_pixels, source.shape[2], source.shape[1], options.resize_mode)
        return EditResult(frames=frames, source=source, canvas_latent=latents.cpu(), options=options,
                          region=region_pixels, plan=plan, size_plan=size_plan)

    def prepare_mask(self, mask: torch.Tensor, source: torch.Tensor, options: EditOptions,
                     plan: ClipPlan | None = None) -> torch.Tensor:
        """A user's region mask [T or 1, H, W] of the source, fitted like the source; one half's pixels."""
        return fit_region_mask(mask, source.shape[0], options.width, options.height, options.resize_mode,
                               plan.frames if plan is not None else None)
