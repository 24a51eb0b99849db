"""Browser previews of the ReCo nodes' results, for the pack's web viewer (web/reco_viewer.js).

After a run, ReCoDecode and ReCoSampler write small VP9 .webm clips to ComfyUI's temp folder (emptied at every
start) and name them in their `ui` dict; the front end hands that dict to the node's `onExecuted`:

    ReCoDecode:  {"reco_compare": [{"source": FILE, "edit": FILE, "fps", "frames", "width", "height"}],
                  "reco_notes": [TEXT, ...]}
    ReCoSampler: {"reco_region": [{"preview": FILE, "mask": FILE, "fps", "frames", "width", "height",
                                   "coverage", "region"}]}
    ReCoInContext: {"reco_notes": [TEXT, ...]}

`reco_notes` are sentences on what a node did to fit its input (a short clip padded, padded frames or a
reference frame dropped); the list is sent empty when there is nothing to say, so the viewer clears old notes.

FILE is core's {"filename", "subfolder", "type": "temp"} record, served by GET /view. The clips of one entry
share their size, frame count and rate. `width`/`height` are the clip's own size (one half of the canvas); the
files are at most PREVIEW_MAX_SIDE on their longer side (same aspect ratio). `coverage` is the fraction of the
clip inside the region and `region` the sampler's region mode.

VP9 in WebM plays in every Chromium (Chrome, Edge, the desktop app, headless) and in Firefox. The clips are
previews, so libvpx runs with its realtime settings: about a second per 81-frame 832x480 clip on two CPU cores.
A preview that cannot be written (no ffmpeg, a full disk) is logged and skipped: the node's results stand.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import folder_paths
import torch
from comfy_api.latest import io

from ..reco_core.fsutil import atomic_path
from ..reco_core.masks import latent_to_pixel_mask
from ..reco_core.video.writing import BT709_FILTER, encode_video_file

logger = logging.getLogger(__name__)

COMPARE_KEY = "reco_compare"
REGION_KEY = "reco_region"
NOTES_KEY = "reco_notes"
PREVIEW_FPS = 16.0  # Wan2.1's native rate: the nodes are not told the clip's own
PREVIEW_MAX_SIDE = 640
SUBFOLDER = "reco"
KEYFRAME_INTERVAL = 8  # frequent keyframes: stepping back a frame decodes at most this many frames

_VP9_REALTIME = ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1", "-crf", "30",
                 "-b:v", "0", "-lag-in-frames", "0", "-g", str(KEYFRAME_INTERVAL)]


# ----------------------------------------------------------------------------------------------------------------------
# Attaching previews to a node's output
# ----------------------------------------------------------------------------------------------------------------------


def with_compare_ui(output: io.NodeOutput, notes: list[str] | None = None) -> io.NodeOutput:
    """ReCoDecode's output (edited, comparison) with the before/after clips and `notes` in `ui`."""
    edited, comparison = output.args[0], output.args[1]
    half = edited.shape[2]
    clips = _safely(lambda: {COMPARE_KEY: [compare_entry(comparison[..., :half, :], comparison[..., half:, :])]})
    output.ui = {**(clips or {}), NOTES_KEY: list(notes or [])}
    return output


def with_region_ui(output: io.NodeOutput, model, region: str, preview_latent: torch.Tensor | None = None) -> io.NodeOutput:
    """ReCoSampler's output (latent, region mask) with the sampled target's preview and the mask in `ui`
    (`preview_latent`: the clip's part of the latent, when a reference frame is in front)."""
    latent, mask = output.args[0], output.args[1]
    samples = latent["samples"] if preview_latent is None else preview_latent
    output.ui = _safely(lambda: {REGION_KEY: [region_entry(model, samples, mask, region)]})
    return output


def _safely(build):
    try:
        return build()
    except Exception as error:  # a preview is a convenience: never fail the node for it
        logger.warning("ReCo: could not write the preview for the viewer: %s", error)
        return None


# ----------------------------------------------------------------------------------------------------------------------
# Entries
# ----------------------------------------------------------------------------------------------------------------------


def compare_entry(source: torch.Tensor, edit: torch.Tensor, fps: float = PREVIEW_FPS) -> dict:
    """The source (fitted to the edit) and the edit, frames [T, H, W, C] each, as two clips of one size."""
    frames, height, width = edit.shape[:3]
    size = preview_size(width, height)
    stem = unique_stem("compare")
    return {"source": write_preview(f"{stem}_source.webm", source, size, fps),
            "edit": write_preview(f"{stem}_edit.webm", edit, size, fps),
            "fps": fps, "frames": int(frames), "width": int(width), "height": int(height)}


def region_entry(model, samples: torch.Tensor, mask: torch.Tensor, region: str, fps: float = PREVIEW_FPS) -> dict:
    """The sampled target half as a cheap latent->RGB preview, and the region MASK [T, H, W], as two clips."""
    frames, height, width = mask.shape
    target = samples[0, :, :, :, samples.shape[-1] // 2:]
    preview = latent_to_pixel_mask(latent_rgb(model, target), frames, stride=1)  # latent frames -> pixel frames
    size = preview_size(width, height)
    stem = unique_stem("region")
    return {"preview": write_preview(f"{stem}_preview.webm", preview, size, fps, scale_flags="bilinear"),
            "mask": write_preview(f"{stem}_mask.webm", mask.float().unsqueeze(-1), size, fps),
            "fps": fps, "frames": int(frames), "width": int(width), "height": int(height),
            "coverage": round(float(mask.float().mean()), 4), "region": region}


def latent_rgb(model, latent: torch.Tensor) -> torch.Tensor:
    """A raw latent [C, F, h, w] -> rough RGB frames [F, h, w, 3] in 0..1, with the latent format's own
    latent_rgb_factors (what core's Latent2RGB sampler preview uses), or grey when the format has none."""
    base = model.model
    normalised = base.process_latent_in(latent.unsqueeze(0).float().cpu())[0]  # the sampler's x0 space
    channels_last = normalised.movedim(0, -1)  # [F, h, w, C]
    latent_format = base.latent_format
    factors = getattr(latent_format, "latent_rgb_factors", None)
    if factors is None:
        grey = channels_last.mean(dim=-1, keepdim=True)
        return ((grey - grey.min()) / (grey.max() - grey.min()).clamp(min=1e-6)).expand(*grey.shape[:-1], 3)
    weight = torch.tensor(factors, dtype=channels_last.dtype).transpose(0, 1)  # [3, C]
    bias = getattr(latent_format, "latent_rgb_factors_bias", None)
    bias = None if bias is None else torch.tensor(bias, dtype=channels_last.dtype)
    rgb = torch.nn.functional.linear(channels_last, weight, bias)
    return ((rgb + 1.0) / 2.0).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------------------


def preview_size(width: int, height: int, max_side: int = PREVIEW_MAX_SIDE) -> tuple[int, int]:
    """(width, height) scaled down to fit `max_side`, rounded to even numbers (yuv420p needs them)."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def unique_stem(kind: str) -> str:
    return f"reco_{kind}_{uuid.uuid4().hex[:12]}"


def write_preview(filename: str, frames: torch.Tensor, size: tuple[int, int], fps: float,
                  scale_flags: str = "area") -> dict:
    """Frames [T, H, W, 1 or 3] (0..1) -> temp/<SUBFOLDER>/<filename> at `size`; returns its /view record."""
    folder = Path(folder_paths.get_temp_directory()) / SUBFOLDER
    with atomic_path(folder / filename) as tmp:
        encode_webm(tmp, frames, size, fps, scale_flags)
    return {"filename": filename, "subfolder": SUBFOLDER, "type": "temp"}


def encode_webm(path: Path, frames: torch.Tensor, size: tuple[int, int], fps: float, scale_flags: str) -> None:
    """VP9 with realtime settings at `size`, tagged BT.709 as reco_core.video writes its files (right colours in
    browsers)."""
    encode_video_file(path, frames, fps, [*_VP9_REALTIME, "-vf", f"scale={size[0]}:{size[1]}:flags={scale_flags},"
                      f"{BT709_FILTER}", "-f", "webm"], even_size=False)
