"""`python -m shapes_lab build`: the whole ReCo-Shapes miniature from nothing, in one deterministic run.

Stages (each writes its files into `out`; with `resume` a stage whose files exist is skipped):

1. text encoder: a seeded random, frozen UMT5 (d_model 4096) and a word tokenizer;
2. VAE: a small AutoencoderKLWan trained on shapes crops, re-scaled to Wan2.1's latent statistics;
3. clips: the LoRA config's training pairs exported and put in the trainer's latent cache (shared by 4 and 5);
4. base: a Wan2.1-VACE transformer trained from scratch to edit (`edit_pretrain`): single frames first,
   many and cheap, then the clips of stage 3;
5. LoRA: `configs/shapes-reco.toml` run through `reco_core.train.Trainer` on the base just built;
6. benchmark: the edit model scored on held-out pairs;
7. checks: does the instruction steer, and the scores on pairs of an independent renderer; the model card.

`install` copies the shipped files into `reco_core/shapes/weights/`.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from reco_core.fsutil import atomic_write_text, tomllib
from reco_core.shapes.model import (
    BENCHMARK_FILE,
    LORA_FILE,
    MODEL_CARD_FILE,
    TEXT_ENCODER_DIR,
    TRANSFORMER_FILE,
    VAE_FILE,
    WEIGHTS_DIR,
    ShapesFiles,
    speed_up_cpu_convolutions,
)
from .edit_pretrain import EditPretrainConfig
from .model_card import BUILD_COMMAND, write_model_card
from .vae_training import VAETrainConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
LORA_CONFIG = REPO_ROOT / "configs" / "shapes-reco.toml"
BUILD_LOG = "build_log.json"
LORA_RUN = "lora_run"
STAGES = ("text_encoder", "vae", "clips", "base", "lora", "benchmark", "checks")
SHIPPED = (TRANSFORMER_FILE, VAE_FILE, TEXT_ENCODER_DIR, LORA_FILE, BENCHMARK_FILE, MODEL_CARD_FILE, BUILD_LOG)
#: Train-split seeds of the single-frame pairs the base learns from first (the LoRA's clips start at 0).
IMAGE_SEED_START = 30_000_000
#: Of every seven single-frame pairs, two add, two replace, two remove and one restyles: the look of a whole
#: frame is learnt fastest, placing and redrawing a shape slowest.
IMAGE_TASKS = ("add", "add", "replace", "replace", "remove", "remove", "style")


def image_phase() -> EditPretrainConfig:
    return EditPretrainConfig(steps=6000, batch_size=16, learning_rate=2e-3, final_learning_rate=5e-5, warmup=150,
                              first_frame_share=0.0)


def clip_phase() -> EditPretrainConfig:
    return EditPretrainConfig(steps=1200, batch_size=4, learning_rate=5e-4, final_learning_rate=2e-5, warmup=50,
                              first_frame_share=0.1)


@dataclass
class BuildPlan:
    """How much of every stage to run. `full()` is the shipped model, `fast()` a few steps of each (CI)."""

    vae: VAETrainConfig = field(default_factory=VAETrainConfig)
    vae_eval_clips: int = 8
    vae_stat_clips: int = 24
    image_pairs: int = 4000
    images: EditPretrainConfig = field(default_factory=image_phase)
    clips: EditPretrainConfig = field(default_factory=clip_phase)
    lora_overrides: dict = field(default_factory=dict)
    bench_count: int = 8
    steering_sources: int = 4
    seed: int = 0

    @classmethod
    def full(cls) -> "BuildPlan":
        return cls()

    @classmethod
    def fast(cls) -> "BuildPlan":
        return cls(
            vae=VAETrainConfig(image_steps=3, image_batch_size=2, steps=2, batch_size=1, frames=5, crop=32, warmup=1),
            vae_eval_clips=1, vae_stat_clips=2, image_pairs=8,
            images=EditPretrainConfig(steps=3, batch_size=4, warmup=1, first_frame_share=0.0),
            clips=EditPretrainConfig(steps=2, batch_size=2, warmup=1),
            lora_overrides={"data": {"generate_shapes": 4}, "optim": {"steps": 3, "batch_size": 2},
                            "lora": {"rank": 4, "alpha": 4}, "output": {"save_every": 0}},
            bench_count=1, steering_sources=1,
        )


class Log:
    """Progress to stdout, and a timing per stage."""

    def __init__(self, echo: Callable[[str], None] = print):
        self.echo = echo
        self.times: dict[str, float] = {}

    def stage(self, name: str, seconds: float) -> None:
        self.times[name] = round(seconds, 1)
        self.echo(f"[{name}] done in {seconds:.0f} s")

    def every(self, name: str, interval: int) -> Callable:
        started = time.time()

        def report(done: int, total: int, row: dict | None = None) -> None:
            if done == total or done % interval == 0:
                extra = "" if not row else "  " + "  ".join(
                    f"{k} {v:.4g}" for k, v in row.items() if k not in ("step", "seconds"))
                self.echo(f"[{name}] {done}/{total}{extra}  ({time.time() - started:.0f} s)")

        return report


# ----------------------------------------------------------------------------------------------
# Stages


def build_text_encoder_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    from .text_encoder import build_text_encoder

    encoder = build_text_encoder(plan.seed)
    encoder.model.half()
    encoder.save(files.text_encoder)
    return {"vocabulary": len(encoder.tokenizer), "parameters": sum(p.numel() for p in encoder.model.parameters())}


def build_vae_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    from reco_core.models.loading import load_vae
    from reco_core.models.saving import save_vae
    from . import vae_training as vt
    from .vae_init import build_vae

    vae = build_vae(plan.seed)
    history = vt.train_vae(vae, plan.vae, log.every("vae", 25))
    speed_up_cpu_convolutions(vae)
    stat_clips = [clip.frames for clip in vt.evaluation_clips(plan.vae_stat_clips, seed=1000)]
    mean, std = vt.latent_statistics(vae, stat_clips)
    vt.match_wan_statistics(vae, mean, std)
    save_vae(vae, files.vae, dtype=torch.float16, metadata={"reco_shapes": "vae"})
    shipped = speed_up_cpu_convolutions(load_vae(files.vae, dtype=torch.float32))
    scores = vt.reconstruction_scores(shipped, vt.evaluation_clips(plan.vae_eval_clips))
    log.echo(f"[vae] reconstruction of test clips: {scores['psnr']:.2f} dB, background {scores['background_psnr']:.2f} dB")
    return {"steps": plan.vae.steps, "final_loss": history[-1]["loss"], "parameters": sum(p.numel() for p in vae.parameters()),
            "raw_latent_mean": [round(float(v), 4) for v in mean], "raw_latent_std": [round(float(v), 4) for v in std],
            **{k: round(v, 2) for k, v in scores.items()}}


def _lora_trainer(files: ShapesFiles, plan: BuildPlan, log: Log, name: str = "lora", run_dir: Path | None = None):
    config = lora_config(files, plan.lora_overrides)
    return make_trainer(config, run_dir or files.folder / LORA_RUN, progress=log.every(name, 50),
                        cache_progress=log.every(f"{name} cache", 50))


def build_clips_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    """Export the LoRA config's pairs and fill the trainer's latent cache with them (the base learns from them
    too, and the LoRA stage finds them cached)."""
    from accelerate import Accelerator

    from reco_core.models.loading import load_vae
    from reco_core.models.text import load_text_encoder
    from reco_core.train.cache import build_cache
    from reco_core.train.encoders import DiffusersEncoders

    trainer = _lora_trainer(files, plan, log)
    trainer.accelerator = Accelerator(cpu=True)
    trainer.prepare_data()
    vae = speed_up_cpu_convolutions(load_vae(files.vae, dtype=torch.float32))
    encoders = DiffusersEncoders(vae, load_text_encoder(files.text_encoder, dtype=torch.float32))
    paths = build_cache(trainer.plans, trainer.config.data, encoders, clip_cache_dir(files),
                        progress=log.every("clips cache", 50))
    return {"pairs": len(paths), "frames": trainer.config.data.frames,
            "size": f"{trainer.config.data.width}x{trainer.config.data.height}"}


def clip_cache_dir(files: ShapesFiles) -> Path:
    return files.folder / LORA_RUN / "cache"


def clip_cache_paths(files: ShapesFiles) -> list[Path]:
    """The cached clip pairs, in a fixed order."""
    return sorted(clip_cache_dir(files).glob("*.safetensors"))


def build_base_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    """A transformer trained from scratch to edit: single frames, then the cached clips (see `edit_pretrain`)."""
    from reco_core.models.loading import load_vae
    from reco_core.models.saving import save_transformer
    from reco_core.models.text import load_text_encoder
    from . import edit_pretrain as ep
    from reco_core.shapes.model import model_world
    from reco_core.shapes.tasks import split_seeds
    from .text_encoder import trimmed_embeddings
    from .transformer import build_transformer

    vae = speed_up_cpu_convolutions(load_vae(files.vae, dtype=torch.float32))
    encoder = load_text_encoder(files.text_encoder, dtype=torch.float32)
    started = time.time()
    seeds = split_seeds("train", plan.image_pairs, start=IMAGE_SEED_START)
    images = ep.encode_edit_pool(vae, encoder, seeds, model_world(num_frames=1),
                                 IMAGE_TASKS, progress=log.every("image pairs", 500))
    pool_seconds = time.time() - started
    transformer = build_transformer(plan.seed)
    image_log = ep.edit_pretrain(transformer, images, plan.images, log.every("base images", 100))
    del images
    clips = ep.load_edit_pool(clip_cache_paths(files), trimmed_embeddings(encoder, [""])[0])
    clip_log = ep.edit_pretrain(transformer, clips, plan.clips, log.every("base clips", 100))
    save_transformer(transformer, files.transformer, layout="comfy", dtype=torch.float16,
                     metadata={"reco_shapes": "base"})
    return {"image_pairs": plan.image_pairs, "image_steps": plan.images.steps, "clip_pairs": clips.latents.shape[0],
            "clip_steps": plan.clips.steps, "pool_seconds": round(pool_seconds, 1),
            "image_final_loss": _tail_mean(image_log), "clip_final_loss": _tail_mean(clip_log),
            "parameters": sum(p.numel() for p in transformer.parameters())}


def _tail_mean(log: list[dict], count: int = 50) -> float:
    tail = log[-min(count, len(log)):]
    return sum(row["loss"] for row in tail) / max(1, len(tail))


def lora_config(files: ShapesFiles, overrides: dict, path: Path = LORA_CONFIG):
    """`configs/shapes-reco.toml` with its model pointed at `files` (and `overrides` merged in)."""
    from reco_core.train import config_from_dict

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["model"].update(transformer=str(files.transformer.resolve()), vae=str(files.vae.resolve()),
                         text_encoder=str(files.text_encoder.resolve()))
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    return config_from_dict(data, base_dir=path.parent)


def make_trainer(config, out: Path, progress=None, cache_progress=None):
    """The project's trainer with two exact CPU speed-ups: oneDNN convolutions in the VAE that fills the
    latent cache, and cross-attention on compact text (`compact_text.CompactText`) in the training forward."""
    from reco_core.train import Trainer
    from .compact_text import compact_text, install_compact_cross_attention
    from reco_core.shapes.source import ShapesSource

    class ShapesTrainer(Trainer):
        def load_models(self):
            models = super().load_models()
            speed_up_cpu_convolutions(models.vae)
            return models

        def prepare(self, resume: bool = False) -> None:
            super().prepare(resume)
            # Installed for good: entering a context manager whose object is dropped restores the old
            # processors as soon as it is garbage-collected (the LoRA of earlier builds trained on 9 text rows).
            self.cross_attention = install_compact_cross_attention(self.accelerator.unwrap_model(self.model))

        def call_model(self, transformer, x_t, sigma, batch):
            text = compact_text(batch.text)
            self.cross_attention["bias"] = text.bias
            dtype = next(p for p in transformer.parameters() if not p.requires_grad).dtype
            return transformer(hidden_states=x_t.to(dtype), timestep=sigma * 1000,
                               encoder_hidden_states=text.text.to(dtype), control_hidden_states=batch.control.to(dtype),
                               return_dict=False)[0].float()

    return ShapesTrainer(config, out, progress=progress, cache_progress=cache_progress, bundle=ShapesSource())


def train_lora(files: ShapesFiles, run_dir: Path, overrides: dict, log: Log, name: str = "lora") -> Path:
    """Run the LoRA config on the base in `files`; returns the LoRA file."""
    config = lora_config(files, overrides)
    trainer = make_trainer(config, run_dir, progress=log.every(name, 50), cache_progress=log.every(f"{name} cache", 100))
    return trainer.train()


def build_lora_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    run_dir = files.folder / LORA_RUN
    lora = train_lora(files, run_dir, plan.lora_overrides, log)
    shutil.copyfile(lora, files.lora)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"config": str(LORA_CONFIG.relative_to(REPO_ROOT)), "overrides": plan.lora_overrides,
            "steps": rows[-1]["step"] if rows else 0, "final_terms": mean_terms(rows[-min(50, len(rows)):])}


def mean_terms(rows: list[dict]) -> dict[str, float]:
    """Mean of each logged loss term over `rows` (a term is absent from steps it did not apply to)."""
    keys = sorted({k for row in rows for k in row} - {"step", "lr", "seconds"})
    return {k: round(sum(r[k] for r in rows if k in r) / sum(k in r for r in rows), 4) for k in keys}


def build_benchmark_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    from reco_core.shapes.bench import run_benchmark

    results = run_benchmark(out=files.benchmark, count=plan.bench_count, files=files, echo=log.echo)
    return {"count": plan.bench_count, "overall": results["results"]["overall"]}


def build_checks_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    """Two checks for the model card: does the instruction steer (different instructions on one source give
    different edits), and do the scores hold on pairs drawn by the independent renderer the model never saw?"""
    from reco_core.shapes.bench import benchmark_pairs, edit_options, instruction_steering, run_benchmark, shapes_pipeline

    sources = benchmark_pairs(plan.steering_sources, tasks=("remove",))
    steering = instruction_steering(shapes_pipeline(files=files), sources, edit_options(), log.echo)
    other = run_benchmark(count=plan.bench_count, files=files, renderer="other", echo=log.echo)
    kept = ("count", "results", "unchanged", "codec_ceiling")
    return {"steering": steering, "other_renderer": {key: other[key] for key in kept}}


STAGE_FUNCTIONS = {
    "text_encoder": build_text_encoder_stage,
    "vae": build_vae_stage,
    "clips": build_clips_stage,
    "base": build_base_stage,
    "lora": build_lora_stage,
    "benchmark": build_benchmark_stage,
    "checks": build_checks_stage,
}


def stage_done(name: str, files: ShapesFiles) -> bool:
    if name == "clips":
        return bool(clip_cache_paths(files))
    outputs = {"text_encoder": files.text_encoder / "config.json", "vae": files.vae, "base": files.transformer,
               "lora": files.lora, "benchmark": files.benchmark, "checks": files.benchmark}
    return outputs[name].exists()


# ----------------------------------------------------------------------------------------------
# The build


def build(out: str | Path, fast: bool = False, install: bool = False, resume: bool = False,
          echo: Callable[[str], None] = print) -> Path:
    """Build every stage into `out` (see the module doc); returns `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = ShapesFiles(out)
    plan = BuildPlan.fast() if fast else BuildPlan.full()
    log = Log(echo)
    record_path = out / BUILD_LOG
    record = json.loads(record_path.read_text()) if resume and record_path.is_file() else {}
    record.update(command=BUILD_COMMAND + (" --fast" if fast else ""), out=str(out),
                  plan=asdict(plan), threads=torch.get_num_threads(), machine=platform.processor() or platform.machine(),
                  torch=torch.__version__)
    record.setdefault("stages", {})
    torch.manual_seed(plan.seed)
    for name in STAGES:
        if resume and stage_done(name, files) and name in record["stages"]:
            echo(f"[{name}] already built, skipped")
            continue
        echo(f"[{name}] building")
        started, cpu_started = time.time(), time.process_time()
        details = STAGE_FUNCTIONS[name](files, plan, log)
        details.update(seconds=round(time.time() - started, 1), cpu_seconds=round(time.process_time() - cpu_started, 1))
        record["stages"][name] = details
        log.stage(name, time.time() - started)
        atomic_write_text(record_path, json.dumps(record, indent=2))
    record["total_seconds"] = round(sum(s["seconds"] for s in record["stages"].values()), 1)
    atomic_write_text(record_path, json.dumps(record, indent=2))
    write_model_card(files, record)
    echo(f"built the ReCo-Shapes miniature in {out} ({record['total_seconds']:.0f} s)")
    if install:
        install_files(files)
        echo(f"installed into {WEIGHTS_DIR}")
    return out


def install_files(files: ShapesFiles, target: Path = WEIGHTS_DIR) -> None:
    """Copy the shipped parts of a build into `target` (the package's weights folder)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        source = files.folder / name
        if not source.exists():
            continue
        destination = target / name
        if source.is_dir():
            shutil.rmtree(destination, ignore_errors=True)
            shutil.copytree(source, destination)
        else:
            shutil.copyfile(source, destination)
