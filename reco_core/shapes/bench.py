"""`python -m reco_core bench shapes`: edit held-out ReCo-Shapes pairs and score them per task.

Pairs come from the test split (never trained on), `count` per task, the same every run. Each pair is
edited by `edit_pair` and scored by `reco_core.shapes.metrics`; the table is printed and, with `out`,
written as JSON together with two references: returning the source unchanged (the floor) and the ground
truth itself through the model's VAE (`codec_ceiling_results`, the most any edit this VAE decodes can score).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch

from ..choices import REGION_MODES
from ..engine.options import EditOptions
from ..errors import ReCoInputError
from ..fsutil import atomic_write_text
from ..layout import build_canvas
from ..masks import pixel_to_latent_mask
from ..region import RegionOptions, region_iou
from .metrics import aggregate, format_table, score_pair
from .model import FPS, SHAPES_EDIT_DEFAULTS, SHAPES_LORA_STRENGTH, ShapesFiles, load_shapes_model, read_benchmark
from .other_renderer import make_other_pair
from .tasks import TASKS, EditPair, make_pair, split_seeds
from .world import WorldConfig, all_shape_names

DEFAULT_COUNT = 8
#: Benchmark pair k of task i uses test seed BENCH_SEED_START + i * TASK_STRIDE + k.
BENCH_SEED_START = 0
TASK_STRIDE = 100_000
#: "world" draws pairs as training did; "other" with an independent renderer (`other_renderer`).
RENDERERS = ("world", "other")


def benchmark_pairs(count: int, tasks: tuple[str, ...] = TASKS, config: WorldConfig | None = None,
                    split: str = "test", start: int = BENCH_SEED_START, renderer: str = "world") -> list[EditPair]:
    """`count` pairs per task of `split` (held-out test pairs by default), in task order; deterministic.

    Pair k of task i uses the split's seed `start + i * TASK_STRIDE + k`. `renderer` "other" draws them with
    the independent renderer the model never saw (same tasks and instructions, other pictures).
    """
    check_renderer(renderer)
    config = config or WorldConfig(width=SHAPES_EDIT_DEFAULTS["width"], height=SHAPES_EDIT_DEFAULTS["height"],
                                   num_frames=SHAPES_EDIT_DEFAULTS["max_frames"], fps=FPS)
    draw = make_pair if renderer == "world" else make_other_pair
    pairs = []
    for task in tasks:
        first = start + TASKS.index(task) * TASK_STRIDE
        pairs += [draw(seed, task, config) for seed in split_seeds(split, count, start=first)]
    return pairs


def check_renderer(renderer: str) -> None:
    if renderer not in RENDERERS:
        raise ReCoInputError("--renderer", f"{renderer!r} is not a renderer", f"Use one of: {', '.join(RENDERERS)}.")


def edit_options(**changes) -> EditOptions:
    """The miniature's default edit settings (`SHAPES_EDIT_DEFAULTS`), with `changes`."""
    return replace(EditOptions(**SHAPES_EDIT_DEFAULTS, fps=FPS), **changes).validate()


def check_region(region: str) -> None:
    if region not in REGION_MODES:
        raise ReCoInputError("--region", f"{region!r} is not a benchmark region mode",
                             f"Use one of: {', '.join(REGION_MODES)}.")


def edit_pair(pipeline, pair: EditPair, options: EditOptions, region: str = "off"):
    """Edit one pair's source by its instruction with region mode `region`; returns the EditResult.

    The one place a benchmark edit happens (the default region options of `RegionOptions`). Region "mask" is
    given the pair's ground-truth edit mask: what a user who paints the region exactly gets, the ceiling of auto.
    """
    check_region(region)
    return pipeline(pair.source, pair.instruction, options=options, region=RegionOptions(mode=region),
                    mask=pair.mask if region == "mask" else None)


def pair_region_iou(region: torch.Tensor | None, pair: EditPair) -> float | None:
    """IoU of the region the sampler used with the ground-truth edit mask, on the latent grid the region lives
    on (a cell is edited when any pixel it covers changes: the mask ReCo's losses use); None without a region."""
    if region is None:
        return None
    return region_iou(pixel_to_latent_mask(region.cpu()), pixel_to_latent_mask(pair.mask))


def unchanged_results(pairs: list[EditPair]) -> dict:
    """Scores of returning every source unchanged (the floor any edit model must beat)."""
    return aggregate((pair.task, score_pair(pair.source, pair)) for pair in pairs)


def codec_ceiling_results(pipeline, pairs: list[EditPair], options: EditOptions) -> dict:
    """Scores of each pair's ground truth after the model's VAE: the canvas [source | target] encoded, then
    decoded as an edit is (`decode_edit`) and cropped. No edit decoded by this VAE can be expected to score
    more, so a bar above these scores asks for a better VAE, not a better edit model."""
    rows = []
    for pair in pairs:
        latents = pipeline.encode_frames(build_canvas(pair.source, pair.target))
        frames = pipeline.decode_edit(latents, options)[: pair.source.shape[0]]
        rows.append((pair.task, score_pair(frames, pair)))
    return aggregate(rows)


def score_edits(pipeline, pairs: list[EditPair], options: EditOptions, region: str = "off",
                echo: Callable[[str], None] = print) -> list[dict]:
    """Edit and score every pair; one row per pair (task, seed, instruction, seconds, scores)."""
    rows = []
    for index, pair in enumerate(pairs):
        started = time.time()
        result = edit_pair(pipeline, pair, options, region)
        scores = score_pair(result.frames, pair)
        rows.append({"task": pair.task, "seed": pair.info["seed"], "instruction": pair.instruction,
                     "seconds": round(time.time() - started, 2), "scores": scores,
                     "region_iou": pair_region_iou(result.region, pair)})
        echo(f"[bench] {index + 1}/{len(pairs)} {pair.task:8s} edit acc {scores['edit_accuracy']:.3f}  "
             f"bg PSNR {scores['background_psnr'] or float('nan'):.1f}  {pair.instruction}")
    return rows


def default_count() -> int:
    """Pairs per task: what the shipped model card was measured with, else DEFAULT_COUNT."""
    shipped = read_benchmark()
    return int(shipped["count"]) if shipped else DEFAULT_COUNT


def check_count(count: int | None, default: int | None = None) -> int:
    """`count` pairs per task, checked; None takes `default`, else what the shipped card used (`default_count`)."""
    if count is None:
        count = default_count() if default is None else default
    count = int(count)
    if count < 1:
        raise ReCoInputError("--count", f"{count} is not a positive number of pairs", "Use 1 or more.")
    return count


def shapes_pipeline(lora: str | Path | None = None, files: ShapesFiles | None = None,
                    strength: float = SHAPES_LORA_STRENGTH):
    """The engine pipeline on the miniature (with the shipped LoRA, or `lora`, at `strength`) on the CPU."""
    from ..engine.pipeline import ReCoPipeline

    if lora is not None and not Path(lora).is_file():
        raise ReCoInputError("--lora", f"{lora} does not exist", "Give the path of a LoRA file.")
    transformer, vae, text_encoder = load_shapes_model(torch.float32, "cpu", lora=lora, files=files, strength=strength)
    return ReCoPipeline(transformer, vae, text_encoder, device="cpu")


def benchmark_report(pipeline, pairs: list[EditPair], options: EditOptions, region: str,
                     echo: Callable[[str], None] = print) -> dict:
    """Edit and score `pairs`: {"region", "options", "results", "unchanged", "pairs", "seconds"}."""
    started = time.time()
    rows = score_edits(pipeline, pairs, options, region, echo)
    results = aggregate((row["task"], row["scores"]) for row in rows)
    report = {
        "region": region, "options": {k: v for k, v in asdict(options).items() if k != "extra"},
        "results": results, "unchanged": unchanged_results(pairs), "pairs": rows,
        "seconds": round(time.time() - started, 1),
    }
    echo(format_table(results))
    echo(f"[bench] {len(pairs)} edits in {report['seconds']:.0f} s (region {region})")
    return report


def run_benchmark(out: str | Path | None = None, count: int | None = None, lora: str | Path | None = None,
                  region: str = "off", *, files: ShapesFiles | None = None, options: EditOptions | None = None,
                  strength: float = SHAPES_LORA_STRENGTH, renderer: str = "world",
                  echo: Callable[[str], None] = print) -> dict:
    """Benchmark the miniature (the shipped LoRA, or `lora`, merged at `strength`) on `count` test pairs per task.

    Returns {"count", "lora", "lora_strength", "renderer", "region", "options", "results", "unchanged",
    "codec_ceiling", "pairs", "seconds"} and writes it to `out` as JSON when given.
    """
    check_region(region)
    check_renderer(renderer)
    count = check_count(count)
    pipeline = shapes_pipeline(lora, files, strength)
    pairs, options = benchmark_pairs(count, renderer=renderer), options or edit_options()
    report = {"count": count, "lora": str(lora) if lora else "shipped", "lora_strength": strength, "renderer": renderer,
              **benchmark_report(pipeline, pairs, options, region, echo),
              "codec_ceiling": codec_ceiling_results(pipeline, pairs, options)}
    echo("[bench] the ground truth after the model's VAE (the codec ceiling):")
    echo(format_table(report["codec_ceiling"]))
    if out is not None:
        atomic_write_text(out, json.dumps(report, indent=2))
        echo(f"[bench] wrote {out}")
    return report


# ----------------------------------------------------------------------------------------------
# Does the instruction steer?


def steering_instructions(pair: EditPair) -> list[str]:
    """Five instructions that all fit `pair`'s source: remove, replace and add beside its first shape, two looks."""
    first = pair.info["shapes"][0]
    present = {(shape["color"], shape["kind"]) for shape in pair.info["shapes"]}
    free = [name for name in all_shape_names() if name not in present]
    (new_color, new_kind), (add_color, add_kind) = free[0], free[-1]
    name = f"{first['color']} {first['kind']}"
    return [f"remove the {name}", f"replace the {name} with a {new_color} {new_kind}",
            f"add a {add_color} {add_kind} to the right of the {name}", "make it sepia", "invert the colors"]


def instruction_steering(pipeline, pairs: list[EditPair], options: EditOptions,
                         echo: Callable[[str], None] = print) -> dict:
    """How much the instruction changes the output: for each source, the mean absolute difference (in 8-bit
    levels) between the edits of every two of `steering_instructions`; the mean and the smallest over sources."""
    per_source = []
    for pair in pairs:
        edits = [edit_pair(pipeline, replace(pair, instruction=text), options).frames
                 for text in steering_instructions(pair)]
        differences = [float((a - b).abs().mean()) * 255 for i, a in enumerate(edits) for b in edits[i + 1 :]]
        per_source.append({"seed": pair.info["seed"], "mean": sum(differences) / len(differences),
                           "smallest": min(differences)})
        echo(f"[steering] seed {pair.info['seed']}: mean {per_source[-1]['mean']:.1f}/255, "
             f"smallest {per_source[-1]['smallest']:.1f}/255")
    return {"instructions": len(steering_instructions(pairs[0])), "sources": per_source,
            "mean": sum(s["mean"] for s in per_source) / len(per_source),
            "smallest": min(s["smallest"] for s in per_source)}
