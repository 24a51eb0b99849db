"""Input checks shared by every front end.

Each check raises `ReCoInputError` naming the input, what is wrong and the nearest valid values, so
the same message reaches a CLI user, a ComfyUI user and a Python caller before any heavy work.
"""

from __future__ import annotations

from typing import Sequence

from .errors import ReCoInputError

#: Per-half width and height must fill whole transformer tokens: the VAE downsamples by 8 and the
#: transformer patches 2x2 latent pixels, and a token must never straddle the source/target seam.
SIZE_MULTIPLE = 16
#: The Wan VAE keeps the first frame and compresses every following 4 frames into one latent frame.
TEMPORAL_STRIDE = 4


def nearest_multiples(value: int, multiple: int) -> tuple[int, int]:
    """The multiples of `multiple` just below and just above `value` (the lower one at least `multiple`)."""
    lower = max(multiple, value // multiple * multiple)
    upper = max(multiple, -(-value // multiple) * multiple)
    return lower, upper


def is_valid_length(length: int) -> bool:
    return length >= 1 and (length - 1) % TEMPORAL_STRIDE == 0


def largest_valid_length(num_frames: int) -> int:
    """The longest 4n+1 length that fits in `num_frames` frames (at least 1)."""
    return max(1, (num_frames - 1) // TEMPORAL_STRIDE * TEMPORAL_STRIDE + 1)


def nearest_valid_lengths(length: int) -> tuple[int, int]:
    """The 4n+1 lengths just below and just above `length`."""
    lower = largest_valid_length(length)
    upper = lower if lower >= length else lower + TEMPORAL_STRIDE
    return lower, upper


def latent_frames(length: int) -> int:
    """Number of latent frames the Wan VAE makes from `length` pixel frames (4n+1 -> n+1)."""
    return (length - 1) // TEMPORAL_STRIDE + 1


def check_half_size(width: int, height: int, *, width_name: str = "width", height_name: str = "height") -> None:
    """Per-half width and height must be positive multiples of 16."""
    for name, value in ((width_name, width), (height_name, height)):
        if int(value) != value or value < SIZE_MULTIPLE or value % SIZE_MULTIPLE:
            lower, upper = nearest_multiples(int(value), SIZE_MULTIPLE)
            choices = f"{lower}" if lower == upper else f"{lower} or {upper}"
            raise ReCoInputError(
                name,
                f"{value} is not a multiple of {SIZE_MULTIPLE} (each half must fill whole 16-pixel tokens: "
                f"the VAE downsamples by 8 and the transformer patches 2x2)",
                f"Use {choices}.",
            )


def check_length(length: int, *, name: str = "length") -> None:
    """The clip length must be 4n+1 frames (1, 5, 9, ..., 81)."""
    if int(length) != length or not is_valid_length(int(length)):
        lower, upper = nearest_valid_lengths(max(1, int(length)))
        choices = f"{lower}" if lower == upper else f"{lower} or {upper}"
        raise ReCoInputError(
            name,
            f"{length} frames is not of the form 4n+1 (the Wan VAE keeps the first frame and packs every "
            f"following 4 frames into one latent frame)",
            f"Use {choices}.",
        )


def check_source_frames(num_frames: int, length: int, *, name: str = "source", length_name: str = "length") -> None:
    """The source clip must hold at least `length` frames."""
    if num_frames < 1:
        raise ReCoInputError(name, "has no frames", "Give a video or image sequence with at least one frame.")
    if num_frames < length:
        fits = largest_valid_length(num_frames)
        raise ReCoInputError(
            name,
            f"has {num_frames} frames but {length_name} is {length}",
            f"Set {length_name} to {fits} (the longest 4n+1 length that fits) or give a longer clip.",
        )


def check_mask_matches(
    mask_shape: Sequence[int], source_shape: Sequence[int], *, name: str = "mask", source_name: str = "source"
) -> None:
    """A mask [T, H, W] must match the source frames [T, H, W, C] in size; T may also be 1 (a still mask)."""
    if len(mask_shape) != 3:
        raise ReCoInputError(
            name, f"has shape {tuple(mask_shape)}, expected [frames, height, width]", "Give one mask per frame."
        )
    mask_t, mask_h, mask_w = mask_shape
    src_t, src_h, src_w = source_shape[:3]
    if (mask_h, mask_w) != (src_h, src_w):
        raise ReCoInputError(
            name,
            f"is {mask_w}x{mask_h} but {source_name} is {src_w}x{src_h}",
            f"Give a mask of the {source_name}'s size ({src_w}x{src_h}); it is resized together with the "
            f"{source_name}.",
        )
    if mask_t not in (1, src_t):
        raise ReCoInputError(
            name,
            f"has {mask_t} frames but {source_name} has {src_t}",
            f"Give one mask frame per {source_name} frame, or a single still mask.",
        )


def check_range(value: float, low: float, high: float, *, name: str) -> None:
    if not low <= value <= high:
        raise ReCoInputError(name, f"{value} is outside {low}..{high}", f"Use a value between {low} and {high}.")


def check_positive_int(value: int, *, name: str) -> None:
    if int(value) != value or value < 1:
        raise ReCoInputError(name, f"{value} is not a positive whole number", "Use 1 or more.")
