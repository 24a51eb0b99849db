"""The images a judge sees for one pair, made exactly as the authors' step 1 makes them.

Step 1 (decord path):
1. Source and edit frames are put side by side, [source | edit]; both need the same frame count and height.
2. Each side-by-side frame is resized to a height of 224 (width `round(W * 224 / H)`, bicubic) unless it
   already is 224 high, and saved as `frame_000.jpg`, ... (Pillow's default JPEG quality).
3. The saved files, sorted by name, are taken every 8th (`81 // (2 * 5)`), whatever the clip's length.
4. Each taken image is read back, upscaled so its shorter side is 512 (Lanczos, `int()` sizes; never
   shrunk) and sent as a JPEG of quality 85.

Only the frames step 3 keeps are processed here; the bytes are the same as processing them all.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from ..errors import ReCoInputError
from ..frames import to_uint8

JUDGE_HEIGHT = 224
STRIDE = 81 // (2 * 5)
MIN_SIDE = 512
SENT_QUALITY = 85


def _uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    return frames if isinstance(frames, np.ndarray) and frames.dtype == np.uint8 else to_uint8(torch.as_tensor(frames))


def check_pair_shapes(source: np.ndarray, edit: np.ndarray) -> None:
    """Step 1 stacks the clips frame by frame: same frame count and height, RGB."""
    if source.ndim != 4 or edit.ndim != 4 or source.shape[-1] != 3 or edit.shape[-1] != 3:
        raise ReCoInputError("edit", f"source {source.shape} and edit {edit.shape} are not both [T, H, W, 3] RGB",
                             "Give RGB videos.")
    if source.shape[0] != edit.shape[0] or source.shape[1] != edit.shape[1]:
        raise ReCoInputError(
            "edit", f"has {edit.shape[0]} frames {edit.shape[1]} high but its source {source.shape[0]} frames "
            f"{source.shape[1]} high; the authors' step 1 stacks them frame by frame",
            "Give the source as the edit model saw it (same frames and height), e.g. the model_sources/ "
            "folder that `bench reco --edit` writes next to the edits.")


def sampled_indices(num_frames: int) -> list[int]:
    """Frame indices step 3 keeps: files `frame_{i:03d}.jpg` sorted by name, every STRIDE-th."""
    names = sorted((f"frame_{index:03d}.jpg", index) for index in range(num_frames))
    return [index for _, index in names[::STRIDE]]


def _judge_height(frame: np.ndarray) -> Image.Image:
    image = Image.fromarray(frame)
    height, width = frame.shape[:2]
    if height != JUDGE_HEIGHT:
        new_width = int(round(width * (JUDGE_HEIGHT / float(height))))
        image = image.resize((new_width, JUDGE_HEIGHT), Image.BICUBIC)
    return image


def _jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def _as_sent(saved: bytes) -> bytes:
    image = Image.open(io.BytesIO(saved)).convert("RGB")
    width, height = image.size
    scale = max(MIN_SIDE / min(width, height), 1.0)
    image = image.resize((int(width * scale), int(height * scale)), Image.LANCZOS)
    return _jpeg(image, quality=SENT_QUALITY)


def judge_images(source: torch.Tensor | np.ndarray, edit: torch.Tensor | np.ndarray) -> list[bytes]:
    """JPEG bytes of the side-by-side frames the judge gets, in order (11 for an 81-frame clip)."""
    source, edit = _uint8(source), _uint8(edit)
    check_pair_shapes(source, edit)
    images = []
    for index in sampled_indices(source.shape[0]):
        canvas = np.concatenate([source[index], edit[index]], axis=1)
        images.append(_as_sent(_jpeg(_judge_height(canvas))))
    return images
