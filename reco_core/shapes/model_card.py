"""MODEL_CARD.md of a ReCo-Shapes build: what the miniature is, how it was built, its scores and status."""

from __future__ import annotations

import json
from pathlib import Path

from ..fsutil import atomic_write_text
from .model import LORA_FILE, TEXT_ENCODER_DIR, TRANSFORMER_FILE, VAE_FILE, ShapesFiles


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
        "  It starts as a colour codec (each latent pixel carries the mean colour of its 8x8 block; a",
        "  random start with RMS norms barely sees flat colour changes, so every blue came back alike) that",
        "  holds each latent frame for its four frames (from a random temporal start it lost moving shapes",
        "  within a few frames), learns single frames, then 17-frame clips.",
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
        "   flow matching (shift 3): text-to-video from scene captions, VACE masked generation with",
        "   boxes, a shape's footprint or a whole half of a double-width scene as the hole, and in-context",
        "   generation (a clip beside itself, right half holed), the look-across-the-seam prior a large",
        f"   video model brings to ReCo. Then {base.get('in_context_steps', 0)} steps on "
        f"{base.get('in_context_pool_clips', {})} more clips beside",
        "   themselves only, half of them uncaptioned, so that the base copies shapes, not only the",
        "   background, across the seam.",
        f"4. LoRA: `{lora.get('config', 'configs/shapes-reco.toml')}` through `reco_core.train.Trainer`, "
        f"{lora.get('steps', 0)} steps, both region losses on.",
        "5. Benchmark: the edits below.",
        "",
        "| stage | wall s | CPU s |",
        "|:---|---:|---:|",
    ]
    lines += [_stage_line(name, details) for name, details in stages.items()]  # in the order they ran
    lines += [f"| all | {record.get('total_seconds', 0):.0f} | |", "",
              f"Measured with {record.get('threads')} torch threads on {record.get('machine')} "
              f"(torch {record.get('torch')}). Wall time depends on what else runs on the machine.", ""]
    if benchmark:
        options = benchmark.get("options", {})
        lines += [
            "## Benchmark",
            "",
            f"Held-out test pairs ({benchmark['count']} per task), edited with LoRA strength "
            f"{benchmark.get('lora_strength', 1.0)}, steps {options.get('steps')}, "
            f"cfg {options.get('cfg')}, shift {options.get('shift')}, sampler {options.get('sampler')}; scored by",
            "`reco_core.shapes.metrics` (`python -m reco_core bench shapes`). These edit settings were chosen",
            "on validation pairs, never on the test pairs (`python -m reco_core.shapes settings`,",
            "docs/edit-settings.md).",
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
