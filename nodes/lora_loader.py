"""ReCoLoRALoader: the ReCo LoRA, in whatever format, applied to core's Wan VACE model."""

from __future__ import annotations

import logging
import os

import comfy.lora
import folder_paths
from comfy_api.latest import io

from ..reco_core import checks
from ..reco_core.lora import LoRA, load_lora, match_lora, require_match, to_state_dict
from .common import CATEGORY

logger = logging.getLogger(__name__)
MODEL_PREFIX = "diffusion_model."


def model_linear_shapes(model) -> dict[str, tuple[int, int]]:
    """{Wan module name: (in, out)} for every 2-D weight of core's diffusion model."""
    shapes = {}
    for key, value in model.model.state_dict().items():
        if key.startswith(MODEL_PREFIX) and key.endswith(".weight") and len(value.shape) == 2:
            shapes[key[len(MODEL_PREFIX):-len(".weight")]] = (int(value.shape[1]), int(value.shape[0]))
    return shapes


def apply_reco_lora(model, path: str, strength: float):
    """Clone `model` with the LoRA at `path` patched in; refuses a LoRA that would apply nothing."""
    lora = load_lora(path)
    match = match_lora(lora, model_linear_shapes(model))
    require_match(lora, match, "this model (is it a Wan2.1 VACE model of the size the LoRA was made for?)")
    matched = LoRA({k: lora.modules[k] for k in match.matched}, lora.source_format, lora.source)
    state_dict = to_state_dict(matched, "comfy")
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    patches = comfy.lora.load_lora(state_dict, key_map)
    patched = model.clone()
    applied = patched.add_patches(patches, strength)
    logger.info("ReCo LoRA %s (%s format): %s; %d weights patched", os.path.basename(path), lora.source_format,
                match.summary(), len(applied))
    return patched, match


class ReCoLoRALoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoLoRALoader",
            display_name="ReCo LoRA Loader",
            category=CATEGORY,
            description="Applies the ReCo LoRA to a Wan2.1 VACE model, DiT and VACE blocks alike. Reads the "
                        "release .ckpt and DiffSynth, diffusers/PEFT, ComfyUI and kohya/musubi files, and "
                        "stops with an error instead of silently applying nothing.",
            inputs=[
                io.Model.Input("model", tooltip="The Wan2.1 VACE model (from Load Diffusion Model; GGUF and fp8 work)."),
                io.Combo.Input("lora_name", options=folder_paths.get_filename_list("loras"),
                               tooltip="The ReCo LoRA in models/loras (.safetensors, or the release .ckpt, which "
                                       "is read safely: code in it is refused)."),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.01,
                               tooltip="How strongly the LoRA is applied; 1 is as trained."),
            ],
            outputs=[io.Model.Output(tooltip="The model with the ReCo LoRA patched in.")],
        )

    @classmethod
    def validate_inputs(cls, lora_name):
        if folder_paths.get_full_path("loras", lora_name) is None:
            return f"lora_name: {lora_name} is not in models/loras. Put the ReCo LoRA there and refresh the node."
        return True

    @classmethod
    def fingerprint_inputs(cls, lora_name, strength, **_):
        path = folder_paths.get_full_path("loras", lora_name)
        return f"{lora_name}:{os.path.getmtime(path) if path else 0}:{strength}"

    @classmethod
    def execute(cls, model, lora_name, strength) -> io.NodeOutput:
        checks.check_range(strength, -10.0, 10.0, name="strength")
        path = folder_paths.get_full_path_or_raise("loras", lora_name)
        patched, match = apply_reco_lora(model, path, strength)
        return io.NodeOutput(patched, ui={"text": [match.summary()]})
