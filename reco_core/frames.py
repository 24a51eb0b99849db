"""Pure torch helpers on frames `[T, H, W, C]` and masks `[T, H, W]`, both in `0..1`.

Nothing here touches the disk: reading and writing live in `reco_core.video`.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .checks import largest_valid_length
from .choices import RESIZE_MODES
from .errors import ReCoInputError

ResizeMode = Literal["crop", "stretch", "pad", "nearest"]

# Frames resized per call to `interpolate`, so a long 1080p clip never needs a second full-size copy in float32.
_RESIZE_CHUNK = 16


# ----------------------------------------------------------------------------------------------------------------------
# Resizing
# ----------------------------------------------------------------------------------------------------------------------


def _check_size(width: int, height: int) -> None:
    if int(width) != width or int(height) != height or width < 1 or height < 1:
        raise ValueError(f"width and height must be positive integers, got {width}x{height}")


def _check_mode(mode: str) -> None:
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")


def _center_crop_box(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """The centred `(x, y, w, h)` window of the source that has the target's aspect ratio.

    Same arithmetic as ComfyUI's `common_upscale(..., crop="center")`: crop first, then resize the window.
    """
    src_aspect = src_w / src_h
    dst_aspect = dst_w / dst_h
    x = y = 0
    if src_aspect > dst_aspect:
        x = round((src_w - src_w * (dst_aspect / src_aspect)) / 2)
    elif src_aspect < dst_aspect:
        y = round((src_h - src_h * (src_aspect / dst_aspect)) / 2)
    return x, y, max(1, src_w - 2 * x), max(1, src_h - 2 * y)


def _letterbox_box(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """The centred `(x, y, w, h)` place in the target where the whole source fits with its aspect ratio."""
    scale = min(dst_w / src_w, dst_h / src_h)
    w = min(dst_w, max(1, round(src_w * scale)))
    h = min(dst_h, max(1, round(src_h * scale)))
    return (dst_w - w) // 2, (dst_h - h) // 2, w, h


def _interpolate_chunked(images: torch.Tensor, width: int, height: int, nearest: bool = False) -> torch.Tensor:
    """Resize channels-last `[N, H, W, C]` to `[N, height, width, C]`: bilinear, antialiased when shrinking, or
    nearest-neighbour (torch's "nearest", as the authors' inference script resizes)."""
    n, src_h, src_w, channels = images.shape
    if (src_h, src_w) == (height, width):
        return images
    antialias = height < src_h or width < src_w
    out = torch.empty((n, height, width, channels), dtype=images.dtype, device=images.device)
    for start in range(0, n, _RESIZE_CHUNK):
        chunk = images[start : start + _RESIZE_CHUNK].permute(0, 3, 1, 2).float()
        if nearest:
            resized = F.interpolate(chunk, size=(height, width), mode="nearest")
        else:
            resized = F.interpolate(chunk, size=(height, width), mode="bilinear", align_corners=False,
                                    antialias=antialias)
        out[start : start + _RESIZE_CHUNK] = resized.clamp_(0.0, 1.0).permute(0, 2, 3, 1).to(images.dtype)
    return out


def _fill_canvas(like: torch.Tensor, width: int, height: int, fill: float | Sequence[float]) -> torch.Tensor:
    n, _, _, channels = like.shape
    fill_values = torch.as_tensor(fill, dtype=like.dtype, device=like.device).flatten()
    if fill_values.numel() not in (1, channels):
        raise ValueError(f"fill must be one value or {channels} values, got {fill_values.numel()}")
    return fill_values.expand(channels).repeat(n, height, width, 1)


def resize_frames(
    frames: torch.Tensor,
    width: int,
    height: int,
    mode: ResizeMode = "crop",
    *,
    fill: float | Sequence[float] = 0.5,
) -> torch.Tensor:
    """Resize frames `[T, H, W, C]` to exactly `[T, height, width, C]`.

    Modes:
        - `"crop"`: cut the centred window with the target's aspect ratio, then scale it (fills the
          frame, loses the edges; like ComfyUI's `common_upscale` with `crop="center"`).
        - `"stretch"`: scale each axis independently (keeps everything, distorts the aspect ratio).
        - `"pad"`: scale to fit inside, then letterbox with `fill` (one value, or one per channel).
        - `"nearest"`: stretch with nearest-neighbour sampling, exactly as the authors' inference script
          fits a clip to 832x480 (aliased, but their pixels).

    Scaling is bilinear (antialiased when shrinking) except in "nearest". A frame that already has the target size is
    returned untouched. Values stay in `0..1`; dtype and device are kept.
    """
    if frames.ndim != 4:
        raise ValueError(f"frames must be [T, H, W, C], got shape {tuple(frames.shape)}")
    _check_size(width, height)
    _check_mode(mode)
    width, height = int(width), int(height)
    _, src_h, src_w, _ = frames.shape

    if mode in ("stretch", "nearest"):
        return _interpolate_chunked(frames, width, height, nearest=mode == "nearest")
    if mode == "crop":
        x, y, w, h = _center_crop_box(src_w, src_h, width, height)
        return _interpolate_chunked(frames[:, y : y + h, x : x + w], width, height)

    x, y, w, h = _letterbox_box(src_w, src_h, width, height)
    canvas = _fill_canvas(frames, width, height, fill)
    canvas[:, y : y + h, x : x + w] = _interpolate_chunked(frames, w, h)
    return canvas


def resize_masks(
    masks: torch.Tensor,
    width: int,
    height: int,
    mode: ResizeMode = "crop",
    *,
    fill: float = 0.0,
) -> torch.Tensor:
    """Resize masks `[T, H, W]` with the same geometry as `resize_frames` (so they stay aligned with them).

    Scaling is bilinear, so edges of a hard 0/1 mask come out soft (values strictly between 0 and 1);
    threshold the result if a binary mask is needed. Letterbox bands get `fill` (0: not edited).
    """
    if masks.ndim != 3:
        raise ValueError(f"masks must be [T, H, W], got shape {tuple(masks.shape)}")
    return resize_frames(masks.unsqueeze(-1), width, height, mode, fill=fill).squeeze(-1)


# ----------------------------------------------------------------------------------------------------------------------
# Length and frame rate
# ----------------------------------------------------------------------------------------------------------------------


def fit_length(
    frames: torch.Tensor,
    length: int,
    *,
    pad: Literal["repeat_last", "error"] = "repeat_last",
    input_name: str = "source",
) -> torch.Tensor:
    """Return exactly `length` frames: the first `length`, or, for a shorter clip, the clip padded.

    `pad="repeat_last"` repeats the last frame (as ReCo's training data loader does);
    `pad="error"` raises `ReCoInputError(input_name, ...)` naming the frame count and the longest
    valid `4n + 1` length that fits. Works on any tensor whose first dimension is time (masks too).
    """
    if int(length) != length or length < 1:
        raise ValueError(f"length must be a positive integer, got {length}")
    length = int(length)
    num_frames = frames.shape[0]
    if num_frames >= length:
        return frames[:length]
    if num_frames == 0:
        raise ReCoInputError(input_name, "has no frames", "Give a clip with at least one frame")
    if pad == "error":
        fits = largest_valid_length(num_frames)
        raise ReCoInputError(
            input_name,
            f"has {num_frames} frames but {length} are needed",
            f"Set the length to {fits} (the longest 4n+1 length that fits), use a longer clip, "
            "or let short clips be padded by repeating the last frame",
        )
    if pad != "repeat_last":
        raise ValueError(f"pad must be 'repeat_last' or 'error', got {pad!r}")
    padding = frames[-1:].expand(length - num_frames, *frames.shape[1:])
    return torch.cat([frames, padding], dim=0)


def resample_indices(num_frames: int, src_fps: float | None, dst_fps: float) -> list[int]:
    """Source frame indices that show a `num_frames` clip at `dst_fps` instead of `src_fps`.

    Output frame `i` is shown at time `i / dst_fps` and takes the source frame nearest to that time
    (the earlier one on a tie, so doubling the rate shows every frame twice). The clip keeps its
    duration: output times stop before `num_frames / src_fps`.
    Unknown (`None` or non-positive) or equal rates give every index once.
    """
    if dst_fps is None or not dst_fps > 0:
        raise ValueError(f"dst_fps must be positive, got {dst_fps}")
    if num_frames <= 0:
        return []
    if src_fps is None or not src_fps > 0 or math.isclose(src_fps, dst_fps, rel_tol=1e-6):
        return list(range(num_frames))
    ratio = src_fps / dst_fps
    count = max(1, math.ceil(num_frames / ratio - 1e-6))
    return [min(num_frames - 1, max(0, math.ceil(i * ratio - 0.5))) for i in range(count)]


def resample_fps(frames: torch.Tensor, src_fps: float | None, dst_fps: float) -> torch.Tensor:
    """Convert a clip's frame rate by picking, for each output time, the nearest source frame.

    E.g. 30 frames at 30 fps become 16 frames at 16 fps. A no-op when the rates are equal or
    `src_fps` is unknown (`None` or `<= 0`). Works on masks too (time is the first dimension).
    """
    indices = resample_indices(frames.shape[0], src_fps, dst_fps)
    if len(indices) == frames.shape[0] and indices == list(range(frames.shape[0])):
        return frames
    return frames[torch.tensor(indices, dtype=torch.long, device=frames.device)]


# ----------------------------------------------------------------------------------------------------------------------
# Conversions
# ----------------------------------------------------------------------------------------------------------------------


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """Float `0..1` tensor of any shape -> numpy `uint8` array of the same shape (clamped, rounded)."""
    return frames.detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8).cpu().numpy()


def from_uint8(array: np.ndarray) -> torch.Tensor:
    """Numpy `uint8` array of any shape -> float32 tensor in `0..1` of the same shape."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"expected a uint8 array, got {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(array)).float().div_(255.0)


# ----------------------------------------------------------------------------------------------------------------------
# Comparison images
# ----------------------------------------------------------------------------------------------------------------------


def _resize_to_height(images: torch.Tensor, height: int) -> torch.Tensor:
    """Scale channels-last images `[..., H, W, C]` to `height`, keeping the aspect ratio."""
    src_h, src_w = images.shape[-3], images.shape[-2]
    if src_h == height:
        return images
    width = max(1, round(src_w * height / src_h))
    batched = images.reshape(-1, src_h, src_w, images.shape[-1])
    return resize_frames(batched, width, height, "stretch").reshape(*images.shape[:-3], height, width, images.shape[-1])


def side_by_side(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Put `right` to the right of `left`: frames `[T, H, W, C]` or single images `[H, W, C]`.

    Widths add up. When heights differ, `right` is scaled to `left`'s height (aspect ratio kept).
    """
    if left.ndim != right.ndim or left.ndim not in (3, 4):
        shapes = f"{tuple(left.shape)} and {tuple(right.shape)}"
        raise ValueError(f"expected two [T, H, W, C] or two [H, W, C] tensors, got {shapes}")
    if left.ndim == 4 and left.shape[0] != right.shape[0]:
        raise ValueError(f"frame counts differ: {left.shape[0]} and {right.shape[0]}")
    if left.shape[-1] != right.shape[-1]:
        raise ValueError(f"channel counts differ: {left.shape[-1]} and {right.shape[-1]}")
    right = _resize_to_height(right.to(left.dtype), left.shape[-3])
    return torch.cat([left, right], dim=-2)


def grid(
    rows: Sequence[Sequence[torch.Tensor]],
    *,
    separator: int = 2,
    separator_value: float = 1.0,
) -> torch.Tensor:
    """Tile images `[H, W, C]` into one image, e.g. rows of (source, edit) for a before/after sheet.

    Each row is scaled to the height of its first image and its images are joined left to right;
    rows are stacked top to bottom. Images and rows are parted by `separator` pixels of
    `separator_value`, which also fills the right end of rows narrower than the widest.
    """
    if not rows or any(len(row) == 0 for row in rows):
        raise ValueError("grid needs at least one row, and every row at least one image")
    first = rows[0][0]
    channels, dtype, device = first.shape[-1], first.dtype, first.device

    def gap(height: int, width: int) -> torch.Tensor:
        return torch.full((height, width, channels), separator_value, dtype=dtype, device=device)

    strips = []
    for row in rows:
        height = row[0].shape[0]
        parts: list[torch.Tensor] = []
        for image in row:
            if image.ndim != 3 or image.shape[-1] != channels:
                raise ValueError(f"grid images must be [H, W, {channels}], got {tuple(image.shape)}")
            if parts:
                parts.append(gap(height, separator))
            parts.append(_resize_to_height(image.to(device=device, dtype=dtype), height))
        strips.append(torch.cat(parts, dim=1))

    total_width = max(strip.shape[1] for strip in strips)
    sheet: list[torch.Tensor] = []
    for strip in strips:
        if sheet:
            sheet.append(gap(separator, total_width))
        if strip.shape[1] < total_width:
            strip = torch.cat([strip, gap(strip.shape[0], total_width - strip.shape[1])], dim=1)
        sheet.append(strip)
    return torch.cat(sheet, dim=0)


# ----------------------------------------------------------------------------------------------------------------------
# A source and its region mask laid into one half of ReCo's canvas
# ----------------------------------------------------------------------------------------------------------------------


def fit_clip(frames: torch.Tensor, used: int, length: int, width: int, height: int, resize_mode: str) -> torch.Tensor:
    """A clip's first `used` frames [T, H, W, C] (RGB, as float) fitted to `length` frames (padded with its last
    frame) and resized to `width` x `height` by `resize_mode`: how a source becomes one half of the canvas."""
    return resize_frames(fit_length(frames[:used, ..., :3].float(), length), width, height, resize_mode)


def fit_image(image: torch.Tensor, width: int, height: int, resize_mode: str) -> torch.Tensor:
    """One image [H, W, C] or [1, H, W, C] (RGB, as float) resized like `fit_clip`'s frames: [height, width, 3]."""
    return resize_frames(image.reshape(-1, *image.shape[-3:])[:1, ..., :3].float(), width, height, resize_mode)[0]


def fit_region_mask(mask: torch.Tensor, length: int, width: int, height: int, resize_mode: str,
                    used: int | None = None) -> torch.Tensor:
    """A region mask [T or 1, H, W] of a source fitted the way `fit_clip` fits the source: one still frame for
    every frame, else its first `used` frames padded to `length`; resized, then 0/1 at 0.5 (float)."""
    mask = mask.float().reshape(-1, *mask.shape[-2:])
    mask = mask.expand(length, -1, -1) if mask.shape[0] == 1 else fit_length(mask[:used] if used else mask, length)
    return (resize_masks(mask, width, height, resize_mode) > 0.5).float()

