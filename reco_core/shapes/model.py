"""The shipped ReCo-Shapes miniature: where its files live, how to load it, and the edit settings it wants.

The miniature is the real stack at toy sizes, built by `python -m shapes_lab build`:

- a Wan2.1-VACE transformer (dim 128, one head of 128, text_dim 4096, freq_dim 256), in ComfyUI's layout;
- a small AutoencoderKLWan whose raw latents carry the real Wan2.1 latent statistics;
- a small, frozen UMT5 encoder (d_model 4096) with a word-level tokenizer;
- the ReCo LoRA, trained on shapes edit pairs by `reco_core.train.Trainer`.

Everything loads offline from `reco_core/shapes/weights/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import ReCoInputError

WEIGHTS_DIR = Path(__file__).with_name("weights")
TRANSFORMER_FILE = "shapes_vace_base.safetensors"
VAE_FILE = "shapes_vae.safetensors"
TEXT_ENCODER_DIR = "text_encoder"
LORA_FILE = "shapes_reco_lora.safetensors"
BENCHMARK_FILE = "benchmark.json"
MODEL_CARD_FILE = "MODEL_CARD.md"

#: Per-half size, length and frame rate the miniature is trained at.
WIDTH, HEIGHT, FRAMES, FPS = 128, 128, 17, 8

#: Strength the miniature's ReCo LoRA is merged at (edit, demo, benchmark, the ComfyUI loader's default).
#: Chosen on validation pairs, never on the benchmark's test pairs (`python -m shapes_lab settings`,
#: docs/edit-settings.md): less strength keeps more background and edits less.
SHAPES_LORA_STRENGTH = 0.9

#: Edit settings for `python -m reco_core edit --model shapes` (and the demo and benchmark), chosen the
#: same way: 4 Euler steps beat 12 UniPC steps on background PSNR and edit accuracy.
SHAPES_EDIT_DEFAULTS: dict = {
    "width": WIDTH,
    "height": HEIGHT,
    "max_frames": FRAMES,
    "steps": 10,
    "cfg": 1.0,
    "shift": 3.0,
    "sampler": "euler",
    "negative_prompt": "",
    "output_size": "source",
}


def model_world(num_frames: int = FRAMES):
    """The shapes world at the size, length and frame rate the miniature edits."""
    from .world import WorldConfig

    return WorldConfig(width=WIDTH, height=HEIGHT, num_frames=num_frames, fps=FPS)


@dataclass(frozen=True)
class ShapesFiles:
    """Paths of the miniature's parts inside one folder (the shipped one, or a build's output)."""

    folder: Path

    @property
    def transformer(self) -> Path:
        return self.folder / TRANSFORMER_FILE

    @property
    def vae(self) -> Path:
        return self.folder / VAE_FILE

    @property
    def text_encoder(self) -> Path:
        return self.folder / TEXT_ENCODER_DIR

    @property
    def lora(self) -> Path:
        return self.folder / LORA_FILE

    @property
    def benchmark(self) -> Path:
        return self.folder / BENCHMARK_FILE

    @property
    def model_card(self) -> Path:
        return self.folder / MODEL_CARD_FILE

    def missing(self, with_lora: bool = True) -> list[Path]:
        parts = [self.transformer, self.vae, self.text_encoder] + ([self.lora] if with_lora else [])
        return [path for path in parts if not path.exists()]


def shipped_files() -> ShapesFiles:
    """The files committed under `reco_core/shapes/weights/`."""
    return ShapesFiles(WEIGHTS_DIR)


def _check(files: ShapesFiles, with_lora: bool) -> None:
    missing = files.missing(with_lora)
    if missing:
        raise ReCoInputError(
            "shapes model", f"{', '.join(str(p) for p in missing)} not found",
            "Build it with `python -m shapes_lab build --out DIR --install` (or restore the committed files).",
        )


# ----------------------------------------------------------------------------------------------
# Faster CPU convolutions for the small VAE


class _OneDNNCausalConv3d:
    """Mixin for diffusers' `WanCausalConv3d` that runs inference on the CPU through oneDNN.

    PyTorch picks its slow reference conv3d for a batch of one with few channels (a dispatch
    heuristic tuned for 2D); oneDNN computes the same convolution 3-10x faster at these sizes.
    Training (autograd on) and other devices keep the stock path.
    """

    def forward(self, x, cache_x=None):
        padding = list(self._padding)
        if cache_x is not None and self._padding[4] > 0:
            x = torch.cat([cache_x.to(x.device), x], dim=2)
            padding[4] -= cache_x.shape[2]
        x = F.pad(x, padding)
        if x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled():
            return torch.mkldnn_convolution(x.contiguous(), self.weight.contiguous(), self.bias, self.padding,
                                            self.stride, self.dilation, self.groups)
        return torch.nn.Conv3d.forward(self, x)


def speed_up_cpu_convolutions(vae: torch.nn.Module) -> torch.nn.Module:
    """Switch every causal conv of a diffusers Wan VAE to the oneDNN inference path (in place)."""
    if not torch.backends.mkldnn.is_available():
        return vae
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d

    fast = type("OneDNNWanCausalConv3d", (_OneDNNCausalConv3d, WanCausalConv3d), {})
    for module in vae.modules():
        if type(module) is WanCausalConv3d:
            module.__class__ = fast
    return vae


# ----------------------------------------------------------------------------------------------
# Loading


def load_shapes_parts(files: ShapesFiles, dtype: torch.dtype = torch.float32, device="cpu"):
    """(base transformer, vae, text encoder) from a folder of miniature files."""
    from ..models.loading import load_transformer, load_vae
    from ..models.text import load_text_encoder

    _check(files, with_lora=False)
    transformer = load_transformer(files.transformer, dtype=dtype, device=device, input_name="shapes transformer")
    vae = speed_up_cpu_convolutions(load_vae(files.vae, dtype=torch.float32, device=device, input_name="shapes vae"))
    text_encoder = load_text_encoder(files.text_encoder, dtype=torch.float32, device=device,
                                     input_name="shapes text encoder")
    return transformer, vae, text_encoder


def load_shapes_base(dtype: torch.dtype = torch.float32, device="cpu", files: ShapesFiles | None = None):
    """The miniature without the ReCo LoRA: (transformer, vae, text encoder), offline."""
    return load_shapes_parts(files or shipped_files(), dtype, device)


def merge_lora_file(transformer: torch.nn.Module, path: str | Path, strength: float = 1.0) -> torch.nn.Module:
    """Merge a LoRA file into the transformer's weights (no adapter left behind, no per-step cost)."""
    from ..lora import load_lora, merge_lora_into_weights

    merge_lora_into_weights(transformer, load_lora(path), strength)
    return transformer


def load_shapes_model(dtype: torch.dtype = torch.float32, device="cpu", lora: str | Path | None = None,
                      files: ShapesFiles | None = None, strength: float = SHAPES_LORA_STRENGTH):
    """The miniature with a ReCo LoRA merged in at `strength`: (transformer, vae, text encoder), offline.

    `lora` defaults to the shipped ReCo LoRA; pass another file to edit with your own.
    """
    files = files or shipped_files()
    if lora is None:
        _check(files, with_lora=True)
    transformer, vae, text_encoder = load_shapes_parts(files, dtype, device)
    merge_lora_file(transformer, lora or files.lora, strength)
    return transformer, vae, text_encoder


def read_benchmark(files: ShapesFiles | None = None) -> dict | None:
    """The benchmark results committed next to the weights (written by the build), or None."""
    path = (files or shipped_files()).benchmark
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
