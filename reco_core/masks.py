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


def pixel_to_latent_mask(mask: torch.Tensor, stride: int = VAE_STRIDE) -> torch.Tensor:
    """Pixel mask [T, H, W] (T = 4n+1) -> latent mask [F, H/8, W/8] in {0, 1}; any overlap counts."""
    frames, height, width = mask.shape
    if not is_valid_length(frames):
        raise ValueError(f"a pixel mask needs 4n+1 frames, got {frames}")
    if height % stride or width % stride:
        raise ValueError(f"mask size {width}x{height} is not a multiple of {stride}")
    binary = (mask > 0.5).float() if mask.dtype.is_floating_point else (mask > 0).float()
    spatial = F.max_pool2d(binary.unsqueeze(1), kernel_size=stride).squeeze(1)  # [T, h, w]
    later = spatial[1:].reshape(-1, TEMPORAL_STRIDE, *spatial.shape[1:]).amax(dim=1)
    return torch.cat([spatial[:1], later])


def latent_to_pixel_mask(latent_mask: torch.Tensor, num_frames: int, stride: int = VAE_STRIDE) -> torch.Tensor:
    """Latent mask [F, h, w] -> pixel mask [T, h*8, w*8], each latent cell painted over what it covers."""
    groups = _temporal_groups(num_frames).clamp(max=latent_mask.shape[0] - 1)
    per_frame = latent_mask.float()[groups]
    return per_frame.repeat_interleave(stride, dim=1).repeat_interleave(stride, dim=2)


def latent_to_token_grid(latent_mask: torch.Tensor, patch: tuple[int, int, int] = PATCH) -> torch.Tensor:
    """Latent mask [F, h, w] -> token-grid mask [F, h/2, w/2]; a token is in if any latent cell in it is."""
    pt, ph, pw = patch
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
    transformer's token order (frame, row, column over the full canvas width).
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
    """Pixel mask of one half [T, H, W] -> token masks of the canvas."""
    return canvas_tokens(pixel_to_latent_mask(pixel_mask))


def token_mask_to_latent(tokens: torch.Tensor, latent_frames: int, latent_height: int, canvas_latent_width: int,
                         patch: tuple[int, int, int] = PATCH) -> torch.Tensor:
    """Inverse view of a flat canvas token mask: [N] -> latent-grid mask [F, h, 2w] (nearest)."""
    pt, ph, pw = patch
    grid = tokens.reshape(latent_frames // pt, latent_height // ph, canvas_latent_width // pw).float()
    return grid.repeat_interleave(pt, 0).repeat_interleave(ph, 1).repeat_interleave(pw, 2)
