"""ReCoShapesLoader: the bundled ReCo-Shapes miniature as core MODEL, CLIP and VAE (no download).

Core loads the transformer itself (it is a real Wan2.1-VACE layout, 128-wide heads), so sampling,
previews and cancel are core's. Core's VAE and text-encoder loaders hard-code the real sizes, so the
miniature's VAE and UMT5 come wrapped in small objects that behave like core's VAE and CLIP for the
nodes that use them (ReCo In-Context Edit, ReCo Decode, CLIP Text Encode, ReCo Train LoRA).
"""

from __future__ import annotations

import comfy.model_management
import comfy.sd
import torch
from comfy_api.latest import io

from ..reco_core import checks
from ..reco_core.errors import ReCoInputError
from ..reco_core.models.loading import load_vae
from ..reco_core.models.text import load_text_encoder
from ..reco_core.shapes.model import FPS, FRAMES, HEIGHT, SHAPES_LORA_STRENGTH, WIDTH
from .common import CATEGORY
from .lora_loader import apply_reco_lora

SPATIAL, TEMPORAL = 8, 4


class ShapesVAE:
    """A diffusers AutoencoderKLWan behind core's VAE interface: encode() takes IMAGE frames [T, H, W, C]
    and returns the raw latent [1, 16, F, h, w]; decode() returns [1, T, H, W, C] in 0..1."""

    latent_channels = 16
    latent_dim = 3

    def __init__(self, vae):
        self.first_stage_model = vae
        self.device = comfy.model_management.vae_device()
        self.dtype = torch.float32

    def _run(self, function, tensor: torch.Tensor) -> torch.Tensor:
        self.first_stage_model.to(self.device)
        try:
            with torch.no_grad():
                return function(tensor.to(self.device, self.dtype)).float().to(comfy.model_management.intermediate_device())
        finally:
            self.first_stage_model.to(comfy.model_management.vae_offload_device())

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        height, width = pixels.shape[1] // SPATIAL * SPATIAL, pixels.shape[2] // SPATIAL * SPATIAL
        video = pixels[:, :height, :width, :3].movedim(-1, 0).unsqueeze(0) * 2 - 1  # [1, 3, T, H, W]
        return self._run(lambda x: self.first_stage_model.encode(x).latent_dist.mode(), video)

    def decode(self, samples: torch.Tensor) -> torch.Tensor:
        video = self._run(lambda z: self.first_stage_model.decode(z, return_dict=False)[0], samples)
        return ((video.clamp(-1, 1) + 1) / 2).movedim(1, -1)

    encode_tiled = encode

    def decode_tiled(self, samples, *args, **kwargs):
        return self.decode(samples)

    def spacial_compression_encode(self) -> int:
        return SPATIAL

    def spacial_compression_decode(self) -> int:
        return SPATIAL

    def temporal_compression_decode(self) -> int:
        return TEMPORAL


class ShapesCLIP:
    """The miniature's UMT5 behind core's CLIP interface, so core's CLIP Text Encode works with it."""

    def __init__(self, text_encoder):
        self.text_encoder = text_encoder
        self.cond_stage_model = text_encoder.model

    def tokenize(self, text: str, return_word_ids: bool = False, **kwargs):
        return text

    def encode_from_tokens(self, tokens, return_pooled=False, return_dict=False):
        with torch.no_grad():
            cond = self.text_encoder.encode([tokens]).float().cpu()
        if return_dict:
            return {"cond": cond, "pooled_output": None}
        return (cond, None) if return_pooled else cond

    def encode_from_tokens_scheduled(self, tokens, unprojected=False, add_dict=None, show_pbar=True):
        return [[self.encode_from_tokens(tokens), {"pooled_output": None, **(add_dict or {})}]]


class ReCoShapesLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoShapesLoader",
            display_name="ReCo-Shapes Loader (no download)",
            category=CATEGORY,
            description="Loads the bundled ReCo-Shapes miniature: a tiny Wan2.1-VACE model with its ReCo LoRA, "
                        "VAE and text encoder, trained on a world of moving shapes. Use it exactly like the real "
                        "model's loaders to try the pack without downloading anything.",
            inputs=[
                io.Float.Input("lora_strength", default=SHAPES_LORA_STRENGTH, min=0.0, max=2.0, step=0.05,
                               tooltip=f"Strength of the bundled ReCo LoRA; {SHAPES_LORA_STRENGTH} is what its "
                                       "benchmark uses (higher edits harder and keeps less of the background), "
                                       "0 gives the base model (which cannot edit)."),
            ],
            outputs=[
                io.Model.Output(display_name="model", tooltip="The miniature Wan2.1-VACE model with the ReCo LoRA."),
                io.Clip.Output(display_name="clip", tooltip="Its text encoder, for CLIP Text Encode (it knows the "
                                                             "shapes world's words: colours, shapes, add, remove, ...)."),
                io.Vae.Output(display_name="vae", tooltip=f"Its VAE ({WIDTH}x{HEIGHT} per half, {FRAMES} frames at {FPS} fps)."),
            ],
        )

    @classmethod
    def execute(cls, lora_strength) -> io.NodeOutput:
        from ..reco_core.shapes.model import WEIGHTS_DIR, ShapesFiles

        checks.check_range(lora_strength, 0.0, 2.0, name="lora_strength")
        files = ShapesFiles(WEIGHTS_DIR)
        missing = files.missing(with_lora=lora_strength > 0)
        if missing:
            raise ReCoInputError("ReCo-Shapes", f"files are missing: {', '.join(str(p) for p in missing)}",
                                 "Rebuild them with: python -m shapes_lab build --install")
        model = comfy.sd.load_diffusion_model(str(files.transformer))
        if lora_strength > 0:
            model, _ = apply_reco_lora(model, str(files.lora), lora_strength)
        vae = ShapesVAE(load_vae(files.vae, dtype=torch.float32).eval())
        clip = ShapesCLIP(load_text_encoder(files.text_encoder, dtype=torch.float32))
        return io.NodeOutput(model, clip, vae)


DEMO_CLIPS = ("add", "remove", "replace", "style")


class ReCoShapesClip(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoShapesClip",
            display_name="ReCo-Shapes Demo Clip",
            category=CATEGORY,
            description=f"A bundled clip of the ReCo-Shapes world ({WIDTH}x{HEIGHT}, {FRAMES} frames, {FPS} fps) with an instruction "
                        "for it, to try the miniature without any file of your own.",
            inputs=[
                io.Combo.Input("clip", options=list(DEMO_CLIPS), default="add",
                               tooltip="Which bundled clip: each comes with an instruction of that edit task."),
            ],
            outputs=[
                io.Image.Output(display_name="images", tooltip="The source clip's frames."),
                io.String.Output(display_name="instruction",
                                 tooltip="The instruction that goes with the clip; link it to CLIP Text Encode's text "
                                         "or type your own."),
                io.Float.Output(display_name="fps", tooltip="The clip's frame rate (8)."),
            ],
        )

    @classmethod
    def execute(cls, clip) -> io.NodeOutput:
        from ..reco_core.shapes.demo import load_demo_clips
        from ..reco_core.shapes.model import FPS

        pair = {pair.task: pair for pair in load_demo_clips()}[clip]
        return io.NodeOutput(pair.source.contiguous(), pair.instruction, float(FPS))
