"""What reading and writing share: the frame-rate default, the suffixes, the Video types, and ffmpeg's process flags."""

from __future__ import annotations

import math
import numbers
import subprocess
import sys
from dataclasses import dataclass

import torch

DEFAULT_FPS = 16.0
"""Frame rate given to inputs that carry none (image folders, single images): Wan2.1's native rate."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".gif")
"""Usual video suffixes, e.g. for a file picker. `read_video` hands any non-image file to ffmpeg."""
H264_SUFFIXES = (".mp4", ".mov", ".mkv")
FRAME_PATTERN = "frame_{:05d}.png"

_ACCEPTED_INPUTS = (
    "Give a video file (.mp4, .mov, .webm, .mkv, .gif), a folder of .png/.jpg/.webp frames, or a single image"
)
_ACCEPTED_OUTPUTS = "Use a path ending in .mp4, .mov, .mkv, .webm or .gif, or a folder (ending in /) for PNG frames"

@dataclass
class Video:
    """Decoded frames `[T, H, W, C]` (float, `0..1`; masks `[T, H, W]`) and the rate to play them at."""

    frames: torch.Tensor
    fps: float

    @property
    def num_frames(self) -> int:
        return self.frames.shape[0]

    @property
    def height(self) -> int:
        return self.frames.shape[1]

    @property
    def width(self) -> int:
        return self.frames.shape[2]


@dataclass(frozen=True)
class VideoInfo:
    """What `probe_video` learns about an input without decoding it into memory."""

    num_frames: int
    fps: float
    width: int
    height: int
    #: A sentence when the file looks cut short but most of it decodes (the frames that decode are used).
    damage: str | None = None


def _positive_fps(fps: float | None, fallback: float) -> float:
    if fps is None:
        return fallback
    if isinstance(fps, bool) or not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _popen_kwargs() -> dict:
    # No console window flashing up for every ffmpeg call on Windows.
    return {"creationflags": subprocess.CREATE_NO_WINDOW} if sys.platform == "win32" else {}
