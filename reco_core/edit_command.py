"""`python -m reco_core edit`: check everything, load the models, edit, write the result."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import checks
from .choices import torch_dtype
from .errors import ReCoInputError
from .fsutil import check_output_file, check_output_folder, check_path_text, same_file
from .bundled import SHAPES, check_components, edit_defaults

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
    warnings: list[str] = field(default_factory=list)  # about the inputs (a damaged source), shown before editing
    windows: str = "chain"  # a clip longer than the model's length: chain, independent or first (reco_core.windows)
    overlap: int | None = None  # frames neighbouring windows share (None: reco_core.windows.default_overlap)

    @property
    def region_path(self) -> Path:
        """Where the region used is written: next to the edit, `<name>_region.mp4`."""
        return region_path(self.out)


#: EditOptions' field names as the flags that set them, so a bad value is named the way the user typed it.
FLAG_NAMES = {"width": "--size width", "height": "--size height", "frames": "--frames", "steps": "--steps",
              "cfg": "--cfg", "shift": "--shift", "sampler": "--sampler", "seed": "--seed", "fps": "--fps",
              "resize_mode": "--resize", "short_clip": "--short-clip", "decode": "--decode",
              "output_size": "--output-size", "region": "--region", "background": "--background",
              "release": "--release", "attention": "--attention", "threshold": "--threshold",
              "detect_at": "--detect-at", "overlap": "--window-overlap", "windows": "--windows"}
#: The flags that name files or folders to read.
INPUT_FLAGS = ("source", "mask", "first_frame", "reference", "model", "vae", "text_encoder")
#: The range of --fps: below 1 fps a clip is a slide show; above 240 resampling only repeats frames.
FPS_RANGE = (1.0, 240.0)
#: The frame rates a source may report and still be written back at its own rate.
SOURCE_FPS_RANGE = (0.01, 1000.0)
#: LoRA strengths beyond this are typos (ComfyUI's loaders stop at 10 too).
MAX_LORA_STRENGTH = 10.0


def region_path(out: Path) -> Path:
    return out.with_name(f"{out.stem or out.name}_region.mp4")


def check_output(path: str) -> Path:
    """--out: a video file of a format this tool writes, or a folder for PNG frames; a name the disk can hold."""
    out = check_path_text(path, "--out")
    if out.suffix and out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ReCoInputError("--out", f"{out.suffix} is not a video format this tool writes",
                             f"Use one of {', '.join(OUTPUT_SUFFIXES)}, or a folder for PNG frames.")
    if out.suffix and out.is_dir():
        raise ReCoInputError("--out", f"{out} is a folder", f"Give a file name inside it, e.g. {out / 'edit.mp4'}, "
                             "or a folder name without a suffix for PNG frames.")
    return check_output_file(out, "--out") if out.suffix else check_output_folder(out, "--out")


def check_device(text: str | None) -> str:
    """--device: a device torch knows and this machine has (default: cuda if available, else cpu)."""
    if not text:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ReCoInputError("--device", f"{text!r} is not a device", "Use cpu, cuda or cuda:N (N counts from 0), "
                             "or mps on a Mac.") from None
    available = {"cpu": lambda: True, "cuda": torch.cuda.is_available,
                 "mps": lambda: getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if device.type not in available:
        raise ReCoInputError("--device", f"{text!r} is not supported", "Use cpu, cuda or cuda:N, or mps on a Mac.")
    if not available[device.type]():
        raise ReCoInputError("--device", f"{text} is not available on this machine (this torch sees no {device.type} "
                             "device)", "Use --device cpu, or install a torch build for your GPU.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ReCoInputError("--device", f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                             f"Use cuda:0 .. cuda:{torch.cuda.device_count() - 1}.")
    return text


def check_fps(value: float, name: str, fix: str, limits: tuple[float, float] = FPS_RANGE) -> None:
    low, high = limits
    if not checks.is_number(value) or not low <= value <= high:
        raise ReCoInputError(name, f"{value!r} is outside {low:g}..{high:g} frames per second", fix)


def check_not_an_input(out: Path, args) -> None:
    """Writing the edit (or its region video) over one of the inputs would destroy the input."""
    outputs = [("", out)] + ([("its region video ", region_path(out))] if args.region != "off" else [])
    for flag in ("source", "mask", "first_frame", "reference"):
        value = getattr(args, flag, None)
        for what, path in outputs:
            if value and same_file(path, value):
                raise ReCoInputError("--out", f"{what}{path} is the --{flag.replace('_', '-')} file: the edit "
                                     "would overwrite it", "Write the edit to another file.")


def named_like_flags(validate):
    """Run an options check, naming a bad field by its flag (--cfg, not cfg)."""
    try:
        return validate()
    except ReCoInputError as error:
        raise ReCoInputError(FLAG_NAMES.get(error.input_name, error.input_name), error.problem, error.fix) from None


def prepare_job(args) -> EditJob:
    """Every check `edit` makes before a single weight is read: first what the flags say, then the files."""
    from .engine.options import EditOptions
    from .frames import resample_fps
    from .region import RegionOptions
    from .lora import load_lora
    from .video import probe_video, read_video

    if not args.model:
        raise ReCoInputError("--model", "is not set", "Give the Wan2.1 VACE model file, or --model shapes for the "
                             "bundled miniature.")
    for flag in INPUT_FLAGS:
        if getattr(args, flag, None):
            check_path_text(getattr(args, flag), f"--{flag.replace('_', '-')}")
    check_components(args.model, args.vae, args.text_encoder)
    if args.model != SHAPES and not args.text_encoder:
        raise ReCoInputError("--text-encoder", "is not set", "Give the folder of the UMT5 text encoder (it turns "
                             "the instruction into embeddings).")
    if not args.instruction.strip():
        raise ReCoInputError("--instruction", "is empty", 'Say what to change, e.g. --instruction "remove the dog".')
    if args.reference and args.region != "off":
        raise ReCoInputError("--region", f"{args.region} cannot be combined with --reference yet",
                             "Leave --region off (the default) when you give a reference image.")
    # 1. The flags alone: output path, device, numbers, LoRA specs.
    out = check_output(args.out)
    device = check_device(args.device)
    defaults = edit_defaults(args.model)
    size = args.size
    width, height = parse_size(size) if size else (defaults.get("width", 832), defaults.get("height", 480))
    if args.frames is not None:
        checks.check_length(args.frames, name="--frames")
    if args.fps is not None:
        check_fps(args.fps, "--fps", "ReCo was trained at 16 fps; leave --fps out to keep the source's rate.")
    default_strength = shapes_lora_strength() if args.model == SHAPES else 1.0
    lora_specs = [_lora(spec, default_strength) for spec in args.lora]
    fallback = EditOptions()
    options = EditOptions(
        width=width, height=height, num_frames=args.frames, max_frames=defaults.get("max_frames", fallback.max_frames),
        seed=args.seed, keep_source=args.keep_source, resize_mode=args.resize, short_clip=args.short_clip,
        decode=args.decode, fps=args.fps or fallback.fps,
        **{key: _pick(getattr(args, key), defaults, key, getattr(fallback, key))
           for key in ("steps", "cfg", "shift", "sampler", "output_size")},
    )
    if args.negative is not None:
        options.negative_prompt = args.negative
    elif "negative_prompt" in defaults:
        options.negative_prompt = defaults["negative_prompt"]
    named_like_flags(options.validate)
    region = named_like_flags(RegionOptions(mode=args.region, background=args.background, release=args.release,
                                            attention=args.attention, threshold=args.threshold,
                                            detect_at=args.detect_at).validate)
    check_not_an_input(out, args)
    # 2. The files: probe the source (no decoding), read the LoRAs, the images and the mask.
    info = probe_video(args.source, input_name="--source")
    if args.fps is None:
        check_fps(info.fps, "--source", "Its frame rate is not one a video has; give --fps 16 to resample it.",
                  SOURCE_FPS_RANGE)
    options.fps = args.fps or info.fps
    available = info.num_frames if not args.fps else max(1, int(info.num_frames * args.fps / info.fps))
    options.plan_clip(available, source_name="--source", length_name="--frames")
    windows, overlap = check_windows(args, available, options.length)
    loras = [(load_lora(path), strength) for path, strength in lora_specs]
    first_frame = reference = None
    if args.first_frame:
        first_frame = read_video(args.first_frame, max_frames=1, input_name="--first-frame").frames[0]
    if args.reference:
        reference = read_video(args.reference, max_frames=1, input_name="--reference").frames[0]
    mask = read_region_mask(args, info) if args.region == "mask" else None
    source = read_video(args.source, input_name="--source")
    if args.fps:
        source.frames, source.fps = resample_fps(source.frames, source.fps, args.fps), args.fps
        if mask is not None and mask.shape[0] > 1:
            mask = resample_fps(mask, info.fps, args.fps)
    dtype = torch_dtype(args.dtype or ("bf16" if device.startswith("cuda") else "fp32"))
    warnings = [f"--source: {info.damage}"] if info.damage else []
    return EditJob(source, loras, first_frame, reference, options, region, mask, out, device, dtype, warnings,
                   windows, overlap)


def check_windows(args, frames: int, length: int) -> tuple[str, int | None]:
    """--windows and --window-overlap, checked against the source's frames and the model's length."""
    from .engine.long_clip import check_mode
    from .windows import plan_windows

    windows = check_mode(getattr(args, "windows", None) or "chain", "--windows")
    overlap = getattr(args, "window_overlap", None)
    if windows != "first" and length > 1:
        plan_windows(frames, length, overlap, source_name="--source", length_name="--frames",
                     overlap_name="--window-overlap")
    return windows, overlap


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
    check_path_text(path, "--lora")
    if not checks.is_number(strength) or abs(strength) > MAX_LORA_STRENGTH:
        raise ReCoInputError("--lora", f"{spec}: strength {strength} is not a number between "
                             f"-{MAX_LORA_STRENGTH:g} and {MAX_LORA_STRENGTH:g}",
                             "Write FILE:STRENGTH with a strength like 1 or 0.8.")
    if Path(path).is_dir():
        raise ReCoInputError("--lora", f"{path} is a folder", "Give the path of a LoRA file.")
    if not Path(path).is_file():
        before, _, after = spec.rpartition(":")
        if before and Path(before).is_file():  # FILE: or FILE:abc -- the file is there, the strength is not
            raise ReCoInputError("--lora", f"{spec}: {after!r} after the colon is not a strength",
                                 "Write FILE:STRENGTH with a strength like 1 or 0.8, or just FILE for the default.")
        raise ReCoInputError("--lora", f"{path} does not exist", "Give the path of a LoRA file.")
    return path, strength


def _pick(value, defaults: dict, key: str, fallback):
    return value if value is not None else defaults.get(key, fallback)


def load_models(args, job: EditJob):
    """(transformer, vae, text encoder) with the job's LoRAs. With --model shapes and --lora, the given LoRAs
    replace the bundled one (merged into the weights, as the miniature's own LoRA is)."""
    from .lora import apply_lora, merge_lora_into_weights
    from .bundled import load_components

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

    from .engine.long_clip import edit_long_clip
    from .engine.pipeline import ReCoPipeline
    from .video import write_video

    job = prepare_job(args)
    for text in job.warnings:
        print(f"warning: {text}", file=sys.stderr)
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
        result = edit_long_clip(pipeline, job.source.frames, args.instruction, options=job.options,
                                overlap=job.overlap, mode=job.windows, first_frame=job.first_frame,
                                reference=job.reference, region=job.region, mask=job.mask,
                                progress=lambda at: show_progress(steps, at),
                                on_window=lambda window, count: show_window(steps, window, count))
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


def show_progress(bar, at) -> None:
    """The steps bar over the whole clip (every window's steps)."""
    bar.total = at.total
    bar.update(at.done - bar.n)


def show_window(bar, window, count: int) -> None:
    """Name the window being edited, on the bar and, for a clip in windows, in a printed line."""
    if count > 1:
        bar.set_description(f"window {window.index + 1}/{count}")
        if bar.disable:
            return
        bar.write(f"editing window {window.index + 1} of {count} (frames {window.start} to {window.end - 1})",
                  file=sys.stderr)


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
