"""`python -m reco_core.shapes build`: the whole ReCo-Shapes miniature from nothing, in one deterministic run.

Stages (each writes its files into `out`; with `resume` a stage whose files exist is skipped):

1. text encoder: a seeded random, frozen UMT5 (d_model 4096) and a word tokenizer;
2. VAE: a small AutoencoderKLWan trained on shapes crops, re-scaled to Wan2.1's latent statistics;
3. base: a Wan2.1-VACE transformer pretrained by flow matching (text-to-video, masked generation);
4. LoRA: `configs/shapes-reco.toml` run through `reco_core.train.Trainer` on the base just built;
5. benchmark: the edit model scored on held-out pairs, and the model card.

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

import tomllib
import torch

from ..fsutil import atomic_write_text
from .model import (
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
from .model_card import write_model_card
from .pretrain import IN_CONTEXT_HOLES, PoolConfig, PretrainConfig, in_context_pool, in_context_pretraining
from .vae_training import VAETrainConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
LORA_CONFIG = REPO_ROOT / "configs" / "shapes-reco.toml"
BUILD_LOG = "build_log.json"
STAGES = ("text_encoder", "vae", "base", "lora", "benchmark")
SHIPPED = (TRANSFORMER_FILE, VAE_FILE, TEXT_ENCODER_DIR, LORA_FILE, BENCHMARK_FILE, MODEL_CARD_FILE, BUILD_LOG)


@dataclass
class BuildPlan:
    """How much of every stage to run. `full()` is the shipped model, `fast()` a few steps of each (CI)."""

    vae: VAETrainConfig = field(default_factory=VAETrainConfig)
    vae_eval_clips: int = 8
    vae_stat_clips: int = 24
    pool: PoolConfig = field(default_factory=PoolConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    in_context_pool: PoolConfig = field(default_factory=in_context_pool)
    in_context: PretrainConfig = field(default_factory=in_context_pretraining)
    lora_overrides: dict = field(default_factory=dict)
    bench_count: int = 8
    seed: int = 0

    @classmethod
    def full(cls) -> "BuildPlan":
        return cls()

    @classmethod
    def fast(cls) -> "BuildPlan":
        return cls(
            vae=VAETrainConfig(image_steps=3, image_batch_size=2, steps=2, batch_size=1, frames=5, crop=32, warmup=1),
            vae_eval_clips=1, vae_stat_clips=2,
            pool=PoolConfig(single=2, double=2, encode_batch=2),
            pretrain=PretrainConfig(steps=3, batch_size=2, warmup=1),
            in_context_pool=PoolConfig(single=2, double=2, encode_batch=2, double_holes=dict(IN_CONTEXT_HOLES)),
            in_context=PretrainConfig(steps=2, batch_size=2, warmup=1),
            lora_overrides={"data": {"generate_shapes": 4}, "optim": {"steps": 3, "batch_size": 2},
                            "lora": {"rank": 4, "alpha": 4}, "output": {"save_every": 0}},
            bench_count=1,
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
    from ..models.loading import load_vae, save_vae
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


def build_base_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    from ..models.loading import load_vae, save_transformer
    from ..models.text import load_text_encoder
    from . import pretrain as pt

    vae = speed_up_cpu_convolutions(load_vae(files.vae, dtype=torch.float32))
    encoder = load_text_encoder(files.text_encoder, dtype=torch.float32)
    started = time.time()
    def pool_progress(name: str):
        return lambda size, done, total: log.every(f"{name} {size}", 64)(done, total)

    pool = pt.build_pool(vae, encoder, plan.pool, pool_progress("pool"))
    pool_seconds = time.time() - started
    transformer = pt.build_transformer(plan.seed)
    history = pt.pretrain(transformer, pool, plan.pretrain, log.every("base", 50))
    started = time.time()
    in_context_pool = pt.build_pool(vae, encoder, plan.in_context_pool, pool_progress("in-context pool"))
    pool_seconds += time.time() - started
    in_context = pt.pretrain(transformer, in_context_pool, plan.in_context, log.every("base in-context", 50))
    save_transformer(transformer, files.transformer, layout="comfy", dtype=torch.float16,
                     metadata={"reco_shapes": "base"})
    tail, in_context_tail = history[-min(50, len(history)):], in_context[-min(50, len(in_context)):]
    return {"steps": plan.pretrain.steps, "in_context_steps": plan.in_context.steps,
            "pool_clips": {str(k): len(g.captions) for k, g in pool.groups.items()},
            "in_context_pool_clips": {str(k): len(g.captions) for k, g in in_context_pool.groups.items()},
            "pool_seconds": round(pool_seconds, 1), "final_loss": sum(r["loss"] for r in tail) / len(tail),
            "in_context_final_loss": sum(r["loss"] for r in in_context_tail) / len(in_context_tail),
            "parameters": sum(p.numel() for p in transformer.parameters())}


def lora_config(files: ShapesFiles, overrides: dict, path: Path = LORA_CONFIG):
    """`configs/shapes-reco.toml` with its model pointed at `files` (and `overrides` merged in)."""
    from ..train import config_from_dict

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["model"].update(transformer=str(files.transformer.resolve()), vae=str(files.vae.resolve()),
                         text_encoder=str(files.text_encoder.resolve()))
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    return config_from_dict(data, base_dir=path.parent)


def make_trainer(config, out: Path, progress=None, cache_progress=None):
    """The project's trainer with two exact CPU speed-ups: oneDNN convolutions in the VAE that fills the
    latent cache, and cross-attention on compact text (`compact_text.CompactText`) in the training forward."""
    from ..train import Trainer
    from .compact_text import compact_cross_attention, compact_text

    class ShapesTrainer(Trainer):
        def load_models(self):
            models = super().load_models()
            speed_up_cpu_convolutions(models.vae)
            return models

        def prepare(self, resume: bool = False) -> None:
            super().prepare(resume)
            self.cross_attention = compact_cross_attention(self.accelerator.unwrap_model(self.model)).__enter__()

        def call_model(self, transformer, x_t, sigma, batch):
            text = compact_text(batch.text)
            self.cross_attention["bias"] = text.bias
            dtype = next(p for p in transformer.parameters() if not p.requires_grad).dtype
            return transformer(hidden_states=x_t.to(dtype), timestep=sigma * 1000,
                               encoder_hidden_states=text.text.to(dtype), control_hidden_states=batch.control.to(dtype),
                               return_dict=False)[0].float()

    return ShapesTrainer(config, out, progress=progress, cache_progress=cache_progress)


def train_lora(files: ShapesFiles, run_dir: Path, overrides: dict, log: Log, name: str = "lora") -> Path:
    """Run the LoRA config on the base in `files`; returns the LoRA file."""
    config = lora_config(files, overrides)
    trainer = make_trainer(config, run_dir, progress=log.every(name, 50), cache_progress=log.every(f"{name} cache", 100))
    return trainer.train()


def build_lora_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    run_dir = files.folder / "lora_run"
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
    from .bench import run_benchmark

    results = run_benchmark(out=files.benchmark, count=plan.bench_count, files=files, echo=log.echo)
    return {"count": plan.bench_count, "overall": results["results"]["overall"]}


STAGE_FUNCTIONS = {
    "text_encoder": build_text_encoder_stage,
    "vae": build_vae_stage,
    "base": build_base_stage,
    "lora": build_lora_stage,
    "benchmark": build_benchmark_stage,
}


def stage_done(name: str, files: ShapesFiles) -> bool:
    outputs = {"text_encoder": files.text_encoder / "config.json", "vae": files.vae, "base": files.transformer,
               "lora": files.lora, "benchmark": files.benchmark}
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
    record.update(command="python -m reco_core.shapes build --out runs/shapes" + (" --fast" if fast else ""), out=str(out),
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
