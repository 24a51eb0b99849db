"""The ReCo LoRA trainer: one loop with small overridable hooks, on diffusers' Wan VACE model and PEFT.

Runs the same under `python -m reco_core train` (one process) and `accelerate launch` / `torchrun`
(DDP, or FSDP / DeepSpeed ZeRO-2 from an accelerate config). Randomness for every micro-step is
derived from (seed, step, rank), so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .. import layout
from ..choices import torch_dtype
from ..engine.denoise import denoise
from ..engine.pipeline import Prompt, guided_velocity
from ..engine.region_attention import RegionAttention, region_attention, select_layers
from ..engine.schedule import make_scheduler, shift_sigmas
from ..errors import CancelledError, ReCoInputError
from ..fsutil import atomic_write_text, safe_file_name
from ..lora import LoRA, save_lora
from ..losses import (attention_region_loss, flow_matching_loss, latent_region_loss, masked_flow_matching_loss,
                      one_step_x0)
from ..masks import canvas_tokens
from ..models.text import pad_embeddings
from . import checkpoint as ckpt
from .adapter import ADAPTER, adapter_lora, adapter_state_dict, add_lora_adapter, load_into_adapter
from .batches import Batch, batch_at, bucket_batches, collate, micro_step_generator
from .cache import Encoders, build_cache, load_cached
from .config import BUNDLED_MODEL, TrainConfig
from .data import PairPlan, plan_pairs, read_manifest, scan_folder
from .metrics import MetricsLog, save_loss_curve
from .schedule import scheduled_learning_rate

logger = logging.getLogger(__name__)


@dataclass
class Models:
    transformer: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: object | None


class Trainer:
    """Trains a ReCo LoRA. Override the hooks to change one part (models, noise, loss, samples).

    `bundle` is what the package ships for training besides files (`reco_core.bundled.BUNDLE`: the base model a
    config names "shapes" and generated pairs for `data.generate_shapes`); without it those config values are
    refused. `reco_core.bundled.trainer(config, out_dir)` makes a trainer with it.
    """

    #: How the run folder is named to the user, and how to continue a run already in it (a front end's words).
    run_folder_input = "--out"
    run_folder_fix = "Continue it with --resume, or give another --out folder."

    def __init__(self, config: TrainConfig, out_dir: str | Path, *, models: Models | None = None,
                 encoders: Encoders | None = None, accelerator=None, lora_path: str | Path | None = None,
                 progress: Callable[[int, int, dict], None] | None = None, cancel: Callable[[], bool] | None = None,
                 cache_progress: Callable[[int, int], None] | None = None,
                 pairs_progress: Callable[[int, int], None] | None = None, bundle=None):
        self.config = config
        self.bundle = bundle
        self.out_dir = Path(out_dir)
        self.lora_path = Path(lora_path) if lora_path else self.out_dir / f"{config.output.name}.safetensors"
        self.models = models
        self.encoders = encoders
        self.progress = progress
        self.on_cache_progress = cache_progress
        self.on_pairs_progress = pairs_progress
        self.cancel = cancel
        self.accelerator = accelerator
        self.stop_requested = False
        self.stopped_early = False
        self.plans: list[PairPlan] = []
        self.cache_paths: list[Path] = []
        self.attention_state = RegionAttention()
        self.step = 0
        self._resume_from = None

    # ================================================================================== hooks: models

    def load_models(self) -> Models:
        from ..models.bundle import load_components

        config = self.config.model
        if config.transformer == BUNDLED_MODEL:  # train on the miniature's base, not on its shipped ReCo LoRA
            return Models(*self.bundled("model.transformer").base_models(torch_dtype(config.dtype)))
        return Models(*load_components(self.config.resolve(config.transformer), self.config.resolve(config.vae),
                                       self.config.resolve(config.text_encoder), dtype=torch_dtype(config.dtype)))

    def bundled(self, input_name: str):
        """The package's bundle (models and pairs that ship with it), refused by name when none was given."""
        if self.bundle is None:
            raise ReCoInputError(input_name, f"names the bundled {BUNDLED_MODEL} miniature, which this trainer was "
                                 "not given", "Make the trainer with reco_core.bundled.trainer(config, out_dir) "
                                 "(python -m reco_core train does), or give files.")
        return self.bundle

    def after_cache(self) -> None:
        """Called once the cache is complete (a front end can free its encoders' memory here)."""

    def cache_progress(self, done: int, total: int) -> None:
        """Called after every pair the latent cache holds (encoding is the slow part before step 1)."""
        if self.on_cache_progress is not None:
            self.on_cache_progress(done, total)
        elif done == total or done % max(1, total // 10) == 0:
            logger.info("latent cache: %d/%d pairs", done, total)

    def pairs_progress(self, done: int, total: int) -> None:
        """Called after every generated training pair (data.generate_shapes), before the cache is built."""
        if self.on_pairs_progress is not None:
            self.on_pairs_progress(done, total)

    def make_encoders(self) -> Encoders:
        from .encoders import DiffusersEncoders

        return DiffusersEncoders(self.models.vae, self.models.text_encoder)

    def add_lora(self, transformer: torch.nn.Module) -> None:
        add_lora_adapter(transformer, self.config)
        if self.config.model.init_lora:
            self.load_lora_weights(transformer, self.config.resolve(self.config.model.init_lora))

    # ================================================================================== hooks: a step

    def sample_sigmas(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """Noise levels for a batch: uniform or logit-normal, then warped by the flow shift."""
        if self.config.loss.timesteps == "logit_normal":
            base = torch.sigmoid(torch.randn(count, generator=generator))
        else:
            base = torch.rand(count, generator=generator)
        return shift_sigmas(base.clamp(1e-3, 1.0), self.config.loss.shift)

    def learning_rate(self, step: int) -> float:
        """The rate of optimizer step `step` (0-based), from `optim.lr_schedule`."""
        optim = self.config.optim
        return scheduled_learning_rate(optim.lr_schedule, step, optim.steps, optim.warmup_steps, optim.learning_rate,
                                       optim.final_learning_rate)

    def call_model(self, transformer, x_t: torch.Tensor, sigma: torch.Tensor, batch: Batch) -> torch.Tensor:
        dtype = next(p for p in transformer.parameters() if not p.requires_grad).dtype
        return transformer(hidden_states=x_t.to(dtype), timestep=sigma * 1000, encoder_hidden_states=batch.text.to(dtype),
                           control_hidden_states=batch.control.to(dtype), return_dict=False)[0].float()

    def compute_loss(self, transformer, batch: Batch, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """1. noise the canvas; 2. predict the velocity (collecting attention mass); 3. the loss terms."""
        loss_config = self.config.loss
        device = batch.latent.device
        x0 = batch.latent
        noise = torch.randn(x0.shape, generator=generator).to(device)
        sigma = self.sample_sigmas(x0.shape[0], generator).to(device)
        view = sigma.view(-1, 1, 1, 1, 1)
        x_t = (1 - view) * x0 + view * noise
        edited = [i for i, style in enumerate(batch.is_style) if not style]
        attend = [i for i, style in enumerate(batch.is_style) if not style or loss_config.attn_on_style]
        state = self.attention_state
        state.collect = loss_config.attn_weight > 0 and bool(attend)
        state.tokens = [canvas_tokens(batch.mask[i, 0]) for i in range(x0.shape[0])] if state.collect else None
        state.reset()
        v_pred = self.call_model(transformer, x_t, sigma, batch)
        terms = {"flow": flow_matching_loss(v_pred, noise, x0)}
        if loss_config.masked_mse and edited:
            terms["masked"] = masked_flow_matching_loss(v_pred[edited], noise[edited], x0[edited], batch.mask[edited])
        if loss_config.latent_weight > 0 and edited:
            x0_hat = one_step_x0(x_t[edited], v_pred[edited], sigma[edited])
            terms["latent"] = latent_region_loss(x0_hat, batch.mask[edited], loss_config.latent_form,
                                                 loss_config.latent_margin)
        if state.collect:
            masses = {name: [per[i] for i in attend] for name, per in state.masses.items()}
            terms["attn"] = attention_region_loss(masses, loss_config.attn_edit_weight, loss_config.attn_global_weight)
        total = terms["flow"] + terms.get("masked", 0.0)
        total = total + loss_config.latent_weight * terms.get("latent", 0.0) + loss_config.attn_weight * terms.get("attn", 0.0)
        terms["loss"] = total
        return terms

    def evaluate(self, transformer, seed: int = 1234) -> dict[str, float]:
        """Mean loss terms over every cached pair with fixed noise and noise levels (comparable across runs)."""
        device = next(transformer.parameters()).device
        was_training = transformer.training
        transformer.eval()
        sums: dict[str, list[float]] = {}
        try:
            with torch.no_grad(), region_attention(transformer, self.attention_state,
                                                   select_layers(transformer, self.config.loss.attn_layers)):
                for index in range(len(self.cache_paths)):
                    generator = torch.Generator().manual_seed(seed + index)
                    terms = self.compute_loss(transformer, self.load_batch([index], generator, device), generator)
                    for key, value in terms.items():
                        sums.setdefault(key, []).append(float(value))
        finally:
            transformer.train(was_training)
        return {key: sum(values) / len(values) for key, values in sums.items()}

    # ================================================================================== hooks: output

    def lora_state_dict(self, transformer) -> dict[str, torch.Tensor]:
        return adapter_state_dict(transformer)

    def load_lora_weights(self, transformer, path: Path | str) -> None:
        load_into_adapter(transformer, path)

    def as_lora(self, state_dict: dict[str, torch.Tensor]) -> LoRA:
        return adapter_lora(state_dict, self.config.lora.alpha)

    def save_final_lora(self, transformer) -> Path:
        path = self.lora_path
        metadata = {"reco_training_config": json.dumps(self.config.to_dict()), "reco_step": str(self.step)}
        dtype = torch_dtype(self.config.output.dtype)
        save_lora(self.as_lora({k: v.to(dtype) for k, v in self.lora_state_dict(transformer).items()}), path,
                  fmt="comfy", metadata=metadata)
        return path

    def render_samples(self, transformer, step: int) -> None:
        """Edit the first pairs with the current LoRA and write source | edit videos."""
        from ..video import write_video

        output = self.config.output
        folder = self.out_dir / "samples" / f"step-{step:06d}"
        negative = pad_embeddings(self.encoders.encode_text([""])[0].unsqueeze(0))
        was_training = transformer.training
        transformer.eval()
        state, self.attention_state.collect = self.attention_state.collect, False
        try:
            for index, path in enumerate(self.cache_paths[: output.sample_count]):
                pair = load_cached(path)
                control = pair.control.unsqueeze(0)
                prompt = Prompt(pad_embeddings(pair.text.unsqueeze(0)), negative)
                scheduler = make_scheduler("unipc", output.sample_steps, self.config.loss.shift)
                noise = torch.randn((1, *pair.latent.shape), generator=torch.Generator().manual_seed(index))
                latents = denoise(guided_velocity(transformer, prompt, control, output.sample_cfg), noise, scheduler)
                source, target = layout.split_latent(latents)
                frames = torch.cat([self.encoders.decode_video(source), self.encoders.decode_video(target)], dim=2)
                write_video(folder / f"{index:02d}_{safe_file_name(pair.name)}.mp4", frames, self.config.data.fps)
        finally:
            self.attention_state.collect = state
            transformer.train(was_training)

    # ================================================================================== the loop

    def prepare_data(self) -> None:
        data = self.config.data
        if data.generate_shapes:
            folder = self.out_dir / "generated_pairs"
            manifest = folder / "train.jsonl"
            # The main process writes the pairs; the other ranks wait and read them (two writers race on renames).
            if self.accelerator.is_main_process and not manifest.is_file():
                self.bundled("data.generate_shapes").export_pairs(
                    folder, data.generate_shapes, data.width, data.height, data.frames, data.fps,
                    callback=self.pairs_progress, cancel=self.cancel)
            self.accelerator.wait_for_everyone()
            records = read_manifest(manifest)
        elif data.manifest:
            records = read_manifest(self.config.resolve(data.manifest))
        else:
            records = scan_folder(self.config.resolve(data.folder))
        self.plans = plan_pairs(records, data)

    def batches_per_epoch(self) -> list[list[int]]:
        """Pairs grouped by bucket, in batches of batch_size (the order is shuffled per epoch)."""
        return bucket_batches(self.plans, self.config.optim.batch_size)

    def batch_indices(self, global_batch: int) -> list[int]:
        return batch_at(self.batches_per_epoch(), global_batch, self.config.optim.seed)

    def load_batch(self, indices: list[int], generator: torch.Generator, device) -> Batch:
        pairs = [load_cached(self.cache_paths[i]) for i in indices]
        return collate(pairs, generator, self.config.data.first_frame_probability, device)

    def _install_signal_handler(self):
        def request_stop(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            logger.warning("stopping: a checkpoint is written after this step (press Ctrl-C again to abort)")
            self.stop_requested = True

        try:
            return signal.signal(signal.SIGINT, request_stop)
        except ValueError:  # not in the main thread (e.g. inside ComfyUI)
            return None

    def prepare(self, resume: bool = False) -> None:
        """Everything before the loop: check the data, load models, fill the cache, add the LoRA, resume."""
        from accelerate import Accelerator

        optim = self.config.optim
        resume_from = self.resume_checkpoint() if resume else None  # a damaged checkpoint is named before any work
        if resume and resume_from is None:
            logger.warning("resume: no checkpoint in %s yet; starting at step 0", self.out_dir / "checkpoints")
        # cpu=True lets torchrun / accelerate launch run several CPU processes (gloo) where there is no GPU.
        self.accelerator = self.accelerator or Accelerator(gradient_accumulation_steps=optim.gradient_accumulation,
                                                           mixed_precision=optim.mixed_precision,
                                                           cpu=not torch.cuda.is_available())
        accelerator = self.accelerator
        # 1. Data: every pair is checked before any model loads (and before the run folder is made).
        self.prepare_data()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if accelerator.is_main_process:
            atomic_write_text(self.out_dir / "config.json", json.dumps(self.config.to_dict(), indent=2))
        # 2. Encoders and the latent cache (built once, on the main process), then the model to train.
        if self.encoders is None:
            self.models = self.models or self.load_models()
            self.encoders = self.make_encoders()
        data = self.config.data
        cache_dir = Path(self.config.resolve(data.cache_dir)) if data.cache_dir else self.out_dir / "cache"
        if accelerator.is_main_process:
            self.cache_paths = build_cache(self.plans, data, self.encoders, cache_dir, progress=self.cache_progress,
                                           cancel=self.cancel)
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            self.cache_paths = build_cache(self.plans, data, self.encoders, cache_dir)
        self.after_cache()
        self.models = self.models or self.load_models()
        # 3. LoRA (seeded initialisation, the same on every rank) and optimizer.
        transformer = self.models.transformer.to(accelerator.device)
        torch.manual_seed(optim.seed)
        self.add_lora(transformer)
        if self.config.model.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        self.parameters = [p for p in transformer.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.parameters, lr=optim.learning_rate, betas=tuple(optim.betas),
                                           weight_decay=optim.weight_decay)
        # 4. Resume from the newest complete checkpoint (read and checked in step 0).
        self.step = 0
        if resume_from is not None:
            self.restore(transformer, *resume_from)
        self.model, self.optimizer = accelerator.prepare(transformer, self.optimizer)

    def resume_checkpoint(self) -> tuple[ckpt.Checkpoint, tuple] | None:
        """The newest checkpoint and its contents, read once (front ends call this early through
        `check_run_folder`); a damaged one raises naming the file and the newest checkpoint that reads."""
        if self._resume_from is None:
            self._resume_from = ckpt.load_latest(self.out_dir / "checkpoints") or False
        return self._resume_from or None

    def restore(self, transformer, found: ckpt.Checkpoint, contents: tuple) -> None:
        """Set the LoRA, the optimizer and the random states from a checkpoint of this run."""
        from peft.utils import set_peft_model_state_dict

        lora_weights, optimizer_state, state = contents
        expected = {key: tuple(value.shape) for key, value in self.lora_state_dict(transformer).items()}
        stored = {key: tuple(value.shape) for key, value in lora_weights.items()}
        if stored != expected:
            differ = sorted(set(stored) ^ set(expected)) or [k for k in expected if stored[k] != expected[k]]
            raise ReCoInputError(str(found.path), f"does not fit this run's LoRA (e.g. {differ[0]}): the rank, "
                                 "targets or blocks changed since it was saved",
                                 f"Resume with the settings the run started with ({self.out_dir / 'config.json'}), "
                                 "or start a new run in another folder.")
        set_peft_model_state_dict(transformer, lora_weights, adapter_name=ADAPTER)
        try:
            self.optimizer.load_state_dict(optimizer_state)
            ckpt.restore_rng_state(state["rng"])
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as error:
            raise ckpt.DamagedCheckpoint(found.path / "training_state.pt", f"does not fit this run's optimizer "
                                         f"({error})", "Resume with the settings the run started with, or start a "
                                         "new run in another folder.") from None
        self.step = found.step
        logger.info("resumed from %s at step %d", found.path, found.step)

    def check_run_folder(self, resume: bool) -> None:
        """For front ends, before training: a folder that holds a run is continued with resume, never trained
        over (that would mix two runs' checkpoints, metrics and LoRA)."""
        if resume:
            self.resume_checkpoint()
            return
        found = ckpt.latest_checkpoint(self.out_dir / "checkpoints")
        if found is not None or (self.out_dir / "metrics.jsonl").is_file() or self.lora_path.is_file():
            held = f"checkpoints up to step {found.step}" if found is not None else "a finished run"
            raise ReCoInputError(self.run_folder_input, f"{self.out_dir} already holds a training run ({held})",
                                 self.run_folder_fix)

    @property
    def prepared(self) -> bool:
        return hasattr(self, "model")

    def train(self, resume: bool = False) -> Path:
        """Train to `optim.steps` optimizer steps; returns the saved LoRA (ComfyUI format)."""
        if not self.prepared:
            self.prepare(resume)
        optim, accelerator, model, optimizer = self.config.optim, self.accelerator, self.model, self.optimizer
        is_main = accelerator.is_main_process
        log = MetricsLog(self.out_dir / "metrics.jsonl", resume_step=self.step) if is_main else None
        layers = select_layers(accelerator.unwrap_model(model), self.config.loss.attn_layers)
        model.train()
        previous_handler = self._install_signal_handler()
        # The loop: optimizer steps of gradient_accumulation micro-steps each.
        try:
            with region_attention(accelerator.unwrap_model(model), self.attention_state, layers):
                while self.step < optim.steps:
                    started = time.time()
                    for group in optimizer.param_groups:
                        group["lr"] = self.learning_rate(self.step)
                    sums: dict[str, list[float]] = {}
                    for micro in range(optim.gradient_accumulation):
                        if self.cancel is not None and self.cancel():
                            self.save_checkpoint(log)  # the state after the last completed step
                            raise CancelledError(f"cancelled at step {self.step}; checkpoint kept")
                        micro_step = self.step * optim.gradient_accumulation + micro
                        generator = micro_step_generator(optim.seed, micro_step, accelerator.process_index)
                        global_batch = micro_step * accelerator.num_processes + accelerator.process_index
                        batch = self.load_batch(self.batch_indices(global_batch), generator, accelerator.device)
                        with accelerator.accumulate(model):
                            terms = self.compute_loss(model, batch, generator)
                            accelerator.backward(terms["loss"])
                            if accelerator.sync_gradients and optim.max_grad_norm > 0:
                                accelerator.clip_grad_norm_(self.parameters, optim.max_grad_norm)
                            optimizer.step()
                            optimizer.zero_grad()
                        for key, value in terms.items():
                            sums.setdefault(key, []).append(float(value.detach()))
                    totals = {key: sum(values) / len(values) for key, values in sums.items()}
                    self.step += 1
                    if not all(math.isfinite(v) for v in totals.values()):
                        raise FloatingPointError(f"loss became {totals} at step {self.step}; lower optim.learning_rate")
                    self._after_step(log, totals, time.time() - started)
                    if self.stop_requested:
                        self.stopped_early = self.step < optim.steps
                        break
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
        accelerator.wait_for_everyone()
        if accelerator.num_processes > 1:
            self.check_ranks_in_sync()
        final = self.lora_path
        if is_main:
            final = self.save_final_lora(accelerator.unwrap_model(model))
            if log is not None and log.rows:
                save_loss_curve(log, self.out_dir / "loss.png")
        return final

    def save_checkpoint(self, log: MetricsLog | None) -> None:
        """Checkpoint the current step (LoRA, optimizer, RNG) and refresh the loss curve."""
        accelerator = self.accelerator
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            unwrapped = accelerator.unwrap_model(self.model)
            ckpt.save_checkpoint(self.out_dir / "checkpoints", self.step, self.lora_state_dict(unwrapped),
                                 self.optimizer.state_dict(), keep=self.config.output.keep_checkpoints)
            if log is not None and log.rows:
                save_loss_curve(log, self.out_dir / "loss.png")

    def check_ranks_in_sync(self) -> None:
        """Every rank hashes its LoRA weights; the main process records them (distributed.json) and
        raises if they differ, which would mean the ranks trained different models."""
        digest = hashlib.sha256()
        for parameter in self.parameters:
            digest.update(parameter.detach().float().cpu().numpy().tobytes())
        mine = torch.tensor([int.from_bytes(digest.digest()[:7], "little")], device=self.accelerator.device)
        hashes = [int(h) for h in self.accelerator.gather(mine).cpu()]
        if self.accelerator.is_main_process:
            report = {"world_size": self.accelerator.num_processes, "lora_hashes": hashes,
                      "in_sync": len(set(hashes)) == 1}
            atomic_write_text(self.out_dir / "distributed.json", json.dumps(report, indent=2))
            if not report["in_sync"]:
                raise RuntimeError(f"ranks ended with different LoRA weights: {hashes}")

    def _after_step(self, log: MetricsLog | None, totals: dict[str, float], seconds: float) -> None:
        output = self.config.output
        accelerator = self.accelerator
        step = self.step
        if log is not None and output.log_every and (step % output.log_every == 0 or step == 1):
            log.append({"step": step, **{k: round(v, 6) for k, v in totals.items()},
                        "lr": self.learning_rate(step - 1), "seconds": round(seconds, 3)})
        if self.progress is not None:
            self.progress(step, self.config.optim.steps, totals)
        last = step == self.config.optim.steps or self.stop_requested
        if (output.save_every and step % output.save_every == 0) or last:
            self.save_checkpoint(log)
        if output.sample_every and step % output.sample_every == 0 and accelerator.is_main_process:
            self.render_samples(accelerator.unwrap_model(self.model), step)
