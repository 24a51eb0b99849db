"""`python -m shapes_lab ablation`: what do ReCo's two region constraints do on the miniature?

Four LoRAs are trained from `configs/shapes-reco.toml` on the same base with identical data, steps
and seeds; only the loss weights differ (full ReCo, without L_latent, without L_attn, without
both). Each is benchmarked on the same held-out pairs with the same noise, so differences between
variants are paired: `effects` reports each constraint's mean effect with its standard error.
The results go to `ablation.json` and `docs/benchmark.md`.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from pathlib import Path
from typing import Callable

from reco_core.fsutil import atomic_write_text, tomllib
from reco_core.shapes.bench import check_count, run_benchmark
from .build import BUILD_LOG, LORA_CONFIG, LORA_RUN, REPO_ROOT, Log, train_lora
from .model_card import scores_and_reference_lines
from reco_core.shapes.metrics import format_table
from reco_core.shapes.model import ShapesFiles, read_benchmark, shipped_files

FULL = "full ReCo"
VARIANTS: dict[str, dict] = {
    FULL: {},
    "without L_latent": {"latent_weight": 0.0},
    "without L_attn": {"attn_weight": 0.0},
    "without both": {"latent_weight": 0.0, "attn_weight": 0.0},
}
SCORES = ("edit_accuracy", "background_psnr", "temporal_stability", "overall")
SCORE_TITLES = {"edit_accuracy": "edit accuracy", "background_psnr": "background PSNR (dB)",
                "temporal_stability": "temporal stability", "overall": "overall"}
DOCS = REPO_ROOT / "docs" / "benchmark.md"
DEFAULT_COUNT = 16


def _slug(name: str) -> str:
    return name.lower().replace(" ", "_")


def shared_data(files: ShapesFiles, out: Path) -> tuple[Path, Path]:
    """(manifest, latent cache folder) every variant trains on: the build's own pairs and cache when `files` is a
    build folder that still holds them (the same pairs the config generates, already encoded), else the config's
    training pairs exported once into `out` (as its `generate_shapes` would)."""
    from reco_core.shapes.dataset import export_dataset
    from reco_core.shapes.world import WorldConfig

    build_run = (files.folder / LORA_RUN).resolve()  # absolute: the trainer reads paths against the config's folder
    if (build_run / "generated_pairs" / "train.jsonl").is_file() and (build_run / "cache").is_dir():
        return build_run / "generated_pairs" / "train.jsonl", build_run / "cache"
    data = tomllib.loads(LORA_CONFIG.read_text(encoding="utf-8"))["data"]
    manifest = out.resolve() / "data" / "train.jsonl"
    if not manifest.is_file():
        world = WorldConfig(width=data["width"], height=data["height"], num_frames=data["frames"], fps=int(data["fps"]))
        export_dataset(out / "data", "train", data["generate_shapes"], world)
    return manifest, out.resolve() / "cache"


def train_variant(files: ShapesFiles, out: Path, name: str, data: tuple[Path, Path], log: Log,
                  steps: int | None = None) -> Path:
    run_dir = out / _slug(name)
    lora = run_dir / "shapes_reco_lora.safetensors"
    if lora.is_file():
        return lora
    if name == FULL and steps is None and trained_with_the_plain_config(files):
        # The build trained exactly this run (same config, pairs and seed): use its LoRA, not a second copy.
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files.lora, lora)
        return lora
    manifest, cache = data
    overrides = {"data": {"generate_shapes": 0, "manifest": str(manifest), "cache_dir": str(cache)},
                 "loss": VARIANTS[name], **({"optim": {"steps": steps}} if steps else {})}
    return train_lora(files, run_dir, overrides, log, name=name)


def trained_with_the_plain_config(files: ShapesFiles) -> bool:
    """Whether the build in `files` trained its LoRA from the config with no overrides (a full build)."""
    record = files.folder / BUILD_LOG
    if not (files.lora.is_file() and record.is_file()):
        return False
    lora_stage = json.loads(record.read_text()).get("stages", {}).get("lora", {})
    return "overrides" in lora_stage and not lora_stage["overrides"]


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------
# Paired effects


def _pair_scores(report: dict, task: str, score: str) -> list[float | None]:
    return [row["scores"][score] for row in report["pairs"] if row["task"] == task]


def paired_effect(with_it: dict, without_it: dict, task: str, score: str) -> tuple[float, float, int] | None:
    """(mean, standard error, n) of with - without over the same pairs; None when the score is undefined."""
    diffs = [a - b for a, b in zip(_pair_scores(with_it, task, score), _pair_scores(without_it, task, score))
             if a is not None and b is not None]
    if not diffs:
        return None
    mean = sum(diffs) / len(diffs)
    spread = math.sqrt(sum((d - mean) ** 2 for d in diffs) / max(1, len(diffs) - 1))
    return mean, spread / math.sqrt(len(diffs)), len(diffs)


def constraint_effects(reports: dict[str, dict]) -> dict:
    """Each constraint's effect per task and score, measured both with and without the other constraint."""
    pairs = {
        "L_latent": [("full ReCo", "without L_latent"), ("without L_attn", "without both")],
        "L_attn": [("full ReCo", "without L_attn"), ("without L_latent", "without both")],
    }
    tasks = list(reports["full ReCo"]["results"]["per_task"])
    effects: dict = {}
    for constraint, comparisons in pairs.items():
        for task in tasks:
            for score in SCORES:
                found = [paired_effect(reports[a], reports[b], task, score) for a, b in comparisons]
                found = [f for f in found if f is not None]
                if not found:
                    continue
                mean = sum(f[0] for f in found) / len(found)
                error = math.sqrt(sum(f[1] ** 2 for f in found)) / len(found)
                effects.setdefault(constraint, {}).setdefault(task, {})[score] = {"mean": mean, "stderr": error}
    return effects


def verdict(mean: float, stderr: float) -> str:
    if stderr > 0 and abs(mean) < 2 * stderr or mean == 0:
        return "no clear effect"
    return "helps" if mean > 0 else "hurts"


# ----------------------------------------------------------------------------------------------
# docs/benchmark.md


def _summary_rows(reports: dict[str, dict], unchanged: dict) -> list[str]:
    tasks = list(unchanged["per_task"])
    header = ["variant"] + [f"edit acc {t}" for t in tasks] + [f"bg PSNR {t}" for t in tasks if t != "style"] + ["overall"]
    lines = ["| " + " | ".join(header) + " |", "|:---" + "|---:" * (len(header) - 1) + "|"]

    def row(name: str, results: dict) -> str:
        cells = [name]
        cells += [f"{results['per_task'][t]['edit_accuracy']:.3f}" for t in tasks]
        cells += [f"{results['per_task'][t]['background_psnr']:.1f}" for t in tasks if t != "style"]
        cells.append(f"{results['overall']['overall']:.3f}")
        return "| " + " | ".join(cells) + " |"

    lines += [row(name, report["results"]) for name, report in reports.items()]
    lines.append(row("source unchanged", unchanged))
    return lines


def _effect_lines(effects: dict) -> list[str]:
    lines = []
    for constraint, per_task in effects.items():
        lines += [f"**{constraint}** (paired difference, with minus without, mean ± standard error):", ""]
        lines += ["| task | " + " | ".join(SCORE_TITLES[s] for s in SCORES) + " |", "|:---" + "|---:" * len(SCORES) + "|"]
        for task, scores in per_task.items():
            cells = []
            for score in SCORES:
                effect = scores.get(score)
                cells.append("-" if effect is None else
                             f"{effect['mean']:+.3f} ± {effect['stderr']:.3f} ({verdict(effect['mean'], effect['stderr'])})")
            lines.append(f"| {task} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _size_sentence(effects: dict) -> str:
    """How large the largest effect is, in the units a user sees."""
    largest = {score: max((abs(scores[score]["mean"]) for per_task in effects.values() for scores in per_task.values()
                           if score in scores), default=0.0) for score in ("edit_accuracy", "background_psnr")}
    return (f"- **Size**: the largest effect of either constraint is {largest['edit_accuracy']:.3f} in edit accuracy "
            f"and {largest['background_psnr']:.2f} dB in background PSNR. The paired standard errors are small "
            "because the variants share the base, the data and the sampling noise, so such effects read as clear; "
            "they are far too small to see in an edit. The base is trained on ReCo's task before any LoRA, so on "
            "this build the four LoRAs start from a model that already edits and end close to one another.")


def _reading(effects: dict) -> list[str]:
    """Plain sentences: where a constraint clearly helps, clearly hurts, or does nothing measurable."""
    lines = [_size_sentence(effects)]
    for constraint, per_task in effects.items():
        helps, hurts = [], []
        for task, scores in per_task.items():
            for score, effect in scores.items():
                kind = verdict(effect["mean"], effect["stderr"])
                text = f"{SCORE_TITLES[score]} on {task} ({effect['mean']:+.3f})"
                (helps if kind == "helps" else hurts if kind == "hurts" else []).append(text)
        sentence = f"- **{constraint}**: "
        sentence += ("clearly helps " + ", ".join(helps) if helps else "helps no score beyond the noise")
        sentence += ("; clearly hurts " + ", ".join(hurts) if hurts else "; hurts none beyond the noise") + "."
        lines.append(sentence)
    return lines


def steps_sentence(steps: int | None) -> str:
    if steps is None:
        return ("Full ReCo is the shipped LoRA, which the build trains with exactly this config, data and seed.")
    return f"Each is trained for {steps} steps (the shipped LoRA has the config's own step count), so full ReCo here is a retrained, shorter run."


def benchmark_markdown(reports: dict[str, dict], unchanged: dict, effects: dict, shipped: dict | None,
                       count: int, options: dict, train_steps: int | None = None) -> str:
    lines = [
        "# ReCo-Shapes benchmark",
        "",
        "The ReCo-Shapes miniature (`reco_core/shapes/weights/`, see its `MODEL_CARD.md`) edits held-out",
        "test-split pairs of the shapes world and `reco_core.shapes.metrics` scores each edit",
        "against the ground truth: edit accuracy inside the edit mask (colour agreement x shape IoU),",
        "background PSNR outside it, temporal stability, and an overall score gated by the edit.",
        f"Sampling: {options.get('sampler')}, {options.get('steps')} steps, cfg {options.get('cfg')}, "
        f"shift {options.get('shift')}, seed {options.get('seed')}.",
        "",
        "Reproduce: `python -m reco_core bench shapes` (shipped model) and",
        "`python -m shapes_lab ablation --out runs/ablation` (everything below).",
        "",
    ]
    if shipped:
        lines += ["## The shipped model", "", f"{shipped['count']} held-out pairs per task.", "",
                  *scores_and_reference_lines(shipped)]
    lines += [
        "## Ablation: the two region constraints",
        "",
        "Four LoRAs trained from `configs/shapes-reco.toml` on the shipped base with identical data, steps and",
        f"seeds; only the loss weights differ. {steps_sentence(train_steps)} All are edited with the same noise on",
        f"the same {count} held-out pairs per task.",
        "",
        *_summary_rows(reports, unchanged),
        "",
        "Per variant:",
        "",
    ]
    for name, report in reports.items():
        lines += [f"### {name}", "", format_table(report["results"], markdown=True), ""]
    lines += ["## Effect of each constraint", "",
              "Each effect is averaged over two comparisons (with the other constraint on, and off), per pair.",
              "'helps' or 'hurts' means more than two standard errors from zero.", "", *_effect_lines(effects),
              "## Reading", "", *_reading(effects), "",
              "One training seed and a small benchmark: effects within the noise are reported as such, not as",
              "findings. The miniature is far smaller and shorter-trained than the paper's model, so this says",
              "what the constraints do here, not what they do for Wan2.1-VACE at 480p.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The run


def run_ablation(out: Path, count: int | None = None, base: str | Path | None = None, write_docs: bool = True,
                 steps: int | None = None,
                 echo: Callable[[str], None] = print) -> dict:
    """Train and benchmark the four variants; write ablation.json (and docs/benchmark.md)."""
    count = check_count(count, DEFAULT_COUNT)  # --count 0 is refused, not taken as "the default"
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = ShapesFiles(Path(base)) if base else shipped_files()
    log = Log(echo)
    started = time.time()
    data = shared_data(files, out)
    reports = {}
    for name in VARIANTS:
        echo(f"[ablation] {name}: training")
        lora = train_variant(files, out, name, data, log, steps)
        report_path = out / f"{_slug(name)}.json"
        if report_path.is_file():
            reports[name] = json.loads(report_path.read_text())
            continue
        echo(f"[ablation] {name}: benchmark")
        reports[name] = run_benchmark(out=report_path, count=count, lora=lora, files=files, echo=echo)
        reports[name]["lora_sha256"] = _file_hash(lora)
        atomic_write_text(report_path, json.dumps(reports[name], indent=2))
    unchanged = reports["full ReCo"]["unchanged"]
    effects = constraint_effects(reports)
    shipped = read_benchmark(files)
    summary = {"count": count, "steps": steps, "base": str(files.folder),
               "variants": {n: r["results"] for n, r in reports.items()}, "unchanged": unchanged, "effects": effects,
               "seconds": round(time.time() - started, 1)}
    atomic_write_text(out / "ablation.json", json.dumps(summary, indent=2))
    if write_docs:
        text = benchmark_markdown(reports, unchanged, effects, shipped, count, reports[FULL]["options"], steps)
        atomic_write_text(DOCS, text)
        echo(f"[ablation] wrote {DOCS}")
    return summary
