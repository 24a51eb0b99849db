"""An edit made at the model's size, put back at the source's size with the source's own pixels kept.

A model edits at its own per-half size, so a source of another size is resized first
(`frames.resize_frames`). `restore_edit` maps the edit back over the part of the source the model saw:

- where the model changed little (under CHANGE_LOW per channel), the change is added to the source's
  own pixels, so the background comes back with all its detail instead of a blurred round trip;
- where it changed a lot (over CHANGE_HIGH), the scaled-up edit replaces the source, so nothing of a
  removed or replaced object shows through; in between the two are blended.

Parts a crop left out are the source's, unedited.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .frames import RESIZE_MODES, _center_crop_box, _letterbox_box, resize_frames

OUTPUT_SIZES = ("model", "source")
#: Per-channel change (0..1) under which the source's detail is kept, and over which the edit replaces it.
CHANGE_LOW, CHANGE_HIGH = 0.05, 0.15


@dataclass(frozen=True)
class SizePlan:
    """The source's size, the size the model edits at, and how the one was fitted to the other."""

    source_width: int
    source_height: int
    width: int
    height: int
    mode: str

    @property
    def resized(self) -> bool:
        return (self.source_width, self.source_height) != (self.width, self.height)

    def note(self, output_size: str = "model", source_name: str = "source") -> str | None:
        """One sentence on the resizing (None when the source already has the model's size)."""
        if not self.resized:
            return None
        how = {"crop": "centre-cropped and scaled", "pad": "scaled and letterboxed", "stretch": "stretched",
               "nearest": "stretched (nearest)"}[self.mode]
        said = (f"{source_name} is {self.source_width}x{self.source_height}: {how} to {self.width}x{self.height}, "
                f"the size the model edits at")
        if output_size == "source":
            return said + (f"; the edit is scaled back to {self.source_width}x{self.source_height} over the source's "
                           "own pixels, so unedited parts keep their detail.")
        return said + f"; the edit is {self.width}x{self.height}."


def plan_size(source_width: int, source_height: int, width: int, height: int, mode: str = "crop") -> SizePlan:
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    return SizePlan(int(source_width), int(source_height), int(width), int(height), mode)


def _scale(values: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Bilinear resize of signed values [T, H, W, C] (no clamping: a difference can be negative)."""
    if values.shape[1:3] == (height, width):
        return values
    scaled = F.interpolate(values.permute(0, 3, 1, 2).float(), size=(height, width), mode="bilinear",
                           align_corners=False)
    return scaled.permute(0, 2, 3, 1)


def restore_edit(edit: torch.Tensor, source: torch.Tensor, mode: str = "crop") -> torch.Tensor:
    """The edit [T, h, w, C] (made on `resize_frames(source, w, h, mode)`) at the source's size [T, H, W, C].

    `source` may have more frames than the edit; its first T frames are used. Values stay in 0..1.
    """
    if edit.ndim != 4 or source.ndim != 4 or edit.shape[-1] != source.shape[-1]:
        raise ValueError(f"edit {tuple(edit.shape)} and source {tuple(source.shape)} must both be [T, H, W, C]")
    frames, height, width = edit.shape[:3]
    if source.shape[0] < frames:
        raise ValueError(f"the source has {source.shape[0]} frames, fewer than the edit's {frames}")
    source = source[:frames].float()
    src_h, src_w = source.shape[1:3]
    if (src_h, src_w) == (height, width):
        return edit.float()
    edit = edit.float()
    change = edit - resize_frames(source, width, height, mode)
    replaced = _replaced_share(change)
    restored = source.clone()
    if mode == "crop":
        x, y, w, h = _center_crop_box(src_w, src_h, width, height)
        restored[:, y : y + h, x : x + w] = _blend(restored[:, y : y + h, x : x + w], edit, change, replaced)
    elif mode == "pad":
        x, y, w, h = _letterbox_box(src_w, src_h, width, height)
        window = (slice(None), slice(y, y + h), slice(x, x + w))
        restored = _blend(restored, edit[window], change[window], replaced[window])
    else:
        restored = _blend(restored, edit, change, replaced)
    return restored.clamp_(0.0, 1.0)


def _replaced_share(change: torch.Tensor) -> torch.Tensor:
    """[T, h, w, 1]: 0 where the source's detail is kept, 1 where the edit replaces it (grown by a pixel so
    the scaled-up edges of an edit are covered too)."""
    magnitude = change.abs().amax(dim=-1, keepdim=True)
    share = ((magnitude - CHANGE_LOW) / (CHANGE_HIGH - CHANGE_LOW)).clamp(0.0, 1.0)
    return F.max_pool2d(share.permute(0, 3, 1, 2), 3, stride=1, padding=1).permute(0, 2, 3, 1)


def _blend(source: torch.Tensor, edit: torch.Tensor, change: torch.Tensor, replaced: torch.Tensor) -> torch.Tensor:
    """Source pixels plus the scaled change, or the scaled edit itself, as `replaced` says (all at the source's size)."""
    height, width = source.shape[1:3]
    share = _scale(replaced, width, height).clamp(0.0, 1.0)
    return (1 - share) * (source + _scale(change, width, height)) + share * _scale(edit, width, height)


def restore_mask(mask: torch.Tensor, source_width: int, source_height: int, mode: str = "crop") -> torch.Tensor:
    """A mask [T, h, w] on the model's frame, placed on the source's frame [T, H, W] (0 outside a crop window)."""
    values = mask.float().unsqueeze(-1)
    height, width = mask.shape[1:]
    if mode == "crop":
        x, y, w, h = _center_crop_box(source_width, source_height, width, height)
        out = torch.zeros(mask.shape[0], source_height, source_width, 1)
        out[:, y : y + h, x : x + w] = _scale(values, w, h)
    elif mode == "pad":
        x, y, w, h = _letterbox_box(source_width, source_height, width, height)
        out = _scale(values[:, y : y + h, x : x + w], source_width, source_height)
    else:
        out = _scale(values, source_width, source_height)
    return (out[..., 0] > 0.5).float()
