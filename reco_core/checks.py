"""Input checks shared by every front end.

Each check raises `ReCoInputError` naming the input, what is wrong and the nearest valid values, so
the same message reaches a CLI user, a ComfyUI user and a Python caller before any heavy work.
`ReCoInputError` is a `ValueError`: the arithmetic helpers raise a plain `ValueError` naming the argument
when they are handed something outside their contract.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

from .errors import ReCoInputError

#: Per-half width and height must fill whole transformer tokens: the VAE downsamples by 8 and the
#: transformer patches 2x2 latent pixels, and a token must never straddle the source/target seam.
SIZE_MULTIPLE = 16
#: The largest per-half side: Wan runs at 480p and 720p; beyond 4096 a single clip needs far more memory
#: than any GPU has, so a typo like 100000x16 is refused before anything is allocated.
MAX_SIDE = 4096
#: The longest clip the model samples (4n+1). Wan is trained on 81 frames; 1025 is already far beyond memory.
MAX_LENGTH = 1025
#: The Wan VAE keeps the first frame and compresses every following 4 frames into one latent frame.
TEMPORAL_STRIDE = 4


def is_whole_number(value) -> bool:
    """True for an int, or a finite float without a fraction (bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(value) and int(value) == value


def is_number(value) -> bool:
    """True for a finite int or float (bool, NaN and infinities are not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value, name: str, minimum: int | None = None) -> int:
    """`value` as an int, or ValueError naming `name` (for the arithmetic helpers' own arguments)."""
    if not is_whole_number(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def nearest_multiples(value: int, multiple: int) -> tuple[int, int]:
    """The multiples of `multiple` just below and just above `value` (the lower one at least `multiple`).

    A `value` below `multiple` (zero and negatives included) gives `(multiple, multiple)`.
    """
    value, multiple = _whole(value, "value"), _whole(multiple, "multiple", minimum=1)
    lower = max(multiple, value // multiple * multiple)
    upper = max(multiple, -(-value // multiple) * multiple)
    return lower, upper


def is_valid_length(length: int) -> bool:
    """True for whole numbers of the form 4n+1 (1, 5, 9, ...); False for anything else, never an error."""
    return is_whole_number(length) and length >= 1 and (int(length) - 1) % TEMPORAL_STRIDE == 0


def largest_valid_length(num_frames: int) -> int:
    """The longest 4n+1 length that fits in `num_frames` frames (`num_frames` >= 1)."""
    num_frames = _whole(num_frames, "num_frames", minimum=1)
    return (num_frames - 1) // TEMPORAL_STRIDE * TEMPORAL_STRIDE + 1


def nearest_valid_lengths(length: int) -> tuple[int, int]:
    """The 4n+1 lengths just below and just above `length` (`length` >= 1; equal when it is one)."""
    length = _whole(length, "length", minimum=1)
    lower = largest_valid_length(length)
    upper = lower if lower >= length else lower + TEMPORAL_STRIDE
    return lower, upper


def latent_frames(length: int) -> int:
    """Number of latent frames the Wan VAE makes from `length` pixel frames (4n+1 -> n+1).

    Only 4n+1 lengths map to whole latent frames; any other length raises ValueError naming `length`.
    """
    if not is_valid_length(length):
        raise ValueError(f"length must be 4n+1 frames (1, 5, 9, ...), got {length!r}")
    return (int(length) - 1) // TEMPORAL_STRIDE + 1


def _not_a_number(name: str, value) -> ReCoInputError:
    return ReCoInputError(name, f"{value!r} is not a finite number", "Give a plain number.")


def check_half_size(width: int, height: int, *, width_name: str = "width", height_name: str = "height") -> None:
    """Per-half width and height must be multiples of 16 between 16 and `MAX_SIDE`."""
    for name, value in ((width_name, width), (height_name, height)):
        if not is_number(value):
            raise _not_a_number(name, value)
        if value > MAX_SIDE:
            raise ReCoInputError(name, f"{value} is larger than {MAX_SIDE} (each half of the canvas at that size "
                                 f"would not fit in memory)", f"Use at most {MAX_SIDE}; Wan runs at 832x480 or 1280x720.")
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
    """The clip length must be 4n+1 frames (1, 5, 9, ..., 81), at most `MAX_LENGTH`."""
    if not is_number(length):
        raise _not_a_number(name, length)
    if length > MAX_LENGTH:
        raise ReCoInputError(name, f"{length} frames is more than {MAX_LENGTH}",
                             f"Use at most {MAX_LENGTH} (Wan samples 81 frames; longer clips do not fit in memory).")
    if not is_valid_length(length):
        lower, upper = nearest_valid_lengths(max(1, int(length)))
        choices = f"{lower}" if lower == upper else f"{lower} or {upper}"
        raise ReCoInputError(
            name,
            f"{length} frames is not of the form 4n+1 (the Wan VAE keeps the first frame and packs every "
            f"following 4 frames into one latent frame)",
            f"Use {choices}.",
        )


def check_source_frames(num_frames: int, length: int, *, name: str = "source", length_name: str = "length") -> None:
    """The source clip must hold at least `length` frames (a valid 4n+1 length, checked too)."""
    check_length(length, name=length_name)
    if not is_whole_number(num_frames) or num_frames < 1:
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
    """A mask [T, H, W] must match the source frames [T, H, W, C] in size; T may also be 1 (a still mask).

    `source_shape` must hold at least [T, H, W] (ValueError naming it otherwise); an empty mask is refused.
    """
    if len(source_shape) < 3:
        raise ValueError(f"source_shape must be [frames, height, width, ...], got {tuple(source_shape)}")
    if len(mask_shape) != 3:
        raise ReCoInputError(
            name, f"has shape {tuple(mask_shape)}, expected [frames, height, width]", "Give one mask per frame."
        )
    mask_t, mask_h, mask_w = mask_shape
    src_t, src_h, src_w = source_shape[:3]
    if mask_t < 1:
        raise ReCoInputError(name, "has no frames", f"Give one mask frame per {source_name} frame, or a single still mask.")
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
    """`low <= value <= high`; NaN, infinities and non-numbers are refused naming `name`."""
    if not (is_number(low) and is_number(high)) or low > high:
        raise ValueError(f"low..high must be a range of numbers, got {low!r}..{high!r}")
    if not is_number(value):
        raise _not_a_number(name, value)
    if not low <= value <= high:
        raise ReCoInputError(name, f"{value} is outside {low}..{high}", f"Use a value between {low} and {high}.")


def check_finite(value: float, *, name: str) -> None:
    """A finite number (not NaN, not infinite, not a string or bool)."""
    if not is_number(value):
        raise _not_a_number(name, value)


def check_positive_int(value: int, *, name: str, maximum: int | None = None) -> None:
    """A whole number >= 1 (and <= `maximum` when given)."""
    if not is_whole_number(value) or value < 1:
        raise ReCoInputError(name, f"{value!r} is not a positive whole number", "Use 1 or more.")
    if maximum is not None and value > maximum:
        raise ReCoInputError(name, f"{value} is more than {maximum}", f"Use at most {maximum}.")
