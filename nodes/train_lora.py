"""ReCoTrainLoRA: train a ReCo LoRA inside ComfyUI with core's VAE and text encoder doing the encoding."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import comfy.model_management
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io

from ..reco_core import checks
from ..reco_core.errors import CancelledError, ReCoInputError
from ..reco_core.models.configs import load_shipped_config
from ..reco_core.models.latents import denormalize_latents, normalize_latents
from ..reco_core.models.loading import load_transformer
from ..reco_core.models.text import pad_embeddings
from ..reco_core.train import Models, Trainer, config_from_dict
from ..reco_core.train.config import check_output_name
from ..reco_core.train.encoders import module_fingerprint
from ..reco_core.train.metrics import MetricsLog, loss_curve_image
from .common import CATEGORY, advanced, decode_frames

logger = logging.getLogger(__name__)
RUNS_FOLDER = "reco_training"


class ComfyEncoders:
    """The training cache's encoders on core objects: Wan VAE latents normalised as diffusers does
    (core keeps latents raw), CLIP Text Encode embeddings zero-padded to 512 tokens."""

    def __init__(self, vae, clip):
        self.vae, self.clip = vae, clip
        self.latent_space = load_shipped_config("wan2.1-vae")  # latents_mean / latents_std
        self.identity = (f"comfy-vae:{module_fingerprint(vae.first_stage_model)}"
                         f"/clip:{module_fingerprint(clip.cond_stage_model)}")

    # Core's models hold inference tensors: run them in inference mode, hand back ordinary tensors.

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            latents = normalize_latents(self.vae.encode(frames[..., :3]).float().cpu(), self.latent_space)
        return latents.clone()

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            frames = decode_frames(self.vae, denormalize_latents(latents.float().cpu(), self.latent_space))
        return frames.clone()

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        with torch.inference_mode():
            rows = [self.clip.encode_from_tokens(self.clip.tokenize(text)).float().cpu() for text in texts]
            embeddings = torch.cat([pad_embeddings(row) for row in rows])
        return embeddings.clone()


class ComfyTrainer(Trainer):
    """The trainer with the base model from diffusion_models and core's models unloaded once cached."""

    run_folder_input = "resume"
    run_folder_fix = "Turn resume on to continue that run, or choose another lora_name."

    def load_models(self) -> Models:
        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        device = comfy.model_management.get_torch_device()
        model = load_transformer(self.config.model.transformer, dtype=dtype, device=device, input_name="base_model")
        return Models(model, None, None)

    def after_cache(self) -> None:
        comfy.model_management.unload_all_models()
        comfy.model_management.soft_empty_cache()


def lora_output_path(name: str) -> Path:
    """models/loras/<name>.safetensors; names that would leave the loras folder are refused."""
    folder = Path(folder_paths.get_folder_paths("loras")[0]).resolve()
    if not isinstance(name, str) or not name or "\0" in name:
        raise ReCoInputError("lora_name", f"{name!r} is not a plain file name".replace("\\x00", "\\0"),
                             "Use a plain file name such as \"my_reco_lora\" (no folders, no \"..\").")
    filename = name if name.endswith(".safetensors") else f"{name}.safetensors"
    target = (folder / filename).resolve()
    if os.path.isabs(name) or target.parent != folder:
        raise ReCoInputError("lora_name", f"{name!r} would be written outside the loras folder",
                             "Use a plain file name such as \"my_reco_lora\" (no folders, no \"..\").")
    check_output_name(target.stem, "lora_name")
    return target


def dataset_folder(name: str) -> Path:
    """input/<name>; its manifest's paths are confined to it (reco_core.train.data.read_manifest)."""
    root = Path(folder_paths.get_input_directory()).resolve()
    if not isinstance(name, str) or not name or "\0" in name:
        raise ReCoInputError("dataset", f"{name!r} is not a folder name", "Pick a folder of ComfyUI's input folder.")
    folder = (root / name).resolve()
    if root not in folder.parents or not folder.is_dir():
        raise ReCoInputError("dataset", f"{name!r} is not a folder inside ComfyUI's input folder",
                             "Put the pairs (manifest.jsonl, or one folder per pair) in input/<name>.")
    return folder


def dataset_options() -> list[str]:
    root = Path(folder_paths.get_input_directory())
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []


class ReCoTrainLoRA(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoTrainLoRA",
            display_name="ReCo Train LoRA",
            category=CATEGORY,
            is_output_node=True,
            description="Trains a ReCo LoRA on pairs of clips (source, edited target, instruction) with the paper's "
                        "region losses, and writes it to models/loras. Cancel keeps the last checkpoint; run again "
                        "with resume on to continue.",
            inputs=[
                io.Combo.Input("dataset", options=dataset_options(),
                               tooltip="A folder in ComfyUI's input folder with a manifest.jsonl (source, target, "
                                       "instruction, optional mask and task per line) or one folder per pair "
                                       "(source.mp4, target.mp4, instruction.txt, optional mask.mp4 and task.txt)."),
                io.Combo.Input("base_model", options=folder_paths.get_filename_list("diffusion_models"),
                               tooltip="The Wan2.1 VACE model to train on (fp16/bf16 file; fp8-scaled and GGUF files "
                                       "cannot be trained)."),
                io.Vae.Input("vae", tooltip="The Wan2.1 VAE; encodes the clips once into a cache."),
                io.Clip.Input("clip", tooltip="The umt5 text encoder; encodes the instructions once."),
                io.String.Input("lora_name", default="my_reco_lora",
                                tooltip="File name of the LoRA written to models/loras (no folders)."),
                io.Int.Input("steps", default=1000, min=1, max=1_000_000, tooltip="Optimizer steps."),
                io.Int.Input("rank", default=128, min=1, max=1024, tooltip="LoRA rank (alpha is set equal: scale 1)."),
                io.Float.Input("learning_rate", default=5e-5, min=1e-7, max=1.0, step=1e-6,
                               tooltip="AdamW learning rate (the paper uses 5e-5)."),
                io.Int.Input("width", default=832, min=16, max=4096, step=16, tooltip="Per-half training width."),
                io.Int.Input("height", default=480, min=16, max=4096, step=16, tooltip="Training height."),
                io.Int.Input("length", default=81, min=1, max=1024, step=4,
                             tooltip="Frames per clip (4n+1); shorter clips train at the longest 4n+1 they hold."),
                io.Boolean.Input("resume", default=True,
                                 tooltip="Continue from the newest checkpoint of a run with this LoRA name."),
                advanced(io.Float.Input("latent_weight", default=1e-3, min=0.0, max=10.0, step=1e-4,
                                        tooltip="Weight of L_latent (source and target differ inside the edit, agree "
                                                "outside); 0 turns it off.")),
                advanced(io.Float.Input("attn_weight", default=1e-3, min=0.0, max=10.0, step=1e-4,
                                        tooltip="Weight of L_attn (edit-region tokens attend little to the source); "
                                                "0 turns it off.")),
                advanced(io.Int.Input("gradient_accumulation", default=2, min=1, max=256,
                                      tooltip="Micro-batches per optimizer step.")),
                advanced(io.Int.Input("save_every", default=250, min=0, max=100_000,
                                      tooltip="Checkpoint every N steps (0: only at the end).")),
                advanced(io.Int.Input("seed", default=0, min=0, max=2**31 - 1, tooltip="Training seed.")),
            ],
            outputs=[
                io.Image.Output(display_name="loss_curve", tooltip="The loss terms over the steps."),
                io.String.Output(display_name="lora_name", tooltip="The LoRA file written to models/loras."),
            ],
        )

    @classmethod
    def validate_inputs(cls, lora_name):
        try:
            lora_output_path(lora_name)
        except ReCoInputError as error:
            return str(error)
        return True

    @classmethod
    def execute(cls, dataset, base_model, vae, clip, lora_name, steps, rank, learning_rate, width, height, length,
                resume, latent_weight=1e-3, attn_weight=1e-3, gradient_accumulation=2, save_every=250,
                seed=0) -> io.NodeOutput:
        target = lora_output_path(lora_name)
        for name, value in (("learning_rate", learning_rate), ("latent_weight", latent_weight),
                            ("attn_weight", attn_weight)):
            checks.check_finite(value, name=name)  # ComfyUI's min/max let NaN through
        config = config_from_dict({
            "model": {"transformer": folder_paths.get_full_path_or_raise("diffusion_models", base_model),
                      "dtype": "bf16" if torch.cuda.is_available() else "fp32"},
            "lora": {"rank": rank, "alpha": rank},
            "data": {"folder": str(dataset_folder(dataset)), "width": width, "height": height, "frames": length},
            "loss": {"latent_weight": latent_weight, "attn_weight": attn_weight},
            "optim": {"steps": steps, "learning_rate": learning_rate, "gradient_accumulation": gradient_accumulation,
                      "seed": seed, "mixed_precision": "bf16" if torch.cuda.is_available() else "no"},
            "output": {"name": target.stem, "save_every": save_every, "sample_every": 0},
        })
        run_dir = Path(folder_paths.get_output_directory()) / RUNS_FOLDER / target.stem
        progress = comfy.utils.ProgressBar(steps)
        trainer = ComfyTrainer(config, run_dir, encoders=ComfyEncoders(vae, clip), lora_path=target,
                               progress=lambda step, total, terms: progress.update_absolute(step, total),
                               cache_progress=lambda done, total: progress.update_absolute(done, total),
                               cancel=comfy.model_management.processing_interrupted)
        trainer.check_run_folder(resume)
        try:
            # ComfyUI runs nodes under inference mode; training needs autograd and ordinary tensors.
            with torch.inference_mode(False), torch.enable_grad():
                trainer.train(resume=resume)
        except comfy.model_management.InterruptProcessingException:
            if trainer.prepared:  # progress updates are ComfyUI's cancel points: keep the step just finished
                trainer.save_checkpoint(None)
            raise
        except CancelledError:
            comfy.model_management.throw_exception_if_processing_interrupted()
            raise
        curve = loss_curve_image(MetricsLog.read(run_dir / "metrics.jsonl")).unsqueeze(0)
        logger.info("ReCo LoRA written to %s (run folder %s)", target, run_dir)
        return io.NodeOutput(curve, target.name, ui={"text": [f"{target.name}: {trainer.step} steps"]})

