"""ReCo_ref: a reference image for "add this object" edits, laid out as the authors' inference prepares it.

The ReCo_ref LoRA (rank 256) was trained with one extra frame before the clip:

- the reference image is scaled to fit one half (W x H) with its aspect ratio kept (Lanczos, sizes rounded
  down), centred on white;
- that frame is the canvas [white | reference], encoded on its own into one latent frame;
- it is prepended to the VACE context as inactive = its latent, reactive = zeros (in normalised latent
  space), mask = 0, and to the noise as one more latent frame;
- after sampling that latent frame is dropped before decoding.

So an 81-frame clip is sampled as 22 latent frames. Frames here are [T, H, W, C] in 0..1.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import ReCoInputError
from .frames import from_uint8, to_uint8
from .layout import join_halves, FRAMES_WIDTH_DIM

WHITE = 1.0
#: Latent frames the reference adds in front of the clip.
REFERENCE_FRAMES = 1
#: The authors draw the reference frame's noise from its own generator with this seed (their default).
REFERENCE_NOISE_SEED = 2025


def reference_image(image: torch.Tensor, input_name: str = "reference") -> torch.Tensor:
    """An image [H, W, C] or an IMAGE batch [B, H, W, C] (its first image) -> [H, W, 3], checked."""
    if image.ndim == 4:
        image = image[0]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ReCoInputError(input_name, f"has shape {tuple(image.shape)}, expected an image [H, W, 3]",
                             "Give one RGB image (the object or look to add).")
    if image.shape[-1] == 1:
        image = image.expand(-1, -1, 3)
    return image[..., :3].float()


def letterbox(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Fit `image` [H, W, C] inside width x height on white, centred, aspect ratio kept: [height, width, 3].

    The authors' arithmetic: scale = min(height / h, width / w), the new size rounded down, Lanczos
    resampling (PIL) on 8-bit pixels, offsets rounded down.
    """
    from PIL import Image

    pixels = reference_image(image)
    src_h, src_w = pixels.shape[:2]
    scale = min(height / src_h, width / src_w)
    new_w, new_h = max(1, int(src_w * scale)), max(1, int(src_h * scale))
    resized = Image.fromarray(to_uint8(pixels)).resize((new_w, new_h), Image.LANCZOS)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    canvas.paste(resized, ((width - new_w) // 2, (height - new_h) // 2))
    return from_uint8(np.array(canvas))


def reference_canvas(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """The reference frame [1, height, 2 * width, 3]: [white | letterboxed reference]."""
    right = letterbox(image, width, height)
    return join_halves(torch.full_like(right, WHITE), right, FRAMES_WIDTH_DIM).unsqueeze(0)


def reference_noise(shape: tuple[int, ...], device: torch.device | str) -> torch.Tensor:
    """The reference frame's noise [1, 16, 1, h, 2w], float32 on `device`: drawn, as the authors do, from its
    own generator on the compute device (so it matches theirs on CUDA), independent of the clip's seed."""
    generator = torch.Generator(device).manual_seed(REFERENCE_NOISE_SEED)
    return torch.randn(shape, generator=generator, device=device, dtype=torch.float32)


def prepend_reference(reference_latent: torch.Tensor, control: torch.Tensor, zero_reactive: torch.Tensor) -> torch.Tensor:
    """The VACE control [1, 96, F, h, 2w] of a clip with the reference frame in front: [1, 96, F + 1, h, 2w].

    The reference frame's inactive latent is the encoded reference canvas, its reactive latent
    `zero_reactive` (zeros in normalised latent space, whatever that is in the caller's scale) and its
    mask 0: the model reads it and regenerates nothing there.
    """
    mask_channels = control.shape[1] - 2 * reference_latent.shape[1]
    mask = reference_latent.new_zeros(reference_latent.shape[0], mask_channels, *reference_latent.shape[2:])
    frame = torch.cat([reference_latent, zero_reactive.to(reference_latent), mask], dim=1)
    return torch.cat([frame.to(control), control], dim=2)
