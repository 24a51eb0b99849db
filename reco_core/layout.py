"""The in-context layout of ReCo: every frame is a canvas [source | target], twice as wide.

- The pixel canvas holds the source on the left and the target on the right.
- The VACE context is [source | grey] with mask [0 | 1]: the model keeps what the mask hides (0) and
  generates what it shows (1), so it regenerates the right half as the edit of the left.
- In first-frame mode the edited first frame is placed in the right half of frame 0 with mask 0 there.

Frames are `[T, H, W, C]`, masks `[T, H, W]`, latents `[B, C, F, h, w]`; the width is always the
second-to-last axis for frames and the last axis for masks and latents.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from .errors import ReCoInputError

GREY = 0.5
FRAMES_WIDTH_DIM = -2
LATENT_WIDTH_DIM = -1
#: Pixels per latent pixel (spatial) in the Wan VAE; VACE packs each 8x8 mask block into 64 channels.
VAE_STRIDE = 8


def _dim_of(tensor: torch.Tensor, dim: int, name: str) -> int:
    """`dim` as a non-negative axis of `tensor`, or ValueError naming `name`."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(tensor).__name__}")
    if isinstance(dim, bool) or not isinstance(dim, int) or not -tensor.ndim <= dim < tensor.ndim:
        raise ValueError(f"dim {dim!r} is not an axis of {name} (shape {tuple(tensor.shape)})")
    return dim % tensor.ndim


def _require_ndim(tensor: torch.Tensor, ndim: int, name: str, layout: str) -> None:
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != ndim:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"{name} must be {layout}, got {shape}")


def join_halves(left: torch.Tensor, right: torch.Tensor, dim: int) -> torch.Tensor:
    """Concatenate two halves of equal shape along the width axis `dim`.

    Zero-size halves join into a zero-size canvas (nothing is lost). Halves of different shapes, or a `dim`
    that is not an axis of them, raise ValueError naming the argument.
    """
    _dim_of(left, dim, "left")
    _dim_of(right, dim, "right")
    if left.shape != right.shape:
        raise ValueError(f"halves differ in shape: left {tuple(left.shape)} vs right {tuple(right.shape)}")
    return torch.cat([left, right], dim=dim)


def split_halves(canvas: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a canvas along the width axis `dim` into (left, right) views.

    A zero-width canvas gives two zero-width halves. An odd width, or a `dim` that is not an axis of
    `canvas`, raises ValueError naming the argument.
    """
    dim = _dim_of(canvas, dim, "canvas")
    width = canvas.shape[dim]
    if width % 2:
        raise ValueError(f"canvas must have an even width, got {width}")
    left, right = canvas.split(width // 2, dim=dim) if width else (canvas, canvas)
    return left, right


def build_canvas(source: torch.Tensor, target: torch.Tensor | None = None, fill: float = GREY) -> torch.Tensor:
    """Frames [T, H, W, C] -> canvas [T, H, 2W, C] = [source | target]; a missing target is `fill` grey.

    `source` (and `target`) must be 4-D frames of one shape and `fill` a finite number the frames' dtype can
    hold; otherwise ValueError naming the argument. Zero-size frames give a zero-size canvas.
    """
    _require_ndim(source, 4, "source", "frames [T, H, W, C]")
    if target is None:
        if isinstance(fill, bool) or not isinstance(fill, numbers.Real) or not math.isfinite(fill):
            raise ValueError(f"fill must be a finite number, got {fill!r}")
        if source.is_floating_point() and abs(fill) > torch.finfo(source.dtype).max:
            raise ValueError(f"fill {fill!r} does not fit the frames' {source.dtype}; use a grey level in 0..1")
        target = torch.full_like(source, fill)
    _require_ndim(target, 4, "target", "frames [T, H, W, C]")
    return join_halves(source, target, FRAMES_WIDTH_DIM)


def split_canvas(canvas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Canvas frames [T, H, 2W, C] -> (source, target) frames; not 4-D or an odd width: ValueError naming canvas."""
    _require_ndim(canvas, 4, "canvas", "frames [T, H, 2W, C]")
    return split_halves(canvas, FRAMES_WIDTH_DIM)


def split_latent(latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Canvas latent [..., h, 2w] -> (source, target) latents (any leading axes; at least [h, 2w]).

    Fewer than 2 axes or an odd width raise ValueError naming `latent`.
    """
    if not isinstance(latent, torch.Tensor) or latent.ndim < 2:
        raise ValueError(f"latent must be [..., h, 2w], got {getattr(latent, 'shape', type(latent).__name__)}")
    try:
        return split_halves(latent, LATENT_WIDTH_DIM)
    except ValueError as error:
        raise ValueError(str(error).replace("canvas", "latent", 1)) from None


def join_latent(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Source and target latents [..., h, w] of one shape -> canvas latent [..., h, 2w] (ValueError otherwise)."""
    for name, half in (("source", source), ("target", target)):
        if not isinstance(half, torch.Tensor) or half.ndim < 2:
            raise ValueError(f"{name} must be a latent [..., h, w], got {getattr(half, 'shape', type(half).__name__)}")
    try:
        return join_halves(source, target, LATENT_WIDTH_DIM)
    except ValueError as error:
        raise ValueError(str(error).replace("left", "source").replace("right", "target")) from None


def half_mask(shape: tuple[int, ...], half: str, dtype=torch.float32, device=None) -> torch.Tensor:
    """A mask of `shape` (width last) that is 1 on one half ("source" or "target") and 0 on the other.

    `shape` must be non-negative whole numbers with an even width (last entry); a zero-size shape gives an
    empty mask. Anything else raises ValueError naming `shape` or `half`.
    """
    if half not in ("source", "target"):
        raise ValueError(f"half must be 'source' or 'target', got {half!r}")
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) == 0 or not all(
            isinstance(size, int) and not isinstance(size, bool) and size >= 0 for size in shape):
        raise ValueError(f"shape must be non-negative whole numbers with the width last, got {shape!r}")
    width = shape[-1]
    if width % 2:
        raise ValueError(f"shape must have an even width (last entry), got {tuple(shape)}")
    mask = torch.zeros(tuple(shape), dtype=dtype, device=device)
    if half == "source":
        mask[..., : width // 2] = 1
    else:
        mask[..., width // 2 :] = 1
    return mask


@dataclass
class VaceContext:
    """Pixel-space VACE inputs for one clip: control frames [T, H, 2W, C] and mask [T, H, 2W].

    The mask must cover the control frame for frame (ValueError naming the field otherwise).
    """

    control: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self):
        _require_ndim(self.control, 4, "control", "frames [T, H, 2W, C]")
        _require_ndim(self.mask, 3, "mask", "[T, H, 2W]")
        if tuple(self.mask.shape) != tuple(self.control.shape[:3]):
            raise ValueError(f"mask {tuple(self.mask.shape)} does not cover control {tuple(self.control.shape)}")

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
    A source that is not [T, H, W, C] with at least one frame and pixel raises ValueError naming `source`;
    a first frame of another size raises ReCoInputError naming `first_frame`.
    """
    _require_ndim(source, 4, "source", "frames [T, H, W, C]")
    if 0 in source.shape:
        raise ValueError(f"source must hold at least one frame and pixel, got {tuple(source.shape)}")
    control = build_canvas(source)
    frames, height, width = control.shape[:3]
    mask = half_mask((frames, height, width), "target", dtype=source.dtype, device=source.device)
    if first_frame is not None:
        if not isinstance(first_frame, torch.Tensor) or first_frame.ndim not in (3, 4) or first_frame.numel() == 0:
            raise ReCoInputError("first_frame", f"is not an image [H, W, C] (got "
                                 f"{getattr(first_frame, 'shape', type(first_frame).__name__)})",
                                 "Give one edited frame of the source's per-half size.")
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

    Without `latent_frames`, T must be 4n+1 (F = n + 1, what the VAE makes of T frames); with it, any
    T >= 1 is resampled to `latent_frames` >= 1. H and W must be positive multiples of 8. Anything else
    raises ValueError naming the argument (no latent frame is silently repeated or dropped).
    """
    _require_ndim(mask, 3, "mask", "[T, H, W]")
    frames, height, width = mask.shape
    if frames < 1 or height < 1 or width < 1:
        raise ValueError(f"mask must hold at least one frame and pixel, got {tuple(mask.shape)}")
    if height % VAE_STRIDE or width % VAE_STRIDE:
        raise ValueError(f"mask size {width}x{height} is not a multiple of {VAE_STRIDE}")
    if latent_frames is None:
        if (frames - 1) % 4:
            raise ValueError(f"mask has {frames} frames, not 4n+1: give latent_frames to resample it")
        latent_frames = (frames - 1) // 4 + 1
    elif isinstance(latent_frames, bool) or not isinstance(latent_frames, int) or latent_frames < 1:
        raise ValueError(f"latent_frames must be a whole number >= 1, got {latent_frames!r}")
    blocks = mask.reshape(frames, height // VAE_STRIDE, VAE_STRIDE, width // VAE_STRIDE, VAE_STRIDE)
    channels = blocks.permute(2, 4, 0, 1, 3).reshape(VAE_STRIDE * VAE_STRIDE, frames, height // VAE_STRIDE, -1)
    size = (latent_frames, height // VAE_STRIDE, width // VAE_STRIDE)
    return torch.nn.functional.interpolate(channels.unsqueeze(0).float(), size=size,
                                           mode="nearest-exact").squeeze(0).to(mask.dtype)


@dataclass
class VaceLatents:
    """The encoded VACE context: inactive and reactive latents [B, 16, F, h, 2w] and mask [B, 64, F, h, 2w].

    The three must agree in batch, frames, height and width (ValueError naming the field otherwise).
    """

    inactive: torch.Tensor
    reactive: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self):
        for name in ("inactive", "reactive", "mask"):
            _require_ndim(getattr(self, name), 5, name, "a latent [B, C, F, h, w]")
        grid = lambda t: (t.shape[0], *t.shape[2:])  # noqa: E731
        for name in ("reactive", "mask"):
            if grid(getattr(self, name)) != grid(self.inactive):
                raise ValueError(f"{name} {tuple(getattr(self, name).shape)} does not match inactive "
                                 f"{tuple(self.inactive.shape)} in batch, frames, height and width")

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
    dict kept by the caller for one encoder) it is encoded once per size and reused. An encoder that does
    not return a 5-D latent on the mask's grid raises ValueError naming `encode`.
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
    for latent in (inactive_latent, reactive_latent):
        if not isinstance(latent, torch.Tensor) or latent.ndim != 5:
            raise ValueError(f"encode must return a latent [B, C, F, h, w], got "
                             f"{getattr(latent, 'shape', type(latent).__name__)}")
    try:
        mask = context.mask_channels().unsqueeze(0).to(inactive_latent)
        return VaceLatents(inactive_latent, reactive_latent, mask.expand(inactive_latent.shape[0], *mask.shape[1:]))
    except ValueError as error:
        raise ValueError(f"encode returned latents that do not fit the mask's grid: {error}") from None
