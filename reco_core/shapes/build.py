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
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..fsutil import atomic_write_text
from .model import (BENCHMARK_FILE, LORA_FILE, MODEL_CARD_FILE, TEXT_ENCODER_DIR, TRANSFORMER_FILE, VAE_FILE,
                    WEIGHTS_DIR, ShapesFiles, speed_up_cpu_convolutions)
from .pretrain import PoolConfig, PretrainConfig
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
    from .pretrain import build_text_encoder

    encoder = build_text_encoder(plan.seed)
    encoder.model.half()
    encoder.save(files.text_encoder)
    return {"vocabulary": len(encoder.tokenizer), "parameters": sum(p.numel() for p in encoder.model.parameters())}


def build_vae_stage(files: ShapesFiles, plan: BuildPlan, log: Log) -> dict:
    from ..models.loading import load_vae, save_vae
    from . import vae_training as vt

    vae = vt.build_vae(plan.seed)
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
    pool = pt.build_pool(vae, encoder, plan.pool, lambda size, done, total: log.every(f"pool {size}", 64)(done, total))
    pool_seconds = time.time() - started
    transformer = pt.build_transformer(plan.seed)
    history = pt.pretrain(transformer, pool, plan.pretrain, log.every("base", 50))
    save_transformer(transformer, files.transformer, layout="comfy", dtype=torch.float16,
                     metadata={"reco_shapes": "base"})
    tail = history[-min(50, len(history)):]
    return {"steps": plan.pretrain.steps, "pool_clips": {str(k): len(g.captions) for k, g in pool.groups.items()},
            "pool_seconds": round(pool_seconds, 1), "final_loss": sum(r["loss"] for r in tail) / len(tail),
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


def make_trainer(config, out: Path, progress=None):
    """The project's trainer with two exact CPU speed-ups: oneDNN convolutions in the VAE that fills the
    latent cache, and cross-attention on compact text (`pretrain.CompactText`) in the training forward."""
    from ..train import Trainer
    from .pretrain import compact_cross_attention, compact_text

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

    return ShapesTrainer(config, out, progress=progress)


def train_lora(files: ShapesFiles, run_dir: Path, overrides: dict, log: Log, name: str = "lora") -> Path:
    """Run the LoRA config on the base in `files`; returns the LoRA file."""
    config = lora_config(files, overrides)
    trainer = make_trainer(config, run_dir, progress=log.every(name, 50))
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
    record.update(command=f"python -m reco_core.shapes build --out {out}" + (" --fast" if fast else ""),
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


# ----------------------------------------------------------------------------------------------
# The model card


def _size_mb(path: Path) -> float:
    paths = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    return sum(p.stat().st_size for p in paths) / 1e6


def _stage_line(name: str, details: dict) -> str:
    return f"| {name} | {details.get('seconds', 0):.0f} | {details.get('cpu_seconds', 0):.0f} |"


def model_card_text(files: ShapesFiles, record: dict) -> str:
    """MODEL_CARD.md: what the miniature is, how it was built (command, seeds, steps, times), its scores."""
    from .metrics import format_table

    stages = record.get("stages", {})
    vae, base, lora = stages.get("vae", {}), stages.get("base", {}), stages.get("lora", {})
    plan = record.get("plan", {})
    vae_plan = plan.get("vae", {})
    sizes = [(name, _size_mb(files.folder / name)) for name in (TRANSFORMER_FILE, VAE_FILE, TEXT_ENCODER_DIR, LORA_FILE)
             if (files.folder / name).exists()]
    benchmark = json.loads(files.benchmark.read_text()) if files.benchmark.is_file() else None
    lines = [
        "# ReCo-Shapes: the ReCo miniature",
        "",
        "A miniature of ReCo (instruction-based video editing by region-constrained in-context generation,",
        "arXiv 2512.17650): the real architectures at toy sizes, trained from scratch on the procedural",
        "ReCo-Shapes world by this repository's own code. It is the pack's demo and its benchmark model;",
        "it knows nothing but coloured shapes over muted, panning textures.",
        "",
        "## What is in it",
        "",
        "| file | what | MB |",
        "|:---|:---|---:|",
    ]
    what = {
        TRANSFORMER_FILE: "Wan2.1-VACE transformer (diffusers `WanVACETransformer3DModel`), ComfyUI layout, fp16",
        VAE_FILE: "Wan2.1 VAE architecture (`AutoencoderKLWan`), original layout, fp16",
        TEXT_ENCODER_DIR: "UMT5 encoder (transformers `UMT5EncoderModel`) + word-level tokenizer, fp16",
        LORA_FILE: "the ReCo LoRA (ComfyUI format), trained with `reco_core.train.Trainer`",
    }
    lines += [f"| `{name}` | {what[name]} | {size:.1f} |" for name, size in sizes]
    lines += [f"| all | | {sum(size for _, size in sizes):.1f} |", ""]
    lines += [
        "- Transformer: dim 128 (1 head of 128), 6 blocks, FFN 512, text_dim 4096, freq_dim 256, VACE blocks",
        "  at layers 0, 2, 4 (evenly spaced, so ComfyUI's UNETLoader reads it as WAN21_Vace);",
        f"  {base.get('parameters', 0) / 1e6:.2f} M parameters.",
        f"- VAE: base_dim 16, one residual block per level, z_dim 16, 8x spatial / 4x temporal; "
        f"{vae.get('parameters', 0) / 1e6:.2f} M parameters.",
        "  It starts as a per-frame image codec that holds each latent frame for its four frames, learns",
        "  single frames, then 17-frame clips (from a random temporal start it lost moving shapes within",
        "  a few frames).",
        "  Its raw latents are re-scaled to Wan2.1's per-channel `latents_mean`/`latents_std`, so latent",
        "  normalisation is the real Wan VAE's in diffusers and ComfyUI (whose Wan21 format hard-codes it).",
        f"  Reconstruction of held-out clips: {vae.get('psnr', float('nan')):.1f} dB overall, "
        f"{vae.get('background_psnr', float('nan')):.1f} dB on the background.",
        "- Text encoder: UMT5 with d_model 4096 (so it plugs into text_dim 4096), 2 layers, 2 heads of d_kv 32,",
        "  d_ff 64, seeded random and frozen; head 0 is biased to read the previous word and head 1 the one",
        "  before, so word order survives. The tokenizer knows the instruction and caption words only.",
        "- Size: 64x64 per half (a 128x64 canvas), 17 frames at 8 fps.",
        "",
        "## How it was built",
        "",
        "```",
        record.get("command", "python -m reco_core.shapes build --out DIR"),
        "```",
        "",
        "One deterministic command (seed 0 everywhere; train-split seeds only, the benchmark uses the",
        "test split). Stages:",
        "",
        f"1. Text encoder: seeded random (seed {plan.get('seed', 0)}), weights rounded to fp16 before any use.",
        f"2. VAE: {vae_plan.get('image_steps')} AdamW steps on batches of {vae_plan.get('image_batch_size')} single "
        f"frames, then {vae_plan.get('steps')} on batches of {vae_plan.get('batch_size')}",
        f"   clips of {vae_plan.get('frames')} frames, all {vae_plan.get('crop')} px crops (scenes, styled scenes,",
        "   [source | target] canvases, grey-holed VACE contexts); L1 + MSE + 1e-4 KL.",
        f"3. Base: {base.get('pool_clips', {})} clips (by canvas width) encoded once; "
        f"{plan.get('pretrain', {}).get('steps')} AdamW steps of batch {plan.get('pretrain', {}).get('batch_size')},",
        "   flow matching (shift 3): text-to-video from scene captions, and VACE masked generation with",
        "   boxes, a shape's footprint or a whole half of a double-width scene as the hole.",
        f"4. LoRA: `{lora.get('config', 'configs/shapes-reco.toml')}` through `reco_core.train.Trainer`, "
        f"{lora.get('steps', 0)} steps, both region losses on.",
        "5. Benchmark: the edits below.",
        "",
        "| stage | wall s | CPU s |",
        "|:---|---:|---:|",
    ]
    lines += [_stage_line(name, stages[name]) for name in STAGES if name in stages]
    lines += [f"| all | {record.get('total_seconds', 0):.0f} | |", "",
              f"Measured with {record.get('threads')} torch threads on {record.get('machine')} "
              f"(torch {record.get('torch')}). Wall time depends on what else runs on the machine.", ""]
    if benchmark:
        options = benchmark.get("options", {})
        lines += [
            "## Benchmark",
            "",
            f"Held-out test pairs ({benchmark['count']} per task), edited with steps {options.get('steps')}, "
            f"cfg {options.get('cfg')}, shift {options.get('shift')}, sampler {options.get('sampler')}; scored by",
            "`reco_core.shapes.metrics` (`python -m reco_core bench shapes`).",
            "",
            format_table(benchmark["results"], markdown=True),
            "",
            "Returning the source unchanged scores:",
            "",
            format_table(benchmark["unchanged"], markdown=True),
            "",
            *acceptance_lines(benchmark),
            "",
        ]
    lines += ["## Limits", "",
              "A toy: it edits only this world, at 64x64 and 17 frames (other clips are resized and trimmed),",
              "and it is far from the real ReCo's quality. It exists so the pack can be demonstrated, tested and",
              "benchmarked end to end on a CPU.", ""]
    return "\n".join(lines)


def acceptance(benchmark: dict) -> dict[str, list[str]]:
    """Which tasks meet the bar: edit accuracy above the unchanged source, background PSNR above 25 dB."""
    ours, unchanged = benchmark["results"]["per_task"], benchmark["unchanged"]["per_task"]
    beats = [t for t in ours if ours[t]["edit_accuracy"] > unchanged[t]["edit_accuracy"]]
    keeps = [t for t in ours if t != "style" and (ours[t]["background_psnr"] or 0) > 25]
    return {"beats_source": beats, "background_above_25db": keeps}


def acceptance_lines(benchmark: dict) -> list[str]:
    met = acceptance(benchmark)
    tasks = list(benchmark["results"]["per_task"])
    status = "meets" if len(met["beats_source"]) == len(tasks) and len(met["background_above_25db"]) == len(tasks) - 1 \
        else "does **not** meet"
    return [f"Status: this build {status} the project's bar (edit accuracy above the unchanged source on every task,",
            "background PSNR above 25 dB on add, remove and replace): it beats the source on "
            f"{', '.join(met['beats_source']) or 'no task'}; background above 25 dB on "
            f"{', '.join(met['background_above_25db']) or 'no task'}."]


def write_model_card(files: ShapesFiles, record: dict) -> None:
    atomic_write_text(files.model_card, model_card_text(files, record))
