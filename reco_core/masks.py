"""Region masks across the three grids ReCo works on: pixels, latents and transformer tokens.

- Pixel masks are `[T, H, W]` for one half (the region lives at the same place in source and target).
- Latent masks are `[F, h, w]`: latent frame 0 covers pixel frame 0, latent frame f >= 1 covers pixel
  frames 4f-3 .. 4f; each latent pixel covers an 8x8 pixel block. A latent cell is in the region if
  any pixel it covers is ("any overlap counts").
- Token masks are flat `[N]` booleans over the token sequence of the *canvas* latent [F, h, 2w]. The
  transformer patches 1x2x2 and orders tokens frame, row, column, so each token row is
  [w/2 source tokens | w/2 target tokens]: the halves are interleaved row by row, not contiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .checks import TEMPORAL_STRIDE, is_valid_length
from .layout import VAE_STRIDE

PATCH = (1, 2, 2)


def _temporal_groups(num_frames: int) -> torch.Tensor:
    """Index of the latent frame each pixel frame falls into: [0, 1, 1, 1, 1, 2, 2, 2, 2, ...]."""
    frames = torch.arange(num_frames)
    return (frames + TEMPORAL_STRIDE - 1) // TEMPORAL_STRIDE


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def _mask_3d(mask: torch.Tensor, name: str, layout: str) -> tuple[int, int, int]:
    if not isinstance(mask, torch.Tensor) or mask.ndim != 3:
        raise ValueError(f"{name} must be {layout}, got {getattr(mask, 'shape', type(mask).__name__)}")
    if mask.numel() == 0:
        raise ValueError(f"{name} must hold at least one frame and cell, got {tuple(mask.shape)}")
    return tuple(mask.shape)


def pixel_to_latent_mask(mask: torch.Tensor, stride: int = VAE_STRIDE) -> torch.Tensor:
    """Pixel mask [T, H, W] (T = 4n+1) -> latent mask [F, H/8, W/8] in {0, 1}; any overlap counts.

    Float masks count above 0.5, other dtypes above 0. T not 4n+1, H or W not positive multiples of
    `stride`, or another number of axes raise ValueError naming the argument (no frame or row is dropped).
    """
    stride = _positive_int(stride, "stride")
    frames, height, width = _mask_3d(mask, "mask", "a pixel mask [T, H, W]")
    if not is_valid_length(frames):
        raise ValueError(f"a pixel mask needs 4n+1 frames, got {frames}")
    if height % stride or width % stride:
        raise ValueError(f"mask size {width}x{height} is not a multiple of {stride}")
    binary = (mask > 0.5).float() if mask.dtype.is_floating_point else (mask > 0).float()
    spatial = F.max_pool2d(binary.unsqueeze(1), kernel_size=stride).squeeze(1)  # [T, h, w]
    later = spatial[1:].reshape(-1, TEMPORAL_STRIDE, *spatial.shape[1:]).amax(dim=1)
    return torch.cat([spatial[:1], later])


def latent_to_pixel_mask(latent_mask: torch.Tensor, num_frames: int, stride: int = VAE_STRIDE) -> torch.Tensor:
    """Latent mask [F, h, w, ...] -> pixel mask [T, h*8, w*8, ...], each latent cell painted over what it covers.

    Pixel frame t comes from latent frame (t + 3) // 4. `num_frames` may be fewer than the 4(F-1)+1 the latent
    covers (a clip trimmed after sampling: the later latent frames are left out) but never more: a latent with
    too few frames raises ValueError naming `num_frames` instead of repeating its last frame. Trailing axes
    (colour channels) are carried along.
    """
    num_frames, stride = _positive_int(num_frames, "num_frames"), _positive_int(stride, "stride")
    if not isinstance(latent_mask, torch.Tensor) or latent_mask.ndim < 3 or latent_mask.numel() == 0:
        raise ValueError(f"latent_mask must be [F, h, w] with at least one cell, got "
                         f"{getattr(latent_mask, 'shape', type(latent_mask).__name__)}")
    groups = _temporal_groups(num_frames)
    needed = int(groups[-1]) + 1
    if needed > latent_mask.shape[0]:
        raise ValueError(f"num_frames {num_frames} needs {needed} latent frames, latent_mask has {latent_mask.shape[0]}")
    per_frame = latent_mask.float()[groups]
    return per_frame.repeat_interleave(stride, dim=1).repeat_interleave(stride, dim=2)


def _patch(patch) -> tuple[int, int, int]:
    if not isinstance(patch, (tuple, list)) or len(patch) != 3:
        raise ValueError(f"patch must be three whole numbers (t, h, w), got {patch!r}")
    return tuple(_positive_int(size, "patch") for size in patch)


def latent_to_token_grid(latent_mask: torch.Tensor, patch: tuple[int, int, int] = PATCH) -> torch.Tensor:
    """Latent mask [F, h, w] -> token-grid mask [F, h/2, w/2]; a token is in if any latent cell in it is.

    F, h and w must be multiples of the patch (1, 2, 2): an odd latent size would drop its last row or column
    of cells (and the region in them), so it raises ValueError naming `latent_mask`.
    """
    pt, ph, pw = _patch(patch)
    frames, height, width = _mask_3d(latent_mask, "latent_mask", "a latent mask [F, h, w]")
    if frames % pt or height % ph or width % pw:
        raise ValueError(f"latent_mask {frames}x{height}x{width} (F x h x w) is not a multiple of the patch "
                         f"{pt}x{ph}x{pw}: its last cells would be dropped")
    pooled = F.max_pool3d(latent_mask.float()[None, None], kernel_size=(pt, ph, pw))
    return pooled[0, 0]


@dataclass
class CanvasTokens:
    """Flat boolean masks over the canvas token sequence [F * h/2 * w] (w = per-half latent width)."""

    source_region: torch.Tensor
    target_region: torch.Tensor
    source_half: torch.Tensor
    target_half: torch.Tensor

    @property
    def num_tokens(self) -> int:
        return self.source_half.numel()


def canvas_tokens(half_latent_mask: torch.Tensor, patch: tuple[int, int, int] = PATCH) -> CanvasTokens:
    """Token masks of the canvas for a region given on one half's latent grid [F, h, w].

    The region sits at the same place in the source and target halves; the returned masks follow the
    transformer's token order (frame, row, column over the full canvas width). A grid that does not divide
    into whole tokens raises ValueError naming `latent_mask` (see `latent_to_token_grid`).
    """
    grid = latent_to_token_grid(half_latent_mask, patch) > 0  # [F, hp, wp]
    empty = torch.zeros_like(grid)
    full = torch.ones_like(grid)

    def flat(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return torch.cat([left, right], dim=-1).flatten()

    return CanvasTokens(
        source_region=flat(grid, empty),
        target_region=flat(empty, grid),
        source_half=flat(full, empty),
        target_half=flat(empty, full),
    )


def pixel_to_canvas_tokens(pixel_mask: torch.Tensor) -> CanvasTokens:
    """Pixel mask of one half [T, H, W] -> token masks of the canvas.

    T must be 4n+1 and H, W multiples of 16 (whole tokens); otherwise ValueError naming `pixel_mask`.
    """
    frames, height, width = _mask_3d(pixel_mask, "pixel_mask", "a pixel mask [T, H, W]")
    if not is_valid_length(frames) or height % (2 * VAE_STRIDE) or width % (2 * VAE_STRIDE):
        raise ValueError(f"pixel_mask must be 4n+1 frames of multiples of 16 pixels, got {frames}x{height}x{width}")
    return canvas_tokens(pixel_to_latent_mask(pixel_mask))


def token_mask_to_latent(tokens: torch.Tensor, latent_frames: int, latent_height: int, canvas_latent_width: int,
                         patch: tuple[int, int, int] = PATCH) -> torch.Tensor:
    """Inverse view of a flat canvas token mask: [N] -> latent-grid mask [F, h, 2w] (nearest).

    The grid sizes must be positive multiples of the patch and `tokens` must hold exactly one entry per token;
    otherwise ValueError naming the argument.
    """
    pt, ph, pw = _patch(patch)
    sizes = {"latent_frames": (latent_frames, pt), "latent_height": (latent_height, ph),
             "canvas_latent_width": (canvas_latent_width, pw)}
    for name, (size, step) in sizes.items():
        if _positive_int(size, name) % step:
            raise ValueError(f"{name} {size} is not a multiple of the patch ({step})")
    count = (latent_frames // pt) * (latent_height // ph) * (canvas_latent_width // pw)
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 1 or tokens.numel() != count:
        raise ValueError(f"tokens must be a flat mask of {count} tokens, got "
                         f"{getattr(tokens, 'shape', type(tokens).__name__)}")
    grid = tokens.reshape(latent_frames // pt, latent_height // ph, canvas_latent_width // pw).float()
    return grid.repeat_interleave(pt, 0).repeat_interleave(ph, 1).repeat_interleave(pw, 2)
