"""The in-context layout of ReCo: every frame is a canvas [source | target], twice as wide.

- The pixel canvas holds the source on the left and the target on the right.
- The VACE context is [source | grey] with mask [0 | 1]: the model keeps what the mask hides (0) and
  generates what it shows (1), so it regenerates the right half as the edit of the left.
- In first-frame mode the edited first frame is placed in the right half of frame 0 with mask 0 there.

Frames are `[T, H, W, C]`, masks `[T, H, W]`, latents `[B, C, F, h, w]`; the width is always the
second-to-last axis for frames and the last axis for masks and latents.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .errors import ReCoInputError

GREY = 0.5
FRAMES_WIDTH_DIM = -2
MASK_WIDTH_DIM = -1
LATENT_WIDTH_DIM = -1
#: Pixels per latent pixel (spatial) in the Wan VAE; VACE packs each 8x8 mask block into 64 channels.
VAE_STRIDE = 8


def join_halves(left: torch.Tensor, right: torch.Tensor, dim: int) -> torch.Tensor:
    """Concatenate two halves of equal shape along the width axis `dim`."""
    if left.shape != right.shape:
        raise ValueError(f"halves differ in shape: {tuple(left.shape)} vs {tuple(right.shape)}")
    return torch.cat([left, right], dim=dim)


def split_halves(canvas: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a canvas along the width axis `dim` into (left, right) views."""
    width = canvas.shape[dim]
    if width % 2:
        raise ValueError(f"a canvas must have an even width, got {width}")
    left, right = canvas.split(width // 2, dim=dim)
    return left, right


def build_canvas(source: torch.Tensor, target: torch.Tensor | None = None, fill: float = GREY) -> torch.Tensor:
    """Frames [T, H, W, C] -> canvas [T, H, 2W, C] = [source | target]; a missing target is `fill` grey."""
    if target is None:
        target = torch.full_like(source, fill)
    return join_halves(source, target, FRAMES_WIDTH_DIM)


def split_canvas(canvas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Canvas frames [T, H, 2W, C] -> (source, target) frames."""
    return split_halves(canvas, FRAMES_WIDTH_DIM)


def split_latent(latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Canvas latent [..., h, 2w] -> (source, target) latents."""
    return split_halves(latent, LATENT_WIDTH_DIM)


def join_latent(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return join_halves(source, target, LATENT_WIDTH_DIM)


def half_mask(shape: tuple[int, ...], half: str, dtype=torch.float32, device=None) -> torch.Tensor:
    """A mask of `shape` (width last) that is 1 on one half ("source" or "target") and 0 on the other."""
    if half not in ("source", "target"):
        raise ValueError(f"half must be 'source' or 'target', got {half!r}")
    mask = torch.zeros(shape, dtype=dtype, device=device)
    width = shape[-1]
    if half == "source":
        mask[..., : width // 2] = 1
    else:
        mask[..., width // 2 :] = 1
    return mask


@dataclass
class VaceContext:
    """Pixel-space VACE inputs for one clip: control frames [T, H, 2W, C] and mask [T, H, 2W]."""

    control: torch.Tensor
    mask: torch.Tensor

    def inactive_reactive(self) -> tuple[torch.Tensor, torch.Tensor]:
        """VACE's split of the control video: what is kept (inactive) and what is regenerated (reactive).

        inactive = (control - 0.5) * (1 - mask) + 0.5 and reactive = (control - 0.5) * mask + 0.5;
        both are then VAE-encoded and concatenated into the 32 latent channels of the VACE context.
        """
        mask = self.mask.unsqueeze(-1)
        centred = self.control - GREY
        return centred * (1 - mask) + GREY, centred * mask + GREY

    def mask_channels(self) -> torch.Tensor:
        """The mask as VACE consumes it: [64, F, H/8, 2W/8] (see `vace_mask_channels`)."""
        return vace_mask_channels(self.mask)


def vace_context(source: torch.Tensor, first_frame: torch.Tensor | None = None) -> VaceContext:
    """The ReCo VACE context for source frames [T, H, W, C]: control [source | grey], mask [0 | 1].

    With `first_frame` ([H, W, C] or [1, H, W, C], the edited first frame), frame 0 of the target half
    shows that frame and is masked 0, so the model propagates the given edit through the clip.
    """
    control = build_canvas(source)
    frames, height, width = control.shape[:3]
    mask = half_mask((frames, height, width), "target", dtype=source.dtype, device=source.device)
    if first_frame is not None:
        first_frame = first_frame.reshape(-1, *first_frame.shape[-3:])[0]
        if first_frame.shape != source.shape[1:]:
            raise ReCoInputError(
                "first_frame",
                f"is {tuple(first_frame.shape)} but each source frame is {tuple(source.shape[1:])}",
                "Resize the edited first frame to the source's per-half size (the pipelines do this for you).",
            )
        control[0, :, width // 2 :] = first_frame.to(control)
        mask[0, :, width // 2 :] = 0
    return VaceContext(control=control, mask=mask)


def vace_mask_channels(mask: torch.Tensor, latent_frames: int | None = None) -> torch.Tensor:
    """Pack a pixel mask [T, H, W] into VACE's [64, F, H/8, W/8] layout.

    Each 8x8 pixel block becomes 64 channels; time is resampled to the latent frame count with
    nearest-exact interpolation. ComfyUI's WanVaceToVideo and diffusers' WanVACEPipeline both do
    exactly this, so the two front ends give the model the same mask.
    """
    frames, height, width = mask.shape
    if height % VAE_STRIDE or width % VAE_STRIDE:
        raise ValueError(f"mask size {width}x{height} is not a multiple of {VAE_STRIDE}")
    if latent_frames is None:
        latent_frames = (frames - 1) // 4 + 1
    blocks = mask.reshape(frames, height // VAE_STRIDE, VAE_STRIDE, width // VAE_STRIDE, VAE_STRIDE)
    channels = blocks.permute(2, 4, 0, 1, 3).reshape(VAE_STRIDE * VAE_STRIDE, frames, height // VAE_STRIDE, -1)
    size = (latent_frames, height // VAE_STRIDE, width // VAE_STRIDE)
    return torch.nn.functional.interpolate(channels.unsqueeze(0), size=size, mode="nearest-exact").squeeze(0)


@dataclass
class VaceLatents:
    """The encoded VACE context: inactive and reactive latents [B, 16, F, h, 2w] and mask [B, 64, F, h, 2w]."""

    inactive: torch.Tensor
    reactive: torch.Tensor
    mask: torch.Tensor

    def control(self) -> torch.Tensor:
        """The 96-channel control input of a VACE transformer: [inactive | reactive | mask]."""
        return torch.cat([self.inactive, self.reactive, self.mask.to(self.inactive)], dim=1)

    @property
    def source_latent(self) -> torch.Tensor:
        """The clean source half: the inactive video is [source | grey], encoded as one canvas."""
        return split_latent(self.inactive)[0]


def encode_vace_context(context: VaceContext, encode, grey_latents: dict | None = None) -> VaceLatents:
    """Encode a VACE context with `encode(frames [T, H, W, C]) -> latent [1, 16, F, h, w]`.

    The caller's encoder decides the latent scale (diffusers normalises, ComfyUI keeps raw latents).
    ReCo's reactive video is plain grey, the same for every clip of one size: with `grey_latents` (a
    dict kept by the caller for one encoder) it is encoded once per size and reused.
    """
    inactive, reactive = context.inactive_reactive()
    inactive_latent = encode(inactive)
    if grey_latents is not None and bool((reactive == GREY).all()):
        key = tuple(reactive.shape)
        if key not in grey_latents:
            grey_latents[key] = encode(reactive)
        reactive_latent = grey_latents[key]
    else:
        reactive_latent = encode(reactive)
    mask = context.mask_channels().unsqueeze(0).to(inactive_latent)
    return VaceLatents(inactive_latent, reactive_latent, mask)
