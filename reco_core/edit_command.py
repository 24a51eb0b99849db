"""`python -m reco_core edit`: check everything, load the models, edit, write the result."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from . import checks
from .errors import ReCoInputError
from .models.bundle import SHAPES, check_components, edit_defaults

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
OUTPUT_SUFFIXES = (".mp4", ".webm", ".gif", ".mov", ".mkv")


@dataclass
class EditJob:
    """Everything `edit` needs, checked: files exist, sizes and lengths valid, LoRAs readable."""

    source: object  # reco_core.video.Video
    loras: list
    first_frame: torch.Tensor | None
    reference: torch.Tensor | None
    options: object  # EditOptions
    region: object  # RegionOptions
    mask: torch.Tensor | None
    out: Path
    device: str
    dtype: torch.dtype

    @property
    def region_path(self) -> Path:
        """Where the region used is written: next to the edit, `<name>_region.mp4`."""
        return self.out.with_name(f"{self.out.stem or self.out.name}_region.mp4")


def check_output(path: str) -> Path:
    out = Path(path)
    if out.suffix and out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ReCoInputError("--out", f"{out.suffix} is not a video format this tool writes",
                             f"Use one of {', '.join(OUTPUT_SUFFIXES)}, or a folder for PNG frames.")
    return out


def prepare_job(args) -> EditJob:
    """Every check `edit` makes before a single weight is read."""
    from .engine.options import EditOptions
    from .frames import resample_fps
    from .region import RegionOptions
    from .lora import load_lora
    from .video import probe_video, read_video

    if not args.model:
        raise ReCoInputError("--model", "is not set", "Give the Wan2.1 VACE model file, or --model shapes for the "
                             "bundled miniature.")
    check_components(args.model, args.vae, args.text_encoder)
    if args.model != SHAPES and not args.text_encoder:
        raise ReCoInputError("--text-encoder", "is not set", "Give the folder of the UMT5 text encoder (it turns "
                             "the instruction into embeddings).")
    if not args.instruction.strip():
        raise ReCoInputError("--instruction", "is empty", 'Say what to change, e.g. --instruction "remove the dog".')
    if args.reference and args.region != "off":
        raise ReCoInputError("--region", f"{args.region} cannot be combined with --reference yet",
                             "Leave --region off (the default) when you give a reference image.")
    out = check_output(args.out)
    defaults = edit_defaults(args.model)
    size = args.size
    width, height = parse_size(size) if size else (defaults.get("width", 832), defaults.get("height", 480))
    if args.frames is not None:
        checks.check_length(args.frames, name="--frames")
    info = probe_video(args.source, input_name="--source")
    default_strength = shapes_lora_strength() if args.model == SHAPES else 1.0
    loras = [(load_lora(path), strength) for path, strength in (_lora(spec, default_strength) for spec in args.lora)]
    first_frame = reference = None
    if args.first_frame:
        first_frame = read_video(args.first_frame, max_frames=1, input_name="--first-frame").frames[0]
    if args.reference:
        reference = read_video(args.reference, max_frames=1, input_name="--reference").frames[0]
    fallback = EditOptions()
    options = EditOptions(
        width=width, height=height, num_frames=args.frames, max_frames=defaults.get("max_frames", fallback.max_frames),
        seed=args.seed, keep_source=args.keep_source, resize_mode=args.resize, short_clip=args.short_clip,
        decode=args.decode, fps=args.fps or info.fps,
        **{key: _pick(getattr(args, key), defaults, key, getattr(fallback, key))
           for key in ("steps", "cfg", "shift", "sampler", "output_size")},
    )
    if args.negative is not None:
        options.negative_prompt = args.negative
    elif "negative_prompt" in defaults:
        options.negative_prompt = defaults["negative_prompt"]
    options.validate()
    available = info.num_frames if not args.fps else max(1, int(info.num_frames * args.fps / info.fps))
    options.plan_clip(available, source_name="--source", length_name="--frames")
    region = RegionOptions(mode=args.region, background=args.background, release=args.release,
                           attention=args.attention, threshold=args.threshold, detect_at=args.detect_at).validate()
    mask = read_region_mask(args, info) if args.region == "mask" else None
    source = read_video(args.source, input_name="--source")
    if args.fps:
        source.frames, source.fps = resample_fps(source.frames, source.fps, args.fps), args.fps
        if mask is not None and mask.shape[0] > 1:
            mask = resample_fps(mask, info.fps, args.fps)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = DTYPES[args.dtype or ("bf16" if device.startswith("cuda") else "fp32")]
    return EditJob(source, loras, first_frame, reference, options, region, mask, out, device, dtype)


def shapes_lora_strength() -> float:
    from .shapes.model import SHAPES_LORA_STRENGTH

    return SHAPES_LORA_STRENGTH


def read_region_mask(args, info) -> torch.Tensor:
    from .video import read_mask_video

    if not args.mask:
        raise ReCoInputError("--mask", "is missing but --region is mask", "Give --mask FILE, or use --region auto.")
    mask = read_mask_video(args.mask, input_name="--mask").frames
    checks.check_mask_matches(mask.shape, (info.num_frames, info.height, info.width), name="--mask",
                              source_name="--source")
    return mask


def parse_size(text: str) -> tuple[int, int]:
    """'832x480' -> (832, 480), checked (multiples of 16)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ReCoInputError("--size", f"{text!r} is not WIDTHxHEIGHT", "Write it like 832x480 (per half).") from None
    checks.check_half_size(width, height, width_name="--size width", height_name="--size height")
    return width, height


def parse_lora(text: str, default: float = 1.0) -> tuple[str, float]:
    """'file.safetensors:0.8' -> (file, 0.8); a bare path means strength `default`."""
    path, _, strength = text.rpartition(":")
    if path and strength:
        try:
            return path, float(strength)
        except ValueError:
            pass
    return text, default


def _lora(spec: str, default: float = 1.0) -> tuple[str, float]:
    path, strength = parse_lora(spec, default)
    if not Path(path).is_file():
        raise ReCoInputError("--lora", f"{path} does not exist", "Give the path of a LoRA file.")
    return path, strength


def _pick(value, defaults: dict, key: str, fallback):
    return value if value is not None else defaults.get(key, fallback)


def load_models(args, job: EditJob):
    """(transformer, vae, text encoder) with the job's LoRAs. With --model shapes and --lora, the given LoRAs
    replace the bundled one (merged into the weights, as the miniature's own LoRA is)."""
    from .lora import apply_lora, merge_lora_into_weights
    from .models.bundle import load_components

    replace_bundled = args.model == SHAPES and bool(job.loras)
    transformer, vae, text_encoder = load_components(args.model, args.vae, args.text_encoder, dtype=job.dtype,
                                                     bundled_lora=not replace_bundled)
    for index, (lora, strength) in enumerate(job.loras):
        if replace_bundled:
            merge_lora_into_weights(transformer, lora, strength)
        else:
            apply_lora(transformer, lora, strength=strength, adapter_name=f"lora_{index}")
    return transformer, vae, text_encoder


def run(args) -> int:
    from tqdm import tqdm

    from .engine.pipeline import ReCoPipeline
    from .video import write_video

    job = prepare_job(args)
    if args.model == SHAPES and job.loras:
        note("--model shapes with --lora: your LoRA replaces the bundled ReCo-Shapes LoRA "
             f"(strength {', '.join(f'{strength:g}' for _, strength in job.loras)})")
    with quiet_libraries(args.quiet):
        stages = tqdm(total=3, desc="loading models", disable=args.quiet, dynamic_ncols=True)
        transformer, vae, text_encoder = load_models(args, job)
        stages.set_description("editing")
        stages.update(2)
        pipeline = ReCoPipeline(transformer, vae, text_encoder, device=job.device, offload=args.offload)
        if args.vae_tiling:
            pipeline.enable_vae_tiling()
        steps = tqdm(total=job.options.steps, desc="sampling", unit="step", disable=args.quiet, dynamic_ncols=True,
                     leave=False)
        result = pipeline(job.source.frames, args.instruction, options=job.options, first_frame=job.first_frame,
                          reference=job.reference, region=job.region, mask=job.mask,
                          progress=lambda done, total: steps.update(done - steps.n))
        steps.close()
    for text in result.notes("--source"):
        note(text)
    frames = result.side_by_side if args.side_by_side else result.frames
    path = write_video(job.out, frames, job.options.fps)
    if result.region is not None:
        from .video import write_mask_video

        region_path = write_mask_video(job.region_path, result.region, job.options.fps)
        print(f"wrote {region_path} (the edit region used)")
    stages.set_description("done")
    stages.update()
    stages.close()
    print(f"wrote {path} ({frames.shape[0]} frames, {frames.shape[2]}x{frames.shape[1]}, {job.options.fps:g} fps)")
    return 0


def note(text: str) -> None:
    """A line about what was done to the user's input (on stderr, shown even with --quiet)."""
    print(f"note: {text}", file=sys.stderr)


@contextlib.contextmanager
def quiet_libraries(quiet: bool):
    """With --quiet, also silence the loading bars of transformers and diffusers (restored afterwards)."""
    if not quiet:
        yield
        return
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled(), diffusers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    diffusers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled[0]:
            transformers_logging.enable_progress_bar()
        if was_enabled[1]:
            diffusers_logging.enable_progress_bar()
