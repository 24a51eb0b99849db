"""Writing frames `[T, H, W, C]` in `0..1` as video files, PNG folders and images, atomically (ffmpeg, Pillow)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import imageio_ffmpeg
import numpy as np
import torch
from PIL import Image

from ..errors import ReCoInputError
from ..frames import to_uint8
from ..fsutil import atomic_path, give_default_mode, make_temp_dir, recover_folder, replace_folder
from .common import _ACCEPTED_OUTPUTS, DEFAULT_FPS, FRAME_PATTERN, H264_SUFFIXES, _popen_kwargs, _positive_fps

#: BT.709 with limited range, converted and tagged explicitly: untagged H.264 is shown with BT.601 or BT.709
#: colours depending on the player and the frame size, which shifts hues.
BT709_FILTER = ("scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
                "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")
_H264_ARGS = ["-c:v", "libx264", "-preset", "medium", "-crf", "18", "-vf", BT709_FILTER]
_WEBM_ARGS = ["-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4",
              "-vf", BT709_FILTER]
# One palette for the whole clip, built from the clip itself: far fewer banding artefacts than a fixed palette.
_GIF_ARGS = ["-vf", "split[a][b];[a]palettegen[palette];[b][palette]paletteuse", "-loop", "0"]


# ----------------------------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------------------------


def _is_folder_target(path: str | os.PathLike) -> bool:
    raw = os.fspath(path)
    resolved = Path(raw).expanduser()
    return raw.endswith(("/", os.sep)) or resolved.is_dir() or resolved.suffix == ""


def _fps_fraction(fps: float) -> Fraction:
    """Exact rational rate; NTSC-style rates like 29.97 become 30000/1001."""
    ntsc = Fraction(round(fps * 1.001) * 1000, 1001)
    if abs(float(ntsc) - fps) < 0.005 and round(fps) != fps:
        return ntsc
    return Fraction(fps).limit_denominator(1000)


def _check_frames(frames: torch.Tensor, name: str = "frames") -> None:
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4) or frames.shape[0] == 0:
        raise ValueError(f"{name} must be [T, H, W, C] with T >= 1 and C in (1, 3, 4), got {tuple(frames.shape)}")


_CONVERT_CHUNK = 8


def _iter_uint8_frames(frames: torch.Tensor) -> Iterator[np.ndarray]:
    """Frames one by one as `uint8 [H, W, C]`, alpha dropped; converted a few at a time, which bounds memory and
    is much faster than frame by frame on a strided view (one half of a canvas)."""
    for start in range(0, frames.shape[0], _CONVERT_CHUNK):
        yield from to_uint8(frames[start:start + _CONVERT_CHUNK, ..., :3])


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Repeat the last column/row once where width/height is odd: yuv420p stores chroma per 2x2 block."""
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def encode_video_file(path: Path, frames: torch.Tensor, fps: float, codec_args: list[str], even_size: bool = True) -> None:
    """Pipe frames [T, H, W, C] (0..1) into ffmpeg writing `path` with `codec_args` (codec, filters, format), not
    atomically (callers write a temporary); raise with ffmpeg's message if it fails, kill it if we fail."""
    height, width, channels = frames.shape[1], frames.shape[2], min(frames.shape[3], 3)
    if even_size:
        width, height = width + width % 2, height + height % 2
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-f", "rawvideo"]
    command += ["-pix_fmt", "rgb24" if channels == 3 else "gray", "-s", f"{width}x{height}"]
    command += ["-r", str(_fps_fraction(fps)), "-i", "-", "-an", *codec_args, str(path)]
    pipe_to_ffmpeg(command, ((_pad_to_even(frame) if even_size else frame).tobytes()
                             for frame in _iter_uint8_frames(frames)), str(path))


def pipe_to_ffmpeg(command: list[str], chunks: Iterable[bytes], what: str) -> None:
    """Run ffmpeg `command` reading raw frames from stdin, fed with `chunks`; raise with ffmpeg's own message
    (naming `what`) if it fails, and kill it if we fail (or are cancelled) while feeding it."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log,
                                   **_popen_kwargs())
        try:
            for chunk in chunks:
                process.stdin.write(chunk)
            process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg quit early; its exit code and log below say why
        except BaseException:
            process.kill()
            raise
        finally:
            with contextlib.suppress(OSError):
                process.stdin.close()
            return_code = process.wait()
        if return_code != 0:
            log.seek(0)
            raise RuntimeError(f"ffmpeg failed to write {what}: {log.read().decode(errors='replace').strip()}")


def _save_png(path: Path, frame: np.ndarray) -> None:
    image = Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)
    image.save(path, format="PNG", compress_level=4)


def _foreign_entries(folder: Path) -> list[str]:
    """What stops us replacing `folder`: anything but a `frame_#####.png` sequence written by this module."""
    if not folder.exists():
        return []
    if not folder.is_dir():
        return [folder.name]
    return sorted(entry.name for entry in folder.iterdir() if not re.fullmatch(r"frame_\d+\.png", entry.name))


def _write_png_folder(folder: Path, frames: torch.Tensor) -> None:
    """Write the sequence into a hidden temporary folder, then swap it in, so readers never see half of it."""
    recover_folder(folder)  # a writer killed mid-swap left the old frames aside: put them back first
    foreign = _foreign_entries(folder)
    if foreign:
        raise ReCoInputError(
            "path",
            f"{folder} already exists and holds other files than a frame_#####.png sequence ({', '.join(foreign[:3])})",
            f"Write to a new or empty folder. {_ACCEPTED_OUTPUTS}",
        )
    staging = make_temp_dir(folder.parent, folder.name, suffix=".tmp")
    try:
        for index, frame in enumerate(_iter_uint8_frames(frames)):
            _save_png(staging / FRAME_PATTERN.format(index), frame)
        give_default_mode(staging)
        replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_video(path: str | os.PathLike, frames: torch.Tensor, fps: float = DEFAULT_FPS) -> Path:
    """Write frames `[T, H, W, C]` (`0..1`) atomically; the format follows the path. Returns the path written.

    - `.mp4`, `.mov`, `.mkv`: H.264, yuv420p, CRF 18, BT.709; `.mp4`/`.mov` with `+faststart` for
      streaming. yuv420p needs an even width and height, so an odd size gains one replicated pixel
      column/row on the right/bottom (a 833x481 clip is stored as 834x482).
    - `.webm`: VP9, yuv420p (same padding).
    - `.gif`: one palette for the clip; GIF stores delays in 1/100 s, so e.g. 16 fps plays at ~16.7 fps.
    - A folder (existing, ending in `/`, or a path without suffix): `frame_00000.png`, ... An existing
      folder is replaced only if it is empty or holds such a sequence.
    A fourth (alpha) channel is dropped; one channel is written as grey.
    """
    _check_frames(frames)
    fps = _positive_fps(fps, DEFAULT_FPS)
    if _is_folder_target(path):
        folder = Path(path).expanduser()
        _write_png_folder(folder, frames)
        return folder

    target = Path(path).expanduser()
    suffix = target.suffix.lower()
    if suffix in H264_SUFFIXES:
        codec_args = _H264_ARGS + (["-movflags", "+faststart"] if suffix in (".mp4", ".mov") else [])
    elif suffix == ".webm":
        codec_args = list(_WEBM_ARGS)
    elif suffix == ".gif":
        codec_args = list(_GIF_ARGS)
    else:
        problem = f"cannot write a video to {target}: unknown suffix {target.suffix!r}"
        raise ReCoInputError("path", problem, _ACCEPTED_OUTPUTS)
    with atomic_path(target) as tmp:
        encode_video_file(tmp, frames, fps, codec_args, even_size=suffix != ".gif")
    return target


def write_mask_video(path: str | os.PathLike, masks: torch.Tensor, fps: float = DEFAULT_FPS) -> Path:
    """Write masks `[T, H, W]` (`0..1`) as a grey video or grey PNG frames; see `write_video` for formats."""
    if masks.ndim != 3:
        raise ValueError(f"masks must be [T, H, W], got shape {tuple(masks.shape)}")
    return write_video(path, masks.unsqueeze(-1), fps)


def write_image(path: str | os.PathLike, image: torch.Tensor) -> Path:
    """Write one image `[H, W, C]` (or `[1, H, W, C]`; `0..1`; C = 1, 3 or 4) as a PNG, atomically."""
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image must be [H, W, C] with C in (1, 3, 4), got {tuple(image.shape)}")
    target = Path(path).expanduser()
    if target.suffix.lower() != ".png":
        raise ReCoInputError("path", f"cannot write {target}: images are written as PNG", "Use a path ending in .png")
    array = to_uint8(image)
    with atomic_path(target) as tmp:
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(tmp, format="PNG", compress_level=4)
    return target
