"""Reading and writing videos, image folders and images as frames `[T, H, W, C]` in `0..1`.

Video files go through the ffmpeg binary that ships with `imageio-ffmpeg` (nothing is downloaded);
images go through Pillow. Every file is written atomically (see `reco_core.fsutil`).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import imageio_ffmpeg
import numpy as np
import torch
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from .errors import ReCoInputError
from .frames import from_uint8, to_uint8
from .fsutil import atomic_path, give_default_mode, make_temp_dir, recover_folder, replace_folder

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

# BT.709 with limited range, converted and tagged explicitly: untagged H.264 is shown with BT.601 or
# BT.709 colours depending on the player and the frame size, which shifts hues.
_H264_ARGS = [
    "-c:v", "libx264", "-preset", "medium", "-crf", "18",
    "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
    "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
]  # fmt: skip
_WEBM_ARGS = [
    "-c:v", "libvpx-vp9", "-crf", "32", "-b:v", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4",
    "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
    "setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv",
]  # fmt: skip
# One palette for the whole clip, built from the clip itself: far fewer banding artefacts than a fixed palette.
_GIF_ARGS = ["-vf", "split[a][b];[a]palettegen[palette];[b][palette]paletteuse", "-loop", "0"]
# Accurate YUV -> RGB on read: full chroma interpolation, exact rounding.
_DECODE_ARGS = ["-map", "0:v:0", "-sws_flags", "bicubic+accurate_rnd+full_chroma_int"]


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


def _positive_fps(fps: float | None, fallback: float) -> float:
    if fps is None:
        return fallback
    if isinstance(fps, bool) or not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


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


def _popen_kwargs() -> dict:
    # No console window flashing up for every ffmpeg call on Windows.
    return {"creationflags": subprocess.CREATE_NO_WINDOW} if sys.platform == "win32" else {}


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


def _iter_uint8_frames(frames: torch.Tensor) -> Iterator[np.ndarray]:
    """Frames one by one as `uint8 [H, W, C]`, alpha dropped (converting one at a time bounds memory)."""
    for frame in frames:
        yield to_uint8(frame[..., :3])


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Repeat the last column/row once where width/height is odd: yuv420p stores chroma per 2x2 block."""
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if pad_h or pad_w:
        return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frame


def _encode(path: Path, frames: torch.Tensor, fps: float, codec_args: list[str], even_size: bool) -> None:
    """Pipe frames into ffmpeg; raise with ffmpeg's message if it fails, kill it if we fail."""
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
        _encode(tmp, frames, fps, codec_args, even_size=suffix != ".gif")
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
