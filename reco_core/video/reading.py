"""Reading videos, image folders and images into frames `[T, H, W, C]` in `0..1` (ffmpeg and Pillow)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import subprocess
import warnings
from pathlib import Path
from typing import Iterator

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from ..errors import ReCoInputError
from ..frames import from_uint8
from .common import _ACCEPTED_INPUTS, DEFAULT_FPS, IMAGE_SUFFIXES, Video, VideoInfo, _popen_kwargs, _positive_fps

# Accurate YUV -> RGB on read: full chroma interpolation, exact rounding.
_DECODE_ARGS = ["-map", "0:v:0", "-sws_flags", "bicubic+accurate_rnd+full_chroma_int"]


# ----------------------------------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------------------------------


def _natural_key(name: str) -> tuple:
    """Sort key under which `frame2.png` comes before `frame10.png`."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(part) if part.isdigit() else part for part in parts), name


def list_image_files(folder: str | os.PathLike) -> list[Path]:
    """Image files in `folder`, naturally sorted; hidden files (e.g. macOS `._x.png`) and other files skipped."""
    files = [
        entry
        for entry in Path(folder).iterdir()
        if entry.is_file() and not entry.name.startswith(".") and entry.suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(files, key=lambda entry: _natural_key(entry.name))


def _existing_input(path: str | os.PathLike, input_name: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise ReCoInputError(input_name, f"{resolved} does not exist", _ACCEPTED_INPUTS)
    return resolved


def _frame_files(folder: Path, input_name: str) -> list[Path]:
    files = list_image_files(folder)
    if not files:
        raise ReCoInputError(
            input_name,
            f"folder {folder} holds no image frames ({', '.join(IMAGE_SUFFIXES)})",
            _ACCEPTED_INPUTS,
        )
    return files


# ----------------------------------------------------------------------------------------------------------------------
# Images (Pillow)
# ----------------------------------------------------------------------------------------------------------------------


#: Images above this many pixels are refused before they are decoded (Pillow's own decompression-bomb limit:
#: a small file that would unpack into gigabytes). 89 megapixels is far beyond any video frame.
MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485


def _too_many_pixels(path: Path, input_name: str, width: int, height: int) -> ReCoInputError:
    return ReCoInputError(input_name, f"{path} has frames of {width}x{height} ({width * height:,} pixels), more "
                          f"than the {MAX_IMAGE_PIXELS:,} that are read safely",
                          "Scale it down to the size you edit at (e.g. 832x480).")


@contextlib.contextmanager
def _pillow(path: Path, input_name: str) -> Iterator[None]:
    """Pillow's errors on `path` as ReCoInputError, a decompression bomb included (refused, not decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        numbers = [int(n) for n in re.findall(r"\d+", str(error))]
        raise ReCoInputError(input_name, f"{path} has {numbers[0]:,} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                             f"that are read safely (a decompression bomb?)" if numbers else f"{path}: {error}",
                             "Scale it down to the size you edit at (e.g. 832x480).") from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise ReCoInputError(input_name, f"{path} could not be read as an image ({error})", _ACCEPTED_INPUTS) from error


def _open_image(path: Path, input_name: str) -> Image.Image:
    with _pillow(path, input_name):
        image = Image.open(path)
        image.load()
    return image



def _image_to_rgb_array(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> `uint8 [H, W, 3]`: alpha is dropped, grey is repeated, 16-bit is scaled down."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        grey = np.asarray(image, dtype=np.float64) / 65535.0
        return np.repeat((grey.clip(0.0, 1.0) * 255.0).round().astype(np.uint8)[..., None], 3, axis=-1)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _animation_fps(image: Image.Image) -> float | None:
    """Rate of an animated image from its first frame's duration; `None` for still images."""
    duration_ms = image.info.get("duration") or 0
    return 1000.0 / duration_ms if getattr(image, "n_frames", 1) > 1 and duration_ms > 0 else None


def _image_header(path: Path, input_name: str) -> tuple[int, int, int, float | None]:
    """`(width, height, frame count, fps or None)` of an image file, EXIF rotation applied, pixels not decoded."""
    with _pillow(path, input_name), Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientations that swap the axes
            width, height = height, width
        num_frames = getattr(image, "n_frames", 1)
        if num_frames > 1:
            image.load()  # some formats (WebP) only fill in the frame duration once a frame is loaded
        return width, height, num_frames, _animation_fps(image)


def _read_image_file(path: Path, max_frames: int | None, input_name: str) -> tuple[np.ndarray, float | None]:
    """All frames of an image file (animated WebP/PNG have several) as `uint8 [T, H, W, 3]`, and their rate."""
    image = _open_image(path, input_name)
    fps = _animation_fps(image)
    arrays = []
    with _pillow(path, input_name):
        for frame in ImageSequence.Iterator(image):
            arrays.append(_image_to_rgb_array(frame))
            if max_frames is not None and len(arrays) >= max_frames:
                break
    return np.stack(arrays), fps


def _size_mismatch(input_name: str, file: Path, size: tuple[int, int], first: Path, first_size: tuple[int, int]):
    return ReCoInputError(
        input_name,
        f"frame {file.name} is {size[0]}x{size[1]} but {first.name} is {first_size[0]}x{first_size[1]}",
        "Make every frame in the folder the same size",
    )


def _probe_image_folder(folder: Path, input_name: str) -> tuple[int, int, int]:
    """`(frame count, width, height)` of a frame folder from the image headers; all sizes must agree."""
    files = _frame_files(folder, input_name)
    first_size = _image_header(files[0], input_name)[:2]
    for file in files[1:]:
        size = _image_header(file, input_name)[:2]
        if size != first_size:
            raise _size_mismatch(input_name, file, size, files[0], first_size)
    return len(files), *first_size


def _read_image_folder(folder: Path, max_frames: int | None, input_name: str) -> np.ndarray:
    files = _frame_files(folder, input_name)[:max_frames]
    arrays = []
    for file in files:
        array = _image_to_rgb_array(_open_image(file, input_name))
        if arrays and array.shape != arrays[0].shape:
            size, first_size = (array.shape[1], array.shape[0]), (arrays[0].shape[1], arrays[0].shape[0])
            raise _size_mismatch(input_name, file, size, files[0], first_size)
        arrays.append(array)
    return np.stack(arrays)


# ----------------------------------------------------------------------------------------------------------------------
# Video files (ffmpeg)
# ----------------------------------------------------------------------------------------------------------------------


def _ffmpeg_reason(error: BaseException) -> str:
    """The last line ffmpeg printed, which is the one that says what went wrong."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


def _undecodable(path: Path, input_name: str, error: BaseException) -> ReCoInputError:
    problem = f"{path} could not be decoded as a video ({_ffmpeg_reason(error)})"
    return ReCoInputError(input_name, problem, _ACCEPTED_INPUTS)


def _ffmpeg_metadata(path: Path, input_name: str) -> dict:
    """ffmpeg's view of the first video stream (`size` after rotation, `fps`, `codec`...), without decoding."""
    reader = imageio_ffmpeg.read_frames(str(path), output_params=_DECODE_ARGS)
    try:
        return next(reader)
    except (OSError, RuntimeError, IndexError, AttributeError, StopIteration) as error:
        # IndexError/AttributeError: imageio-ffmpeg found no video stream line to parse.
        raise _undecodable(path, input_name, error) from error
    finally:
        reader.close()


def _ffmpeg_frame_count(path: Path, input_name: str) -> tuple[int, str]:
    """Count the frames `read_video` would return, through the same demuxer, decoder and muxer, and what ffmpeg
    said about damage on the way ("" for a clean file).

    Frames are decoded (container frame counts are missing or wrong too often) but scaled to one grey
    pixel, so the count costs a fraction of a full read.
    """
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0"]
    command += ["-vf", "scale=1:1", "-pix_fmt", "gray", "-vcodec", "rawvideo", "-f", "image2pipe", "-"]
    result = subprocess.run(command, capture_output=True, **_popen_kwargs())
    if result.returncode != 0:
        raise _undecodable(path, input_name, RuntimeError(result.stderr.decode(errors="replace")))
    return len(result.stdout), result.stderr.decode(errors="replace").strip()


def _truncation(path: Path, input_name: str, meta: dict, decoded: int, ffmpeg_errors: str) -> str | None:
    """None for a whole file. A file that ffmpeg reports damaged and that decodes to fewer frames than its
    duration promises is cut short: refused when less than half of it decodes, else described (and used)."""
    duration, rate = float(meta.get("duration") or 0.0), float(meta.get("fps") or 0.0)
    expected = round(duration * rate) if math.isfinite(duration * rate) else 0
    if not ffmpeg_errors or expected <= 0 or decoded >= expected - 1:
        return None
    reason = _ffmpeg_reason(RuntimeError(ffmpeg_errors))
    if "partial file" in ffmpeg_errors:
        reason = "partial file"
    problem = (f"{path} is damaged or cut short: it should hold about {expected} frames ({duration:g} s at "
               f"{rate:g} fps) but only {decoded} decode (ffmpeg: {reason})")
    if decoded < expected / 2:
        raise ReCoInputError(input_name, problem, "Download or export it again. To edit the frames that remain, "
                             "re-encode it first, e.g. ffmpeg -i damaged.mp4 -c:v libx264 whole.mp4")
    return f"{problem}; the {decoded} frames that decode are used"


def _read_video_file(path: Path, max_frames: int | None, input_name: str) -> tuple[np.ndarray, float]:
    output_params = list(_DECODE_ARGS)
    if max_frames is not None:
        output_params += ["-frames:v", str(max_frames)]
    reader = imageio_ffmpeg.read_frames(str(path), output_params=output_params)
    try:
        meta = next(reader)
        width, height = meta["size"]
        arrays = [np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3) for data in reader]
    except (OSError, RuntimeError, IndexError, AttributeError, StopIteration) as error:
        raise _undecodable(path, input_name, error) from error
    finally:
        reader.close()
    if not arrays:
        raise ReCoInputError(input_name, f"{path} has no video frames", _ACCEPTED_INPUTS)
    return np.stack(arrays), float(meta.get("fps") or 0.0)


# ----------------------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------------------


def probe_video(path: str | os.PathLike, *, fps: float | None = None, input_name: str = "video") -> VideoInfo:
    """Frame count, rate and size of a video file, image folder or image, for validation before any heavy work.

    Video files: size and rate come from ffmpeg's header; frames are counted by decoding to a tiny size,
    so the count matches `read_video` exactly. Folders and images: only the image headers are read.
    `fps` overrides the rate exactly as in `read_video`.
    """
    path = _existing_input(path, input_name)
    if path.is_dir():
        num_frames, width, height = _probe_image_folder(path, input_name)
        return VideoInfo(num_frames, _positive_fps(fps, DEFAULT_FPS), width, height)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        width, height, num_frames, native_fps = _image_header(path, input_name)
        return VideoInfo(num_frames, _positive_fps(fps, native_fps or DEFAULT_FPS), width, height)
    meta = _ffmpeg_metadata(path, input_name)
    width, height = meta["size"]
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_many_pixels(path, input_name, width, height)
    num_frames, ffmpeg_errors = _ffmpeg_frame_count(path, input_name)
    if num_frames == 0:
        raise ReCoInputError(input_name, f"{path} has no video frames", _ACCEPTED_INPUTS)
    damage = _truncation(path, input_name, meta, num_frames, ffmpeg_errors)
    return VideoInfo(num_frames, _positive_fps(fps, float(meta.get("fps") or 0.0) or DEFAULT_FPS), width, height,
                     damage)


def read_video(
    path: str | os.PathLike,
    *,
    max_frames: int | None = None,
    fps: float | None = None,
    input_name: str = "video",
) -> Video:
    """Read a video file, a folder of frames or one image into `Video(frames [T, H, W, 3] float 0..1, fps)`.

    - Video files (.mp4, .mov, .webm, .mkv, .gif, ...) are decoded by ffmpeg to RGB, first video stream.
    - A folder's .png/.jpg/.webp/.bmp/.tif frames are read in natural order (`frame2` before `frame10`).
    - A single image gives one frame (an animated WebP/PNG all of its frames).
    RGBA drops its alpha and greyscale becomes RGB. `max_frames` stops reading early. `fps` overrides
    the rate reported (frames are not resampled; see `frames.resample_fps`); without it, video files keep
    theirs and images get `DEFAULT_FPS` (16). Unreadable input raises `ReCoInputError(input_name, ...)`.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    path = _existing_input(path, input_name)
    if path.is_dir():
        array, native_fps = _read_image_folder(path, max_frames, input_name), None
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        array, native_fps = _read_image_file(path, max_frames, input_name)
    else:
        array, native_fps = _read_video_file(path, max_frames, input_name)
    return Video(frames=from_uint8(array), fps=_positive_fps(fps, native_fps or DEFAULT_FPS))


def read_mask_video(
    path: str | os.PathLike,
    *,
    max_frames: int | None = None,
    fps: float | None = None,
    input_name: str = "mask",
) -> Video:
    """Read masks `[T, H, W]` in `0..1` from any input `read_video` accepts.

    Greyscale inputs give their grey level, colour inputs their first (red) channel. Masks that went
    through lossy video compression have slightly soft values; threshold them if you need 0/1.
    """
    video = read_video(path, max_frames=max_frames, fps=fps, input_name=input_name)
    return Video(frames=video.frames[..., 0].contiguous(), fps=video.fps)
